package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/agent/checkpoint"
	"github.com/meso-project/meso/internal/agent/paths"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/pkg/resources"
	"github.com/meso-project/meso/pkg/taskstate"
)

// Recovery modes (--recover).
const (
	RecoverReconnect = "reconnect"
	RecoverCleanup   = "cleanup"
)

// Recovery defaults (Mesos's src/slave/constants.hpp).
const (
	DefaultRecoveryTimeout                  = 15 * time.Minute
	DefaultExecutorReregistrationTimeout    = 2 * time.Second
	MaxExecutorReregistrationTimeout        = 15 * time.Second
	DefaultExecutorReregistrationRetryDelay = 0
)

// recoverState rebuilds the agent from its checkpoints (Mesos's
// Slave::recover), before the actor and the master link start: the agent
// ID, checkpointed resources, the frameworks that checkpoint with their
// executors, tasks and unacknowledged status updates; the containerizer
// adopts the executors' containers and destroys the rest. It returns the
// executors to wait for.
//
// After a reboot (another boot id) nothing of the old agent is kept: it
// registers as a new agent, and the master drops the old one when it sees a
// registration from the same address.
func (a *Agent) recoverState(ctx context.Context) ([]*executor, error) {
	start := time.Now()
	st, err := checkpoint.Recover(a.cfg.WorkDir, a.cfg.Strict)
	if err != nil {
		return nil, fmt.Errorf("agent: failed to perform recovery: %w\n"+
			"To restart this agent with a new agent ID instead, run: rm -f %s\n"+
			"(or start it with --strict=false to recover what can be read)",
			err, paths.LatestMetaAgentPath(a.cfg.WorkDir))
	}
	a.metrics.recoveryErrors += uint64(st.Errors)
	if st.Errors > 0 {
		a.log.Warn("errors during recovery; skipped what could not be read", "errors", st.Errors)
	}
	boot, err := checkpoint.BootID()
	if err != nil {
		a.log.Warn("cannot read the boot id", "err", err)
	}
	rebooted := st.BootID != "" && boot != "" && st.BootID != boot

	if len(st.Resources) > 0 {
		total, err := applyCheckpointedResources(a.resources, st.Resources)
		if err != nil {
			return nil, fmt.Errorf("agent: checkpointed resources %s are incompatible with agent resources %s: %w",
				resources.Resources(st.Resources).String(), a.resources.String(), err)
		}
		a.resources = total
		a.info.Resources = total
	}

	var recovered []*executor
	var states []containerizer.Recovered
	switch {
	case st.Agent == nil:
	case rebooted:
		a.log.Info("agent host rebooted; registering as a new agent", "old_agent_id", st.Agent.ID)
		if err := os.Remove(paths.LatestMetaAgentPath(a.cfg.WorkDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("agent: removing the latest agent link: %w", err)
		}
	default:
		id := st.Agent.ID
		a.info.Id = &mesospb.AgentID{Value: &id}
		a.checkpointed = true
		for _, fwID := range slices.Sorted(maps.Keys(st.Agent.Frameworks)) {
			exs := a.recoverFramework(st.Agent.Frameworks[fwID])
			for _, ex := range exs {
				if ex.state == executorTerminated {
					continue
				}
				recovered = append(recovered, ex)
				states = append(states, containerizer.Recovered{
					ID: ex.containerID, Pid: ex.recoveredPID, Dir: ex.directory,
					Resources: ex.allocated(""), Limits: ex.limits("", a.cfg.CgroupsEnableCFS),
					CommandTask: ex.command,
				})
			}
		}
	}
	if err := a.cz.Recover(ctx, states); err != nil {
		return nil, fmt.Errorf("agent: recovering containers: %w", err)
	}
	a.checkpointBootID()
	// Until the executors are back, they may only SUBSCRIBE (set before the
	// HTTP server starts, so no call sees the agent half recovered).
	a.recovering = a.cfg.Recover == RecoverReconnect
	a.metrics.recoveryTime = max(time.Since(start), time.Nanosecond)
	a.log.Info("recovered checkpointed state", "agent_id", a.agentID(), "frameworks", len(a.frameworks),
		"executors", len(recovered), "rebooted", rebooted, "took", time.Since(start))
	return recovered, nil
}

// applyCheckpointedResources is the agent's total with the checkpointed
// resources (dynamic reservations) carved out of the unreserved ones.
func applyCheckpointedResources(total resources.Resources, cp []*mesospb.Resource) (resources.Resources, error) {
	out := total
	for _, r := range cp {
		plain := unreserved(r)
		if !out.Contains(plain) {
			return nil, fmt.Errorf("%s is not part of the agent's resources", resources.Resources{r}.String())
		}
		out = out.Subtract(plain).Add(resources.Resources{r})
	}
	return out, nil
}

// unreserved is r without its reservations (and allocation).
func unreserved(r *mesospb.Resource) resources.Resources {
	c := proto.CloneOf(r)
	c.Reservations, c.Role, c.Reservation, c.AllocationInfo = nil, nil, nil, nil
	return resources.Resources{c}
}

// recoverFramework rebuilds a framework and the executors of its latest
// runs. A run that had ended (executor.sentinel) comes back terminated,
// only to re-send its tasks' unacknowledged updates.
func (a *Agent) recoverFramework(fs *checkpoint.FrameworkState) []*executor {
	if fs.Info == nil {
		return nil
	}
	fw := &framework{id: fs.ID, info: fs.Info, executors: make(map[string]*executor), checkpointed: true}
	var out []*executor
	for _, exID := range slices.Sorted(maps.Keys(fs.Executors)) {
		es := fs.Executors[exID]
		run := es.Runs[es.Latest]
		if es.Info == nil || run == nil {
			continue
		}
		ex := newExecutor(fw, es.Info, es.GeneratedForCommandTask)
		ex.containerID = run.ContainerID
		ex.directory = paths.ExecutorRunDir(a.cfg.WorkDir, a.agentID(), fw.id, ex.id, ex.containerID)
		ex.launchedAt = time.Now()
		ex.state = executorRegistering
		ex.recoveredPID = run.ForkedPID
		for _, tid := range slices.Sorted(maps.Keys(run.Tasks)) {
			a.recoverTask(ex, run.Tasks[tid])
		}
		ex.everSentTask = len(ex.launched) > 0 || len(ex.completed) > 0
		if run.Completed {
			ex.state = executorTerminated
			if !ex.hasTasks() {
				continue
			}
		}
		fw.executors[ex.id] = ex
		a.attachSandbox(ex)
		out = append(out, ex)
	}
	if len(fw.executors) > 0 {
		a.frameworks[fw.id] = fw
	}
	return out
}

// recoverTask rebuilds a task from task.info and its update stream: its
// state is that of its latest update; unacknowledged updates go back to
// the status update manager (re-sent once the agent is registered); a task
// whose terminal update was acknowledged is completed.
func (a *Agent) recoverTask(ex *executor, ts *checkpoint.TaskState) {
	if ts.Info == nil {
		return
	}
	t := ts.Info
	now := time.Now()
	for _, u := range ts.Updates {
		st := u.GetStatus()
		if st == nil {
			continue
		}
		recordStatus(t, st)
		if _, err := a.updates.Update(ex.fw.id, st, now); err != nil {
			a.log.Debug("skipping a recovered status update", "task_id", ts.ID, "err", err)
		}
	}
	terminalAcked := false
	for {
		pending := a.updates.Pending(ex.fw.id, ts.ID)
		if len(pending) == 0 || !ts.Acks[string(pending[0].GetUuid())] {
			break
		}
		acked, _, err := a.updates.Acknowledge(ex.fw.id, ts.ID, pending[0].GetUuid(), now)
		if err != nil {
			break
		}
		if taskstate.IsTerminal(acked.GetState()) {
			terminalAcked = true
		}
	}
	ex.addLaunched(t)
	if terminalAcked {
		ex.completeTask(ts.ID)
	}
}

// resumeRecovered starts, on the actor, what follows recovery: a wait on
// every adopted container and, with --recover=reconnect, the timer after
// which executors that did not re-subscribe are destroyed; with
// --recover=cleanup every executor is shut down and the agent stops once
// they are gone. done is called when the agent may register.
func (a *Agent) resumeRecovered(exs []*executor, done func()) {
	for _, ex := range exs {
		a.waitContainer(ex, ex.containerID)
	}
	if a.cfg.Recover == RecoverCleanup {
		a.terminating = true
		a.cleaningUp = true
		for _, ex := range exs {
			a.log.Info("shutting down a recovered executor (--recover=cleanup)",
				"framework_id", ex.fw.id, "executor_id", ex.id)
			a.shutdownExecutor(ex, nil)
		}
		if len(a.frameworks) == 0 {
			a.finishShutdown()
		}
		return
	}
	a.recoveryDone = done
	if a.awaitingReregistration() == 0 {
		a.finishRecovery()
		return
	}
	timeout := a.cfg.ExecutorReregistrationTimeout
	a.reregTimer = time.AfterFunc(timeout, func() { a.post(a.reregistrationTimedOut) })
}

// awaitingReregistration counts the recovered executors not back yet.
func (a *Agent) awaitingReregistration() int {
	n := 0
	for _, fw := range a.frameworks {
		for _, ex := range fw.executors {
			if ex.state == executorRegistering {
				n++
			}
		}
	}
	return n
}

// executorReregistered is called when an executor subscribes; recovery
// ends early once every recovered executor is back.
func (a *Agent) executorReregistered() {
	if a.recovering && a.awaitingReregistration() == 0 {
		a.finishRecovery()
	}
}

// reregistrationTimedOut destroys the recovered executors that did not
// re-subscribe within --executor_reregistration_timeout (Mesos's
// reregisterExecutorTimeout): their tasks become TASK_GONE (TASK_LOST for
// frameworks that are not partition-aware).
func (a *Agent) reregistrationTimedOut() {
	if !a.recovering {
		return
	}
	for _, fw := range a.sortedFrameworks() {
		for _, ex := range fw.sortedExecutors() {
			if ex.state != executorRegistering {
				continue
			}
			a.log.Info("killing an executor that did not re-register", "framework_id", fw.id, "executor_id", ex.id)
			state := mesospb.TaskState_TASK_LOST
			if fw.partitionAware() {
				state = mesospb.TaskState_TASK_GONE
			}
			ex.pending = &termination{state, mesospb.TaskStatus_REASON_EXECUTOR_REREGISTRATION_TIMEOUT,
				"Executor did not reregister within " + formatDuration(a.cfg.ExecutorReregistrationTimeout)}
			ex.state = executorTerminating
			a.destroy(ex, 0)
		}
	}
	a.finishRecovery()
}

// finishRecovery lets the agent register.
func (a *Agent) finishRecovery() {
	if !a.recovering {
		return
	}
	a.recovering = false
	if a.reregTimer != nil {
		a.reregTimer.Stop()
	}
	a.log.Info("finished recovery", "took", time.Since(a.startTime))
	if a.recoveryDone != nil {
		a.recoveryDone()
	}
}

// waitContainer reports the end of the executor's container to the actor.
func (a *Agent) waitContainer(ex *executor, containerID string) {
	ctx := a.ctx
	go func() {
		term, err := a.cz.Wait(ctx, containerID)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			term = containerizer.Termination{Status: -1, ExitCode: -1, Message: err.Error()}
		}
		a.post(func() { a.executorExited(ex, containerID, term) })
	}()
}

// validateRecoverFlags checks --recover and the recovery timeouts.
func validateRecoverFlags(cfg *Config) error {
	switch cfg.Recover {
	case "":
		cfg.Recover = RecoverReconnect
	case RecoverReconnect, RecoverCleanup:
	default:
		return fmt.Errorf("%w: --recover should be one of 'reconnect' or 'cleanup'", ErrConfig)
	}
	if cfg.ExecutorReregistrationTimeout <= 0 {
		cfg.ExecutorReregistrationTimeout = DefaultExecutorReregistrationTimeout
	}
	if cfg.ExecutorReregistrationTimeout > MaxExecutorReregistrationTimeout {
		return fmt.Errorf("%w: Expected `--executor_reregistration_timeout` to be not more than %s",
			ErrConfig, formatDuration(MaxExecutorReregistrationTimeout))
	}
	if cfg.RecoveryTimeout <= 0 {
		cfg.RecoveryTimeout = DefaultRecoveryTimeout
	}
	return nil
}
