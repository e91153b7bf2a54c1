package agent

import (
	"errors"
	"math"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/pkg/resources"
	"github.com/meso-project/meso/pkg/taskstate"
)

// allocated is Mesos's Executor::allocatedResources: the executor's own
// resources plus those of its queued and unfinished tasks, leaving out
// except (a task whose terminal update is being handled). It is what the
// container is sized to.
func (ex *executor) allocated(except string) []*mesospb.Resource {
	out := append([]*mesospb.Resource{}, ex.info.GetResources()...)
	ex.eachLiveTask(except, func(_ map[string]*mesospb.Value_Scalar, rs []*mesospb.Resource) {
		out = append(out, rs...)
	})
	return out
}

// eachLiveTask calls f with the limits and resources of every queued and
// unfinished task but except: the tasks a container holds.
func (ex *executor) eachLiveTask(except string, f func(limits map[string]*mesospb.Value_Scalar, rs []*mesospb.Resource)) {
	for _, t := range ex.queuedTasks() {
		if t.GetTaskId().GetValue() != except {
			f(t.GetLimits(), t.GetResources())
		}
	}
	for _, t := range ex.launchedTasks() {
		if t.GetTaskId().GetValue() != except && !taskstate.IsTerminal(t.GetState()) {
			f(t.GetLimits(), t.GetResources())
		}
	}
}

