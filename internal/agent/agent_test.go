package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/containerizer/launcher"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/recordio"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeExecutorEnv); mode != "" {
		os.Exit(fakeExecutorMain(mode))
	}
	goleak.VerifyTestMain(m)
}

const testAgentID = "11111111-2222-3333-4444-555555555555-S0"

// fakeMaster speaks the agentapi protocol: it accepts REGISTER/REREGISTER,
// streams events and records every call.
type fakeMaster struct {
	t   *testing.T
	srv *httptest.Server
	// pingTimeout is sent in REGISTERED (seconds).
	pingTimeout float64
	// hostname is the MasterInfo.hostname sent in REGISTERED.
	hostname string

	mu       sync.Mutex
	calls    []*agentapipb.Call
	streams  int // streams opened
	open     int // streams open now
	events   chan *agentapipb.Event
	drop     chan struct{} // closed to break the current stream
	streamID string
}

func newFakeMaster(t *testing.T, pingTimeout float64) *fakeMaster {
	m := &fakeMaster{t: t, pingTimeout: pingTimeout, hostname: "master.test", events: make(chan *agentapipb.Event, 100)}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *fakeMaster) addr() string { return m.srv.Listener.Addr().String() }

func (m *fakeMaster) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/master/internal/agent" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	call := &agentapipb.Call{}
	if err := proto.Unmarshal(body, call); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	m.calls = append(m.calls, call)
	streamID := m.streamID
	m.mu.Unlock()
	switch call.GetType() {
	case agentapipb.Call_REGISTER, agentapipb.Call_REREGISTER:
	default:
		if r.Header.Get("Mesos-Stream-Id") != streamID {
			http.Error(w, "bad stream id", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	drop := make(chan struct{})
	id := uuid.NewString()
	m.mu.Lock()
	m.streams++
	m.open++
	m.drop = drop
	m.streamID = id
	hostname := m.hostname
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.open--
		m.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Mesos-Stream-Id", id)
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	write := func(ev *agentapipb.Event) bool {
		b, _ := proto.Marshal(ev)
		if rw.WriteRecord(b) != nil {
			return false
		}
		w.(http.Flusher).Flush()
		return true
	}
	typ := agentapipb.Event_REGISTERED
	if call.GetType() == agentapipb.Call_REREGISTER {
		typ = agentapipb.Event_REREGISTERED
	}
	write(&agentapipb.Event{Type: typ.Enum(), Registered: &agentapipb.Event_Registered{
		AgentId:            &mesospb.AgentID{Value: proto.String(testAgentID)},
		MasterInfo:         &mesospb.MasterInfo{Id: proto.String("m"), Ip: proto.Uint32(0), Port: proto.Uint32(5050), Hostname: proto.String(hostname)},
		PingTimeoutSeconds: proto.Float64(m.pingTimeout),
	}})
	for {
		select {
		case ev := <-m.events:
			if !write(ev) {
				return
			}
		case <-drop:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (m *fakeMaster) send(ev *agentapipb.Event) { m.events <- ev }

func (m *fakeMaster) setHostname(h string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hostname = h
}

// openStreams is how many agent streams the master holds open.
func (m *fakeMaster) openStreams() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open
}

func (m *fakeMaster) dropStream() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.drop != nil {
		close(m.drop)
		m.drop = nil
	}
}

func (m *fakeMaster) callsOf(typ agentapipb.Call_Type) []*agentapipb.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*agentapipb.Call
	for _, c := range m.calls {
		if c.GetType() == typ {
			out = append(out, c)
		}
	}
	return out
}

// updates returns the STATUS_UPDATEs received for a task.
func (m *fakeMaster) updates(taskID string) []*mesospb.TaskStatus {
	var out []*mesospb.TaskStatus
	for _, c := range m.callsOf(agentapipb.Call_STATUS_UPDATE) {
		if st := c.GetStatusUpdate().GetStatus(); st.GetTaskId().GetValue() == taskID {
			out = append(out, st)
		}
	}
	return out
}

// waitUpdate waits for a STATUS_UPDATE of the task in state and returns it.
func (m *fakeMaster) waitUpdate(t *testing.T, taskID string, state mesospb.TaskState) *mesospb.TaskStatus {
	t.Helper()
	var found *mesospb.TaskStatus
	eventually(t, 20*time.Second, func() bool {
		for _, st := range m.updates(taskID) {
			if st.GetState() == state {
				found = st
				return true
			}
		}
		return false
	}, "no %v update for task %s; got %v", state, taskID, func() []string { return states(m.updates(taskID)) })
	return found
}

func (m *fakeMaster) ack(taskID string, st *mesospb.TaskStatus) {
	m.send(&agentapipb.Event{Type: agentapipb.Event_ACKNOWLEDGE_UPDATE.Enum(), AcknowledgeUpdate: &agentapipb.Event_AcknowledgeUpdate{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(testFrameworkID)},
		TaskId:      &mesospb.TaskID{Value: proto.String(taskID)},
		Uuid:        st.GetUuid(),
	}})
}

func states(sts []*mesospb.TaskStatus) []string {
	var out []string
	for _, st := range sts {
		out = append(out, st.GetState().String()+"/"+st.GetReason().String())
	}
	return out
}

func eventually(t *testing.T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			for i, a := range args {
				if f, ok := a.(func() []string); ok {
					args[i] = f()
				}
			}
			t.Fatalf("timed out: "+format, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const testFrameworkID = "11111111-2222-3333-4444-555555555555-0000"

type testAgent struct {
	*Agent
	addr    string
	workDir string
	done    chan struct{} // closed when Serve returned, with err set
	err     error
	cancel  context.CancelFunc
}

// stop ends Serve (as a restart would) and waits for it.
func (ta *testAgent) stop() {
	ta.cancel()
	<-ta.done
}

func startAgent(t *testing.T, m *fakeMaster, mode string, tweak func(*Config)) *testAgent {
	t.Helper()
	ta := launchAgent(t, m, mode, tweak)
	eventually(t, 10*time.Second, func() bool {
		return len(m.callsOf(agentapipb.Call_REGISTER)) > 0
	}, "agent did not register")
	return ta
}

// launchAgent starts an agent of m (or of the Config.Detector tweak sets)
// without waiting for it to register.
func launchAgent(t *testing.T, m *fakeMaster, mode string, tweak func(*Config)) *testAgent {
	t.Helper()
	workDir := t.TempDir()
	cfg := Config{
		Master:                      m.addr(),
		WorkDir:                     workDir,
		Resources:                   "cpus:2;mem:1024;disk:2048;ports:[31000-32000]",
		ExecutorCommand:             []string{os.Args[0]},
		ExecutorRegistrationTimeout: 20 * time.Second,
		ExecutorShutdownGracePeriod: 500 * time.Millisecond,
		RegistrationBackoffFactor:   20 * time.Millisecond,
		StatusUpdateRetryInterval:   200 * time.Millisecond,
		ExecutorEnvironmentVariables: map[string]string{
			fakeExecutorEnv: mode,
			"EXTRA_VAR":     "extra",
		},
		Flags: map[string]string{"work_dir": workDir},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	if cfg.Containerizer == nil {
		// The posix launcher with no isolators: the agent's logic, not
		// isolation, is under test here.
		cz, err := containerizer.New(t.Context(), containerizer.Config{Launcher: launcher.NewPosix()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cz.Close() })
		cfg.Containerizer = cz
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{Agent: a, addr: ln.Addr().String(), workDir: cfg.WorkDir, done: make(chan struct{}), cancel: cancel}
	go func() { ta.err = a.Serve(ctx, ln); close(ta.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ta.done:
			if ta.err != nil && !errors.Is(ta.err, context.Canceled) && !errors.Is(ta.err, ErrShutdown) {
				t.Errorf("Serve: %v", ta.err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	return ta
}

func (ta *testAgent) getJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + ta.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return v
}

func frameworkInfo(checkpoint bool) *mesospb.FrameworkInfo {
	return &mesospb.FrameworkInfo{
		Id:         &mesospb.FrameworkID{Value: proto.String(testFrameworkID)},
		Name:       proto.String("test-framework"),
		User:       proto.String(""),
		Checkpoint: proto.Bool(checkpoint),
	}
}

func commandTask(id, command string) *mesospb.TaskInfo {
	return &mesospb.TaskInfo{
		Name:    proto.String("task " + id),
		TaskId:  &mesospb.TaskID{Value: proto.String(id)},
		AgentId: &mesospb.AgentID{Value: proto.String(testAgentID)},
		// As the master sends them: allocated to the framework's role.
		Resources: []*mesospb.Resource{
			{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(0.5)},
				AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("*")}},
			{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(64)},
				AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("*")}},
		},
		Command: &mesospb.CommandInfo{Value: proto.String(command)},
	}
}

func runTask(m *fakeMaster, task *mesospb.TaskInfo) {
	m.send(&agentapipb.Event{Type: agentapipb.Event_RUN_TASK.Enum(), RunTask: &agentapipb.Event_RunTask{
		FrameworkInfo: frameworkInfo(false), Task: task}})
}

// sandbox returns the run directory of the executor (via runs/latest).
func (ta *testAgent) sandbox(executorID string) string {
	return filepath.Join(ta.workDir, "slaves", testAgentID, "frameworks", testFrameworkID,
		"executors", executorID, "runs", "latest")
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestLaunchStatusUpdatesAndSandbox runs a command task through the fake
// executor: registration, executor environment and sandbox layout, status
// update retry until acknowledged, in-order delivery, completion.
func TestLaunchStatusUpdatesAndSandbox(t *testing.T) {
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", nil)

	reg := m.callsOf(agentapipb.Call_REGISTER)[0].GetRegister()
	if got, want := reg.GetPid(), "slave(1)@"+ta.addr; got != want {
		t.Errorf("REGISTER pid = %q, want %q", got, want)
	}
	if len(reg.GetCapabilities()) != 4 || reg.GetVersion() != Version {
		t.Errorf("REGISTER capabilities %v version %q", reg.GetCapabilities(), reg.GetVersion())
	}
	if reg.GetAgentInfo().GetPort() == 0 || len(reg.GetAgentInfo().GetResources()) != 4 {
		t.Errorf("REGISTER agent_info = %v", reg.GetAgentInfo())
	}
	eventually(t, 5*time.Second, func() bool {
		target, err := os.Readlink(filepath.Join(ta.workDir, "slaves", "latest"))
		return err == nil && target == testAgentID
	}, "slaves/latest does not point at the agent ID")

	runTask(m, commandTask("t1", "exit"))
	running := m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)
	if running.GetAgentId().GetValue() != testAgentID || running.GetExecutorId().GetValue() != "t1" ||
		running.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR || len(running.GetUuid()) != 16 ||
		running.GetContainerStatus().GetContainerId().GetValue() == "" {
		t.Errorf("TASK_RUNNING update = %v", running)
	}
	// Unacknowledged, the head is re-sent (with the same uuid) and the
	// executor's TASK_FINISHED waits behind it.
	eventually(t, 5*time.Second, func() bool {
		n := 0
		for _, st := range m.updates("t1") {
			if bytes.Equal(st.GetUuid(), running.GetUuid()) {
				n++
			}
		}
		return n >= 2
	}, "TASK_RUNNING was not re-sent")
	for _, st := range m.updates("t1") {
		if st.GetState() != mesospb.TaskState_TASK_RUNNING {
			t.Fatalf("update %v sent before TASK_RUNNING was acknowledged", st.GetState())
		}
	}
	if c := m.callsOf(agentapipb.Call_STATUS_UPDATE)[0]; c.GetAgentId().GetValue() != testAgentID ||
		c.GetStatusUpdate().GetFrameworkId().GetValue() != testFrameworkID {
		t.Errorf("STATUS_UPDATE call = %v", c)
	}

	// The sandbox: runs/latest -> container ID, stdout from the executor.
	sandbox := ta.sandbox("t1")
	cid, err := os.Readlink(sandbox)
	if err != nil || uuid.Validate(cid) != nil {
		t.Fatalf("runs/latest = %q, %v; want a container UUID", cid, err)
	}
	realDir := filepath.Join(filepath.Dir(sandbox), cid)
	out := readFile(filepath.Join(sandbox, "stdout"))
	for _, want := range []string{
		"hello from t1",
		"MESOS_FRAMEWORK_ID=" + testFrameworkID,
		"MESOS_EXECUTOR_ID=t1",
		"MESOS_DIRECTORY=" + realDir,
		"MESOS_SANDBOX=" + realDir,
		"MESOS_AGENT_ENDPOINT=" + ta.addr,
		"MESOS_SLAVE_ID=" + testAgentID,
		"MESOS_SLAVE_PID=slave(1)@" + ta.addr,
		"MESOS_CHECKPOINT=0",
		"MESOS_HTTP_COMMAND_EXECUTOR=1",
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=500ms",
		"LIBPROCESS_PORT=0",
		"EXTRA_VAR=extra",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("executor stdout lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(sandbox, "stderr")); err != nil {
		t.Errorf("no stderr file: %v", err)
	}

	// /state while the task runs.
	state := ta.getJSON(t, "/slave(1)/state")
	if state["id"] != testAgentID || state["pid"] != "slave(1)@"+ta.addr || state["master_hostname"] != "master.test" {
		t.Errorf("/state top = id %v pid %v master_hostname %v", state["id"], state["pid"], state["master_hostname"])
	}
	ex := state["frameworks"].([]any)[0].(map[string]any)["executors"].([]any)[0].(map[string]any)
	if ex["directory"] != realDir || ex["container"] != cid || ex["source"] != "t1" ||
		ex["name"] != "Command Executor (Task: t1) (Command: sh -c 'exit')" {
		t.Errorf("/state executor = %v", ex)
	}
	// Mesos's allocatedResources: the executor's own 0.1 cpus and 32 MB,
	// plus its unfinished tasks (none: t1 finished at once).
	if res := ex["resources"].(map[string]any); res["cpus"] != 0.1 || res["mem"] != 32.0 {
		t.Errorf("executor resources = %v, want the command executor's 0.1 cpus + 32 mem", res)
	}
	// The executor sent TASK_FINISHED right away: the agent's view is ahead
	// of what the master has acknowledged.
	if tasks := ex["tasks"].([]any); len(tasks) != 1 || tasks[0].(map[string]any)["state"] != "TASK_FINISHED" {
		t.Errorf("/state tasks = %v", tasks)
	}

	m.ack("t1", running)
	finished := m.waitUpdate(t, "t1", mesospb.TaskState_TASK_FINISHED)
	if c := m.callsOf(agentapipb.Call_STATUS_UPDATE); c[len(c)-1].GetStatusUpdate().GetLatestState() != mesospb.TaskState_TASK_FINISHED {
		t.Errorf("latest_state = %v", c[len(c)-1].GetStatusUpdate().GetLatestState())
	}
	m.ack("t1", finished)
	// The executor exits after the ACKNOWLEDGED of its TASK_FINISHED; the
	// agent completes task, executor and framework (and, as Mesos, tells
	// the master nothing of an executor it generated).
	waitCompleted(t, ta)
	eventually(t, 5*time.Second, func() bool {
		s := ta.getJSON(t, "/state")
		done, _ := s["completed_frameworks"].([]any)
		if len(done) != 1 {
			return false
		}
		exs := done[0].(map[string]any)["completed_executors"].([]any)
		ct := exs[0].(map[string]any)["completed_tasks"].([]any)
		return len(ct) == 1 && ct[0].(map[string]any)["state"] == "TASK_FINISHED"
	}, "task not completed in /state")
	metrics := ta.getJSON(t, "/metrics/snapshot")
	if metrics["slave/registered"] != 1.0 || metrics["slave/tasks_finished"] != 1.0 {
		t.Errorf("metrics: registered %v tasks_finished %v", metrics["slave/registered"], metrics["slave/tasks_finished"])
	}
	// No further retries once acknowledged.
	n := len(m.updates("t1"))
	time.Sleep(500 * time.Millisecond)
	if got := len(m.updates("t1")); got != n {
		t.Errorf("updates kept coming after the acknowledgement: %d -> %d", n, got)
	}
}

// TestReregistration: after the stream breaks, and when no PING arrives in
// time, the agent re-registers with its ID, reports its tasks and re-sends
// unacknowledged updates; PINGs are answered with PONG.
func TestReregistration(t *testing.T) {
	m := newFakeMaster(t, 60)
	startAgent(t, m, "normal", nil)
	runTask(m, commandTask("t1", "sleep"))
	running := m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)

	m.send(&agentapipb.Event{Type: agentapipb.Event_PING.Enum()})
	eventually(t, 5*time.Second, func() bool { return len(m.callsOf(agentapipb.Call_PONG)) == 1 }, "no PONG")
	if c := m.callsOf(agentapipb.Call_PONG)[0]; c.GetAgentId().GetValue() != testAgentID {
		t.Errorf("PONG agent_id = %v", c.GetAgentId())
	}

	before := len(m.updates("t1"))
	m.dropStream()
	eventually(t, 5*time.Second, func() bool { return len(m.callsOf(agentapipb.Call_REREGISTER)) == 1 }, "no REREGISTER")
	rr := m.callsOf(agentapipb.Call_REREGISTER)[0]
	if rr.GetAgentId().GetValue() != testAgentID || rr.GetReregister().GetAgentInfo().GetId().GetValue() != testAgentID {
		t.Errorf("REREGISTER ids = %v / %v", rr.GetAgentId(), rr.GetReregister().GetAgentInfo().GetId())
	}
	got := rr.GetReregister()
	// The command executor is not sent: Mesos's master does not keep the
	// executors agents generate for command tasks.
	if len(got.GetFrameworks()) != 1 || len(got.GetExecutors()) != 0 || len(got.GetTasks()) != 1 ||
		got.GetTasks()[0].GetState() != mesospb.TaskState_TASK_RUNNING {
		t.Errorf("REREGISTER = %v", got)
	}
	// The pending TASK_RUNNING is re-sent on the new stream.
	eventually(t, 5*time.Second, func() bool { return len(m.updates("t1")) > before }, "update not re-sent after re-registration")

	// A master that stops pinging is given up after ping_timeout.
	m.mu.Lock()
	m.pingTimeout = 0.3
	m.mu.Unlock()
	m.dropStream()
	eventually(t, 5*time.Second, func() bool { return len(m.callsOf(agentapipb.Call_REREGISTER)) >= 3 },
		"no re-registration after the ping timeout")
	m.ack("t1", running)
}

// TestShutdownExecutorKillsTree: an executor that ignores SHUTDOWN and
// SIGTERM is destroyed after the grace period, with its child process; its
// task fails with REASON_EXECUTOR_TERMINATED.
func TestShutdownExecutorKillsTree(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "stubborn", nil)
	// A custom executor (with the command task's ID): the master is told
	// of its exit.
	runTask(m, customTask("t1", "t1", "sleep"))
	running := m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)
	m.ack("t1", running)
	var child int
	eventually(t, 5*time.Second, func() bool {
		child, _ = strconv.Atoi(strings.TrimSpace(readFile(filepath.Join(ta.sandbox("t1"), "child.pid"))))
		return child > 0
	}, "no child pid")

	start := time.Now()
	m.send(&agentapipb.Event{Type: agentapipb.Event_SHUTDOWN_EXECUTOR.Enum(), ShutdownExecutor: &agentapipb.Event_ShutdownExecutor{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(testFrameworkID)},
		ExecutorId:  &mesospb.ExecutorID{Value: proto.String("t1")},
	}})
	failed := m.waitUpdate(t, "t1", mesospb.TaskState_TASK_FAILED)
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("executor destroyed after %v, before its 500ms grace", d)
	}
	if failed.GetReason() != mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED || failed.GetSource() != mesospb.TaskStatus_SOURCE_AGENT ||
		failed.GetExecutorId().GetValue() != "t1" || failed.GetAgentId().GetValue() != testAgentID {
		t.Errorf("TASK_FAILED = %v", failed)
	}
	if !strings.Contains(readFile(filepath.Join(ta.sandbox("t1"), "stdout")), "event SHUTDOWN") {
		t.Errorf("executor did not get SHUTDOWN")
	}
	eventually(t, 5*time.Second, func() bool { return len(m.callsOf(agentapipb.Call_EXECUTOR_EXITED)) > 0 }, "no EXECUTOR_EXITED")
	exited := m.callsOf(agentapipb.Call_EXECUTOR_EXITED)
	if len(exited) != 1 || exited[0].GetExecutorExited().GetStatus() != 9 {
		t.Errorf("EXECUTOR_EXITED = %v, want status 9 (SIGKILL)", exited)
	}
	eventually(t, 5*time.Second, func() bool { return !processAlive(child) }, "child %d survived", child)
}

