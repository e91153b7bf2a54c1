package scheduler

import (
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
)

// Builders for common calls. None sets framework_id: Client.Call fills it in.

// Accept accepts offers with operations, applied in order against the pooled
// offers (which must all be from one agent). Unused resources are declined
// with filters (nil: the master's default of 5 s).
func Accept(offerIDs []*mesospb.OfferID, ops []*mesospb.Offer_Operation, filters *mesospb.Filters) *schedulerpb.Call {
	return &schedulerpb.Call{
		Type:   schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{OfferIds: offerIDs, Operations: ops, Filters: filters},
	}
}

// Decline declines offers; filters (nil: 5 s) keep the same resources from
// being re-offered for refuse_seconds.
func Decline(offerIDs []*mesospb.OfferID, filters *mesospb.Filters) *schedulerpb.Call {
	return &schedulerpb.Call{
		Type:    schedulerpb.Call_DECLINE.Enum(),
		Decline: &schedulerpb.Call_Decline{OfferIds: offerIDs, Filters: filters},
	}
}

// RefuseFor returns Filters with refuse_seconds set to seconds.
func RefuseFor(seconds float64) *mesospb.Filters {
	return &mesospb.Filters{RefuseSeconds: proto.Float64(seconds)}
}

// LaunchOperation is a LAUNCH offer operation for tasks.
func LaunchOperation(tasks ...*mesospb.TaskInfo) *mesospb.Offer_Operation {
	return &mesospb.Offer_Operation{
		Type:   mesospb.Offer_Operation_LAUNCH.Enum(),
		Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks},
	}
}

// LaunchTasks accepts offer with one LAUNCH operation for tasks. A task
// without agent_id gets a copy with the offer's agent id; the caller's tasks
// are not modified.
func LaunchTasks(offer *mesospb.Offer, tasks ...*mesospb.TaskInfo) *schedulerpb.Call {
	infos := make([]*mesospb.TaskInfo, len(tasks))
	for i, t := range tasks {
		if t.GetAgentId() == nil && offer.GetAgentId() != nil {
			t = proto.CloneOf(t)
			t.AgentId = proto.CloneOf(offer.GetAgentId())
		}
		infos[i] = t
	}
	return Accept([]*mesospb.OfferID{offer.GetId()}, []*mesospb.Offer_Operation{LaunchOperation(infos...)}, nil)
}

// Acknowledge acknowledges a status update. It returns nil when the status
// has no uuid: such updates (reconciliation, master-generated) must not be
// acknowledged.
func Acknowledge(status *mesospb.TaskStatus) *schedulerpb.Call {
	if len(status.GetUuid()) == 0 {
		return nil
	}
	return &schedulerpb.Call{
		Type: schedulerpb.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &schedulerpb.Call_Acknowledge{
			AgentId: proto.CloneOf(status.GetAgentId()),
			TaskId:  proto.CloneOf(status.GetTaskId()),
			Uuid:    append([]byte(nil), status.GetUuid()...),
		},
	}
}

// Kill asks the master to kill a task; agentID may be nil.
func Kill(taskID *mesospb.TaskID, agentID *mesospb.AgentID) *schedulerpb.Call {
	return &schedulerpb.Call{
		Type: schedulerpb.Call_KILL.Enum(),
		Kill: &schedulerpb.Call_Kill{TaskId: taskID, AgentId: agentID},
	}
}

// Reconcile asks for the latest state of tasks; no tasks means implicit
// reconciliation of every task the master knows for the framework.
func Reconcile(tasks ...*schedulerpb.Call_Reconcile_Task) *schedulerpb.Call {
	return &schedulerpb.Call{
		Type:      schedulerpb.Call_RECONCILE.Enum(),
		Reconcile: &schedulerpb.Call_Reconcile{Tasks: tasks},
	}
}

// ReconcileTask is one task to reconcile explicitly; agentID may be nil.
func ReconcileTask(taskID *mesospb.TaskID, agentID *mesospb.AgentID) *schedulerpb.Call_Reconcile_Task {
	return &schedulerpb.Call_Reconcile_Task{TaskId: taskID, AgentId: agentID}
}

// Revive removes offer filters and un-suppresses offers for roles (none:
// all the framework's roles).
func Revive(roles ...string) *schedulerpb.Call {
	c := &schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()}
	if len(roles) > 0 {
		c.Revive = &schedulerpb.Call_Revive{Roles: roles}
	}
	return c
}

// Suppress stops offers for roles (none: all the framework's roles).
func Suppress(roles ...string) *schedulerpb.Call {
	c := &schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum()}
	if len(roles) > 0 {
		c.Suppress = &schedulerpb.Call_Suppress{Roles: roles}
	}
	return c
}

// Teardown removes the framework: its tasks are killed and its executors
// shut down; the master closes the event stream.
func Teardown() *schedulerpb.Call {
	return &schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()}
}

// Message sends opaque data to an executor (best effort).
func Message(agentID *mesospb.AgentID, executorID *mesospb.ExecutorID, data []byte) *schedulerpb.Call {
	return &schedulerpb.Call{
		Type:    schedulerpb.Call_MESSAGE.Enum(),
		Message: &schedulerpb.Call_Message{AgentId: agentID, ExecutorId: executorID, Data: data},
	}
}

// Shutdown asks an agent to shut down one of the framework's executors.
func Shutdown(executorID *mesospb.ExecutorID, agentID *mesospb.AgentID) *schedulerpb.Call {
	return &schedulerpb.Call{
		Type:     schedulerpb.Call_SHUTDOWN.Enum(),
		Shutdown: &schedulerpb.Call_Shutdown{ExecutorId: executorID, AgentId: agentID},
	}
}
