package master

import (
	"cmp"
	"hash/fnv"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/internal/registry"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/resources"
	"github.com/meso-project/meso/pkg/taskstate"
)

// serveAgent is POST /master/internal/agent: REGISTER and REREGISTER open
// the agent's event stream; every other call is answered 202 (400 for a
// missing or stale stream ID, 403 for an unknown agent).
func (m *Master) serveAgent(w http.ResponseWriter, r *http.Request) {
	if !m.gateLeader(w, r) {
		return
	}
	call := &agentapipb.Call{}
	if _, err := httpapi.DecodeCall(r, call); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	switch call.GetType() {
	case agentapipb.Call_REGISTER, agentapipb.Call_REREGISTER:
		m.serveAgentStream(w, r, call)
		return
	case agentapipb.Call_UNKNOWN:
		httpapi.WriteError(w, httpapi.Errorf(http.StatusNotImplemented, "Unknown call type"))
		return
	}
	if call.AgentId == nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Expecting 'agent_id' to be present"))
		return
	}
	streamID := r.Header.Get(streamIDHeader)
	var res callResult
	if err := m.do(r.Context(), func() { res = m.st.agentCall(call, streamID) }); err != nil {
		writeStopped(w, err)
		return
	}
	if res.err != nil {
		httpapi.WriteError(w, toHTTP(res.err))
		return
	}
	w.WriteHeader(statusOf(res.outcome))
}

func (m *Master) serveAgentStream(w http.ResponseWriter, r *http.Request, call *agentapipb.Call) {
	if call.GetType() == agentapipb.Call_REGISTER && call.Register == nil ||
		call.GetType() == agentapipb.Call_REREGISTER && call.Reregister == nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Expecting '%s' to be present",
			strings.ToLower(call.GetType().String())))
		return
	}
	if msg := m.agentRegistrationDenied(r, call); msg != "" {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusForbidden, "%s", msg))
		return
	}
	streamID := uuid.NewString()
	conn := &agentConn{streamID: streamID, out: newOutbox[*agentapipb.Event](&m.gate).
		bound(m.cfg.MaxEventQueueBytes, m.log.With("stream", "agent", "stream_id", streamID))}
	var agentID string
	var res callResult
	if err := m.do(r.Context(), func() {
		if call.GetType() == agentapipb.Call_REGISTER {
			agentID, res = m.st.registerAgent(conn, call.GetRegister())
		} else {
			agentID, res = m.st.reregisterAgent(conn, call.GetReregister())
		}
	}); err != nil {
		writeStopped(w, err)
		return
	}
	if res.err != nil {
		httpapi.WriteError(w, toHTTP(res.err))
		return
	}
	// The loop has queued REGISTERED or REREGISTERED: the stream's headers
	// go out with it (writeAgentEvents), one write instead of two; at
	// 20,000 agents re-registering at once the second write was ~6% of
	// the master's CPU.
	stream, err := httpapi.NewStreamHeld(w, codec.Protobuf, http.Header{streamIDHeader: {conn.streamID}})
	if err == nil {
		conn.out.setAbort(stream.Abort)
		m.writeAgentEvents(r, stream, conn)
	}
	m.post(func() { m.st.agentDisconnected(agentID, conn) })
}

func (m *Master) writeAgentEvents(r *http.Request, stream *httpapi.Stream, conn *agentConn) {
	for first := true; ; first = false {
		events, closed := conn.out.take()
		if err := httpapi.SendAll(stream, events); err != nil {
			conn.out.close()
			return
		}
		if first && len(events) == 0 {
			// Nothing queued yet: the agent still sees the stream start.
			if err := stream.Flush(); err != nil {
				conn.out.close()
				return
			}
		}
		if closed {
			return
		}
		select {
		case <-conn.out.signal:
		case <-r.Context().Done():
			conn.out.close()
			return
		case <-m.done:
			return
		}
	}
}

// parsePID splits "slave(1)@ip:port" into ip and port.
func parsePID(pid string) (string, int, bool) {
	_, hostport, ok := strings.Cut(pid, "@")
	if !ok {
		return "", 0, false
	}
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, false
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, false
	}
	return host, port, true
}

func (s *state) registeredEvent(a *agent, typ agentapipb.Event_Type) *agentapipb.Event {
	return &agentapipb.Event{
		Type: typ.Enum(),
		Registered: &agentapipb.Event_Registered{
			AgentId:            &mesospb.AgentID{Value: ptr(a.id)},
			MasterInfo:         proto.Clone(s.info).(*mesospb.MasterInfo),
			PingTimeoutSeconds: ptr((s.cfg.AgentPingTimeout * time.Duration(s.cfg.MaxAgentPingTimeouts)).Seconds()),
		},
	}
}

