package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
)

// TestGarbageCollection: once a checkpointing framework's executor ended
// and its updates were acknowledged, its sandbox and checkpoints are
// removed --gc_delay later, and the gc/* metrics count the removals.
func TestGarbageCollection(t *testing.T) {
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", func(c *Config) { c.GCDelay = 300 * time.Millisecond })
	m.send(&agentapipb.Event{Type: agentapipb.Event_RUN_TASK.Enum(), RunTask: &agentapipb.Event_RunTask{
		FrameworkInfo: frameworkInfo(true), Task: commandTask("t1", "exit")}})
	m.ack("t1", m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING))
	run, err := filepath.EvalSymlinks(ta.sandbox("t1"))
	if err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(ta.workDir, "meta", "slaves", testAgentID, "frameworks", testFrameworkID)
	if _, err := os.Stat(filepath.Join(meta, "framework.info")); err != nil {
		t.Fatalf("no framework checkpoint: %v", err)
	}
	m.ack("t1", m.waitUpdate(t, "t1", mesospb.TaskState_TASK_FINISHED))
	eventually(t, 10*time.Second, func() bool {
		_, errRun := os.Stat(run)
		_, errMeta := os.Stat(meta)
		return os.IsNotExist(errRun) && os.IsNotExist(errMeta)
	}, "the sandbox %s or the checkpoints %s were not removed", run, meta)
	// The paths are gone before the collector counts the batch that
	// removed them (gc.GC.finish runs after the removal goroutine).
	var snap map[string]any
	eventually(t, 10*time.Second, func() bool {
		snap = ta.getJSON(t, "/metrics/snapshot")
		return snap["gc/path_removals_succeeded"].(float64) >= 2
	}, "gc/path_removals_succeeded stayed below 2")
	if snap["gc/path_removals_failed"].(float64) != 0 {
		t.Errorf("gc metrics: failed %v", snap["gc/path_removals_failed"])
	}
}