// waitCompleted waits until the agent completed the test framework: its
// last executor ended and was removed.
func waitCompleted(t *testing.T, ta *testAgent) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool {
		done, _ := ta.getJSON(t, "/state")["completed_frameworks"].([]any)
		return len(done) == 1
	}, "the executor did not exit")
}

func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// TestKillRunningTask: KILL_TASK reaches the executor as a KILL event.
func TestKillRunningTask(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "normal", nil)
	runTask(m, commandTask("t1", "sleep"))
	m.ack("t1", m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING))
	m.send(&agentapipb.Event{Type: agentapipb.Event_KILL_TASK.Enum(), KillTask: &agentapipb.Event_KillTask{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(testFrameworkID)},
		TaskId:      &mesospb.TaskID{Value: proto.String("t1")},
	}})
	killed := m.waitUpdate(t, "t1", mesospb.TaskState_TASK_KILLED)
	if killed.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR {
		t.Errorf("TASK_KILLED source = %v", killed.GetSource())
	}
	m.ack("t1", killed)
	waitCompleted(t, ta)
	// Killing an unknown task answers TASK_LOST.
	m.send(&agentapipb.Event{Type: agentapipb.Event_KILL_TASK.Enum(), KillTask: &agentapipb.Event_KillTask{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(testFrameworkID)},
		TaskId:      &mesospb.TaskID{Value: proto.String("nope")},
	}})
	// The framework was removed with its last executor: the kill is ignored.
	time.Sleep(200 * time.Millisecond)
	if u := m.updates("nope"); len(u) != 0 {
		t.Errorf("updates for a kill of an unknown framework's task: %v", states(u))
	}
}

