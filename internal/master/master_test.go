package master

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
)

func fwInfo(name string, caps ...mesospb.FrameworkInfo_Capability_Type) *mesospb.FrameworkInfo {
	fi := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String(name)}
	for _, c := range caps {
		fi.Capabilities = append(fi.Capabilities, &mesospb.FrameworkInfo_Capability{Type: c.Enum()})
	}
	return fi
}

func TestPackIP(t *testing.T) {
	if got := packIP([]byte{127, 0, 0, 1}); got != 16777343 {
		t.Fatalf("packIP(127.0.0.1) = %d, want 16777343", got)
	}
}

func TestSchedulerStatusCodes(t *testing.T) {
	h := startMaster(t, nil)
	sched := h.subscribe(fwInfo("codes"), codec.JSON)

	raw := func(method, ct, accept, body string, hdr map[string]string) (int, string, http.Header) {
		req, _ := http.NewRequest(method, h.url("/api/v1/scheduler"), strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	sub := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`
	revive := `{"type":"REVIVE","framework_id":{"value":"` + sched.id + `"}}`
	ack := func(uuid string) string {
		return `{"type":"ACKNOWLEDGE","framework_id":{"value":"` + sched.id + `"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"` + uuid + `"}}`
	}
	sid := map[string]string{"Mesos-Stream-Id": sched.streamID}
	tests := []struct {
		name, method, ct, accept, body string
		hdr                            map[string]string
		want                           int
		wantBody                       string
	}{
		{"GET", "GET", "", "", "", nil, 405, ""},
		{"no content type", "POST", "", "", sub, nil, 400, "Content-Type"},
		{"bad content type", "POST", "text/plain", "", sub, nil, 415, ""},
		{"bad json", "POST", "application/json", "", "{", nil, 400, ""},
		{"missing required", "POST", "application/json", "", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"n"}}}`, nil, 400, ""},
		{"not acceptable", "POST", "application/json", "text/html", sub, nil, 406, ""},
		{"stream id on subscribe", "POST", "application/json", "application/json", sub, sid, 400, "Mesos-Stream-Id"},
		{"no framework id", "POST", "application/json", "", `{"type":"REVIVE"}`, nil, 400, "framework_id"},
		{"unknown framework", "POST", "application/json", "", `{"type":"REVIVE","framework_id":{"value":"nope"}}`, sid, 400, "Framework cannot be found"},
		{"missing stream id", "POST", "application/json", "", revive, nil, 400, "Mesos-Stream-Id"},
		{"wrong stream id", "POST", "application/json", "", revive, map[string]string{"Mesos-Stream-Id": "x"}, 400, "stream ID"},
		{"bad uuid", "POST", "application/json", "", ack("AAEC"), sid, 400, "UUID"},
		{"unknown type", "POST", "application/json", "", `{"type":"UNKNOWN","framework_id":{"value":"` + sched.id + `"}}`, sid, 501, ""},
		{"revive", "POST", "application/json", "", revive, sid, 202, ""},
		{"master prefix", "POST", "application/json", "", revive, sid, 202, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, hdr := raw(tc.method, tc.ct, tc.accept, tc.body, tc.hdr)
			if code != tc.want {
				t.Fatalf("status %d (%s), want %d", code, body, tc.want)
			}
			if tc.wantBody != "" && !strings.Contains(body, tc.wantBody) {
				t.Errorf("body %q does not mention %q", body, tc.wantBody)
			}
			if code == 405 && hdr.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", hdr.Get("Allow"))
			}
		})
	}

	// A disconnected framework gets 403.
	other := h.subscribe(fwInfo("other", mesospb.FrameworkInfo_Capability_PARTITION_AWARE), codec.JSON)
	_ = other
	otherInfo := fwInfo("other")
	otherInfo.FailoverTimeout = proto.Float64(3600)
	o2 := h.subscribe(otherInfo, codec.JSON)
	o2.resp.Body.Close()
	waitFor(t, func() bool {
		var connected bool
		_ = h.m.do(t.Context(), func() { connected = h.m.st.frameworks[o2.id].connected() })
		return !connected
	})
	code, body := o2.call(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()})
	if code != 403 || !strings.Contains(body, "Framework is not subscribed") {
		t.Fatalf("disconnected framework: %d %s", code, body)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSubscribeOfferLaunch(t *testing.T) {
	for _, mt := range []codec.MediaType{codec.JSON, codec.Protobuf} {
		t.Run(string(mt), func(t *testing.T) {
			h := startMaster(t, nil)
			agent := h.registerAgent("cpus:2;mem:1024;disk:1000;ports:[31000-32000]")
			sched := h.subscribe(fwInfo("launch"), mt)
			if !strings.HasPrefix(sched.id, h.m.ID()+"-0000") {
				t.Fatalf("framework id %q", sched.id)
			}

			offers := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()
			if len(offers) != 1 {
				t.Fatalf("%d offers", len(offers))
			}
			o := offers[0]
			if o.AllocationInfo != nil {
				t.Errorf("non-MULTI_ROLE offer carries allocation_info")
			}
			for _, r := range o.GetResources() {
				if r.AllocationInfo != nil || r.GetRole() != "*" {
					t.Errorf("resource %v: want role * and no allocation_info", r)
				}
			}
			wantURL := &mesospb.URL{Scheme: proto.String("http"), Path: proto.String("/slave(1)"),
				Address: &mesospb.Address{Hostname: proto.String("agent-host"), Ip: proto.String("127.0.0.1"), Port: proto.Int32(5051)}}
			if d := cmp.Diff(wantURL, o.GetUrl(), protocmp.Transform()); d != "" {
				t.Errorf("offer url (-want +got):\n%s", d)
			}
			if o.GetAgentId().GetValue() != agent.id || o.GetHostname() != "agent-host" ||
				!strings.HasPrefix(o.GetId().GetValue(), h.m.ID()+"-O") {
				t.Errorf("offer %v", o)
			}

			task := &mesospb.TaskInfo{
				Name:    proto.String("t1"),
				TaskId:  &mesospb.TaskID{Value: proto.String("t1")},
				AgentId: o.AgentId,
				Command: &mesospb.CommandInfo{Value: proto.String("sleep 1")},
				Resources: []*mesospb.Resource{
					{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(1)}, Role: proto.String("*")},
					{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(128)}, Role: proto.String("*")},
				},
			}
			sched.mustCall(&schedulerpb.Call{
				Type: schedulerpb.Call_ACCEPT.Enum(),
				Accept: &schedulerpb.Call_Accept{
					OfferIds: []*mesospb.OfferID{o.Id},
					Operations: []*mesospb.Offer_Operation{{
						Type:   mesospb.Offer_Operation_LAUNCH.Enum(),
						Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{task}},
					}},
					Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
				},
			})
			run := agent.next(agentapipb.Event_RUN_TASK).GetRunTask()
			if run.GetTask().GetTaskId().GetValue() != "t1" || run.GetFrameworkInfo().GetId().GetValue() != sched.id {
				t.Fatalf("RUN_TASK %v", run)
			}
			for _, r := range run.GetTask().GetResources() {
				if r.GetAllocationInfo().GetRole() != "*" {
					t.Errorf("task resource without allocation role: %v", r)
				}
			}

			// The rest of the agent is offered again (filter 0).
			again := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
			if c := scalarOf(again.GetResources(), "cpus"); c != 1 {
				t.Errorf("re-offered cpus = %v, want 1", c)
			}

			// Status updates flow to the scheduler with their uuid; the ack goes back.
			uuid := bytes.Repeat([]byte{0x47}, 16) // version 4
			agent.statusUpdate(sched.id, "t1", mesospb.TaskState_TASK_RUNNING, uuid)
			up := sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
			if up.GetState() != mesospb.TaskState_TASK_RUNNING || !bytes.Equal(up.GetUuid(), uuid) ||
				up.GetAgentId().GetValue() != agent.id {
				t.Fatalf("update %v", up)
			}
			sched.mustCall(&schedulerpb.Call{
				Type: schedulerpb.Call_ACKNOWLEDGE.Enum(),
				Acknowledge: &schedulerpb.Call_Acknowledge{
					AgentId: up.AgentId, TaskId: up.TaskId, Uuid: up.Uuid,
				},
			})
			ack := agent.next(agentapipb.Event_ACKNOWLEDGE_UPDATE).GetAcknowledgeUpdate()
			if ack.GetTaskId().GetValue() != "t1" || !bytes.Equal(ack.GetUuid(), uuid) || ack.GetFrameworkId().GetValue() != sched.id {
				t.Fatalf("ack %v", ack)
			}

			// /state shows the running task.
			st := h.getJSON("/master/state")
			fws := st["frameworks"].([]any)
			tasks := fws[0].(map[string]any)["tasks"].([]any)
			if len(tasks) != 1 || tasks[0].(map[string]any)["state"] != "TASK_RUNNING" {
				t.Fatalf("state tasks: %v", tasks)
			}

			// Terminal update, acknowledged: the task is completed.
			uuid2 := bytes.Repeat([]byte{0x48}, 16)
			agent.statusUpdate(sched.id, "t1", mesospb.TaskState_TASK_FINISHED, uuid2)
			up = sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
			sched.mustCall(&schedulerpb.Call{
				Type:        schedulerpb.Call_ACKNOWLEDGE.Enum(),
				Acknowledge: &schedulerpb.Call_Acknowledge{AgentId: up.AgentId, TaskId: up.TaskId, Uuid: up.Uuid},
			})
			agent.next(agentapipb.Event_ACKNOWLEDGE_UPDATE)
			st = h.getJSON("/state")
			fw := st["frameworks"].([]any)[0].(map[string]any)
			if len(fw["tasks"].([]any)) != 0 || len(fw["completed_tasks"].([]any)) != 1 {
				t.Fatalf("after terminal ack: tasks %v completed %v", fw["tasks"], fw["completed_tasks"])
			}
		})
	}
}

