// Package executortest provides a fake Mesos agent speaking the v1 executor
// API, for testing executors (built on package executor or not) without a
// real agent.
//
// The fake answers SUBSCRIBE with a stream whose first event is SUBSCRIBED,
// records every call, answers UPDATE/MESSAGE/HEARTBEAT with 202 and, unless
// told otherwise, acknowledges each update on the stream, as an agent does
// once it has checkpointed the update.
package executortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// Agent is a fake agent serving POST /api/v1/executor (and
// /slave(1)/api/v1/executor) on 127.0.0.1. Its methods are safe for
// concurrent use.
type Agent struct {
	// Server is the underlying test server.
	Server *httptest.Server

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every state change
	calls      []*executorpb.Call
	stream     *stream // current subscription, nil if none
	streams    int     // subscriptions served so far
	autoAck    bool
	subscribed *executorpb.Event_Subscribed
	subscribeH func(n int, call *executorpb.Call) int
	updates    int // UPDATE calls served so far
	updateH    func(n int, call *executorpb.Call) int
	routes     map[string]http.Handler
}

type stream struct {
	events chan *executorpb.Event
	closed chan struct{}
	once   sync.Once
}

func (s *stream) close() { s.once.Do(func() { close(s.closed) }) }

// Option configures an Agent.
type Option func(*Agent)

// WithoutAutoAck stops the agent from acknowledging updates by itself; use
// [Agent.Acknowledge].
func WithoutAutoAck() Option { return func(a *Agent) { a.autoAck = false } }

// WithSubscribed sets the payload of the SUBSCRIBED event (default: the
// caller's executor and framework IDs, a "localhost" agent).
func WithSubscribed(s *executorpb.Event_Subscribed) Option {
	return func(a *Agent) { a.subscribed = s }
}

// WithSubscribeStatus makes the agent answer the n-th SUBSCRIBE (counting
// from 1) with the status code f returns; 0 or 200 means accept.
func WithSubscribeStatus(f func(n int, call *executorpb.Call) int) Option {
	return func(a *Agent) { a.subscribeH = f }
}

// WithUpdateStatus makes the agent answer the n-th UPDATE (counting from 1)
// with the status code f returns; 0 or 202 means accept.
func WithUpdateStatus(f func(n int, call *executorpb.Call) int) Option {
	return func(a *Agent) { a.updateH = f }
}

// WithRoute serves h on pattern (an [http.ServeMux] pattern) beside the
// executor API, e.g. a fake of the operator API at "/slave(1)/api/v1" for
// executors that launch nested containers.
func WithRoute(pattern string, h http.Handler) Option {
	return func(a *Agent) {
		if a.routes == nil {
			a.routes = make(map[string]http.Handler)
		}
		a.routes[pattern] = h
	}
}

// NewAgent starts a fake agent; it is closed by t.Cleanup.
func NewAgent(t testing.TB, opts ...Option) *Agent {
	t.Helper()
	a := &Agent{changed: make(chan struct{}), autoAck: true}
	for _, o := range opts {
		o(a)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/executor", a.serve)
	mux.HandleFunc("/slave(1)/api/v1/executor", a.serve)
	for pattern, h := range a.routes {
		mux.Handle(pattern, h)
	}
	a.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		a.CloseStream()
		a.Server.CloseClientConnections()
		a.Server.Close()
	})
	return a
}

// Endpoint returns the agent's "ip:port", the value of MESOS_AGENT_ENDPOINT.
func (a *Agent) Endpoint() string { return a.Server.Listener.Addr().String() }

