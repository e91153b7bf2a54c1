package master

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/internal/registry"
	"github.com/meso-project/meso/pkg/codec"
)

// Tests of DEACTIVATE_AGENT, REACTIVATE_AGENT and MARK_AGENT_GONE
// (Master::Http::_deactivateAgent, _reactivateAgent, _markAgentGone and
// Master::markGone of Mesos 1.11).

func agentCallJSON(typ, field, id string) string {
	return `{"type":"` + typ + `","` + field + `":{"agent_id":{"value":"` + id + `"}}}`
}

func (h *harness) deactivate(id string) (int, string) {
	return h.operator(agentCallJSON("DEACTIVATE_AGENT", "deactivate_agent", id), "")
}

func (h *harness) reactivate(id string) (int, string) {
	return h.operator(agentCallJSON("REACTIVATE_AGENT", "reactivate_agent", id), "")
}

func (h *harness) markGone(id string) (int, string) {
	return h.operator(agentCallJSON("MARK_AGENT_GONE", "mark_agent_gone", id), "")
}

// getAgent is the agent's GET_AGENTS entry, the same in protobuf and JSON.
func (h *harness) getAgent(id string) *masterpb.Response_GetAgents_Agent {
	h.t.Helper()
	pb, js := h.operatorBoth(&masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
	find := func(r *masterpb.Response) *masterpb.Response_GetAgents_Agent {
		for _, a := range r.GetGetAgents().GetAgents() {
			if a.GetAgentInfo().GetId().GetValue() == id {
				return a
			}
		}
		h.t.Fatalf("agent %s not in GET_AGENTS", id)
		return nil
	}
	a := find(pb)
	if !proto.Equal(a, find(js)) {
		h.t.Fatalf("GET_AGENTS differs between protobuf and JSON for %s", id)
	}
	return a
}

// stateSlave is the agent's object in /state's "slaves" (nil if absent).
func (h *harness) stateSlave(id string) map[string]any {
	h.t.Helper()
	for _, s := range h.getJSON("/state")["slaves"].([]any) {
		if s := s.(map[string]any); s["id"] == id {
			return s
		}
	}
	return nil
}

// noOffers fails if the scheduler gets an OFFERS event within d (many
// allocation intervals of the test master).
func (s *scheduler) noOffers(d time.Duration) {
	s.h.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.h.t.Fatal("stream closed")
			}
			if ev.GetType() == schedulerpb.Event_OFFERS {
				s.h.t.Fatalf("got offers %v", ev.GetOffers())
			}
		case <-timeout:
			return
		}
	}
}

// A deactivated agent's outstanding offer is rescinded and it gets no
// more; /state and GET_AGENTS show it deactivated and inactive; the
// registry holds the deactivation; a re-registration keeps it; once
// reactivated it is offered again.
func TestDeactivateReactivateAgent(t *testing.T) {
	reg := newRegistrar(t, registry.NewMemoryStore())
	h := startMaster(t, func(c *Config) { c.Registrar = reg })
	agent := h.registerAgent("cpus:1;mem:512")
	sched := h.subscribe(fwInfo("fw"), codec.JSON)
	offer := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]

	if code, body := h.deactivate(agent.id); code != http.StatusOK {
		t.Fatalf("DEACTIVATE_AGENT: %d %s", code, body)
	}
	if id := sched.next(schedulerpb.Event_RESCIND).GetRescind().GetOfferId().GetValue(); id != offer.GetId().GetValue() {
		t.Fatalf("rescinded %s, want %s", id, offer.GetId().GetValue())
	}
	sched.noOffers(300 * time.Millisecond)
	if s := h.stateSlave(agent.id); s["deactivated"] != true || s["active"] != false {
		t.Errorf("/state slave deactivated %v active %v", s["deactivated"], s["active"])
	}
	if a := h.getAgent(agent.id); !a.GetDeactivated() || a.GetActive() {
		t.Errorf("GET_AGENTS deactivated %v active %v", a.GetDeactivated(), a.GetActive())
	}
	if sl := reg.Registry().GetSlaves().GetSlaves(); len(sl) != 1 || !sl[0].GetDeactivated() {
		t.Errorf("registry agents %v, want it deactivated", sl)
	}
	// Again: still a 200.
	if code, body := h.deactivate(agent.id); code != http.StatusOK {
		t.Fatalf("second DEACTIVATE_AGENT: %d %s", code, body)
	}

	// A reconnection does not reactivate it (Master::__reregisterSlave).
	waitAgentDisconnected(t, h, agent)
	info := fwInfo("fw")
	info.Id = &mesospb.FrameworkID{Value: proto.String(sched.id)}
	back := h.openAgent(reregisterCall(agent.id, info))
	back.next(agentapipb.Event_REREGISTERED)
	back.id = agent.id
	sched.noOffers(300 * time.Millisecond)
	if a := h.getAgent(agent.id); !a.GetDeactivated() || a.GetActive() {
		t.Errorf("after re-registration: deactivated %v active %v", a.GetDeactivated(), a.GetActive())
	}

	if code, body := h.reactivate(agent.id); code != http.StatusOK {
		t.Fatalf("REACTIVATE_AGENT: %d %s", code, body)
	}
	if o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers(); o[0].GetAgentId().GetValue() != agent.id {
		t.Fatalf("offer %v", o)
	}
	if a := h.getAgent(agent.id); a.GetDeactivated() || !a.GetActive() {
		t.Errorf("after REACTIVATE_AGENT: deactivated %v active %v", a.GetDeactivated(), a.GetActive())
	}
	if sl := reg.Registry().GetSlaves().GetSlaves(); len(sl) != 1 || sl[0].GetDeactivated() {
		t.Errorf("registry agents %v, want it active", sl)
	}
}

