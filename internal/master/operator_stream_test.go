package master

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// opStream is an operator SUBSCRIBE stream read over real HTTP.
type opStream struct {
	h      *harness
	resp   *http.Response
	events chan *masterpb.Event
}

// operatorSubscribe opens an operator event stream in mt and checks the
// response's status and content type.
func (h *harness) operatorSubscribe(mt codec.MediaType) *opStream {
	h.t.Helper()
	body, err := codec.Marshal(mt, &masterpb.Call{Type: masterpb.Call_SUBSCRIBE.Enum()})
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url("/api/v1"), bytes.NewReader(body))
	req.Header.Set("Content-Type", string(mt))
	req.Header.Set("Accept", string(mt))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != string(mt) {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h.t.Fatalf("SUBSCRIBE in %s: %d %q %s", mt, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if id := resp.Header.Get("Mesos-Stream-Id"); id != "" {
		h.t.Errorf("operator stream has a Mesos-Stream-Id %q; Mesos sends none", id)
	}
	s := &opStream{h: h, resp: resp, events: make(chan *masterpb.Event, 1000)}
	h.t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.events)
		rd := recordio.NewReader(resp.Body, 1<<24)
		for {
			rec, err := rd.ReadRecord()
			if err != nil {
				return
			}
			ev := &masterpb.Event{}
			if err := codec.Unmarshal(mt, rec, ev); err != nil {
				h.t.Errorf("undecodable %s event %q: %v", mt, rec, err)
				return
			}
			s.events <- ev
		}
	}()
	return s
}

// next returns the next event other than a HEARTBEAT, failing after 5s or
// when the stream ends.
func (s *opStream) next() *masterpb.Event {
	s.h.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.h.t.Fatal("operator stream closed")
			}
			if ev.GetType() != masterpb.Event_HEARTBEAT {
				return ev
			}
		case <-timeout:
			s.h.t.Fatal("timed out waiting for an operator event")
		}
	}
}

// expect returns the next non-HEARTBEAT event and fails unless it is typ.
func (s *opStream) expect(typ masterpb.Event_Type) *masterpb.Event {
	s.h.t.Helper()
	ev := s.next()
	if ev.GetType() != typ {
		s.h.t.Fatalf("want %v, got %v", typ, prototext(ev))
	}
	return ev
}

func prototext(m proto.Message) string {
	b, _ := codec.MarshalJSON(m)
	return string(b)
}

