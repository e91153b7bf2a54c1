package master

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
	"github.com/meso-project/meso/pkg/resources"
)

// fakeAllocator offers each agent's whole free pool to the first active,
// unsuppressed framework (by ID), for its first unsuppressed role. Filters
// block a (framework, agent) pair until they expire. It is called only from
// the master loop, but tests read it, hence the mutex.
type fakeAllocator struct {
	mu         sync.Mutex
	agents     map[string]*fakeAgent
	frameworks map[string]*fakeFramework
	filters    map[[2]string]time.Time
	recovered  []recovery
	// What the master told it through UpdateAllocation, UpdateWeights and
	// UpdateQuota.
	conversions [][2]resources.Resources
	weights     map[string]float64
	quotas      map[string]allocator.Quota
	// totals are the agent totals UpdateAgentTotal was given.
	totals []resources.Resources
}

type fakeAgent struct {
	total, free resources.Resources
	active      bool
}

type fakeFramework struct {
	roles      []string
	suppressed map[string]bool
	active     bool
}

type recovery struct {
	framework, agent string
	res              resources.Resources
	refuse           float64 // -1 without filters
}

var _ allocator.Allocator = (*fakeAllocator)(nil)

func newFakeAllocator() *fakeAllocator {
	return &fakeAllocator{
		agents:     map[string]*fakeAgent{},
		frameworks: map[string]*fakeFramework{},
		filters:    map[[2]string]time.Time{},
	}
}

func (a *fakeAllocator) AddFramework(id string, fw allocator.Framework, used map[string]resources.Resources) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := &fakeFramework{roles: frameworkRoles(fw.Info), suppressed: map[string]bool{}, active: fw.Active}
	for _, r := range fw.SuppressedRoles {
		f.suppressed[r] = true
	}
	a.frameworks[id] = f
}
func (a *fakeAllocator) RemoveFramework(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.frameworks, id)
}
func (a *fakeAllocator) ActivateFramework(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f := a.frameworks[id]; f != nil {
		f.active = true
	}
}
func (a *fakeAllocator) DeactivateFramework(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f := a.frameworks[id]; f != nil {
		f.active = false
	}
}
func (a *fakeAllocator) UpdateFramework(id string, fw allocator.Framework) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f := a.frameworks[id]; f != nil {
		f.roles = frameworkRoles(fw.Info)
		f.suppressed = map[string]bool{}
		for _, r := range fw.SuppressedRoles {
			f.suppressed[r] = true
		}
	}
}
func (a *fakeAllocator) AddAgent(id string, ag allocator.Agent, used map[string]resources.Resources) {
	a.mu.Lock()
	defer a.mu.Unlock()
	free := resources.Resources(ag.Total)
	for _, u := range used {
		free = free.Subtract(resources.Resources(u).Unallocate())
	}
	a.agents[id] = &fakeAgent{total: ag.Total, free: free, active: true}
}
func (a *fakeAllocator) RemoveAgent(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.agents, id)
}
func (a *fakeAllocator) ActivateAgent(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ag := a.agents[id]; ag != nil {
		ag.active = true
	}
}
func (a *fakeAllocator) DeactivateAgent(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ag := a.agents[id]; ag != nil {
		ag.active = false
	}
}
func (a *fakeAllocator) UpdateAgentTotal(id string, total resources.Resources) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.totals = append(a.totals, total)
	if ag := a.agents[id]; ag != nil {
		// What was free changes by what the total changed.
		ag.free = ag.free.Subtract(ag.total.Subtract(total)).Add(total.Subtract(ag.total))
		ag.total = total
	}
}
func (a *fakeAllocator) UpdateAllocation(fw, agent string, from, to resources.Resources) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conversions = append(a.conversions, [2]resources.Resources{from, to})
}
func (a *fakeAllocator) UpdateWeights(w map[string]float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.weights == nil {
		a.weights = map[string]float64{}
	}
	for k, v := range w {
		a.weights[k] = v
	}
}
func (a *fakeAllocator) UpdateQuota(role string, q allocator.Quota) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.quotas == nil {
		a.quotas = map[string]allocator.Quota{}
	}
	a.quotas[role] = q
}