// TestExecutorRegistrationTimeout: an executor that never subscribes is
// destroyed and its task fails with REASON_EXECUTOR_REGISTRATION_TIMEOUT;
// a task killed while queued is TASK_KILLED during launch.
func TestExecutorRegistrationTimeout(t *testing.T) {
	m := newFakeMaster(t, 60)
	startAgent(t, m, "noregister", func(c *Config) { c.ExecutorRegistrationTimeout = 700 * time.Millisecond })
	runTask(m, commandTask("t1", "sleep"))
	task2 := commandTask("t2", "sleep")
	task2.Executor = &mesospb.ExecutorInfo{
		ExecutorId: &mesospb.ExecutorID{Value: proto.String("custom")},
		Command:    &mesospb.CommandInfo{Value: proto.String(os.Args[0]), Shell: proto.Bool(false)},
	}
	task2.Command = nil
	runTask(m, task2)
	m.send(&agentapipb.Event{Type: agentapipb.Event_KILL_TASK.Enum(), KillTask: &agentapipb.Event_KillTask{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(testFrameworkID)},
		TaskId:      &mesospb.TaskID{Value: proto.String("t2")},
	}})
	killed := m.waitUpdate(t, "t2", mesospb.TaskState_TASK_KILLED)
	if killed.GetReason() != mesospb.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH || killed.GetSource() != mesospb.TaskStatus_SOURCE_AGENT {
		t.Errorf("TASK_KILLED = %v", killed)
	}

	failed := m.waitUpdate(t, "t1", mesospb.TaskState_TASK_FAILED)
	if failed.GetReason() != mesospb.TaskStatus_REASON_EXECUTOR_REGISTRATION_TIMEOUT {
		t.Errorf("TASK_FAILED reason = %v (%s)", failed.GetReason(), failed.GetMessage())
	}
	eventually(t, 5*time.Second, func() bool { return len(m.callsOf(agentapipb.Call_EXECUTOR_EXITED)) >= 1 }, "no EXECUTOR_EXITED")
}

