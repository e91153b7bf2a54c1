package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/meso-project/meso/internal/simulate"
	"github.com/meso-project/meso/internal/testutil"
)

// runSimulate runs the real 'meso simulate' with args (and --json) and
// decodes its summary.
func runSimulate(t *testing.T, args ...string) simulate.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	out, errOut, code := meso(t, ctx, "", append([]string{"simulate", "--json", "--no-progress"}, args...)...)
	var sum simulate.Summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("meso simulate exited %d: summary: %v\nstdout: %s\nstderr: %s", code, err, out, errOut)
	}
	if code != 0 {
		t.Errorf("meso simulate exited %d (errors %q)\nstderr: %s", code, sum.Errors, errOut)
	}
	return sum
}

// checkSummary checks that every task was launched and finished once and
// that the master's books were empty afterwards.
func checkSummary(t *testing.T, sum simulate.Summary, agents, frameworks, tasks int) {
	t.Helper()
	if !sum.Complete || sum.AgentsRegistered != agents || sum.Frameworks != frameworks ||
		sum.TasksLaunched != int64(tasks) || sum.TasksFinished != int64(tasks) || sum.TasksFailed != 0 || len(sum.Errors) > 0 {
		t.Errorf("summary: complete %v, agents %d, frameworks %d, launched %d, finished %d, failed %d, errors %q",
			sum.Complete, sum.AgentsRegistered, sum.Frameworks, sum.TasksLaunched, sum.TasksFinished, sum.TasksFailed, sum.Errors)
	}
	if sum.OfferToRunning.Count != tasks || sum.OfferToRunning.P50 <= 0 || sum.OfferToRunning.Max < sum.OfferToRunning.P99 {
		t.Errorf("offer → RUNNING: %+v, want %d samples", sum.OfferToRunning, tasks)
	}
	// Each task's TASK_RUNNING and TASK_FINISHED, any retries, and the
	// probe's (its last task may be cut short by the end of the run).
	lo := 2*int64(tasks) + sum.StatusUpdateRetries
	if hi := lo + 2*sum.ProbeTasks; sum.StatusUpdates < lo || sum.StatusUpdates > hi {
		t.Errorf("%d status updates sent (%d retries, %d probe tasks, %d streams broken), want %d to %d", sum.StatusUpdates, sum.StatusUpdateRetries, sum.ProbeTasks, sum.AgentStreamBreaks, lo, hi)
	}
	if sum.AllocationRuns == 0 || sum.LaunchedPerSecond <= 0 || sum.FinishedPerSecond <= 0 {
		t.Errorf("allocation runs %d, launched/s %v, finished/s %v", sum.AllocationRuns, sum.LaunchedPerSecond, sum.FinishedPerSecond)
	}
	m := sum.MasterAfter
	if m == nil || m.TasksActive != 0 || m.CPUsUsed != 0 || m.MemUsed != 0 || m.TasksFinished < int64(tasks) {
		t.Errorf("the master's books after the run: %+v", m)
	}
}

// TestSimulate runs 'meso simulate' with its own child master: every task
// ends, the counts add up, and the master's CPU and RSS are measured. The
// agents have room for 1,000 of the 2,000 tasks at once, so the probe
// meets a saturated cluster.
func TestSimulate(t *testing.T) {
	sum := runSimulate(t, "--agents=50", "--agent_resources=cpus:2;mem:2048", "--frameworks=5", "--tasks=2000", "--task_duration=uniform:0s,200ms",
		"--allocation_interval=100ms", "--probe")
	checkSummary(t, sum, 50, 5, 2000)
	if sum.MasterCPUSeconds <= 0 || sum.MasterPeakRSSBytes <= 0 || sum.MasterCPUSecondsRun > sum.MasterCPUSeconds {
		t.Errorf("master CPU %v s (run %v s), peak RSS %d: want them measured", sum.MasterCPUSeconds, sum.MasterCPUSecondsRun, sum.MasterPeakRSSBytes)
	}
	if p := sum.ProbeOfferToRunning; p == nil || p.Count == 0 {
		t.Errorf("probe: %+v, want samples", p)
	}
}

// TestSimulateRemoteMaster drives a master started apart (--master): after
// the run the master's /master/state shows no running task, the
// frameworks torn down and the agents gone, and its metrics count every
// task as finished.
func TestSimulateRemoteMaster(t *testing.T) {
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(testutil.MesoBinary(t), "master", "--ip=127.0.0.1", "--port="+strconv.Itoa(port),
		"--registry=in_memory", "--work_dir="+t.TempDir(), "--allocation_interval=100ms", "--logging_level=WARNING")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	testutil.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "the master to answer /health")

	sum := runSimulate(t, "--master="+addr, "--agents=50", "--frameworks=5", "--tasks=2000",
		"--task_duration=exponential:50ms", "--roles=a,b")
	checkSummary(t, sum, 50, 5, 2000)
	if sum.MasterPeakRSSBytes != 0 {
		t.Errorf("a remote master's RSS was measured: %d", sum.MasterPeakRSSBytes)
	}

	var state struct {
		Frameworks []struct {
			ID    string `json:"id"`
			Tasks []any  `json:"tasks"`
		} `json:"frameworks"`
		CompletedFrameworks []struct {
			ID             string `json:"id"`
			CompletedTasks []any  `json:"completed_tasks"`
		} `json:"completed_frameworks"`
		Slaves []struct {
			ID            string             `json:"id"`
			Active        bool               `json:"active"`
			UsedResources map[string]float64 `json:"used_resources"`
		} `json:"slaves"`
	}
	getJSON(t, "http://"+addr+"/master/state", &state)
	if len(state.Frameworks) != 0 || len(state.CompletedFrameworks) != 5 {
		t.Errorf("%d frameworks, %d completed: want the 5 torn down", len(state.Frameworks), len(state.CompletedFrameworks))
	}
	for _, a := range state.Slaves {
		if a.Active || a.UsedResources["cpus"] != 0 || a.UsedResources["mem"] != 0 {
			t.Errorf("agent %s after the run: active %v, used %v", a.ID, a.Active, a.UsedResources)
		}
	}
	var snap map[string]float64
	getJSON(t, "http://"+addr+"/metrics/snapshot", &snap)
	for name, want := range map[string]float64{
		"master/tasks_finished": 2000, "master/tasks_running": 0, "master/tasks_staging": 0,
		"master/cpus_used": 0, "master/slaves_active": 0,
	} {
		if snap[name] != want {
			t.Errorf("%s = %v, want %v", name, snap[name], want)
		}
	}
}