// Mesos's answers to bad DEACTIVATE_AGENT and REACTIVATE_AGENT calls.
func TestDeactivateReactivateAgentErrors(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:1;mem:512")
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"deactivate unknown agent", agentCallJSON("DEACTIVATE_AGENT", "deactivate_agent", "nope"), 400, "Unknown agent"},
		{"reactivate unknown agent", agentCallJSON("REACTIVATE_AGENT", "reactivate_agent", "nope"), 400, "Agent is not deactivated"},
		{"reactivate active agent", agentCallJSON("REACTIVATE_AGENT", "reactivate_agent", agent.id), 400, "Agent is not deactivated"},
		{"deactivate without its field", `{"type":"DEACTIVATE_AGENT"}`, 400,
			"Failed to validate master::Call: Expecting 'deactivate_agent' to be present"},
		{"reactivate without its field", `{"type":"REACTIVATE_AGENT"}`, 400,
			"Failed to validate master::Call: Expecting 'reactivate_agent' to be present"},
		{"deactivate without agent_id", `{"type":"DEACTIVATE_AGENT","deactivate_agent":{}}`, 400, "agent_id"},
	} {
		if code, body := h.operator(tc.body, ""); code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	if a := h.getAgent(agent.id); a.GetDeactivated() || !a.GetActive() {
		t.Errorf("the agent changed: deactivated %v active %v", a.GetDeactivated(), a.GetActive())
	}
}

// A deactivation survives a master failover: the new leader recovers it
// from the registry and keeps the re-registering agent inactive; an agent
// of the registry that has not re-registered yet can be deactivated too.
func TestDeactivationRecovered(t *testing.T) {
	store := registry.NewMemoryStore()
	h1 := startMaster(t, func(c *Config) { c.Registrar = newRegistrar(t, store) })
	a1 := h1.registerAgent("cpus:1;mem:512")
	a2 := h1.registerAgent("cpus:1;mem:512")
	if code, body := h1.deactivate(a1.id); code != http.StatusOK {
		t.Fatalf("DEACTIVATE_AGENT: %d %s", code, body)
	}
	h1.cancel() // the leader dies

	h2 := startMaster(t, func(c *Config) { c.Registrar = newRegistrar(t, store) })
	// a2 is only recovered: DEACTIVATE_AGENT accepts it (Mesos checks
	// slaves.recovered too).
	if code, body := h2.deactivate(a2.id); code != http.StatusOK {
		t.Fatalf("DEACTIVATE_AGENT of a recovered agent: %d %s", code, body)
	}
	sched := h2.subscribe(fwInfo("fw"), codec.JSON)
	back := h2.openAgent(reregisterCall(a1.id, fwInfo("fw")))
	back.next(agentapipb.Event_REREGISTERED)
	sched.noOffers(300 * time.Millisecond)
	if s := h2.stateSlave(a1.id); s["deactivated"] != true || s["active"] != false {
		t.Errorf("/state slave deactivated %v active %v", s["deactivated"], s["active"])
	}
	// Reactivating the recovered (not registered) a2 is done, and answered
	// as Mesos answers it.
	if code, body := h2.reactivate(a2.id); code != http.StatusConflict || body != "Agent removed while processing the call" {
		t.Errorf("REACTIVATE_AGENT of a recovered agent: %d %q", code, body)
	}
	if code, _ := h2.reactivate(a2.id); code != http.StatusBadRequest {
		t.Errorf("REACTIVATE_AGENT again: %d, want 400: it is no longer deactivated", code)
	}
	if code, body := h2.reactivate(a1.id); code != http.StatusOK {
		t.Fatalf("REACTIVATE_AGENT: %d %s", code, body)
	}
	sched.next(schedulerpb.Event_OFFERS)
}