func (h *harness) getJSON(path string) map[string]any {
	h.t.Helper()
	resp, err := http.Get(h.url(path))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		h.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		h.t.Fatal(err)
	}
	return v
}

func cpuMem(cpus, mem float64) []*mesospb.Resource {
	return []*mesospb.Resource{
		{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(cpus)}},
		{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(mem)}},
	}
}

func TestInvalidLaunches(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(fwInfo("invalid", mesospb.FrameworkInfo_Capability_MULTI_ROLE), codec.Protobuf)
	_ = agent
	// A MULTI_ROLE framework without roles gets no offers; update it.
	info := fwInfo("invalid", mesospb.FrameworkInfo_Capability_MULTI_ROLE)
	info.Id = &mesospb.FrameworkID{Value: proto.String(sched.id)}
	info.Roles = []string{"web"}
	sched.mustCall(&schedulerpb.Call{
		Type:            schedulerpb.Call_UPDATE_FRAMEWORK.Enum(),
		UpdateFramework: &schedulerpb.Call_UpdateFramework{FrameworkInfo: info},
	})
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	if o.GetAllocationInfo().GetRole() != "web" {
		t.Fatalf("MULTI_ROLE offer allocation_info = %v", o.GetAllocationInfo())
	}
	for _, r := range o.GetResources() {
		if r.GetAllocationInfo().GetRole() != "web" {
			t.Fatalf("MULTI_ROLE offer resource %v", r)
		}
	}

	mk := func(id string, res []*mesospb.Resource, mod func(*mesospb.TaskInfo)) *mesospb.TaskInfo {
		ti := &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
			AgentId: o.AgentId, Command: &mesospb.CommandInfo{Value: proto.String("true")}, Resources: res}
		if mod != nil {
			mod(ti)
		}
		return ti
	}
	tasks := []*mesospb.TaskInfo{
		mk("ok", cpuMem(0.5, 64), nil),
		mk("ok", cpuMem(0.5, 64), nil), // duplicate ID
		mk("too-big", cpuMem(4, 64), nil),
		mk("both", cpuMem(0.1, 32), func(ti *mesospb.TaskInfo) {
			ti.Executor = &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")},
				Command: &mesospb.CommandInfo{Value: proto.String("x")}}
		}),
		mk("neither", cpuMem(0.1, 32), func(ti *mesospb.TaskInfo) { ti.Command = nil }),
		mk("bad/id", cpuMem(0.1, 32), nil),
	}
	sched.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.Id},
			Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks}}},
		},
	})
	want := map[string]string{
		"ok":      "duplicate ID",
		"too-big": "more than available",
		"both":    "not both",
		"neither": "not both",
		"bad/id":  "invalid characters",
	}
	for range len(want) {
		st := sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
		sub, ok := want[st.GetTaskId().GetValue()]
		if !ok {
			t.Fatalf("unexpected update %v", st)
		}
		if st.GetState() != mesospb.TaskState_TASK_ERROR || st.GetReason() != mesospb.TaskStatus_REASON_TASK_INVALID ||
			st.GetSource() != mesospb.TaskStatus_SOURCE_MASTER || st.Uuid != nil || !strings.Contains(st.GetMessage(), sub) {
			t.Errorf("task %s: %v", st.GetTaskId().GetValue(), st)
		}
		delete(want, st.GetTaskId().GetValue())
	}
	run := agent.next(agentapipb.Event_RUN_TASK).GetRunTask()
	if run.GetTask().GetTaskId().GetValue() != "ok" {
		t.Fatalf("launched %v", run.GetTask().GetTaskId())
	}

	// Reusing the (now consumed) offer: TASK_LOST (not partition-aware).
	sched.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.Id},
			Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{
					TaskInfos: []*mesospb.TaskInfo{mk("late", cpuMem(0.1, 32), nil)}}}},
		},
	})
	st := sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
	if st.GetState() != mesospb.TaskState_TASK_LOST || st.GetReason() != mesospb.TaskStatus_REASON_INVALID_OFFERS ||
		st.GetSource() != mesospb.TaskStatus_SOURCE_MASTER {
		t.Fatalf("used offer: %v", st)
	}
}