// TestOperatorSubscribe follows one task's life on two operator streams,
// JSON and protobuf: SUBSCRIBED and a HEARTBEAT first, then each change in
// the order the master makes it, as Mesos 1.11 publishes them.
func TestOperatorSubscribe(t *testing.T) {
	h := startMaster(t, func(c *Config) { c.HeartbeatInterval = 15 * time.Second })
	streams := []*opStream{h.operatorSubscribe(codec.JSON), h.operatorSubscribe(codec.Protobuf)}
	for _, s := range streams {
		// SUBSCRIBED comes first, then one HEARTBEAT right away.
		first := <-s.events
		want := &masterpb.Event{
			Type: masterpb.Event_SUBSCRIBED.Enum(),
			Subscribed: &masterpb.Event_Subscribed{
				GetState: &masterpb.Response_GetState{
					GetTasks: &masterpb.Response_GetTasks{}, GetExecutors: &masterpb.Response_GetExecutors{},
					GetFrameworks: &masterpb.Response_GetFrameworks{}, GetAgents: &masterpb.Response_GetAgents{},
				},
				HeartbeatIntervalSeconds: proto.Float64(15),
			},
		}
		if diff := cmp.Diff(want, first, protocmp.Transform()); diff != "" {
			t.Fatalf("first event (-want +got):\n%s", diff)
		}
		if hb := <-s.events; hb.GetType() != masterpb.Event_HEARTBEAT {
			t.Fatalf("second event: %v", prototext(hb))
		}
	}

	agent := h.registerAgent("cpus:2;mem:1024")
	for _, s := range streams {
		got := s.expect(masterpb.Event_AGENT_ADDED).GetAgentAdded().GetAgent()
		if got.GetAgentInfo().GetId().GetValue() != agent.id || got.GetPid() != "slave(1)@127.0.0.1:5051" || !got.GetActive() {
			t.Errorf("AGENT_ADDED: %v", prototext(got))
		}
	}

	sched := h.subscribe(roleFramework("eng", "", false), codec.JSON)
	for _, s := range streams {
		fw := s.expect(masterpb.Event_FRAMEWORK_ADDED).GetFrameworkAdded().GetFramework()
		if fw.GetFrameworkInfo().GetId().GetValue() != sched.id || !fw.GetActive() || !fw.GetConnected() ||
			fw.GetRecovered() || fw.GetRegisteredTime().GetNanoseconds() == 0 ||
			fw.GetUnregisteredTime() == nil || fw.GetUnregisteredTime().GetNanoseconds() != 0 {
			t.Errorf("FRAMEWORK_ADDED: %v", prototext(fw))
		}
	}

	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("t", o.AgentId))
	for _, s := range streams {
		task := s.expect(masterpb.Event_TASK_ADDED).GetTaskAdded().GetTask()
		// No user: the framework's user is not the task's
		// (protobuf::createTask).
		if task.GetTaskId().GetValue() != "t" || task.GetState() != mesospb.TaskState_TASK_STAGING ||
			task.GetFrameworkId().GetValue() != sched.id || task.GetAgentId().GetValue() != agent.id || task.User != nil {
			t.Errorf("TASK_ADDED: %v", prototext(task))
		}
	}

	agent.statusUpdate(sched.id, "t", mesospb.TaskState_TASK_RUNNING, []byte("u1"))
	// The same state again (say, a retried update) is no news.
	agent.statusUpdate(sched.id, "t", mesospb.TaskState_TASK_RUNNING, []byte("u1"))
	agent.statusUpdate(sched.id, "t", mesospb.TaskState_TASK_FINISHED, []byte("u2"))
	for _, s := range streams {
		for _, st := range []mesospb.TaskState{mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_FINISHED} {
			u := s.expect(masterpb.Event_TASK_UPDATED).GetTaskUpdated()
			if u.GetState() != st || u.GetStatus().GetState() != st || u.GetFrameworkId().GetValue() != sched.id ||
				u.GetStatus().GetTaskId().GetValue() != "t" {
				t.Errorf("TASK_UPDATED: want %v, got %v", st, prototext(u))
			}
		}
	}

	// Re-subscribing is FRAMEWORK_UPDATED; teardown is FRAMEWORK_REMOVED.
	info := roleFramework("eng", "", false)
	info.Id = &mesospb.FrameworkID{Value: proto.String(sched.id)}
	sched2 := h.subscribe(info, codec.Protobuf)
	for _, s := range streams {
		fw := s.expect(masterpb.Event_FRAMEWORK_UPDATED).GetFrameworkUpdated().GetFramework()
		if fw.GetFrameworkInfo().GetId().GetValue() != sched.id || !fw.GetConnected() {
			t.Errorf("FRAMEWORK_UPDATED: %v", prototext(fw))
		}
	}
	sched2.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()})
	for _, s := range streams {
		// The finished task was never acknowledged, so it is still the
		// framework's: Master::removeFramework kills it too, which adds a
		// TASK_KILLED status while the task stays TASK_FINISHED.
		u := s.expect(masterpb.Event_TASK_UPDATED).GetTaskUpdated()
		if u.GetState() != mesospb.TaskState_TASK_FINISHED || u.GetStatus().GetState() != mesospb.TaskState_TASK_KILLED {
			t.Errorf("TASK_UPDATED at teardown: %v", prototext(u))
		}
		if got := s.expect(masterpb.Event_FRAMEWORK_REMOVED).GetFrameworkRemoved().GetFrameworkInfo(); got.GetId().GetValue() != sched.id {
			t.Errorf("FRAMEWORK_REMOVED: %v", prototext(got))
		}
	}

	agent.mustCall(&agentapipb.Call{Type: agentapipb.Call_UNREGISTER.Enum()})
	for _, s := range streams {
		if got := s.expect(masterpb.Event_AGENT_REMOVED).GetAgentRemoved().GetAgentId().GetValue(); got != agent.id {
			t.Errorf("AGENT_REMOVED of %q, want %q", got, agent.id)
		}
	}
}