// MARK_AGENT_GONE: the agent is told to shut down and removed; its task's
// update is TASK_GONE_BY_OPERATOR for a partition-aware framework (to
// completed_tasks) and TASK_LOST for another (to unreachable_tasks, as in
// Mesos); the registry lists it as gone; a second call is a 200; the agent
// cannot come back.
func TestMarkAgentGone(t *testing.T) {
	for _, tc := range []struct {
		name       string
		caps       []mesospb.FrameworkInfo_Capability_Type
		state      mesospb.TaskState
		reason     mesospb.TaskStatus_Reason
		list, none string // the framework's task list in /state that has the task, and one that has not
	}{
		{"partition-aware", []mesospb.FrameworkInfo_Capability_Type{mesospb.FrameworkInfo_Capability_PARTITION_AWARE},
			mesospb.TaskState_TASK_GONE_BY_OPERATOR, mesospb.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR,
			"completed_tasks", "unreachable_tasks"},
		{"not partition-aware", nil, mesospb.TaskState_TASK_LOST, mesospb.TaskStatus_REASON_AGENT_REMOVED,
			"unreachable_tasks", "completed_tasks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistrar(t, registry.NewMemoryStore())
			h := startMaster(t, func(c *Config) { c.Registrar = reg })
			agent := h.registerAgent("cpus:1;mem:512")
			sched := h.subscribe(fwInfo("fw", tc.caps...), codec.JSON)
			o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
			launchOn(t, sched, agent, o, simpleTask("t", o.AgentId))

			if code, body := h.markGone(agent.id); code != http.StatusOK {
				t.Fatalf("MARK_AGENT_GONE: %d %s", code, body)
			}
			if msg := agent.next(agentapipb.Event_SHUTDOWN).GetShutdown().GetMessage(); msg != "Agent has been marked gone" {
				t.Errorf("SHUTDOWN message %q", msg)
			}
			st := sched.waitEvent(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
			if st.GetTaskId().GetValue() != "t" || st.GetState() != tc.state || st.GetReason() != tc.reason ||
				st.GetMessage() != "Agent has been marked gone" || st.GetSource() != mesospb.TaskStatus_SOURCE_MASTER ||
				st.UnreachableTime != nil || len(st.GetUuid()) != 0 {
				t.Errorf("update %v", st)
			}
			if id := sched.waitEvent(schedulerpb.Event_FAILURE).GetFailure().GetAgentId().GetValue(); id != agent.id {
				t.Errorf("FAILURE for %s", id)
			}
			if h.stateSlave(agent.id) != nil {
				t.Errorf("gone agent still in /state slaves")
			}
			fw := frameworkState(t, h, sched.id)
			if !slices.Equal(taskIDs(fw[tc.list]), []string{"t"}) || len(fw[tc.none].([]any)) != 0 || len(fw["tasks"].([]any)) != 0 {
				t.Errorf("tasks %v completed %v unreachable %v", fw["tasks"], fw["completed_tasks"], fw["unreachable_tasks"])
			}
			if g := reg.Registry().GetGone().GetSlaves(); len(g) != 1 || g[0].GetId().GetValue() != agent.id ||
				len(reg.Registry().GetSlaves().GetSlaves()) != 0 {
				t.Errorf("registry gone %v agents %v", g, reg.Registry().GetSlaves())
			}
			metrics := h.getJSON("/metrics/snapshot")
			if metrics["master/slave_removals"] != 0.0 {
				t.Errorf("master/slave_removals %v: Mesos does not count gone agents", metrics["master/slave_removals"])
			}
			if tc.state == mesospb.TaskState_TASK_GONE_BY_OPERATOR && metrics["master/tasks_gone_by_operator"] != 1.0 {
				t.Errorf("master/tasks_gone_by_operator %v", metrics["master/tasks_gone_by_operator"])
			}

			// Already gone: a 200 again.
			if code, body := h.markGone(agent.id); code != http.StatusOK {
				t.Errorf("second MARK_AGENT_GONE: %d %s", code, body)
			}
			// The agent cannot come back.
			back := h.openAgent(reregisterCall(agent.id, fwInfo("fw")))
			if msg := back.next(agentapipb.Event_SHUTDOWN).GetShutdown().GetMessage(); msg != "Agent has been marked gone" {
				t.Errorf("re-registration SHUTDOWN message %q", msg)
			}
			if h.stateSlave(agent.id) != nil {
				t.Errorf("gone agent re-registered")
			}
		})
	}
}