// TestCommandExecutor runs a command task through the real built-in command
// executor (`meso executor`).
func TestCommandExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the meso binary")
	}
	bin := testutil.MesoBinary(t)
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "", func(c *Config) { c.ExecutorCommand = []string{bin, "executor"} })
	runTask(m, commandTask("t1", "echo hello-from-task; exit 0"))
	// Acknowledge every update as it comes, as a scheduler would.
	acked := map[string]bool{}
	eventually(t, 20*time.Second, func() bool {
		for _, st := range m.updates("t1") {
			if !acked[string(st.GetUuid())] {
				acked[string(st.GetUuid())] = true
				m.ack("t1", st)
			}
			if st.GetState() == mesospb.TaskState_TASK_FINISHED {
				return true
			}
		}
		return false
	}, "no TASK_FINISHED; got %v\nstdout and stderr:\n%s", func() []string { return states(m.updates("t1")) },
		func() []string {
			return []string{readFile(filepath.Join(ta.sandbox("t1"), "stdout")), readFile(filepath.Join(ta.sandbox("t1"), "stderr"))}
		})
	var seen []string
	for _, st := range m.updates("t1") {
		if n := len(seen); n == 0 || seen[n-1] != st.GetState().String() {
			seen = append(seen, st.GetState().String())
		}
	}
	if strings.Join(seen, ",") != "TASK_STARTING,TASK_RUNNING,TASK_FINISHED" {
		t.Errorf("states = %v", seen)
	}
	if out := readFile(filepath.Join(ta.sandbox("t1"), "stdout")); !strings.Contains(out, "hello-from-task") {
		t.Errorf("task stdout:\n%s", out)
	}
	eventually(t, 10*time.Second, func() bool {
		return strings.Contains(fmt.Sprint(ta.getJSON(t, "/state")["completed_frameworks"]), "executor")
	}, "command executor did not exit")
	// Like Mesos's, the agent does not tell the master about the executors
	// it generates for command tasks.
	if n := len(m.callsOf(agentapipb.Call_EXECUTOR_EXITED)); n != 0 {
		t.Errorf("%d EXECUTOR_EXITED calls for a command executor", n)
	}
}

// TestMasterShutdown: SHUTDOWN from the master shuts every executor down and
// makes Serve return ErrShutdown.
func TestMasterShutdown(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "normal", nil)
	runTask(m, commandTask("t1", "sleep"))
	m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)
	m.send(&agentapipb.Event{Type: agentapipb.Event_SHUTDOWN.Enum(), Shutdown: &agentapipb.Event_Shutdown{Message: proto.String("gone")}})
	select {
	case <-ta.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after SHUTDOWN")
	}
	if !errors.Is(ta.err, ErrShutdown) {
		t.Errorf("Serve = %v, want ErrShutdown", ta.err)
	}
	if !strings.Contains(readFile(filepath.Join(ta.sandbox("t1"), "stdout")), "event SHUTDOWN") {
		t.Errorf("the executor did not get SHUTDOWN")
	}
}
