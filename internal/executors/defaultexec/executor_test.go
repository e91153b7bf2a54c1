package defaultexec

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/executor/executortest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testFramework = "fw-1"
	testExecutor  = "default-ex"
	testContainer = "11111111-aaaa-bbbb-cccc-000000000000"
	waitTimeout   = 20 * time.Second
)

// harness runs Main against a fake agent serving the executor API and a
// fake of the nested container calls that runs real processes.
type harness struct {
	t       *testing.T
	agent   *executortest.Agent
	fc      *fakeContainers
	sandbox string
	stderr  *syncWriter
	buf     *bytes.Buffer
	exit    chan int
}

type harnessOpt struct {
	capabilities      []mesospb.FrameworkInfo_Capability_Type
	noLaunchContainer bool
	args              []string
	env               map[string]string
}

func start(t *testing.T, o harnessOpt) *harness {
	t.Helper()
	sandbox := t.TempDir()
	fc := newFakeContainers(t, sandbox, testContainer)
	fc.noLaunchContainer = o.noLaunchContainer
	fi := &mesospb.FrameworkInfo{
		Id:   &mesospb.FrameworkID{Value: proto.String(testFramework)},
		Name: proto.String("test"), User: proto.String(""),
	}
	for _, c := range o.capabilities {
		fi.Capabilities = append(fi.Capabilities, &mesospb.FrameworkInfo_Capability{Type: c.Enum()})
	}
	agent := executortest.NewAgent(t,
		executortest.WithRoute("/slave(1)/api/v1", fc),
		executortest.WithSubscribed(&executorpb.Event_Subscribed{
			ExecutorInfo: &mesospb.ExecutorInfo{
				ExecutorId: &mesospb.ExecutorID{Value: proto.String(testExecutor)},
				Type:       mesospb.ExecutorInfo_DEFAULT.Enum(),
			},
			FrameworkInfo: fi,
			AgentInfo:     &mesospb.AgentInfo{Hostname: proto.String("localhost")},
			ContainerId:   &mesospb.ContainerID{Value: proto.String(testContainer)},
		}))
	buf := &bytes.Buffer{}
	h := &harness{t: t, agent: agent, fc: fc, sandbox: sandbox, buf: buf, stderr: &syncWriter{w: buf}, exit: make(chan int, 1)}
	env := agent.Env(testFramework, testExecutor, sandbox, o.env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.exit <- Main(ctx, o.args, env, &syncWriter{w: buf}, h.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			h.stderr.mu.Lock()
			t.Logf("executor log:\n%s", buf.String())
			h.stderr.mu.Unlock()
		}
	})
	agent.WaitFor(t, waitTimeout, "SUBSCRIBE", agent.Subscribed)
	return h
}

func task(id, command string) *mesospb.TaskInfo {
	return &mesospb.TaskInfo{
		Name:    proto.String(id),
		TaskId:  &mesospb.TaskID{Value: proto.String(id)},
		AgentId: &mesospb.AgentID{Value: proto.String("agent")},
		Command: &mesospb.CommandInfo{Value: proto.String(command)},
		Resources: []*mesospb.Resource{{
			Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(),
			Scalar:         &mesospb.Value_Scalar{Value: proto.Float64(0.1)},
			AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("web")},
		}},
	}
}

func (h *harness) launchGroup(tasks ...*mesospb.TaskInfo) {
	h.t.Helper()
	if err := h.agent.Send(&executorpb.Event{
		Type:        executorpb.Event_LAUNCH_GROUP.Enum(),
		LaunchGroup: &executorpb.Event_LaunchGroup{TaskGroup: &mesospb.TaskGroupInfo{Tasks: tasks}},
	}); err != nil {
		h.t.Fatal(err)
	}
}

// states returns the states the executor reported for taskID, in order.
func (h *harness) states(taskID string) []string {
	var out []string
	for _, st := range h.agent.Updates() {
		if st.GetTaskId().GetValue() == taskID {
			out = append(out, st.GetState().String())
		}
	}
	return out
}

func (h *harness) terminal(taskID string) *mesospb.TaskStatus {
	h.t.Helper()
	var found *mesospb.TaskStatus
	h.agent.WaitFor(h.t, waitTimeout, "a terminal update of "+taskID, func() bool {
		for _, st := range h.agent.Updates() {
			if st.GetTaskId().GetValue() == taskID {
				switch st.GetState() {
				case mesospb.TaskState_TASK_FINISHED, mesospb.TaskState_TASK_FAILED, mesospb.TaskState_TASK_KILLED,
					mesospb.TaskState_TASK_LOST, mesospb.TaskState_TASK_ERROR, mesospb.TaskState_TASK_DROPPED:
					found = st
					return true
				}
			}
		}
		return false
	})
	return found
}

