package master

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/proto"

	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/master/validation"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/resources"
	"github.com/meso-project/meso/pkg/taskstate"
)

// accept handles ACCEPT (Master::accept and _accept).
func (s *state) accept(f *framework, acc *schedulerpb.Call_Accept) {
	ops := acc.GetOperations()
	f.countAccept(acc)
	for _, op := range ops {
		if op.GetType() == mesospb.Offer_Operation_LAUNCH {
			if len(op.GetLaunch().GetTaskInfos()) > 0 {
				s.metrics.messagesLaunchTasks++
			} else {
				s.metrics.messagesDeclineOffers++
			}
		}
	}

	var err error
	if len(acc.GetOfferIds()) == 0 {
		err = fmt.Errorf("No offers specified")
	} else {
		err = s.validateOffers(f, acc.GetOfferIds())
	}
	if err != nil {
		for _, id := range acc.GetOfferIds() {
			if o := s.offers[id.GetValue()]; o != nil {
				s.removeOffer(o, false)
			}
		}
		s.log.Warn("ACCEPT call used invalid offers", "framework_id", f.id, "error", err)
		state := mesospb.TaskState_TASK_LOST
		if f.partitionAware() {
			state = mesospb.TaskState_TASK_DROPPED
		}
		for _, op := range ops {
			if t := op.GetType(); t != mesospb.Offer_Operation_LAUNCH && t != mesospb.Offer_Operation_LAUNCH_GROUP {
				s.dropOperation(f, op, "Operation attempted with invalid offers: "+err.Error())
				continue
			}
			for _, t := range launchTasks(op) {
				s.countTerminal(state)
				s.sendMasterUpdate(f, masterStatus(t.GetTaskId(), t.GetAgentId(), state,
					mesospb.TaskStatus_REASON_INVALID_OFFERS,
					"Task launched with invalid offers: "+err.Error(), s.now()))
			}
		}
		return
	}

	first := s.offers[acc.GetOfferIds()[0].GetValue()]
	agentID, role := first.agentID, first.role
	a := s.agents[agentID]
	var offered []*mesospb.Resource
	for _, id := range acc.GetOfferIds() {
		o := s.offers[id.GetValue()]
		offered = addRes(offered, o.resources)
		s.dropOffer(o)
	}
	remaining := offered // addRes's own copy

	if a == nil || !a.connected() {
		state := mesospb.TaskState_TASK_LOST
		if f.partitionAware() {
			state = mesospb.TaskState_TASK_DROPPED
		}
		reason, msg := mesospb.TaskStatus_REASON_AGENT_DISCONNECTED, "Agent disconnected"
		if a == nil {
			reason, msg = mesospb.TaskStatus_REASON_AGENT_REMOVED, "Agent removed"
		}
		for _, op := range ops {
			for _, t := range launchTasks(op) {
				s.countTerminal(state)
				s.sendMasterUpdate(f, masterStatus(t.GetTaskId(), t.GetAgentId(), state, reason, msg, s.now()))
			}
		}
		s.alloc().RecoverResources(f.id, agentID, offered, nil, s.now())
		s.triggerAllocation()
		return
	}

	taskError := func(tasks []*mesospb.TaskInfo, reason mesospb.TaskStatus_Reason, msg string) {
		for _, t := range tasks {
			s.metrics.tasksError++
			s.sendMasterUpdate(f, masterStatus(t.GetTaskId(), t.GetAgentId(), mesospb.TaskState_TASK_ERROR, reason, msg, s.now()))
		}
	}

	// The call was decoded for this request and nothing else holds it: its
	// tasks become the master's (and the RUN_TASK events') as they are.
	for _, op := range ops {
		switch op.GetType() {
		case mesospb.Offer_Operation_LAUNCH:
			tasks := op.GetLaunch().GetTaskInfos()
			if op.Id != nil {
				taskError(tasks, mesospb.TaskStatus_REASON_TASK_INVALID, "The `id` field cannot be set on LAUNCH operations")
				continue
			}
			if err := normalizeTasks(tasks, role); err != nil {
				taskError(tasks, mesospb.TaskStatus_REASON_TASK_INVALID, err.Error())
				continue
			}
			for _, t := range tasks {
				// Master::_accept authorizes each task before validating it.
				if !s.taskAllowed(f, t) {
					taskError([]*mesospb.TaskInfo{t}, mesospb.TaskStatus_REASON_TASK_UNAUTHORIZED, authz.DeniedLaunch(t, f.info))
					continue
				}
				if t.GetExecutor() != nil && t.GetExecutor().FrameworkId == nil {
					t.Executor.FrameworkId = &mesospb.FrameworkID{Value: ptr(f.id)}
				}
				if err := validation.Task(t, s.taskContext(f, a, remaining)); err != nil {
					taskError([]*mesospb.TaskInfo{t}, mesospb.TaskStatus_REASON_TASK_INVALID, err.Error())
					continue
				}
				// Read, not changed: addRes and subRes copy.
				consumed := resources.Resources(t.GetResources())
				if e := t.GetExecutor(); e != nil {
					if _, known := a.executors[f.id][e.GetExecutorId().GetValue()]; !known {
						s.addExecutor(f, a, e)
						consumed = addRes(consumed, e.GetResources())
					}
				}
				s.addTask(f, a, t)
				remaining = subRes(remaining, consumed)
				s.log.Info("launching task", "task_id", t.GetTaskId().GetValue(), "framework_id", f.id, "agent_id", a.id)
				a.send(&agentapipb.Event{
					Type: agentapipb.Event_RUN_TASK.Enum(),
					RunTask: &agentapipb.Event_RunTask{
						// Shared: a framework's info is replaced, never edited.
						FrameworkInfo: f.info,
						Task:          t,
					},
				})
			}
		case mesospb.Offer_Operation_LAUNCH_GROUP:
			lg := op.GetLaunchGroup()
			tasks := lg.GetTaskGroup().GetTasks()
			if op.Id != nil {
				taskError(tasks, mesospb.TaskStatus_REASON_TASK_GROUP_INVALID, "The `id` field cannot be set on LAUNCH_GROUP operations")
				continue
			}
			e := lg.GetExecutor()
			if err := normalizeTasks(tasks, role); err == nil {
				if e != nil {
					err = normalizeResources(e, role)
				}
				if err != nil {
					taskError(tasks, mesospb.TaskStatus_REASON_TASK_GROUP_INVALID, err.Error())
					continue
				}
			} else {
				taskError(tasks, mesospb.TaskStatus_REASON_TASK_GROUP_INVALID, err.Error())
				continue
			}
			if e == nil {
				taskError(tasks, mesospb.TaskStatus_REASON_TASK_GROUP_INVALID, "'LaunchGroup.executor' must be set")
				continue
			}
			if msg := s.taskGroupDenied(f, tasks); msg != "" {
				taskError(tasks, mesospb.TaskStatus_REASON_TASK_GROUP_UNAUTHORIZED, msg)
				continue
			}
			for _, t := range tasks {
				if t.Executor == nil {
					t.Executor = proto.Clone(e).(*mesospb.ExecutorInfo)
				}
			}
			if err := validation.TaskGroup(lg.GetTaskGroup(), e, s.taskContext(f, a, remaining)); err != nil {
				taskError(tasks, mesospb.TaskStatus_REASON_TASK_GROUP_INVALID, err.Error())
				continue
			}
			var consumed []*mesospb.Resource
			if _, known := a.executors[f.id][e.GetExecutorId().GetValue()]; !known {
				s.addExecutor(f, a, e)
				consumed = addRes(consumed, e.GetResources())
			}
			for _, t := range tasks {
				s.addTask(f, a, t)
				consumed = addRes(consumed, t.GetResources())
			}
			remaining = subRes(remaining, consumed)
			s.log.Info("launching task group", "framework_id", f.id, "agent_id", a.id, "executor_id", e.GetExecutorId().GetValue())
			a.send(&agentapipb.Event{
				Type: agentapipb.Event_RUN_TASK_GROUP.Enum(),
				RunTaskGroup: &agentapipb.Event_RunTaskGroup{
					FrameworkInfo: f.info,
					Executor:      e,
					TaskGroup:     lg.GetTaskGroup(),
				},
			})
		case mesospb.Offer_Operation_RESERVE, mesospb.Offer_Operation_UNRESERVE:
			var msg string
			if remaining, msg = s.speculativeOperation(f, a, op, role, remaining); msg != "" {
				s.dropOperation(f, op, msg)
			}
		case mesospb.Offer_Operation_UNKNOWN:
			s.log.Warn("ignoring unknown operation", "framework_id", f.id)
		default:
			// CREATE, DESTROY and the volume and disk operations are not
			// implemented yet: the operation is dropped and its resources
			// stay in `remaining`, i.e. are declined below.
			s.dropOperation(f, op, "Operation "+op.GetType().String()+" is not supported by this master")
		}
	}
	// What the operations did not use is implicitly declined with the
	// call's filters.
	s.recoverWithFilters(f.id, a.id, remaining, defaultFilters(acc.GetFilters()))
}

