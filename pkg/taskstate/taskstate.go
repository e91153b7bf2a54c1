// Package taskstate answers questions about Mesos task states that
// schedulers, executors, the master and the agent all ask.
package taskstate

import "github.com/meso-project/meso/api/v1/mesospb"

// IsTerminal reports whether a task in state s has ended for good, as
// Mesos's protobuf::isTerminalState decides. TASK_LOST counts as terminal
// (a lost task may still come back after its agent re-registers, but nothing
// should wait for it); TASK_UNREACHABLE and TASK_UNKNOWN do not.
func IsTerminal(s mesospb.TaskState) bool {
	switch s {
	case mesospb.TaskState_TASK_FINISHED, mesospb.TaskState_TASK_FAILED, mesospb.TaskState_TASK_KILLED,
		mesospb.TaskState_TASK_ERROR, mesospb.TaskState_TASK_LOST, mesospb.TaskState_TASK_DROPPED,
		mesospb.TaskState_TASK_GONE, mesospb.TaskState_TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}
