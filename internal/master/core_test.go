//go:build linux

// The real allocator comes from internal/builtin, which is Linux-only.

package master

// The core harness: the master's *state driven directly from the test
// goroutine — no HTTP server, no Serve, no loop goroutine — against the
// real allocator of the composition table (internal/builtin) and a real
// in-memory registry. scenario_test.go reads scenario files and turns
// their commands into calls on a coreHarness.
//
// How it stands in for what run and the HTTP edge do:
//
//   - The test goroutine is the actor loop. It calls the state methods
//     (registerAgent, subscribe, schedulerCall, agentCall, allocate,
//     pingAgents, recoveredAgentsTimeout, ...) itself, one command at a
//     time.
//   - The registry is real (registry.New over a MemoryStore), so a master
//     failover recovers exactly what the old master made durable. Its
//     writer goroutine ends each batch with m.post, i.e. a request on
//     m.reqs; after every command the harness "settles": it receives those
//     requests and runs them as run would (fn, then answer) until no
//     registry write is queued or in flight. Registry continuations
//     therefore run in the order the loop would run them, before the next
//     command, and what the command produced is visible (durable) when the
//     harness drains the outboxes. Nothing else posts to m.reqs here: the
//     timers the state arms (offer timeout, failover timeout, the
//     recovered-agents timer, registry GC) are either disabled by the
//     config or set so far out that they never fire during a test; the
//     scenario triggers what they would do with explicit commands
//     (recovered-timeout, ping, tick).
//   - Allocation runs only on an explicit allocate command: the harness
//     never looks at allocationPending (run allocates after every request
//     when it is set, and every AllocationInterval).
//   - Time is a fake clock (Config.Now), moved by tick.
//   - Agents and schedulers are small models (coreAgent, coreFramework)
//     that read their outboxes (take) after every command and react as a
//     real agent or scheduler would: an agent remembers the tasks it was
//     asked to run and reports them when it re-registers, answers PINGs
//     unless partitioned; a scheduler remembers its offers and the uuid of
//     each task's latest update. When an outbox is closed, the harness does
//     what the HTTP edge does when a stream ends (agentDisconnected,
//     schedulerDisconnected).
//   - The allocator is wrapped in a ledger (ledgerAllocator) that records
//     what the master told it each framework holds on each agent, so that
//     the state command can compare the allocator's books with the tasks
//     and offers /state reports, and flag a recovery of resources the
//     framework does not hold (a double recovery).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/builtin"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/internal/registry"
	"github.com/meso-project/meso/pkg/resources"
	"github.com/meso-project/meso/pkg/taskstate"
)

// coreEpoch is the fake clock's start; times are printed relative to it.
var coreEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// coreFarFuture stands for the timers the harness replaces with explicit
// commands: long enough never to fire during a test.
const coreFarFuture = 100000 * time.Hour

// coreSettleTimeout bounds how long the harness waits for the registry
// writer; a real in-memory write takes microseconds.
const coreSettleTimeout = 10 * time.Second

// coreMaster is one master incarnation: a Master whose state the harness
// drives, with its own allocator and registrar over the shared store.
type coreMaster struct {
	m      *Master
	st     *state
	ledger *ledgerAllocator
	reg    *registry.Registrar
	cancel context.CancelFunc
}

// coreHarness drives the master core of one scenario.
type coreHarness struct {
	t       *testing.T
	now     time.Time
	store   *registry.MemoryStore
	weights map[string]float64
	gen     int // masters started so far; the current one is "m<gen>"
	cur     *coreMaster

	agents     map[string]*coreAgent // by name
	frameworks map[string]*coreFramework
	agentOrder []string // names, in order of creation
	fwOrder    []string

	// uuids makes status update uuids deterministic.
	uuids int
	// notes are lines the harness adds to the current command's output:
	// ledger anomalies, registry failures.
	notes []string
}

// coreAgent models an agent process: its ID, the stream it holds, the
// tasks it runs (as it would report them on re-registration).
type coreAgent struct {
	name       string
	index      int
	id         string
	info       *mesospb.AgentInfo // as sent in REGISTER (no ID)
	conn       *agentConn
	old        []*agentConn // replaced streams, drained until closed
	responsive bool         // answers PINGs
	tasks      []*coreTask
	executors  []*mesospb.ExecutorInfo           // with framework_id, in launch order
	frameworks map[string]*mesospb.FrameworkInfo // by framework ID
}

type coreTask struct {
	frameworkID string
	info        *mesospb.TaskInfo
	state       mesospb.TaskState
}

// coreFramework models a scheduler: its subscription stream, offers and
// the latest update of each task.
type coreFramework struct {
	name    string
	id      string
	info    *mesospb.FrameworkInfo // as subscribed (no ID)
	conn    *schedConn
	old     []*schedConn
	fids    map[*schedConn]string // what subscribe returned for each stream
	offers  map[string]*mesospb.Offer
	updates map[string]*mesospb.TaskStatus // latest acknowledgeable update by task ID
}

func newCoreHarness(t *testing.T) *coreHarness {
	t.Helper()
	h := &coreHarness{
		t:          t,
		now:        coreEpoch,
		store:      registry.NewMemoryStore(),
		weights:    map[string]float64{},
		agents:     map[string]*coreAgent{},
		frameworks: map[string]*coreFramework{},
	}
	t.Cleanup(h.stopMaster)
	return h
}