// validateOffers checks the ACCEPT offer IDs (validation::offer::validate):
// unique, outstanding, of this framework, one allocation role, one agent.
func (s *state) validateOffers(f *framework, ids []*mesospb.OfferID) error {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id.GetValue()] {
			return fmt.Errorf("Duplicate offer %s in offer list", id.GetValue())
		}
		seen[id.GetValue()] = true
	}
	for _, id := range ids {
		if s.offers[id.GetValue()] == nil {
			return fmt.Errorf("Offer %s is no longer valid", id.GetValue())
		}
	}
	for _, id := range ids {
		if o := s.offers[id.GetValue()]; o.frameworkID != f.id {
			return fmt.Errorf("Offer %s has invalid framework %s while framework %s is expected", id.GetValue(), o.frameworkID, f.id)
		}
	}
	role := s.offers[ids[0].GetValue()].role
	for _, id := range ids {
		if o := s.offers[id.GetValue()]; o.role != role {
			return fmt.Errorf("Aggregated offers must be allocated to the same role. Offer %s uses role '%s but another is using role '%s",
				id.GetValue(), o.role, role)
		}
	}
	agentID := s.offers[ids[0].GetValue()].agentID
	for _, id := range ids {
		if o := s.offers[id.GetValue()]; o.agentID != agentID {
			return fmt.Errorf("Aggregated offers must belong to one single agent. Offer %s uses agent %s and agent %s",
				id.GetValue(), o.agentID, agentID)
		}
	}
	return nil
}

