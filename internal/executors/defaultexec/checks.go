package defaultexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/checks"
)

// checker is what the executor needs of a task's check or health check.
type checker interface {
	Pause()
	Resume()
	// Stop ends it for good; it waits for a report in progress, which
	// gives up when Stop begins.
	Stop()
}

var (
	_ checker = (*checks.Checker)(nil)
	_ checker = (*checks.HealthChecker)(nil)
)

// startChecks starts the task's check and health check once its container
// is launched, as Mesos's default executor does. HTTP and TCP checks reach
// the task on 127.0.0.1 (the tasks share the executor's network); COMMAND
// checks run in containers nested under the task's (nestedRunner). A
// definition the checks package rejects is an error: Mesos's executor shuts
// down when it cannot create a checker.
func (x *defaultExecutor) startChecks(c *container) error {
	taskID := c.task.GetTaskId().GetValue()
	cfg := checks.Config{
		TaskID: taskID,
		Runner: &nestedRunner{api: x.api, parent: c.id, log: x.log.With("task_id", taskID)},
		Logger: x.log,
	}
	if ci := c.task.GetCheck(); ci != nil {
		ch, err := checks.NewChecker(ci, cfg, func(ctx context.Context, cs *mesospb.CheckStatusInfo) {
			x.postCtx(ctx, func() { x.taskCheckUpdated(c, cs) })
		})
		if err != nil {
			return fmt.Errorf("Failed to create checker: %w", err)
		}
		c.check = ch
	}
	if hc := c.task.GetHealthCheck(); hc != nil {
		h, err := checks.NewHealthChecker(hc, cfg, func(ctx context.Context, hs checks.HealthStatus) {
			x.postCtx(ctx, func() { x.taskHealthUpdated(c, hs) })
		})
		if err != nil {
			return fmt.Errorf("Failed to create health checker: %w", err)
		}
		c.health = h
	}
	return nil
}

// postCtx is post that also gives up when ctx ends (a checker's report
// while the actor stops that checker).
func (x *defaultExecutor) postCtx(ctx context.Context, f func()) {
	select {
	case x.actions <- f:
	case <-ctx.Done():
	case <-x.quit:
	}
}

// stopChecks stops the container's checks (Mesos pauses and drops them
// when the task is being killed or has ended).
func (x *defaultExecutor) stopChecks(c *container) {
	if c.check != nil {
		c.check.Stop()
		c.check = nil
	}
	if c.health != nil {
		c.health.Stop()
		c.health = nil
	}
}

// derived is the task's last status with a new uuid and timestamp and
// reason (Mesos's createTaskStatus from the last status).
func derived(last *mesospb.TaskStatus, reason mesospb.TaskStatus_Reason) *mesospb.TaskStatus {
	st := proto.CloneOf(last)
	u := uuid.New()
	st.Uuid = u[:]
	st.Timestamp = proto.Float64(float64(time.Now().UnixNano()) / 1e9)
	st.Reason = reason.Enum()
	return st
}

// taskCheckUpdated forwards a check's new status as a copy of the task's
// last update with check_status and REASON_TASK_CHECK_STATUS_UPDATED;
// reports for an ended or terminating task are dropped.
func (x *defaultExecutor) taskCheckUpdated(c *container, cs *mesospb.CheckStatusInfo) {
	if x.byTask[c.task.GetTaskId().GetValue()] != c || c.check == nil || c.lastStatus == nil {
		return
	}
	x.log.Info(fmt.Sprintf("Received check update '%v' for task '%s'", cs, c.task.GetTaskId().GetValue()))
	st := derived(c.lastStatus, mesospb.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED)
	st.CheckStatus = cs
	x.forward(st)
}

// taskHealthUpdated forwards a health report as a copy of the task's last
// update with healthy and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, and
// kills the task when the report says so; the executor then marks every
// later terminal update healthy:false, as Mesos's does.
func (x *defaultExecutor) taskHealthUpdated(c *container, hs checks.HealthStatus) {
	taskID := c.task.GetTaskId().GetValue()
	if x.byTask[taskID] != c || c.health == nil || c.lastStatus == nil {
		return
	}
	health := "healthy"
	if !hs.Healthy {
		health = "not healthy"
	}
	x.log.Info(fmt.Sprintf("Received task health update for task '%s', task is %s", taskID, health))
	st := derived(c.lastStatus, mesospb.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED)
	st.Healthy = proto.Bool(hs.Healthy)
	x.forward(st)
	if hs.KillTask {
		x.unhealthy = true
		x.killTask(taskID, nil)
	}
}

