// Package paths knows the layout of an agent's work directory (Mesos's
// src/slave/paths.cpp), so that sandboxes and, later, checkpoints land where
// Mesos tools and operators expect them:
//
//	<work_dir>/slaves/latest -> <agent_id>
//	<work_dir>/slaves/<agent_id>/frameworks/<fw>/executors/<ex>/runs/<container_id>/   the sandbox
//	<work_dir>/slaves/<agent_id>/frameworks/<fw>/executors/<ex>/runs/latest -> <container_id>
//	<work_dir>/meta/slaves/<agent_id>/...                                              checkpoints
package paths

import (
	"fmt"
	"os"
	"path/filepath"
)

// Latest is the name of the "latest" symlinks.
const Latest = "latest"

// AgentDir is <work_dir>/slaves/<agent_id>.
func AgentDir(workDir, agentID string) string {
	return filepath.Join(workDir, "slaves", agentID)
}

// FrameworkDir is <agent dir>/frameworks/<framework_id>.
func FrameworkDir(workDir, agentID, frameworkID string) string {
	return filepath.Join(AgentDir(workDir, agentID), "frameworks", frameworkID)
}

// ExecutorDir is <framework dir>/executors/<executor_id>.
func ExecutorDir(workDir, agentID, frameworkID, executorID string) string {
	return filepath.Join(FrameworkDir(workDir, agentID, frameworkID), "executors", executorID)
}

// ExecutorRunDir is the sandbox: <executor dir>/runs/<container_id>.
func ExecutorRunDir(workDir, agentID, frameworkID, executorID, containerID string) string {
	return filepath.Join(ExecutorDir(workDir, agentID, frameworkID, executorID), "runs", containerID)
}

// ExecutorLatestRunDir is <executor dir>/runs/latest.
func ExecutorLatestRunDir(workDir, agentID, frameworkID, executorID string) string {
	return filepath.Join(ExecutorDir(workDir, agentID, frameworkID, executorID), "runs", Latest)
}

// MetaAgentDir is <work_dir>/meta/slaves/<agent_id>, where checkpoints go.
func MetaAgentDir(workDir, agentID string) string {
	return filepath.Join(workDir, "meta", "slaves", agentID)
}

// CreateAgentDir creates <work_dir>/slaves/<agent_id> and points
// <work_dir>/slaves/latest at it.
func CreateAgentDir(workDir, agentID string) (string, error) {
	dir := AgentDir(workDir, agentID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("paths: creating agent directory: %w", err)
	}
	if err := Symlink(agentID, filepath.Join(workDir, "slaves", Latest)); err != nil {
		return "", err
	}
	return dir, nil
}

// CreateExecutorRunDir creates the sandbox of one executor run and points
// runs/latest at it.
func CreateExecutorRunDir(workDir, agentID, frameworkID, executorID, containerID string) (string, error) {
	dir := ExecutorRunDir(workDir, agentID, frameworkID, executorID, containerID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("paths: creating sandbox: %w", err)
	}
	if err := Symlink(containerID, ExecutorLatestRunDir(workDir, agentID, frameworkID, executorID)); err != nil {
		return "", err
	}
	return dir, nil
}

// Symlink makes link point at target, replacing an existing link atomically
// (create under a temporary name, then rename).
func Symlink(target, link string) error {
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("paths: symlink %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("paths: symlink %s: %w", link, err)
	}
	return nil
}

// The checkpoint files under <work_dir>/meta (Mesos's src/slave/paths.cpp).
const (
	BootIDFile        = "boot_id"
	AgentInfoFile     = "slave.info"
	FrameworkPIDFile  = "framework.pid"
	FrameworkInfoFile = "framework.info"
	ExecutorInfoFile  = "executor.info"
	// CommandExecutorMarker marks an executor the agent generated for a
	// command task.
	CommandExecutorMarker = "executor_generated_for_command_task"
	ExecutorSentinelFile  = "executor.sentinel"
	HTTPMarkerFile        = "http.marker"
	ForkedPIDFile         = "forked.pid"
	LibprocessPIDFile     = "libprocess.pid"
	TaskInfoFile          = "task.info"
	TaskUpdatesFile       = "task.updates"
	ResourceStateFile     = "resources_and_operations.state"
)

// MetaDir is <work_dir>/meta.
func MetaDir(workDir string) string { return filepath.Join(workDir, "meta") }

// BootIDPath is <work_dir>/meta/boot_id.
func BootIDPath(workDir string) string { return filepath.Join(MetaDir(workDir), BootIDFile) }

// LatestMetaAgentPath is <work_dir>/meta/slaves/latest, the link to the
// checkpoints of the agent that ran last.
func LatestMetaAgentPath(workDir string) string {
	return filepath.Join(MetaDir(workDir), "slaves", Latest)
}

// AgentInfoPath is <meta agent dir>/slave.info.
func AgentInfoPath(workDir, agentID string) string {
	return filepath.Join(MetaAgentDir(workDir, agentID), AgentInfoFile)
}

// MetaFrameworkDir is <meta agent dir>/frameworks/<framework_id>.
func MetaFrameworkDir(workDir, agentID, frameworkID string) string {
	return filepath.Join(MetaAgentDir(workDir, agentID), "frameworks", frameworkID)
}

// MetaExecutorDir is <meta framework dir>/executors/<executor_id>.
func MetaExecutorDir(workDir, agentID, frameworkID, executorID string) string {
	return filepath.Join(MetaFrameworkDir(workDir, agentID, frameworkID), "executors", executorID)
}

// MetaRunDir is <meta executor dir>/runs/<container_id>.
func MetaRunDir(workDir, agentID, frameworkID, executorID, containerID string) string {
	return filepath.Join(MetaExecutorDir(workDir, agentID, frameworkID, executorID), "runs", containerID)
}

// ForkedPIDPath is <meta run dir>/pids/forked.pid: the pid of the
// executor's first process.
func ForkedPIDPath(workDir, agentID, frameworkID, executorID, containerID string) string {
	return filepath.Join(MetaRunDir(workDir, agentID, frameworkID, executorID, containerID), "pids", ForkedPIDFile)
}

// MetaTaskDir is <meta run dir>/tasks/<task_id>.
func MetaTaskDir(workDir, agentID, frameworkID, executorID, containerID, taskID string) string {
	return filepath.Join(MetaRunDir(workDir, agentID, frameworkID, executorID, containerID), "tasks", taskID)
}

// ResourceStatePath is <work_dir>/meta/resources/resources_and_operations.state,
// the agent's checkpointed resources.
func ResourceStatePath(workDir string) string {
	return filepath.Join(MetaDir(workDir), "resources", ResourceStateFile)
}