func TestInvalidOffersPartitionAware(t *testing.T) {
	h := startMaster(t, nil)
	h.registerAgent("cpus:1;mem:512")
	sched := h.subscribe(fwInfo("pa", mesospb.FrameworkInfo_Capability_PARTITION_AWARE), codec.JSON)
	sched.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{{Value: proto.String("nope")}},
			Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{
					TaskInfos: []*mesospb.TaskInfo{{Name: proto.String("x"), TaskId: &mesospb.TaskID{Value: proto.String("x")},
						AgentId: &mesospb.AgentID{Value: proto.String("a")}}}}}},
		},
	})
	var st *mesospb.TaskStatus
	for st == nil {
		ev := <-sched.events
		if ev.GetType() == schedulerpb.Event_UPDATE {
			st = ev.GetUpdate().GetStatus()
		}
	}
	if st.GetState() != mesospb.TaskState_TASK_DROPPED || st.GetReason() != mesospb.TaskStatus_REASON_INVALID_OFFERS {
		t.Fatalf("unknown offer: %v", st)
	}
}

func TestDeclineAndFilters(t *testing.T) {
	h := startMaster(t, nil)
	h.registerAgent("cpus:1;mem:512")
	sched := h.subscribe(fwInfo("decline"), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(),
		Decline: &schedulerpb.Call_Decline{OfferIds: []*mesospb.OfferID{o.Id}}})
	waitFor(t, func() bool {
		for _, r := range h.alloc.recoveries() {
			if r.framework == sched.id && r.refuse == 5 {
				return true
			}
		}
		return false
	})
	// REVIVE clears the filter: offered again.
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()})
	sched.next(schedulerpb.Event_OFFERS)
}

