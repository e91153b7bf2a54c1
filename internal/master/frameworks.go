package master

import (
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/master/validation"
	"github.com/meso-project/meso/internal/pb/agentapipb"
)

// subscribe handles SUBSCRIBE on the actor (Master::subscribe and
// _subscribe for HTTP frameworks). It always leaves conn with something to
// write: SUBSCRIBED (and a first HEARTBEAT), or an ERROR followed by the end
// of the stream. It returns the framework ID the stream belongs to, or "".
func (s *state) subscribe(conn *schedConn, sub *schedulerpb.Call_Subscribe) string {
	info := proto.Clone(sub.GetFrameworkInfo()).(*mesospb.FrameworkInfo)
	refuse := func(msg string) string {
		s.log.Info("refusing subscription", "framework", info.GetName(), "reason", msg)
		conn.out.push(errorEvent(msg))
		conn.out.close()
		return ""
	}
	if err := validation.FrameworkInfo(info); err != nil {
		return refuse(err.Error())
	}
	if id := info.GetId().GetValue(); id != "" && s.isCompletedFramework(id) {
		return refuse("Framework has been removed")
	}
	roles := frameworkRoles(info)
	if err := validation.SuppressedRoles(roles, sub.GetSuppressedRoles()); err != nil {
		return refuse(err.Error())
	}
	if !s.frameworkAllowed(info) {
		// Mesos's checkSubscribeAuthorization: an ERROR event, then the
		// end of the stream.
		return refuse(authz.DeniedRegistration(info))
	}

	if info.GetId().GetValue() == "" {
		// A new framework.
		info.Id = &mesospb.FrameworkID{Value: ptr(s.newFrameworkID())}
		f := s.newFramework(info)
		f.conn = conn
		f.active = true
		for _, r := range sub.GetSuppressedRoles() {
			f.suppressed[r] = true
		}
		s.alloc().AddFramework(f.id, s.allocFramework(f), nil)
		s.log.Info("framework subscribed", "framework_id", f.id, "name", info.GetName())
		s.sendSubscribed(f)
		s.publishFrameworkAdded(f)
		s.triggerAllocation()
		return f.id
	}

	id := info.GetId().GetValue()
	f := s.frameworks[id]
	if f == nil {
		// Unknown to this master (e.g. after a failover before any agent
		// reported it): accept the ID, as Mesos's recoverFramework does.
		f = s.newRecoveredFramework(info)
		s.alloc().AddFramework(f.id, s.allocFramework(f), nil)
		s.publishFrameworkAdded(f)
	}
	// user and checkpoint changes are silently ignored on re-subscription;
	// a principal change is refused.
	info.User = proto.String(f.info.GetUser())
	info.Checkpoint = proto.Bool(f.info.GetCheckpoint())
	if err := validation.FrameworkUpdate(f.info, info); err != nil {
		return refuse(err.Error())
	}

	// The old connection, if any, learns that it has been replaced.
	if f.conn != nil {
		f.conn.out.push(errorEvent("Framework failed over"))
		f.conn.out.close()
		f.conn = nil
	}
	if f.failoverTimer != nil {
		f.failoverTimer.Stop()
		f.failoverTimer = nil
	}
	f.failoverGen++

	s.applyFrameworkInfo(f, info, sub.GetSuppressedRoles())
	// Outstanding offers are invalidated; the resources are offered again.
	for _, o := range sortedOffers(f.offers) {
		s.removeOffer(o, true)
	}
	if f.recovered {
		// Mesos's recoverFramework: the first registration time is not
		// persisted across failovers, so both become now.
		f.registeredTime = s.now()
		f.reregisteredTime = f.registeredTime
	} else {
		f.reregisteredTime = s.now()
	}
	f.recovered = false
	f.conn = conn
	if !f.active {
		f.active = true
		s.alloc().ActivateFramework(f.id)
	}
	s.log.Info("framework re-subscribed", "framework_id", f.id)
	s.sendSubscribed(f)
	s.sendFrameworkUpdates(f)
	s.triggerAllocation()
	return f.id
}

func (s *state) alloc() allocator.Allocator { return s.m.alloc }

func (s *state) allocFramework(f *framework) allocator.Framework {
	var sup []string
	for _, r := range frameworkRoles(f.info) {
		if f.suppressed[r] {
			sup = append(sup, r)
		}
	}
	return allocator.Framework{Info: f.info, SuppressedRoles: sup, Active: f.active}
}

