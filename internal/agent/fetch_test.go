package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// TestFetchInTheAgentWithoutAHelper: a containerizer without a launch
// helper cannot fetch inside the container, so the agent fetches (through
// its cache) before the launch; a second task gets the cached file; the
// containerizer/fetcher/* metrics count both and the cache's bytes; a URI
// that cannot be fetched fails the task with Mesos's message.
func TestFetchInTheAgentWithoutAHelper(t *testing.T) {
	m := newFakeMaster(t, 60)
	cacheDir := filepath.Join(t.TempDir(), "fetch")
	ta := startAgent(t, m, "normal", func(cfg *Config) { cfg.FetcherCacheDir = cacheDir })
	src := filepath.Join(t.TempDir(), "payload.txt")
	if err := os.WriteFile(src, []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"f1", "f2"} {
		task := commandTask(id, "exit")
		task.Command.Uris = []*mesospb.CommandInfo_URI{{Value: proto.String(src), Cache: proto.Bool(true)}}
		runTask(m, task)
		m.waitUpdate(t, id, mesospb.TaskState_TASK_RUNNING)
		if got := readFile(filepath.Join(ta.sandbox(id), "payload.txt")); got != "payload" {
			t.Errorf("%s: sandbox payload.txt = %q", id, got)
		}
	}
	if stderr := readFile(filepath.Join(ta.sandbox("f2"), "stderr")); !strings.Contains(stderr, "Fetching URI '"+src+"' from cache") {
		t.Errorf("the second fetch did not come from the cache:\n%s", stderr)
	}
	if cached, _ := filepath.Glob(filepath.Join(cacheDir, "c*-payload.txt")); len(cached) != 1 {
		t.Errorf("cache files: %v", cached)
	}
	snap := ta.getJSON(t, "/metrics/snapshot")
	if snap["containerizer/fetcher/task_fetches_succeeded"] != 2.0 || snap["containerizer/fetcher/task_fetches_failed"] != 0.0 ||
		snap["containerizer/fetcher/cache_size_used_bytes"] != 7.0 ||
		snap["containerizer/fetcher/cache_size_total_bytes"] != float64(2<<30) {
		t.Errorf("fetcher metrics: succeeded %v failed %v used %v total %v", snap["containerizer/fetcher/task_fetches_succeeded"],
			snap["containerizer/fetcher/task_fetches_failed"], snap["containerizer/fetcher/cache_size_used_bytes"],
			snap["containerizer/fetcher/cache_size_total_bytes"])
	}

	missing := filepath.Join(t.TempDir(), "missing.txt")
	task := commandTask("f3", "exit")
	task.Command.Uris = []*mesospb.CommandInfo_URI{{Value: proto.String(missing)}}
	runTask(m, task)
	st := m.waitUpdate(t, "f3", mesospb.TaskState_TASK_FAILED)
	if st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED ||
		!strings.HasPrefix(st.GetMessage(), "Failed to launch container: Failed to fetch all URIs for container '") ||
		!strings.Contains(st.GetMessage(), "Failed to fetch '"+missing+"'") {
		t.Errorf("f3: %v %q", st.GetReason(), st.GetMessage())
	}
	if got := ta.getJSON(t, "/metrics/snapshot")["containerizer/fetcher/task_fetches_failed"]; got != 1.0 {
		t.Errorf("task_fetches_failed = %v, want 1", got)
	}
}