// limits is Mesos's computeExecutorLimits: the container's cpus and mem
// limits from its tasks' limits (TaskInfo.limits), leaving out except. A
// resource gets a limit only when a task has one for it; then the
// executor's own request counts toward it, and so do the requests of the
// tasks without one (for cpus only with --cgroups_enable_cfs: otherwise
// such tasks would be throttled by their neighbours' limits, so there is
// no cpu limit). An infinite limit stays infinite. Nil when no task has
// limits.
func (ex *executor) limits(except string, cfs bool) map[string]float64 {
	type limit struct {
		set     bool
		value   float64
		request float64 // of the tasks without a limit
	}
	add := func(l *limit, v float64) {
		switch {
		case l.set && math.IsInf(l.value, 1):
		case !l.set || math.IsInf(v, 1):
			l.set, l.value = true, v
		default:
			l.value += v
		}
	}
	var cpus, mem limit
	ex.eachLiveTask(except, func(limits map[string]*mesospb.Value_Scalar, rs []*mesospb.Resource) {
		if l, ok := limits["cpus"]; ok {
			add(&cpus, l.GetValue())
		} else {
			cpus.request += resources.Resources(rs).Scalar("cpus")
		}
		if l, ok := limits["mem"]; ok {
			add(&mem, l.GetValue())
		} else {
			mem.request += resources.Resources(rs).Scalar("mem")
		}
	})
	own := resources.Resources(ex.info.GetResources())
	out := map[string]float64{}
	if cpus.set {
		if own.Scalar("cpus") > 0 {
			add(&cpus, own.Scalar("cpus"))
		}
		if cpus.request > 0 {
			if cfs {
				add(&cpus, cpus.request)
			} else {
				cpus.set = false
			}
		}
		if cpus.set {
			out["cpus"] = cpus.value
		}
	}
	if mem.set {
		if own.Scalar("mem") > 0 {
			add(&mem, own.Scalar("mem"))
		}
		if mem.request > 0 {
			add(&mem, mem.request)
		}
		out["mem"] = mem.value
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// growThenDeliver resizes the running executor's container to hold its
// queued tasks, then sends them (Mesos queues tasks until the containerizer
// has been updated, MESOS-998). Tasks that arrive during a resize wait for
// the next one.
func (a *Agent) growThenDeliver(ex *executor) {
	if len(ex.queue) == 0 {
		return
	}
	if ex.growing {
		ex.regrow = true
		return
	}
	ex.growing = true
	cid := ex.containerID
	a.resize(ex, "", func(err error) { a.grown(ex, cid, err) })
}

// resize sizes the executor's container to its tasks but except, off the
// actor, and calls then with the outcome on the actor.
func (a *Agent) resize(ex *executor, except string, then func(error)) {
	cid, ctx, res, lim := ex.containerID, a.ctx, ex.allocated(except), ex.limits(except, a.cfg.CgroupsEnableCFS)
	go func() {
		err := a.cz.Update(ctx, cid, res, lim)
		if ctx.Err() != nil {
			return
		}
		a.post(func() { then(err) })
	}()
}

// grown delivers the queued tasks once the container holds them.
func (a *Agent) grown(ex *executor, containerID string, err error) {
	ex.growing = false
	if ex.containerID != containerID || ex.state != executorRunning {
		return
	}
	if err != nil {
		a.log.Error("failed to update the resources of an executor's container; destroying it",
			"framework_id", ex.fw.id, "executor_id", ex.id, "container_id", containerID, "err", err)
		state := mesospb.TaskState_TASK_LOST
		if ex.fw.partitionAware() {
			state = mesospb.TaskState_TASK_GONE
		}
		ex.pending = &termination{state, mesospb.TaskStatus_REASON_CONTAINER_UPDATE_FAILED,
			"Failed to update resources for container: " + containerizerCause(err)}
		ex.state = executorTerminating
		a.destroy(ex, 0)
		return
	}
	if ex.regrow {
		ex.regrow = false
		a.growThenDeliver(ex)
		return
	}
	a.deliver(ex)
}

// containerizerCause strips the containerizer's prefix from an error.
func containerizerCause(err error) string {
	return strings.TrimPrefix(err.Error(), "containerizer: ")
}

// executorUpdate takes an UPDATE of a subscribed executor. Updates of one
// executor are handled one at a time, in order: each is completed with the
// container's status (container_status, as Mesos's agent adds it), a
// terminal one waits for the container to shrink, and the executor gets
// ACKNOWLEDGED once the agent holds the update.
func (a *Agent) executorUpdate(fw *framework, ex *executor, status *mesospb.TaskStatus) {
	if a.cleaningUp {
		// Mesos's TERMINATING agent drops executors' updates; their tasks
		// end as the agent decides when their executors are gone.
		a.log.Warn("dropping status update: the agent is cleaning up (--recover=cleanup)",
			"framework_id", fw.id, "task_id", status.GetTaskId().GetValue(), "state", status.GetState())
		a.metrics.invalidUpdates++
		return
	}
	st := proto.Clone(status).(*mesospb.TaskStatus)
	st.AgentId = a.info.GetId()
	if st.ExecutorId == nil {
		st.ExecutorId = ex.info.GetExecutorId()
	}
	if st.GetTimestamp() == 0 {
		st.Timestamp = proto.Float64(now())
	}
	ex.updateQueue = append(ex.updateQueue, st)
	if len(ex.updateQueue) == 1 {
		a.nextExecutorUpdate(ex)
	}
}

// nextExecutorUpdate asks the containerizer for the container's status for
// the update at the head of the queue: the executor's container, or the
// container the update names in container_status, nested under the
// executor's (the default executor's tasks), as Mesos's agent asks.
func (a *Agent) nextExecutorUpdate(ex *executor) {
	st := ex.updateQueue[0]
	cid, ctx := ex.containerID, a.ctx
	if id := st.GetContainerStatus().GetContainerId(); id != nil {
		if s := containerIDString(id); strings.HasPrefix(s, ex.containerID+".") {
			cid = s
		}
	}
	go func() {
		cs, err := a.cz.Status(ctx, cid)
		if ctx.Err() != nil {
			return
		}
		a.post(func() { a.executorUpdateStatus(ex, st, cs, err) })
	}()
}

// executorUpdateStatus merges the container's status into the update. A
// terminal update from a command executor whose container hit a resource
// limit is dropped: the containerizer is destroying the container for it,
// and the task ends with the limitation instead, as Mesos reports a command
// task the OOM killer ended (its agent learns of the OOM before the command
// executor, which polls for its task's exit, reports it). Other executors'
// updates go out as they come, as in Mesos.
func (a *Agent) executorUpdateStatus(ex *executor, st *mesospb.TaskStatus, cs containerizer.Status, err error) {
	if err == nil {
		// The executor's own container status, if any, completed by the
		// containerizer's (which wins, as in Mesos's _statusUpdate).
		merged := &mesospb.ContainerStatus{}
		if st.ContainerStatus != nil {
			merged = proto.Clone(st.ContainerStatus).(*mesospb.ContainerStatus)
		}
		proto.Merge(merged, cs.ContainerStatus)
		if id := st.GetContainerStatus().GetContainerId(); id != nil {
			// The executor's structured ID of a nested container stays
			// (the containerizer names it "<parent>.<child>").
			merged.ContainerId = proto.CloneOf(id)
		}
		if len(merged.GetNetworkInfos()) == 0 {
			// A host-network container: the agent's IP, as Mesos fills it.
			merged.NetworkInfos = []*mesospb.NetworkInfo{{
				IpAddresses: []*mesospb.NetworkInfo_IPAddress{{IpAddress: proto.String(a.ip)}},
			}}
		}
		st.ContainerStatus = merged
		if cs.Limitation != nil && ex.command && taskstate.IsTerminal(st.GetState()) {
			a.log.Info("dropping the executor's terminal update: its container hit a resource limit",
				"framework_id", ex.fw.id, "executor_id", ex.id, "task_id", st.GetTaskId().GetValue(),
				"state", st.GetState(), "reason", cs.Limitation.Reason)
			a.finishExecutorUpdate(ex)
			return
		}
	}
	if !taskstate.IsTerminal(st.GetState()) || ex.state != executorRunning {
		a.holdExecutorUpdate(ex, st)
		return
	}
	// Shrink the container to what is left before the update goes out, as
	// Mesos does, so that freed resources are free before they are offered.
	a.resize(ex, st.GetTaskId().GetValue(), func(err error) {
		if err != nil && !errors.Is(err, containerizer.ErrUnknown) {
			a.log.Warn("failed to update the resources of a container for a terminal task",
				"container_id", ex.containerID, "task_id", st.GetTaskId().GetValue(), "err", err)
		}
		a.holdExecutorUpdate(ex, st)
	})
}

// holdExecutorUpdate hands the update to the status update manager and
// acknowledges it to the executor.
func (a *Agent) holdExecutorUpdate(ex *executor, st *mesospb.TaskStatus) {
	if a.statusUpdate(ex.fw, ex, st) {
		ex.send(&executorpb.Event{
			Type: executorpb.Event_ACKNOWLEDGED.Enum(),
			Acknowledged: &executorpb.Event_Acknowledged{
				TaskId: st.GetTaskId(),
				Uuid:   st.GetUuid(),
			},
		})
	}
	a.finishExecutorUpdate(ex)
}

// finishExecutorUpdate pops the head update and goes on with the next, or
// with the executor's termination if it ended meanwhile.
func (a *Agent) finishExecutorUpdate(ex *executor) {
	ex.updateQueue = ex.updateQueue[1:]
	if len(ex.updateQueue) > 0 {
		a.nextExecutorUpdate(ex)
		return
	}
	if ex.terminateAfterUpdates {
		ex.terminateAfterUpdates = false
		a.executorTerminated(ex)
	}
}

// agentUpdateWith is agentUpdate with a last change to the status (a
// limitation, ...).
func (a *Agent) agentUpdateWith(fw *framework, ex *executor, taskID string, state mesospb.TaskState,
	reason mesospb.TaskStatus_Reason, message string, mutate func(*mesospb.TaskStatus)) {
	u := uuid.New()
	st := &mesospb.TaskStatus{
		TaskId:    &mesospb.TaskID{Value: proto.String(taskID)},
		State:     state.Enum(),
		Message:   proto.String(message),
		Source:    mesospb.TaskStatus_SOURCE_AGENT.Enum(),
		Reason:    reason.Enum(),
		AgentId:   a.info.GetId(),
		Timestamp: proto.Float64(now()),
		Uuid:      u[:],
	}
	if ex != nil {
		st.ExecutorId = ex.info.GetExecutorId()
	}
	if mutate != nil {
		mutate(st)
	}
	a.statusUpdate(fw, ex, st)
}
