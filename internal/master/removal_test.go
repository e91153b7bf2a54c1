package master

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
)

// Tests of agent and framework removal, following Mesos's master.cpp
// (exitedExecutor, exited(UPID), _removeSlave, __removeSlave,
// _reregisterSlave, removeFramework).

func simpleTask(id string, agentID *mesospb.AgentID) *mesospb.TaskInfo {
	return &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
		AgentId: agentID, Command: &mesospb.CommandInfo{Value: proto.String("true")}, Resources: cpuMem(0.5, 64)}
}

// launchOn accepts offer o with one LAUNCH of tasks (refuse 0 so the rest
// is offered again) and waits for the agent's RUN_TASKs.
func launchOn(t *testing.T, sched *scheduler, agent *testAgent, o *mesospb.Offer, tasks ...*mesospb.TaskInfo) {
	t.Helper()
	sched.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.Id},
			Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(), Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks}}},
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
		},
	})
	for range tasks {
		agent.next(agentapipb.Event_RUN_TASK)
	}
}

// nextNonHeartbeat returns the next event other than a HEARTBEAT.
func (s *scheduler) nextAny() *schedulerpb.Event {
	s.h.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.h.t.Fatal("stream closed")
			}
			if ev.GetType() != schedulerpb.Event_HEARTBEAT {
				return ev
			}
		case <-timeout:
			s.h.t.Fatal("timed out waiting for an event")
		}
	}
}

// waitEvent returns the next event of type typ, skipping all others.
func (s *scheduler) waitEvent(typ schedulerpb.Event_Type) *schedulerpb.Event {
	s.h.t.Helper()
	for {
		if ev := s.nextAny(); ev.GetType() == typ {
			return ev
		}
	}
}

func frameworkState(t *testing.T, h *harness, id string) map[string]any {
	t.Helper()
	st := h.getJSON("/state")
	for _, key := range []string{"frameworks", "completed_frameworks"} {
		for _, f := range st[key].([]any) {
			if f := f.(map[string]any); f["id"] == id {
				return f
			}
		}
	}
	t.Fatalf("framework %s not in /state", id)
	return nil
}

func taskIDs(list any) []string {
	var out []string
	for _, x := range list.([]any) {
		out = append(out, x.(map[string]any)["id"].(string))
	}
	sort.Strings(out)
	return out
}

func TestExecutorExited(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(fwInfo("exec"), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	task := simpleTask("t", o.AgentId)
	task.Command = nil
	task.Executor = &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("custom")},
		Command: &mesospb.CommandInfo{Value: proto.String("exec")}, Resources: cpuMem(0.1, 32)}
	launchOn(t, sched, agent, o, task)
	sched.next(schedulerpb.Event_OFFERS)

	exited := func(eid string) {
		agent.mustCall(&agentapipb.Call{Type: agentapipb.Call_EXECUTOR_EXITED.Enum(), ExecutorExited: &agentapipb.Call_ExecutorExited{
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)}, ExecutorId: &mesospb.ExecutorID{Value: proto.String(eid)}}})
	}
	// A command executor (unknown to the master) exiting is ignored ...
	exited("t")
	// ... a known one yields a FAILURE whose status is always set.
	exited("custom")
	ev := sched.nextAny()
	f := ev.GetFailure()
	if ev.GetType() != schedulerpb.Event_FAILURE || f.GetExecutorId().GetValue() != "custom" || f.Status == nil || f.GetStatus() != 0 {
		t.Fatalf("want FAILURE for executor custom with status 0, got %v", ev)
	}
	if execs := frameworkState(t, h, sched.id)["executors"].([]any); len(execs) != 0 {
		t.Errorf("executor still listed: %v", execs)
	}
}

