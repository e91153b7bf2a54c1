package checkpoint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/agent/paths"
	"github.com/meso-project/meso/internal/pb/checkpointpb"
)

// State is what Recover read from <work_dir>/meta (Mesos's
// slave/state.hpp). Agent is nil when no agent has checkpointed there.
type State struct {
	// BootID is the boot id the last agent recorded ("" if none).
	BootID string
	Agent  *AgentState
	// Resources are the checkpointed resources (nil if none).
	Resources []*mesospb.Resource
	// Errors counts the checkpoints that could not be read and were
	// skipped (only without strict).
	Errors int
}

// AgentState is meta/slaves/<agent_id>.
type AgentState struct {
	ID         string
	Info       *mesospb.AgentInfo
	Frameworks map[string]*FrameworkState
}

// FrameworkState is .../frameworks/<framework_id>.
type FrameworkState struct {
	ID        string
	Info      *mesospb.FrameworkInfo
	PID       string
	Executors map[string]*ExecutorState
}

// ExecutorState is .../executors/<executor_id>.
type ExecutorState struct {
	ID   string
	Info *mesospb.ExecutorInfo
	// GeneratedForCommandTask: the agent made this executor for a command
	// task.
	GeneratedForCommandTask bool
	// Latest is the container ID runs/latest points at ("" if none).
	Latest string
	Runs   map[string]*RunState
}

// RunState is .../runs/<container_id>: one run of an executor.
type RunState struct {
	ContainerID string
	// ForkedPID is the executor's first process (0 if not checkpointed:
	// the agent died before the launch).
	ForkedPID int
	// HTTP: the executor uses the v1 HTTP API (http.marker).
	HTTP bool
	// Completed: the run ended (executor.sentinel).
	Completed bool
	Tasks     map[string]*TaskState
}

// TaskState is .../tasks/<task_id>.
type TaskState struct {
	ID      string
	Info    *mesospb.Task
	Updates []*checkpointpb.StatusUpdate
	// Acks holds the uuids of acknowledged updates.
	Acks map[string]bool
}

// BootID returns this machine's boot id (/proc/sys/kernel/random/boot_id).
func BootID() (string, error) {
	return ReadText("/proc/sys/kernel/random/boot_id")
}

// Recover reads the checkpoints under workDir. With strict, any checkpoint
// that cannot be read is an error; without it, it is skipped and counted.
// A checkpoint that was never written (the agent died between making a
// directory and writing into it) is skipped either way, as in Mesos. Torn
// tails of task.updates are truncated away.
func Recover(workDir string, strict bool) (*State, error) {
	r := &reader{strict: strict, st: &State{}}
	if b, err := ReadText(paths.BootIDPath(workDir)); err == nil {
		r.st.BootID = b
	} else if !errors.Is(err, fs.ErrNotExist) {
		if err := r.fail(err); err != nil {
			return nil, err
		}
	}
	if err := r.resources(workDir); err != nil {
		return nil, err
	}
	target, err := os.Readlink(paths.LatestMetaAgentPath(workDir))
	if errors.Is(err, fs.ErrNotExist) {
		return r.st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	agentID := filepath.Base(target)
	if err := r.agent(workDir, agentID); err != nil {
		return nil, err
	}
	return r.st, nil
}

type reader struct {
	strict bool
	st     *State
}

// fail reports err in strict mode and counts it otherwise.
func (r *reader) fail(err error) error {
	if r.strict {
		return err
	}
	r.st.Errors++
	return nil
}

func (r *reader) resources(workDir string) error {
	var rs checkpointpb.ResourceState
	err := ReadMessage(paths.ResourceStatePath(workDir), &rs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return r.fail(err)
	}
	r.st.Resources = rs.GetResources()
	return nil
}

func (r *reader) agent(workDir, agentID string) error {
	info := &mesospb.AgentInfo{}
	if err := ReadMessage(paths.AgentInfoPath(workDir, agentID), info); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // died before the first checkpoint: nothing to recover
		}
		return r.fail(err)
	}
	a := &AgentState{ID: agentID, Info: info, Frameworks: map[string]*FrameworkState{}}
	r.st.Agent = a
	ids, err := list(filepath.Join(paths.MetaAgentDir(workDir, agentID), "frameworks"))
	if err != nil {
		return r.fail(err)
	}
	for _, id := range ids {
		fw, err := r.framework(workDir, agentID, id)
		if err != nil {
			return err
		}
		if fw != nil {
			a.Frameworks[id] = fw
		}
	}
	return nil
}