func launchTasks(op *mesospb.Offer_Operation) []*mesospb.TaskInfo {
	switch op.GetType() {
	case mesospb.Offer_Operation_LAUNCH:
		return op.GetLaunch().GetTaskInfos()
	case mesospb.Offer_Operation_LAUNCH_GROUP:
		return op.GetLaunchGroup().GetTaskGroup().GetTasks()
	}
	return nil
}

// normalizeTasks upgrades the resources of tasks (and their executors) to
// the internal format and injects the offer's allocation role, as Mesos
// does before validating (validateAndUpgradeResources,
// injectAllocationInfo).
func normalizeTasks(tasks []*mesospb.TaskInfo, role string) error {
	for _, t := range tasks {
		rs, err := upgradeResources(t.GetResources(), role)
		if err != nil {
			return err
		}
		t.Resources = rs
		if e := t.GetExecutor(); e != nil {
			if err := normalizeResources(e, role); err != nil {
				return err
			}
		}
	}
	return nil
}

func normalizeResources(e *mesospb.ExecutorInfo, role string) error {
	rs, err := upgradeResources(e.GetResources(), role)
	if err != nil {
		return err
	}
	e.Resources = rs
	return nil
}

func (s *state) taskContext(f *framework, a *agent, available []*mesospb.Resource) validation.TaskContext {
	return validation.TaskContext{
		FrameworkID: f.id,
		AgentID:     a.id,
		TaskIDInUse: func(id string) (bool, bool) {
			if _, ok := f.tasks[id]; ok {
				return true, false
			}
			for _, t := range f.unreachableTasks {
				if t.GetTaskId().GetValue() == id {
					return true, true
				}
			}
			return false, false
		},
		Executor: func(id string) (*mesospb.ExecutorInfo, bool) {
			e, ok := a.executors[f.id][id]
			return e, ok
		},
		AgentSupportsLimits: a.hasCapability(mesospb.AgentInfo_Capability_TASK_RESOURCE_LIMITS),
		Available:           available,
	}
}