func TestAgentDisconnectRemovesNonCheckpointingFrameworks(t *testing.T) {
	for _, checkpoint := range []bool{false, true} {
		t.Run(map[bool]string{false: "no checkpoint", true: "checkpoint"}[checkpoint], func(t *testing.T) {
			h := startMaster(t, nil)
			agent := h.registerAgent("cpus:2;mem:1024")
			info := fwInfo("disc", mesospb.FrameworkInfo_Capability_PARTITION_AWARE)
			info.Checkpoint = proto.Bool(checkpoint)
			sched := h.subscribe(info, codec.JSON)
			o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
			launchOn(t, sched, agent, o, simpleTask("t", o.AgentId))
			sched.next(schedulerpb.Event_OFFERS)
			agent.resp.Body.Close()

			if rescind := sched.nextAny(); rescind.GetType() != schedulerpb.Event_RESCIND {
				t.Fatalf("want RESCIND, got %v", rescind)
			}
			if checkpoint {
				waitFor(t, func() bool {
					var connected bool
					_ = h.m.do(t.Context(), func() { connected = h.m.st.agents[agent.id].connected() })
					return !connected
				})
				fw := frameworkState(t, h, sched.id)
				if got := taskIDs(fw["tasks"]); !slices.Equal(got, []string{"t"}) {
					t.Fatalf("checkpointing framework lost its task: %v", got)
				}
				return
			}
			ev := sched.nextAny()
			st := ev.GetUpdate().GetStatus()
			if st.GetState() != mesospb.TaskState_TASK_LOST || st.GetReason() != mesospb.TaskStatus_REASON_AGENT_DISCONNECTED ||
				st.GetMessage() != "Agent agent-host disconnected" || st.GetSource() != mesospb.TaskStatus_SOURCE_MASTER {
				t.Fatalf("want TASK_LOST/REASON_AGENT_DISCONNECTED, got %v", ev)
			}
			fw := frameworkState(t, h, sched.id)
			if len(fw["tasks"].([]any)) != 0 || !slices.Equal(taskIDs(fw["completed_tasks"]), []string{"t"}) {
				t.Fatalf("tasks %v completed %v", fw["tasks"], fw["completed_tasks"])
			}
			// The agent itself stays registered (deactivated by the
			// disconnection, which is not an operator deactivation).
			slave := h.getJSON("/state")["slaves"].([]any)[0].(map[string]any)
			if slave["active"] != false || slave["deactivated"] != false {
				t.Errorf("slave active %v deactivated %v", slave["active"], slave["deactivated"])
			}
		})
	}
}

