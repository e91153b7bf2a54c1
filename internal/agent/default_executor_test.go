package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/internal/testutil"
)

// startDefaultExecutorAgent starts an agent running the real built-in
// executors (`meso executor`, `meso default-executor`) in the posix
// containerizer.
func startDefaultExecutorAgent(t *testing.T, m *fakeMaster) *testAgent {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the meso binary")
	}
	bin := testutil.MesoBinary(t)
	return startAgent(t, m, "", func(c *Config) {
		c.ExecutorCommand = []string{bin, "executor"}
		c.DefaultExecutorCommand = []string{bin, "default-executor", "--launcher_dir=" + filepath.Dir(bin)}
	})
}

// TestDefaultExecutorGroupFinishes: a task group of three runs in the
// default executor, each task in a container nested under the executor's,
// and all three reach TASK_FINISHED; the sandbox is laid out as Mesos's
// (containers/<id> per task, tasks/<task id> linking to it).
func TestDefaultExecutorGroupFinishes(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startDefaultExecutorAgent(t, m)
	runTaskGroup(m, defaultExecutorInfo("dx"),
		commandTask("t1", "echo out-of-t1"), commandTask("t2", "echo out-of-t2"), commandTask("t3", "sleep 0.3"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("executor stderr:\n%s", readFile(filepath.Join(ta.sandbox("dx"), "stderr")))
		}
	})
	for _, id := range []string{"t1", "t2", "t3"} {
		st := waitAcked(t, m, id, mesospb.TaskState_TASK_FINISHED)
		if st.GetMessage() != "Command exited with status 0" || st.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR {
			t.Errorf("%s: %s from %s (%q)", id, st.GetState(), st.GetSource(), st.GetMessage())
		}
		cid := st.GetContainerStatus().GetContainerId()
		if cid.GetParent() == nil || cid.GetParent().GetParent() != nil {
			t.Errorf("%s container_id %v, want one nested under the executor's", id, cid)
		}
		if len(st.GetContainerStatus().GetNetworkInfos()) == 0 {
			t.Errorf("%s container_status without network_infos: %v", id, st.GetContainerStatus())
		}
	}
	sandbox := ta.sandbox("dx")
	for _, id := range []string{"t1", "t2"} {
		out := readFile(filepath.Join(sandbox, "tasks", id, "stdout"))
		if !strings.Contains(out, "out-of-"+id) {
			t.Errorf("tasks/%s/stdout = %q", id, out)
		}
		link, err := os.Readlink(filepath.Join(sandbox, "tasks", id))
		if err != nil || filepath.Base(filepath.Dir(link)) != "containers" {
			t.Errorf("tasks/%s -> %q (%v), want containers/<container id>", id, link, err)
		}
	}
}

// TestDefaultExecutorFailureKillsGroup: when one task of the group fails,
// the default executor kills the others: the framework sees the failure
// (TASK_FAILED, "Command exited with status 3") and the others TASK_KILLED
// ("Command terminated with signal Terminated"), as from Mesos.
func TestDefaultExecutorFailureKillsGroup(t *testing.T) {
	m := newFakeMaster(t, 60)
	startDefaultExecutorAgent(t, m)
	runTaskGroup(m, defaultExecutorInfo("dx"),
		commandTask("bad", "sleep 0.5; exit 3"), commandTask("a", "sleep 60"), commandTask("b", "sleep 60"))
	bad := waitAcked(t, m, "bad", mesospb.TaskState_TASK_FAILED)
	if bad.GetMessage() != "Command exited with status 3" {
		t.Errorf("bad: %q", bad.GetMessage())
	}
	for _, id := range []string{"a", "b"} {
		st := waitAcked(t, m, id, mesospb.TaskState_TASK_KILLED)
		if st.GetMessage() != "Command terminated with signal Terminated" || st.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR {
			t.Errorf("%s: %s (%q)", id, st.GetSource(), st.GetMessage())
		}
	}
}