// applyFrameworkInfo replaces the framework's info and suppressed roles
// (shared by re-subscription and UPDATE_FRAMEWORK) and tells the allocator.
// Offers for roles the framework no longer has are rescinded.
func (s *state) applyFrameworkInfo(f *framework, info *mesospb.FrameworkInfo, suppressed []string) {
	newRoles := frameworkRoles(info)
	f.info = info
	newSup := map[string]bool{}
	for _, r := range suppressed {
		newSup[r] = true
	}
	var unsuppressed []string
	for r := range f.suppressed {
		if !newSup[r] && slices.Contains(newRoles, r) {
			unsuppressed = append(unsuppressed, r)
		}
	}
	f.suppressed = newSup
	s.alloc().UpdateFramework(f.id, s.allocFramework(f))
	if len(unsuppressed) > 0 {
		// Newly unsuppressed roles get their filters cleared (spec §1.10).
		slices.Sort(unsuppressed)
		s.alloc().ReviveOffers(f.id, unsuppressed, s.now())
	}
	for _, o := range sortedOffers(f.offers) {
		if !slices.Contains(newRoles, o.role) {
			s.rescindOffer(o)
		}
	}
}

func (s *state) sendSubscribed(f *framework) {
	f.send(&schedulerpb.Event{
		Type: schedulerpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &schedulerpb.Event_Subscribed{
			FrameworkId:              &mesospb.FrameworkID{Value: ptr(f.id)},
			HeartbeatIntervalSeconds: ptr(s.cfg.HeartbeatInterval.Seconds()),
			MasterInfo:               proto.Clone(s.info).(*mesospb.MasterInfo),
		},
	})
	// Mesos's heartbeater sends the first HEARTBEAT right away.
	f.send(&schedulerpb.Event{Type: schedulerpb.Event_HEARTBEAT.Enum()})
}

// sendFrameworkUpdates tells operator subscribers (FRAMEWORK_UPDATED) and
// the agents running the framework its new info.
func (s *state) sendFrameworkUpdates(f *framework) {
	s.publishFrameworkUpdated(f)
	for _, a := range s.sortedAgents() {
		if len(a.tasks[f.id]) == 0 && len(a.executors[f.id]) == 0 {
			continue
		}
		a.send(&agentapipb.Event{
			Type:            agentapipb.Event_UPDATE_FRAMEWORK.Enum(),
			UpdateFramework: &agentapipb.Event_UpdateFramework{FrameworkInfo: proto.Clone(f.info).(*mesospb.FrameworkInfo)},
		})
	}
}

func errorEvent(msg string) *schedulerpb.Event {
	return &schedulerpb.Event{
		Type:  schedulerpb.Event_ERROR.Enum(),
		Error: &schedulerpb.Event_Error{Message: ptr(msg)},
	}
}

// schedulerDisconnected handles the end of a SUBSCRIBE stream. Only the
// framework's current stream counts; old replaced streams are ignored.
func (s *state) schedulerDisconnected(frameworkID string, conn *schedConn) {
	f := s.frameworks[frameworkID]
	if f == nil || f.conn != conn {
		return
	}
	s.log.Info("framework disconnected", "framework_id", f.id)
	f.conn = nil
	s.deactivateFramework(f)

	// validation.FrameworkInfo keeps the product within int64 nanoseconds;
	// a negative (or NaN) timeout removes the framework at once, as a
	// negative delay fires immediately in Mesos.
	sec := f.info.GetFailoverTimeout()
	timeout := time.Duration(0)
	if sec > 0 {
		timeout = time.Duration(sec * float64(time.Second))
	}
	if timeout <= 0 {
		s.removeFramework(f)
		return
	}
	f.failoverGen++
	gen := f.failoverGen
	f.failoverTimer = s.m.after(timeout, func() { s.failoverTimeout(frameworkID, gen) })
}

// deactivateFramework stops offers and rescinds outstanding ones.
func (s *state) deactivateFramework(f *framework) {
	if f.active {
		f.active = false
		s.alloc().DeactivateFramework(f.id)
	}
	for _, o := range sortedOffers(f.offers) {
		s.removeOffer(o, false)
	}
}

func (s *state) failoverTimeout(frameworkID string, gen int) {
	f := s.frameworks[frameworkID]
	if f == nil || f.connected() || f.failoverGen != gen {
		return
	}
	s.log.Info("framework failover timeout, removing framework", "framework_id", f.id)
	s.removeFramework(f)
}

