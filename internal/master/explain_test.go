package master

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/hierarchical"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/explain"
)

// startExplainMaster is a master with the real allocator.
func startExplainMaster(t *testing.T, mods ...func(*Config)) *harness {
	t.Helper()
	alloc, err := hierarchical.New(allocator.Options{AllocationInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return startMaster(t, func(c *Config) {
		c.Allocator = alloc
		for _, mod := range mods {
			mod(c)
		}
	})
}

// explainGet GETs an explainer path with query q, decoding a 200 or 404
// JSON body into v.
func (h *harness) explainGet(path string, q url.Values, v any) (int, string) {
	h.t.Helper()
	code, ctype, body := h.get(path + "?" + q.Encode())
	if (code == http.StatusOK || code == http.StatusNotFound) && strings.HasPrefix(ctype, "application/json") && v != nil {
		if err := json.Unmarshal([]byte(body), v); err != nil {
			h.t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return code, body
}

func (h *harness) explainFramework(key string) explain.Framework {
	h.t.Helper()
	var fw explain.Framework
	if code, body := h.explainGet(explain.FrameworkPath, url.Values{"framework": {key}}, &fw); code != http.StatusOK {
		h.t.Fatalf("explain framework %s: %d %s", key, code, body)
	}
	return fw
}

func reasonCodes(rs []explain.Reason) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Code)
	}
	return out
}

// A declined offer with refuse_seconds is explained as OFFER_FILTERED on
// that agent until then; SUPPRESS as ROLE_SUPPRESSED, first; REVIVE
// clears both and the new offer shows as outstanding.
func TestExplainFrameworkFilteredAndSuppressed(t *testing.T) {
	h := startExplainMaster(t)
	agent := h.registerAgent("cpus:2;mem:1024")
	info := fwInfo("explained")
	info.Role = proto.String("web")
	sched := h.subscribe(info, codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]

	fw := h.explainFramework(sched.id)
	if !fw.Active || fw.Name != "explained" || len(fw.Offers) != 1 || fw.Offers[0].OfferID != o.GetId().GetValue() ||
		fw.Offers[0].Hostname != "agent-host" || fw.Offers[0].Since == 0 {
		t.Fatalf("with an outstanding offer: %+v", fw)
	}
	if got := reasonCodes(fw.Reasons); !slices.Contains(got, explain.OffersOutstanding) {
		t.Errorf("reasons %v, want %s", got, explain.OffersOutstanding)
	}

	before := time.Now()
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), Decline: &schedulerpb.Call_Decline{
		OfferIds: []*mesospb.OfferID{o.Id}, Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(3600)}}})
	// By name too.
	fw = h.explainFramework("explained")
	if len(fw.Reasons) == 0 || fw.Reasons[0].Code != explain.OfferFiltered || fw.Reasons[0].AgentID != agent.id ||
		fw.Reasons[0].Role != "web" || !strings.Contains(fw.Reasons[0].Message, "agent-host") ||
		!strings.Contains(fw.Reasons[0].Message, "REVIVE") {
		t.Fatalf("after DECLINE: reasons %+v", fw.Reasons)
	}
	if len(fw.Filters) != 1 || fw.Filters[0].AgentID != agent.id || fw.Filters[0].Role != "web" ||
		fw.Filters[0].Until < float64(before.Add(3590*time.Second).Unix()) || fw.Filters[0].Until > float64(time.Now().Add(3601*time.Second).Unix()) {
		t.Errorf("filters %+v", fw.Filters)
	}
	if len(fw.Agents) != 1 || fw.Agents[0].Hostname != "agent-host" || fw.Agents[0].Free != "cpus:2; mem:1024" ||
		!slices.Equal(reasonCodes(fw.Agents[0].Reasons), []string{explain.OfferFiltered}) {
		t.Errorf("agents %+v", fw.Agents)
	}
	if len(fw.Roles) != 1 || fw.Roles[0].Role != "web" || fw.Roles[0].Weight != 1 || fw.Roles[0].Rank != 1 || fw.Roles[0].FrameworkRank != 1 {
		t.Errorf("roles %+v", fw.Roles)
	}
	sched.noOffers(100 * time.Millisecond)

	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum()})
	fw = h.explainFramework(sched.id)
	if len(fw.Reasons) == 0 || fw.Reasons[0].Code != explain.RoleSuppressed || fw.Reasons[0].Role != "web" ||
		!strings.Contains(fw.Reasons[0].Message, "REVIVE") || !fw.Roles[0].Suppressed {
		t.Fatalf("after SUPPRESS: %+v", fw)
	}

	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()})
	o = sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	fw = h.explainFramework(sched.id)
	if len(fw.Filters) != 0 || fw.Roles[0].Suppressed || len(fw.Offers) != 1 ||
		!slices.Equal(reasonCodes(fw.Reasons), []string{explain.OffersOutstanding, explain.OffersOutstanding}) {
		t.Fatalf("after REVIVE: %+v", fw)
	}
}