// addTask records a launched task in TASK_STAGING.
func (s *state) addTask(f *framework, a *agent, t *mesospb.TaskInfo) *mesospb.Task {
	// The framework's and the agent's ID messages are shared, as a
	// re-registered agent's tasks share them (intern.go): fewer objects,
	// and the reads group tasks by agent by that pointer (usedByAgent).
	fid, aid := f.info.GetId(), a.info.GetId()
	if fid.GetValue() != f.id {
		fid = &mesospb.FrameworkID{Value: ptr(f.id)}
	}
	if aid.GetValue() != a.id {
		aid = &mesospb.AgentID{Value: ptr(a.id)}
	}
	task := &mesospb.Task{
		Name:        ptr(t.GetName()),
		TaskId:      t.TaskId,
		FrameworkId: fid,
		AgentId:     aid,
		State:       mesospb.TaskState_TASK_STAGING.Enum(),
		Resources:   cloneResources(t.GetResources()),
		Labels:      t.Labels,
		Discovery:   t.Discovery,
		Container:   t.Container,
		HealthCheck: t.HealthCheck,
		KillPolicy:  t.KillPolicy,
		Limits:      t.Limits,
	}
	if e := t.GetExecutor(); e != nil {
		task.ExecutorId = e.ExecutorId
	}
	// protobuf::createTask: the command's user, else the executor's
	// command's; never the framework's.
	if c := t.GetCommand(); c != nil && c.User != nil {
		task.User = ptr(c.GetUser())
	} else if c := t.GetExecutor().GetCommand(); c != nil && c.User != nil {
		task.User = ptr(c.GetUser())
	}
	s.trackTask(f, a, task)
	return task
}

// trackTask indexes a task under its framework and agent; a task of a
// framework is TASK_ADDED to operator subscribers (Framework::addTask).
func (s *state) trackTask(f *framework, a *agent, task *mesospb.Task) {
	s.indexTask(f, a, task)
	if f != nil {
		s.publishTaskAdded(task)
	}
}

// indexTask is trackTask without the event, for a caller that publishes
// in its own order.
func (s *state) indexTask(f *framework, a *agent, task *mesospb.Task) {
	id := task.GetTaskId().GetValue()
	if f != nil {
		f.tasks[id] = task
		f.liveOK = false
	}
	if a != nil {
		if a.tasks[task.GetFrameworkId().GetValue()] == nil {
			a.tasks[task.GetFrameworkId().GetValue()] = map[string]*mesospb.Task{}
		}
		a.tasks[task.GetFrameworkId().GetValue()][id] = task
	}
}

