package agent

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
)

// defaultExecutorInfo is a DEFAULT ExecutorInfo as frameworks send it: no
// command, small resources.
func defaultExecutorInfo(id string) *mesospb.ExecutorInfo {
	alloc := &mesospb.Resource_AllocationInfo{Role: proto.String("*")}
	return &mesospb.ExecutorInfo{
		ExecutorId:  &mesospb.ExecutorID{Value: proto.String(id)},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(testFrameworkID)},
		Type:        mesospb.ExecutorInfo_DEFAULT.Enum(),
		Resources: []*mesospb.Resource{
			{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(),
				Scalar: &mesospb.Value_Scalar{Value: proto.Float64(0.1)}, AllocationInfo: alloc},
			{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(),
				Scalar: &mesospb.Value_Scalar{Value: proto.Float64(32)}, AllocationInfo: alloc},
		},
	}
}

func runTaskGroup(m *fakeMaster, ex *mesospb.ExecutorInfo, tasks ...*mesospb.TaskInfo) {
	m.send(&agentapipb.Event{Type: agentapipb.Event_RUN_TASK_GROUP.Enum(), RunTaskGroup: &agentapipb.Event_RunTaskGroup{
		FrameworkInfo: frameworkInfo(false), Executor: ex, TaskGroup: &mesospb.TaskGroupInfo{Tasks: tasks}}})
}

// TestTaskGroupRunsDefaultExecutor: a DEFAULT executor is started with
// Config.DefaultExecutorCommand and gets the group as LAUNCH_GROUP; a
// second group for the same executor joins it.
func TestTaskGroupRunsDefaultExecutor(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "normal", func(c *Config) {
		c.DefaultExecutorCommand = []string{c.ExecutorCommand[0], "default-executor", "--launcher_dir=/meso"}
	})
	ex := defaultExecutorInfo("dx")
	runTaskGroup(m, ex, commandTask("g1", "exit"), commandTask("g2", "sleep"))
	waitAcked(t, m, "g1", mesospb.TaskState_TASK_FINISHED)
	waitAcked(t, m, "g2", mesospb.TaskState_TASK_RUNNING)
	runTaskGroup(m, ex, commandTask("g3", "sleep"))
	waitAcked(t, m, "g3", mesospb.TaskState_TASK_RUNNING)

	out := readFile(filepath.Join(ta.sandbox("dx"), "stdout"))
	for _, want := range []string{"args default-executor --launcher_dir=/meso\n", "event LAUNCH_GROUP", "hello from g1",
		"hello from g3", "MESOS_EXECUTOR_ID=dx\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("executor stdout lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "event SUBSCRIBED"); n != 1 {
		t.Errorf("%d executors subscribed, want 1 (the second group joins the first's executor)", n)
	}
	// The executor as the agent reports it is the framework's: DEFAULT,
	// without the command the agent generated to launch it.
	state := ta.getJSON(t, "/state")
	fws, _ := state["frameworks"].([]any)
	if len(fws) != 1 {
		t.Fatalf("frameworks in /state: %v", state["frameworks"])
	}
	exs, _ := fws[0].(map[string]any)["executors"].([]any)
	if len(exs) != 1 {
		t.Fatalf("executors in /state: %v", fws[0])
	}
	e := exs[0].(map[string]any)
	if e["type"] != "DEFAULT" || e["id"] != "dx" {
		t.Errorf("executor in /state: type %v id %v", e["type"], e["id"])
	}
	if _, ok := e["command"]; ok {
		t.Errorf("executor in /state has a command: %v", e["command"])
	}
}

// TestTaskGroupWithoutDefaultExecutor: an agent without a default executor
// fails DEFAULT task groups as a failed container launch.
func TestTaskGroupWithoutDefaultExecutor(t *testing.T) {
	m := newFakeMaster(t, 60)
	startAgent(t, m, "normal", nil)
	runTaskGroup(m, defaultExecutorInfo("dx"), commandTask("g1", "exit"), commandTask("g2", "exit"))
	for _, id := range []string{"g1", "g2"} {
		st := m.waitUpdate(t, id, mesospb.TaskState_TASK_FAILED)
		if st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED ||
			!strings.Contains(st.GetMessage(), "default executor is not configured") {
			t.Errorf("%s: %s %s (%q)", id, st.GetState(), st.GetReason(), st.GetMessage())
		}
	}
}

// waitAcked waits for an update of taskID in state, acknowledging every
// update of the task on the way, as a scheduler does (the agent sends a
// task's next update only once the previous one is acknowledged).
func waitAcked(t *testing.T, m *fakeMaster, taskID string, state mesospb.TaskState) *mesospb.TaskStatus {
	t.Helper()
	acked := map[string]bool{}
	var found *mesospb.TaskStatus
	eventually(t, 20*time.Second, func() bool {
		for _, st := range m.updates(taskID) {
			if !acked[string(st.GetUuid())] {
				acked[string(st.GetUuid())] = true
				m.ack(taskID, st)
			}
			if st.GetState() == state {
				found = st
				return true
			}
		}
		return false
	}, "no %v update for task %s; got %v", state, taskID, func() []string { return states(m.updates(taskID)) })
	return found
}

// TestTaskGroupDefaultExecutorWithCommand: a DEFAULT executor with a
// command (which the master refuses) is not run with either command.
func TestTaskGroupDefaultExecutorWithCommand(t *testing.T) {
	m := newFakeMaster(t, 60)
	startAgent(t, m, "normal", func(c *Config) { c.DefaultExecutorCommand = c.ExecutorCommand })
	ex := defaultExecutorInfo("dx")
	ex.Command = &mesospb.CommandInfo{Value: proto.String("/bin/true")}
	runTaskGroup(m, ex, commandTask("g1", "exit"))
	st := m.waitUpdate(t, "g1", mesospb.TaskState_TASK_ERROR)
	if st.GetReason() != mesospb.TaskStatus_REASON_TASK_GROUP_INVALID ||
		st.GetMessage() != "'ExecutorInfo.command' must not be set for 'DEFAULT' executor" {
		t.Errorf("g1: %s %s (%q)", st.GetState(), st.GetReason(), st.GetMessage())
	}
}

// TestKillQueuedTaskGroup: killing one task of a task group whose executor
// has not subscribed yet kills every task of the group, each TASK_KILLED
// with REASON_TASK_KILLED_DURING_LAUNCH, the executor's ID and Mesos's
// message for a group ("A task within the task group was killed before
// delivery to the executor", Slave::kill for a REGISTERING executor).
func TestKillQueuedTaskGroup(t *testing.T) {
	m := newFakeMaster(t, 60)
	startAgent(t, m, "noregister", func(c *Config) {
		c.DefaultExecutorCommand = []string{c.ExecutorCommand[0]}
	})
	runTaskGroup(m, defaultExecutorInfo("dx"), commandTask("g1", "sleep"), commandTask("g2", "sleep"))
	m.send(&agentapipb.Event{Type: agentapipb.Event_KILL_TASK.Enum(), KillTask: &agentapipb.Event_KillTask{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(testFrameworkID)},
		TaskId:      &mesospb.TaskID{Value: proto.String("g1")},
	}})
	for _, id := range []string{"g1", "g2"} {
		st := m.waitUpdate(t, id, mesospb.TaskState_TASK_KILLED)
		if st.GetReason() != mesospb.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH ||
			st.GetSource() != mesospb.TaskStatus_SOURCE_AGENT ||
			st.GetMessage() != "A task within the task group was killed before delivery to the executor" ||
			st.GetExecutorId().GetValue() != "dx" {
			t.Errorf("%s: %v", id, st)
		}
	}
}
