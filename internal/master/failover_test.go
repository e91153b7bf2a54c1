package master

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/internal/registry"
	"github.com/meso-project/meso/pkg/codec"
)

var _ Registrar = (*registry.Registrar)(nil)

// newRegistrar is a real registrar over store, closed with the test.
func newRegistrar(t *testing.T, store registry.Store) *registry.Registrar {
	t.Helper()
	r, err := registry.New(store, registry.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// gatedRegistrar holds every write until the test opens the gate.
type gatedRegistrar struct {
	*registry.Registrar
	mu     sync.Mutex
	gate   chan struct{}
	writes int
}

func (g *gatedRegistrar) ApplyAll(ctx context.Context, ops []registry.Operation) ([]registry.Outcome, error) {
	g.mu.Lock()
	gate := g.gate
	g.writes++
	g.mu.Unlock()
	select {
	case <-gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Registrar.ApplyAll(ctx, ops)
}

func (g *gatedRegistrar) pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.writes
}

// A new agent is admitted in the registry before it hears REGISTERED, and
// an operator's weights are durable before the 200.
func TestRegistryWriteBeforeVisible(t *testing.T) {
	g := &gatedRegistrar{Registrar: newRegistrar(t, registry.NewMemoryStore()), gate: make(chan struct{})}
	h := startMaster(t, func(c *Config) { c.Registrar = g })

	// Even the REGISTER's 200 (the stream's headers) waits for the write.
	agentc := make(chan *testAgent, 1)
	go func() { agentc <- h.openAgent(registerCall(t, "cpus:2;mem:1024", 5051)) }()
	weights := make(chan int, 1)
	go func() {
		code, _ := h.operator(`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"eng","weight":3}]}}`, "")
		weights <- code
	}()
	waitFor(t, func() bool { return g.pending() > 0 })
	select {
	case <-agentc:
		t.Fatalf("agent's REGISTER answered before its admission was durable")
	case code := <-weights:
		t.Fatalf("UPDATE_WEIGHTS answered %d before the weights were durable", code)
	case <-time.After(300 * time.Millisecond):
	}
	if n := len(g.Registry().GetSlaves().GetSlaves()); n != 0 {
		t.Fatalf("registry has %d agents while the write is held", n)
	}
	close(g.gate)
	agent := <-agentc
	id := agent.next(agentapipb.Event_REGISTERED).GetRegistered().GetAgentId().GetValue()
	if code := <-weights; code != http.StatusOK {
		t.Fatalf("UPDATE_WEIGHTS: %d", code)
	}
	reg := g.Registry()
	if n := len(reg.GetSlaves().GetSlaves()); n != 1 || reg.GetSlaves().GetSlaves()[0].GetInfo().GetId().GetValue() != id {
		t.Fatalf("registry agents %v, want %s", reg.GetSlaves(), id)
	}
	if w := reg.GetWeights(); len(w) != 1 || w[0].GetInfo().GetRole() != "eng" || w[0].GetInfo().GetWeight() != 3 {
		t.Fatalf("registry weights %v", w)
	}
}

// A second master on the same store — a failover, or a restart — gets the
// registry: weights, quota and admitted agents. Until an admitted agent
// re-registers, reconciliation of its tasks gets no answer (not TASK_LOST);
// once it is back, its tasks are counted once.
func TestFailoverRecoversRegistry(t *testing.T) {
	store := registry.NewMemoryStore()
	h1 := startMaster(t, func(c *Config) { c.Registrar = newRegistrar(t, store) })
	a1 := h1.registerAgent("cpus:2;mem:1024")
	if code, body := h1.operator(`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"eng","weight":3}]}}`, ""); code != http.StatusOK {
		t.Fatalf("UPDATE_WEIGHTS: %d %s", code, body)
	}
	if code, body := h1.operator(`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"eng","guarantees":{"cpus":{"value":1}}}]}}`, ""); code != http.StatusOK {
		t.Fatalf("UPDATE_QUOTA: %d %s", code, body)
	}
	h1.cancel() // the leader dies

	h2 := startMaster(t, func(c *Config) { c.Registrar = newRegistrar(t, store) })
	if code, body := h2.operator(`{"type":"GET_WEIGHTS"}`, ""); code != http.StatusOK || !strings.Contains(body, `"eng"`) || !strings.Contains(body, `3`) {
		t.Errorf("GET_WEIGHTS after failover: %d %s", code, body)
	}
	if code, body := h2.operator(`{"type":"GET_QUOTA"}`, ""); code != http.StatusOK || !strings.Contains(body, `"eng"`) {
		t.Errorf("GET_QUOTA after failover: %d %s", code, body)
	}
	rec := h2.getJSON("/state")["recovered_slaves"].([]any)
	if len(rec) != 1 || rec[0].(map[string]any)["id"] != a1.id {
		t.Fatalf("recovered_slaves %v, want %s", rec, a1.id)
	}

	// The framework re-subscribes before the agent is back and asks about
	// its task: no answer yet.
	info := fwInfo("fw")
	info.Id = &mesospb.FrameworkID{Value: proto.String("old-0000")}
	sched := h2.subscribe(info, codec.JSON)
	reconcile := &schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{
		Tasks: []*schedulerpb.Call_Reconcile_Task{{TaskId: &mesospb.TaskID{Value: proto.String("t1")},
			AgentId: &mesospb.AgentID{Value: proto.String(a1.id)}}}}}
	sched.mustCall(reconcile)
	select {
	case ev := <-sched.events:
		if ev.GetType() == schedulerpb.Event_UPDATE {
			t.Fatalf("reconciliation answered %v before the agent re-registered", ev.GetUpdate().GetStatus())
		}
	case <-time.After(300 * time.Millisecond):
	}

	// The agent comes back with its running task (and the command
	// executor it does not report).
	task := &mesospb.Task{Name: proto.String("t1"), TaskId: &mesospb.TaskID{Value: proto.String("t1")},
		FrameworkId: info.Id, AgentId: &mesospb.AgentID{Value: proto.String(a1.id)},
		State: mesospb.TaskState_TASK_RUNNING.Enum(), Resources: cpuMem(0.5, 128)}
	for _, r := range task.Resources {
		r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("*")}
	}
	rr := reregisterCall(a1.id, info, task)
	rr.Reregister.AgentInfo = proto.Clone(h1AgentInfo(t, store, a1.id)).(*mesospb.AgentInfo)
	rr.Reregister.Pid = proto.String("slave(1)@127.0.0.1:5051")
	a2 := h2.openAgent(rr)
	a2.next(agentapipb.Event_REREGISTERED)
	if rec := h2.getJSON("/state")["recovered_slaves"].([]any); len(rec) != 0 {
		t.Errorf("recovered_slaves after re-registration: %v", rec)
	}
	sched.mustCall(reconcile)
	var st *mesospb.TaskStatus
	offered := map[string]float64{}
	for st == nil || len(offered) == 0 {
		switch ev := sched.nextAny(); ev.GetType() {
		case schedulerpb.Event_UPDATE:
			st = ev.GetUpdate().GetStatus()
		case schedulerpb.Event_OFFERS:
			for _, o := range ev.GetOffers().GetOffers() {
				for _, r := range o.GetResources() {
					offered[r.GetName()] += r.GetScalar().GetValue()
				}
			}
		}
	}
	if st.GetState() != mesospb.TaskState_TASK_RUNNING || st.GetReason() != mesospb.TaskStatus_REASON_RECONCILIATION {
		t.Fatalf("reconciliation after re-registration: %v", st)
	}
	slaves := h2.getJSON("/state")["slaves"].([]any)
	used := slaves[0].(map[string]any)["used_resources"].(map[string]any)
	if used["cpus"] != 0.5 || used["mem"] != 128.0 {
		t.Errorf("used_resources after re-registration %v, want cpus 0.5 mem 128 (counted once)", used)
	}
	// What is offered is what the task leaves free.
	if offered["cpus"] != 1.5 || offered["mem"] != 896 {
		t.Errorf("offered after re-registration %v, want cpus 1.5 mem 896", offered)
	}
}

