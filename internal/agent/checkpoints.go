package agent

import (
	"os"
	"path/filepath"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/agent/checkpoint"
	"github.com/meso-project/meso/internal/agent/paths"
	"github.com/meso-project/meso/internal/pb/checkpointpb"
	"github.com/meso-project/meso/pkg/resources"
)

// This file writes the agent's checkpoints (package checkpoint has the
// formats; recover.go reads them back). As in Mesos, only what belongs to
// frameworks with FrameworkInfo.checkpoint is written, and every write is
// durable before the agent acts on it: an executor's records before it is
// launched, a task's before it is delivered, a status update before it is
// acknowledged to the executor or forwarded. Acknowledgements are appended
// without an fsync (see checkpointAck). A failed write is logged and the agent goes on (a
// crash then loses that record, as a crash before the write would have).

func (a *Agent) agentID() string { return a.info.GetId().GetValue() }

// markers makes the checkpoint markers (links to <work_dir>/meta/.empty).
func (a *Agent) markers() checkpoint.Markers {
	return checkpoint.Markers{Empty: filepath.Join(paths.MetaDir(a.cfg.WorkDir), ".empty")}
}

func (a *Agent) checkpointFailed(what string, err error) {
	a.log.Error("checkpoint failed", "what", what, "err", err)
}

// checkpointAgent records the agent's info and points meta/slaves/latest at
// it (Mesos's Slave::registered).
func (a *Agent) checkpointAgent() {
	id := a.agentID()
	if err := checkpoint.WriteMessage(paths.AgentInfoPath(a.cfg.WorkDir, id), a.info); err != nil {
		a.checkpointFailed("agent info", err)
		return
	}
	if err := paths.Symlink(id, paths.LatestMetaAgentPath(a.cfg.WorkDir)); err != nil {
		a.checkpointFailed("latest agent link", err)
	}
}

// checkpointBootID records this boot's id, which tells a restarted agent
// whether the host rebooted in between.
func (a *Agent) checkpointBootID() {
	id, err := checkpoint.BootID()
	if err != nil {
		a.checkpointFailed("boot id", err)
		return
	}
	if err := checkpoint.WriteText(paths.BootIDPath(a.cfg.WorkDir), id); err != nil {
		a.checkpointFailed("boot id", err)
	}
}

// checkpointResourceState records the resources the master asked the agent to
// keep (dynamic reservations, persistent volumes).
func (a *Agent) checkpointResourceState(total resources.Resources) {
	if err := checkpoint.WriteMessage(paths.ResourceStatePath(a.cfg.WorkDir),
		&checkpointpb.ResourceState{Resources: total.Filter(needsCheckpointing)}); err != nil {
		a.checkpointFailed("resources", err)
	}
}

// needsCheckpointing: a dynamic reservation or a persistent volume (Mesos's
// needCheckpointing).
func needsCheckpointing(r *mesospb.Resource) bool {
	return resources.IsDynamicallyReserved(r) || r.GetDisk().GetPersistence() != nil
}

// executorCheckpoints returns the writes that record a new executor run:
// the framework's info (once), the executor's info (and whether the agent
// made it for a command task), the run's directory, runs/latest, the HTTP
// marker (meso's executors all use the HTTP API) and the tasks it starts
// with. It runs on the actor and captures what it needs; the writes run
// off it, in the launch goroutine, before the container starts (durable
// before visible). nil when the framework does not checkpoint.
func (a *Agent) executorCheckpoints(ex *executor) func() {
	fw := ex.fw
	if !fw.info.GetCheckpoint() {
		return nil
	}
	w, id := a.cfg.WorkDir, a.agentID()
	var fwInfo *mesospb.FrameworkInfo
	if !fw.checkpointed {
		fwInfo = fw.info
		fw.checkpointed = true
	}
	exInfo, command, cid, exID := ex.info, ex.command, ex.containerID, ex.id
	var tasks []*mesospb.Task
	for _, t := range ex.queuedTasks() {
		tasks = append(tasks, ex.newTask(t, mesospb.TaskState_TASK_STAGING))
	}
	return func() {
		if fwInfo != nil {
			if err := checkpoint.WriteMessage(filepath.Join(paths.MetaFrameworkDir(w, id, fw.id), paths.FrameworkInfoFile), fwInfo); err != nil {
				a.checkpointFailed("framework info", err)
				return
			}
		}
		exDir := paths.MetaExecutorDir(w, id, fw.id, exID)
		if err := checkpoint.WriteMessage(filepath.Join(exDir, paths.ExecutorInfoFile), exInfo); err != nil {
			a.checkpointFailed("executor info", err)
			return
		}
		if command {
			if err := a.markers().Touch(filepath.Join(exDir, paths.CommandExecutorMarker)); err != nil {
				a.checkpointFailed("command executor marker", err)
			}
		}
		run := paths.MetaRunDir(w, id, fw.id, exID, cid)
		if err := a.markers().Touch(filepath.Join(run, paths.HTTPMarkerFile)); err != nil {
			a.checkpointFailed("http marker", err)
			return
		}
		if err := paths.Symlink(cid, filepath.Join(exDir, "runs", paths.Latest)); err != nil {
			a.checkpointFailed("latest run link", err)
		}
		for _, t := range tasks {
			dir := paths.MetaTaskDir(w, id, fw.id, exID, cid, t.GetTaskId().GetValue())
			if err := checkpoint.WriteMessage(filepath.Join(dir, paths.TaskInfoFile), t); err != nil {
				a.checkpointFailed("task info", err)
			}
			// The stream's file exists before the first update, so that
			// appending to it on the actor allocates nothing.
			if err := checkpoint.Create(filepath.Join(dir, paths.TaskUpdatesFile)); err != nil {
				a.checkpointFailed("task updates", err)
			}
		}
	}
}

