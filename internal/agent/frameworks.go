package agent

import (
	"cmp"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
)

type frameworkState int

const (
	frameworkRunning frameworkState = iota
	// frameworkTerminating: shut down by the master; its executors are being
	// shut down and its status updates are dropped.
	frameworkTerminating
)

type framework struct {
	id                 string
	info               *mesospb.FrameworkInfo
	state              frameworkState
	executors          map[string]*executor
	completedExecutors []*executor
	// checkpointed: framework.info is on disk (for the current info).
	checkpointed bool
}

func (fw *framework) sortedExecutors() []*executor {
	out := make([]*executor, 0, len(fw.executors))
	for _, ex := range fw.executors {
		out = append(out, ex)
	}
	slices.SortFunc(out, func(a, b *executor) int { return cmp.Compare(a.id, b.id) })
	return out
}

// executorOf returns the executor that has the task (queued or launched).
func (fw *framework) executorOf(taskID string) *executor {
	for _, ex := range fw.executors {
		if ex.queued[taskID] != nil || ex.launched[taskID] != nil {
			return ex
		}
	}
	return nil
}

func (fw *framework) partitionAware() bool {
	for _, c := range fw.info.GetCapabilities() {
		if c.GetType() == mesospb.FrameworkInfo_Capability_PARTITION_AWARE {
			return true
		}
	}
	return false
}

// executorState mirrors Mesos's Executor::State.
type executorState int

const (
	executorRegistering executorState = iota // launched, not subscribed yet
	executorRunning                          // subscribed
	executorTerminating                      // being shut down or destroyed
	executorTerminated                       // its container ended
)

func (s executorState) String() string {
	return [...]string{"REGISTERING", "RUNNING", "TERMINATING", "TERMINATED"}[s]
}

// launchItem is one queued launch: a task, or a task group.
type launchItem struct {
	task  *mesospb.TaskInfo
	group *mesospb.TaskGroupInfo
}

func (li launchItem) tasks() []*mesospb.TaskInfo {
	if li.group != nil {
		return li.group.GetTasks()
	}
	return []*mesospb.TaskInfo{li.task}
}

// termination is what the agent decided the executor's non-terminal tasks
// become when it ends (Mesos's Executor::pendingTermination).
type termination struct {
	state   mesospb.TaskState
	reason  mesospb.TaskStatus_Reason
	message string
}

type executor struct {
	id          string
	fw          *framework
	info        *mesospb.ExecutorInfo
	command     bool // the built-in command executor
	containerID string
	directory   string
	state       executorState
	launchedAt  time.Time

	// queue holds launches waiting for the executor to subscribe; queued
	// indexes their tasks.
	queue  []launchItem
	queued map[string]*mesospb.TaskInfo
	// launched holds tasks sent to the executor and tasks that are terminal
	// but whose terminal update is not acknowledged yet; order keeps /state
	// stable.
	launched  map[string]*mesospb.Task
	order     []string
	completed []*mesospb.Task

	everSentTask bool
	conn         *executorConn
	regTimer     *time.Timer
	killTimer    *time.Timer
	pending      *termination
	exit         *containerizer.Termination
	// unknownContainer: no containerizer took the executor's container
	// (Mesos reports "Abnormal executor termination: unknown container").
	unknownContainer bool

	// updateQueue holds the executor's status updates in arrival order
	// while the first is being completed with the container's status (and,
	// for a terminal one, the container shrunk); terminateAfterUpdates
	// defers executorTerminated until they are all handled.
	updateQueue           []*mesospb.TaskStatus
	terminateAfterUpdates bool
	// growing is set while the container is being resized for queued
	// tasks; regrow asks for another resize once it is done.
	growing, regrow bool
	// recoveredPID is the checkpointed pid of a recovered executor's
	// container (0 if none was checkpointed).
	recoveredPID int
}

func newExecutor(fw *framework, info *mesospb.ExecutorInfo, command bool) *executor {
	return &executor{
		id:       info.GetExecutorId().GetValue(),
		fw:       fw,
		info:     info,
		command:  command,
		queued:   make(map[string]*mesospb.TaskInfo),
		launched: make(map[string]*mesospb.Task),
	}
}

func (ex *executor) closeConn() {
	if ex.conn != nil {
		ex.conn.close()
		ex.conn = nil
	}
}

// send queues an event on the executor's stream; false when not subscribed.
func (ex *executor) send(ev *executorpb.Event) bool {
	if ex.conn == nil {
		return false
	}
	return ex.conn.send(ev)
}

func (ex *executor) stopTimers() {
	if ex.regTimer != nil {
		ex.regTimer.Stop()
	}
	if ex.killTimer != nil {
		ex.killTimer.Stop()
	}
}

// hasTasks reports whether any task is queued or launched (including
// terminal tasks with unacknowledged updates).
func (ex *executor) hasTasks() bool { return len(ex.queued) > 0 || len(ex.launched) > 0 }

// launchedTasks returns the launched tasks in launch order.
func (ex *executor) launchedTasks() []*mesospb.Task {
	out := make([]*mesospb.Task, 0, len(ex.order))
	for _, id := range ex.order {
		if t := ex.launched[id]; t != nil {
			out = append(out, t)
		}
	}
	return out
}

// queuedTasks returns the queued tasks in queue order.
func (ex *executor) queuedTasks() []*mesospb.TaskInfo {
	var out []*mesospb.TaskInfo
	for _, li := range ex.queue {
		out = append(out, li.tasks()...)
	}
	return out
}

// allTasks returns launched tasks and queued tasks (as STAGING Tasks), for
// re-registration.
func (ex *executor) allTasks() []*mesospb.Task {
	out := ex.launchedTasks()
	for _, ti := range ex.queuedTasks() {
		out = append(out, ex.newTask(ti, mesospb.TaskState_TASK_STAGING))
	}
	return out
}