// TestDefaultExecutorKillAndHealthCheck: KILL_TASK of one task of a group
// kills it and, as Mesos's default executor does, the rest of its group;
// a task whose COMMAND health check (run in a check container nested under
// the task's) fails is killed with healthy:false.
func TestDefaultExecutorKillAndHealthCheck(t *testing.T) {
	m := newFakeMaster(t, 60)
	startDefaultExecutorAgent(t, m)
	ex := defaultExecutorInfo("dx")
	runTaskGroup(m, ex, commandTask("k1", "sleep 60"), commandTask("k2", "sleep 60"))
	waitAcked(t, m, "k1", mesospb.TaskState_TASK_RUNNING)
	waitAcked(t, m, "k2", mesospb.TaskState_TASK_RUNNING)
	m.send(&agentapipb.Event{Type: agentapipb.Event_KILL_TASK.Enum(), KillTask: &agentapipb.Event_KillTask{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(testFrameworkID)},
		TaskId:      &mesospb.TaskID{Value: proto.String("k1")},
	}})
	for _, id := range []string{"k1", "k2"} {
		if st := waitAcked(t, m, id, mesospb.TaskState_TASK_KILLED); st.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR {
			t.Errorf("%s killed by %s (%q)", id, st.GetSource(), st.GetMessage())
		}
	}

	sick := commandTask("sick", "sleep 60")
	sick.HealthCheck = &mesospb.HealthCheck{
		Type:                mesospb.HealthCheck_COMMAND.Enum(),
		Command:             &mesospb.CommandInfo{Value: proto.String("exit 1")},
		DelaySeconds:        proto.Float64(0),
		IntervalSeconds:     proto.Float64(0.2),
		GracePeriodSeconds:  proto.Float64(0),
		ConsecutiveFailures: proto.Uint32(1),
	}
	runTaskGroup(m, defaultExecutorInfo("dx2"), sick)
	st := waitAcked(t, m, "sick", mesospb.TaskState_TASK_KILLED)
	if st.Healthy == nil || st.GetHealthy() {
		t.Errorf("sick ended %s healthy=%v (%q), want healthy:false", st.GetState(), st.Healthy, st.GetMessage())
	}
	var sawUnhealthy bool
	for _, u := range m.updates("sick") {
		sawUnhealthy = sawUnhealthy || (u.GetReason() == mesospb.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED && !u.GetHealthy())
	}
	if !sawUnhealthy {
		t.Errorf("no healthy:false TASK_RUNNING update; got %v", states(m.updates("sick")))
	}
}

// TestDefaultExecutorCheck: a task's COMMAND check runs in a check
// container nested under the task's; its result reaches the framework as
// TASK_RUNNING with check_status (which the agent validates) and
// REASON_TASK_CHECK_STATUS_UPDATED.
func TestDefaultExecutorCheck(t *testing.T) {
	m := newFakeMaster(t, 60)
	startDefaultExecutorAgent(t, m)
	tk := commandTask("checked", "sleep 0.5")
	tk.Check = &mesospb.CheckInfo{
		Type:            mesospb.CheckInfo_COMMAND.Enum(),
		Command:         &mesospb.CheckInfo_Command{Command: &mesospb.CommandInfo{Value: proto.String("exit 3")}},
		DelaySeconds:    proto.Float64(0),
		IntervalSeconds: proto.Float64(0.1),
	}
	runTaskGroup(m, defaultExecutorInfo("dx"), tk)
	waitAcked(t, m, "checked", mesospb.TaskState_TASK_FINISHED)
	var checked *mesospb.TaskStatus
	for _, u := range m.updates("checked") {
		if u.GetReason() == mesospb.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED {
			checked = u
		}
		if u.GetCheckStatus().GetType() != mesospb.CheckInfo_COMMAND {
			t.Errorf("%s update without a COMMAND check_status", u.GetState())
		}
	}
	if checked == nil || checked.GetCheckStatus().GetCommand().GetExitCode() != 3 {
		t.Errorf("check update %v; got %v", checked, states(m.updates("checked")))
	}
}