// checkpointPID records the executor's first process (the containerizer
// calls it between fork and exec; it runs off the actor, on values fixed at
// launch).
func checkpointPID(path string) func(pid int) error {
	return func(pid int) error { return checkpoint.WriteText(path, strconv.Itoa(pid)) }
}

// checkpointTask records a task given to an executor (task.info).
func (a *Agent) checkpointTask(ex *executor, t *mesospb.Task) {
	if !ex.fw.info.GetCheckpoint() || ex.containerID == "" {
		return
	}
	dir := a.metaTaskDir(ex, t.GetTaskId().GetValue())
	if err := checkpoint.WriteMessage(filepath.Join(dir, paths.TaskInfoFile), t); err != nil {
		a.checkpointFailed("task info", err)
	}
}

func (a *Agent) metaTaskDir(ex *executor, taskID string) string {
	return paths.MetaTaskDir(a.cfg.WorkDir, a.agentID(), ex.fw.id, ex.id, ex.containerID, taskID)
}

// checkpointUpdate appends a status update to its task's stream.
func (a *Agent) checkpointUpdate(ex *executor, st *mesospb.TaskStatus, latest *mesospb.TaskState) {
	if ex == nil || !ex.fw.info.GetCheckpoint() || ex.containerID == "" {
		return
	}
	rec := &checkpointpb.StatusUpdateRecord{
		Type: checkpointpb.StatusUpdateRecord_UPDATE.Enum(),
		Update: &checkpointpb.StatusUpdate{
			FrameworkId: ex.fw.info.GetId(),
			ExecutorId:  ex.info.GetExecutorId(),
			AgentId:     a.info.GetId(),
			Status:      st,
			Timestamp:   proto.Float64(st.GetTimestamp()),
			Uuid:        st.GetUuid(),
			LatestState: latest,
		},
	}
	path := filepath.Join(a.metaTaskDir(ex, st.GetTaskId().GetValue()), paths.TaskUpdatesFile)
	if err := checkpoint.Append(path, rec, true); err != nil {
		a.checkpointFailed("status update", err)
	}
}

// checkpointAck appends the acknowledgement of uuid to its task's stream.
func (a *Agent) checkpointAck(ex *executor, taskID string, uuid []byte) {
	if ex == nil || !ex.fw.info.GetCheckpoint() || ex.containerID == "" {
		return
	}
	// Not fsynced: an acknowledgement lost with the machine (a process
	// crash loses nothing) only makes the agent send its update again,
	// which at-least-once delivery allows; an update lost would be lost
	// for good, so updates are.
	rec := &checkpointpb.StatusUpdateRecord{Type: checkpointpb.StatusUpdateRecord_ACK.Enum(), Uuid: uuid}
	path := filepath.Join(a.metaTaskDir(ex, taskID), paths.TaskUpdatesFile)
	if err := checkpoint.Append(path, rec, false); err != nil {
		a.checkpointFailed("status update acknowledgement", err)
	}
}

// checkpointCompleted marks an executor run as over (executor.sentinel):
// a restarted agent does not wait for it.
func (a *Agent) checkpointCompleted(ex *executor) {
	if !ex.fw.info.GetCheckpoint() || ex.containerID == "" {
		return
	}
	run := paths.MetaRunDir(a.cfg.WorkDir, a.agentID(), ex.fw.id, ex.id, ex.containerID)
	if _, err := os.Stat(run); err != nil {
		return
	}
	if err := a.markers().Touch(filepath.Join(run, paths.ExecutorSentinelFile)); err != nil {
		a.checkpointFailed("executor sentinel", err)
	}
}