func newAgentRecord(id string, info *mesospb.AgentInfo, pid, version string, caps []mesospb.AgentInfo_Capability_Type) (*agent, error) {
	ip, port, ok := parsePID(pid)
	if !ok {
		return nil, rejectf(ErrInvalid, "Invalid agent pid '%s'", pid)
	}
	info = proto.Clone(info).(*mesospb.AgentInfo)
	info.Id = &mesospb.AgentID{Value: ptr(id)}
	if info.Port == nil {
		info.Port = ptr(int32(port))
	}
	total, err := upgradeResources(info.GetResources(), "")
	if err != nil {
		return nil, rejectf(ErrInvalid, "Invalid agent resources: %v", err)
	}
	for _, r := range total {
		r.AllocationInfo = nil
	}
	return &agent{
		id:           id,
		info:         info,
		pid:          pid,
		ip:           ip,
		port:         port,
		version:      version,
		capabilities: caps,
		total:        total,
		active:       true,
		tasks:        map[string]map[string]*mesospb.Task{},
		executors:    map[string]map[string]*mesospb.ExecutorInfo{},
		offers:       map[string]*offer{},
		killed:       map[string]map[string]bool{},
	}, nil
}

// removedRegisteredCause is why an agent is removed when a new agent
// registers from its address; frameworks see it in the TASK_LOST messages
// ("Agent <hostname> removed: a new agent registered at the same address").
const removedRegisteredCause = "a new agent registered at the same address"

// registerAgent admits a new agent (REGISTER), as Master::_registerSlave
// and __registerSlave do. Mesos looks the sender's pid up among the
// registered agents first:
//   - an agent at that pid whose stream is still up is the same agent
//     retrying: Mesos acknowledges it again with its own ID; here that
//     REGISTERED goes on the new stream, which replaces the old one, and
//     nothing else changes;
//   - an agent at that pid whose stream is gone is an agent process that
//     restarted without its state (a rebooted host, a failed recovery): it
//     is removed at once, as an unregistering agent is (removeAgent, cause
//     removedRegisteredCause, counted in
//     master/slave_removals/reason_registered), so that its resources are
//     not offered twice, and then the new agent is admitted with a new ID.
//
// An invalid registration is refused before any of this.
func (s *state) registerAgent(conn *agentConn, reg *agentapipb.Call_Register) (string, callResult) {
	s.mx.count(msgRegisterSlave)
	a, err := newAgentRecord("", reg.GetAgentInfo(), reg.GetPid(), reg.GetVersion(), capTypes(reg.GetCapabilities()))
	if err != nil {
		return "", callResult{err: err}
	}
	if s.admitting[a.pid] {
		// Master::registerSlave: "Ignoring register agent message ... as
		// admission is already in progress"; the agent tries again.
		return "", failed(ErrUnavailable, "Agent admission is already in progress")
	}
	if old := s.agentAtPID(a.pid); old != nil {
		if old.connected() {
			s.log.Info("agent already registered, sending its ID again", "agent_id", old.id, "pid", old.pid)
			old.conn.out.close()
			old.conn = conn
			// A PING in flight went to the stream just replaced.
			old.pongPending = false
			conn.out.push(s.registeredEvent(old, agentapipb.Event_REGISTERED))
			return old.id, accepted()
		}
		s.log.Info("removing the old disconnected agent: a new agent registers at its address",
			"agent_id", old.id, "pid", old.pid)
		s.removeSlave(old, removedRegisteredCause, func() { s.metrics.slaveRemovalsRegistered++ })
	}
	id := s.newAgentID()
	a.id = id
	a.info.Id = &mesospb.AgentID{Value: ptr(id)}
	// Admitted in the registry before anyone hears of it
	// (Master::_registerSlave after registrar AdmitSlave).
	s.admitting[a.pid] = true
	s.persist(&registry.AdmitAgent{Info: a.info}, func(_ bool, rejected error) {
		delete(s.admitting, a.pid)
		if rejected != nil {
			s.log.Error("cannot admit agent", "agent_id", id, "err", rejected)
			conn.out.close()
			return
		}
		a.conn = conn
		a.registeredTime = s.now()
		s.setAgent(a)
		s.metrics.slaveRegistrations++
		s.alloc().AddAgent(id, s.allocAgent(a), nil)
		s.publishAgentAdded(a)
		s.log.Info("agent registered", "agent_id", id, "pid", a.pid, "resources", resString(a.total))
		if !conn.out.push(s.registeredEvent(a, agentapipb.Event_REGISTERED)) {
			s.agentDisconnected(id, conn) // the agent went away while being admitted
		}
		s.triggerAllocation()
	})
	return id, accepted()
}

// agentAtPID is the registered agent at libprocess pid, if any. Should
// re-registrations have left two agents there, it is the one that
// (re-)registered last (the lowest ID of those that did so at once), as
// Mesos's pid index keeps the last agent put. It looks in s.byPID: a walk
// of every agent made registering 40,000 agents quadratic (issue 13).
func (s *state) agentAtPID(pid string) *agent {
	var found *agent
	for _, a := range s.byPID[pid] {
		if found == nil || lastRegistered(a).After(lastRegistered(found)) ||
			lastRegistered(a).Equal(lastRegistered(found)) && a.id < found.id {
			found = a
		}
	}
	return found
}

// setAgent adds a to s.agents and to the pid index.
func (s *state) setAgent(a *agent) {
	if old := s.agents[a.id]; old != nil {
		s.unindexPID(old)
	}
	s.agents[a.id] = a
	s.agentOrder = nil
	s.byPID[a.pid] = append(s.byPID[a.pid], a)
}

