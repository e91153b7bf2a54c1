package paths

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLayout(t *testing.T) {
	work := t.TempDir()
	if _, err := CreateAgentDir(work, "A-S0"); err != nil {
		t.Fatal(err)
	}
	for _, cid := range []string{"c1", "c2"} {
		dir, err := CreateExecutorRunDir(work, "A-S0", "fw", "ex", cid)
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(work, "slaves", "A-S0", "frameworks", "fw", "executors", "ex", "runs", cid)
		if dir != want {
			t.Errorf("sandbox = %s, want %s", dir, want)
		}
		// runs/latest follows the newest run.
		if target, err := os.Readlink(ExecutorLatestRunDir(work, "A-S0", "fw", "ex")); err != nil || target != cid {
			t.Errorf("runs/latest -> %q, %v; want %s", target, err, cid)
		}
	}
	if target, err := os.Readlink(filepath.Join(work, "slaves", "latest")); err != nil || target != "A-S0" {
		t.Errorf("slaves/latest -> %q, %v", target, err)
	}
	if got := MetaAgentDir(work, "A-S0"); got != filepath.Join(work, "meta", "slaves", "A-S0") {
		t.Errorf("MetaAgentDir = %s", got)
	}
}
