package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/containerizer/launcher"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/detector"
)

// leaderOf is the detector's view of a fake master.
func leaderOf(t *testing.T, m *fakeMaster) *detector.Leader {
	t.Helper()
	l, err := detector.Parse(m.addr())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// withDetector makes the agent follow d instead of Config.Master. The test
// owns d: the agent does not close it.
func withDetector(t *testing.T, d detector.Detector) func(*Config) {
	t.Cleanup(func() { _ = d.Close() })
	return func(c *Config) { c.Master, c.Detector = "", d }
}

func reregistrations(m *fakeMaster) []*agentapipb.Call { return m.callsOf(agentapipb.Call_REREGISTER) }

// TestFollowsTheLeadingMaster: the agent registers with the leader the
// detector names; when another master leads, it drops the stream to the
// first at once and re-registers with the second (its ID, frameworks,
// executors and tasks), re-sends its unacknowledged updates there and has
// nothing more to say to the first.
func TestFollowsTheLeadingMaster(t *testing.T) {
	m1, m2 := newFakeMaster(t, 60), newFakeMaster(t, 60)
	m1.setHostname("master1.test")
	m2.setHostname("master2.test")
	det := detector.NewStandalone(leaderOf(t, m1))
	ta := startAgent(t, m1, "normal", withDetector(t, det))

	runTask(m1, customTask("t1", "ex", "sleep"))
	running := m1.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)
	if h := ta.getJSON(t, "/state")["master_hostname"]; h != "master1.test" {
		t.Errorf("/state master_hostname = %v, want master1.test", h)
	}

	det.Appoint(leaderOf(t, m2))
	eventually(t, 5*time.Second, func() bool { return len(reregistrations(m2)) == 1 }, "no REREGISTER with the new leader")
	eventually(t, 5*time.Second, func() bool { return m1.openStreams() == 0 }, "the stream to the old leader is still open")
	rr := reregistrations(m2)[0]
	if rr.GetAgentId().GetValue() != testAgentID || rr.GetReregister().GetAgentInfo().GetId().GetValue() != testAgentID {
		t.Errorf("REREGISTER ids = %v / %v", rr.GetAgentId(), rr.GetReregister().GetAgentInfo().GetId())
	}
	got := rr.GetReregister()
	if len(got.GetFrameworks()) != 1 || len(got.GetExecutors()) != 1 || got.GetExecutors()[0].GetExecutorId().GetValue() != "ex" ||
		len(got.GetTasks()) != 1 || got.GetTasks()[0].GetTaskId().GetValue() != "t1" ||
		got.GetTasks()[0].GetState() != mesospb.TaskState_TASK_RUNNING {
		t.Errorf("REREGISTER = %v", got)
	}
	if n := len(m2.callsOf(agentapipb.Call_REGISTER)); n != 0 {
		t.Errorf("%d REGISTER calls to the new leader, want only REREGISTER", n)
	}
	// The unacknowledged TASK_RUNNING is re-sent to the new leader, on its
	// stream (the fake master refuses calls of other streams).
	eventually(t, 5*time.Second, func() bool { return len(m2.updates("t1")) > 0 }, "update not re-sent to the new leader")
	m1.mu.Lock()
	before := len(m1.calls)
	m1.mu.Unlock()
	if h := ta.getJSON(t, "/state")["master_hostname"]; h != "master2.test" {
		t.Errorf("/state master_hostname = %v, want master2.test", h)
	}

	// The new leader's events are acted on: its acknowledgement ends the
	// retries, its RUN_TASK runs.
	m2.ack("t1", running)
	runTask(m2, customTask("t2", "ex", "sleep"))
	m2.ack("t2", m2.waitUpdate(t, "t2", mesospb.TaskState_TASK_RUNNING))
	// Retries of TASK_RUNNING (every 200ms here) would show by now had the
	// acknowledgement been dropped; none goes to the old leader.
	time.Sleep(500 * time.Millisecond)
	m1.mu.Lock()
	after := len(m1.calls)
	m1.mu.Unlock()
	if after != before {
		t.Errorf("the old leader got %d calls after the agent moved on", after-before)
	}
	if n := len(m1.callsOf(agentapipb.Call_REREGISTER)); n != 0 {
		t.Errorf("%d REREGISTER calls to the old leader", n)
	}
	n := len(m2.updates("t1"))
	time.Sleep(500 * time.Millisecond)
	if got := len(m2.updates("t1")); got != n {
		t.Errorf("TASK_RUNNING still re-sent after the new leader acknowledged it: %d -> %d", n, got)
	}

	// And back: the first master leads again.
	det.Appoint(leaderOf(t, m1))
	eventually(t, 5*time.Second, func() bool { return len(reregistrations(m1)) == 1 }, "no REREGISTER with the first master")
	eventually(t, 5*time.Second, func() bool { return m2.openStreams() == 0 }, "the stream to the second master is still open")
	if tasks := reregistrations(m1)[0].GetReregister().GetTasks(); len(tasks) != 2 {
		t.Errorf("REREGISTER tasks = %v, want t1 and t2", tasks)
	}
}