func (h *harness) waitExit() int {
	h.t.Helper()
	select {
	case code := <-h.exit:
		return code
	case <-time.After(waitTimeout):
		h.t.Fatal("the executor did not exit")
		return -1
	}
}

func TestGroupFinishes(t *testing.T) {
	h := start(t, harnessOpt{})
	h.launchGroup(
		task("t1", "echo one; echo $MESOS_CONTAINER_IP $MESOS_ALLOCATION_ROLE > env"),
		task("t2", "echo two"),
		task("t3", "sleep 0.2"),
	)
	for _, id := range []string{"t1", "t2", "t3"} {
		st := h.terminal(id)
		if st.GetState() != mesospb.TaskState_TASK_FINISHED || st.GetMessage() != "Command exited with status 0" {
			t.Errorf("%s ended %s (%q), want TASK_FINISHED (Command exited with status 0)", id, st.GetState(), st.GetMessage())
		}
		if diff := cmp.Diff([]string{"TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"}, h.states(id)); diff != "" {
			t.Errorf("%s states (-want +got):\n%s", id, diff)
		}
		cid := st.GetContainerStatus().GetContainerId()
		if cid.GetParent().GetValue() != testContainer || cid.GetValue() == "" {
			t.Errorf("%s container_id = %v, want a child of %s", id, cid, testContainer)
		}
		if st.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR || st.GetExecutorId().GetValue() != testExecutor {
			t.Errorf("%s source %v executor %v", id, st.GetSource(), st.GetExecutorId())
		}
		// tasks/<task id> → containers/<container id>, as Mesos links it.
		link, err := os.Readlink(filepath.Join(h.sandbox, "tasks", id))
		if err != nil || link != filepath.Join(h.sandbox, "containers", cid.GetValue()) {
			t.Errorf("tasks/%s -> %q (%v), want the container's sandbox", id, link, err)
		}
	}
	if code := h.waitExit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	out, _ := os.ReadFile(filepath.Join(h.sandbox, "tasks", "t1", "env"))
	if got := strings.TrimSpace(string(out)); got != "127.0.0.1 web" {
		t.Errorf("task saw MESOS_CONTAINER_IP MESOS_ALLOCATION_ROLE = %q, want \"127.0.0.1 web\"", got)
	}
	if n := len(h.fc.callsOf(agentpb.Call_LAUNCH_CONTAINER)); n != 3 {
		t.Errorf("%d LAUNCH_CONTAINER calls, want 3", n)
	}
}

