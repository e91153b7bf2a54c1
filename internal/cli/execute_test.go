package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/scheduler/schedulertest"
)

const wait = 10 * time.Second

// syncBuffer is an io.Writer safe for the test to read while Execute writes.
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

// fakeCluster scripts a master with one good offer (agent-1) and one too
// small (agent-0); on ACCEPT it plays the given task states with uuids; on
// KILL it reports TASK_KILLED.
type fakeCluster struct {
	m *schedulertest.Master

	mu      sync.Mutex
	updates []*mesospb.TaskStatus // sent with uuids
}

func newFakeCluster(t *testing.T, states ...mesospb.TaskState) *fakeCluster {
	f := &fakeCluster{}
	m := &schedulertest.Master{}
	m.OnSubscribed = func(*schedulerpb.Call) {
		_ = m.Send(&schedulerpb.Event{
			Type: schedulerpb.Event_OFFERS.Enum(),
			Offers: &schedulerpb.Event_Offers{Offers: []*mesospb.Offer{
				schedulertest.Offer("O-small", "agent-0", "*", 0.05, 1024),
				schedulertest.Offer("O-good", "agent-1", "*", 2, 1024),
			}},
		})
	}
	send := func(state mesospb.TaskState, mutate func(*mesospb.TaskStatus)) {
		ev := schedulertest.Update("hello", "agent-1", state)
		if mutate != nil {
			mutate(ev.GetUpdate().GetStatus())
		}
		f.mu.Lock()
		f.updates = append(f.updates, ev.GetUpdate().GetStatus())
		f.mu.Unlock()
		_ = m.Send(ev)
	}
	m.OnCall = func(c *schedulerpb.Call) (int, string) {
		switch c.GetType() {
		case schedulerpb.Call_ACCEPT:
			for _, s := range states {
				var mutate func(*mesospb.TaskStatus)
				if s == mesospb.TaskState_TASK_FAILED {
					mutate = func(st *mesospb.TaskStatus) {
						st.Message = proto.String("Command exited with status 3")
						st.Reason = mesospb.TaskStatus_REASON_COMMAND_EXECUTOR_FAILED.Enum()
						st.Healthy = proto.Bool(false)
					}
				}
				send(s, mutate)
			}
		case schedulerpb.Call_KILL:
			send(mesospb.TaskState_TASK_KILLED, func(st *mesospb.TaskStatus) {
				st.Message = proto.String("Command terminated with signal Terminated")
			})
		case schedulerpb.Call_TEARDOWN:
			go m.CloseStream()
		}
		return 0, ""
	}
	m.Start(t)
	f.m = m
	return f
}

func (f *fakeCluster) sent() []*mesospb.TaskStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*mesospb.TaskStatus(nil), f.updates...)
}

func testConfig(master string) ExecuteConfig {
	cfg := NewExecuteConfig()
	cfg.Master = master
	cfg.Name = "hello"
	cfg.Command = "echo hi"
	cfg.User = "tester"
	return cfg
}

func execute(t *testing.T, ctx context.Context, cfg ExecuteConfig) (int, string) {
	t.Helper()
	var out syncBuffer
	done := make(chan int, 1)
	go func() { done <- Execute(ctx, cfg, &out) }()
	select {
	case code := <-done:
		return code, out.String()
	case <-time.After(wait):
		t.Fatalf("Execute did not return; output so far:\n%s", out.String())
		return 0, ""
	}
}