func (s *state) addExecutor(f *framework, a *agent, e *mesospb.ExecutorInfo) {
	if a.executors[f.id] == nil {
		a.executors[f.id] = map[string]*mesospb.ExecutorInfo{}
	}
	a.executors[f.id][e.GetExecutorId().GetValue()] = e
	a.executorsGen++
	if f.executors[a.id] == nil {
		f.executors[a.id] = map[string]*mesospb.ExecutorInfo{}
	}
	f.executors[a.id][e.GetExecutorId().GetValue()] = e
}

// removeExecutor forgets an executor and recovers its resources.
func (s *state) removeExecutor(agentID, frameworkID, executorID string) {
	var e *mesospb.ExecutorInfo
	if a := s.agents[agentID]; a != nil {
		e = a.executors[frameworkID][executorID]
		delete(a.executors[frameworkID], executorID)
		a.executorsGen++
		if len(a.executors[frameworkID]) == 0 {
			delete(a.executors, frameworkID)
		}
	}
	if f := s.frameworks[frameworkID]; f != nil {
		if e == nil {
			e = f.executors[agentID][executorID]
		}
		delete(f.executors[agentID], executorID)
		if len(f.executors[agentID]) == 0 {
			delete(f.executors, agentID)
		}
	}
	if e != nil && len(e.GetResources()) > 0 {
		s.alloc().RecoverResources(frameworkID, agentID, e.GetResources(), nil, s.now())
		s.triggerAllocation()
	}
}

// editTask is a new version of the kept task t for the loop to change,
// already in t's place in the books (state_snapshot.go: kept tasks are
// never changed in place). The caller goes on with the new version.
func (s *state) editTask(t *mesospb.Task) *mesospb.Task {
	c := copyTask(t)
	s.replaceTask(t, c)
	return c
}

// replaceTask puts c in t's place in its framework's and agent's books,
// where t is there (a framework's unreachable tasks are in neither: their
// callers move them on themselves).
func (s *state) replaceTask(t, c *mesospb.Task) {
	fid, tid := t.GetFrameworkId().GetValue(), t.GetTaskId().GetValue()
	if f := s.frameworks[fid]; f != nil && f.tasks[tid] == t {
		f.tasks[tid] = c
		f.liveOK = false
	}
	if a := s.agents[t.GetAgentId().GetValue()]; a != nil && a.tasks[fid][tid] == t {
		a.tasks[fid][tid] = c
	}
}

// updateTask applies a status to a task (Master::updateTask): the task's
// state becomes latest (or the status' state), the status is appended, and
// a transition to terminal or unreachable recovers the task's resources.
// It returns the task's new version (editTask), which the caller goes on
// with: t is left as it was, for the reads that hold it.
func (s *state) updateTask(t *mesospb.Task, st *mesospb.TaskStatus, latest *mesospb.TaskState) *mesospb.Task {
	t = s.editTask(t)
	newState := st.GetState()
	if latest != nil {
		newState = *latest
	}
	termOrUnreach := func(x mesospb.TaskState) bool {
		return taskstate.IsTerminal(x) || x == mesospb.TaskState_TASK_UNREACHABLE
	}
	transitioned := !termOrUnreach(t.GetState()) && termOrUnreach(newState)
	if !taskstate.IsTerminal(t.GetState()) {
		t.State = newState.Enum()
	}
	saved := proto.Clone(st).(*mesospb.TaskStatus)
	saved.Data = nil
	// Master::updateTask: subscribers hear of every new state, and of
	// every health or check update.
	notify := false
	switch st.GetReason() {
	case mesospb.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED, mesospb.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED:
		notify = true
	}
	if n := len(t.Statuses); n > 0 && t.Statuses[n-1].GetState() == st.GetState() {
		t.Statuses[n-1] = saved
	} else {
		t.Statuses = append(t.Statuses, saved)
		notify = true
	}
	if notify && s.frameworks[t.GetFrameworkId().GetValue()] != nil {
		s.publishTaskUpdated(t, st)
	}
	if transitioned {
		s.alloc().RecoverResources(t.GetFrameworkId().GetValue(), t.GetAgentId().GetValue(), t.GetResources(), nil, s.now())
		s.triggerAllocation()
		// Counted under the state the task reached, which is latest's
		// when an older update arrives after the task ended (Mesos's
		// incrementTasksStates(newState, source, reason)).
		counted := st
		if newState != st.GetState() {
			counted = proto.CloneOf(st)
			counted.State = newState.Enum()
		}
		s.countTerminal(newState)
		s.countTaskTransition(t, counted)
	}
	return t
}