// TestFailureKillsGroup: when one task fails, Mesos's default executor
// kills the other tasks of its group.
func TestFailureKillsGroup(t *testing.T) {
	h := start(t, harnessOpt{capabilities: []mesospb.FrameworkInfo_Capability_Type{
		mesospb.FrameworkInfo_Capability_TASK_KILLING_STATE}})
	h.launchGroup(task("bad", "sleep 0.3; exit 3"), task("a", "sleep 60"), task("b", "sleep 60"))
	bad := h.terminal("bad")
	if bad.GetState() != mesospb.TaskState_TASK_FAILED || bad.GetMessage() != "Command exited with status 3" {
		t.Errorf("bad ended %s (%q), want TASK_FAILED (Command exited with status 3)", bad.GetState(), bad.GetMessage())
	}
	for _, id := range []string{"a", "b"} {
		st := h.terminal(id)
		if st.GetState() != mesospb.TaskState_TASK_KILLED || st.GetMessage() != "Command terminated with signal Terminated" {
			t.Errorf("%s ended %s (%q), want TASK_KILLED (Command terminated with signal Terminated)", id, st.GetState(), st.GetMessage())
		}
		if diff := cmp.Diff([]string{"TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_KILLED"}, h.states(id)); diff != "" {
			t.Errorf("%s states (-want +got):\n%s", id, diff)
		}
	}
	if code := h.waitExit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestKillEscalates: KILL with a kill policy sends SIGTERM, then SIGKILL
// after the grace period; the group's other task is killed too.
func TestKillEscalates(t *testing.T) {
	h := start(t, harnessOpt{})
	h.launchGroup(task("stubborn", "trap '' TERM; touch ready; sleep 60"), task("other", "sleep 60"))
	h.agent.WaitForState(t, waitTimeout, "other", mesospb.TaskState_TASK_RUNNING)
	// SIGTERM must not arrive before the shell ignores it.
	poll(t, "the stubborn task to start", func() bool {
		_, err := os.Stat(filepath.Join(h.sandbox, "tasks", "stubborn", "ready"))
		return err == nil
	})
	grace := int64(300 * time.Millisecond)
	if err := h.agent.Kill("stubborn", &mesospb.KillPolicy{GracePeriod: &mesospb.DurationInfo{Nanoseconds: &grace}}); err != nil {
		t.Fatal(err)
	}
	st := h.terminal("stubborn")
	if st.GetState() != mesospb.TaskState_TASK_KILLED || st.GetMessage() != "Command terminated with signal Killed" {
		t.Errorf("stubborn ended %s (%q), want TASK_KILLED (Command terminated with signal Killed)", st.GetState(), st.GetMessage())
	}
	if st := h.terminal("other"); st.GetState() != mesospb.TaskState_TASK_KILLED {
		t.Errorf("other ended %s (%q), want TASK_KILLED", st.GetState(), st.GetMessage())
	}
	var signals []int32
	for _, c := range h.fc.callsOf(agentpb.Call_KILL_NESTED_CONTAINER) {
		signals = append(signals, c.GetKillNestedContainer().GetSignal())
	}
	// SIGTERM to both, SIGKILL to the stubborn one (maybe to both, if the
	// other had not ended within the default 3 s).
	if len(signals) < 3 || signals[0] != 15 || !containsInt(signals, 9) {
		t.Errorf("kill signals %v, want SIGTERM then SIGKILL", signals)
	}
	if code := h.waitExit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func containsInt(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestShutdownKillsAll(t *testing.T) {
	h := start(t, harnessOpt{})
	h.launchGroup(task("a", "sleep 60"), task("b", "sleep 60"))
	h.agent.WaitForState(t, waitTimeout, "a", mesospb.TaskState_TASK_RUNNING)
	h.agent.WaitForState(t, waitTimeout, "b", mesospb.TaskState_TASK_RUNNING)
	if err := h.agent.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if st := h.terminal(id); st.GetState() != mesospb.TaskState_TASK_KILLED {
			t.Errorf("%s ended %s (%q), want TASK_KILLED", id, st.GetState(), st.GetMessage())
		}
	}
	if code := h.waitExit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestLaunchFailure: a container the agent refuses to launch fails its
// task with the agent's answer, and the rest of the group is killed.
func TestLaunchFailure(t *testing.T) {
	h := start(t, harnessOpt{})
	h.fc.refuse["refused"] = "Failed to launch container: no such image"
	h.launchGroup(task("ok", "sleep 60"), task("nope", "refused"))
	st := h.terminal("nope")
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetMessage() != "Failed to launch container: no such image" {
		t.Errorf("nope ended %s (%q), want TASK_FAILED with the agent's answer", st.GetState(), st.GetMessage())
	}
	if diff := cmp.Diff([]string{"TASK_STARTING", "TASK_FAILED"}, h.states("nope")); diff != "" {
		t.Errorf("nope states (-want +got):\n%s", diff)
	}
	if st := h.terminal("ok"); st.GetState() != mesospb.TaskState_TASK_KILLED {
		t.Errorf("ok ended %s (%q), want TASK_KILLED", st.GetState(), st.GetMessage())
	}
	if code := h.waitExit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestMaxCompletionTime(t *testing.T) {
	h := start(t, harnessOpt{})
	tk := task("slow", "sleep 60")
	d := int64(200 * time.Millisecond)
	tk.MaxCompletionTime = &mesospb.DurationInfo{Nanoseconds: &d}
	h.launchGroup(tk)
	st := h.terminal("slow")
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_MAX_COMPLETION_TIME_REACHED {
		t.Errorf("slow ended %s %s (%q), want TASK_FAILED REASON_MAX_COMPLETION_TIME_REACHED", st.GetState(), st.GetReason(), st.GetMessage())
	}
	if code := h.waitExit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestSecondGroup: a second LAUNCH_GROUP adds tasks to the running
// executor; one group's failure does not touch the other group.
func TestSecondGroup(t *testing.T) {
	h := start(t, harnessOpt{})
	h.launchGroup(task("g1", "sleep 60"))
	h.agent.WaitForState(t, waitTimeout, "g1", mesospb.TaskState_TASK_RUNNING)
	h.launchGroup(task("g2-bad", "exit 1"), task("g2-other", "sleep 60"))
	if st := h.terminal("g2-bad"); st.GetState() != mesospb.TaskState_TASK_FAILED {
		t.Errorf("g2-bad ended %s", st.GetState())
	}
	if st := h.terminal("g2-other"); st.GetState() != mesospb.TaskState_TASK_KILLED {
		t.Errorf("g2-other ended %s", st.GetState())
	}
	// g1 keeps running, so the executor does too.
	select {
	case code := <-h.exit:
		t.Fatalf("executor exited (%d) with a task running", code)
	case <-time.After(300 * time.Millisecond):
	}
	if got := h.states("g1"); len(got) != 2 {
		t.Errorf("g1 states %v, want STARTING, RUNNING only", got)
	}
	if err := h.agent.Kill("g1", nil); err != nil {
		t.Fatal(err)
	}
	if st := h.terminal("g1"); st.GetState() != mesospb.TaskState_TASK_KILLED {
		t.Errorf("g1 ended %s", st.GetState())
	}
	if code := h.waitExit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestLaunchNestedFallback: an agent without LAUNCH_CONTAINER (501) gets
// LAUNCH_NESTED_CONTAINER.
func TestLaunchNestedFallback(t *testing.T) {
	h := start(t, harnessOpt{noLaunchContainer: true})
	h.launchGroup(task("t", "true"))
	if st := h.terminal("t"); st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Errorf("t ended %s (%q)", st.GetState(), st.GetMessage())
	}
	if n := len(h.fc.callsOf(agentpb.Call_LAUNCH_NESTED_CONTAINER)); n != 1 {
		t.Errorf("%d LAUNCH_NESTED_CONTAINER calls, want 1", n)
	}
	if code := h.waitExit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, 0},
		{[]string{"--launcher_dir=/usr/libexec/mesos", "--help"}, 0},
		{[]string{"--no_such_flag=1"}, 1},
		{[]string{"--logging_level=LOUD"}, 1},
	} {
		var out, errw bytes.Buffer
		if code := Main(t.Context(), tc.args, func(string) (string, bool) { return "", false }, &out, &errw); code != tc.code {
			t.Errorf("Main(%v) = %d, want %d (stderr %s)", tc.args, code, tc.code, errw.String())
		}
	}
	var errw bytes.Buffer
	env := map[string]string{"MESOS_FRAMEWORK_ID": "f", "MESOS_EXECUTOR_ID": "e", "MESOS_SLAVE_PID": "slave(1)@127.0.0.1:1"}
	if code := Main(t.Context(), nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &bytes.Buffer{}, &errw); code != 1 ||
		!strings.Contains(errw.String(), "Expecting 'MESOS_SANDBOX' to be set in the environment") {
		t.Errorf("without MESOS_SANDBOX: stderr %q", errw.String())
	}
}

// TestHealthCheckKillsTask: a COMMAND health check runs in a container
// nested under the task's; once it failed consecutive_failures times the
// task is killed, its terminal update says healthy:false, and the rest of
// its group is killed.
func TestHealthCheckKillsTask(t *testing.T) {
	h := start(t, harnessOpt{})
	sick := task("sick", "sleep 60")
	sick.HealthCheck = &mesospb.HealthCheck{
		Type:                mesospb.HealthCheck_COMMAND.Enum(),
		Command:             &mesospb.CommandInfo{Value: proto.String("exit 1")},
		DelaySeconds:        proto.Float64(0),
		IntervalSeconds:     proto.Float64(0.1),
		GracePeriodSeconds:  proto.Float64(0),
		ConsecutiveFailures: proto.Uint32(2),
	}
	h.launchGroup(sick, task("buddy", "sleep 60"))
	st := h.terminal("sick")
	if st.GetState() != mesospb.TaskState_TASK_KILLED || st.Healthy == nil || st.GetHealthy() {
		t.Errorf("sick ended %s healthy=%v (%q), want TASK_KILLED healthy=false", st.GetState(), st.Healthy, st.GetMessage())
	}
	var unhealthy int
	for _, u := range h.agent.Updates() {
		if u.GetTaskId().GetValue() == "sick" && u.GetState() == mesospb.TaskState_TASK_RUNNING &&
			u.GetReason() == mesospb.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED && u.Healthy != nil && !u.GetHealthy() {
			unhealthy++
		}
	}
	if unhealthy < 2 {
		t.Errorf("%d healthy:false TASK_RUNNING updates, want 2 (consecutive_failures)", unhealthy)
	}
	if st := h.terminal("buddy"); st.GetState() != mesospb.TaskState_TASK_KILLED {
		t.Errorf("buddy ended %s, want TASK_KILLED", st.GetState())
	}
	sessions := h.fc.callsOf(agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION)
	if len(sessions) < 2 {
		t.Fatalf("%d LAUNCH_NESTED_CONTAINER_SESSION calls, want >= 2", len(sessions))
	}
	id := sessions[0].GetLaunchNestedContainerSession().GetContainerId()
	if !strings.HasPrefix(id.GetValue(), "check-") || id.GetParent().GetParent().GetValue() != testContainer {
		t.Errorf("check container %v, want check-<uuid> under the task's container", id)
	}
	if len(h.fc.callsOf(agentpb.Call_REMOVE_NESTED_CONTAINER)) == 0 {
		t.Errorf("no REMOVE_NESTED_CONTAINER of the previous check container")
	}
	if code := h.waitExit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestCheckStatus: a check's result goes out as TASK_RUNNING with
// check_status and REASON_TASK_CHECK_STATUS_UPDATED; every update of a
// checked task carries a check_status of the check's type.
func TestCheckStatus(t *testing.T) {
	h := start(t, harnessOpt{})
	tk := task("checked", "sleep 60")
	tk.Check = &mesospb.CheckInfo{
		Type:            mesospb.CheckInfo_COMMAND.Enum(),
		Command:         &mesospb.CheckInfo_Command{Command: &mesospb.CommandInfo{Value: proto.String("exit 7")}},
		DelaySeconds:    proto.Float64(0),
		IntervalSeconds: proto.Float64(0.2),
	}
	h.launchGroup(tk)
	var got *mesospb.TaskStatus
	h.agent.WaitFor(t, waitTimeout, "a check update", func() bool {
		for _, u := range h.agent.Updates() {
			if u.GetReason() == mesospb.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED {
				got = u
				return true
			}
		}
		return false
	})
	if got.GetState() != mesospb.TaskState_TASK_RUNNING || got.GetCheckStatus().GetCommand().GetExitCode() != 7 {
		t.Errorf("check update %v, want TASK_RUNNING with exit code 7", got)
	}
	for _, u := range h.agent.Updates() {
		if u.GetCheckStatus().GetType() != mesospb.CheckInfo_COMMAND || u.GetCheckStatus().GetCommand() == nil {
			t.Errorf("%s update without a COMMAND check_status: %v", u.GetState(), u.GetCheckStatus())
		}
	}
	if err := h.agent.Kill("checked", nil); err != nil {
		t.Fatal(err)
	}
	if st := h.terminal("checked"); st.GetState() != mesospb.TaskState_TASK_KILLED {
		t.Errorf("checked ended %s", st.GetState())
	}
	if code := h.waitExit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestResubscribeWaitsAgain: after the connection to the agent broke, a
// checkpointing executor re-subscribes and waits on its containers again.
func TestResubscribeWaitsAgain(t *testing.T) {
	h := start(t, harnessOpt{env: map[string]string{
		"MESOS_CHECKPOINT": "1", "MESOS_SUBSCRIPTION_BACKOFF_MAX": "100ms", "MESOS_RECOVERY_TIMEOUT": "1mins"}})
	h.launchGroup(task("t", "sleep 2"))
	h.agent.WaitForState(t, waitTimeout, "t", mesospb.TaskState_TASK_RUNNING)
	poll(t, "a WAIT_NESTED_CONTAINER", func() bool {
		return len(h.fc.callsOf(agentpb.Call_WAIT_NESTED_CONTAINER)) == 1
	})
	h.agent.CloseStream()
	h.agent.WaitFor(t, waitTimeout, "a second SUBSCRIBE", func() bool { return h.agent.Subscriptions() >= 2 })
	if st := h.terminal("t"); st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Errorf("t ended %s (%q)", st.GetState(), st.GetMessage())
	}
	if n := len(h.fc.callsOf(agentpb.Call_WAIT_NESTED_CONTAINER)); n < 2 {
		t.Errorf("%d WAIT_NESTED_CONTAINER calls, want another after the re-subscription", n)
	}
	if code := h.waitExit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// poll waits for cond, checked every 10 ms, for up to waitTimeout.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