// startMaster builds master m<gen> over the store, elects it and recovers
// the registry, as run does: start, elected, recover (its writer result is
// pumped by settle).
func (h *coreHarness) startMaster() string {
	h.t.Helper()
	h.gen++
	factory, ok := builtin.Allocators["HierarchicalDRF"]
	if !ok {
		h.t.Fatal("no HierarchicalDRF in builtin.Allocators")
	}
	inner, err := factory(allocator.Options{
		AllocationInterval: time.Second,
		Weights:            maps.Clone(h.weights),
		Seed:               1,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ledger := newLedgerAllocator(inner, h)
	store := h.store
	if h.gen > 1 {
		store = h.store.Reopen() // the new leader's handle fences the old one
	}
	reg, err := registry.New(store, registry.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		h.t.Fatal(err)
	}
	m, err := New(Config{
		Allocator:              ledger,
		Now:                    func() time.Time { return h.now },
		Weights:                maps.Clone(h.weights),
		Registrar:              reg,
		AgentReregisterTimeout: coreFarFuture,
		RegistryGCInterval:     coreFarFuture,
		HeartbeatInterval:      coreFarFuture,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	m.id = fmt.Sprintf("m%d", h.gen)
	ctx, cancel := context.WithCancel(context.Background())
	m.ctx = ctx
	h.cur = &coreMaster{m: m, st: m.st, ledger: ledger, reg: reg, cancel: cancel}
	st := m.st
	st.start(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 5050})
	st.elected()
	st.recover()
	h.pump("recovering the registry", func() bool { return st.serving || st.failed != nil })
	// The recovered-agents timer is the recovered-timeout command's.
	if st.recoveredTimer != nil {
		st.recoveredTimer.Stop()
	}
	h.settle()
	if st.failed != nil {
		return fmt.Sprintf("%s failed: %v", m.id, st.failed)
	}
	return fmt.Sprintf("%s leading: registry agents=%d unreachable=%d weights=%s",
		m.id, st.registryAgents, len(st.unreachable), fmtWeights(st.weights))
}

// stopMaster ends the current master as a crash would: streams close,
// pending posts are dropped, its registrar is closed.
func (h *coreHarness) stopMaster() {
	c := h.cur
	if c == nil {
		return
	}
	h.cur = nil
	c.st.shutdown()
	if c.st.recoveredTimer != nil {
		c.st.recoveredTimer.Stop()
	}
	c.cancel()
	close(c.m.done)
	_ = c.reg.Close()
}

// failover replaces the leading master by a new one that recovers the
// registry the old one wrote. Agents and schedulers lose their streams;
// they re-register and re-subscribe through their own commands.
func (h *coreHarness) failover() string {
	h.stopMaster()
	for _, a := range h.agents {
		a.conn, a.old = nil, nil
	}
	for _, f := range h.frameworks {
		f.conn, f.old = nil, nil
		clear(f.fids)
		clear(f.offers)
	}
	return h.startMaster()
}

// pump runs what the registry writer and the recovery goroutine post, as
// run does, until done reports true.
func (h *coreHarness) pump(what string, done func() bool) {
	h.t.Helper()
	m := h.cur.m
	deadline := time.NewTimer(coreSettleTimeout)
	defer deadline.Stop()
	for !done() {
		select {
		case r := <-m.reqs:
			r.fn()
			m.st.answer(r.reply)
		case <-deadline.C:
			h.t.Fatalf("%s: nothing posted to the loop for %v", what, coreSettleTimeout)
		}
	}
}

// settle waits until no registry write is queued or in flight, running
// the continuations on this goroutine.
func (h *coreHarness) settle() {
	h.t.Helper()
	st := h.cur.st
	h.pump("waiting for the registry", func() bool {
		return st.failed != nil || (!st.regBusy && len(st.regQueue) == 0)
	})
	if st.failed != nil {
		h.note("master failed: %v", st.failed)
	}
}

func (h *coreHarness) note(format string, args ...any) {
	h.notes = append(h.notes, "!! "+fmt.Sprintf(format, args...))
}

// finish settles, then drains every outbox until nothing more happens, and
// returns the command's output: its own lines, notes, then the events.
func (h *coreHarness) finish(lines []string) string {
	h.settle()
	for range 100 {
		evs := h.drain()
		if len(evs) == 0 {
			break
		}
		lines = append(lines, evs...)
		h.settle()
	}
	lines = append(lines, h.notes...)
	h.notes = nil
	return strings.Join(lines, "\n")
}

// drain takes what every stream has for its reader, lets the models react,
// and returns the events, agents first, then frameworks, in order of
// creation.
func (h *coreHarness) drain() []string {
	var out []string
	for _, name := range h.agentOrder {
		a := h.agents[name]
		conns := append(slices.Clone(a.old), a.conn)
		for _, c := range conns {
			if c == nil {
				continue
			}
			evs, closed := c.out.take()
			for _, ev := range evs {
				if line := h.agentEvent(a, c, ev); line != "" {
					out = append(out, name+" <- "+line)
				}
			}
			if closed {
				a.old = slices.DeleteFunc(a.old, func(x *agentConn) bool { return x == c })
				if c == a.conn {
					a.conn = nil
					out = append(out, name+" stream closed")
				}
				// The HTTP edge's post when an agent stream ends.
				if a.id != "" && h.cur != nil {
					h.cur.st.agentDisconnected(a.id, c)
				}
			}
		}
	}
	for _, name := range h.fwOrder {
		f := h.frameworks[name]
		conns := append(slices.Clone(f.old), f.conn)
		for _, c := range conns {
			if c == nil {
				continue
			}
			evs, closed := c.out.take()
			for _, ev := range evs {
				if line := h.schedEvent(f, ev); line != "" {
					out = append(out, name+" <- "+line)
				}
			}
			if closed {
				f.old = slices.DeleteFunc(f.old, func(x *schedConn) bool { return x == c })
				fid := f.fids[c]
				delete(f.fids, c)
				if c == f.conn {
					f.conn = nil
					clear(f.offers)
					out = append(out, name+" stream closed")
				}
				// The HTTP edge's streamClosed.
				if fid != "" && h.cur != nil {
					h.cur.st.schedulerDisconnected(fid, c)
				}
			}
		}
	}
	return out
}

// agentEvent lets the agent model react to ev and renders it ("" to hide).
func (h *coreHarness) agentEvent(a *coreAgent, c *agentConn, ev *agentapipb.Event) string {
	switch ev.GetType() {
	case agentapipb.Event_REGISTERED, agentapipb.Event_REREGISTERED:
		a.id = ev.GetRegistered().GetAgentId().GetValue()
		return fmt.Sprintf("%s id=%s", ev.GetType(), a.id)
	case agentapipb.Event_PING:
		// Hidden: the model answers unless partitioned.
		if a.responsive && c == a.conn && h.cur != nil {
			res := h.cur.st.agentCall(&agentapipb.Call{
				Type: agentapipb.Call_PONG.Enum(), AgentId: &mesospb.AgentID{Value: proto.String(a.id)},
			}, c.streamID)
			if res.err != nil {
				return "PING (PONG refused: " + fmtErr(res.err) + ")"
			}
		}
		return ""
	case agentapipb.Event_RUN_TASK:
		rt := ev.GetRunTask()
		fid := rt.GetFrameworkInfo().GetId().GetValue()
		a.frameworks[fid] = proto.Clone(rt.GetFrameworkInfo()).(*mesospb.FrameworkInfo)
		a.tasks = append(a.tasks, &coreTask{frameworkID: fid, info: proto.Clone(rt.GetTask()).(*mesospb.TaskInfo),
			state: mesospb.TaskState_TASK_STAGING})
		if e := rt.GetTask().GetExecutor(); e != nil && a.executor(fid, e.GetExecutorId().GetValue()) == nil {
			a.executors = append(a.executors, proto.Clone(e).(*mesospb.ExecutorInfo))
		}
		return fmt.Sprintf("RUN_TASK %s %s %s", h.fwName(fid), rt.GetTask().GetTaskId().GetValue(),
			fmtRes(rt.GetTask().GetResources()))
	case agentapipb.Event_KILL_TASK:
		k := ev.GetKillTask()
		return fmt.Sprintf("KILL_TASK %s %s", h.fwName(k.GetFrameworkId().GetValue()), k.GetTaskId().GetValue())
	case agentapipb.Event_ACKNOWLEDGE_UPDATE:
		ack := ev.GetAcknowledgeUpdate()
		fid, tid := ack.GetFrameworkId().GetValue(), ack.GetTaskId().GetValue()
		// The agent forgets a terminal task once its update is acknowledged.
		a.tasks = slices.DeleteFunc(a.tasks, func(t *coreTask) bool {
			return t.frameworkID == fid && t.info.GetTaskId().GetValue() == tid && taskstate.IsTerminal(t.state)
		})
		return fmt.Sprintf("ACKNOWLEDGE_UPDATE %s %s", h.fwName(fid), tid)
	case agentapipb.Event_SHUTDOWN_FRAMEWORK:
		fid := ev.GetShutdownFramework().GetFrameworkId().GetValue()
		a.tasks = slices.DeleteFunc(a.tasks, func(t *coreTask) bool { return t.frameworkID == fid })
		a.executors = slices.DeleteFunc(a.executors, func(e *mesospb.ExecutorInfo) bool {
			return e.GetFrameworkId().GetValue() == fid
		})
		delete(a.frameworks, fid)
		return "SHUTDOWN_FRAMEWORK " + h.fwName(fid)
	case agentapipb.Event_UPDATE_FRAMEWORK:
		fi := ev.GetUpdateFramework().GetFrameworkInfo()
		if _, ok := a.frameworks[fi.GetId().GetValue()]; ok {
			a.frameworks[fi.GetId().GetValue()] = proto.Clone(fi).(*mesospb.FrameworkInfo)
		}
		return "UPDATE_FRAMEWORK " + h.fwName(fi.GetId().GetValue())
	case agentapipb.Event_SHUTDOWN:
		a.tasks, a.executors = nil, nil
		clear(a.frameworks)
		return fmt.Sprintf("SHUTDOWN %q", ev.GetShutdown().GetMessage())
	case agentapipb.Event_CHECKPOINT_RESOURCES:
		return "CHECKPOINT_RESOURCES " + fmtRes(ev.GetCheckpointResources().GetResources())
	case agentapipb.Event_SHUTDOWN_EXECUTOR:
		se := ev.GetShutdownExecutor()
		return fmt.Sprintf("SHUTDOWN_EXECUTOR %s %s", h.fwName(se.GetFrameworkId().GetValue()), se.GetExecutorId().GetValue())
	}
	return ev.GetType().String()
}

// schedEvent lets the scheduler model react to ev and renders it.
func (h *coreHarness) schedEvent(f *coreFramework, ev *schedulerpb.Event) string {
	switch ev.GetType() {
	case schedulerpb.Event_SUBSCRIBED:
		f.id = ev.GetSubscribed().GetFrameworkId().GetValue()
		return "SUBSCRIBED id=" + f.id
	case schedulerpb.Event_HEARTBEAT:
		return "" // the first HEARTBEAT follows every SUBSCRIBED
	case schedulerpb.Event_OFFERS:
		var lines []string
		for _, o := range ev.GetOffers().GetOffers() {
			f.offers[o.GetId().GetValue()] = o
			role := "?"
			if h.cur != nil {
				if rec := h.cur.st.offers[o.GetId().GetValue()]; rec != nil {
					role = rec.role
				}
			}
			lines = append(lines, fmt.Sprintf("OFFER %s %s role=%s %s", shortOfferID(o.GetId().GetValue()),
				h.agentName(o.GetAgentId().GetValue()), role, fmtRes(o.GetResources())))
		}
		return strings.Join(lines, "\n"+f.name+" <- ")
	case schedulerpb.Event_RESCIND:
		id := ev.GetRescind().GetOfferId().GetValue()
		delete(f.offers, id)
		return "RESCIND " + shortOfferID(id)
	case schedulerpb.Event_UPDATE:
		st := ev.GetUpdate().GetStatus()
		if len(st.GetUuid()) > 0 { // master-generated updates are not acknowledged
			f.updates[st.GetTaskId().GetValue()] = st
		}
		return "UPDATE " + h.fmtStatus(st)
	case schedulerpb.Event_FAILURE:
		fl := ev.GetFailure()
		s := "FAILURE agent=" + h.agentName(fl.GetAgentId().GetValue())
		if fl.ExecutorId != nil {
			s += fmt.Sprintf(" executor=%s status=%d", fl.GetExecutorId().GetValue(), fl.GetStatus())
		}
		return s
	case schedulerpb.Event_ERROR:
		return fmt.Sprintf("ERROR %q", ev.GetError().GetMessage())
	case schedulerpb.Event_MESSAGE:
		return fmt.Sprintf("MESSAGE agent=%s executor=%s", h.agentName(ev.GetMessage().GetAgentId().GetValue()),
			ev.GetMessage().GetExecutorId().GetValue())
	}
	return ev.GetType().String()
}

func (h *coreHarness) fmtStatus(st *mesospb.TaskStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", st.GetTaskId().GetValue(), st.GetState())
	if st.AgentId != nil {
		b.WriteString(" agent=" + h.agentName(st.GetAgentId().GetValue()))
	}
	b.WriteString(" source=" + strings.TrimPrefix(st.GetSource().String(), "SOURCE_"))
	if st.Reason != nil {
		b.WriteString(" reason=" + st.GetReason().String())
	}
	if st.GetMessage() != "" {
		fmt.Fprintf(&b, " msg=%q", st.GetMessage())
	}
	if st.UnreachableTime != nil {
		b.WriteString(" unreachable_time=" + h.since(time.Unix(0, st.GetUnreachableTime().GetNanoseconds())))
	}
	return b.String()
}

// since renders t relative to the clock's start, e.g. "+75s".
func (h *coreHarness) since(t time.Time) string { return "+" + t.Sub(coreEpoch).String() }

func (h *coreHarness) agentName(id string) string {
	for _, a := range h.agents {
		if a.id == id && id != "" {
			return a.name
		}
	}
	return id
}

func (h *coreHarness) fwName(id string) string {
	for _, f := range h.frameworks {
		if f.id == id && id != "" {
			return f.name
		}
	}
	return id
}

func (h *coreHarness) newUUID() []byte {
	h.uuids++
	u := make([]byte, 16)
	u[14], u[15] = byte(h.uuids>>8), byte(h.uuids)
	return u
}

// --- agents -----------------------------------------------------------

func (h *coreHarness) agentPID(a *coreAgent) string {
	return fmt.Sprintf("slave(1)@10.0.0.%d:5051", a.index)
}

func (h *coreHarness) newAgentConn(a *coreAgent) *agentConn {
	c := &agentConn{streamID: fmt.Sprintf("%s-stream-%d", a.name, h.uuids), out: newOutbox[*agentapipb.Event](&h.cur.m.gate)}
	h.uuids++
	if a.conn != nil {
		a.old = append(a.old, a.conn)
	}
	a.conn = c
	return c
}

// registerAgent is an agent process starting without state (REGISTER).
func (h *coreHarness) registerAgent(name, res string) ([]string, error) {
	rs, err := resources.Parse(res, "*")
	if err != nil {
		return nil, err
	}
	a := h.agents[name]
	if a == nil {
		a = &coreAgent{name: name, index: len(h.agentOrder) + 1}
		h.agents[name] = a
		h.agentOrder = append(h.agentOrder, name)
	}
	a.id, a.tasks, a.executors, a.frameworks, a.responsive = "", nil, nil, map[string]*mesospb.FrameworkInfo{}, true
	a.info = &mesospb.AgentInfo{Hostname: proto.String(name), Port: proto.Int32(5051), Resources: rs}
	c := h.newAgentConn(a)
	_, res2 := h.cur.st.registerAgent(c, &agentapipb.Call_Register{
		AgentInfo: proto.Clone(a.info).(*mesospb.AgentInfo),
		Pid:       proto.String(h.agentPID(a)),
		Version:   proto.String(MesosVersion),
	})
	return resultLines(res2), nil
}

// reregisterAgent is the agent re-registering with what it runs
// (REREGISTER), as after a lost stream or a master failover.
func (h *coreHarness) reregisterAgent(a *coreAgent) []string {
	info := proto.Clone(a.info).(*mesospb.AgentInfo)
	info.Id = &mesospb.AgentID{Value: proto.String(a.id)}
	rr := &agentapipb.Call_Reregister{
		AgentInfo: info,
		Pid:       proto.String(h.agentPID(a)),
		Version:   proto.String(MesosVersion),
	}
	for _, fid := range sortedKeys(a.frameworks) {
		rr.Frameworks = append(rr.Frameworks, proto.Clone(a.frameworks[fid]).(*mesospb.FrameworkInfo))
	}
	for _, e := range a.executors {
		rr.Executors = append(rr.Executors, proto.Clone(e).(*mesospb.ExecutorInfo))
	}
	for _, t := range a.tasks {
		task := &mesospb.Task{
			Name:        proto.String(t.info.GetName()),
			TaskId:      t.info.TaskId,
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(t.frameworkID)},
			AgentId:     info.Id,
			State:       t.state.Enum(),
			Resources:   t.info.Resources,
		}
		if e := t.info.GetExecutor(); e != nil {
			task.ExecutorId = e.ExecutorId
		}
		rr.Tasks = append(rr.Tasks, task)
	}
	c := h.newAgentConn(a)
	_, res := h.cur.st.reregisterAgent(c, rr)
	return resultLines(res)
}

func (a *coreAgent) executor(fid, eid string) *mesospb.ExecutorInfo {
	for _, e := range a.executors {
		if e.GetFrameworkId().GetValue() == fid && e.GetExecutorId().GetValue() == eid {
			return e
		}
	}
	return nil
}

// executorExited is the agent reporting that an executor terminated
// (EXECUTOR_EXITED); the agent forgets it.
func (h *coreHarness) executorExited(a *coreAgent, f *coreFramework, eid string, status int32) []string {
	a.executors = slices.DeleteFunc(a.executors, func(e *mesospb.ExecutorInfo) bool {
		return e.GetFrameworkId().GetValue() == f.id && e.GetExecutorId().GetValue() == eid
	})
	streamID := ""
	if a.conn != nil {
		streamID = a.conn.streamID
	}
	return resultLines(h.cur.st.agentCall(&agentapipb.Call{
		Type:    agentapipb.Call_EXECUTOR_EXITED.Enum(),
		AgentId: &mesospb.AgentID{Value: proto.String(a.id)},
		ExecutorExited: &agentapipb.Call_ExecutorExited{
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(f.id)},
			ExecutorId:  &mesospb.ExecutorID{Value: proto.String(eid)},
			Status:      proto.Int32(status),
		},
	}, streamID))
}

// disconnectAgent is the agent's stream breaking: the HTTP edge closes the
// outbox and posts agentDisconnected.
func (h *coreHarness) disconnectAgent(a *coreAgent) {
	c := a.conn
	if c == nil {
		return
	}
	a.conn = nil
	c.out.close()
	h.cur.st.agentDisconnected(a.id, c)
}

func (h *coreHarness) statusUpdate(a *coreAgent, taskID string, state mesospb.TaskState) []string {
	var t *coreTask
	for _, x := range a.tasks {
		if x.info.GetTaskId().GetValue() == taskID {
			t = x
		}
	}
	fid := ""
	if t != nil {
		fid = t.frameworkID
		t.state = state
	}
	streamID := ""
	if a.conn != nil {
		streamID = a.conn.streamID
	}
	res := h.cur.st.agentCall(&agentapipb.Call{
		Type:    agentapipb.Call_STATUS_UPDATE.Enum(),
		AgentId: &mesospb.AgentID{Value: proto.String(a.id)},
		StatusUpdate: &agentapipb.Call_StatusUpdate{
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(fid)},
			Status: &mesospb.TaskStatus{
				TaskId:    &mesospb.TaskID{Value: proto.String(taskID)},
				State:     state.Enum(),
				Source:    mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
				AgentId:   &mesospb.AgentID{Value: proto.String(a.id)},
				Uuid:      h.newUUID(),
				Timestamp: proto.Float64(secs(h.now)),
			},
		},
	}, streamID)
	return resultLines(res)
}