// Env returns a lookup function giving the MESOS_* variables an agent sets
// for an executor, plus extra (which override).
func (a *Agent) Env(frameworkID, executorID, directory string, extra map[string]string) func(string) (string, bool) {
	env := map[string]string{
		"MESOS_FRAMEWORK_ID":                   frameworkID,
		"MESOS_EXECUTOR_ID":                    executorID,
		"MESOS_DIRECTORY":                      directory,
		"MESOS_SANDBOX":                        directory,
		"MESOS_AGENT_ENDPOINT":                 a.Endpoint(),
		"MESOS_SLAVE_PID":                      "slave(1)@" + a.Endpoint(),
		"MESOS_SLAVE_ID":                       "fake-agent-S0",
		"MESOS_CHECKPOINT":                     "0",
		"MESOS_HTTP_COMMAND_EXECUTOR":          "1",
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5secs",
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func (a *Agent) notifyLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *Agent) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "Expecting a 'POST' request", http.StatusMethodNotAllowed)
		return
	}
	mt, err := codec.ParseContentType(r.Header.Get("Content-Type"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	call := new(executorpb.Call)
	if err := codec.Unmarshal(mt, body, call); err != nil {
		http.Error(w, "Failed to parse body into Call: "+err.Error(), http.StatusBadRequest)
		return
	}
	accept := mt
	if h := r.Header.Get("Accept"); h != "" && h != "*/*" {
		if m, err := codec.ParseContentType(h); err == nil {
			accept = m
		}
	}

	a.mu.Lock()
	a.calls = append(a.calls, call)
	a.notifyLocked()
	a.mu.Unlock()

	switch call.GetType() {
	case executorpb.Call_SUBSCRIBE:
		a.serveSubscribe(w, r, call, accept)
	case executorpb.Call_UPDATE:
		a.mu.Lock()
		a.updates++
		n, h := a.updates, a.updateH
		a.mu.Unlock()
		if h != nil {
			if code := h(n, call); code != 0 && code != http.StatusAccepted {
				http.Error(w, fmt.Sprintf("fake agent refuses UPDATE #%d", n), code)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
		a.mu.Lock()
		ack := a.autoAck
		a.mu.Unlock()
		if ack {
			st := call.GetUpdate().GetStatus()
			_ = a.Acknowledge(st.GetTaskId().GetValue(), st.GetUuid())
		}
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

func (a *Agent) serveSubscribe(w http.ResponseWriter, r *http.Request, call *executorpb.Call, mt codec.MediaType) {
	a.mu.Lock()
	a.streams++
	n := a.streams
	h := a.subscribeH
	a.mu.Unlock()
	if h != nil {
		if code := h(n, call); code != 0 && code != http.StatusOK {
			http.Error(w, fmt.Sprintf("fake agent refuses SUBSCRIBE #%d", n), code)
			return
		}
	}

	s := &stream{events: make(chan *executorpb.Event, 1024), closed: make(chan struct{})}
	a.mu.Lock()
	if a.stream != nil {
		a.stream.close() // a new SUBSCRIBE closes the previous connection, as in Mesos
	}
	a.stream = s
	sub := a.subscribed
	a.notifyLocked()
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		if a.stream == s {
			a.stream = nil
			a.notifyLocked()
		}
		a.mu.Unlock()
	}()

	if sub == nil {
		sub = &executorpb.Event_Subscribed{
			ExecutorInfo: &mesospb.ExecutorInfo{ExecutorId: call.GetExecutorId()},
			FrameworkInfo: &mesospb.FrameworkInfo{
				Id:   call.GetFrameworkId(),
				Name: proto.String("fake"),
				User: proto.String(""),
			},
			AgentInfo: &mesospb.AgentInfo{Hostname: proto.String("localhost")},
		}
	}
	w.Header().Set("Content-Type", string(mt))
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	flusher, _ := w.(http.Flusher)
	write := func(ev *executorpb.Event) bool {
		b, err := codec.Marshal(mt, ev)
		if err != nil {
			return false
		}
		if err := rw.WriteRecord(b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	if !write(&executorpb.Event{Type: executorpb.Event_SUBSCRIBED.Enum(), Subscribed: sub}) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		case ev := <-s.events:
			if !write(ev) {
				return
			}
		}
	}
}

// ErrNoStream is returned by Send when no executor is subscribed.
var ErrNoStream = errors.New("executortest: no subscribed executor")

// Send queues ev on the current subscription stream.
func (a *Agent) Send(ev *executorpb.Event) error {
	a.mu.Lock()
	s := a.stream
	a.mu.Unlock()
	if s == nil {
		return ErrNoStream
	}
	select {
	case s.events <- ev:
		return nil
	case <-s.closed:
		return ErrNoStream
	}
}

// Launch sends a LAUNCH event for task.
func (a *Agent) Launch(task *mesospb.TaskInfo) error {
	return a.Send(&executorpb.Event{
		Type:   executorpb.Event_LAUNCH.Enum(),
		Launch: &executorpb.Event_Launch{Task: task},
	})
}

// Kill sends a KILL event; policy may be nil.
func (a *Agent) Kill(taskID string, policy *mesospb.KillPolicy) error {
	return a.Send(&executorpb.Event{
		Type: executorpb.Event_KILL.Enum(),
		Kill: &executorpb.Event_Kill{TaskId: &mesospb.TaskID{Value: proto.String(taskID)}, KillPolicy: policy},
	})
}

// Shutdown sends a SHUTDOWN event.
func (a *Agent) Shutdown() error {
	return a.Send(&executorpb.Event{Type: executorpb.Event_SHUTDOWN.Enum()})
}

// Acknowledge sends an ACKNOWLEDGED event for an update.
func (a *Agent) Acknowledge(taskID string, uuid []byte) error {
	return a.Send(&executorpb.Event{
		Type: executorpb.Event_ACKNOWLEDGED.Enum(),
		Acknowledged: &executorpb.Event_Acknowledged{
			TaskId: &mesospb.TaskID{Value: proto.String(taskID)},
			Uuid:   uuid,
		},
	})
}

// CloseStream ends the current subscription stream (the executor sees the
// connection break), if any.
func (a *Agent) CloseStream() {
	a.mu.Lock()
	s := a.stream
	a.mu.Unlock()
	if s != nil {
		s.close()
	}
}

// Calls returns the calls received so far, in order.
func (a *Agent) Calls() []*executorpb.Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*executorpb.Call(nil), a.calls...)
}

// CallsOf returns the received calls of type t.
func (a *Agent) CallsOf(t executorpb.Call_Type) []*executorpb.Call {
	var out []*executorpb.Call
	for _, c := range a.Calls() {
		if c.GetType() == t {
			out = append(out, c)
		}
	}
	return out
}

// Updates returns the statuses of the UPDATE calls received so far.
func (a *Agent) Updates() []*mesospb.TaskStatus {
	var out []*mesospb.TaskStatus
	for _, c := range a.CallsOf(executorpb.Call_UPDATE) {
		out = append(out, c.GetUpdate().GetStatus())
	}
	return out
}

// Subscribed reports whether an executor currently holds a stream.
func (a *Agent) Subscribed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stream != nil
}

// Subscriptions returns how many SUBSCRIBE calls were answered with a stream
// or refused so far.
func (a *Agent) Subscriptions() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.streams
}

// WaitFor blocks until cond (called under no lock, after every change: a
// call received, a stream opened or closed) returns true, or fails t after
// timeout.
func (a *Agent) WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		a.mu.Lock()
		ch := a.changed
		a.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("executortest: timed out after %v waiting for %s", timeout, what)
		}
	}
}

// WaitForState waits until an update for taskID in state has been received
// and returns it.
func (a *Agent) WaitForState(t testing.TB, timeout time.Duration, taskID string, state mesospb.TaskState) *mesospb.TaskStatus {
	t.Helper()
	var found *mesospb.TaskStatus
	a.WaitFor(t, timeout, fmt.Sprintf("%s for task %s", state, taskID), func() bool {
		for _, st := range a.Updates() {
			if st.GetTaskId().GetValue() == taskID && st.GetState() == state {
				found = st
				return true
			}
		}
		return false
	})
	return found
}
