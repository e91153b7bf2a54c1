package command

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/executor/executortest"
)

const wait = 15 * time.Second

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness runs Main against a fake agent.
type harness struct {
	agent  *executortest.Agent
	dir    string
	stdout *syncBuffer
	stderr *syncBuffer
	code   chan int
}

func start(t *testing.T, agent *executortest.Agent, env map[string]string, args ...string) *harness {
	t.Helper()
	h := &harness{
		agent:  agent,
		dir:    t.TempDir(),
		stdout: &syncBuffer{},
		stderr: &syncBuffer{},
		code:   make(chan int, 1),
	}
	ctx, cancel := context.WithCancel(t.Context())
	lookup := agent.Env("fw-0000", "t1", h.dir, env)
	finished := make(chan struct{})
	go func() {
		h.code <- Main(ctx, args, lookup, h.stdout, h.stderr)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(wait):
			t.Error("Main did not return after cancel")
		}
		if t.Failed() {
			t.Logf("executor stdout:\n%s\nexecutor stderr:\n%s", h.stdout, h.stderr)
		}
	})
	agent.WaitFor(t, wait, "the executor to subscribe", agent.Subscribed)
	return h
}

func (h *harness) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case c := <-h.code:
		return c
	case <-time.After(wait):
		t.Fatal("Main did not return")
		return -1
	}
}

func shellTask(id, cmd string) *mesospb.TaskInfo {
	return &mesospb.TaskInfo{
		Name:    proto.String(id),
		TaskId:  &mesospb.TaskID{Value: proto.String(id)},
		AgentId: &mesospb.AgentID{Value: proto.String("fake-agent-S0")},
		Command: &mesospb.CommandInfo{Value: proto.String(cmd)},
	}
}

func states(agent *executortest.Agent, taskID string) []mesospb.TaskState {
	var out []mesospb.TaskState
	for _, st := range agent.Updates() {
		if st.GetTaskId().GetValue() == taskID {
			out = append(out, st.GetState())
		}
	}
	return out
}

func wantStates(t *testing.T, agent *executortest.Agent, taskID string, want ...mesospb.TaskState) {
	t.Helper()
	got := states(agent, taskID)
	if len(got) != len(want) {
		t.Fatalf("updates for %s = %v, want %v", taskID, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("updates for %s = %v, want %v", taskID, got, want)
		}
	}
}

func grace(d time.Duration) *mesospb.KillPolicy {
	return &mesospb.KillPolicy{GracePeriod: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(d))}}
}

var pidLine = regexp.MustCompile(`pid=(\d+)`)