// unindexPID takes a out of the pid index.
func (s *state) unindexPID(a *agent) {
	rest := slices.DeleteFunc(s.byPID[a.pid], func(x *agent) bool { return x == a })
	if len(rest) == 0 {
		delete(s.byPID, a.pid)
	} else {
		s.byPID[a.pid] = rest
	}
}

func lastRegistered(a *agent) time.Time {
	if a.reregisteredTime.After(a.registeredTime) {
		return a.reregisteredTime
	}
	return a.registeredTime
}

func (s *state) allocAgent(a *agent) allocator.Agent {
	return allocator.Agent{Info: a.info, Total: a.total, Capabilities: a.capabilities}
}

// reregisterAgent handles REREGISTER: a known agent reconnects, an
// unreachable agent comes back, or — after a master failover — an agent
// unknown to this master reports what it runs, from which the master
// rebuilds frameworks (marked recovered), executors and tasks.
func (s *state) reregisterAgent(conn *agentConn, rr *agentapipb.Call_Reregister) (string, callResult) {
	s.mx.count(msgReregisterSlave)
	id := rr.GetAgentInfo().GetId().GetValue()
	if id == "" {
		return "", failed(ErrInvalid, "Expecting 'agent_info.id' to be present")
	}
	if !s.gone[id].IsZero() {
		conn.out.push(&agentapipb.Event{
			Type:     agentapipb.Event_SHUTDOWN.Enum(),
			Shutdown: &agentapipb.Event_Shutdown{Message: ptr("Agent has been marked gone")},
		})
		conn.out.close()
		return "", accepted()
	}
	if s.markingUnreachable[id] || s.markingGone[id] || s.reregistering[id] {
		// Mesos ignores the message while a registry write about the agent
		// is in flight; the agent tries again.
		return "", failed(ErrUnavailable, "A registry operation on agent %s is in progress", id)
	}
	s.metrics.slaveReregistrations++
	if a := s.agents[id]; a != nil {
		s.reregisterKnownAgent(a, conn, rr)
		return id, accepted()
	}

	a, err := newAgentRecord(id, rr.GetAgentInfo(), rr.GetPid(), rr.GetVersion(), capTypes(rr.GetCapabilities()))
	if err != nil {
		return "", callResult{err: err}
	}
	// Master::_reregisterSlave: an agent of the registry whose info did not
	// change is let in at once; any other (changed, unreachable, unknown:
	// e.g. garbage-collected from the unreachable list) is written to the
	// registry first.
	var op registry.Operation
	if info := s.recovered[id]; info == nil {
		op = &registry.MarkAgentReachable{Info: a.info}
	} else if !proto.Equal(info, a.info) {
		op = &registry.UpdateAgent{Info: a.info}
	}
	if op == nil {
		s.readmitAgent(a, conn, rr)
		return id, accepted()
	}
	s.reregistering[id] = true
	s.persist(op, func(_ bool, rejected error) {
		delete(s.reregistering, id)
		if rejected != nil {
			s.log.Error("cannot re-admit agent", "agent_id", id, "err", rejected)
			conn.out.close()
			return
		}
		if !s.gone[id].IsZero() {
			conn.out.push(&agentapipb.Event{
				Type:     agentapipb.Event_SHUTDOWN.Enum(),
				Shutdown: &agentapipb.Event_Shutdown{Message: ptr("Agent has been marked gone")},
			})
			conn.out.close()
			return
		}
		s.readmitAgent(a, conn, rr)
	})
	return id, accepted()
}