func TestReconcile(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:1;mem:512")
	sched := h.subscribe(fwInfo("rec", mesospb.FrameworkInfo_Capability_PARTITION_AWARE), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	sched.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.Id},
			Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{
					TaskInfos: []*mesospb.TaskInfo{{Name: proto.String("k"), TaskId: &mesospb.TaskID{Value: proto.String("k")},
						AgentId: o.AgentId, Command: &mesospb.CommandInfo{Value: proto.String("true")}, Resources: cpuMem(0.5, 64)}}}}},
		},
	})
	agent.next(agentapipb.Event_RUN_TASK)

	check := func(st *mesospb.TaskStatus, id string, state mesospb.TaskState) {
		t.Helper()
		if st.GetTaskId().GetValue() != id || st.GetState() != state || st.GetReason() != mesospb.TaskStatus_REASON_RECONCILIATION ||
			st.GetSource() != mesospb.TaskStatus_SOURCE_MASTER || st.Uuid != nil {
			t.Fatalf("reconcile %s: %v", id, st)
		}
	}
	// Implicit.
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{}})
	check(sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(), "k", mesospb.TaskState_TASK_STAGING)

	// Explicit: known, unknown on a registered agent, unknown agent.
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{
		Tasks: []*schedulerpb.Call_Reconcile_Task{
			{TaskId: &mesospb.TaskID{Value: proto.String("k")}},
			{TaskId: &mesospb.TaskID{Value: proto.String("x")}, AgentId: &mesospb.AgentID{Value: proto.String(agent.id)}},
			{TaskId: &mesospb.TaskID{Value: proto.String("y")}},
		}}})
	check(sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(), "k", mesospb.TaskState_TASK_STAGING)
	check(sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(), "x", mesospb.TaskState_TASK_GONE)
	check(sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(), "y", mesospb.TaskState_TASK_UNKNOWN)

	// KILL of an unknown task answers through reconciliation; a known one goes to the agent.
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_KILL.Enum(), Kill: &schedulerpb.Call_Kill{TaskId: &mesospb.TaskID{Value: proto.String("z")}}})
	check(sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(), "z", mesospb.TaskState_TASK_UNKNOWN)
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_KILL.Enum(), Kill: &schedulerpb.Call_Kill{TaskId: &mesospb.TaskID{Value: proto.String("k")}}})
	kill := agent.next(agentapipb.Event_KILL_TASK).GetKillTask()
	if kill.GetTaskId().GetValue() != "k" || kill.GetFrameworkId().GetValue() != sched.id {
		t.Fatalf("kill %v", kill)
	}
}