// h1AgentInfo is the AgentInfo the registry admitted.
func h1AgentInfo(t *testing.T, store registry.Store, id string) *mesospb.AgentInfo {
	t.Helper()
	r := newRegistrar(t, store)
	reg, err := r.Recover(t.Context(), &mesospb.MasterInfo{Id: proto.String("probe"), Ip: proto.Uint32(1), Port: proto.Uint32(1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range reg.GetSlaves().GetSlaves() {
		if s.GetInfo().GetId().GetValue() == id {
			return s.GetInfo()
		}
	}
	t.Fatalf("agent %s not in the registry", id)
	return nil
}

// Agents of the registry that do not re-register within
// AgentReregisterTimeout are marked unreachable; above
// RecoveryAgentRemovalLimit the master stops instead.
func TestRecoveredAgentsTimeout(t *testing.T) {
	store := registry.NewMemoryStore()
	h1 := startMaster(t, func(c *Config) { c.Registrar = newRegistrar(t, store) })
	a := h1.registerAgent("cpus:1;mem:512")
	h1.registerAgent("cpus:1;mem:512")
	h1.cancel()

	h2 := startMaster(t, func(c *Config) {
		c.Registrar = newRegistrar(t, store)
		c.AgentReregisterTimeout = 300 * time.Millisecond
	})
	if n := len(h2.getJSON("/state")["recovered_slaves"].([]any)); n != 2 {
		t.Fatalf("recovered_slaves: %d, want 2", n)
	}
	waitFor(t, func() bool { return h2.getJSON("/state")["unreachable_slaves"] == 2.0 })
	m := h2.getJSON("/metrics/snapshot")
	if m["master/slave_unreachable_completed"] != 2.0 {
		t.Errorf("master/slave_unreachable_completed = %v", m["master/slave_unreachable_completed"])
	}
	// Reconciliation now answers for the agent's tasks: unreachable.
	info := fwInfo("fw", mesospb.FrameworkInfo_Capability_PARTITION_AWARE)
	sched := h2.subscribe(info, codec.JSON)
	sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: &schedulerpb.Call_Reconcile{
		Tasks: []*schedulerpb.Call_Reconcile_Task{{TaskId: &mesospb.TaskID{Value: proto.String("t")},
			AgentId: &mesospb.AgentID{Value: proto.String(a.id)}}}}})
	if st := sched.waitEvent(schedulerpb.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesospb.TaskState_TASK_UNREACHABLE {
		t.Errorf("reconciliation of a task on an unreachable agent: %v", st)
	}
	h2.cancel()

	// A third master with a 40% limit: two of two agents missing is too
	// many; it stops with an error instead of writing them off.
	limit := 0.4
	store3 := registry.NewMemoryStore()
	seed := newRegistrar(t, store3)
	if _, err := seed.Recover(t.Context(), &mesospb.MasterInfo{Id: proto.String("m0"), Ip: proto.Uint32(1), Port: proto.Uint32(1)}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"S1", "S2"} {
		if _, err := seed.Apply(t.Context(), &registry.AdmitAgent{Info: &mesospb.AgentInfo{Hostname: proto.String("h"),
			Id: &mesospb.AgentID{Value: proto.String(id)}, Port: proto.Int32(5051)}}); err != nil {
			t.Fatal(err)
		}
	}
	m4, err := New(Config{Allocator: newFakeAllocator(), Registrar: newRegistrar(t, store3),
		AgentReregisterTimeout: 100 * time.Millisecond, RecoveryAgentRemovalLimit: &limit})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- m4.Serve(t.Context(), ln) }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "removal limit exceeded") {
			t.Fatalf("Serve = %v, want the removal limit error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the master did not stop when the removal limit was exceeded")
	}
}

// A registry that fails stops the master (Mesos aborts).
func TestRegistryFailureStopsMaster(t *testing.T) {
	r := newRegistrar(t, failingStore{registry.NewMemoryStore()})
	m, err := New(Config{Allocator: newFakeAllocator(), Registrar: r})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- m.Serve(t.Context(), ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrRegistry) {
			t.Fatalf("Serve = %v, want ErrRegistry", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the master kept running on a failed registry")
	}
}

// failingStore reads fine and fails every write.
type failingStore struct{ registry.Store }

func (failingStore) Write(context.Context, []registry.Entry) error {
	return errors.New("disk on fire")
}