func TestAgentUnregisterRemovesTasksInOrder(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(fwInfo("unreg", mesospb.FrameworkInfo_Capability_PARTITION_AWARE), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("done", o.AgentId), simpleTask("run", o.AgentId))
	sched.next(schedulerpb.Event_OFFERS) // outstanding at removal
	// "done" finishes but is not acknowledged: still known to the master.
	agent.statusUpdate(sched.id, "done", mesospb.TaskState_TASK_FINISHED, bytes.Repeat([]byte{0x41}, 16))
	sched.next(schedulerpb.Event_UPDATE)

	agent.mustCall(&agentapipb.Call{Type: agentapipb.Call_UNREGISTER.Enum()})
	var got []string
	for len(got) == 0 || got[len(got)-1] != "FAILURE" {
		ev := sched.nextAny()
		switch ev.GetType() {
		case schedulerpb.Event_OFFERS:
			continue
		case schedulerpb.Event_RESCIND:
			if got[len(got)-1] == "RESCIND" {
				continue // one per outstanding offer
			}
			got = append(got, "RESCIND")
		case schedulerpb.Event_UPDATE:
			st := ev.GetUpdate().GetStatus()
			if st.GetState() != mesospb.TaskState_TASK_LOST || st.GetReason() != mesospb.TaskStatus_REASON_AGENT_REMOVED ||
				st.GetMessage() != "Agent agent-host removed: the agent unregistered" {
				t.Fatalf("update %v", st)
			}
			got = append(got, "UPDATE "+st.GetTaskId().GetValue())
		default:
			got = append(got, ev.GetType().String())
		}
	}
	want := []string{"UPDATE done", "UPDATE run", "RESCIND", "FAILURE"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	fw := frameworkState(t, h, sched.id)
	if !slices.Equal(taskIDs(fw["completed_tasks"]), []string{"done", "run"}) || len(fw["unreachable_tasks"].([]any)) != 0 {
		t.Fatalf("completed %v unreachable %v", fw["completed_tasks"], fw["unreachable_tasks"])
	}
}

// startPingMaster starts a master that marks agents unreachable after 3
// missed 20ms pings.
func startPingMaster(t *testing.T) *harness {
	return startMaster(t, func(c *Config) {
		// 10 × 100 ms: the tests answer pings until their task is launched
		// (a loaded machine — CI runs the e2e suite beside this one — may
		// miss a few pongs on the way there), then stop.
		c.AgentPingTimeout = 100 * time.Millisecond
		c.MaxAgentPingTimeouts = 10
	})
}

func TestUnreachableAgentNonPartitionAware(t *testing.T) {
	h := startPingMaster(t)
	agent := h.registerAgent("cpus:1;mem:512")
	info := fwInfo("lost")
	info.Checkpoint = proto.Bool(true)
	sched := h.subscribe(info, codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("t", o.AgentId))
	agent.autoPong = false
	var st *mesospb.TaskStatus
	for st == nil {
		if ev := sched.nextAny(); ev.GetType() == schedulerpb.Event_UPDATE {
			st = ev.GetUpdate().GetStatus()
		}
	}
	if st.GetState() != mesospb.TaskState_TASK_LOST || st.GetReason() != mesospb.TaskStatus_REASON_AGENT_REMOVED ||
		st.GetMessage() != "health check timed out" || st.UnreachableTime == nil {
		t.Fatalf("update %v", st)
	}
	fw := frameworkState(t, h, sched.id)
	if !slices.Equal(taskIDs(fw["unreachable_tasks"]), []string{"t"}) || len(fw["completed_tasks"].([]any)) != 0 {
		t.Fatalf("unreachable %v completed %v", fw["unreachable_tasks"], fw["completed_tasks"])
	}
}

// reregisterCall builds the REREGISTER of a test agent reporting tasks.
func reregisterCall(agentID string, fi *mesospb.FrameworkInfo, tasks ...*mesospb.Task) *agentapipb.Call {
	return &agentapipb.Call{
		Type: agentapipb.Call_REREGISTER.Enum(),
		Reregister: &agentapipb.Call_Reregister{
			AgentInfo: &mesospb.AgentInfo{Hostname: proto.String("agent-host"), Id: &mesospb.AgentID{Value: proto.String(agentID)},
				Resources: cpuMem(1, 512), Port: proto.Int32(5051)},
			Pid:        proto.String("slave(1)@127.0.0.1:5051"),
			Version:    proto.String("1.11.0"),
			Frameworks: []*mesospb.FrameworkInfo{fi},
			Tasks:      tasks,
		},
	}
}

func TestUnreachableAgentReregisters(t *testing.T) {
	h := startPingMaster(t)
	agent := h.registerAgent("cpus:1;mem:512")
	// Not partition-aware: it is told anyway (Mesos forwards the update
	// to every connected framework).
	info := fwInfo("back")
	info.Checkpoint = proto.Bool(true)
	sched := h.subscribe(info, codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("t", o.AgentId))
	agent.autoPong = false
	cs := &mesospb.ContainerStatus{ContainerId: &mesospb.ContainerID{Value: proto.String("c1")}}
	agent.mustCall(&agentapipb.Call{Type: agentapipb.Call_STATUS_UPDATE.Enum(), StatusUpdate: &agentapipb.Call_StatusUpdate{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)},
		Status: &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: mesospb.TaskState_TASK_STARTING.Enum(),
			ContainerStatus: cs, Uuid: bytes.Repeat([]byte{0x42}, 16)}}})
	sched.waitEvent(schedulerpb.Event_UPDATE)
	waitFor(t, func() bool {
		var gone bool
		_ = h.m.do(t.Context(), func() { gone = h.m.st.agents[agent.id] == nil })
		return gone
	})

	running := &mesospb.Task{Name: proto.String("t"), TaskId: &mesospb.TaskID{Value: proto.String("t")},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)}, AgentId: o.AgentId,
		State: mesospb.TaskState_TASK_RUNNING.Enum(), Resources: cpuMem(0.5, 64),
		Statuses: []*mesospb.TaskStatus{
			{TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: mesospb.TaskState_TASK_STARTING.Enum(), ContainerStatus: cs},
			{TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: mesospb.TaskState_TASK_RUNNING.Enum(), Healthy: proto.Bool(true)},
		}}
	info.Id = &mesospb.FrameworkID{Value: proto.String(sched.id)}
	a2 := h.openAgent(reregisterCall(agent.id, info, running))
	a2.next(agentapipb.Event_REREGISTERED)
	var st *mesospb.TaskStatus
	for st == nil {
		if ev := sched.nextAny(); ev.GetType() == schedulerpb.Event_UPDATE &&
			ev.GetUpdate().GetStatus().GetReason() == mesospb.TaskStatus_REASON_AGENT_REREGISTERED {
			st = ev.GetUpdate().GetStatus()
		}
	}
	if st.GetState() != mesospb.TaskState_TASK_RUNNING || st.GetMessage() != "Unreachable agent re-reregistered" ||
		!st.GetHealthy() || st.GetContainerStatus().GetContainerId().GetValue() != "c1" {
		t.Fatalf("re-registration update %v", st)
	}
	fw := frameworkState(t, h, sched.id)
	if !slices.Equal(taskIDs(fw["tasks"]), []string{"t"}) || len(fw["unreachable_tasks"].([]any)) != 0 ||
		len(fw["completed_tasks"].([]any)) != 0 {
		t.Fatalf("tasks %v unreachable %v completed %v", fw["tasks"], fw["unreachable_tasks"], fw["completed_tasks"])
	}
}