// --- frameworks -------------------------------------------------------

// subscribe subscribes a new framework, or re-subscribes a known one with
// its ID (a scheduler failover, or after a master failover).
func (h *coreHarness) subscribe(name string, info *mesospb.FrameworkInfo) []string {
	f := h.frameworks[name]
	if f == nil {
		f = &coreFramework{name: name, offers: map[string]*mesospb.Offer{}, updates: map[string]*mesospb.TaskStatus{},
			fids: map[*schedConn]string{}}
		h.frameworks[name] = f
		h.fwOrder = append(h.fwOrder, name)
	}
	if info != nil {
		f.info = info
	}
	sub := proto.Clone(f.info).(*mesospb.FrameworkInfo)
	if f.id != "" {
		sub.Id = &mesospb.FrameworkID{Value: proto.String(f.id)}
	}
	c := &schedConn{streamID: fmt.Sprintf("%s-stream-%d", name, h.uuids), out: newOutbox[*schedulerpb.Event](&h.cur.m.gate)}
	h.uuids++
	if f.conn != nil {
		f.old = append(f.old, f.conn)
	}
	clear(f.offers)
	f.conn = c
	f.fids[c] = h.cur.st.subscribe(c, &schedulerpb.Call_Subscribe{FrameworkInfo: sub})
	return nil
}