func TestFailoverTimeoutTeardown(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:1;mem:512")
	info := fwInfo("fo")
	info.FailoverTimeout = proto.Float64(0.2)
	sched := h.subscribe(info, codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	sched.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.Id},
			Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{
					TaskInfos: []*mesospb.TaskInfo{{Name: proto.String("k"), TaskId: &mesospb.TaskID{Value: proto.String("k")},
						AgentId: o.AgentId, Command: &mesospb.CommandInfo{Value: proto.String("true")}, Resources: cpuMem(0.5, 64)}}}}},
		},
	})
	agent.next(agentapipb.Event_RUN_TASK)

	// Re-subscribe on a new connection: the old stream gets ERROR and ends.
	info.Id = &mesospb.FrameworkID{Value: proto.String(sched.id)}
	sched2 := h.subscribe(info, codec.JSON)
	if sched2.id != sched.id {
		t.Fatalf("resubscribed as %s", sched2.id)
	}
	if fi := agent.next(agentapipb.Event_UPDATE_FRAMEWORK).GetUpdateFramework().GetFrameworkInfo(); fi.GetId().GetValue() != sched.id {
		t.Fatalf("UPDATE_FRAMEWORK %v", fi)
	}
	evs := sched.waitClosed()
	if n := len(evs); n == 0 || evs[n-1].GetType() != schedulerpb.Event_ERROR || evs[n-1].GetError().GetMessage() != "Framework failed over" {
		t.Fatalf("old stream events: %v", evs)
	}
	// The task survived.
	sched2.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{}})
	if st := sched2.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetTaskId().GetValue() != "k" {
		t.Fatalf("reconcile after failover: %v", st)
	}

	// Disconnect: after failover_timeout the framework is removed.
	sched2.resp.Body.Close()
	sd := agent.next(agentapipb.Event_SHUTDOWN_FRAMEWORK).GetShutdownFramework()
	if sd.GetFrameworkId().GetValue() != sched.id {
		t.Fatalf("shutdown %v", sd)
	}
	st := h.getJSON("/master/frameworks")
	if len(st["frameworks"].([]any)) != 0 || len(st["completed_frameworks"].([]any)) != 1 {
		t.Fatalf("frameworks after teardown: %v", st)
	}
	done := st["completed_frameworks"].([]any)[0].(map[string]any)["completed_tasks"].([]any)
	if len(done) != 1 || done[0].(map[string]any)["state"] != "TASK_KILLED" {
		t.Fatalf("completed tasks %v", done)
	}

	// Resubscribing a removed framework is refused.
	s3 := h.subscribeRaw(info, codec.JSON)
	evs = s3.waitClosed()
	if len(evs) != 1 || evs[0].GetError().GetMessage() != "Framework has been removed" {
		t.Fatalf("resubscribe removed: %v", evs)
	}
}