func TestRemoveFrameworkKillsUnreachableTasks(t *testing.T) {
	h := startPingMaster(t)
	agent := h.registerAgent("cpus:1;mem:512")
	sched := h.subscribe(fwInfo("gone", mesospb.FrameworkInfo_Capability_PARTITION_AWARE), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("t", o.AgentId))
	agent.autoPong = false
	sched.waitEvent(schedulerpb.Event_FAILURE)
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()})
	sched.waitClosed()
	fw := frameworkState(t, h, sched.id)
	done := fw["completed_tasks"].([]any)
	if len(done) != 1 || len(fw["unreachable_tasks"].([]any)) != 0 {
		t.Fatalf("completed %v unreachable %v", done, fw["unreachable_tasks"])
	}
	if task := done[0].(map[string]any); task["state"] != "TASK_KILLED" {
		t.Fatalf("task %v", task)
	}
	if fw["unregistered_time"].(float64) == 0 {
		t.Errorf("unregistered_time not set on removal")
	}
}

// clock is a settable time source for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func TestFrameworkTimes(t *testing.T) {
	clk := &clock{now: time.Unix(1000, 0)}
	h := startMaster(t, func(c *Config) { c.Now = clk.Now })

	// Disconnected (within failover_timeout): unregistered_time stays 0.
	info := fwInfo("times")
	info.FailoverTimeout = proto.Float64(3600)
	sched := h.subscribe(info, codec.JSON)
	sched.resp.Body.Close()
	waitFor(t, func() bool {
		var connected bool
		_ = h.m.do(t.Context(), func() { connected = h.m.st.frameworks[sched.id].connected() })
		return !connected
	})
	if fw := frameworkState(t, h, sched.id); fw["unregistered_time"] != 0.0 {
		t.Errorf("unregistered_time of a disconnected framework = %v", fw["unregistered_time"])
	}

	// A framework recovered from an agent, then subscribing: both times are
	// the subscription time, so reregistered_time is not written.
	fid := "old-0001"
	rec := fwInfo("rec")
	rec.Id = &mesospb.FrameworkID{Value: proto.String(fid)}
	a := h.openAgent(reregisterCall("old-S1", rec))
	a.next(agentapipb.Event_REREGISTERED)
	clk.set(time.Unix(2000, 0))
	h.subscribe(rec, codec.JSON)
	fw := frameworkState(t, h, fid)
	if fw["registered_time"] != 2000.0 {
		t.Errorf("registered_time %v, want 2000", fw["registered_time"])
	}
	if _, ok := fw["reregistered_time"]; ok {
		t.Errorf("reregistered_time written: %v", fw["reregistered_time"])
	}
}