func (a *fakeAllocator) RecoverResources(fw, agentID string, res resources.Resources, filters *mesospb.Filters, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	refuse := -1.0
	if filters != nil {
		refuse = filters.GetRefuseSeconds()
	}
	a.recovered = append(a.recovered, recovery{fw, agentID, res, refuse})
	ag := a.agents[agentID]
	if ag == nil {
		return
	}
	ag.free = ag.free.Add(resources.Resources(res).Unallocate())
	if refuse > 0 {
		a.filters[[2]string{fw, agentID}] = now.Add(time.Duration(refuse * float64(time.Second)))
	}
}
func (a *fakeAllocator) SuppressOffers(fw string, roles []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f := a.frameworks[fw]; f != nil {
		if len(roles) == 0 {
			roles = f.roles
		}
		for _, r := range roles {
			f.suppressed[r] = true
		}
	}
}
func (a *fakeAllocator) ReviveOffers(fw string, roles []string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f := a.frameworks[fw]; f != nil {
		if len(roles) == 0 {
			roles = f.roles
		}
		for _, r := range roles {
			delete(f.suppressed, r)
		}
		for k := range a.filters {
			if k[0] == fw {
				delete(a.filters, k)
			}
		}
	}
}

func (a *fakeAllocator) Allocate(now time.Time) []allocator.Allocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []allocator.Allocation
	agentIDs := make([]string, 0, len(a.agents))
	for id := range a.agents {
		agentIDs = append(agentIDs, id)
	}
	sort.Strings(agentIDs)
	fwIDs := make([]string, 0, len(a.frameworks))
	for id := range a.frameworks {
		fwIDs = append(fwIDs, id)
	}
	sort.Strings(fwIDs)
	for _, aid := range agentIDs {
		ag := a.agents[aid]
		if !ag.active || len(ag.free) == 0 {
			continue
		}
		for _, fid := range fwIDs {
			f := a.frameworks[fid]
			if !f.active {
				continue
			}
			if until, ok := a.filters[[2]string{fid, aid}]; ok && now.Before(until) {
				continue
			}
			role := ""
			for _, r := range f.roles {
				if !f.suppressed[r] {
					role = r
					break
				}
			}
			if role == "" {
				continue
			}
			res := resources.Resources(ag.free).Allocate(role)
			ag.free = nil
			out = append(out, allocator.Allocation{FrameworkID: fid, AgentID: aid, Role: role, Resources: res})
			break
		}
	}
	return out
}

func (a *fakeAllocator) recoveries() []recovery {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.recovered)
}

// ---- harness ----

type harness struct {
	t      *testing.T
	m      *Master
	alloc  *fakeAllocator
	addr   string
	cancel context.CancelFunc
	done   chan error
	// agents is how many agents registerAgent has registered: each gets
	// its own address (port 5051, 5052, ...), since a REGISTER from the
	// address of a registered agent is that agent again.
	agents int
	// auth, if set, is the Authorization header of post and subscribeRaw
	// (authn_test.go).
	auth string
}

func startMaster(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	fa := newFakeAllocator()
	cfg := Config{
		Allocator:          fa,
		AllocationInterval: 20 * time.Millisecond,
		HeartbeatInterval:  time.Hour,
		AgentPingTimeout:   time.Hour,
		Flags:              map[string]string{"port": "5050"},
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, m: m, alloc: fa, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- m.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return")
		}
	})
	return h
}

func (h *harness) url(path string) string { return "http://" + h.addr + path }