func TestTeardown(t *testing.T) {
	h := startMaster(t, nil)
	sched := h.subscribe(fwInfo("td"), codec.JSON)
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()})
	sched.waitClosed()
	code, _ := sched.call(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()})
	if code != 400 {
		t.Fatalf("call after teardown: %d", code)
	}
}

func TestAgentRemovalAfterMissedPings(t *testing.T) {
	h := startMaster(t, func(c *Config) {
		// Long enough for the launch below to get through on a loaded
		// machine before the agent, which stops answering, is removed.
		c.AgentPingTimeout = 150 * time.Millisecond
		c.MaxAgentPingTimeouts = 3
	})
	agent := h.registerAgent("cpus:1;mem:512")
	sched := h.subscribe(fwInfo("pings", mesospb.FrameworkInfo_Capability_PARTITION_AWARE), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	sched.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.Id},
			Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{
					TaskInfos: []*mesospb.TaskInfo{{Name: proto.String("k"), TaskId: &mesospb.TaskID{Value: proto.String("k")},
						AgentId: o.AgentId, Command: &mesospb.CommandInfo{Value: proto.String("true")}, Resources: cpuMem(0.5, 64)}}}}},
		},
	})
	agent.next(agentapipb.Event_RUN_TASK) // answers pings until the task is there
	agent.autoPong = false
	var gotUpdate, gotFailure bool
	timeout := time.After(5 * time.Second)
	for !gotUpdate || !gotFailure {
		select {
		case ev := <-sched.events:
			switch ev.GetType() {
			case schedulerpb.Event_UPDATE:
				st := ev.GetUpdate().GetStatus()
				if st.GetState() != mesospb.TaskState_TASK_UNREACHABLE || st.UnreachableTime == nil {
					t.Fatalf("update %v", st)
				}
				gotUpdate = true
			case schedulerpb.Event_FAILURE:
				if ev.GetFailure().GetAgentId().GetValue() != agent.id {
					t.Fatalf("failure %v", ev)
				}
				gotFailure = true
			}
		case <-timeout:
			t.Fatal("agent not removed")
		}
	}
	// Reconciliation of an unknown task on the unreachable agent.
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{
		Tasks: []*schedulerpb.Call_Reconcile_Task{{TaskId: &mesospb.TaskID{Value: proto.String("x")}, AgentId: &mesospb.AgentID{Value: proto.String(agent.id)}}}}})
	if st := sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_UNREACHABLE {
		t.Fatalf("reconcile on unreachable agent: %v", st)
	}
	m := h.getJSON("/metrics/snapshot")
	if m["master/slaves_unreachable"] != 1.0 {
		t.Errorf("slaves_unreachable = %v", m["master/slaves_unreachable"])
	}
}