// readmitAgent is Master::__reregisterSlave for an agent this master does
// not have: it rebuilds the frameworks, executors and tasks the agent
// reports and adds the agent to the allocator with exactly the resources
// those tasks and executors use.
func (s *state) readmitAgent(a *agent, conn *agentConn, rr *agentapipb.Call_Reregister) {
	id := a.id
	a.conn = conn
	a.registeredTime = s.now()
	a.reregisteredTime = a.registeredTime
	// Master::__reregisterSlave: an agent that is not one of the recovered
	// agents of a failover — unreachable, or unknown altogether (e.g.
	// pruned from the unreachable list) — brings its tasks back, and every
	// connected framework hears of each.
	wasUnreachable := !s.unreachable[id].IsZero()
	notRecovered := s.recovered[id] == nil
	backMessage := "Unknown agent reregistered"
	if wasUnreachable {
		backMessage = "Unreachable agent re-reregistered"
	}
	delete(s.unreachable, id)
	delete(s.recovered, id)
	s.setAgent(a)

	// Frameworks the master does not know yet are recovered from the
	// agent's report; they stay inactive until their scheduler subscribes.
	recoveredHere := map[string]bool{}
	var recoveredOrder []*framework
	for _, fi := range rr.GetFrameworks() {
		fid := fi.GetId().GetValue()
		if fid == "" || s.frameworks[fid] != nil || s.isCompletedFramework(fid) {
			continue
		}
		f := s.newRecoveredFramework(proto.Clone(fi).(*mesospb.FrameworkInfo))
		s.alloc().AddFramework(fid, s.allocFramework(f), nil)
		recoveredHere[fid] = true
		recoveredOrder = append(recoveredOrder, f)
		s.log.Info("recovered framework from agent", "framework_id", fid, "agent_id", id)
	}
	// rr was decoded for this call and nothing else holds it: its
	// executors and tasks become the master's as they are, without the
	// clone (at 40,000 agents × 10 tasks the clones were most of the
	// loop's time).
	for _, e := range rr.GetExecutors() {
		fid := e.GetFrameworkId().GetValue()
		if f := s.frameworks[fid]; f != nil {
			s.addExecutor(f, a, e)
		}
	}
	used := map[string][]*mesospb.Resource{} // summed once at the end (sumRes)
	var completedFrameworkTasks []string
	var added []*mesospb.Task // TASK_ADDED once the books are done
	for _, t := range rr.GetTasks() {
		fid := t.GetFrameworkId().GetValue()
		f := s.frameworks[fid]
		if f == nil {
			if s.isCompletedFramework(fid) {
				completedFrameworkTasks = append(completedFrameworkTasks, fid)
			}
			continue
		}
		t.AgentId = &mesospb.AgentID{Value: ptr(id)}
		// Resources of tasks launched by an older master may lack
		// allocation_info; single-role frameworks' role is unambiguous.
		role := ""
		if roles := frameworkRoles(f.info); len(roles) == 1 {
			role = roles[0]
		}
		if rs, err := upgradeOwnResources(t.GetResources(), role); err == nil {
			t.Resources = rs
		}
		s.intern.internTask(t, f.info.GetId(), a.info.GetId())
		s.indexTask(f, a, t)
		added = append(added, t)
		if !taskstate.IsTerminal(t.GetState()) {
			used[fid] = append(used[fid], t.GetResources()...)
		}
		if notRecovered {
			// The task is reachable again: it leaves the unreachable (and,
			// should the master have declared it terminal meanwhile,
			// completed) books, and every connected framework hears of it.
			s.forgetTaskHistory(f, t.GetTaskId().GetValue())
			f.send(updateEvent(reregisteredStatus(t, backMessage, s.now())))
		}
	}
	if notRecovered {
		// Tasks that went unreachable with this agent but that it no
		// longer reports are dropped from the unreachable books too.
		for _, f := range s.frameworks {
			f.unreachableTasks = slices.DeleteFunc(f.unreachableTasks, func(t *mesospb.Task) bool {
				return t.GetAgentId().GetValue() == id
			})
		}
	}
	for fid, execs := range a.executors {
		for _, e := range execs {
			used[fid] = append(used[fid], e.GetResources()...)
		}
	}
	usedSums := make(map[string]resources.Resources, len(used))
	for fid, rs := range used {
		usedSums[fid] = sumRes(rs)
	}
	s.alloc().AddAgent(id, s.allocAgent(a), usedSums)
	// Operator subscribers hear it in Mesos's order: addSlave publishes
	// TASK_ADDED for the tasks of known frameworks, then AGENT_ADDED (still
	// active); deactivation follows; then updateSlaveFrameworks recovers
	// the frameworks first seen here, each FRAMEWORK_ADDED before its
	// tasks' TASK_ADDED.
	for _, t := range added {
		if !recoveredHere[t.GetFrameworkId().GetValue()] {
			s.publishTaskAdded(t)
		}
	}
	s.publishAgentAdded(a)
	if s.deactivated[id] {
		// Master::__reregisterSlave: an agent an operator deactivated
		// stays deactivated across re-registration.
		s.deactivate(a)
	}
	for _, f := range recoveredOrder {
		s.publishFrameworkAdded(f)
		for _, t := range added {
			if t.GetFrameworkId().GetValue() == f.id {
				s.publishTaskAdded(t)
			}
		}
	}
	pushed := conn.out.push(s.registeredEvent(a, agentapipb.Event_REREGISTERED))
	for _, fid := range uniq(completedFrameworkTasks) {
		a.send(shutdownFrameworkEvent(fid))
	}
	s.log.Info("agent re-registered", "agent_id", id, "pid", a.pid, "tasks", len(rr.GetTasks()))
	if !pushed {
		s.agentDisconnected(id, conn) // the agent went away while being re-admitted
	}
	s.triggerAllocation()
}