// post sends a Call and returns the response (body read and closed).
func (h *harness) post(path string, mt codec.MediaType, msg proto.Message, hdr http.Header) (*http.Response, string) {
	h.t.Helper()
	body, err := codec.Marshal(mt, msg)
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url(path), bytes.NewReader(body))
	req.Header.Set("Content-Type", string(mt))
	if h.auth != "" {
		req.Header.Set("Authorization", h.auth)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// scheduler is a test scheduler connected to the master.
type scheduler struct {
	h        *harness
	mt       codec.MediaType
	streamID string
	id       string
	events   chan *schedulerpb.Event
	resp     *http.Response
}

func (h *harness) subscribe(info *mesospb.FrameworkInfo, mt codec.MediaType) *scheduler {
	h.t.Helper()
	s := h.subscribeRaw(info, mt)
	ev := s.next(schedulerpb.Event_SUBSCRIBED)
	s.id = ev.GetSubscribed().GetFrameworkId().GetValue()
	return s
}

func (h *harness) subscribeRaw(info *mesospb.FrameworkInfo, mt codec.MediaType) *scheduler {
	h.t.Helper()
	call := &schedulerpb.Call{
		Type:      schedulerpb.Call_SUBSCRIBE.Enum(),
		Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: info},
	}
	if info.Id != nil {
		call.FrameworkId = info.Id
	}
	body, err := codec.Marshal(mt, call)
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url("/api/v1/scheduler"), bytes.NewReader(body))
	req.Header.Set("Content-Type", string(mt))
	req.Header.Set("Accept", string(mt))
	if h.auth != "" {
		req.Header.Set("Authorization", h.auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h.t.Fatalf("SUBSCRIBE: %d %s", resp.StatusCode, b)
	}
	s := &scheduler{h: h, mt: mt, streamID: resp.Header.Get("Mesos-Stream-Id"), resp: resp,
		events: make(chan *schedulerpb.Event, 1000)}
	h.t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.events)
		rd := recordio.NewReader(resp.Body, 1<<24)
		for {
			rec, err := rd.ReadRecord()
			if err != nil {
				return
			}
			ev := &schedulerpb.Event{}
			if err := codec.Unmarshal(mt, rec, ev); err != nil {
				return
			}
			s.events <- ev
		}
	}()
	return s
}

// next returns the next event of type typ, skipping HEARTBEATs and other
// types listed in skip; it fails after 5s.
func (s *scheduler) next(typ schedulerpb.Event_Type) *schedulerpb.Event {
	s.h.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.h.t.Fatalf("stream closed while waiting for %v", typ)
			}
			if ev.GetType() == typ {
				return ev
			}
			if ev.GetType() == schedulerpb.Event_HEARTBEAT {
				continue
			}
			s.h.t.Fatalf("waiting for %v, got %v", typ, ev)
		case <-timeout:
			s.h.t.Fatalf("timed out waiting for %v", typ)
		}
	}
}

// waitClosed waits for the stream to end.
func (s *scheduler) waitClosed() []*schedulerpb.Event {
	s.h.t.Helper()
	var evs []*schedulerpb.Event
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-timeout:
			s.h.t.Fatalf("stream not closed")
		}
	}
}

func (s *scheduler) call(c *schedulerpb.Call) (int, string) {
	s.h.t.Helper()
	if c.FrameworkId == nil {
		c.FrameworkId = &mesospb.FrameworkID{Value: proto.String(s.id)}
	}
	resp, body := s.h.post("/api/v1/scheduler", s.mt, c, http.Header{"Mesos-Stream-Id": {s.streamID}})
	return resp.StatusCode, body
}

func (s *scheduler) mustCall(c *schedulerpb.Call) {
	s.h.t.Helper()
	code, body := s.call(c)
	if code != http.StatusAccepted && code != http.StatusOK {
		s.h.t.Fatalf("%v: %d %s", c.GetType(), code, body)
	}
}

// fakeAgent speaks the agent protocol over real HTTP.
type testAgent struct {
	h        *harness
	id       string
	streamID string
	events   chan *agentapipb.Event
	resp     *http.Response
	autoPong bool
}

// registerAgent registers an agent with resources res at the next free
// address (the first one at slave(1)@127.0.0.1:5051).
func (h *harness) registerAgent(res string) *testAgent {
	h.t.Helper()
	port := 5051 + h.agents
	h.agents++
	return h.registerAgentAt(res, port)
}

