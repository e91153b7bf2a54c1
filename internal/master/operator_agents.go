package master

import (
	"fmt"
	"slices"
	"time"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/internal/registry"
)

// The operator calls on agents: DEACTIVATE_AGENT, REACTIVATE_AGENT and
// MARK_AGENT_GONE, as Mesos 1.11's Master::Http::_deactivateAgent,
// _reactivateAgent and _markAgentGone (http.cpp) with Master::deactivate
// and Master::markGone (master.cpp). Each is answered once the registry
// holds it. Also here: the calls meso answers 501 for now, and why.

// goneMessage is what a gone agent and its tasks' updates are told
// (Master::markGone).
const goneMessage = "Agent has been marked gone"

// agentOperatorCall runs DEACTIVATE_AGENT, REACTIVATE_AGENT and MARK_AGENT_GONE on
// the loop; ok is false for any other call.
func (s *state) agentOperatorCall(call *masterpb.Call) (opResult, bool) {
	switch call.GetType() {
	case masterpb.Call_DEACTIVATE_AGENT:
		return s.deactivateAgent(call.GetDeactivateAgent().GetAgentId().GetValue()), true
	case masterpb.Call_REACTIVATE_AGENT:
		return s.reactivateAgent(call.GetReactivateAgent().GetAgentId().GetValue()), true
	case masterpb.Call_MARK_AGENT_GONE:
		return s.markAgentGone(call.GetMarkAgentGone().GetAgentId().GetValue()), true
	}
	return opResult{}, false
}

// deactivateAgent is _deactivateAgent: any agent the master knows of —
// registered, recovered from the registry, or unreachable — may be
// deactivated; the deactivation is written to the registry, then a
// registered agent stops getting offers and its outstanding offers are
// rescinded. Deactivating a deactivated agent is a 200 again.
func (s *state) deactivateAgent(id string) opResult {
	if s.agents[id] == nil && s.recovered[id] == nil && s.unreachable[id].IsZero() {
		return opFailed(ErrInvalid, "Unknown agent")
	}
	return s.durably(&registry.DeactivateAgent{ID: &mesospb.AgentID{Value: ptr(id)}}, func() opResult {
		s.deactivated[id] = true
		if a := s.agents[id]; a != nil {
			s.deactivate(a)
		}
		return opOK()
	})
}

// deactivate is Master::deactivate(Slave*): the allocator stops offering
// the agent and its outstanding offers are rescinded (without a filter).
// A disconnected agent is already inactive; the call changes nothing then.
func (s *state) deactivate(a *agent) {
	s.log.Info("deactivating agent", "agent_id", a.id)
	a.active = false
	s.alloc().DeactivateAgent(a.id)
	for _, o := range sortedOffers(a.offers) {
		s.rescindOffer(o)
	}
}

// reactivateAgent is _reactivateAgent: only a deactivated agent can be
// reactivated (400 "Agent is not deactivated" otherwise). Once the
// registry forgets the deactivation, a connected agent is offered again;
// a disconnected one becomes active when it re-registers. An agent that
// is deactivated but not registered (recovered, unreachable) is
// reactivated all the same and answered 409 "Agent removed while
// processing the call", as Mesos answers it.
//
// Mesos also refuses an agent that is still DRAINING ("Agent is still in
// the DRAINING state") and clears a finished drain; meso does not drain
// agents yet (DRAIN_AGENT is 501), so neither case can arise.
func (s *state) reactivateAgent(id string) opResult {
	if !s.deactivated[id] {
		return opFailed(ErrInvalid, "Agent is not deactivated")
	}
	return s.durably(&registry.ReactivateAgent{ID: &mesospb.AgentID{Value: ptr(id)}}, func() opResult {
		delete(s.deactivated, id)
		a := s.agents[id]
		if a == nil {
			return opFailed(ErrConflict, "Agent removed while processing the call")
		}
		if a.connected() {
			s.log.Info("reactivating agent", "agent_id", id)
			a.active = true
			s.alloc().ActivateAgent(id)
		} else {
			s.log.Info("disconnected agent will be reactivated when it re-registers", "agent_id", id)
		}
		return opOK()
	})
}

// markAgentGone is _markAgentGone: an agent already gone is a 200; one
// with a registry transition in flight is a 503 (retryable); otherwise a
// registered, recovered or unreachable agent is written to the registry
// as gone and then removed (markGone); anything else is a 404.
func (s *state) markAgentGone(id string) opResult {
	if !s.gone[id].IsZero() {
		s.log.Warn("not marking agent gone: it already is", "agent_id", id)
		return opOK()
	}
	switch {
	case s.markingGone[id]:
		return opFailed(ErrUnavailable, "Agent '%s' is already being transitioned to gone", id)
	case s.removing[id]:
		return opFailed(ErrUnavailable, "Agent '%s' is being transitioned to removed", id)
	case s.markingUnreachable[id]:
		return opFailed(ErrUnavailable, "Agent '%s' is being transitioned to unreachable", id)
	}
	if s.agents[id] == nil && s.recovered[id] == nil && s.unreachable[id].IsZero() {
		return opFailed(ErrNotFound, "Agent '%s' not found", id)
	}
	s.log.Info("marking agent gone", "agent_id", id)
	s.markingGone[id] = true
	goneTime := s.now()
	done := make(chan opResult, 1)
	s.persist(&registry.MarkAgentGone{ID: &mesospb.AgentID{Value: ptr(id)}, Time: goneTime},
		func(_ bool, rejected error) {
			delete(s.markingGone, id)
			if rejected != nil {
				// Mesos aborts here; the registry and the books still agree.
				done <- opFailed(ErrInternal, "Failed to mark agent %s as gone in the registry: %v", id, rejected)
				return
			}
			s.markGone(id, goneTime)
			done <- opOK()
		})
	return opResult{wait: done}
}