// TestOperatorSubscribeLateJoiner: SUBSCRIBED carries the whole state, so
// a subscriber that comes after the task sees it there, and a teardown
// kills it with a TASK_UPDATED before FRAMEWORK_REMOVED.
func TestOperatorSubscribeLateJoiner(t *testing.T) {
	h, _, sched := readCluster(t, nil)
	s := h.operatorSubscribe(codec.JSON)
	st := s.expect(masterpb.Event_SUBSCRIBED).GetSubscribed().GetGetState()
	want, _ := h.operatorBoth(&masterpb.Call{Type: masterpb.Call_GET_STATE.Enum()})
	if diff := cmp.Diff(want.GetGetState(), st, protocmp.Transform()); diff != "" {
		t.Errorf("SUBSCRIBED.get_state differs from GET_STATE (-GET_STATE +SUBSCRIBED):\n%s", diff)
	}
	if len(st.GetGetTasks().GetTasks()) != 2 {
		t.Fatalf("SUBSCRIBED has %d tasks, want 2", len(st.GetGetTasks().GetTasks()))
	}
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()})
	for range 2 {
		u := s.expect(masterpb.Event_TASK_UPDATED).GetTaskUpdated()
		if u.GetState() != mesospb.TaskState_TASK_KILLED ||
			u.GetStatus().GetReason() != mesospb.TaskStatus_REASON_FRAMEWORK_REMOVED {
			t.Errorf("TASK_UPDATED: %v", prototext(u))
		}
	}
	s.expect(masterpb.Event_FRAMEWORK_REMOVED)
}