// disconnectScheduler is the scheduler's stream ending (the HTTP edge's
// streamClosed).
func (h *coreHarness) disconnectScheduler(f *coreFramework) {
	c := f.conn
	if c == nil {
		return
	}
	fid := f.fids[c]
	delete(f.fids, c)
	f.conn = nil
	clear(f.offers)
	c.out.close()
	if fid != "" {
		h.cur.st.schedulerDisconnected(fid, c)
	}
}

// call sends a scheduler call on the framework's current stream.
func (h *coreHarness) call(f *coreFramework, c *schedulerpb.Call) []string {
	c.FrameworkId = &mesospb.FrameworkID{Value: proto.String(f.id)}
	streamID, has := "", false
	if f.conn != nil {
		streamID, has = f.conn.streamID, true
	}
	return resultLines(h.cur.st.schedulerCall(c, streamID, has))
}

// offerID resolves "O3" or "3" to the current master's offer ID.
func (h *coreHarness) offerID(ref string) string {
	return h.cur.m.id + "-O" + strings.TrimPrefix(ref, "O")
}

// --- the state summary ------------------------------------------------

// summary is the state command: agents, frameworks and tasks as the master
// books them, used and offered resources as /state computes them (agentJSON)
// beside what the allocator was told each framework holds (the ledger), and
// the allocator's DRF shares.
func (h *coreHarness) summary() []string {
	st := h.cur.st
	lines := []string{"master " + h.cur.m.id}
	lines = append(lines, "agents:")
	for _, a := range st.sortedAgents() {
		flags := []string{}
		if a.connected() {
			flags = append(flags, "connected")
		} else {
			flags = append(flags, "disconnected")
		}
		if a.active {
			flags = append(flags, "active")
		} else {
			flags = append(flags, "inactive")
		}
		if a.missedPings > 0 {
			flags = append(flags, fmt.Sprintf("missed_pings=%d", a.missedPings))
		}
		j := st.agentJSON(a, false)
		used, _ := j["used_resources"].(map[string]any)
		offered, _ := j["offered_resources"].(map[string]any)
		lines = append(lines, fmt.Sprintf("  %s id=%s %s total=%s", h.agentName(a.id), a.id, strings.Join(flags, " "),
			fmtRes(a.total)))
		lines = append(lines, fmt.Sprintf("    /state: used=%s offered=%s", fmtLegacy(used), fmtLegacy(offered)))
		held := h.cur.ledger.held[a.id]
		var parts []string
		var sum resources.Resources
		for _, fid := range sortedKeys(held) {
			parts = append(parts, h.fwName(fid)+"="+fmtRes(held[fid]))
			sum = sum.Add(held[fid])
		}
		if len(parts) == 0 {
			parts = []string{"{}"}
		}
		lines = append(lines, "    allocator: "+strings.Join(parts, " "))
		want := resources.Resources(agentUsed(a)).Unallocate()
		for _, o := range a.offers {
			want = want.Add(resources.Resources(o.resources).Unallocate())
		}
		if !quantitiesEqual(sum.Unallocate(), want) {
			lines = append(lines, fmt.Sprintf("    !! the allocator holds %s but tasks, executors and offers add up to %s",
				fmtRes(sum), fmtRes(want)))
		}
	}
	if ids := sortedKeys(st.recovered); len(ids) > 0 {
		lines = append(lines, "recovered agents (not re-registered): "+h.names(ids, h.agentName))
	}
	if ids := sortedKeys(st.unreachable); len(ids) > 0 {
		var parts []string
		for _, id := range ids {
			parts = append(parts, h.agentName(id)+"@"+h.since(st.unreachable[id]))
		}
		lines = append(lines, "unreachable agents: "+strings.Join(parts, " "))
	}
	lines = append(lines, "frameworks:")
	for _, f := range st.sortedFrameworks() {
		flags := []string{}
		if f.connected() {
			flags = append(flags, "connected")
		} else {
			flags = append(flags, "disconnected")
		}
		if f.active {
			flags = append(flags, "active")
		} else {
			flags = append(flags, "inactive")
		}
		if f.recovered {
			flags = append(flags, "recovered")
		}
		lines = append(lines, fmt.Sprintf("  %s id=%s %s roles=%s", h.fwName(f.id), f.id, strings.Join(flags, " "),
			strings.Join(frameworkRoles(f.info), ",")))
		for _, t := range sortedTasks(f.tasks) {
			lines = append(lines, fmt.Sprintf("    task %s %s on %s %s", t.GetTaskId().GetValue(), t.GetState(),
				h.agentName(t.GetAgentId().GetValue()), fmtRes(t.GetResources())))
		}
		for _, t := range f.unreachableTasks {
			lines = append(lines, fmt.Sprintf("    unreachable %s %s on %s", t.GetTaskId().GetValue(), t.GetState(),
				h.agentName(t.GetAgentId().GetValue())))
		}
		for _, t := range f.completedTasks {
			lines = append(lines, fmt.Sprintf("    completed %s %s on %s", t.GetTaskId().GetValue(), t.GetState(),
				h.agentName(t.GetAgentId().GetValue())))
		}
	}
	for _, f := range st.completedFrameworks {
		lines = append(lines, fmt.Sprintf("  %s id=%s completed", h.fwName(f.id), f.id))
	}
	if sh, ok := h.cur.ledger.inner.(interface {
		DominantShare(string) float64
		Roles() []string
	}); ok {
		var parts []string
		for _, r := range sh.Roles() {
			parts = append(parts, fmt.Sprintf("%s=%.4g", r, sh.DominantShare(r)))
		}
		if len(parts) > 0 {
			lines = append(lines, "allocator shares: "+strings.Join(parts, " "))
		}
	}
	return lines
}