func (s *state) countTerminal(st mesospb.TaskState) {
	switch st {
	case mesospb.TaskState_TASK_FINISHED:
		s.metrics.tasksFinished++
	case mesospb.TaskState_TASK_FAILED:
		s.metrics.tasksFailed++
	case mesospb.TaskState_TASK_KILLED:
		s.metrics.tasksKilled++
	case mesospb.TaskState_TASK_LOST:
		s.metrics.tasksLost++
	case mesospb.TaskState_TASK_ERROR:
		s.metrics.tasksError++
	case mesospb.TaskState_TASK_DROPPED:
		s.metrics.tasksDropped++
	case mesospb.TaskState_TASK_GONE:
		s.metrics.tasksGone++
	case mesospb.TaskState_TASK_GONE_BY_OPERATOR:
		s.metrics.tasksGoneByOperator++
	}
}

// usesResources reports whether t holds its resources (counts in its
// agent's and its framework's used resources): non-terminal and
// reachable.
func usesResources(t *mesospb.Task) bool {
	return !taskstate.IsTerminal(t.GetState()) && t.GetState() != mesospb.TaskState_TASK_UNREACHABLE
}

// removeTask moves a task to the framework's completed (or unreachable)
// tasks and forgets it on the agent. Resources must already be recovered
// (updateTask does it on the terminal transition); a non-terminal task's
// resources are recovered here.
func (s *state) removeTask(t *mesospb.Task, unreachable bool) {
	fid, aid, tid := t.GetFrameworkId().GetValue(), t.GetAgentId().GetValue(), t.GetTaskId().GetValue()
	if usesResources(t) {
		s.alloc().RecoverResources(fid, aid, t.GetResources(), nil, s.now())
		s.triggerAllocation()
	}
	if a := s.agents[aid]; a != nil {
		delete(a.tasks[fid], tid)
		if len(a.tasks[fid]) == 0 {
			delete(a.tasks, fid)
		}
		delete(a.killed[fid], tid)
	}
	f := s.frameworks[fid]
	if f == nil {
		return
	}
	if f.tasks[tid] == t {
		delete(f.tasks, tid)
		f.liveOK = false
	}
	if unreachable {
		f.unreachableTasks = appendBounded(f.unreachableTasks, t, s.cfg.MaxUnreachableTasksPerFramework)
	} else {
		f.completedTasks = appendBounded(f.completedTasks, t, s.cfg.MaxCompletedTasksPerFramework)
	}
}

// masterStatus builds a master-generated TaskStatus (no uuid: it must not
// be acknowledged).
func masterStatus(taskID *mesospb.TaskID, agentID *mesospb.AgentID, state mesospb.TaskState,
	reason mesospb.TaskStatus_Reason, msg string, now time.Time) *mesospb.TaskStatus {
	st := &mesospb.TaskStatus{
		TaskId:    taskID,
		State:     state.Enum(),
		Source:    mesospb.TaskStatus_SOURCE_MASTER.Enum(),
		Reason:    reason.Enum(),
		Message:   ptr(msg),
		Timestamp: ptr(secs(now)),
	}
	if agentID != nil {
		st.AgentId = agentID
	}
	return st
}

func (s *state) sendMasterUpdate(f *framework, st *mesospb.TaskStatus) {
	s.countTaskStatus(st)
	f.send(updateEvent(st))
}

