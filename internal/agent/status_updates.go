package agent

import (
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/agent/statusupdate"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/taskstate"
)

// agentUpdate generates a status update from the agent itself (fresh uuid,
// SOURCE_AGENT, agent and executor IDs filled) and hands it to the status
// update manager. ex may be nil for a task without an executor.
func (a *Agent) agentUpdate(fw *framework, ex *executor, taskID string, state mesospb.TaskState, reason mesospb.TaskStatus_Reason, message string) {
	a.agentUpdateWith(fw, ex, taskID, state, reason, message, nil)
}

func now() float64 { return float64(time.Now().UnixNano()) / 1e9 }

// statusUpdate records the update in the task's state and hands it to the
// status update manager; it reports whether the agent now holds it (true
// for duplicates too, as Mesos acks those).
func (a *Agent) statusUpdate(fw *framework, ex *executor, st *mesospb.TaskStatus) bool {
	log := a.log.With("framework_id", fw.id, "task_id", st.GetTaskId().GetValue(), "state", st.GetState())
	if fw.state == frameworkTerminating {
		log.Warn("dropping status update of a terminating framework")
		a.metrics.invalidUpdates++
		return false
	}
	taskID := st.GetTaskId().GetValue()
	if ex == nil {
		ex = fw.executorOf(taskID)
	}
	if ex != nil {
		if ex.queued[taskID] != nil {
			ex.promoteQueued(taskID)
		}
		if t := ex.launched[taskID]; t != nil {
			if !taskstate.IsTerminal(t.GetState()) && taskstate.IsTerminal(st.GetState()) {
				a.metrics.countTerminal(st.GetState())
			}
			recordStatus(t, st)
		}
	}
	head, err := a.updates.Update(fw.id, st, time.Now())
	switch {
	case errors.Is(err, statusupdate.ErrDuplicate):
		log.Debug("duplicate status update")
		return true
	case err != nil:
		log.Warn("rejecting status update", "err", err)
		a.metrics.invalidUpdates++
		return false
	}
	a.metrics.validUpdates++
	if ex != nil {
		var latest *mesospb.TaskState
		if t := ex.launched[taskID]; t != nil {
			latest = t.State
		}
		a.checkpointUpdate(ex, st, latest)
	}
	log.Debug("status update held")
	if head != nil {
		a.forwardUpdate(head.FrameworkID, head.Status)
	}
	a.scheduleRetry()
	return true
}

// recordStatus makes st the task's state and latest status (kept without
// its data, as Mesos keeps them; one per state in a row).
func recordStatus(t *mesospb.Task, st *mesospb.TaskStatus) {
	t.State = st.State
	rec := proto.CloneOf(st)
	rec.Data = nil
	if n := len(t.Statuses); n > 0 && t.Statuses[n-1].GetState() == st.GetState() {
		t.Statuses = t.Statuses[:n-1]
	}
	t.Statuses = append(t.Statuses, rec)
}

// forwardUpdate sends a status update to the master.
func (a *Agent) forwardUpdate(fwID string, st *mesospb.TaskStatus) {
	su := &agentapipb.Call_StatusUpdate{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(fwID)},
		Status:      st,
	}
	if fw := a.frameworks[fwID]; fw != nil {
		if ex := fw.executorOf(st.GetTaskId().GetValue()); ex != nil {
			if t := ex.launched[st.GetTaskId().GetValue()]; t != nil {
				su.LatestState = t.State
				t.StatusUpdateState = st.State
				t.StatusUpdateUuid = st.GetUuid()
			}
		}
	}
	a.sendToMaster(&agentapipb.Call{Type: agentapipb.Call_STATUS_UPDATE.Enum(), StatusUpdate: su})
}

// acknowledgeUpdate handles ACKNOWLEDGE_UPDATE: the next update of the
// stream goes out, and an acknowledged terminal update completes the task.
func (a *Agent) acknowledgeUpdate(fwID, taskID string, uuid []byte) {
	acked, next, err := a.updates.Acknowledge(fwID, taskID, uuid, time.Now())
	if err != nil {
		a.log.Warn("ignoring status update acknowledgement", "framework_id", fwID, "task_id", taskID, "err", err)
		return
	}
	if fw := a.frameworks[fwID]; fw != nil {
		a.checkpointAck(fw.executorOf(taskID), taskID, uuid)
	}
	if next != nil {
		a.forwardUpdate(next.FrameworkID, next.Status)
	}
	a.scheduleRetry()
	if !taskstate.IsTerminal(acked.GetState()) {
		return
	}
	fw := a.frameworks[fwID]
	if fw == nil {
		return
	}
	if ex := fw.executorOf(taskID); ex != nil {
		ex.completeTask(taskID)
		a.maybeRemoveExecutor(ex)
	}
}

// retryDue re-sends the heads whose retry time has come.
func (a *Agent) retryDue() {
	for _, u := range a.updates.Due(time.Now()) {
		a.log.Debug("re-sending unacknowledged status update", "framework_id", u.FrameworkID,
			"task_id", u.Status.GetTaskId().GetValue(), "state", u.Status.GetState())
		a.forwardUpdate(u.FrameworkID, u.Status)
	}
	a.scheduleRetry()
}

// scheduleRetry points the retry timer at the earliest due update.
func (a *Agent) scheduleRetry() {
	next, ok := a.updates.Next()
	if !ok {
		if !a.retryAt.IsZero() {
			a.retryTimer.Stop()
			a.retryAt = time.Time{}
		}
		return
	}
	if next.Equal(a.retryAt) {
		return
	}
	a.retryTimer.Stop()
	a.retryAt = next
	a.retryTimer.Reset(max(time.Until(next), 0))
}