func TestExecuteFinished(t *testing.T) {
	for _, ct := range []codec.MediaType{"protobuf", "json"} {
		t.Run(string(ct), func(t *testing.T) {
			f := newFakeCluster(t, mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_FINISHED)
			cfg := testConfig(f.m.Addr())
			cfg.ContentType = ct
			cfg.Env = `{"B": "2", "A": "1"}`
			cfg.Checkpoint = true

			code, out := execute(t, t.Context(), cfg)
			if code != 0 {
				t.Fatalf("exit code %d, output:\n%s", code, out)
			}
			wantOut := strings.Join([]string{
				"Subscribed with ID fake-master-0000",
				"Submitted task 'hello' to agent 'agent-1'",
				"Received status update TASK_STARTING for task 'hello'",
				"  source: SOURCE_EXECUTOR",
				"Received status update TASK_RUNNING for task 'hello'",
				"  source: SOURCE_EXECUTOR",
				"Received status update TASK_FINISHED for task 'hello'",
				"  source: SOURCE_EXECUTOR",
				"",
			}, "\n")
			if diff := cmp.Diff(wantOut, out); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}

			// SUBSCRIBE: mesos-execute's FrameworkInfo.
			sub := f.m.WaitForType(t, wait, schedulerpb.Call_SUBSCRIBE, 1)
			wantFI := &mesospb.FrameworkInfo{
				User:       proto.String("tester"),
				Name:       proto.String("meso-execute instance"),
				Role:       proto.String("*"),
				Checkpoint: proto.Bool(true),
				Capabilities: []*mesospb.FrameworkInfo_Capability{
					{Type: mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT.Enum()},
					{Type: mesospb.FrameworkInfo_Capability_TASK_KILLING_STATE.Enum()},
					{Type: mesospb.FrameworkInfo_Capability_REVOCABLE_RESOURCES.Enum()},
					{Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()},
				},
			}
			// (The JSON dialect emits defaults such as failover_timeout.)
			if diff := cmp.Diff(wantFI, sub.GetSubscribe().GetFrameworkInfo(), protocmp.Transform(),
				protocmp.IgnoreFields(&mesospb.FrameworkInfo{}, "failover_timeout")); diff != "" {
				t.Errorf("FrameworkInfo (-want +got):\n%s", diff)
			}

			// ACCEPT of the good offer with the task.
			acc := f.m.WaitForType(t, wait, schedulerpb.Call_ACCEPT, 1)
			alloc := &mesospb.Resource_AllocationInfo{Role: proto.String("*")}
			wantAccept := &schedulerpb.Call_Accept{
				OfferIds: []*mesospb.OfferID{{Value: proto.String("O-good")}},
				Operations: []*mesospb.Offer_Operation{{
					Type: mesospb.Offer_Operation_LAUNCH.Enum(),
					Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{{
						Name:    proto.String("hello"),
						TaskId:  &mesospb.TaskID{Value: proto.String("hello")},
						AgentId: &mesospb.AgentID{Value: proto.String("agent-1")},
						Resources: []*mesospb.Resource{
							{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(0.1)}, AllocationInfo: alloc},
							{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(32)}, AllocationInfo: alloc},
						},
						Command: &mesospb.CommandInfo{
							Shell: proto.Bool(true),
							Value: proto.String("echo hi"),
							Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{
								{Name: proto.String("A"), Type: mesospb.Environment_Variable_VALUE.Enum(), Value: proto.String("1")},
								{Name: proto.String("B"), Type: mesospb.Environment_Variable_VALUE.Enum(), Value: proto.String("2")},
							}},
						},
					}}},
				}},
			}
			// Compare ignoring fields the JSON codec fills with defaults.
			if diff := cmp.Diff(wantAccept, acc.GetAccept(), protocmp.Transform(),
				protocmp.IgnoreFields(&mesospb.Resource{}, "role"),
				protocmp.IgnoreFields(&mesospb.CommandInfo{}, "shell")); diff != "" {
				t.Errorf("ACCEPT (-want +got):\n%s", diff)
			}
			if !acc.GetAccept().GetOperations()[0].GetLaunch().GetTaskInfos()[0].GetCommand().GetShell() {
				t.Error("task command not shell")
			}

			// DECLINE of the small offer with a long filter.
			dec := f.m.WaitForType(t, wait, schedulerpb.Call_DECLINE, 1)
			if got := dec.GetDecline().GetOfferIds(); len(got) != 1 || got[0].GetValue() != "O-small" {
				t.Errorf("declined %v, want O-small", got)
			}
			if s := dec.GetDecline().GetFilters().GetRefuseSeconds(); s < 600 {
				t.Errorf("decline refuse_seconds = %v, want a long filter", s)
			}

			// Every update acknowledged with its uuid, then TEARDOWN last.
			sent := f.sent()
			var acks [][]byte
			lastType := schedulerpb.Call_UNKNOWN
			for _, c := range f.m.Calls() {
				if c.GetType() == schedulerpb.Call_ACKNOWLEDGE {
					a := c.GetAcknowledge()
					if a.GetTaskId().GetValue() != "hello" || a.GetAgentId().GetValue() != "agent-1" {
						t.Errorf("ACKNOWLEDGE %v", a)
					}
					acks = append(acks, a.GetUuid())
				}
				lastType = c.GetType()
			}
			var want [][]byte
			for _, s := range sent {
				want = append(want, s.GetUuid())
			}
			if diff := cmp.Diff(want, acks); diff != "" {
				t.Errorf("acknowledged uuids (-want +got):\n%s", diff)
			}
			if lastType != schedulerpb.Call_TEARDOWN {
				t.Errorf("last call %s, want TEARDOWN", lastType)
			}
		})
	}
}