func updateEvent(st *mesospb.TaskStatus) *schedulerpb.Event {
	return &schedulerpb.Event{
		Type:   schedulerpb.Event_UPDATE.Enum(),
		Update: &schedulerpb.Event_Update{Status: st},
	}
}

// kill handles KILL (Master::kill).
func (s *state) kill(f *framework, k *schedulerpb.Call_Kill) {
	s.metrics.messagesKillTask++
	id := k.GetTaskId().GetValue()
	t := f.tasks[id]
	if t == nil {
		s.log.Warn("cannot kill unknown task; reconciling", "task_id", id, "framework_id", f.id)
		s.reconcile(f, &schedulerpb.Call_Reconcile{Tasks: []*schedulerpb.Call_Reconcile_Task{{TaskId: k.TaskId, AgentId: k.AgentId}}})
		return
	}
	if k.AgentId != nil && k.GetAgentId().GetValue() != t.GetAgentId().GetValue() {
		s.log.Warn("cannot kill task on a different agent", "task_id", id, "framework_id", f.id)
		return
	}
	a := s.agents[t.GetAgentId().GetValue()]
	if a == nil {
		return
	}
	if a.killed[f.id] == nil {
		a.killed[f.id] = map[string]bool{}
	}
	a.killed[f.id][id] = true
	if !a.connected() {
		s.log.Warn("agent disconnected, kill will be retried when it re-registers", "task_id", id, "agent_id", a.id)
		return
	}
	a.send(&agentapipb.Event{
		Type: agentapipb.Event_KILL_TASK.Enum(),
		KillTask: &agentapipb.Event_KillTask{
			FrameworkId: &mesospb.FrameworkID{Value: ptr(f.id)},
			TaskId:      t.TaskId,
			KillPolicy:  k.KillPolicy,
		},
	})
}

// acknowledge handles ACKNOWLEDGE (Master::acknowledge): a terminal task
// whose last forwarded update is acknowledged is removed, and the
// acknowledgement goes to the agent.
func (s *state) acknowledge(f *framework, ack *schedulerpb.Call_Acknowledge) {
	a := s.agents[ack.GetAgentId().GetValue()]
	if a == nil || !a.connected() {
		s.log.Warn("cannot forward acknowledgement: agent unknown or disconnected",
			"agent_id", ack.GetAgentId().GetValue(), "task_id", ack.GetTaskId().GetValue())
		s.metrics.invalidAcks++
		return
	}
	if t := a.tasks[f.id][ack.GetTaskId().GetValue()]; t != nil {
		if t.StatusUpdateState == nil {
			s.metrics.invalidAcks++
			return
		}
		if taskstate.IsTerminal(t.GetStatusUpdateState()) && bytes.Equal(t.GetStatusUpdateUuid(), ack.GetUuid()) {
			s.removeTask(t, false)
		}
	}
	a.send(&agentapipb.Event{
		Type: agentapipb.Event_ACKNOWLEDGE_UPDATE.Enum(),
		AcknowledgeUpdate: &agentapipb.Event_AcknowledgeUpdate{
			FrameworkId: &mesospb.FrameworkID{Value: ptr(f.id)},
			TaskId:      ack.TaskId,
			Uuid:        ack.Uuid,
		},
	})
	s.metrics.validAcks++
}

