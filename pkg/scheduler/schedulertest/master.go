// Package schedulertest provides a fake Mesos master speaking just enough of
// the v1 scheduler API to test schedulers: SUBSCRIBE streams with
// Mesos-Stream-Id, SUBSCRIBED and HEARTBEAT events, stream-id checking on
// other calls, and a record of every call. Tests script the rest (offers,
// status updates) with hooks and [Master.Send].
package schedulertest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// Master is a fake master. Set the exported fields, then call Start.
type Master struct {
	// FrameworkID is assigned to frameworks subscribing without an id
	// (default "fake-master-0000").
	FrameworkID string
	// HeartbeatInterval is announced in SUBSCRIBED and HEARTBEATs are sent
	// at that period (default 15s; 0 after Start means the default).
	HeartbeatInterval time.Duration
	// NoHeartbeats stops HEARTBEAT events (SUBSCRIBED still announces the
	// interval), to exercise client watchdogs.
	NoHeartbeats bool
	// OnSubscribe, if set, is called (on the HTTP handler goroutine) for each
	// SUBSCRIBE before it is answered; a non-zero status rejects it with
	// that status and body.
	OnSubscribe func(call *schedulerpb.Call) (status int, body string)
	// OnSubscribed, if set, runs on its own goroutine after SUBSCRIBED was
	// queued on a new stream (e.g. to Send offers).
	OnSubscribed func(call *schedulerpb.Call)
	// OnCall, if set, is called (on the HTTP handler goroutine) for every
	// non-SUBSCRIBE call that passed the stream-id check; a non-zero status
	// replaces the default answer (202; 200 for UPDATE_FRAMEWORK).
	OnCall func(call *schedulerpb.Call) (status int, body string)

	server *httptest.Server
	t      testing.TB

	mu      sync.Mutex
	calls   []*schedulerpb.Call
	stream  *stream
	streams int
	notify  chan struct{} // closed and replaced when calls or streams change
}

type stream struct {
	id     string
	mt     codec.MediaType
	events chan []byte
	done   chan struct{}
	once   sync.Once
}

func (s *stream) close() { s.once.Do(func() { close(s.done) }) }

// Start starts the master on a loopback port; it stops at test cleanup.
func (m *Master) Start(t testing.TB) *Master {
	t.Helper()
	m.t = t
	if m.FrameworkID == "" {
		m.FrameworkID = "fake-master-0000"
	}
	if m.HeartbeatInterval <= 0 {
		m.HeartbeatInterval = 15 * time.Second
	}
	m.notify = make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/scheduler", m.serve)
	mux.HandleFunc("/master/api/v1/scheduler", m.serve)
	m.server = httptest.NewServer(mux)
	t.Cleanup(func() {
		m.CloseStream()
		m.server.CloseClientConnections()
		m.server.Close()
	})
	return m
}

// Addr is the master's "host:port".
func (m *Master) Addr() string { return strings.TrimPrefix(m.server.URL, "http://") }

// URL is the master's base URL ("http://host:port").
func (m *Master) URL() string { return m.server.URL }

// Subscriptions counts streams opened so far.
func (m *Master) Subscriptions() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.streams
}

// StreamID is the id of the open stream, or "".
func (m *Master) StreamID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stream == nil {
		return ""
	}
	return m.stream.id
}

// Calls returns every call received so far (SUBSCRIBE included), in order.
func (m *Master) Calls() []*schedulerpb.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*schedulerpb.Call(nil), m.calls...)
}