func TestExecuteFailed(t *testing.T) {
	f := newFakeCluster(t, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_FAILED)
	code, out := execute(t, t.Context(), testConfig(f.m.Addr()))
	if code != 1 {
		t.Fatalf("exit code %d, want 1; output:\n%s", code, out)
	}
	for _, line := range []string{
		"Received status update TASK_FAILED for task 'hello'\n",
		"  message: 'Command exited with status 3'\n",
		"  source: SOURCE_EXECUTOR\n",
		"  reason: REASON_COMMAND_EXECUTOR_FAILED\n",
		"  healthy?: 0\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
	f.m.WaitForType(t, wait, schedulerpb.Call_TEARDOWN, 1)
}

func TestExecuteKillAfter(t *testing.T) {
	f := newFakeCluster(t, mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING)
	cfg := testConfig(f.m.Addr())
	cfg.KillAfter = 20 * time.Millisecond
	code, out := execute(t, t.Context(), cfg)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; output:\n%s", code, out)
	}
	for _, line := range []string{
		"Asked to kill task 'hello' on agent 'agent-1'\n",
		"Received status update TASK_KILLED for task 'hello'\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
	kill := f.m.WaitForType(t, wait, schedulerpb.Call_KILL, 1)
	if kill.GetKill().GetTaskId().GetValue() != "hello" || kill.GetKill().GetAgentId().GetValue() != "agent-1" {
		t.Errorf("KILL %v", kill)
	}
	f.m.WaitForType(t, wait, schedulerpb.Call_TEARDOWN, 1)
}

func TestExecuteInterruptedTearsDown(t *testing.T) {
	f := newFakeCluster(t, mesospb.TaskState_TASK_RUNNING)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		f.m.WaitForType(t, wait, schedulerpb.Call_ACKNOWLEDGE, 1)
		cancel()
	}()
	code, out := execute(t, ctx, testConfig(f.m.Addr()))
	if code != 1 {
		t.Fatalf("exit code %d, want 1; output:\n%s", code, out)
	}
	f.m.WaitForType(t, wait, schedulerpb.Call_TEARDOWN, 1)
}

func TestExecuteErrorEvent(t *testing.T) {
	m := &schedulertest.Master{}
	m.OnSubscribed = func(*schedulerpb.Call) {
		_ = m.Send(&schedulerpb.Event{
			Type:  schedulerpb.Event_ERROR.Enum(),
			Error: &schedulerpb.Event_Error{Message: proto.String("Framework has been removed")},
		})
	}
	m.Start(t)
	code, out := execute(t, t.Context(), testConfig(m.Addr()))
	if code != 1 || !strings.Contains(out, "Received an ERROR event: Framework has been removed\n") {
		t.Fatalf("exit code %d, output:\n%s", code, out)
	}
}

func TestExecuteSubscribeRefused(t *testing.T) {
	m := &schedulertest.Master{OnSubscribe: func(*schedulerpb.Call) (int, string) {
		return 400, "Role 'x y' is invalid"
	}}
	m.Start(t)
	code, out := execute(t, t.Context(), testConfig(m.Addr()))
	if code != 1 || !strings.Contains(out, "refused the framework: 400 Bad Request Role 'x y' is invalid") {
		t.Fatalf("exit code %d, output:\n%s", code, out)
	}
}

func TestExecuteNoMaster(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, out := execute(t, t.Context(), testConfig(addr))
	if code == 0 {
		t.Fatalf("exit code 0 without a master")
	}
	for _, want := range []string{"failed to subscribe to the master at " + addr, "Is a master running at " + addr + "? Start one with `meso local`"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestExecuteBadConfig(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "env.json")
	if err := os.WriteFile(envFile, []byte(`{"X": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*ExecuteConfig)
		want   string
	}{
		{"no name", func(c *ExecuteConfig) { c.Name = "" }, "missing required option --name"},
		{"no command", func(c *ExecuteConfig) { c.Command = "" }, "missing required option --command"},
		{"no master", func(c *ExecuteConfig) { c.Master = "" }, "missing required option --master"},
		{"bad env", func(c *ExecuteConfig) { c.Env = "{" }, "failed to parse --env"},
		{"env file not strings", func(c *ExecuteConfig) { c.Env = "file://" + envFile }, "failed to parse --env"},
		{"bad resources", func(c *ExecuteConfig) { c.Resources = "cpus:x" }, "failed to parse resources 'cpus:x'"},
		{"bad content type", func(c *ExecuteConfig) { c.ContentType = "xml" }, "invalid content type 'xml'"},
		{"zk without a path", func(c *ExecuteConfig) { c.Master = "zk://127.0.0.1:2181" }, "zk://127.0.0.1:2181"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("127.0.0.1:1")
			tt.mutate(&cfg)
			var out bytes.Buffer
			if code := Execute(t.Context(), cfg, &out); code != 1 {
				t.Errorf("exit code %d", code)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output %q lacks %q", out.String(), tt.want)
			}
		})
	}
}

func TestExecuteNonShellCommand(t *testing.T) {
	cfg := testConfig("127.0.0.1:1")
	cfg.Shell = false
	cfg.Command = "/bin/echo  hello world"
	x, err := newExecution(cfg, &printer{w: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	want := &mesospb.CommandInfo{
		Shell:     proto.Bool(false),
		Value:     proto.String("/bin/echo"),
		Arguments: []string{"/bin/echo", "hello", "world"},
	}
	if diff := cmp.Diff(want, x.tasks[0].GetCommand(), protocmp.Transform()); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
}
