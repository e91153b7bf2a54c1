package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/codec"
)

// TestMesoExecute is the README's promise: `meso execute` against a running
// cluster prints TASK_STARTING, TASK_RUNNING, TASK_FINISHED and exits 0, and
// the sandbox's stdout holds the task's output.
func TestMesoExecute(t *testing.T) {
	c := cluster(t, nil)
	cmd := exec.CommandContext(withTimeout(t, 60*time.Second), testutil.MesoBinary(t), "execute",
		"--master="+c.MasterAddr, "--name=hello", "--command=echo hello from meso")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("meso execute: %v\n%s", err, out)
	}
	text := string(out)
	last := -1
	for _, s := range []string{"TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"} {
		i := strings.Index(text, s)
		if i < 0 || i < last {
			t.Fatalf("output lacks %s in order:\n%s", s, text)
		}
		last = i
	}
	matches, _ := filepath.Glob(filepath.Join(c.AgentWorkDirs[0], "slaves", "latest", "frameworks", "*",
		"executors", "hello", "runs", "latest", "stdout"))
	if len(matches) != 1 {
		t.Fatalf("found sandboxes %v, want one", matches)
	}
	if got := readFile(t, matches[0]); !strings.Contains(got, "hello from meso") {
		t.Errorf("sandbox stdout = %q", got)
	}
}

// TestMesoExecuteFailure: a failing command makes meso execute exit non-zero.
func TestMesoExecuteFailure(t *testing.T) {
	c := cluster(t, nil)
	cmd := exec.CommandContext(withTimeout(t, 60*time.Second), testutil.MesoBinary(t), "execute",
		"--master="+c.MasterAddr, "--name=fails", "--command=exit 3")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("meso execute: err %v, want a non-zero exit\n%s", err, out)
	}
	if !strings.Contains(string(out), "TASK_FAILED") {
		t.Errorf("output lacks TASK_FAILED:\n%s", out)
	}
}

// pidTask is a shell command that records its own pid and a child's, then
// sleeps: killing the task must end both.
const pidTask = `sleep 1000 & echo $! > child.pid; echo $$ > task.pid; wait`

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	testutil.Eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, "pid file %s", path)
	return pid
}

func gone(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return true
	}
	// A zombie waiting to be reaped by a process outside the task is gone
	// for our purposes; read its state.
	b, rerr := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if rerr != nil {
		return true
	}
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] == "Z"
}

// TestKillRunningTask: killing a running sleep ends in TASK_KILLED within
// the grace period, with no process of the task left.
func TestKillRunningTask(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.Protobuf, frameworkInfo("killer"))
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	s.launch(offer, "sleeper", pidTask, taskResources("*", 0.1, 32))
	waitFor(t, s, mesospb.TaskState_TASK_RUNNING)
	dir := sandbox(t, c, s.fwID.GetValue(), "sleeper")
	taskPid, childPid := readPid(t, dir+"/task.pid"), readPid(t, dir+"/child.pid")

	start := time.Now()
	s.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_KILL.Enum(),
		Kill: &schedulerpb.Call_Kill{TaskId: &mesospb.TaskID{Value: proto.String("sleeper")}, AgentId: offer.GetAgentId()},
	})
	st := waitFor(t, s, mesospb.TaskState_TASK_KILLED)
	// Default grace is 3 s; allow for scheduling on a loaded machine.
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("TASK_KILLED after %v, want within the 3s grace period", d)
	}
	if st.GetState() != mesospb.TaskState_TASK_KILLED {
		t.Fatalf("state %v", st.GetState())
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return gone(taskPid) && gone(childPid) },
		"task processes %d and %d still alive after TASK_KILLED", taskPid, childPid)
}

// waitFor acknowledges updates until one has state want; it fails on any
// other terminal state.
func waitFor(t *testing.T, s *scheduler, want mesospb.TaskState) *mesospb.TaskStatus {
	t.Helper()
	for {
		st := s.update(true, 30*time.Second)
		if st.GetState() == want {
			return st
		}
		switch st.GetState() {
		case mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_KILLING:
		default:
			t.Fatalf("task %s ended %v (%s), want %v", st.GetTaskId().GetValue(), st.GetState(), st.GetMessage(), want)
		}
	}
}

// TestFrameworkFailoverKeepsTasks: a scheduler that disconnects and
// re-subscribes with its FrameworkID within failover_timeout keeps its tasks.
func TestFrameworkFailoverKeepsTasks(t *testing.T) {
	c := cluster(t, nil)
	info := frameworkInfo("comes-back")
	info.FailoverTimeout = proto.Float64(60)
	s := subscribe(t, c.MasterAddr, codec.JSON, info)
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	s.launch(offer, "keeper", pidTask, taskResources("*", 0.1, 32))
	waitFor(t, s, mesospb.TaskState_TASK_RUNNING)
	keeperPid := readPid(t, sandbox(t, c, s.fwID.GetValue(), "keeper")+"/task.pid")
	s.close()

	info.Id = s.fwID
	s2 := subscribe(t, c.MasterAddr, codec.JSON, info)
	if s2.fwID.GetValue() != s.fwID.GetValue() {
		t.Fatalf("re-subscribed as %s, want %s", s2.fwID.GetValue(), s.fwID.GetValue())
	}
	s2.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{}})
	st := s2.update(false, 10*time.Second)
	if st.GetTaskId().GetValue() != "keeper" || st.GetState() != mesospb.TaskState_TASK_RUNNING {
		t.Fatalf("reconciliation after re-subscribe: %v %v, want keeper TASK_RUNNING", st.GetTaskId().GetValue(), st.GetState())
	}
	if gone(keeperPid) {
		t.Fatal("task of a framework that came back in time was killed")
	}
}

// TestFailoverTimeoutTearsDown: a scheduler that does not come back within
// failover_timeout is torn down and its tasks are killed.
func TestFailoverTimeoutTearsDown(t *testing.T) {
	c := cluster(t, nil)
	info2 := frameworkInfo("leaves")
	info2.FailoverTimeout = proto.Float64(1)
	l := subscribe(t, c.MasterAddr, codec.JSON, info2)
	lo := l.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	l.launch(lo, "orphan", pidTask, taskResources("*", 0.1, 32))
	waitFor(t, l, mesospb.TaskState_TASK_RUNNING)
	orphanPid := readPid(t, sandbox(t, c, l.fwID.GetValue(), "orphan")+"/task.pid")
	l.close()

	testutil.Eventually(t, 20*time.Second, func() bool { return gone(orphanPid) },
		"task %d of a torn-down framework still alive", orphanPid)
	testutil.Eventually(t, 10*time.Second, func() bool {
		return completedFramework(t, c.MasterAddr, l.fwID.GetValue())
	}, "framework %s not in completed_frameworks", l.fwID.GetValue())
}

func completedFramework(t *testing.T, addr, id string) bool {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var state struct {
		Completed []struct {
			ID string `json:"id"`
		} `json:"completed_frameworks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
		t.Fatalf("decoding /master/state: %v", err)
	}
	for _, f := range state.Completed {
		if f.ID == id {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