// WaitFor polls until pred holds for some received call (checked in order,
// from the first) and returns it, or fails the test after timeout.
func (m *Master) WaitFor(t testing.TB, timeout time.Duration, pred func(*schedulerpb.Call) bool) *schedulerpb.Call {
	t.Helper()
	var found *schedulerpb.Call
	m.wait(t, timeout, func() bool {
		for _, c := range m.calls {
			if pred(c) {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// WaitForType waits for the n-th (1-based) call of type typ.
func (m *Master) WaitForType(t testing.TB, timeout time.Duration, typ schedulerpb.Call_Type, n int) *schedulerpb.Call {
	t.Helper()
	seen := 0
	var found *schedulerpb.Call
	m.wait(t, timeout, func() bool {
		seen = 0
		for _, c := range m.calls {
			if c.GetType() == typ {
				if seen++; seen == n {
					found = c
					return true
				}
			}
		}
		return false
	})
	if found == nil {
		t.Fatalf("schedulertest: no %d-th %s call (saw %d)", n, typ, seen)
	}
	return found
}

// WaitSubscriptions waits until n streams have been opened.
func (m *Master) WaitSubscriptions(t testing.TB, timeout time.Duration, n int) {
	t.Helper()
	m.wait(t, timeout, func() bool { return m.streams >= n && m.stream != nil })
}

// wait runs cond under m.mu whenever state changes, until it holds.
func (m *Master) wait(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		ok, ch := cond(), m.notify
		m.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("schedulertest: condition not met within %v", timeout)
		}
	}
}

func (m *Master) changed() { // m.mu held
	close(m.notify)
	m.notify = make(chan struct{})
}

// Send queues ev on the open stream. It fails if no stream is open.
func (m *Master) Send(ev *schedulerpb.Event) error {
	m.mu.Lock()
	s := m.stream
	m.mu.Unlock()
	if s == nil {
		return fmt.Errorf("schedulertest: no open stream")
	}
	b, err := codec.Marshal(s.mt, ev)
	if err != nil {
		return err
	}
	select {
	case s.events <- b:
		return nil
	case <-s.done:
		return fmt.Errorf("schedulertest: stream closed")
	}
}

// SendRaw queues a raw record (e.g. garbage) on the open stream.
func (m *Master) SendRaw(record []byte) error {
	m.mu.Lock()
	s := m.stream
	m.mu.Unlock()
	if s == nil {
		return fmt.Errorf("schedulertest: no open stream")
	}
	select {
	case s.events <- record:
		return nil
	case <-s.done:
		return fmt.Errorf("schedulertest: stream closed")
	}
}

// CloseStream ends the open stream (the client sees EOF), as a master does
// on failover or teardown.
func (m *Master) CloseStream() {
	m.mu.Lock()
	s := m.stream
	m.stream = nil
	if s != nil {
		m.changed()
	}
	m.mu.Unlock()
	if s != nil {
		s.close()
	}
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

func (m *Master) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "Expecting 'POST'")
		return
	}
	ctHeader := r.Header.Get("Content-Type")
	if ctHeader == "" {
		httpError(w, http.StatusBadRequest, "Expecting 'Content-Type' to be present")
		return
	}
	mt, err := codec.ParseContentType(ctHeader)
	if err != nil {
		httpError(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	call := &schedulerpb.Call{}
	if err := codec.Unmarshal(mt, body, call); err != nil {
		httpError(w, http.StatusBadRequest, "Failed to parse body into Call: "+err.Error())
		return
	}
	m.mu.Lock()
	m.calls = append(m.calls, proto.CloneOf(call))
	m.changed()
	m.mu.Unlock()

	if call.GetType() == schedulerpb.Call_SUBSCRIBE {
		m.subscribe(w, r, call)
		return
	}

	m.mu.Lock()
	s := m.stream
	m.mu.Unlock()
	sid := r.Header.Get("Mesos-Stream-Id")
	switch {
	case sid == "":
		httpError(w, http.StatusBadRequest, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
		return
	case s == nil:
		httpError(w, http.StatusForbidden, "Framework is not subscribed")
		return
	case sid != s.id:
		httpError(w, http.StatusBadRequest, "The stream ID '"+sid+"' included in this request didn't match the stream ID currently associated with framework ID "+m.FrameworkID)
		return
	case call.GetFrameworkId().GetValue() != m.FrameworkID:
		httpError(w, http.StatusBadRequest, "Call has no or a wrong 'framework_id'")
		return
	}
	if m.OnCall != nil {
		if status, msg := m.OnCall(call); status != 0 {
			httpError(w, status, msg)
			return
		}
	}
	if call.GetType() == schedulerpb.Call_UPDATE_FRAMEWORK {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (m *Master) subscribe(w http.ResponseWriter, r *http.Request, call *schedulerpb.Call) {
	if r.Header.Get("Mesos-Stream-Id") != "" {
		httpError(w, http.StatusBadRequest, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
		return
	}
	fi := call.GetSubscribe().GetFrameworkInfo()
	if fi == nil {
		httpError(w, http.StatusBadRequest, "Expecting 'subscribe' to be present")
		return
	}
	if call.GetFrameworkId().GetValue() != fi.GetId().GetValue() {
		httpError(w, http.StatusBadRequest, "'framework_id' differs from 'subscribe.framework_info.id'")
		return
	}
	if m.OnSubscribe != nil {
		if status, msg := m.OnSubscribe(call); status != 0 {
			httpError(w, status, msg)
			return
		}
	}
	mt, ok := codec.Negotiate(r.Header.Get("Accept"))
	if !ok {
		httpError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow application/json or application/x-protobuf")
		return
	}
	fid := m.FrameworkID
	if id := fi.GetId().GetValue(); id != "" {
		fid = id
	}
	s := &stream{id: uuid.NewString(), mt: mt, events: make(chan []byte, 128), done: make(chan struct{})}
	subscribed := &schedulerpb.Event{
		Type: schedulerpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &schedulerpb.Event_Subscribed{
			FrameworkId:              &mesospb.FrameworkID{Value: proto.String(fid)},
			HeartbeatIntervalSeconds: proto.Float64(m.HeartbeatInterval.Seconds()),
		},
	}
	first, err := codec.Marshal(mt, subscribed)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.events <- first

	m.mu.Lock()
	old := m.stream
	m.stream = s
	m.streams++
	m.changed()
	m.mu.Unlock()
	if old != nil {
		old.close() // one subscription per framework, as in Mesos
	}

	w.Header().Set("Content-Type", string(mt))
	w.Header().Set("Mesos-Stream-Id", s.id)
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	if m.OnSubscribed != nil {
		go m.OnSubscribed(call)
	}

	var heartbeat <-chan time.Time
	if !m.NoHeartbeats {
		tk := time.NewTicker(m.HeartbeatInterval)
		defer tk.Stop()
		heartbeat = tk.C
	}
	hb, _ := codec.Marshal(mt, &schedulerpb.Event{Type: schedulerpb.Event_HEARTBEAT.Enum()})
	rw := recordio.NewWriter(w)
	write := func(rec []byte) bool {
		if err := rw.WriteRecord(rec); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	defer func() {
		m.mu.Lock()
		if m.stream == s {
			m.stream = nil
			m.changed()
		}
		m.mu.Unlock()
		s.close()
	}()
	for {
		// Events queued before the stream was closed are still delivered,
		// so tests can Send then CloseStream.
		select {
		case rec := <-s.events:
			if !write(rec) {
				return
			}
			continue
		default:
		}
		select {
		case rec := <-s.events:
			if !write(rec) {
				return
			}
		case <-heartbeat:
			if !write(hb) {
				return
			}
		case <-s.done:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// Redirector starts a server answering every request with 307 and a
// protocol-relative Location to target ("host:port"), as a non-leading
// Mesos master does. It stops at test cleanup.
func Redirector(t testing.TB, target string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "//"+target+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	t.Cleanup(s.Close)
	return s
}

// Offer builds an offer of cpus and mem (MB) from agentID, unreserved and
// allocated to role ("*" if empty).
func Offer(id, agentID, role string, cpus, mem float64) *mesospb.Offer {
	if role == "" {
		role = "*"
	}
	alloc := &mesospb.Resource_AllocationInfo{Role: proto.String(role)}
	scalar := func(name string, v float64) *mesospb.Resource {
		return &mesospb.Resource{
			Name:           proto.String(name),
			Type:           mesospb.Value_SCALAR.Enum(),
			Scalar:         &mesospb.Value_Scalar{Value: proto.Float64(v)},
			AllocationInfo: proto.CloneOf(alloc),
		}
	}
	return &mesospb.Offer{
		Id:             &mesospb.OfferID{Value: proto.String(id)},
		FrameworkId:    &mesospb.FrameworkID{Value: proto.String("fake-master-0000")},
		AgentId:        &mesospb.AgentID{Value: proto.String(agentID)},
		Hostname:       proto.String("localhost"),
		Resources:      []*mesospb.Resource{scalar("cpus", cpus), scalar("mem", mem)},
		AllocationInfo: alloc,
	}
}

// Update builds an UPDATE event for task on agent with a fresh 16-byte uuid
// (so it must be acknowledged).
func Update(task, agent string, state mesospb.TaskState) *schedulerpb.Event {
	u := uuid.New()
	return &schedulerpb.Event{
		Type: schedulerpb.Event_UPDATE.Enum(),
		Update: &schedulerpb.Event_Update{Status: &mesospb.TaskStatus{
			TaskId:    &mesospb.TaskID{Value: proto.String(task)},
			State:     state.Enum(),
			AgentId:   &mesospb.AgentID{Value: proto.String(agent)},
			Source:    mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
			Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
			Uuid:      u[:],
		}},
	}
}