// registerCall is the REGISTER of an agent "agent-host" at
// slave(1)@127.0.0.1:port offering res.
func registerCall(t *testing.T, res string, port int) *agentapipb.Call {
	t.Helper()
	rs, err := resources.Parse(res, "*")
	if err != nil {
		t.Fatal(err)
	}
	return &agentapipb.Call{
		Type: agentapipb.Call_REGISTER.Enum(),
		Register: &agentapipb.Call_Register{
			AgentInfo: &mesospb.AgentInfo{Hostname: proto.String("agent-host"), Resources: rs,
				Port: proto.Int32(int32(port))},
			Pid:     proto.String("slave(1)@127.0.0.1:" + strconv.Itoa(port)),
			Version: proto.String("1.11.0"),
		},
	}
}

// registerAgentAt registers an agent at slave(1)@127.0.0.1:port.
func (h *harness) registerAgentAt(res string, port int) *testAgent {
	h.t.Helper()
	a := h.openAgent(registerCall(h.t, res, port))
	ev := a.next(agentapipb.Event_REGISTERED)
	a.id = ev.GetRegistered().GetAgentId().GetValue()
	return a
}

func (h *harness) openAgent(call *agentapipb.Call) *testAgent {
	h.t.Helper()
	body, _ := proto.Marshal(call)
	req, _ := http.NewRequest(http.MethodPost, h.url("/master/internal/agent"), bytes.NewReader(body))
	req.Header.Set("Content-Type", string(codec.Protobuf))
	req.Header.Set("Accept", string(codec.Protobuf))
	if h.auth != "" {
		req.Header.Set("Authorization", h.auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h.t.Fatalf("agent %v: %d %s", call.GetType(), resp.StatusCode, b)
	}
	a := &testAgent{h: h, streamID: resp.Header.Get("Mesos-Stream-Id"), resp: resp,
		events: make(chan *agentapipb.Event, 1000), autoPong: true}
	h.t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(a.events)
		rd := recordio.NewReader(resp.Body, 1<<24)
		for {
			rec, err := rd.ReadRecord()
			if err != nil {
				return
			}
			ev := &agentapipb.Event{}
			if err := proto.Unmarshal(rec, ev); err != nil {
				return
			}
			a.events <- ev
		}
	}()
	return a
}

func (a *testAgent) next(typ agentapipb.Event_Type) *agentapipb.Event {
	a.h.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-a.events:
			if !ok {
				a.h.t.Fatalf("agent stream closed while waiting for %v", typ)
			}
			if ev.GetType() == typ {
				return ev
			}
			if ev.GetType() == agentapipb.Event_PING {
				if a.autoPong {
					go a.call(&agentapipb.Call{Type: agentapipb.Call_PONG.Enum()})
				}
				continue
			}
			a.h.t.Fatalf("agent waiting for %v, got %v", typ, ev)
		case <-timeout:
			a.h.t.Fatalf("agent timed out waiting for %v", typ)
		}
	}
}

func (a *testAgent) call(c *agentapipb.Call) (int, error) {
	if c.AgentId == nil {
		c.AgentId = &mesospb.AgentID{Value: proto.String(a.id)}
	}
	body, _ := proto.Marshal(c)
	req, _ := http.NewRequest(http.MethodPost, a.h.url("/master/internal/agent"), bytes.NewReader(body))
	req.Header.Set("Content-Type", string(codec.Protobuf))
	req.Header.Set("Mesos-Stream-Id", a.streamID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return resp.StatusCode, errors.New(resp.Status)
	}
	return resp.StatusCode, nil
}

func (a *testAgent) mustCall(c *agentapipb.Call) {
	a.h.t.Helper()
	if code, err := a.call(c); err != nil {
		a.h.t.Fatalf("agent call %v: %d %v", c.GetType(), code, err)
	}
}

func (a *testAgent) statusUpdate(fid string, taskID string, st mesospb.TaskState, uuid []byte) {
	a.h.t.Helper()
	a.mustCall(&agentapipb.Call{
		Type: agentapipb.Call_STATUS_UPDATE.Enum(),
		StatusUpdate: &agentapipb.Call_StatusUpdate{
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(fid)},
			Status: &mesospb.TaskStatus{
				TaskId:    &mesospb.TaskID{Value: proto.String(taskID)},
				State:     st.Enum(),
				Source:    mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
				Uuid:      uuid,
				Timestamp: proto.Float64(float64(time.Now().Unix())),
			},
			LatestState: st.Enum(),
		},
	})
}
