package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/scheduler/schedulertest"
)

const taskJSON = `{
  "name": "hello",
  "task_id": {"value": "hello"},
  "agent_id": {"value": ""},
  "resources": [
    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
    {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}
  ],
  "command": {"value": "echo hi"},
  "health_check": {"type": "TCP", "tcp": {"port": 8080}}
}`

func taskConfig(master string) ExecuteConfig {
	cfg := NewExecuteConfig()
	cfg.Master = master
	cfg.User = "tester"
	return cfg
}

func TestExecuteTask(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "task.json")
	if err := os.WriteFile(path, []byte(taskJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{"json": taskJSON, "path": path, "file URL": "file://" + path} {
		t.Run(name, func(t *testing.T) {
			f := newFakeCluster(t, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_FINISHED)
			cfg := taskConfig(f.m.Addr())
			cfg.Task = value
			code, out := execute(t, t.Context(), cfg)
			if code != 0 {
				t.Fatalf("exit code %d, output:\n%s", code, out)
			}
			if !strings.Contains(out, "Submitted task 'hello' to agent 'agent-1'\n") {
				t.Errorf("output lacks the submission:\n%s", out)
			}
			acc := f.m.WaitForType(t, wait, schedulerpb.Call_ACCEPT, 1)
			alloc := &mesospb.Resource_AllocationInfo{Role: proto.String("*")}
			want := []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{{
					Name:    proto.String("hello"),
					TaskId:  &mesospb.TaskID{Value: proto.String("hello")},
					AgentId: &mesospb.AgentID{Value: proto.String("agent-1")},
					Resources: []*mesospb.Resource{
						{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(0.1)}, AllocationInfo: alloc},
						{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(32)}, AllocationInfo: alloc},
					},
					Command:     &mesospb.CommandInfo{Value: proto.String("echo hi")},
					HealthCheck: &mesospb.HealthCheck{Type: mesospb.HealthCheck_TCP.Enum(), Tcp: &mesospb.HealthCheck_TCPCheckInfo{Port: proto.Uint32(8080)}},
				}}},
			}}
			if diff := cmp.Diff(want, acc.GetAccept().GetOperations(), protocmp.Transform(),
				protocmp.IgnoreFields(&mesospb.Resource{}, "role")); diff != "" {
				t.Errorf("ACCEPT operations (-want +got):\n%s", diff)
			}
			if ids := acc.GetAccept().GetOfferIds(); len(ids) != 1 || ids[0].GetValue() != "O-good" {
				t.Errorf("accepted offers %v, want O-good", ids)
			}
		})
	}
}

// groupCluster is a fake master that answers a LAUNCH_GROUP with the given
// final state for each task.
func groupCluster(t *testing.T, final map[string]mesospb.TaskState) *schedulertest.Master {
	m := &schedulertest.Master{}
	m.OnSubscribed = func(*schedulerpb.Call) {
		_ = m.Send(&schedulerpb.Event{
			Type:   schedulerpb.Event_OFFERS.Enum(),
			Offers: &schedulerpb.Event_Offers{Offers: []*mesospb.Offer{schedulertest.Offer("O-1", "agent-1", "*", 2, 1024)}},
		})
	}
	m.OnCall = func(c *schedulerpb.Call) (int, string) {
		switch c.GetType() {
		case schedulerpb.Call_ACCEPT:
			for _, task := range c.GetAccept().GetOperations()[0].GetLaunchGroup().GetTaskGroup().GetTasks() {
				_ = m.Send(schedulertest.Update(task.GetTaskId().GetValue(), "agent-1", mesospb.TaskState_TASK_RUNNING))
			}
			// Terminal updates in a fixed order: b, then a.
			for _, id := range []string{"b", "a"} {
				_ = m.Send(schedulertest.Update(id, "agent-1", final[id]))
			}
		case schedulerpb.Call_TEARDOWN:
			go m.CloseStream()
		}
		return 0, ""
	}
	return m.Start(t)
}

const groupJSON = `{"tasks": [
  {"name": "a", "task_id": {"value": "a"}, "agent_id": {"value": ""},
   "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}, {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
   "command": {"value": "sleep 1"}},
  {"name": "b", "task_id": {"value": "b"}, "agent_id": {"value": ""},
   "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.2}}, {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}],
   "command": {"value": "sleep 2"}}
]}`