func (h *coreHarness) names(ids []string, name func(string) string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = name(id)
	}
	return strings.Join(out, " ")
}

// --- the allocator ledger ---------------------------------------------

// ledgerAllocator forwards every call to the real allocator and keeps a
// ledger of what the master told it each framework holds on each agent:
// AddAgent's used, Allocate's allocations, UpdateAllocation, minus
// RecoverResources. Recovering more than the framework holds there is
// reported as a note (the master recovered something twice, or something
// it never allocated).
type ledgerAllocator struct {
	inner      allocator.Allocator
	h          *coreHarness
	held       map[string]map[string]resources.Resources // agent -> framework -> allocated form
	frameworks map[string]bool
}

var _ allocator.Allocator = (*ledgerAllocator)(nil)

func newLedgerAllocator(inner allocator.Allocator, h *coreHarness) *ledgerAllocator {
	return &ledgerAllocator{inner: inner, h: h, held: map[string]map[string]resources.Resources{},
		frameworks: map[string]bool{}}
}

func (l *ledgerAllocator) add(agentID, fid string, res resources.Resources) {
	if l.held[agentID] == nil {
		return
	}
	l.held[agentID][fid] = l.held[agentID][fid].Add(res)
}

func (l *ledgerAllocator) sub(agentID, fid string, res resources.Resources) {
	byFw := l.held[agentID]
	if byFw == nil || !l.frameworks[fid] {
		return
	}
	if !byFw[fid].Contains(res) {
		l.h.note("allocator told to recover %s from %s on %s, which holds %s there",
			fmtRes(res), l.h.fwName(fid), l.h.agentName(agentID), fmtRes(byFw[fid]))
	}
	left := byFw[fid].Subtract(res)
	if left.Empty() {
		delete(byFw, fid)
	} else {
		byFw[fid] = left
	}
}