// removeFramework tears a framework down (TEARDOWN, failover timeout):
// its executors are shut down and tasks killed on the agents, its offers
// are returned, and it moves to completed_frameworks.
func (s *state) removeFramework(f *framework) {
	s.log.Info("removing framework", "framework_id", f.id)
	if f.failoverTimer != nil {
		f.failoverTimer.Stop()
		f.failoverTimer = nil
	}
	if f.conn != nil {
		f.conn.out.close()
		f.conn = nil
	}
	f.active = false
	for _, o := range sortedOffers(f.offers) {
		s.removeOffer(o, false)
	}
	for _, a := range s.sortedAgents() {
		if len(a.tasks[f.id]) > 0 || len(a.executors[f.id]) > 0 {
			a.send(&agentapipb.Event{
				Type:              agentapipb.Event_SHUTDOWN_FRAMEWORK.Enum(),
				ShutdownFramework: &agentapipb.Event_ShutdownFramework{FrameworkId: &mesospb.FrameworkID{Value: ptr(f.id)}},
			})
		}
	}
	now := s.now()
	for _, t := range sortedTasks(f.tasks) {
		st := masterStatus(t.TaskId, t.AgentId, mesospb.TaskState_TASK_KILLED,
			mesospb.TaskStatus_REASON_FRAMEWORK_REMOVED, "Framework "+f.id+" removed", now)
		st.ExecutorId = t.ExecutorId
		t = s.updateTask(t, st, nil)
		s.removeTask(t, false)
	}
	for agentID, execs := range f.executors {
		for execID := range execs {
			s.removeExecutor(agentID, f.id, execID)
		}
	}
	// Unreachable tasks are implicitly killed too and become completed.
	for _, t := range f.unreachableTasks {
		st := masterStatus(t.TaskId, t.AgentId, mesospb.TaskState_TASK_KILLED,
			mesospb.TaskStatus_REASON_FRAMEWORK_REMOVED, "Framework "+f.id+" removed", now)
		st.ExecutorId = t.ExecutorId
		t = s.updateTask(t, st, nil)
		f.completedTasks = appendBounded(f.completedTasks, t, s.cfg.MaxCompletedTasksPerFramework)
	}
	f.unreachableTasks = nil
	s.alloc().RemoveFramework(f.id)
	delete(s.frameworks, f.id)
	// unregistered_time is the removal time (Mesos sets it only here).
	f.unregisteredTime = now
	s.metrics.frameworkRemovals++
	s.completedFrameworks = appendBounded(s.completedFrameworks, f, s.cfg.MaxCompletedFrameworks)
	s.publishFrameworkRemoved(f)
}

// updateFrameworkCall handles UPDATE_FRAMEWORK (200 on success).
func (s *state) updateFrameworkCall(f *framework, u *schedulerpb.Call_UpdateFramework) callResult {
	info := proto.Clone(u.GetFrameworkInfo()).(*mesospb.FrameworkInfo)
	if err := validation.FrameworkInfo(info); err != nil {
		return failed(ErrInvalid, "Supplied FrameworkInfo is not valid: %v", err)
	}
	if err := validation.FrameworkUpdate(f.info, info); err != nil {
		return failed(ErrInvalid, "FrameworkInfo update is not valid: %v", err)
	}
	if err := validation.SuppressedRoles(frameworkRoles(info), u.GetSuppressedRoles()); err != nil {
		return failed(ErrInvalid, "'UpdateFramework' call is not valid: %v", err)
	}
	if !s.frameworkAllowed(info) {
		// Master::updateFramework: 403 with the registration's message.
		return failed(ErrForbidden, "%s", authz.DeniedRegistration(info))
	}
	changed := !proto.Equal(f.info, info)
	s.applyFrameworkInfo(f, info, u.GetSuppressedRoles())
	if changed {
		s.sendFrameworkUpdates(f)
	}
	s.triggerAllocation()
	return callResult{outcome: outcomeDone}
}

// rolesOrAll validates the roles of SUPPRESS/REVIVE: empty means all of the
// framework's roles; any unknown or invalid role drops the call.
func (s *state) rolesOrAll(f *framework, roles []string) ([]string, bool) {
	fr := frameworkRoles(f.info)
	if len(roles) == 0 {
		return fr, true
	}
	for _, r := range roles {
		if validation.Role(r) != nil || !slices.Contains(fr, r) {
			s.log.Warn("dropping call with invalid roles", "framework_id", f.id, "role", r)
			return nil, false
		}
	}
	return roles, true
}

func (s *state) suppress(f *framework, roles []string) {
	rs, ok := s.rolesOrAll(f, roles)
	if !ok {
		return
	}
	for _, r := range rs {
		f.suppressed[r] = true
	}
	s.alloc().SuppressOffers(f.id, roles)
}

func (s *state) revive(f *framework, roles []string) {
	rs, ok := s.rolesOrAll(f, roles)
	if !ok {
		return
	}
	for _, r := range rs {
		delete(f.suppressed, r)
	}
	s.alloc().ReviveOffers(f.id, roles, s.now())
	s.triggerAllocation()
}