// newTask builds the agent's Task record for a TaskInfo.
func (ex *executor) newTask(ti *mesospb.TaskInfo, state mesospb.TaskState) *mesospb.Task {
	t := &mesospb.Task{
		Name:        proto.String(ti.GetName()),
		TaskId:      ti.GetTaskId(),
		FrameworkId: ex.fw.info.GetId(),
		AgentId:     ti.GetAgentId(),
		State:       state.Enum(),
		Resources:   ti.GetResources(),
		Labels:      ti.GetLabels(),
		Discovery:   ti.GetDiscovery(),
		Container:   ti.GetContainer(),
		HealthCheck: ti.GetHealthCheck(),
		KillPolicy:  ti.GetKillPolicy(),
		Limits:      ti.GetLimits(),
	}
	if !ex.command {
		t.ExecutorId = ex.info.GetExecutorId()
	}
	// protobuf::createTask: the command's user, else the executor's; not
	// the framework's (the task runs as it, but Task.user stays unset).
	if c := ti.GetCommand(); c != nil && c.User != nil {
		t.User = proto.String(c.GetUser())
	} else if c := ti.GetExecutor().GetCommand(); c != nil && c.User != nil {
		t.User = proto.String(c.GetUser())
	}
	return t
}

// removeQueued drops a task (and its group) from the queue and returns the
// TaskInfos removed.
func (ex *executor) removeQueued(taskID string) []*mesospb.TaskInfo {
	for i, li := range ex.queue {
		for _, t := range li.tasks() {
			if t.GetTaskId().GetValue() != taskID {
				continue
			}
			ex.queue = slices.Delete(ex.queue, i, i+1)
			removed := li.tasks()
			for _, r := range removed {
				delete(ex.queued, r.GetTaskId().GetValue())
			}
			return removed
		}
	}
	return nil
}

// queuedInGroup reports whether taskID is queued as part of a task group.
func (ex *executor) queuedInGroup(taskID string) bool {
	for _, li := range ex.queue {
		if li.group == nil {
			continue
		}
		for _, t := range li.tasks() {
			if t.GetTaskId().GetValue() == taskID {
				return true
			}
		}
	}
	return false
}

// addLaunched records a task as sent to the executor.
func (ex *executor) addLaunched(t *mesospb.Task) {
	id := t.GetTaskId().GetValue()
	if ex.launched[id] == nil {
		ex.order = append(ex.order, id)
	}
	ex.launched[id] = t
}

// completeTask moves a launched task to the completed tasks.
func (ex *executor) completeTask(taskID string) {
	t := ex.launched[taskID]
	if t == nil {
		return
	}
	delete(ex.launched, taskID)
	ex.order = slices.DeleteFunc(ex.order, func(id string) bool { return id == taskID })
	ex.completed = append(ex.completed, t)
	if n := len(ex.completed) - maxCompletedTasksPerExecutor; n > 0 {
		ex.completed = slices.Delete(ex.completed, 0, n)
	}
}

func (a *Agent) sortedFrameworks() []*framework {
	out := make([]*framework, 0, len(a.frameworks))
	for _, fw := range a.frameworks {
		out = append(out, fw)
	}
	slices.SortFunc(out, func(x, y *framework) int { return cmp.Compare(x.id, y.id) })
	return out
}

// ensureFramework returns the framework, created or with its info updated.
func (a *Agent) ensureFramework(info *mesospb.FrameworkInfo) *framework {
	id := info.GetId().GetValue()
	fw := a.frameworks[id]
	if fw == nil {
		fw = &framework{id: id, info: info, executors: make(map[string]*executor)}
		a.frameworks[id] = fw
		return fw
	}
	if fw.state == frameworkRunning {
		if !proto.Equal(fw.info, info) {
			fw.checkpointed = false
		}
		fw.info = info
	}
	return fw
}

// removeExecutor moves a terminated executor without tasks to the
// completed executors, and removes its framework when it was the last.
func (a *Agent) removeExecutor(ex *executor) {
	fw := ex.fw
	if fw.executors[ex.id] != ex {
		return
	}
	ex.stopTimers()
	ex.closeConn()
	a.checkpointCompleted(ex)
	a.collectExecutor(ex)
	delete(fw.executors, ex.id)
	fw.completedExecutors = append(fw.completedExecutors, ex)
	if n := len(fw.completedExecutors) - maxCompletedExecutorsPerFramework; n > 0 {
		fw.completedExecutors = slices.Delete(fw.completedExecutors, 0, n)
	}
	if len(fw.executors) == 0 {
		a.removeFramework(fw)
	}
}

func (a *Agent) removeFramework(fw *framework) {
	if a.frameworks[fw.id] != fw {
		return
	}
	delete(a.frameworks, fw.id)
	a.collectFramework(fw)
	if fw.state == frameworkTerminating {
		a.updates.Cleanup(fw.id)
		a.scheduleRetry()
	}
	a.completed = append(a.completed, fw)
	if n := len(a.completed) - maxCompletedFrameworks; n > 0 {
		a.completed = slices.Delete(a.completed, 0, n)
	}
	a.log.Info("framework removed", "framework_id", fw.id)
	if a.terminating && len(a.frameworks) == 0 {
		a.finishShutdown()
	}
}

// maybeRemoveExecutor removes a terminated executor once all its tasks are
// completed (their terminal updates acknowledged).
func (a *Agent) maybeRemoveExecutor(ex *executor) {
	if ex.state == executorTerminated && !ex.hasTasks() {
		a.removeExecutor(ex)
	}
}
