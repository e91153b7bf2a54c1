package command

import (
	"context"
	"log/slog"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/checks"
)

// startChecks starts the task's check and health check once its process is
// forked, as Mesos's command executor does. Both run in the executor: the
// task shares its network namespace (HTTP and TCP checks reach it on
// 127.0.0.1) and COMMAND checks are the executor's children, in the
// sandbox, with the executor's environment, as the task's user (Mesos's
// executor already runs as that user; meso's switches for the task). A definition the checks package
// rejects is logged and not run, as Mesos does (the master has validated
// it already).
func (x *commandExecutor) startChecks(task *mesospb.TaskInfo) {
	cfg := checks.Config{
		TaskID: task.GetTaskId().GetValue(),
		Runner: &checks.LocalRunner{Env: x.checkEnv(), Dir: x.cfg.Directory, Output: x.errw, Credential: x.cred},
		Logger: slog.New(slog.NewTextHandler(x.errw, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if ci := task.GetCheck(); ci != nil {
		c, err := checks.NewChecker(ci, cfg, func(ctx context.Context, cs *mesospb.CheckStatusInfo) {
			select {
			case x.checkC <- cs:
			case <-ctx.Done():
			case <-x.quit:
			}
		})
		if err != nil {
			x.errorf("Failed to create checker: %v", err)
		} else {
			x.checker = c
		}
	}
	if hc := task.GetHealthCheck(); hc != nil {
		h, err := checks.NewHealthChecker(hc, cfg, func(ctx context.Context, hs checks.HealthStatus) {
			select {
			case x.healthC <- hs:
			case <-ctx.Done():
			case <-x.quit:
			}
		})
		if err != nil {
			x.errorf("Failed to create health checker: %v", err)
		} else {
			x.healthChecker = h
		}
	}
}

// checkEnv is the environment of COMMAND checks: the executor's own (Mesos
// runs them with os::environment() plus the check's variables), without the
// executor's authentication token.
func (x *commandExecutor) checkEnv() []string {
	return x.taskEnv(&mesospb.TaskInfo{}, &mesospb.CommandInfo{})
}

// pauseChecks stops checking a task that is being killed or has ended.
func (x *commandExecutor) pauseChecks() {
	if x.checker != nil {
		x.checker.Pause()
	}
	if x.healthChecker != nil {
		x.healthChecker.Pause()
	}
}

// onHealth forwards a health report as TASK_RUNNING (a copy of the last
// update) with healthy and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, and
// kills the task when the report says so. Reports after the kill started
// or the task ended are dropped, as Mesos drops them.
func (x *commandExecutor) onHealth(ctx context.Context, hs checks.HealthStatus) {
	if x.killed || x.terminated || x.lastStatus == nil {
		return
	}
	x.logf("Received task health update, healthy: %t", hs.Healthy)
	st := x.derived(mesospb.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED)
	st.Healthy = proto.Bool(hs.Healthy)
	x.send(ctx, st)
	if hs.KillTask {
		x.killedByHealthCheck = true
		x.kill(ctx, x.task.GetTaskId(), nil)
	}
}

// onCheck forwards a check's new status as a copy of the last update with
// check_status and REASON_TASK_CHECK_STATUS_UPDATED.
func (x *commandExecutor) onCheck(ctx context.Context, cs *mesospb.CheckStatusInfo) {
	if x.killed || x.terminated || x.lastStatus == nil {
		return
	}
	x.logf("Received check update '%v'", cs)
	st := x.derived(mesospb.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED)
	st.CheckStatus = cs
	x.send(ctx, st)
}

// derived is the last status with a new uuid and timestamp and reason.
func (x *commandExecutor) derived(reason mesospb.TaskStatus_Reason) *mesospb.TaskStatus {
	st := proto.CloneOf(x.lastStatus)
	st.Uuid, st.Timestamp = nil, nil
	st.Reason = reason.Enum()
	return st
}