// reregisterKnownAgent reconnects an agent this master already knows:
// its stream is replaced, tasks the agent no longer reports are lost,
// kills it may have missed are re-sent.
func (s *state) reregisterKnownAgent(a *agent, conn *agentConn, rr *agentapipb.Call_Reregister) {
	if a.conn != nil {
		a.conn.out.close()
	}
	a.conn = conn
	a.reregisteredTime = s.now()
	a.missedPings, a.pongPending = 0, false
	if ip, port, ok := parsePID(rr.GetPid()); ok {
		s.unindexPID(a)
		a.pid, a.ip, a.port = rr.GetPid(), ip, port
		s.byPID[a.pid] = append(s.byPID[a.pid], a)
	}
	a.version = rr.GetVersion()
	a.capabilities = capTypes(rr.GetCapabilities())
	conn.out.push(s.registeredEvent(a, agentapipb.Event_REREGISTERED))

	reported := map[string]map[string]*mesospb.Task{}
	for _, t := range rr.GetTasks() {
		fid := t.GetFrameworkId().GetValue()
		if reported[fid] == nil {
			reported[fid] = map[string]*mesospb.Task{}
		}
		reported[fid][t.GetTaskId().GetValue()] = t
	}
	now := s.now()
	for _, fid := range sortedKeys(a.tasks) {
		f := s.frameworks[fid]
		for _, t := range sortedTasks(a.tasks[fid]) {
			if reported[fid][t.GetTaskId().GetValue()] != nil {
				continue
			}
			// Our agent protocol has no reconciliation through the agent,
			// so a task the agent does not know any more is gone.
			state := mesospb.TaskState_TASK_LOST
			if f != nil && f.partitionAware() {
				state = mesospb.TaskState_TASK_DROPPED
			}
			st := masterStatus(t.TaskId, t.AgentId, state, mesospb.TaskStatus_REASON_RECONCILIATION,
				"Task is unknown to the agent", now)
			t = s.updateTask(t, st, nil)
			s.removeTask(t, false)
			if f != nil {
				f.send(updateEvent(st))
			}
		}
	}
	reportedExec := map[string]bool{}
	for _, e := range rr.GetExecutors() {
		reportedExec[e.GetFrameworkId().GetValue()+"\x00"+e.GetExecutorId().GetValue()] = true
	}
	for _, fid := range sortedKeys(a.executors) {
		for _, eid := range sortedKeys(a.executors[fid]) {
			if !reportedExec[fid+"\x00"+eid] {
				s.removeExecutor(a.id, fid, eid)
			}
		}
	}
	for _, t := range rr.GetTasks() {
		fid, tid := t.GetFrameworkId().GetValue(), t.GetTaskId().GetValue()
		if !taskstate.IsTerminal(t.GetState()) && a.killed[fid][tid] {
			a.send(&agentapipb.Event{
				Type:     agentapipb.Event_KILL_TASK.Enum(),
				KillTask: &agentapipb.Event_KillTask{FrameworkId: t.FrameworkId, TaskId: t.TaskId},
			})
		}
		if s.isCompletedFramework(fid) {
			a.send(shutdownFrameworkEvent(fid))
		}
	}
	if !a.active && !s.deactivated[a.id] {
		a.active = true
		s.alloc().ActivateAgent(a.id)
	}
	s.log.Info("agent reconnected", "agent_id", a.id)
	s.triggerAllocation()
}

// reregisteredStatus is the update sent for each task of an unreachable
// agent that re-registers: the task's reported state, with its latest
// health, check and container status.
func reregisteredStatus(t *mesospb.Task, message string, now time.Time) *mesospb.TaskStatus {
	return taskSnapshotStatus(t, t.GetState(), mesospb.TaskStatus_REASON_AGENT_REREGISTERED, message, now)
}

// taskSnapshotStatus is a master-generated status (no uuid) for a task the
// master knows, in state, carrying the task's latest health, check and
// container status as Mesos's getTaskHealth/getTaskCheckStatus/
// getTaskContainerStatus do.
func taskSnapshotStatus(t *mesospb.Task, state mesospb.TaskState, reason mesospb.TaskStatus_Reason, message string, now time.Time) *mesospb.TaskStatus {
	st := masterStatus(t.TaskId, t.AgentId, state, reason, message, now)
	st.ExecutorId = t.ExecutorId
	if n := len(t.Statuses); n > 0 {
		last := t.Statuses[n-1]
		st.Healthy = last.Healthy
		st.CheckStatus = last.CheckStatus
	}
	st.ContainerStatus = latestContainerStatus(t)
	return st
}

// latestContainerStatus is the container_status of the most recent status
// that has one (protobuf::getTaskContainerStatus).
func latestContainerStatus(t *mesospb.Task) *mesospb.ContainerStatus {
	for i := len(t.Statuses) - 1; i >= 0; i-- {
		if cs := t.Statuses[i].ContainerStatus; cs != nil {
			return cs
		}
	}
	return nil
}

// forgetTaskHistory removes a task from the framework's unreachable and
// completed lists.
func (s *state) forgetTaskHistory(f *framework, taskID string) {
	match := func(t *mesospb.Task) bool { return t.GetTaskId().GetValue() == taskID }
	f.unreachableTasks = slices.DeleteFunc(f.unreachableTasks, match)
	f.completedTasks = slices.DeleteFunc(f.completedTasks, match)
}

func shutdownFrameworkEvent(fid string) *agentapipb.Event {
	return &agentapipb.Event{
		Type:              agentapipb.Event_SHUTDOWN_FRAMEWORK.Enum(),
		ShutdownFramework: &agentapipb.Event_ShutdownFramework{FrameworkId: &mesospb.FrameworkID{Value: ptr(fid)}},
	}
}