// Mesos's answers to bad MARK_AGENT_GONE calls.
func TestMarkAgentGoneErrors(t *testing.T) {
	h := startMaster(t, nil)
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"unknown agent", agentCallJSON("MARK_AGENT_GONE", "mark_agent_gone", "nope"), 404, "Agent 'nope' not found"},
		{"without its field", `{"type":"MARK_AGENT_GONE"}`, 400,
			"Failed to validate master::Call: Expecting 'mark_agent_gone' to be present"},
	} {
		if code, body := h.operator(tc.body, ""); code != tc.code || body != tc.want {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, body, tc.code, tc.want)
		}
	}
}

// An unreachable agent marked gone: its unreachable task becomes
// TASK_GONE_BY_OPERATOR (partition-aware) and moves to completed_tasks;
// the agent is no longer unreachable.
func TestMarkUnreachableAgentGone(t *testing.T) {
	h := startPingMaster(t)
	agent := h.registerAgent("cpus:1;mem:512")
	sched := h.subscribe(fwInfo("fw", mesospb.FrameworkInfo_Capability_PARTITION_AWARE), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("t", o.AgentId))
	agent.autoPong = false
	if st := sched.waitEvent(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_UNREACHABLE {
		t.Fatalf("update %v", st)
	}
	waitFor(t, func() bool { return h.getJSON("/state")["unreachable_slaves"] == 1.0 })

	if code, body := h.markGone(agent.id); code != http.StatusOK {
		t.Fatalf("MARK_AGENT_GONE: %d %s", code, body)
	}
	st := sched.waitEvent(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
	if st.GetState() != mesospb.TaskState_TASK_GONE_BY_OPERATOR || st.GetReason() != mesospb.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR ||
		st.GetMessage() != "Agent has been marked gone" {
		t.Errorf("update %v", st)
	}
	fw := frameworkState(t, h, sched.id)
	if !slices.Equal(taskIDs(fw["completed_tasks"]), []string{"t"}) || len(fw["unreachable_tasks"].([]any)) != 0 {
		t.Errorf("completed %v unreachable %v", fw["completed_tasks"], fw["unreachable_tasks"])
	}
	if n := h.getJSON("/state")["unreachable_slaves"]; n != 0.0 {
		t.Errorf("unreachable_slaves %v", n)
	}
}

// MARK_AGENT_GONE while the agent's removal (it unregistered) is being
// written is a 503, as Mesos's slaves.removing; once it is removed the
// agent is not found.
func TestMarkAgentGoneWhileRemoving(t *testing.T) {
	open := make(chan struct{})
	close(open)
	g := &gatedRegistrar{Registrar: newRegistrar(t, registry.NewMemoryStore()), gate: open}
	h := startMaster(t, func(c *Config) { c.Registrar = g })
	agent := h.registerAgent("cpus:1;mem:512")

	held := make(chan struct{})
	g.mu.Lock()
	g.gate, g.writes = held, 0
	g.mu.Unlock()
	// The UNREGISTER's answer itself waits for the write (durable before
	// visible).
	unregistered := make(chan error, 1)
	go func() {
		_, err := agent.call(&agentapipb.Call{Type: agentapipb.Call_UNREGISTER.Enum()})
		unregistered <- err
	}()
	waitFor(t, func() bool { return g.pending() > 0 })
	// Asked on the loop (post: a reply, even over HTTP, is held until the
	// write before it is durable).
	results := make(chan opResult, 1)
	h.m.post(func() { results <- h.m.st.markAgentGone(agent.id) })
	res := <-results
	if herr, ok := toHTTP(res.err).(*httpapi.Error); !ok || herr.Status != http.StatusServiceUnavailable ||
		herr.Message != "Agent '"+agent.id+"' is being transitioned to removed" {
		t.Errorf("MARK_AGENT_GONE during the removal: %v", res.err)
	}
	close(held)
	if err := <-unregistered; err != nil {
		t.Fatalf("UNREGISTER: %v", err)
	}
	waitFor(t, func() bool {
		var gone bool
		_ = h.m.do(t.Context(), func() { gone = h.m.st.agents[agent.id] == nil })
		return gone
	})
	body := agentCallJSON("MARK_AGENT_GONE", "mark_agent_gone", agent.id)
	if code, msg := h.operator(body, ""); code != http.StatusNotFound {
		t.Errorf("MARK_AGENT_GONE of a removed agent: %d %q, want 404", code, msg)
	}
}