func TestExplainErrors(t *testing.T) {
	h := startExplainMaster(t)
	h.subscribe(fwInfo("twin"), codec.JSON)
	h.subscribe(fwInfo("twin"), codec.JSON)
	lone := h.subscribe(fwInfo("lone"), codec.JSON)
	tests := []struct {
		path string
		q    url.Values
		code int
		body string
	}{
		{explain.FrameworkPath, nil, http.StatusBadRequest, "framework"},
		{explain.FrameworkPath, url.Values{"framework": {"nope"}}, http.StatusNotFound, "nope"},
		{explain.FrameworkPath, url.Values{"framework": {"twin"}}, http.StatusConflict, "2 frameworks"},
		{explain.FrameworkPath, url.Values{"framework": {"lone"}}, http.StatusOK, lone.id},
		{explain.TaskPath, nil, http.StatusBadRequest, "task"},
		{explain.TaskPath, url.Values{"task": {"t"}, "framework": {"twin"}}, http.StatusConflict, "2 frameworks"},
		{explain.TaskPath, url.Values{"task": {"t"}, "framework": {"nope"}}, http.StatusNotFound, "nope"},
		{explain.TaskPath, url.Values{"task": {"t"}}, http.StatusNotFound, explain.TaskNotLaunched},
	}
	for _, tt := range tests {
		code, body := h.explainGet(tt.path, tt.q, nil)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s?%s: %d %q, want %d with %q", tt.path, tt.q.Encode(), code, body, tt.code, tt.body)
		}
	}
	// The framework has no such task: 404 naming it.
	var task explain.Task
	code, _ := h.explainGet(explain.TaskPath, url.Values{"task": {"t"}, "framework": {lone.id}}, &task)
	if code != http.StatusNotFound || task.FrameworkID != lone.id || !slices.Equal(reasonCodes(task.Reasons), []string{explain.TaskNotLaunched}) {
		t.Errorf("unknown task of %s: %d %+v", lone.id, code, task)
	}
	// Reads only.
	resp, err := http.Post(h.url(explain.FrameworkPath+"?framework=lone"), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

// A task is explained through its life: staging, running, finished.
func TestExplainTask(t *testing.T) {
	h := startExplainMaster(t)
	agent := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(fwInfo("tasks"), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("t1", o.AgentId))

	get := func() explain.Task {
		t.Helper()
		var task explain.Task
		if code, body := h.explainGet(explain.TaskPath, url.Values{"task": {"t1"}}, &task); code != http.StatusOK {
			t.Fatalf("explain task: %d %s", code, body)
		}
		return task
	}
	task := get()
	if task.State != "TASK_STAGING" || task.FrameworkID != sched.id || task.AgentID != agent.id || task.Hostname != "agent-host" ||
		task.Name != "t1" || !slices.Equal(reasonCodes(task.Reasons), []string{explain.TaskStaging}) ||
		!strings.Contains(task.Reasons[0].Message, "agent-host") {
		t.Fatalf("staging: %+v", task)
	}

	agent.statusUpdate(sched.id, "t1", mesospb.TaskState_TASK_RUNNING, []byte("u1"))
	sched.waitEvent(schedulerpb.Event_UPDATE)
	task = get()
	if task.State != "TASK_RUNNING" || len(task.Reasons) != 0 || task.LastUpdate == nil ||
		task.LastUpdate.State != "TASK_RUNNING" || task.LastUpdate.Source != "SOURCE_EXECUTOR" || task.LastUpdate.Timestamp == 0 {
		t.Fatalf("running: %+v (last update %+v)", task, task.LastUpdate)
	}

	agent.statusUpdate(sched.id, "t1", mesospb.TaskState_TASK_FINISHED, []byte("u2"))
	sched.waitEvent(schedulerpb.Event_UPDATE)
	task = get()
	if task.State != "TASK_FINISHED" || !slices.Equal(reasonCodes(task.Reasons), []string{explain.TaskTerminal}) ||
		!strings.Contains(task.Reasons[0].Message, "TASK_FINISHED") {
		t.Fatalf("finished: %+v", task)
	}
	// With the framework named.
	var byFw explain.Task
	if code, _ := h.explainGet(explain.TaskPath, url.Values{"task": {"t1"}, "framework": {"tasks"}}, &byFw); code != http.StatusOK || byFw.TaskID != "t1" {
		t.Errorf("by framework name: %d %+v", code, byFw)
	}
}

// The explainer shows only what the reader may view: another user's
// framework and tasks are not found.
func TestExplainViewFiltering(t *testing.T) {
	h := startExplainMaster(t, withACLs(t, `{
	  "permissive": false,
	  "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
	  "register_frameworks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
	  "run_tasks": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
	  "view_frameworks": [{"principals": {"values": ["alice"]}, "users": {"values": ["alice"]}}],
	  "view_tasks": [{"principals": {"values": ["alice"]}, "users": {"values": ["alice"]}}]
	}`))
	agent := h.registerAgent("cpus:4;mem:1024")
	ids := map[string]string{}
	for _, user := range []string{"alice", "bob"} {
		info := roleFramework("*", user, false)
		info.User = proto.String(user)
		info.Name = proto.String(user)
		s := h.subscribe(info, codec.JSON)
		o := s.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
		launchOn(t, s, agent, o, simpleTask(user+"-task", o.AgentId))
		// Leave the rest to the next framework.
		rest := s.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
		s.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), Decline: &schedulerpb.Call_Decline{
			OfferIds: []*mesospb.OfferID{rest.Id}, Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(3600)}}})
		ids[user] = s.id
	}
	alice := principalServer(t, h, "alice")
	for _, tt := range []struct {
		path string
		code int
	}{
		{explain.FrameworkPath + "?framework=" + ids["alice"], http.StatusOK},
		{explain.FrameworkPath + "?framework=alice", http.StatusOK},
		{explain.FrameworkPath + "?framework=" + ids["bob"], http.StatusNotFound},
		{explain.FrameworkPath + "?framework=bob", http.StatusNotFound},
		{explain.TaskPath + "?task=alice-task", http.StatusOK},
		{explain.TaskPath + "?task=bob-task", http.StatusNotFound},
	} {
		if code, body := do(t, http.MethodGet, alice+tt.path, "", nil); code != tt.code {
			t.Errorf("alice GET %s: %d %s, want %d", tt.path, code, body, tt.code)
		}
	}
}