func TestAgentCallsAndMessages(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:1;mem:512")
	sched := h.subscribe(fwInfo("msgs"), codec.Protobuf)
	sched.next(schedulerpb.Event_OFFERS)

	// Stream ID rules on agent calls.
	c := &agentapipb.Call{Type: agentapipb.Call_PONG.Enum(), AgentId: &mesospb.AgentID{Value: proto.String(agent.id)}}
	body, _ := proto.Marshal(c)
	for _, tc := range []struct {
		sid  string
		aid  string
		want int
	}{{"", agent.id, 400}, {"bogus", agent.id, 400}, {agent.streamID, "unknown", 403}, {agent.streamID, agent.id, 202}} {
		c.AgentId.Value = proto.String(tc.aid)
		body, _ = proto.Marshal(c)
		req, _ := http.NewRequest("POST", h.url("/master/internal/agent"), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		if tc.sid != "" {
			req.Header.Set("Mesos-Stream-Id", tc.sid)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("stream %q agent %q: %d want %d", tc.sid, tc.aid, resp.StatusCode, tc.want)
		}
	}

	agent.mustCall(&agentapipb.Call{Type: agentapipb.Call_EXECUTOR_MESSAGE.Enum(), ExecutorMessage: &agentapipb.Call_ExecutorMessage{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)}, ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")}, Data: []byte("hi")}})
	if msg := sched.next(schedulerpb.Event_MESSAGE).GetMessage(); string(msg.GetData()) != "hi" || msg.GetAgentId().GetValue() != agent.id {
		t.Fatalf("message %v", msg)
	}
	agent.mustCall(&agentapipb.Call{Type: agentapipb.Call_EXECUTOR_EXITED.Enum(), ExecutorExited: &agentapipb.Call_ExecutorExited{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)}, ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")}, Status: proto.Int32(256)}})
	// "e" is unknown to the master: no FAILURE (next would fail on it).
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_MESSAGE.Enum(), Message: &schedulerpb.Call_Message{
		AgentId: &mesospb.AgentID{Value: proto.String(agent.id)}, ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")}, Data: []byte("yo")}})
	if fm := agent.next(agentapipb.Event_FRAMEWORK_MESSAGE).GetFrameworkMessage(); string(fm.GetData()) != "yo" {
		t.Fatalf("framework message %v", fm)
	}
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_SHUTDOWN.Enum(), Shutdown: &schedulerpb.Call_Shutdown{
		AgentId: &mesospb.AgentID{Value: proto.String(agent.id)}, ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")}}})
	agent.next(agentapipb.Event_SHUTDOWN_EXECUTOR)
}

func TestReregisterRebuildsState(t *testing.T) {
	h := startMaster(t, nil)
	fid := "old-master-0000"
	call := &agentapipb.Call{
		Type: agentapipb.Call_REREGISTER.Enum(),
		Reregister: &agentapipb.Call_Reregister{
			AgentInfo: &mesospb.AgentInfo{Hostname: proto.String("h"), Id: &mesospb.AgentID{Value: proto.String("old-master-S3")},
				Resources: cpuMem(2, 1024)},
			Pid:        proto.String("slave(1)@127.0.0.1:5051"),
			Frameworks: []*mesospb.FrameworkInfo{{User: proto.String("u"), Name: proto.String("fw"), Id: &mesospb.FrameworkID{Value: proto.String(fid)}}},
			Tasks: []*mesospb.Task{{Name: proto.String("t"), TaskId: &mesospb.TaskID{Value: proto.String("t")},
				FrameworkId: &mesospb.FrameworkID{Value: proto.String(fid)}, AgentId: &mesospb.AgentID{Value: proto.String("old-master-S3")},
				State: mesospb.TaskState_TASK_RUNNING.Enum(), Resources: cpuMem(1, 128)}},
		},
	}
	for _, r := range call.Reregister.Tasks[0].Resources {
		r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("*")}
	}
	a := h.openAgent(call)
	if ev := a.next(agentapipb.Event_REREGISTERED); ev.GetRegistered().GetAgentId().GetValue() != "old-master-S3" {
		t.Fatalf("reregistered %v", ev)
	}
	fws := h.getJSON("/frameworks")["frameworks"].([]any)
	if len(fws) != 1 || fws[0].(map[string]any)["recovered"] != true || fws[0].(map[string]any)["active"] != false {
		t.Fatalf("recovered frameworks %v", fws)
	}
	// The scheduler resubscribes with its old ID and sees its task.
	info := fwInfo("fw")
	info.User = proto.String("u")
	info.Id = &mesospb.FrameworkID{Value: proto.String(fid)}
	s := h.subscribe(info, codec.JSON)
	s.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{}})
	var st *mesospb.TaskStatus
	for st == nil {
		ev := <-s.events
		if ev.GetType() == schedulerpb.Event_UPDATE {
			st = ev.GetUpdate().GetStatus()
		}
	}
	if st.GetTaskId().GetValue() != "t" || st.GetState() != mesospb.TaskState_TASK_RUNNING {
		t.Fatalf("reconcile %v", st)
	}
}

func TestReadEndpoints(t *testing.T) {
	h := startMaster(t, nil)
	h.registerAgent("cpus:1;mem:512")
	resp, err := http.Get(h.url("/health"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/health: %v %v", resp, err)
	}
	resp.Body.Close()
	if v := h.getJSON("/version"); v["version"] != "1.11.0" {
		t.Errorf("/version %v", v)
	}
	st := h.getJSON("/state.json")
	for _, k := range []string{"id", "pid", "hostname", "leader", "leader_info", "flags", "slaves", "frameworks",
		"completed_frameworks", "activated_slaves", "start_time", "version"} {
		if _, ok := st[k]; !ok {
			t.Errorf("/state lacks %q", k)
		}
	}
	if !strings.HasPrefix(st["pid"].(string), "master@127.0.0.1:") || st["leader"] != st["pid"] {
		t.Errorf("pid %v leader %v", st["pid"], st["leader"])
	}
	slave := st["slaves"].([]any)[0].(map[string]any)
	if slave["pid"] != "slave(1)@127.0.0.1:5051" || slave["resources"].(map[string]any)["cpus"] != 1.0 {
		t.Errorf("slave %v", slave)
	}
	if f := h.getJSON("/flags")["flags"].(map[string]any); f["port"] != "5050" {
		t.Errorf("flags %v", f)
	}
	if s := h.getJSON("/master/slaves")["slaves"].([]any); len(s) != 1 {
		t.Errorf("slaves %v", s)
	}
	h.getJSON("/master/tasks")
	h.getJSON("/master/state-summary")
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = cl.Get(h.url("/master/redirect"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 307 || resp.Header.Get("Location") != "//"+h.addr {
		t.Errorf("redirect %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if m := h.getJSON("/metrics/snapshot"); m["master/elected"] != 1.0 || m["master/cpus_total"] != 1.0 {
		t.Errorf("metrics %v", m)
	}
}

func TestHeartbeatAndOfferTimeout(t *testing.T) {
	h := startMaster(t, func(c *Config) {
		c.HeartbeatInterval = 30 * time.Millisecond
		c.OfferTimeout = 50 * time.Millisecond
	})
	h.registerAgent("cpus:1;mem:512")
	sched := h.subscribeRaw(fwInfo("hb"), codec.JSON)
	first := <-sched.events
	if first.GetType() != schedulerpb.Event_SUBSCRIBED || first.GetSubscribed().GetHeartbeatIntervalSeconds() != 0.03 ||
		first.GetSubscribed().GetMasterInfo().GetVersion() != "1.11.0" {
		t.Fatalf("first event %v", first)
	}
	mi := first.GetSubscribed().GetMasterInfo()
	if mi.GetIp() != 16777343 || !strings.HasPrefix(mi.GetPid(), "master@127.0.0.1:") || len(mi.GetCapabilities()) != 3 {
		t.Errorf("master_info %v", mi)
	}
	var heartbeats, rescinds int
	var offerID string
	timeout := time.After(5 * time.Second)
	for heartbeats < 3 || rescinds < 1 {
		select {
		case ev := <-sched.events:
			switch ev.GetType() {
			case schedulerpb.Event_HEARTBEAT:
				heartbeats++
			case schedulerpb.Event_OFFERS:
				if offerID == "" {
					offerID = ev.GetOffers().GetOffers()[0].GetId().GetValue()
				}
			case schedulerpb.Event_RESCIND:
				if ev.GetRescind().GetOfferId().GetValue() == offerID {
					rescinds++
				}
			}
		case <-timeout:
			t.Fatalf("heartbeats %d rescinds %d", heartbeats, rescinds)
		}
	}
}

func TestLaunchGroup(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:2;mem:1024;disk:1000")
	sched := h.subscribe(fwInfo("group"), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	disk := &mesospb.Resource{Name: proto.String("disk"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(10)}}
	exec := &mesospb.ExecutorInfo{
		ExecutorId:  &mesospb.ExecutorID{Value: proto.String("default")},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)},
		Type:        mesospb.ExecutorInfo_DEFAULT.Enum(),
		Resources:   append(cpuMem(0.1, 32), disk),
	}
	task := func(id string) *mesospb.TaskInfo {
		return &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
			AgentId: o.AgentId, Resources: cpuMem(0.5, 64), Command: &mesospb.CommandInfo{Value: proto.String("true")}}
	}
	sched.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.Id},
			Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(),
				LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
					Executor:  exec,
					TaskGroup: &mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{task("g1"), task("g2")}},
				},
			}},
		},
	})
	rg := agent.next(agentapipb.Event_RUN_TASK_GROUP).GetRunTaskGroup()
	if len(rg.GetTaskGroup().GetTasks()) != 2 || rg.GetExecutor().GetExecutorId().GetValue() != "default" {
		t.Fatalf("RUN_TASK_GROUP %v", rg)
	}
	fw := h.getJSON("/state")["frameworks"].([]any)[0].(map[string]any)
	if len(fw["tasks"].([]any)) != 2 || len(fw["executors"].([]any)) != 1 {
		t.Fatalf("state after group launch: tasks %v executors %v", fw["tasks"], fw["executors"])
	}
}