// TestWaitsForALeader: with no leading master the agent waits (it talks to
// no master and reports none), registers once one is detected, drops the
// stream when the leader is lost and re-registers when it is back.
func TestWaitsForALeader(t *testing.T) {
	m := newFakeMaster(t, 60)
	det := detector.NewStandalone(nil)
	ta := launchAgent(t, m, "normal", withDetector(t, det))

	time.Sleep(300 * time.Millisecond) // 15 times the backoff factor
	m.mu.Lock()
	calls := len(m.calls)
	m.mu.Unlock()
	if calls != 0 {
		t.Fatalf("the agent made %d calls with no leader", calls)
	}
	state := ta.getJSON(t, "/state")
	if h, ok := state["master_hostname"]; ok {
		t.Errorf("/state master_hostname = %v with no leader", h)
	}
	if r := ta.getJSON(t, "/metrics/snapshot")["slave/registered"]; r != 0.0 {
		t.Errorf("slave/registered = %v with no leader", r)
	}

	det.Appoint(leaderOf(t, m))
	eventually(t, 5*time.Second, func() bool { return len(m.callsOf(agentapipb.Call_REGISTER)) == 1 }, "no REGISTER")
	eventually(t, 5*time.Second, func() bool { return ta.getJSON(t, "/metrics/snapshot")["slave/registered"] == 1.0 },
		"not registered")
	if h := ta.getJSON(t, "/state")["master_hostname"]; h != "master.test" {
		t.Errorf("/state master_hostname = %v, want master.test", h)
	}

	det.Appoint(nil)
	eventually(t, 5*time.Second, func() bool { return m.openStreams() == 0 }, "the stream stayed open with no leader")
	eventually(t, 5*time.Second, func() bool { return ta.getJSON(t, "/metrics/snapshot")["slave/registered"] == 0.0 },
		"still registered with no leader")
	if h, ok := ta.getJSON(t, "/state")["master_hostname"]; ok {
		t.Errorf("/state master_hostname = %v after the leader was lost", h)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(reregistrations(m)); n != 0 {
		t.Errorf("%d REREGISTER calls with no leader", n)
	}

	det.Appoint(leaderOf(t, m))
	eventually(t, 5*time.Second, func() bool { return len(reregistrations(m)) == 1 }, "no REREGISTER once the leader is back")
	if id := reregistrations(m)[0].GetAgentId().GetValue(); id != testAgentID {
		t.Errorf("REREGISTER agent_id = %q", id)
	}

	// The agent did not close the detector it was given.
	ta.stop()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := det.Detect(ctx, nil); err != nil {
		t.Errorf("Detect after Serve returned: %v; the agent must not close a detector it was given", err)
	}
}

// TestOwnDetectorClosed: Serve closes the detector New made from --master.
func TestOwnDetectorClosed(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "normal", nil)
	ta.stop()
	if _, err := ta.det.Detect(t.Context(), nil); !errors.Is(err, detector.ErrClosed) {
		t.Errorf("Detect after Serve returned = %v, want ErrClosed", err)
	}
}

// failingDetector fails every detection.
type failingDetector struct{ err error }

func (d failingDetector) Detect(context.Context, *detector.Leader) (*detector.Leader, error) {
	return nil, d.err
}
func (failingDetector) Close() error { return nil }

// TestDetectorFailure: like Mesos's agent ("Failed to detect a master"),
// Serve ends when the detector fails.
func TestDetectorFailure(t *testing.T) {
	m := newFakeMaster(t, 60)
	boom := errors.New("boom")
	ta := launchAgent(t, m, "normal", withDetector(t, failingDetector{boom}))
	select {
	case <-ta.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return when the detector failed")
	}
	if !errors.Is(ta.err, boom) {
		t.Errorf("Serve = %v, want the detector's error", ta.err)
	}
	ta.err = nil // seen
}

// TestMasterValues: --master takes every form the detector does; values it
// refuses are configuration errors.
func TestMasterValues(t *testing.T) {
	cz, err := containerizer.New(t.Context(), containerizer.Config{Launcher: launcher.NewPosix()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cz.Close() })
	newAgent := func(master string) (*Agent, error) {
		return New(Config{Master: master, WorkDir: t.TempDir(), Resources: "cpus:1;mem:128;disk:128;ports:[31000-31001]",
			Containerizer: cz})
	}
	file := filepath.Join(t.TempDir(), "master")
	if err := os.WriteFile(file, []byte("master@10.0.0.1:5050\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"10.0.0.1:5050", "master@10.0.0.1:5050", "http://10.0.0.1:5050", "http://10.0.0.1:5050/",
		"file://" + file} {
		a, err := newAgent(in)
		if err != nil {
			t.Errorf("New(--master=%q): %v", in, err)
			continue
		}
		l, err := a.det.Detect(t.Context(), nil)
		if err != nil || masterEndpoint(l, nil) != "http://10.0.0.1:5050/master/internal/agent" {
			t.Errorf("--master=%q: leader %v (%v), want 10.0.0.1:5050", in, l, err)
		}
		_ = a.det.Close()
	}
	for _, in := range []string{"", "10.0.0.1:notaport", "host:1/path", "file:///does/not/exist"} {
		if _, err := newAgent(in); !errors.Is(err, ErrConfig) {
			t.Errorf("New(--master=%q) = %v, want ErrConfig", in, err)
		}
	}
	// zk:// is the detector's business: the agent takes it exactly when
	// detector.New does.
	const zk = "zk://127.0.0.1:2181/mesos"
	d, derr := detector.New(zk)
	if derr == nil {
		_ = d.Close()
	}
	a, err := newAgent(zk)
	switch {
	case derr != nil && !errors.Is(err, ErrConfig):
		t.Errorf("New(--master=%s) = %v; detector.New said %v", zk, err, derr)
	case derr == nil && err != nil:
		t.Errorf("New(--master=%s) = %v; detector.New accepts it", zk, err)
	case err == nil:
		_ = a.det.Close()
	}
}

func TestOutboundIP(t *testing.T) {
	if got := outboundIP("127.0.0.1:5050"); got != "127.0.0.1" {
		t.Errorf("outboundIP(127.0.0.1:5050) = %q", got)
	}
	if got := outboundIP(""); got != "127.0.0.1" {
		t.Errorf(`outboundIP("") = %q`, got)
	}
}
