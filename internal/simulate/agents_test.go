package simulate

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/builtin"
	"github.com/meso-project/meso/internal/master"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/resources"
	"github.com/meso-project/meso/pkg/scheduler"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// serveMaster serves a real master on loopback until the test ends.
func serveMaster(t *testing.T) string {
	t.Helper()
	alloc, err := builtin.Allocators["HierarchicalDRF"](allocator.Options{AllocationInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m, err := master.New(master.Config{Allocator: alloc, AllocationInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		http.DefaultClient.CloseIdleConnections()
	})
	return ln.Addr().String()
}

// startFleet runs n simulated agents against addr until the test ends.
func startFleet(t *testing.T, addr string, n int, retry time.Duration) *fleet {
	t.Helper()
	res, err := resources.Parse("cpus:2;mem:1024", "*")
	if err != nil {
		t.Fatal(err)
	}
	w := newLeaderWatch()
	w.set(addr)
	f := newFleet(fleetConfig{n: n, resources: res, duration: Distribution{Kind: Constant},
		retry: retry, senders: 4, loopback: true, log: slog.New(slog.DiscardHandler)}, w)
	ctx, cancel := context.WithCancel(context.Background())
	f.start(ctx)
	t.Cleanup(func() {
		cancel()
		f.wait()
	})
	waitFor(t, "agents to register", func() bool { return f.registered.Load() == int64(n) })
	return f
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStatusUpdatesRetriedUntilAcknowledged runs one task on a simulated
// agent under a scheduler that leaves the first TASK_RUNNING
// unacknowledged: the agent re-sends it (the same uuid) and holds the
// TASK_FINISHED back until it is acknowledged, then sends that; once the
// terminal update is acknowledged the agent forgets the task and the
// master's books are empty.
func TestStatusUpdatesRetriedUntilAcknowledged(t *testing.T) {
	addr := serveMaster(t)
	fl := startFleet(t, addr, 1, 200*time.Millisecond)

	l, err := detector.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := scheduler.New(scheduler.Config{
		Detector: detector.NewStandalone(l),
		Framework: &mesospb.FrameworkInfo{User: proto.String("test"), Name: proto.String("retry"), Roles: []string{"*"},
			Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type update struct {
		state        mesospb.TaskState
		uuid, reason string
	}
	updates := make(chan update, 100)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	launched := false
	runningSeen := 0
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(ctx context.Context, ev *schedulerpb.Event) error {
			switch ev.GetType() {
			case schedulerpb.Event_OFFERS:
				for _, o := range ev.GetOffers().GetOffers() {
					if launched {
						if err := c.Call(ctx, scheduler.Decline([]*mesospb.OfferID{o.GetId()}, scheduler.RefuseFor(60))); err != nil {
							return err
						}
						continue
					}
					launched = true
					task := &mesospb.TaskInfo{
						Name:      proto.String("t"),
						TaskId:    &mesospb.TaskID{Value: proto.String("t")},
						Resources: taskResources(map[string]float64{"cpus": 1, "mem": 128}, o.GetAllocationInfo().GetRole()),
						Command:   &mesospb.CommandInfo{Value: proto.String("sleep 0.1")},
					}
					if err := c.Call(ctx, scheduler.LaunchTasks(o, task)); err != nil {
						return err
					}
				}
			case schedulerpb.Event_UPDATE:
				st := ev.GetUpdate().GetStatus()
				updates <- update{st.GetState(), string(st.GetUuid()), st.GetMessage()}
				if st.GetState() == mesospb.TaskState_TASK_RUNNING {
					runningSeen++
					if runningSeen == 1 {
						return nil // not acknowledged: the agent must retry
					}
				}
				if ack := scheduler.Acknowledge(st); ack != nil {
					return c.Call(ctx, ack)
				}
			}
			return nil
		})
	}()

	next := func() update {
		t.Helper()
		select {
		case u := <-updates:
			return u
		case <-time.After(20 * time.Second):
			select {
			case err := <-done:
				t.Fatalf("scheduler ended: %v", err)
			default:
			}
			t.Fatalf("no status update (agent: %d sent, %d errors, last %v; tasks held %d)", fl.updatesSent.Load(), fl.callErrors.Load(), fl.lastErr.Load(), fl.tasksHeld())
			return update{}
		}
	}
	first := next()
	if first.state != mesospb.TaskState_TASK_RUNNING {
		t.Fatalf("first update is %v (%s), want TASK_RUNNING", first.state, first.reason)
	}
	retried := next()
	if retried.state != mesospb.TaskState_TASK_RUNNING || retried.uuid != first.uuid {
		t.Fatalf("second update is %v (same uuid: %v), want the TASK_RUNNING re-sent", retried.state, retried.uuid == first.uuid)
	}
	if fl.retries.Load() == 0 {
		t.Error("the fleet counted no retry")
	}
	finished := next()
	if finished.state != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("third update is %v, want TASK_FINISHED", finished.state)
	}
	waitFor(t, "the agent to forget the task", func() bool { return fl.tasksHeld() == 0 })
	waitFor(t, "the master to free the task's resources", func() bool {
		m, err := metricsSnapshot(t.Context(), addr)
		if err != nil {
			t.Fatal(err)
		}
		return m["master/tasks_running"] == 0 && m["master/cpus_used"] == 0 && m["master/tasks_finished"] == 1
	})
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
}

func TestDistribution(t *testing.T) {
	for _, tc := range []struct {
		in     string
		lo, hi time.Duration
	}{
		{"250ms", 250 * time.Millisecond, 250 * time.Millisecond},
		{"constant:1s", time.Second, time.Second},
		{"uniform:1s,2s", time.Second, 2 * time.Second},
		{"exponential:10ms", 0, time.Hour},
	} {
		d, err := ParseDistribution(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		for range 100 {
			if v := d.Draw(); v < tc.lo || v > tc.hi {
				t.Errorf("%q drew %v, want in [%v, %v]", tc.in, v, tc.lo, tc.hi)
			}
		}
		back, err := ParseDistribution(d.String())
		if err != nil || back != d {
			t.Errorf("%q: String %q parses back to %v, %v", tc.in, d.String(), back, err)
		}
	}
	for _, bad := range []string{"", "uniform:2s", "uniform:2s,1s", "gauss:1s", "constant:-1s"} {
		if _, err := ParseDistribution(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSleepDuration(t *testing.T) {
	d, ok := sleepDuration(&mesospb.CommandInfo{Value: proto.String("sleep 1.5")})
	if !ok || d != 1500*time.Millisecond {
		t.Errorf("sleep 1.5 = %v, %v", d, ok)
	}
	if _, ok := sleepDuration(&mesospb.CommandInfo{Value: proto.String("echo hi")}); ok {
		t.Error("echo hi has a duration")
	}
}

func TestLoadScenario(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	if err := os.WriteFile(path, []byte(`{"agents": 20, "tasks": 500, "roles": ["a", "b"],
		"task_duration": "uniform:1s,2s", "accept_ratio": 0.5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Config{Agents: 1, Frameworks: 7}
	if err := LoadScenario(path, &c); err != nil {
		t.Fatal(err)
	}
	want := Config{Agents: 20, Frameworks: 7, Tasks: 500, Roles: []string{"a", "b"}, AcceptRatio: 0.5,
		TaskDuration: Distribution{Kind: Uniform, A: time.Second, B: 2 * time.Second}}
	if diff := cmp.Diff(want, c, cmpopts.IgnoreUnexported(Config{})); diff != "" {
		t.Errorf("scenario (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(path, []byte(`{"agentz": 20}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := LoadScenario(path, &c); err == nil {
		t.Error("an unknown key was accepted")
	}
}

// Flags for the child master are refused, not ignored, with a running
// master.
func TestMasterFlagsNeedTheChildMaster(t *testing.T) {
	c := Config{Agents: 1, Frameworks: 1, Tasks: 1, Master: "127.0.0.1:5050", MasterFlags: []string{"--offer_timeout=1secs"}}
	if _, err := c.withDefaults(); !errors.Is(err, ErrConfig) {
		t.Fatalf("withDefaults = %v, want ErrConfig", err)
	}
}