func (r *reader) framework(workDir, agentID, id string) (*FrameworkState, error) {
	dir := paths.MetaFrameworkDir(workDir, agentID, id)
	info := &mesospb.FrameworkInfo{}
	if err := ReadMessage(filepath.Join(dir, paths.FrameworkInfoFile), info); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, r.fail(err)
	}
	fw := &FrameworkState{ID: id, Info: info, Executors: map[string]*ExecutorState{}}
	if pid, err := ReadText(filepath.Join(dir, paths.FrameworkPIDFile)); err == nil {
		fw.PID = pid
	}
	ids, err := list(filepath.Join(dir, "executors"))
	if err != nil {
		return nil, r.fail(err)
	}
	for _, ex := range ids {
		es, err := r.executor(workDir, agentID, id, ex)
		if err != nil {
			return nil, err
		}
		if es != nil {
			fw.Executors[ex] = es
		}
	}
	return fw, nil
}

func (r *reader) executor(workDir, agentID, fwID, id string) (*ExecutorState, error) {
	dir := paths.MetaExecutorDir(workDir, agentID, fwID, id)
	info := &mesospb.ExecutorInfo{}
	if err := ReadMessage(filepath.Join(dir, paths.ExecutorInfoFile), info); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, r.fail(err)
	}
	es := &ExecutorState{ID: id, Info: info, Runs: map[string]*RunState{},
		GeneratedForCommandTask: Exists(filepath.Join(dir, paths.CommandExecutorMarker))}
	if target, err := os.Readlink(filepath.Join(dir, "runs", paths.Latest)); err == nil {
		es.Latest = filepath.Base(target)
	}
	ids, err := list(filepath.Join(dir, "runs"))
	if err != nil {
		return nil, r.fail(err)
	}
	for _, cid := range ids {
		run, err := r.run(workDir, agentID, fwID, id, cid)
		if err != nil {
			return nil, err
		}
		es.Runs[cid] = run
	}
	return es, nil
}

func (r *reader) run(workDir, agentID, fwID, exID, cid string) (*RunState, error) {
	dir := paths.MetaRunDir(workDir, agentID, fwID, exID, cid)
	run := &RunState{ContainerID: cid, Tasks: map[string]*TaskState{},
		HTTP:      Exists(filepath.Join(dir, paths.HTTPMarkerFile)),
		Completed: Exists(filepath.Join(dir, paths.ExecutorSentinelFile)),
	}
	if s, err := ReadText(paths.ForkedPIDPath(workDir, agentID, fwID, exID, cid)); err == nil {
		pid, perr := strconv.Atoi(s)
		if perr != nil || pid <= 0 {
			if err := r.fail(fmt.Errorf("%w: %s: pid %q", ErrCorrupt, dir, s)); err != nil {
				return nil, err
			}
		}
		run.ForkedPID = pid
	} else if !errors.Is(err, fs.ErrNotExist) {
		if err := r.fail(err); err != nil {
			return nil, err
		}
	}
	ids, err := list(filepath.Join(dir, "tasks"))
	if err != nil {
		return nil, r.fail(err)
	}
	for _, tid := range ids {
		ts, err := r.task(filepath.Join(dir, "tasks", tid), tid)
		if err != nil {
			return nil, err
		}
		if ts != nil {
			run.Tasks[tid] = ts
		}
	}
	return run, nil
}

func (r *reader) task(dir, id string) (*TaskState, error) {
	info := &mesospb.Task{}
	if err := ReadMessage(filepath.Join(dir, paths.TaskInfoFile), info); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, r.fail(err)
	}
	ts := &TaskState{ID: id, Info: info, Acks: map[string]bool{}}
	path := filepath.Join(dir, paths.TaskUpdatesFile)
	recs, valid, err := ReadRecords(path, func() *checkpointpb.StatusUpdateRecord { return &checkpointpb.StatusUpdateRecord{} })
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ts, nil
	case err != nil:
		return nil, r.fail(err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() != valid {
		if err := Truncate(path, valid); err != nil {
			return nil, r.fail(err)
		}
	}
	for _, rec := range recs {
		switch rec.GetType() {
		case checkpointpb.StatusUpdateRecord_UPDATE:
			ts.Updates = append(ts.Updates, rec.GetUpdate())
		case checkpointpb.StatusUpdateRecord_ACK:
			ts.Acks[string(rec.GetUuid())] = true
		}
	}
	return ts, nil
}

// list returns the names in dir, without "latest" and temporary files; a
// missing dir is empty.
func list(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.Name() == paths.Latest || e.Name()[0] == '.' || !e.IsDir() {
			continue
		}
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out, nil
}
