package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
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
	"github.com/meso-project/meso/pkg/taskstate"
)

// rig is a master and one agent run as real `meso` processes on loopback,
// so that the agent can be killed with SIGKILL and started again on the
// same --work_dir and port, as an operator would.
type rig struct {
	t          *testing.T
	bin        string
	master     string // host:port
	agentPort  int
	workDir    string
	agent      *agentProc
	agentLog   string
	agentStart int
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, bin: testutil.MesoBinary(t), agentPort: freePort(t), workDir: t.TempDir()}
	port := freePort(t)
	r.master = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logf, err := os.Create(filepath.Join(t.TempDir(), "master.log"))
	if err != nil {
		t.Fatal(err)
	}
	m := exec.Command(r.bin, "master", "--ip=127.0.0.1", "--port="+strconv.Itoa(port),
		"--work_dir="+t.TempDir(), "--allocation_interval=100ms")
	m.Stdout, m.Stderr = logf, logf
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = m.Process.Kill()
		_ = m.Wait()
		logf.Close()
	})
	// The executors of a checkpointing framework outlive the agent on
	// purpose; the last agent cleans them up.
	t.Cleanup(r.cleanup)
	return r
}

// agentProc is one run of `meso agent`; exited is closed once it ended.
type agentProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startAgent starts `meso agent` (posix launcher: the tests run the same
// everywhere) with extra flags.
func (r *rig) startAgent(extra ...string) *agentProc {
	r.t.Helper()
	r.agentStart++
	r.agentLog = filepath.Join(r.workDir, fmt.Sprintf("agent-%d.log", r.agentStart))
	logf, err := os.Create(r.agentLog)
	if err != nil {
		r.t.Fatal(err)
	}
	args := append([]string{"agent", "--master=" + r.master, "--ip=127.0.0.1",
		"--port=" + strconv.Itoa(r.agentPort), "--work_dir=" + r.workDir,
		"--resources=cpus:64;mem:65536;disk:10000;ports:[31000-32000]",
		"--launcher=posix", "--isolation=posix/cpu,posix/mem",
		"--registration_backoff_factor=10ms"}, extra...)
	cmd := exec.Command(r.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	p := &agentProc{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.exited) }()
	r.agent = p
	return p
}

// kill9 kills the agent as a crash would.
func (r *rig) kill9() {
	r.t.Helper()
	if r.agent == nil {
		return
	}
	_ = r.agent.cmd.Process.Signal(syscall.SIGKILL)
	<-r.agent.exited
	r.agent = nil
}

func (r *rig) logTail() string {
	b, _ := os.ReadFile(r.agentLog)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// cleanup kills whatever executors are left: a last agent with
// --recover=cleanup does it the way an operator would.
func (r *rig) cleanup() {
	r.kill9()
	p := r.startAgent("--recover=cleanup")
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
	}
	r.agent = nil
}

type masterState struct {
	Slaves []struct {
		ID     string `json:"id"`
		Active bool   `json:"active"`
	} `json:"slaves"`
	Frameworks []struct {
		Tasks []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"tasks"`
	} `json:"frameworks"`
}

func (r *rig) state() masterState {
	var st masterState
	resp, err := http.Get("http://" + r.master + "/master/state")
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	_ = decodeJSON(resp.Body, &st)
	return st
}

// waitAgent waits until exactly one agent is registered and active and
// returns its ID.
func (r *rig) waitAgent(timeout time.Duration) string {
	r.t.Helper()
	var id string
	testutil.Eventually(r.t, timeout, func() bool {
		st := r.state()
		if len(st.Slaves) == 1 && st.Slaves[0].Active {
			id = st.Slaves[0].ID
			return true
		}
		return false
	}, "no single active agent in /master/state; agent log:\n%s", r.logTail())
	return id
}

func (r *rig) agentMetric(name string) float64 {
	var m map[string]float64
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(r.agentPort) + "/metrics/snapshot")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	if decodeJSON(resp.Body, &m) != nil {
		return -1
	}
	return m[name]
}

func checkpointingFramework(name string) *mesospb.FrameworkInfo {
	info := frameworkInfo(name)
	info.Checkpoint = proto.Bool(true)
	info.FailoverTimeout = proto.Float64(3600)
	return info
}

// launchMany launches n tasks of command over the offers that come, and
// returns their IDs.
func launchMany(t *testing.T, s *scheduler, prefix string, n int, command string) []string {
	t.Helper()
	var ids []string
	for len(ids) < n {
		offers := s.next(schedulerpb.Event_OFFERS, 15*time.Second).GetOffers().GetOffers()
		for _, o := range offers {
			cpus, mem := 0.0, 0.0
			for _, res := range o.GetResources() {
				switch res.GetName() {
				case "cpus":
					cpus += res.GetScalar().GetValue()
				case "mem":
					mem += res.GetScalar().GetValue()
				}
			}
			var tasks []*mesospb.TaskInfo
			for len(ids) < n && cpus >= 0.1 && mem >= 32 {
				id := fmt.Sprintf("%s-%04d", prefix, len(ids))
				tasks = append(tasks, &mesospb.TaskInfo{
					Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
					AgentId: o.GetAgentId(), Resources: taskResources("*", 0.01, 32),
					Command: &mesospb.CommandInfo{Value: proto.String(command)},
				})
				ids = append(ids, id)
				cpus -= 0.01
				mem -= 32
			}
			s.launchTasks(o, tasks...)
		}
	}
	return ids
}

// updateLog checks the status updates a scheduler gets: none delivered
// again after the scheduler acknowledged it.
type updateLog struct {
	t *testing.T
	// resendOK: an update may come again (an acknowledgement still on its
	// way when the agent died is not checkpointed: Mesos re-sends, at
	// least once).
	resendOK bool
	acked    map[string]bool // uuids
	states   map[string]mesospb.TaskState
	// terminal holds the distinct terminal states each task reached.
	terminal map[string]map[mesospb.TaskState]bool
}

func newUpdateLog(t *testing.T) *updateLog {
	return &updateLog{t: t, acked: map[string]bool{}, states: map[string]mesospb.TaskState{},
		terminal: map[string]map[mesospb.TaskState]bool{}}
}

// take waits for the next update, records it and acknowledges it.
func (l *updateLog) take(s *scheduler, timeout time.Duration) *mesospb.TaskStatus {
	l.t.Helper()
	st := s.next(schedulerpb.Event_UPDATE, timeout).GetUpdate().GetStatus()
	id := st.GetTaskId().GetValue()
	if u := string(st.GetUuid()); u != "" {
		if l.acked[u] && !l.resendOK {
			l.t.Errorf("task %s: update %v delivered again after its acknowledgement", id, st.GetState())
		}
		l.acked[u] = true
		s.ack(st)
	}
	l.states[id] = st.GetState()
	if taskstate.IsTerminal(st.GetState()) {
		if l.terminal[id] == nil {
			l.terminal[id] = map[mesospb.TaskState]bool{}
		}
		l.terminal[id][st.GetState()] = true
	}
	return st
}

func sandboxOf(workDir, agentID, fwID, taskID string) string {
	return filepath.Join(workDir, "slaves", agentID, "frameworks", fwID, "executors", taskID, "runs", "latest")
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// A zombie (state Z) has ended.
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

// TestAgentRestartKeepsTasks: an agent killed with SIGKILL while 50 tasks
// of a checkpointing framework run comes back with the same agent ID, the
// same task processes and every task TASK_RUNNING at the master, ten times
// over; no update is lost or delivered again. A last start with
// --recover=cleanup kills the tasks, and the next agent reports them
// terminal.
func TestAgentRestartKeepsTasks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real agents 12 times")
	}
	const n, restarts = 50, 10
	r := newRig(t)
	r.startAgent()
	agentID := r.waitAgent(20 * time.Second)
	s := subscribe(t, r.master, codec.Protobuf, checkpointingFramework("survivor"))
	log := newUpdateLog(t)
	ids := launchMany(t, s, "keep", n, `echo $$ > task.pid; exec sleep 600`)
	for running := 0; running < n; {
		if st := log.take(s, 60*time.Second); st.GetState() == mesospb.TaskState_TASK_RUNNING {
			running++
		} else if taskstate.IsTerminal(st.GetState()) {
			t.Fatalf("task %s ended %v: %s", st.GetTaskId().GetValue(), st.GetState(), st.GetMessage())
		}
	}
	pids := map[string]int{}
	for _, id := range ids {
		path := filepath.Join(sandboxOf(r.workDir, agentID, s.fwID.GetValue(), id), "task.pid")
		testutil.Eventually(t, 10*time.Second, func() bool {
			b, err := os.ReadFile(path)
			pids[id], _ = strconv.Atoi(strings.TrimSpace(string(b)))
			return err == nil && pids[id] > 0
		}, "task %s wrote no pid", id)
	}

	for i := range restarts {
		// Every acknowledgement has reached the agent's checkpoints.
		testutil.Eventually(t, 10*time.Second, func() bool { return r.agentMetric("slave/status_updates_pending") == 0 },
			"updates still pending at the agent")
		r.kill9()
		restarted := time.Now()
		r.startAgent()
		// The new agent itself says it is registered, with every executor
		// back (the master may not have noticed the old one is gone yet).
		testutil.Eventually(t, 10*time.Second, func() bool {
			return r.agentMetric("slave/registered") == 1 && r.agentMetric("slave/executors_running") == n
		}, "restart %d: the agent did not re-register with its %d executors; agent log:\n%s", i, n, r.logTail())
		if id := r.waitAgent(10 * time.Second); id != agentID {
			t.Fatalf("restart %d: agent ID %s, want %s", i, id, agentID)
		}
		testutil.Eventually(t, 10*time.Second, func() bool {
			st := r.state()
			running := 0
			for _, fw := range st.Frameworks {
				for _, task := range fw.Tasks {
					if task.State == "TASK_RUNNING" {
						running++
					}
				}
			}
			return running == n
		}, "restart %d: not every task TASK_RUNNING at the master; agent log:\n%s", i, r.logTail())
		t.Logf("restart %d: agent re-registered with %d running tasks %v after the restart", i, n, time.Since(restarted).Round(time.Millisecond))
		for _, id := range ids {
			if !alive(pids[id]) {
				t.Fatalf("restart %d: task %s's process %d is gone", i, id, pids[id])
			}
		}
		// Nothing but re-sent-free silence: any update now is a bug.
		select {
		case ev := <-s.events:
			if ev.GetType() == schedulerpb.Event_UPDATE {
				st := ev.GetUpdate().GetStatus()
				t.Fatalf("restart %d: unexpected update %v for %s: %s", i, st.GetState(), st.GetTaskId().GetValue(), st.GetMessage())
			}
		default:
		}
	}

	// --recover=cleanup kills the executors and their tasks and exits; the
	// agent after it tells the framework.
	r.kill9()
	cleanup := r.startAgent("--recover=cleanup")
	select {
	case <-cleanup.exited:
		r.agent = nil
	case <-time.After(30 * time.Second):
		t.Fatalf("the --recover=cleanup agent did not exit; log:\n%s", r.logTail())
	}
	for _, id := range ids {
		if alive(pids[id]) {
			t.Errorf("task %s's process %d survived --recover=cleanup", id, pids[id])
		}
	}
	r.startAgent()
	for len(log.terminal) < n {
		st := log.take(s, 60*time.Second)
		if !taskstate.IsTerminal(st.GetState()) {
			t.Errorf("task %s: %v after cleanup, want a terminal state", st.GetTaskId().GetValue(), st.GetState())
		}
	}
	for id, states := range log.terminal {
		if len(states) != 1 || !states[mesospb.TaskState_TASK_FAILED] {
			t.Errorf("task %s ended %v, want TASK_FAILED only", id, states)
		}
	}
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// TestAgentCrashDuringBurst: an agent killed with SIGKILL in the middle of
// a burst of 1,000 short tasks of a checkpointing framework, and started
// again: every task reaches exactly one terminal state at the framework.
func TestAgentCrashDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 1,000 tasks")
	}
	const n = 1000
	r := newRig(t)
	r.startAgent()
	r.waitAgent(20 * time.Second)
	s := subscribe(t, r.master, codec.Protobuf, checkpointingFramework("burst"))
	log := newUpdateLog(t)
	log.resendOK = true
	ids := launchMany(t, s, "burst", n, "true")
	for len(log.terminal) < n/4 {
		log.take(s, 60*time.Second)
	}
	r.kill9()
	t.Logf("killed the agent with %d of %d tasks ended", len(log.terminal), n)
	r.startAgent()
	deadline := time.Now().Add(3 * time.Minute)
	for len(log.terminal) < n && time.Now().Before(deadline) {
		log.take(s, time.Until(deadline))
	}
	counts := map[mesospb.TaskState]int{}
	for _, id := range ids {
		states := log.terminal[id]
		if len(states) != 1 {
			t.Errorf("task %s reached terminal states %v, want exactly one", id, states)
		}
		for st := range states {
			counts[st]++
		}
	}
	t.Logf("terminal states: %v", counts)
}