// markGone is Master::markGone, once the registry holds the agent as gone:
//   - a registered agent is told to shut down (SHUTDOWN "Agent has been
//     marked gone") and removed (removeAgent, which sees it in s.gone:
//     TASK_GONE_BY_OPERATOR for partition-aware frameworks, TASK_LOST for
//     the others, offers rescinded, a FAILURE to every framework);
//   - an unreachable agent's unreachable tasks go the same way, to
//     completed_tasks, with an update to each connected framework;
//   - a recovered agent has no tasks the master knows of: nothing else
//     happens, and (as in Mesos) it stays among the recovered agents until
//     it tries to re-register, when it is told to shut down.
//
// A gone agent that re-registers is told to shut down (reregisterAgent).
func (s *state) markGone(id string, goneTime time.Time) {
	s.gone[id] = goneTime
	a := s.agents[id]
	if a == nil {
		if s.recovered[id] != nil {
			return
		}
		delete(s.unreachable, id)
		delete(s.deactivated, id)
		s.goneUnreachableTasks(id)
		return
	}
	if a.conn != nil {
		a.conn.out.push(&agentapipb.Event{
			Type:     agentapipb.Event_SHUTDOWN.Enum(),
			Shutdown: &agentapipb.Event_Shutdown{Message: ptr(goneMessage)},
		})
		a.conn.out.close()
		a.conn = nil
	}
	s.removeAgent(a, false, goneMessage)
}

// goneUnreachableTasks moves the unreachable tasks of a gone agent to
// completed_tasks in the state goneTaskState gives, telling their
// connected frameworks (the unreachable branch of Master::markGone; only
// registered frameworks' tasks, as Mesos walks getFramework).
func (s *state) goneUnreachableTasks(id string) {
	now := s.now()
	for _, f := range s.sortedFrameworks() {
		var keep []*mesospb.Task
		for _, t := range f.unreachableTasks {
			if t.GetAgentId().GetValue() != id {
				keep = append(keep, t)
				continue
			}
			state, reason := goneTaskState(f)
			st := masterStatus(t.TaskId, t.AgentId, state, reason, goneMessage, now)
			st.ExecutorId = t.ExecutorId
			t = s.updateTask(t, st, nil)
			f.send(updateEvent(st))
			f.completedTasks = appendBounded(f.completedTasks, t, s.cfg.MaxCompletedTasksPerFramework)
		}
		f.unreachableTasks = keep
	}
}

// goneTaskState is the state and reason of a task on an agent marked gone
// (Master::__removeSlave and markGone): TASK_GONE_BY_OPERATOR with
// REASON_AGENT_REMOVED_BY_OPERATOR for partition-aware frameworks,
// TASK_LOST with REASON_AGENT_REMOVED for the others (f nil: a framework
// the master does not know, treated as not partition-aware).
func goneTaskState(f *framework) (mesospb.TaskState, mesospb.TaskStatus_Reason) {
	if f != nil && f.partitionAware() {
		return mesospb.TaskState_TASK_GONE_BY_OPERATOR, mesospb.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR
	}
	return mesospb.TaskState_TASK_LOST, mesospb.TaskStatus_REASON_AGENT_REMOVED
}

// Operator calls Mesos 1.11 implements and meso does not yet: answered
// 501 with a message that names the call and what is missing, never a
// silent 200.
var (
	maintenanceCalls = []masterpb.Call_Type{
		masterpb.Call_GET_MAINTENANCE_STATUS, masterpb.Call_GET_MAINTENANCE_SCHEDULE,
		masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE, masterpb.Call_START_MAINTENANCE,
		masterpb.Call_STOP_MAINTENANCE,
	}
	volumeCalls = []masterpb.Call_Type{
		masterpb.Call_CREATE_VOLUMES, masterpb.Call_DESTROY_VOLUMES,
		masterpb.Call_GROW_VOLUME, masterpb.Call_SHRINK_VOLUME,
	}
)

// unimplementedMessage is the body of the 501 for an operator call meso
// does not implement.
func unimplementedMessage(t masterpb.Call_Type) string {
	why := ""
	switch {
	case slices.Contains(maintenanceCalls, t):
		why = ": meso has no maintenance schedules or inverse offers yet"
	case slices.Contains(volumeCalls, t):
		why = ": meso has no persistent volumes yet"
	case t == masterpb.Call_DRAIN_AGENT:
		why = ": meso does not drain agents yet (DEACTIVATE_AGENT stops offers from an agent)"
	}
	return fmt.Sprintf("Operator call %s is not implemented by this master%s", t, why)
}
