package master

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/resources"
)

// engJSON is cpus and mem dynamically reserved for eng by ops, in the
// pre-refinement JSON an operator posts.
func engJSON(cpus, mem string) string {
	res := func(name, v string) string {
		return `{"name":"` + name + `","type":"SCALAR","scalar":{"value":` + v + `},"role":"eng","reservation":{"principal":"ops"}}`
	}
	return "[" + res("cpus", cpus) + "," + res("mem", mem) + "]"
}

func (h *harness) form(path string, values url.Values) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url(path), strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOperatorReserveUnreserve(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(fwInfo("f"), codec.JSON)
	sched.next(schedulerpb.Event_OFFERS) // the whole agent is offered
	// /state keeps an agent's total maps between reads (totalMaps): a
	// read before the reservation must not hide it from the reads after.
	unreservedCPUs := func() any {
		slave := h.getJSON("/state")["slaves"].([]any)[0].(map[string]any)
		return slave["unreserved_resources"].(map[string]any)["cpus"]
	}
	// So does GET_AGENTS its total_resources.
	reservedCPUs := func() float64 {
		pb, _ := h.operatorBoth(&masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
		n := 0.0
		for _, r := range pb.GetGetAgents().GetAgents()[0].GetTotalResources() {
			if r.GetName() == "cpus" && r.GetRole() == "eng" {
				n += r.GetScalar().GetValue()
			}
		}
		return n
	}
	if got, reserved := unreservedCPUs(), reservedCPUs(); got != 2.0 || reserved != 0 {
		t.Fatalf("before the reservation: /state unreserved cpus %v, GET_AGENTS reserved cpus %v", got, reserved)
	}

	// POST /reserve: the offer holding the resources is rescinded (with a
	// 5 s filter), the agent checkpoints the reservation, the allocator
	// learns the new total.
	code, body := h.form("/master/reserve", url.Values{"slaveId": {agent.id}, "resources": {engJSON("1", "512")}})
	if code != http.StatusAccepted {
		t.Fatalf("POST /master/reserve: %d %s", code, body)
	}
	sched.waitEvent(schedulerpb.Event_RESCIND)
	cp := resources.Resources(agent.next(agentapipb.Event_CHECKPOINT_RESOURCES).GetCheckpointResources().GetResources())
	if got := cp.ReservedBy("eng").Quantities(); got["cpus"] != 1 || got["mem"] != 512 {
		t.Fatalf("checkpointed %v", cp)
	}
	if rs := h.alloc.recoveries(); len(rs) == 0 || rs[len(rs)-1].refuse != 5 {
		t.Fatalf("recoveries %v, want the rescinded offer with a 5s filter", rs)
	}
	h.alloc.mu.Lock()
	totals := len(h.alloc.totals)
	h.alloc.mu.Unlock()
	if totals != 1 {
		t.Fatalf("UpdateAgentTotal called %d times, want 1", totals)
	}
	slave := h.getJSON("/state")["slaves"].([]any)[0].(map[string]any)
	if r := slave["reserved_resources"].(map[string]any)["eng"].(map[string]any); r["cpus"] != 1.0 {
		t.Fatalf("/state reserved %v", slave["reserved_resources"])
	}
	if got, reserved := unreservedCPUs(), reservedCPUs(); got != 1.0 || reserved != 1 {
		t.Fatalf("after reserving 1: /state unreserved cpus %v, GET_AGENTS reserved cpus %v", got, reserved)
	}

	// Errors, with Mesos's codes and messages.
	for _, tc := range []struct {
		name, path string
		values     url.Values
		code       int
		msg        string
	}{
		{"no slaveId", "/reserve", url.Values{"resources": {"[]"}}, 400, "Missing 'slaveId' query parameter in the request body"},
		{"no resources", "/reserve", url.Values{"slaveId": {agent.id}}, 400, "Missing 'resources' query parameter in the request body"},
		{"bad json", "/reserve", url.Values{"slaveId": {agent.id}, "resources": {"{"}}, 400, "Error parsing 'resources' query parameter in the request body: "},
		{"bad json unreserve", "/unreserve", url.Values{"slaveId": {agent.id}, "resources": {"{"}}, 400, "Error in parsing 'resources' query parameter in the request body: "},
		{"unknown agent", "/reserve", url.Values{"slaveId": {"nope"}, "resources": {engJSON("1", "1")}}, 400, "No agent found with specified ID"},
		{"not reserved", "/reserve", url.Values{"slaveId": {agent.id}, "resources": {`[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]`}},
			400, "Invalid RESERVE operation on agent " + agent.id + " at slave(1)@127.0.0.1:5051 (agent-host): Resource cpus:1 is not dynamically reserved"},
		{"source quantities", "/reserve", url.Values{"slaveId": {agent.id}, "resources": {engJSON("1", "1")},
			"source": {`[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]`}},
			400, "(agent-host): Source and target resources should refer to identical resource quantities: cpus:1 vs. cpus:1; mem:1"},
		{"unreserve unreserved", "/unreserve", url.Values{"slaveId": {agent.id}, "resources": {`[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]`}},
			400, "Invalid UNRESERVE operation: Resource cpus:1 is not dynamically reserved"},
		{"too much", "/reserve", url.Values{"slaveId": {agent.id}, "resources": {engJSON("5", "1")}}, 409, "does not contain"},
	} {
		if code, body := h.form(tc.path, tc.values); code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, body, tc.code, tc.msg)
		}
	}
	if code, _ := h.do(http.MethodGet, "/reserve", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /reserve: %d", code)
	}

	// UNRESERVE fails on the first resource it cannot apply, and names
	// only that one; nothing changes.
	unreserve := func(cpus, mem string) (int, string) {
		return h.operator(`{"type":"UNRESERVE_RESOURCES","unreserve_resources":{"agent_id":{"value":"`+agent.id+
			`"},"resources":`+engJSON(cpus, mem)+`}}`, "")
	}
	code, body = unreserve("1", "4096")
	if code != http.StatusConflict || !strings.Contains(body, "does not contain mem") || strings.Contains(body, "does not contain cpus") {
		t.Fatalf("UNRESERVE too much mem: %d %s", code, body)
	}
	// The v1 call unreserves it all.
	if code, body := unreserve("1", "512"); code != http.StatusAccepted {
		t.Fatalf("UNRESERVE_RESOURCES: %d %s", code, body)
	}
	cp = resources.Resources(agent.next(agentapipb.Event_CHECKPOINT_RESOURCES).GetCheckpointResources().GetResources())
	if len(cp.Reserved()) != 0 || cp.Quantities()["cpus"] != 2 {
		t.Fatalf("after UNRESERVE_RESOURCES the agent has %v", cp)
	}
	// And RESERVE_RESOURCES through /api/v1.
	code, body = h.operator(`{"type":"RESERVE_RESOURCES","reserve_resources":{"agent_id":{"value":"`+agent.id+
		`"},"resources":`+engJSON("2", "1024")+`}}`, "")
	if code != http.StatusAccepted {
		t.Fatalf("RESERVE_RESOURCES: %d %s", code, body)
	}
	cp = resources.Resources(agent.next(agentapipb.Event_CHECKPOINT_RESOURCES).GetCheckpointResources().GetResources())
	if q := cp.ReservedBy("eng").Quantities(); q["cpus"] != 2 || q["mem"] != 1024 {
		t.Fatalf("after RESERVE_RESOURCES the agent has %v", cp)
	}
}