func TestReconcileContainerStatus(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:1;mem:512")
	sched := h.subscribe(fwInfo("rc"), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("t", o.AgentId))
	sched.next(schedulerpb.Event_OFFERS)
	send := func(state mesospb.TaskState, cs *mesospb.ContainerStatus, b byte) {
		agent.mustCall(&agentapipb.Call{Type: agentapipb.Call_STATUS_UPDATE.Enum(), StatusUpdate: &agentapipb.Call_StatusUpdate{
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)},
			Status: &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: state.Enum(),
				ContainerStatus: cs, Uuid: bytes.Repeat([]byte{b}, 16)}}})
		sched.next(schedulerpb.Event_UPDATE)
	}
	send(mesospb.TaskState_TASK_STARTING, &mesospb.ContainerStatus{
		ContainerId:  &mesospb.ContainerID{Value: proto.String("c1")},
		ExecutorPid:  proto.Uint32(42),
		NetworkInfos: []*mesospb.NetworkInfo{{Labels: &mesospb.Labels{Labels: []*mesospb.Label{{Key: proto.String("k"), Value: proto.String("v")}}}}},
	}, 0x41)
	send(mesospb.TaskState_TASK_RUNNING, nil, 0x42)
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{}})
	st := sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
	if st.GetState() != mesospb.TaskState_TASK_RUNNING || st.GetContainerStatus().GetContainerId().GetValue() != "c1" {
		t.Fatalf("reconciliation %v", st)
	}

	// /state writes container_status with Mesos's writer.
	task := frameworkState(t, h, sched.id)["tasks"].([]any)[0].(map[string]any)
	cs := task["statuses"].([]any)[0].(map[string]any)["container_status"].(map[string]any)
	if _, ok := cs["executor_pid"]; ok {
		t.Errorf("container_status has executor_pid: %v", cs)
	}
	labels := cs["network_infos"].([]any)[0].(map[string]any)["labels"]
	if l, ok := labels.([]any); !ok || len(l) != 1 || l[0].(map[string]any)["key"] != "k" {
		t.Errorf("network_infos labels %v, want a plain array", labels)
	}
}

func TestStateShapes(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(fwInfo("shapes"), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	task := simpleTask("t", o.AgentId)
	task.Command = nil
	task.Executor = &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")},
		Command: &mesospb.CommandInfo{Value: proto.String("exec")}, Resources: cpuMem(0.1, 32)}
	launchOn(t, sched, agent, o, task, simpleTask("done", o.AgentId))
	sched.next(schedulerpb.Event_OFFERS)
	agent.statusUpdate(sched.id, "done", mesospb.TaskState_TASK_FINISHED, bytes.Repeat([]byte{0x41}, 16))
	up := sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE.Enum(), Acknowledge: &schedulerpb.Call_Acknowledge{
		AgentId: up.AgentId, TaskId: up.TaskId, Uuid: up.Uuid}})
	agent.next(agentapipb.Event_ACKNOWLEDGE_UPDATE)

	st := h.getJSON("/state")
	if _, ok := st["meso_version"]; ok {
		t.Errorf("/state has meso_version")
	}
	if _, ok := h.getJSON("/version")["meso_version"]; !ok {
		t.Errorf("/version lacks meso_version")
	}
	li := st["leader_info"].(map[string]any)
	if got := sortedKeys(li); !slices.Equal(got, []string{"hostname", "id", "pid", "port"}) {
		t.Errorf("leader_info keys %v", got)
	}
	fw := st["frameworks"].([]any)[0].(map[string]any)
	ex := fw["executors"].([]any)[0].(map[string]any)
	cmd := ex["command"].(map[string]any)
	if _, ok := cmd["argv"].([]any); !ok || cmd["uris"] == nil || ex["role"] != "*" {
		t.Errorf("executor %v", ex)
	}

	sum := h.getJSON("/state-summary")
	sf := sum["frameworks"].([]any)[0].(map[string]any)
	want := []string{"TASK_ERROR", "TASK_FAILED", "TASK_FINISHED", "TASK_KILLED", "TASK_KILLING", "TASK_LOST",
		"TASK_RUNNING", "TASK_STAGING", "TASK_STARTING", "TASK_UNREACHABLE", "active", "capabilities", "connected",
		"hostname", "id", "name", "offered_resources", "recovered", "slave_ids", "used_resources", "webui_url"}
	if got := sortedKeys(sf); !slices.Equal(got, want) {
		t.Errorf("state-summary framework keys\n got %v\nwant %v", got, want)
	}
	if sf["TASK_FINISHED"] != 1.0 || sf["TASK_STAGING"] != 1.0 {
		t.Errorf("framework counts finished %v staging %v", sf["TASK_FINISHED"], sf["TASK_STAGING"])
	}
	ss := sum["slaves"].([]any)[0].(map[string]any)
	if ss["TASK_FINISHED"] != 1.0 || len(ss["framework_ids"].([]any)) != 1 {
		t.Errorf("slave summary %v", ss)
	}
}