func (l *ledgerAllocator) AddFramework(id string, fw allocator.Framework, used map[string]resources.Resources) {
	l.frameworks[id] = true
	for aid, res := range used {
		l.add(aid, id, res)
	}
	l.inner.AddFramework(id, fw, used)
}

func (l *ledgerAllocator) RemoveFramework(id string) {
	delete(l.frameworks, id)
	for _, byFw := range l.held {
		delete(byFw, id)
	}
	l.inner.RemoveFramework(id)
}

func (l *ledgerAllocator) ActivateFramework(id string)   { l.inner.ActivateFramework(id) }
func (l *ledgerAllocator) DeactivateFramework(id string) { l.inner.DeactivateFramework(id) }
func (l *ledgerAllocator) UpdateFramework(id string, fw allocator.Framework) {
	l.inner.UpdateFramework(id, fw)
}

func (l *ledgerAllocator) AddAgent(id string, ag allocator.Agent, used map[string]resources.Resources) {
	l.held[id] = map[string]resources.Resources{}
	for fid, res := range used {
		if !res.Empty() {
			l.held[id][fid] = resources.Resources(nil).Add(res)
		}
	}
	l.inner.AddAgent(id, ag, used)
}

func (l *ledgerAllocator) RemoveAgent(id string) {
	delete(l.held, id)
	l.inner.RemoveAgent(id)
}

