package taskstate

import (
	"testing"

	"github.com/meso-project/meso/api/v1/mesospb"
)

func TestIsTerminal(t *testing.T) {
	terminal := map[mesospb.TaskState]bool{
		mesospb.TaskState_TASK_FINISHED: true, mesospb.TaskState_TASK_FAILED: true,
		mesospb.TaskState_TASK_KILLED: true, mesospb.TaskState_TASK_ERROR: true,
		mesospb.TaskState_TASK_LOST: true, mesospb.TaskState_TASK_DROPPED: true,
		mesospb.TaskState_TASK_GONE: true, mesospb.TaskState_TASK_GONE_BY_OPERATOR: true,
	}
	// Every state the enum declares, so a new one is not silently misfiled.
	for v := range mesospb.TaskState_name {
		s := mesospb.TaskState(v)
		if got := IsTerminal(s); got != terminal[s] {
			t.Errorf("IsTerminal(%v) = %v, want %v", s, got, terminal[s])
		}
	}
}