// taskPID waits for the task to print "pid=N" and returns N.
func taskPID(t *testing.T, h *harness) int {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if m := pidLine.FindStringSubmatch(h.stdout.String()); m != nil {
			pid, _ := strconv.Atoi(m[1])
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the task did not print its pid")
	return 0
}

func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still exists (kill: %v)", pgid, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEchoFinishes(t *testing.T) {
	agent := executortest.NewAgent(t)
	h := start(t, agent, nil)
	if err := agent.Launch(shellTask("t1", "echo hi")); err != nil {
		t.Fatal(err)
	}
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	wantStates(t, agent, "t1", mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_FINISHED)
	ups := agent.Updates()
	if msg := ups[2].GetMessage(); msg != "Command exited with status 0" {
		t.Errorf("FINISHED message = %q", msg)
	}
	for _, st := range ups {
		if st.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR || len(st.GetUuid()) != 16 || st.GetExecutorId().GetValue() != "t1" {
			t.Errorf("malformed update %v", st)
		}
	}
	// The agent fills container_status in, as Mesos's does.
	if ups[1].GetContainerStatus() != nil {
		t.Errorf("RUNNING container_status = %v, want none from the executor", ups[1].GetContainerStatus())
	}
	out := h.stdout.String()
	for _, want := range []string{"hi\n", "Starting task t1\n", "Received SUBSCRIBED event\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

func TestFailingCommand(t *testing.T) {
	agent := executortest.NewAgent(t)
	h := start(t, agent, nil)
	if err := agent.Launch(shellTask("t1", "echo oops >&2; exit 3")); err != nil {
		t.Fatal(err)
	}
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	wantStates(t, agent, "t1", mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_FAILED)
	if msg := agent.Updates()[2].GetMessage(); msg != "Command exited with status 3" {
		t.Errorf("FAILED message = %q", msg)
	}
	if !strings.Contains(h.stderr.String(), "oops") {
		t.Errorf("stderr lacks the task's output:\n%s", h.stderr)
	}
}

func TestKill(t *testing.T) {
	killing := executortest.WithSubscribed(&executorpb.Event_Subscribed{
		ExecutorInfo: &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("t1")}},
		FrameworkInfo: &mesospb.FrameworkInfo{
			Name: proto.String("fw"),
			User: proto.String(""),
			Capabilities: []*mesospb.FrameworkInfo_Capability{
				{Type: mesospb.FrameworkInfo_Capability_TASK_KILLING_STATE.Enum()},
			},
		},
		AgentInfo: &mesospb.AgentInfo{Hostname: proto.String("localhost")},
	})
	for _, tc := range []struct {
		name       string
		cmd        string
		opts       []executortest.Option
		policy     *mesospb.KillPolicy
		minElapsed time.Duration
		maxElapsed time.Duration
		message    string
		states     []mesospb.TaskState
	}{
		{
			name:       "SIGTERM",
			cmd:        "echo pid=$$; exec sleep 1000",
			maxElapsed: 2 * time.Second, // well within the default 3 s grace
			message:    "Command terminated with signal Terminated",
			states:     []mesospb.TaskState{mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_KILLED},
		},
		{
			name:       "escalation to SIGKILL",
			cmd:        "trap '' TERM; echo pid=$$; sleep 1000 & sleep 1000",
			opts:       []executortest.Option{killing},
			policy:     grace(300 * time.Millisecond),
			minElapsed: 300 * time.Millisecond,
			maxElapsed: 3 * time.Second,
			message:    "Command terminated with signal Killed",
			states: []mesospb.TaskState{mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING,
				mesospb.TaskState_TASK_KILLING, mesospb.TaskState_TASK_KILLED},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agent := executortest.NewAgent(t, tc.opts...)
			h := start(t, agent, nil)
			if err := agent.Launch(shellTask("t1", tc.cmd)); err != nil {
				t.Fatal(err)
			}
			agent.WaitForState(t, wait, "t1", mesospb.TaskState_TASK_RUNNING)
			pgid := taskPID(t, h)
			begin := time.Now()
			if err := agent.Kill("t1", tc.policy); err != nil {
				t.Fatal(err)
			}
			killed := agent.WaitForState(t, wait, "t1", mesospb.TaskState_TASK_KILLED)
			elapsed := time.Since(begin)
			if elapsed < tc.minElapsed || elapsed > tc.maxElapsed {
				t.Errorf("TASK_KILLED after %v, want within [%v, %v]", elapsed, tc.minElapsed, tc.maxElapsed)
			}
			if killed.GetMessage() != tc.message {
				t.Errorf("KILLED message = %q, want %q", killed.GetMessage(), tc.message)
			}
			if code := h.exitCode(t); code != 0 {
				t.Fatalf("Main = %d, want 0", code)
			}
			wantStates(t, agent, "t1", tc.states...)
			waitGroupGone(t, pgid)
			if !strings.Contains(h.stdout.String(), "Received kill for task t1") {
				t.Errorf("stdout lacks the kill line:\n%s", h.stdout)
			}
		})
	}
}

func TestShutdownKillsWithShutdownGrace(t *testing.T) {
	agent := executortest.NewAgent(t)
	// Grace for the kill: 2.5s - 2s = 500ms.
	h := start(t, agent, map[string]string{"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "2500ms"})
	if err := agent.Launch(shellTask("t1", "trap '' TERM; echo pid=$$; exec sleep 1000")); err != nil {
		t.Fatal(err)
	}
	agent.WaitForState(t, wait, "t1", mesospb.TaskState_TASK_RUNNING)
	pgid := taskPID(t, h)
	begin := time.Now()
	if err := agent.Shutdown(); err != nil {
		t.Fatal(err)
	}
	agent.WaitForState(t, wait, "t1", mesospb.TaskState_TASK_KILLED)
	if el := time.Since(begin); el < 500*time.Millisecond || el > 2500*time.Millisecond {
		t.Errorf("TASK_KILLED %v after SHUTDOWN, want about 500ms", el)
	}
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	waitGroupGone(t, pgid)
}

func TestShutdownBeforeLaunch(t *testing.T) {
	agent := executortest.NewAgent(t)
	h := start(t, agent, nil)
	if err := agent.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	if ups := agent.Updates(); len(ups) != 0 {
		t.Errorf("updates = %v, want none", ups)
	}
}

func TestArgvEnvironmentAndSandbox(t *testing.T) {
	agent := executortest.NewAgent(t)
	h := start(t, agent, nil)
	task := shellTask("t1", "")
	task.Command = &mesospb.CommandInfo{
		Shell:     proto.Bool(false),
		Value:     proto.String("sh"), // looked up on PATH
		Arguments: []string{"sh", "-c", `echo "FOO=$FOO PWD=$(pwd) ROLE=$MESOS_ALLOCATION_ROLE SANDBOX=$MESOS_SANDBOX" "$0"`, "argv0"},
		Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{
			{Name: proto.String("FOO"), Value: proto.String("bar baz")},
		}},
	}
	task.Resources = []*mesospb.Resource{{
		Name:           proto.String("cpus"),
		Type:           mesospb.Value_SCALAR.Enum(),
		Scalar:         &mesospb.Value_Scalar{Value: proto.Float64(0.1)},
		AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("dev")},
	}}
	if err := agent.Launch(task); err != nil {
		t.Fatal(err)
	}
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	wantStates(t, agent, "t1", mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_FINISHED)
	want := "FOO=bar baz PWD=" + h.dir + " ROLE=dev SANDBOX=" + h.dir + " argv0\n"
	if !strings.Contains(h.stdout.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, h.stdout)
	}
}