// reconcile handles RECONCILE (Master::reconcile, spec §1.12).
func (s *state) reconcile(f *framework, r *schedulerpb.Call_Reconcile) {
	s.metrics.messagesReconcile++
	now := s.now()
	if len(r.GetTasks()) == 0 {
		for _, t := range sortedTasks(f.tasks) {
			f.send(updateEvent(reconcileKnown(t, now)))
		}
		return
	}
	pa := f.partitionAware()
	orLost := func(st mesospb.TaskState) mesospb.TaskState {
		if pa {
			return st
		}
		return mesospb.TaskState_TASK_LOST
	}
	for _, rt := range r.GetTasks() {
		agentID := rt.GetAgentId().GetValue()
		hasAgent := rt.AgentId != nil
		var st *mesospb.TaskStatus
		switch t := f.tasks[rt.GetTaskId().GetValue()]; {
		case t != nil:
			st = reconcileKnown(t, now)
		case (hasAgent && s.recovered[agentID] != nil) || (!hasAgent && len(s.recovered) > 0):
			// The agent may still re-register with the task: no answer.
			continue
		case hasAgent && s.agents[agentID] != nil:
			st = masterStatus(rt.TaskId, rt.AgentId, orLost(mesospb.TaskState_TASK_GONE),
				mesospb.TaskStatus_REASON_RECONCILIATION, "Reconciliation: Task is unknown to the agent", now)
		case hasAgent && !s.unreachable[agentID].IsZero():
			st = masterStatus(rt.TaskId, rt.AgentId, orLost(mesospb.TaskState_TASK_UNREACHABLE),
				mesospb.TaskStatus_REASON_RECONCILIATION, "Reconciliation: Task is unreachable", now)
			st.UnreachableTime = &mesospb.TimeInfo{Nanoseconds: ptr(s.unreachable[agentID].UnixNano())}
		case hasAgent && !s.gone[agentID].IsZero():
			st = masterStatus(rt.TaskId, rt.AgentId, orLost(mesospb.TaskState_TASK_GONE_BY_OPERATOR),
				mesospb.TaskStatus_REASON_RECONCILIATION, "Reconciliation: Task is gone", now)
		default:
			st = masterStatus(rt.TaskId, rt.AgentId, orLost(mesospb.TaskState_TASK_UNKNOWN),
				mesospb.TaskStatus_REASON_RECONCILIATION, "Reconciliation: Task is unknown", now)
		}
		f.send(updateEvent(st))
	}
}

// reconcileKnown is the reconciliation answer for a known task: its latest
// forwarded state (status_update_state) or else its state.
func reconcileKnown(t *mesospb.Task, now time.Time) *mesospb.TaskStatus {
	state := t.GetState()
	if t.StatusUpdateState != nil {
		state = t.GetStatusUpdateState()
	}
	return taskSnapshotStatus(t, state, mesospb.TaskStatus_REASON_RECONCILIATION,
		"Reconciliation: Latest task state", now)
}

// shutdownExecutor handles SHUTDOWN.
func (s *state) shutdownExecutor(f *framework, sh *schedulerpb.Call_Shutdown) {
	a := s.agents[sh.GetAgentId().GetValue()]
	if a == nil || !a.connected() {
		s.log.Warn("cannot shut down executor: agent unknown or disconnected", "agent_id", sh.GetAgentId().GetValue())
		return
	}
	a.send(&agentapipb.Event{
		Type: agentapipb.Event_SHUTDOWN_EXECUTOR.Enum(),
		ShutdownExecutor: &agentapipb.Event_ShutdownExecutor{
			FrameworkId: &mesospb.FrameworkID{Value: ptr(f.id)},
			ExecutorId:  sh.ExecutorId,
		},
	})
}

// frameworkMessage handles MESSAGE (best effort to the executor).
func (s *state) frameworkMessage(f *framework, msg *schedulerpb.Call_Message) {
	a := s.agents[msg.GetAgentId().GetValue()]
	if a == nil || !a.connected() {
		s.log.Warn("dropping framework message: agent unknown or disconnected", "agent_id", msg.GetAgentId().GetValue())
		return
	}
	a.send(&agentapipb.Event{
		Type: agentapipb.Event_FRAMEWORK_MESSAGE.Enum(),
		FrameworkMessage: &agentapipb.Event_FrameworkMessage{
			FrameworkId: &mesospb.FrameworkID{Value: ptr(f.id)},
			ExecutorId:  msg.ExecutorId,
			Data:        msg.Data,
		},
	})
}