// An operation asking for feedback is refused even on an agent with the
// RESOURCE_PROVIDER capability: meso has no operation feedback.
func TestOperationFeedbackRefused(t *testing.T) {
	h := startMaster(t, nil)
	rs, _ := resources.Parse("cpus:2;mem:1024", "*")
	a := h.openAgent(&agentapipb.Call{
		Type: agentapipb.Call_REGISTER.Enum(),
		Register: &agentapipb.Call_Register{
			AgentInfo: &mesospb.AgentInfo{Hostname: proto.String("agent-host"), Resources: rs, Port: proto.Int32(5051)},
			Pid:       proto.String("slave(1)@127.0.0.1:5051"),
			Capabilities: []*mesospb.AgentInfo_Capability{
				{Type: mesospb.AgentInfo_Capability_RESOURCE_PROVIDER.Enum()},
				{Type: mesospb.AgentInfo_Capability_RESERVATION_REFINEMENT.Enum()},
			},
		},
	})
	id := a.next(agentapipb.Event_REGISTERED).GetRegistered().GetAgentId().GetValue()
	sched := h.subscribe(roleFramework("eng", "p", true), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	op := reserveOp(reservedFor("eng", "p", true, 1, 32))
	op.Id = &mesospb.OperationID{Value: proto.String("op1")}
	sched.accept(o, op)
	st := sched.waitEvent(schedulerpb.Event_UPDATE_OPERATION_STATUS).GetUpdateOperationStatus().GetStatus()
	want := "Operation on agent default resources requested feedback, but agent " + id +
		" does not have the required AGENT_OPERATION_FEEDBACK and RESOURCE_PROVIDER capabilities"
	if st.GetState() != mesospb.OperationState_OPERATION_ERROR || st.GetMessage() != want {
		t.Fatalf("operation status %v, want message %q", st, want)
	}
}
