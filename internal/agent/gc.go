package agent

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/meso-project/meso/internal/agent/gc"
	"github.com/meso-project/meso/internal/agent/paths"
	"github.com/meso-project/meso/internal/files"
)

// This file decides what the garbage collector (package gc) removes, as
// Mesos's agent does: an executor's sandbox and checkpoints once the
// executor is removed, a framework's once the framework is; the
// directories of earlier agents after recovery. A path is removed
// --gc_delay after it was scheduled, sooner when the disk fills up
// (--gc_disk_headroom). Work coming back for a framework or executor takes
// its directories off the schedule first.

// collect schedules path for removal --gc_delay from now (Mesos touches it
// and collects it by its age). Once it is removed (or its removal failed),
// the virtual paths of detach are detached from /files, as Mesos's
// garbageCollect(path).onAny(detachFile) does; not when the removal is
// cancelled because the directory is used again.
func (a *Agent) collect(path string, detach ...string) {
	if a.gc == nil {
		return
	}
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		return // gone already, or never made
	}
	done, err := a.gc.Collect(path)
	if err != nil {
		a.log.Warn("cannot schedule a directory for garbage collection", "path", path, "err", err)
		return
	}
	if len(detach) == 0 {
		return
	}
	go func() {
		if err := <-done; errors.Is(err, gc.ErrUnscheduled) || errors.Is(err, gc.ErrClosed) {
			return
		}
		for _, p := range detach {
			a.files.Detach(p)
		}
	}()
}

// attachSandbox exposes the executor's run directory through /files at
// the paths Mesos 1.11 attaches it to (Framework::addExecutor): the
// virtual /frameworks/<fid>/executors/<eid>/runs/latest, and, for
// compatibility, the real .../runs/latest and the real run directory.
func (a *Agent) attachSandbox(ex *executor) {
	w, id, fw := a.cfg.WorkDir, a.agentID(), ex.fw.id
	for _, virtual := range []string{
		paths.ExecutorLatestRunDir(w, id, fw, ex.id),
		files.ExecutorVirtualPath(fw, ex.id),
		ex.directory,
	} {
		if err := a.files.Attach(ex.directory, virtual); err != nil {
			a.log.Error("cannot attach the executor's sandbox to /files", "virtual_path", virtual, "err", err)
		}
	}
}

// collectExecutor schedules a removed executor's run (and, when nothing of
// it is queued, the executor's own directory) with their checkpoints.
func (a *Agent) collectExecutor(ex *executor) {
	if ex.containerID == "" {
		return
	}
	w, id, fw := a.cfg.WorkDir, a.agentID(), ex.fw.id
	run := paths.ExecutorRunDir(w, id, fw, ex.id, ex.containerID)
	a.collect(run, run)
	a.collect(paths.ExecutorDir(w, id, fw, ex.id),
		paths.ExecutorLatestRunDir(w, id, fw, ex.id), files.ExecutorVirtualPath(fw, ex.id))
	if ex.fw.info.GetCheckpoint() {
		a.collect(paths.MetaRunDir(w, id, fw, ex.id, ex.containerID))
		a.collect(paths.MetaExecutorDir(w, id, fw, ex.id))
	}
}

// collectFramework schedules a removed framework's directories.
func (a *Agent) collectFramework(fw *framework) {
	w, id := a.cfg.WorkDir, a.agentID()
	a.collect(paths.FrameworkDir(w, id, fw.id))
	if fw.info.GetCheckpoint() {
		a.collect(paths.MetaFrameworkDir(w, id, fw.id))
	}
}

// unscheduleFor takes an executor's and its framework's directories off the
// schedule before a new run of the executor uses them (Mesos's
// Slave::run). It waits for a removal already under way.
func (a *Agent) unscheduleFor(ex *executor) {
	if a.gc == nil {
		return
	}
	w, id, fw := a.cfg.WorkDir, a.agentID(), ex.fw.id
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	for _, p := range []string{
		paths.FrameworkDir(w, id, fw), paths.MetaFrameworkDir(w, id, fw),
		paths.ExecutorDir(w, id, fw, ex.id), paths.MetaExecutorDir(w, id, fw, ex.id),
	} {
		if _, err := a.gc.Unschedule(ctx, p); err != nil {
			a.log.Warn("cannot take a directory off the garbage collection schedule", "path", p, "err", err)
		}
	}
}

// collectOldAgents schedules the sandboxes and checkpoints of agents that
// ran here before under other IDs (Mesos's __recover).
func (a *Agent) collectOldAgents() {
	entries, err := os.ReadDir(paths.AgentDir(a.cfg.WorkDir, ""))
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == a.agentID() {
			continue
		}
		a.log.Info("garbage collecting the directories of an old agent", "old_agent_id", e.Name())
		a.collect(paths.AgentDir(a.cfg.WorkDir, e.Name()))
		a.collect(paths.MetaAgentDir(a.cfg.WorkDir, e.Name()))
	}
}