// Operator-deactivated agents and the absence of agents are explained.
func TestExplainAgentsWithheld(t *testing.T) {
	h := startExplainMaster(t)
	sched := h.subscribe(fwInfo("lonely"), codec.JSON)
	fw := h.explainFramework(sched.id)
	if len(fw.Reasons) == 0 || fw.Reasons[0].Code != explain.NoAgents {
		t.Fatalf("without agents: reasons %+v", fw.Reasons)
	}
	agent := h.registerAgent("cpus:2;mem:1024")
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if code, body := h.deactivate(agent.id); code != http.StatusOK {
		t.Fatalf("DEACTIVATE_AGENT: %d %s", code, body)
	}
	sched.waitEvent(schedulerpb.Event_RESCIND)
	_ = o
	fw = h.explainFramework(sched.id)
	if got := reasonCodes(fw.Reasons); !slices.Equal(got, []string{explain.AgentDeactivated}) ||
		!strings.Contains(fw.Reasons[0].Message, "REACTIVATE_AGENT") {
		t.Fatalf("deactivated agent: reasons %+v", fw.Reasons)
	}
	if code, body := h.reactivate(agent.id); code != http.StatusOK {
		t.Fatalf("REACTIVATE_AGENT: %d %s", code, body)
	}
	sched.next(schedulerpb.Event_OFFERS)
}