func (l *ledgerAllocator) ActivateAgent(id string)   { l.inner.ActivateAgent(id) }
func (l *ledgerAllocator) DeactivateAgent(id string) { l.inner.DeactivateAgent(id) }
func (l *ledgerAllocator) UpdateAgentTotal(id string, total resources.Resources) {
	l.inner.UpdateAgentTotal(id, total)
}

func (l *ledgerAllocator) UpdateAllocation(fid, agentID string, from, to resources.Resources) {
	l.sub(agentID, fid, from)
	l.add(agentID, fid, to)
	l.inner.UpdateAllocation(fid, agentID, from, to)
}

func (l *ledgerAllocator) RecoverResources(fid, agentID string, res resources.Resources, filters *mesospb.Filters, now time.Time) {
	l.sub(agentID, fid, res)
	l.inner.RecoverResources(fid, agentID, res, filters, now)
}

func (l *ledgerAllocator) SuppressOffers(fid string, roles []string) {
	l.inner.SuppressOffers(fid, roles)
}
func (l *ledgerAllocator) ReviveOffers(fid string, roles []string, now time.Time) {
	l.inner.ReviveOffers(fid, roles, now)
}
func (l *ledgerAllocator) UpdateWeights(w map[string]float64) { l.inner.UpdateWeights(w) }
func (l *ledgerAllocator) UpdateQuota(role string, q allocator.Quota) {
	l.inner.UpdateQuota(role, q)
}