func TestReconcileOperationsNegotiatesAccept(t *testing.T) {
	h := startMaster(t, nil)
	sched := h.subscribe(fwInfo("ops"), codec.JSON)
	body := `{"type":"RECONCILE_OPERATIONS","framework_id":{"value":"` + sched.id + `"},"reconcile_operations":{}}`
	for _, tc := range []struct {
		accept string
		want   int
	}{{"text/html", http.StatusNotAcceptable}, {"application/json", http.StatusAccepted}} {
		req, _ := http.NewRequest(http.MethodPost, h.url("/api/v1/scheduler"), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", tc.accept)
		req.Header.Set("Mesos-Stream-Id", sched.streamID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Accept %s: %d %s, want %d", tc.accept, resp.StatusCode, b, tc.want)
		}
	}
}

// agentRemovalState reads what the master and the allocator know of the
// agents: the IDs in /state "slaves", those the allocator holds and the
// removal and registration counters of /metrics/snapshot.
type agentRemovalState struct {
	slaves, allocated []string
	metrics           map[string]float64
}

func readAgentRemovalState(t *testing.T, h *harness) agentRemovalState {
	t.Helper()
	var out agentRemovalState
	for _, s := range h.getJSON("/state")["slaves"].([]any) {
		out.slaves = append(out.slaves, s.(map[string]any)["id"].(string))
	}
	sort.Strings(out.slaves)
	h.alloc.mu.Lock()
	out.allocated = sortedKeys(h.alloc.agents)
	h.alloc.mu.Unlock()
	snap := h.getJSON("/metrics/snapshot")
	out.metrics = map[string]float64{}
	for _, k := range []string{"master/slave_registrations", "master/slave_removals",
		"master/slave_removals/reason_registered", "master/slave_removals/reason_unregistered",
		"master/slave_removals/reason_unhealthy", "master/slaves_connected", "master/slaves_disconnected",
		"master/cpus_total"} {
		v, ok := snap[k].(float64)
		if !ok {
			t.Fatalf("/metrics/snapshot has no %s", k)
		}
		out.metrics[k] = v
	}
	return out
}

// waitAgentDisconnected closes a's stream and waits for the master to see
// it gone.
func waitAgentDisconnected(t *testing.T, h *harness, a *testAgent) {
	t.Helper()
	a.resp.Body.Close()
	waitFor(t, func() bool {
		var connected bool
		_ = h.m.do(t.Context(), func() { connected = h.m.st.agents[a.id].connected() })
		return !connected
	})
}

// A REGISTER (not a REREGISTER) from the address of an agent whose stream
// is gone is an agent that restarted without its state, e.g. after its
// host rebooted: the old agent is removed at once, as Mesos's
// Master::_registerSlave does ("a new agent registered at the same
// address"), before the new one is admitted with a new ID, so that the
// host's resources are never counted twice.
func TestRegisterAtSameAddressRemovesDisconnectedAgent(t *testing.T) {
	h := startMaster(t, nil)
	old := h.registerAgent("cpus:2;mem:1024")
	// Partition-aware and checkpointing: the tasks survive the
	// disconnection, and are still TASK_LOST (not TASK_GONE or
	// TASK_UNREACHABLE) when the agent is removed.
	info := fwInfo("reboot", mesospb.FrameworkInfo_Capability_PARTITION_AWARE)
	info.Checkpoint = proto.Bool(true)
	sched := h.subscribe(info, codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, old, o, simpleTask("t", o.AgentId))
	sched.next(schedulerpb.Event_OFFERS)
	old.statusUpdate(sched.id, "t", mesospb.TaskState_TASK_RUNNING, bytes.Repeat([]byte{0x41}, 16))
	sched.waitEvent(schedulerpb.Event_UPDATE)
	waitAgentDisconnected(t, h, old)
	sched.waitEvent(schedulerpb.Event_RESCIND) // the disconnection's

	// An invalid registration from that address removes nothing.
	bad := registerCall(t, "cpus:1;mem:512", 5051)
	bad.Register.AgentInfo.Resources = cpuMem(-1, 512)
	if resp, body := h.post("/master/internal/agent", codec.Protobuf, bad, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("invalid REGISTER: %d %s", resp.StatusCode, body)
	}
	if got := readAgentRemovalState(t, h); !slices.Equal(got.slaves, []string{old.id}) || got.metrics["master/slave_removals"] != 0 {
		t.Fatalf("after an invalid REGISTER: slaves %v, metrics %v", got.slaves, got.metrics)
	}

	// The host comes back with more resources and no agent ID.
	fresh := h.registerAgentAt("cpus:4;mem:2048", 5051)
	if fresh.id == "" || fresh.id == old.id {
		t.Fatalf("new agent registered with ID %q (old %q)", fresh.id, old.id)
	}

	// The framework hears of the old agent's removal, in Mesos's order,
	// before it is offered the new agent.
	var got []string
	var offered string
	for offered == "" {
		ev := sched.nextAny()
		switch ev.GetType() {
		case schedulerpb.Event_UPDATE:
			st := ev.GetUpdate().GetStatus()
			if st.GetState() != mesospb.TaskState_TASK_LOST || st.GetReason() != mesospb.TaskStatus_REASON_AGENT_REMOVED ||
				st.GetSource() != mesospb.TaskStatus_SOURCE_MASTER || st.GetAgentId().GetValue() != old.id ||
				st.GetMessage() != "Agent agent-host removed: a new agent registered at the same address" ||
				st.UnreachableTime != nil {
				t.Fatalf("update %v", st)
			}
			got = append(got, "UPDATE "+st.GetTaskId().GetValue())
		case schedulerpb.Event_FAILURE:
			if id := ev.GetFailure().GetAgentId().GetValue(); id != old.id || ev.GetFailure().ExecutorId != nil {
				t.Fatalf("failure %v", ev)
			}
			got = append(got, "FAILURE")
		case schedulerpb.Event_OFFERS:
			offered = ev.GetOffers().GetOffers()[0].GetAgentId().GetValue()
		default:
			t.Fatalf("unexpected event %v", ev)
		}
	}
	if want := []string{"UPDATE t", "FAILURE"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if offered != fresh.id {
		t.Fatalf("offered agent %s, want the new agent %s", offered, fresh.id)
	}

	st := readAgentRemovalState(t, h)
	want := map[string]float64{
		"master/slave_registrations":                2,
		"master/slave_removals":                     1,
		"master/slave_removals/reason_registered":   1,
		"master/slave_removals/reason_unregistered": 0,
		"master/slave_removals/reason_unhealthy":    0,
		"master/slaves_connected":                   1,
		"master/slaves_disconnected":                0,
		"master/cpus_total":                         4,
	}
	if !slices.Equal(st.slaves, []string{fresh.id}) || !slices.Equal(st.allocated, []string{fresh.id}) ||
		!maps.Equal(st.metrics, want) {
		t.Fatalf("slaves %v, allocator %v, metrics %v; want only %s and metrics %v",
			st.slaves, st.allocated, st.metrics, fresh.id, want)
	}
	// The task is completed, not unreachable: the old agent is removed,
	// not marked unreachable or gone.
	fw := frameworkState(t, h, sched.id)
	if len(fw["tasks"].([]any)) != 0 || !slices.Equal(taskIDs(fw["completed_tasks"]), []string{"t"}) ||
		len(fw["unreachable_tasks"].([]any)) != 0 {
		t.Fatalf("tasks %v completed %v unreachable %v", fw["tasks"], fw["completed_tasks"], fw["unreachable_tasks"])
	}
	if task := fw["completed_tasks"].([]any)[0].(map[string]any); task["state"] != "TASK_LOST" {
		t.Fatalf("completed task %v", task)
	}
	var unreachable, gone bool
	_ = h.m.do(t.Context(), func() {
		unreachable, gone = !h.m.st.unreachable[old.id].IsZero(), !h.m.st.gone[old.id].IsZero()
	})
	if unreachable || gone {
		t.Fatalf("old agent unreachable %v gone %v", unreachable, gone)
	}
}

// A REGISTER from the address of an agent whose stream is still up is
// that agent retrying: Mesos acknowledges it again with its ID and changes
// nothing else. In meso the new stream becomes the agent's stream.
func TestRegisterAtSameAddressConnectedAgentGetsItsID(t *testing.T) {
	h := startMaster(t, nil)
	first := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(fwInfo("retry"), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, first, o, simpleTask("t", o.AgentId))
	sched.next(schedulerpb.Event_OFFERS)

	again := h.registerAgentAt("cpus:4;mem:2048", 5051)
	if again.id != first.id {
		t.Fatalf("registered again as %s, want %s", again.id, first.id)
	}
	// The old stream ends; the new one is the agent's.
	for range first.events {
	}
	if code, _ := first.call(&agentapipb.Call{Type: agentapipb.Call_PONG.Enum()}); code != http.StatusBadRequest {
		t.Fatalf("call on the replaced stream: %d, want 400", code)
	}
	again.statusUpdate(sched.id, "t", mesospb.TaskState_TASK_RUNNING, bytes.Repeat([]byte{0x41}, 16))
	if st := sched.waitEvent(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_RUNNING {
		t.Fatalf("update %v", st)
	}

	st := readAgentRemovalState(t, h)
	want := map[string]float64{
		"master/slave_registrations":                1,
		"master/slave_removals":                     0,
		"master/slave_removals/reason_registered":   0,
		"master/slave_removals/reason_unregistered": 0,
		"master/slave_removals/reason_unhealthy":    0,
		"master/slaves_connected":                   1,
		"master/slaves_disconnected":                0,
		"master/cpus_total":                         2, // the retry's resources are ignored
	}
	if !slices.Equal(st.slaves, []string{first.id}) || !slices.Equal(st.allocated, []string{first.id}) ||
		!maps.Equal(st.metrics, want) {
		t.Fatalf("slaves %v, allocator %v, metrics %v; want only %s and metrics %v",
			st.slaves, st.allocated, st.metrics, first.id, want)
	}
	if fw := frameworkState(t, h, sched.id); !slices.Equal(taskIDs(fw["tasks"]), []string{"t"}) {
		t.Fatalf("tasks %v", fw["tasks"])
	}
}

// An agent registering from another address removes nothing, whether the
// agent already registered is connected or not.
func TestRegisterAtOtherAddressRemovesNothing(t *testing.T) {
	for _, disconnected := range []bool{false, true} {
		t.Run(map[bool]string{false: "connected", true: "disconnected"}[disconnected], func(t *testing.T) {
			h := startMaster(t, nil)
			info := fwInfo("other", mesospb.FrameworkInfo_Capability_PARTITION_AWARE)
			info.Checkpoint = proto.Bool(true)
			first := h.registerAgent("cpus:2;mem:1024")
			sched := h.subscribe(info, codec.JSON)
			o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
			launchOn(t, sched, first, o, simpleTask("t", o.AgentId))
			sched.next(schedulerpb.Event_OFFERS)
			if disconnected {
				waitAgentDisconnected(t, h, first)
			}
			second := h.registerAgent("cpus:4;mem:2048") // slave(1)@127.0.0.1:5052
			if second.id == first.id {
				t.Fatalf("second agent got the first one's ID %s", first.id)
			}
			wantSlaves := []string{first.id, second.id}
			sort.Strings(wantSlaves)
			connected := 2.0
			if disconnected {
				connected = 1
			}
			st := readAgentRemovalState(t, h)
			want := map[string]float64{
				"master/slave_registrations":                2,
				"master/slave_removals":                     0,
				"master/slave_removals/reason_registered":   0,
				"master/slave_removals/reason_unregistered": 0,
				"master/slave_removals/reason_unhealthy":    0,
				"master/slaves_connected":                   connected,
				"master/slaves_disconnected":                2 - connected,
				"master/cpus_total":                         6,
			}
			if !slices.Equal(st.slaves, wantSlaves) || !slices.Equal(st.allocated, wantSlaves) || !maps.Equal(st.metrics, want) {
				t.Fatalf("slaves %v, allocator %v, metrics %v; want %v and metrics %v",
					st.slaves, st.allocated, st.metrics, wantSlaves, want)
			}
			if fw := frameworkState(t, h, sched.id); !slices.Equal(taskIDs(fw["tasks"]), []string{"t"}) {
				t.Fatalf("tasks %v", fw["tasks"])
			}
		})
	}
}