func TestExecuteTaskGroup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		final map[string]mesospb.TaskState
		code  int
	}{
		{"all finished", map[string]mesospb.TaskState{"a": mesospb.TaskState_TASK_FINISHED, "b": mesospb.TaskState_TASK_FINISHED}, 0},
		{"one failed", map[string]mesospb.TaskState{"a": mesospb.TaskState_TASK_FINISHED, "b": mesospb.TaskState_TASK_FAILED}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := groupCluster(t, tc.final)
			cfg := taskConfig(m.Addr())
			cfg.TaskGroup = groupJSON
			code, out := execute(t, t.Context(), cfg)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tc.code, out)
			}
			// Execute waits for both tasks: the last terminal update (a's) is printed.
			for _, line := range []string{
				"Submitted task group with tasks [ a, b ] to agent 'agent-1'\n",
				"Received status update " + tc.final["b"].String() + " for task 'b'\n",
				"Received status update " + tc.final["a"].String() + " for task 'a'\n",
			} {
				if !strings.Contains(out, line) {
					t.Errorf("output lacks %q:\n%s", line, out)
				}
			}

			acc := m.WaitForType(t, wait, schedulerpb.Call_ACCEPT, 1)
			alloc := &mesospb.Resource_AllocationInfo{Role: proto.String("*")}
			scalar := func(name string, v float64, alloc *mesospb.Resource_AllocationInfo) *mesospb.Resource {
				return &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(v)}, AllocationInfo: alloc}
			}
			agent := &mesospb.AgentID{Value: proto.String("agent-1")}
			want := []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(),
				LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
					Executor: &mesospb.ExecutorInfo{
						Type:        mesospb.ExecutorInfo_DEFAULT.Enum(),
						ExecutorId:  &mesospb.ExecutorID{Value: proto.String("default-executor")},
						FrameworkId: &mesospb.FrameworkID{Value: proto.String("fake-master-0000")},
						Resources:   []*mesospb.Resource{scalar("cpus", 0.1, nil), scalar("mem", 32, nil), scalar("disk", 32, nil)},
					},
					TaskGroup: &mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{
						{Name: proto.String("a"), TaskId: &mesospb.TaskID{Value: proto.String("a")}, AgentId: agent,
							Resources: []*mesospb.Resource{scalar("cpus", 0.1, alloc), scalar("mem", 32, alloc)},
							Command:   &mesospb.CommandInfo{Value: proto.String("sleep 1")}},
						{Name: proto.String("b"), TaskId: &mesospb.TaskID{Value: proto.String("b")}, AgentId: agent,
							Resources: []*mesospb.Resource{scalar("cpus", 0.2, alloc), scalar("mem", 64, alloc)},
							Command:   &mesospb.CommandInfo{Value: proto.String("sleep 2")}},
					}},
				},
			}}
			if diff := cmp.Diff(want, acc.GetAccept().GetOperations(), protocmp.Transform(),
				protocmp.IgnoreFields(&mesospb.Resource{}, "role")); diff != "" {
				t.Errorf("ACCEPT operations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExecuteTaskFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*ExecuteConfig)
		want string
	}{
		{"both", func(c *ExecuteConfig) { c.Task, c.TaskGroup = taskJSON, groupJSON }, "Either task or task group should be set but not both"},
		{"task and command", func(c *ExecuteConfig) { c.Task, c.Command = taskJSON, "true" }, "can only be set when both '--task' and '--task_group' are not set"},
		{"group and name", func(c *ExecuteConfig) { c.TaskGroup, c.Name = groupJSON, "x" }, "can only be set when both '--task' and '--task_group' are not set"},
		{"bad JSON", func(c *ExecuteConfig) { c.Task = `{"name": 3}` }, "failed to load flag 'task'"},
		{"missing file", func(c *ExecuteConfig) { c.TaskGroup = "/nonexistent/group.json" }, "failed to load flag 'task_group'"},
		// agent_id is a required field: Mesos's JSON parser wants it present
		// (with an empty value) even though mesos-execute sets it.
		{"no agent_id", func(c *ExecuteConfig) { c.Task = `{"name": "x", "task_id": {"value": "x"}}` }, "missing required fields: agent_id"},
		{"empty group", func(c *ExecuteConfig) { c.TaskGroup = `{"tasks": []}` }, "no tasks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := taskConfig("127.0.0.1:1")
			tc.mod(&cfg)
			code, out := execute(t, t.Context(), cfg)
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, output %q; want 1 and %q", code, out, tc.want)
			}
		})
	}
}