// TestOperatorSubscribeUnreachable: an agent marked unreachable is not
// AGENT_REMOVED in Mesos 1.11 (__removeSlave publishes nothing); its tasks
// are TASK_UPDATED to TASK_LOST.
func TestOperatorSubscribeUnreachable(t *testing.T) {
	h, agent, _ := readCluster(t, func(c *Config) {
		// As startPingMaster: room for a loaded machine before the task
		// is launched.
		c.AgentPingTimeout = 100 * time.Millisecond
		c.MaxAgentPingTimeouts = 10
	})
	s := h.operatorSubscribe(codec.Protobuf)
	s.expect(masterpb.Event_SUBSCRIBED)
	agent.autoPong = false
	for range 2 {
		u := s.expect(masterpb.Event_TASK_UPDATED).GetTaskUpdated()
		if u.GetState() != mesospb.TaskState_TASK_LOST {
			t.Errorf("TASK_UPDATED: %v", prototext(u))
		}
	}
	// Nothing else: no AGENT_REMOVED.
	select {
	case ev := <-s.events:
		if ev.GetType() != masterpb.Event_HEARTBEAT {
			t.Errorf("unexpected event after the agent went unreachable: %v", prototext(ev))
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// TestOperatorSubscribeLimit: past max_operator_event_stream_subscribers
// the oldest stream is closed; a stream whose client goes away is
// forgotten.
func TestOperatorSubscribeLimit(t *testing.T) {
	h := startMaster(t, func(c *Config) { c.MaxOperatorEventStreamSubscribers = 2 })
	a, b := h.operatorSubscribe(codec.JSON), h.operatorSubscribe(codec.JSON)
	a.expect(masterpb.Event_SUBSCRIBED)
	b.expect(masterpb.Event_SUBSCRIBED)
	c := h.operatorSubscribe(codec.Protobuf)
	c.expect(masterpb.Event_SUBSCRIBED)
	closed := func(s *opStream) bool {
		timeout := time.After(5 * time.Second)
		for {
			select {
			case _, ok := <-s.events:
				if !ok {
					return true
				}
			case <-timeout:
				return false
			}
		}
	}
	if !closed(a) {
		t.Fatal("the oldest stream stayed open past the limit")
	}
	subscribers := func() int {
		var n int
		if err := h.m.do(t.Context(), func() { n = len(h.m.st.subscribers) }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := subscribers(); n != 2 {
		t.Errorf("%d subscribers, want 2", n)
	}
	c.resp.Body.Close()
	waitFor(t, func() bool { return subscribers() == 1 })
	// The one left still hears of changes.
	h.registerAgent("cpus:1;mem:128")
	b.expect(masterpb.Event_AGENT_ADDED)
}

// TestOperatorSubscribeBadAccept: a stream in anything but JSON or
// protobuf is refused before it starts, with Mesos's 406.
func TestOperatorSubscribeBadAccept(t *testing.T) {
	h := startMaster(t, nil)
	body, _ := codec.MarshalJSON(&masterpb.Call{Type: masterpb.Call_SUBSCRIBE.Enum()})
	req, _ := http.NewRequest(http.MethodPost, h.url("/api/v1"), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("Accept: text/html: %d %s, want 406", resp.StatusCode, b)
	}
}

// TestOperatorSubscribeReregisteredAgent: an agent unknown to this master
// (as after a failover) re-registers with a task of a known framework and
// one of a framework first seen here. Subscribers hear it in Mesos's
// order: the known framework's TASK_ADDED, AGENT_ADDED, then the recovered
// framework (no registration time yet) and its TASK_ADDED.
func TestOperatorSubscribeReregisteredAgent(t *testing.T) {
	h := startMaster(t, nil)
	s := h.operatorSubscribe(codec.JSON)
	s.expect(masterpb.Event_SUBSCRIBED)
	known := h.subscribe(fwInfo("known"), codec.JSON)
	s.expect(masterpb.Event_FRAMEWORK_ADDED)

	other := fwInfo("other")
	other.Id = &mesospb.FrameworkID{Value: proto.String("fw-other")}
	knownInfo := fwInfo("known")
	knownInfo.Id = &mesospb.FrameworkID{Value: proto.String(known.id)}
	task := func(id, fid string) *mesospb.Task {
		return &mesospb.Task{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(fid)}, AgentId: &mesospb.AgentID{Value: proto.String("S9")},
			State: mesospb.TaskState_TASK_RUNNING.Enum(), Resources: cpuMem(0.5, 64)}
	}
	call := reregisterCall("S9", knownInfo, task("mine", known.id), task("theirs", "fw-other"))
	call.Reregister.Frameworks = append(call.Reregister.Frameworks, other)
	h.openAgent(call).next(agentapipb.Event_REREGISTERED)

	if got := s.expect(masterpb.Event_TASK_ADDED).GetTaskAdded().GetTask().GetTaskId().GetValue(); got != "mine" {
		t.Errorf("first TASK_ADDED is %q, want the known framework's task", got)
	}
	if got := s.expect(masterpb.Event_AGENT_ADDED).GetAgentAdded().GetAgent(); got.GetAgentInfo().GetId().GetValue() != "S9" {
		t.Errorf("AGENT_ADDED: %v", prototext(got))
	}
	fw := s.expect(masterpb.Event_FRAMEWORK_ADDED).GetFrameworkAdded().GetFramework()
	if fw.GetFrameworkInfo().GetId().GetValue() != "fw-other" || !fw.GetRecovered() || fw.GetConnected() ||
		fw.GetRegisteredTime().GetNanoseconds() != 0 || fw.GetReregisteredTime().GetNanoseconds() != 0 {
		t.Errorf("FRAMEWORK_ADDED of the recovered framework: %v", prototext(fw))
	}
	if got := s.expect(masterpb.Event_TASK_ADDED).GetTaskAdded().GetTask().GetTaskId().GetValue(); got != "theirs" {
		t.Errorf("last TASK_ADDED is %q, want the recovered framework's task", got)
	}
}