// nestedRunner runs COMMAND checks as Mesos's checker does for tasks of the
// default executor: each attempt in a new container "check-<uuid>" nested
// under the task's, launched with LAUNCH_NESTED_CONTAINER_SESSION (its
// output streams back in the response until it exits; the agent kills it
// when the connection closes), then WAIT_NESTED_CONTAINER for its exit
// status; the previous attempt's container is removed
// (REMOVE_NESTED_CONTAINER) before the next one starts. Agent failures are
// checks.ErrUnavailable: the attempt is dropped, not failed.
type nestedRunner struct {
	api    *agentAPI
	parent *mesospb.ContainerID
	log    *slog.Logger

	mu   sync.Mutex
	prev *mesospb.ContainerID // the last check container, not removed yet
}

var _ checks.CommandRunner = (*nestedRunner)(nil)

// Run implements checks.CommandRunner.
func (r *nestedRunner) Run(ctx context.Context, command *mesospb.CommandInfo) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.prev != nil {
		resp, err := r.api.post(ctx, &agentpb.Call{
			Type:                  agentpb.Call_REMOVE_NESTED_CONTAINER.Enum(),
			RemoveNestedContainer: &agentpb.Call_RemoveNestedContainer{ContainerId: r.prev},
		})
		switch {
		case err != nil:
			return 0, fmt.Errorf("%w: connection to remove the nested container '%s' failed: %v",
				checks.ErrUnavailable, containerIDString(r.prev), err)
		case resp.code != http.StatusOK:
			return 0, fmt.Errorf("%w: received '%s' (%s) while removing the nested container '%s'",
				checks.ErrUnavailable, resp.status, resp.text(), containerIDString(r.prev))
		}
		r.prev = nil
	}
	id := &mesospb.ContainerID{Value: proto.String("check-" + uuid.NewString()), Parent: r.parent}
	r.prev = id
	resp, err := r.api.session(ctx, &agentpb.Call_LaunchNestedContainerSession{ContainerId: id, Command: command})
	if ctx.Err() != nil {
		// Timed out (or stopped): closing the connection made the agent
		// kill the container; wait for its end so it can be removed next time.
		r.waitBriefly(ctx, id)
		return 0, ctx.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("%w: connection to the agent to launch the check failed: %v", checks.ErrUnavailable, err)
	}
	if resp.code != http.StatusOK {
		r.waitBriefly(ctx, id)
		return 0, fmt.Errorf("%w: received '%s' (%s) while launching the check", checks.ErrUnavailable, resp.status, resp.text())
	}
	r.log.Debug("check output", "bytes", len(resp.body))
	status, err := r.wait(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("Unable to get the exit code: %w", err)
	}
	if status == nil {
		return 0, errors.New("Unable to get the exit code")
	}
	ws := syscall.WaitStatus(uint32(*status))
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		// Probably killed with its task: no result.
		return 0, fmt.Errorf("%w: the check container was killed", checks.ErrUnavailable)
	case ws.Exited():
		return ws.ExitStatus(), nil
	default:
		return 0, fmt.Errorf("Command %s", describeStatus(ws))
	}
}

// wait is WAIT_NESTED_CONTAINER on a check container: its exit status, nil
// if the agent has none.
func (r *nestedRunner) wait(ctx context.Context, id *mesospb.ContainerID) (*int32, error) {
	resp, err := r.api.wait(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("Connection to wait for check container '%s' failed: %w", containerIDString(id), err)
	}
	if resp.code != http.StatusOK {
		return nil, fmt.Errorf("Received '%s' (%s) while waiting on check container '%s'", resp.status, resp.text(), containerIDString(id))
	}
	out := &agentpb.Response{}
	if err := proto.Unmarshal(resp.body, out); err != nil {
		return nil, fmt.Errorf("decoding the answer to WAIT_NESTED_CONTAINER: %w", err)
	}
	return out.GetWaitNestedContainer().ExitStatus, nil
}

// waitBriefly waits (at most 5 s) for a check container the agent is
// destroying, unless the checker is stopping (ctx cancelled rather than
// timed out): a stopping checker must not hold up the executor.
func (r *nestedRunner) waitBriefly(ctx context.Context, id *mesospb.ContainerID) {
	if errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = r.wait(ctx, id)
}