func TestMaxCompletionTime(t *testing.T) {
	agent := executortest.NewAgent(t)
	h := start(t, agent, nil)
	task := shellTask("t1", "exec sleep 1000")
	task.MaxCompletionTime = &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(200 * time.Millisecond))}
	if err := agent.Launch(task); err != nil {
		t.Fatal(err)
	}
	failed := agent.WaitForState(t, wait, "t1", mesospb.TaskState_TASK_FAILED)
	if failed.GetReason() != mesospb.TaskStatus_REASON_MAX_COMPLETION_TIME_REACHED {
		t.Errorf("reason = %v", failed.GetReason())
	}
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	wantStates(t, agent, "t1", mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_FAILED)
}

func TestSecondLaunchFails(t *testing.T) {
	agent := executortest.NewAgent(t)
	h := start(t, agent, nil)
	if err := agent.Launch(shellTask("t1", "exec sleep 1000")); err != nil {
		t.Fatal(err)
	}
	agent.WaitForState(t, wait, "t1", mesospb.TaskState_TASK_RUNNING)
	if err := agent.Launch(shellTask("t2", "true")); err != nil {
		t.Fatal(err)
	}
	st := agent.WaitForState(t, wait, "t2", mesospb.TaskState_TASK_FAILED)
	if st.GetMessage() != `Attempted to run multiple tasks using a "command" executor` {
		t.Errorf("message = %q", st.GetMessage())
	}
	if err := agent.Kill("t1", grace(0)); err != nil {
		t.Fatal(err)
	}
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	wantStates(t, agent, "t1", mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_KILLED)
}

func TestLaunchFailure(t *testing.T) {
	agent := executortest.NewAgent(t)
	h := start(t, agent, nil)
	task := shellTask("t1", "")
	task.Command = &mesospb.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/nonexistent/binary")}
	if err := agent.Launch(task); err != nil {
		t.Fatal(err)
	}
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	wantStates(t, agent, "t1", mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_FAILED)
	if msg := agent.Updates()[1].GetMessage(); !strings.HasPrefix(msg, "Failed to launch command: ") {
		t.Errorf("message = %q", msg)
	}
}

func TestRunsAsTaskUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: changing the task's user needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("skipping: no user 'nobody': %v", err)
	}
	agent := executortest.NewAgent(t)
	h := start(t, agent, nil, "--working_directory=/")
	task := shellTask("t1", `echo "uid=$(id -u)"`)
	task.Command.User = proto.String("nobody")
	if err := agent.Launch(task); err != nil {
		t.Fatal(err)
	}
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	if want := "uid=" + nobody.Uid + "\n"; !strings.Contains(h.stdout.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, h.stdout)
	}
}

func TestFlagsAndEnvironmentErrors(t *testing.T) {
	var out, errw bytes.Buffer
	noEnv := func(string) (string, bool) { return "", false }
	if code := Main(t.Context(), []string{"--help"}, noEnv, &out, &errw); code != 0 || !strings.Contains(out.String(), "Usage:") {
		t.Errorf("--help = %d, %q", code, out.String())
	}
	if code := Main(t.Context(), []string{"positional"}, noEnv, &out, &errw); code != 1 {
		t.Errorf("bad argument = %d, want 1", code)
	}
	if code := Main(t.Context(), []string{"--rootfs=/x"}, noEnv, &out, &errw); code != 1 {
		t.Errorf("--rootfs = %d, want 1", code)
	}
	errw.Reset()
	if code := Main(t.Context(), nil, noEnv, &out, &errw); code != 1 || !strings.Contains(errw.String(), "MESOS_FRAMEWORK_ID") {
		t.Errorf("no environment = %d, %q", code, errw.String())
	}

	o, err := parseFlags([]string{"--user=alice", "--no-switch_user", "--launcher_dir=/x", "--bogus=1"}, &errw)
	if err != nil || o.user != "alice" || o.switchUser {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	if !strings.Contains(errw.String(), "Ignoring unknown flag --bogus") {
		t.Errorf("no warning for an unknown flag: %q", errw.String())
	}
}