func capTypes(caps []*mesospb.AgentInfo_Capability) []mesospb.AgentInfo_Capability_Type {
	out := make([]mesospb.AgentInfo_Capability_Type, 0, len(caps))
	for _, c := range caps {
		out = append(out, c.GetType())
	}
	return out
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// agentDisconnected handles the end of an agent's stream: the agent is
// deactivated and its offers rescinded; ping misses keep counting, so it is
// removed if it does not come back (spec §7.5).
func (s *state) agentDisconnected(agentID string, conn *agentConn) {
	a := s.agents[agentID]
	if a == nil || a.conn != conn {
		return
	}
	s.log.Info("agent disconnected", "agent_id", a.id)
	a.conn = nil
	if a.active {
		a.active = false
		s.alloc().DeactivateAgent(a.id)
	}
	for _, o := range sortedOffers(a.offers) {
		s.rescindOffer(o)
	}
	// Frameworks that do not checkpoint lose their tasks and executors on
	// a disconnected agent at once (Master::exited(UPID)).
	fids := map[string]bool{}
	for fid := range a.tasks {
		fids[fid] = true
	}
	for fid := range a.executors {
		fids[fid] = true
	}
	for _, fid := range sortedKeys(fids) {
		if f := s.frameworks[fid]; f != nil && !f.info.GetCheckpoint() {
			s.removeFrameworkFromAgent(a, f)
		}
	}
}

// agentCall handles the non-stream agent calls.
func (s *state) agentCall(call *agentapipb.Call, streamID string) callResult {
	s.countAgentCall(call)
	a := s.agents[call.GetAgentId().GetValue()]
	if a == nil {
		return failed(ErrForbidden, "Agent %s is not registered", call.GetAgentId().GetValue())
	}
	if streamID == "" {
		return failed(ErrInvalid, "All non-register calls should include the 'Mesos-Stream-Id' header")
	}
	if a.conn == nil || streamID != a.conn.streamID {
		return failed(ErrInvalid, "The stream ID '%s' does not match the agent's current stream", streamID)
	}
	switch call.GetType() {
	case agentapipb.Call_PONG:
		a.missedPings, a.pongPending = 0, false
	case agentapipb.Call_STATUS_UPDATE:
		if call.StatusUpdate == nil {
			return failed(ErrInvalid, "Expecting 'status_update' to be present")
		}
		s.statusUpdate(a, call.GetStatusUpdate())
	case agentapipb.Call_EXECUTOR_MESSAGE:
		if call.ExecutorMessage == nil {
			return failed(ErrInvalid, "Expecting 'executor_message' to be present")
		}
		em := call.GetExecutorMessage()
		if f := s.frameworks[em.GetFrameworkId().GetValue()]; f != nil {
			f.send(&schedulerpb.Event{
				Type: schedulerpb.Event_MESSAGE.Enum(),
				Message: &schedulerpb.Event_Message{
					AgentId:    &mesospb.AgentID{Value: ptr(a.id)},
					ExecutorId: em.ExecutorId,
					Data:       em.Data,
				},
			})
		}
	case agentapipb.Call_EXECUTOR_EXITED:
		if call.ExecutorExited == nil {
			return failed(ErrInvalid, "Expecting 'executor_exited' to be present")
		}
		s.exitedExecutor(a, call.GetExecutorExited())
	case agentapipb.Call_UNREGISTER:
		s.log.Info("agent unregistered", "agent_id", a.id)
		if a.conn != nil {
			a.conn.out.close()
			a.conn = nil
		}
		// Master::unregisterSlave: out of the registry (RemoveSlave), then
		// out of the books.
		s.removeSlave(a, "the agent unregistered", func() { s.metrics.slaveRemovalsUnregistered++ })
	default:
		return failed(ErrUnimplemented, "")
	}
	return accepted()
}

// statusUpdate handles STATUS_UPDATE (Master::statusUpdate): forward to a
// connected scheduler (else drop: the agent retries), then update the task.
func (s *state) statusUpdate(a *agent, su *agentapipb.Call_StatusUpdate) {
	st := proto.Clone(su.GetStatus()).(*mesospb.TaskStatus)
	if st.AgentId == nil {
		st.AgentId = &mesospb.AgentID{Value: ptr(a.id)}
	}
	fid := su.GetFrameworkId().GetValue()
	f := s.frameworks[fid]
	valid := f != nil && f.connected()
	t := a.tasks[fid][st.GetTaskId().GetValue()]
	// The update the framework is to acknowledge becomes the task's
	// status_update_state and _uuid, set below on the task's new version.
	pending := valid && t != nil && len(st.GetUuid()) > 0
	if valid {
		f.send(updateEvent(st))
	} else {
		s.log.Warn("dropping status update for unknown or disconnected framework",
			"framework_id", fid, "task_id", st.GetTaskId().GetValue(), "agent_id", a.id)
	}
	if t == nil {
		s.metrics.invalidStatusUpdates++
		return
	}
	var latest *mesospb.TaskState
	if su.LatestState != nil {
		latest = su.LatestState
	}
	t = s.updateTask(t, st, latest)
	if pending {
		t.StatusUpdateState = st.State
		t.StatusUpdateUuid = st.Uuid
	}
	if valid {
		s.metrics.validStatusUpdates++
	} else {
		s.metrics.invalidStatusUpdates++
	}
}

// pingAgents runs every AgentPingTimeout: an unanswered PING (or a lost
// stream) counts as a miss, MaxAgentPingTimeouts misses make the agent
// unreachable; connected agents get a new PING.
func (s *state) pingAgents() { s.pingGroup(0, 1) }

// pingGroups is how many groups the agents are pinged in (at most), one
// group every AgentPingTimeout/pingGroups but no more often than every
// pingGroupGap, so that each agent is still pinged once per
// AgentPingTimeout (as Mesos's per-agent observers ping it) but not all at
// one instant: 18,000 PINGs at once kept both cores busy for ~1 s (their
// writes and the PONGs), and every scheduler call waited behind them; in
// 16 groups, a scheduler call in a hundred still waited ~50 ms.
const (
	pingGroups   = 128
	pingGroupGap = 10 * time.Millisecond
)

// pingGroupsFor is the number of ping groups for timeout.
func pingGroupsFor(timeout time.Duration) int {
	return max(1, min(pingGroups, int(timeout/pingGroupGap)))
}

// pingGroup is pingAgents for the agents of group k of n (by a hash of
// their IDs; n = 1: all of them).
func (s *state) pingGroup(k, n int) {
	var group []*agent
	for _, a := range s.agents {
		if n == 1 || a.pingGroupOf(n) == k {
			group = append(group, a)
		}
	}
	slices.SortFunc(group, func(a, b *agent) int { return cmp.Compare(a.id, b.id) })
	for _, a := range group {
		if a.pongPending || !a.connected() {
			a.missedPings++
		}
		if s.markingUnreachable[a.id] || s.markingGone[a.id] || s.removing[a.id] {
			// Master::markUnreachable skips an agent whose unreachable or
			// gone transition is already in flight.
			continue
		}
		if a.missedPings >= s.cfg.MaxAgentPingTimeouts {
			s.log.Warn("agent missed too many pings, marking unreachable", "agent_id", a.id, "missed", a.missedPings)
			if a.conn != nil {
				a.conn.out.close()
				a.conn = nil
			}
			s.markUnreachable(a, "health check timed out")
			continue
		}
		if a.connected() {
			a.pongPending = true
			a.send(&agentapipb.Event{Type: agentapipb.Event_PING.Enum()})
		}
	}
}

// pingGroupOf is the agent's ping group, of n: by a hash of its ID, taken
// once (every group's tick looks at every agent).
func (a *agent) pingGroupOf(n int) int {
	if a.pingHash == 0 {
		h := fnv.New32a()
		_, _ = h.Write([]byte(a.id))
		a.pingHash = uint64(h.Sum32()) + 1
	}
	return int((a.pingHash - 1) % uint64(n))
}

// exitedExecutor handles EXECUTOR_EXITED (Master::exitedExecutor): an
// executor the master does not know — e.g. the command executors, which
// are never recorded — is ignored; otherwise it is removed and a connected
// framework gets a FAILURE with the exit status.
func (s *state) exitedExecutor(a *agent, ee *agentapipb.Call_ExecutorExited) {
	fid, eid := ee.GetFrameworkId().GetValue(), ee.GetExecutorId().GetValue()
	if _, known := a.executors[fid][eid]; !known {
		s.log.Warn("ignoring unknown exited executor", "executor_id", eid, "framework_id", fid, "agent_id", a.id)
		return
	}
	s.removeExecutor(a.id, fid, eid)
	f := s.frameworks[fid]
	if f == nil || !f.connected() {
		return
	}
	f.send(&schedulerpb.Event{
		Type: schedulerpb.Event_FAILURE.Enum(),
		Failure: &schedulerpb.Event_Failure{
			AgentId:    &mesospb.AgentID{Value: ptr(a.id)},
			ExecutorId: ee.ExecutorId,
			Status:     ptr(ee.GetStatus()),
		},
	})
}

// removeFrameworkFromAgent is Mesos's removeFramework(Slave*, Framework*):
// used when an agent disconnects, for frameworks that do not checkpoint.
// Their tasks there become TASK_LOST (also for partition-aware
// frameworks) and move to completed; their executors there are removed.
func (s *state) removeFrameworkFromAgent(a *agent, f *framework) {
	s.log.Info("removing framework from disconnected agent", "framework_id", f.id, "agent_id", a.id)
	now := s.now()
	for _, t := range sortedTasks(a.tasks[f.id]) {
		st := masterStatus(t.TaskId, t.AgentId, mesospb.TaskState_TASK_LOST,
			mesospb.TaskStatus_REASON_AGENT_DISCONNECTED, "Agent "+a.info.GetHostname()+" disconnected", now)
		st.ExecutorId = t.ExecutorId
		t = s.updateTask(t, st, nil)
		s.removeTask(t, false)
		f.send(updateEvent(st))
	}
	for _, eid := range sortedKeys(a.executors[f.id]) {
		s.removeExecutor(a.id, f.id, eid)
	}
}

// removeSlave is Master::removeSlave: the agent leaves the registry
// (RemoveAgent) and then the books (removeAgent, and count). It is
// skipped while another transition of the agent is in flight, and while
// it runs MARK_AGENT_GONE answers 503 and pings do not mark the agent
// unreachable.
func (s *state) removeSlave(a *agent, cause string, count func()) {
	switch {
	case s.markingUnreachable[a.id], s.markingGone[a.id], s.removing[a.id]:
		s.log.Warn("ignoring the removal of an agent with a registry transition in flight", "agent_id", a.id)
		return
	}
	s.removing[a.id] = true
	s.persist(&registry.RemoveAgent{ID: &mesospb.AgentID{Value: ptr(a.id)}}, func(_ bool, rejected error) {
		delete(s.removing, a.id)
		if rejected != nil {
			s.log.Warn("cannot remove agent from the registry", "agent_id", a.id, "err", rejected)
		}
		// A new agent at the address of a disconnected one may have
		// found it reconnected meanwhile.
		if s.agents[a.id] == a && !(cause == removedRegisteredCause && a.connected()) {
			s.removeAgent(a, false, cause)
			count()
		}
	})
}

// markUnreachable is Master::markUnreachable: the agent is marked
// unreachable in the registry, and only then are its tasks
// TASK_UNREACHABLE/TASK_LOST to their frameworks (removeAgent). While the
// write is in flight the agent is neither pinged nor let back in.
func (s *state) markUnreachable(a *agent, cause string) {
	s.markingUnreachable[a.id] = true
	s.persist(&registry.MarkAgentUnreachable{ID: &mesospb.AgentID{Value: ptr(a.id)}, Time: s.now()},
		func(_ bool, rejected error) {
			delete(s.markingUnreachable, a.id)
			if rejected != nil {
				s.log.Warn("cannot mark agent unreachable", "agent_id", a.id, "err", rejected)
				return
			}
			if s.agents[a.id] == a {
				s.removeAgent(a, true, cause)
				s.metrics.slaveRemovalsUnhealthy++
			}
		})
}

// removeAgent removes an agent, in the order of Mesos's _removeSlave and
// __removeSlave: the allocator forgets it first; every task on it gets a
// master update forwarded to its connected framework (also tasks that are
// already terminal but unacknowledged) and is removed; executors are
// removed; offers are rescinded; finally every framework gets a FAILURE.
//
// unreachable (ping timeouts, cause "health check timed out"): tasks become
// TASK_UNREACHABLE for partition-aware frameworks, else TASK_LOST, with
// REASON_AGENT_REMOVED, the cause as message and unreachable_time; all of
// them go to the framework's unreachable_tasks. Otherwise (the agent
// unregistered, a new agent registered at its address): TASK_LOST, also
// for partition-aware frameworks, REASON_AGENT_REMOVED, "Agent <hostname>
// removed: <cause>", to completed_tasks. Callers count the removal's
// reason (master/slave_removals/reason_*).
//
// An agent already in s.gone (markGone) is removed as __removeSlave does
// without an unreachable time: its tasks become TASK_GONE_BY_OPERATOR with
// REASON_AGENT_REMOVED_BY_OPERATOR for partition-aware frameworks and go to
// completed_tasks; for the others TASK_LOST with REASON_AGENT_REMOVED, and
// — as in Mesos, which keeps "unreachable" set for them — to
// unreachable_tasks. The cause is the message, and master/slave_removals
// does not count it.
func (s *state) removeAgent(a *agent, unreachable bool, cause string) {
	now := s.now()
	gone := !s.gone[a.id].IsZero()
	s.alloc().RemoveAgent(a.id)
	for _, fid := range sortedKeys(a.tasks) {
		f := s.frameworks[fid]
		for _, t := range sortedTasks(a.tasks[fid]) {
			state, msg := mesospb.TaskState_TASK_LOST, "Agent "+a.info.GetHostname()+" removed: "+cause
			reason, toUnreachable := mesospb.TaskStatus_REASON_AGENT_REMOVED, unreachable
			if unreachable {
				msg = cause
				if f != nil && f.partitionAware() {
					state = mesospb.TaskState_TASK_UNREACHABLE
				}
			}
			if gone {
				state, reason = goneTaskState(f)
				msg, toUnreachable = cause, state == mesospb.TaskState_TASK_LOST
			}
			st := masterStatus(t.TaskId, t.AgentId, state, reason, msg, now)
			st.ExecutorId = t.ExecutorId
			if unreachable {
				st.UnreachableTime = &mesospb.TimeInfo{Nanoseconds: ptr(now.UnixNano())}
			}
			t = s.updateTask(t, st, nil)
			s.removeTask(t, toUnreachable)
			if f != nil {
				f.send(updateEvent(st))
			}
		}
	}
	for _, fid := range sortedKeys(a.executors) {
		for _, eid := range sortedKeys(a.executors[fid]) {
			s.removeExecutor(a.id, fid, eid)
		}
	}
	for _, o := range sortedOffers(a.offers) {
		s.dropOffer(o)
		if f := s.frameworks[o.frameworkID]; f != nil {
			f.send(&schedulerpb.Event{
				Type:    schedulerpb.Event_RESCIND.Enum(),
				Rescind: &schedulerpb.Event_Rescind{OfferId: &mesospb.OfferID{Value: ptr(o.id)}},
			})
		}
	}
	delete(s.agents, a.id)
	s.agentOrder = nil
	s.unindexPID(a)
	if unreachable {
		s.unreachable[a.id] = now
	} else if !gone {
		// Master::_removeSlave forgets an operator's deactivation of a
		// removed agent; an unreachable or gone one (__removeSlave) keeps
		// it.
		delete(s.deactivated, a.id)
	}
	if !gone {
		s.metrics.slaveRemovals++
	}
	if !unreachable && !gone {
		// 1.11 publishes AGENT_REMOVED in _removeSlave only: not for an
		// agent marked unreachable or gone (__removeSlave).
		s.publishAgentRemoved(a.id)
	}
	for _, f := range s.sortedFrameworks() {
		f.send(&schedulerpb.Event{
			Type:    schedulerpb.Event_FAILURE.Enum(),
			Failure: &schedulerpb.Event_Failure{AgentId: &mesospb.AgentID{Value: ptr(a.id)}},
		})
	}
}