func (l *ledgerAllocator) Allocate(now time.Time) []allocator.Allocation {
	out := l.inner.Allocate(now)
	for _, al := range out {
		l.add(al.AgentID, al.FrameworkID, al.Resources)
	}
	return out
}

// --- formatting -------------------------------------------------------

// fmtRes prints resources compactly without allocation info, sorted by
// name: "cpus:1;mem:128", "{}" when empty.
func fmtRes(rs []*mesospb.Resource) string {
	u := resources.Resources(rs).Unallocate()
	if len(u) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(u))
	for _, r := range u {
		parts = append(parts, resources.FormatResource(r))
	}
	slices.Sort(parts)
	return strings.Join(parts, ";")
}

// fmtLegacy prints a /state legacy resource map, zeros left out.
func fmtLegacy(m map[string]any) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		switch v := m[k].(type) {
		case float64:
			if v != 0 {
				parts = append(parts, k+":"+resources.FormatScalar(v))
			}
		default:
			parts = append(parts, fmt.Sprintf("%s:%v", k, v))
		}
	}
	if len(parts) == 0 {
		return "{}"
	}
	return strings.Join(parts, ";")
}

func fmtWeights(w map[string]float64) string {
	if len(w) == 0 {
		return "{}"
	}
	var parts []string
	for _, r := range sortedKeys(w) {
		parts = append(parts, r+":"+resources.FormatScalar(w[r]))
	}
	return strings.Join(parts, ",")
}

func quantitiesEqual(a, b resources.Resources) bool {
	qa, qb := a.Quantities(), b.Quantities()
	for k, v := range qa {
		if resources.Round(v) != resources.Round(qb[k]) {
			return false
		}
	}
	for k, v := range qb {
		if resources.Round(v) != resources.Round(qa[k]) {
			return false
		}
	}
	return true
}

// shortOfferID drops the master ID: "m1-O3" -> "O3".
func shortOfferID(id string) string {
	if i := strings.LastIndex(id, "-"); i >= 0 {
		return id[i+1:]
	}
	return id
}

// resultLines renders a call's core error (nothing on success).
func resultLines(res callResult) []string {
	if res.err == nil {
		return nil
	}
	return []string{"error: " + fmtErr(res.err)}
}

func fmtErr(err error) string {
	kinds := []struct {
		kind error
		name string
	}{{ErrInvalid, "invalid"}, {ErrForbidden, "forbidden"}, {ErrConflict, "conflict"},
		{ErrUnavailable, "unavailable"}, {ErrUnimplemented, "unimplemented"}, {ErrInternal, "internal"}}
	for _, k := range kinds {
		if errors.Is(err, k.kind) {
			return fmt.Sprintf("%s: %s", k.name, err.Error())
		}
	}
	return err.Error()
}

// The ledger catches a recovery of resources a framework does not hold:
// giving an offer's resources back twice is flagged.
func TestCoreLedgerFlagsDoubleRecovery(t *testing.T) {
	h := newCoreHarness(t)
	h.startMaster()
	if _, err := h.registerAgent("a1", "cpus:2;mem:1024"); err != nil {
		t.Fatal(err)
	}
	h.subscribe("f1", &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("f1")})
	h.finish(nil)
	h.cur.st.allocate()
	h.finish(nil)
	f := h.frameworks["f1"]
	if len(f.offers) != 1 {
		t.Fatalf("offers %v, want one", f.offers)
	}
	var o *offer
	for _, x := range h.cur.st.offers {
		o = x
	}
	st := h.cur.st
	st.alloc().RecoverResources(o.frameworkID, o.agentID, o.resources, nil, h.now)
	if len(h.notes) != 0 {
		t.Fatalf("first recovery flagged: %v", h.notes)
	}
	st.alloc().RecoverResources(o.frameworkID, o.agentID, o.resources, nil, h.now)
	if len(h.notes) != 1 || !strings.Contains(h.notes[0], "allocator told to recover cpus:2;mem:1024 from f1 on a1") {
		t.Fatalf("notes %q, want the second recovery flagged", h.notes)
	}
}