// A framework whose role holds more than another's is told it comes later
// in the DRF order; the other is told the agent is taken.
func TestExplainDRFOrder(t *testing.T) {
	h := startExplainMaster(t)
	agent := h.registerAgent("cpus:2;mem:1024")
	infoA := fwInfo("a")
	infoA.Role = proto.String("ra")
	a := h.subscribe(infoA, codec.JSON)
	a.next(schedulerpb.Event_OFFERS) // held: role ra holds the whole agent
	infoB := fwInfo("b")
	infoB.Role = proto.String("rb")
	b := h.subscribe(infoB, codec.JSON)

	fa := h.explainFramework(a.id)
	if len(fa.Roles) != 1 || fa.Roles[0].Rank != 2 || fa.Roles[0].Roles != 2 || fa.Roles[0].DominantShare != 1 {
		t.Fatalf("roles of a: %+v", fa.Roles)
	}
	if last := fa.Reasons[len(fa.Reasons)-1]; last.Code != explain.DRFOrder || last.Role != "ra" || !strings.Contains(last.Message, "2 of 2") {
		t.Errorf("reasons of a: %+v", fa.Reasons)
	}
	fb := h.explainFramework(b.id)
	if fb.Roles[0].Rank != 1 || len(fb.Reasons) != 1 || fb.Reasons[0].Code != explain.AllocatedToOthers || fb.Reasons[0].AgentID != agent.id {
		t.Errorf("b: roles %+v reasons %+v", fb.Roles, fb.Reasons)
	}
}

// A starting task shows its container; once its agent is unreachable the
// task is explained as such.
func TestExplainTaskUnreachable(t *testing.T) {
	h := startPingMaster(t)
	agent := h.registerAgent("cpus:1;mem:512")
	info := fwInfo("partitioned", mesospb.FrameworkInfo_Capability_PARTITION_AWARE)
	sched := h.subscribe(info, codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("t", o.AgentId))
	agent.mustCall(&agentapipb.Call{Type: agentapipb.Call_STATUS_UPDATE.Enum(), StatusUpdate: &agentapipb.Call_StatusUpdate{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)},
		Status: &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: mesospb.TaskState_TASK_STARTING.Enum(),
			Source:          mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
			ContainerStatus: &mesospb.ContainerStatus{ContainerId: &mesospb.ContainerID{Value: proto.String("c1")}},
			Uuid:            bytes.Repeat([]byte{0x42}, 16)}}})
	sched.waitEvent(schedulerpb.Event_UPDATE)
	var task explain.Task
	if code, body := h.explainGet(explain.TaskPath, url.Values{"task": {"t"}}, &task); code != http.StatusOK {
		t.Fatalf("explain: %d %s", code, body)
	}
	if task.State != "TASK_STARTING" || task.ContainerID != "c1" || !slices.Equal(reasonCodes(task.Reasons), []string{explain.TaskStaging}) {
		t.Fatalf("starting: %+v", task)
	}

	agent.autoPong = false
	for {
		ev := sched.waitEvent(schedulerpb.Event_UPDATE)
		if ev.GetUpdate().GetStatus().GetState() == mesospb.TaskState_TASK_UNREACHABLE {
			break
		}
	}
	task = explain.Task{}
	if code, body := h.explainGet(explain.TaskPath, url.Values{"task": {"t"}, "framework": {sched.id}}, &task); code != http.StatusOK {
		t.Fatalf("explain: %d %s", code, body)
	}
	if task.State != "TASK_UNREACHABLE" || !slices.Equal(reasonCodes(task.Reasons), []string{explain.TaskUnreachable}) ||
		task.LastUpdate == nil || task.LastUpdate.State != "TASK_UNREACHABLE" {
		t.Fatalf("unreachable: %+v (last update %+v)", task, task.LastUpdate)
	}
}
