package gc

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meso-project/meso/internal/testutil"
)

func TestParseMountInfo(t *testing.T) {
	const info = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
43 22 254:0 /tmp/a /var/lib/meso/slaves/s/runs/c/my\040volume rw,relatime - ext4 /dev/vda rw
44 22 0:5 / /odd\134name\011tab rw - tmpfs tmpfs rw
`
	got, err := parseMountInfo(strings.NewReader(info))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/", "/var/lib/meso/slaves/s/runs/c/my volume", "/odd\\name\ttab"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseMountInfo (-want +got):\n%s", diff)
	}
	if _, err := parseMountInfo(strings.NewReader("1 2 3\n")); err == nil {
		t.Error("malformed line accepted")
	}
	if got := unescapeOctal(`a\04`); got != `a\04` {
		t.Errorf("unescapeOctal of a short escape = %q", got)
	}
}

// TestRealDanglingMount bind-mounts a "persistent volume" into a sandbox and
// checks that collecting the sandbox unmounts it and leaves its data alone
// (Mesos's ROOT_DanglingMount).
func TestRealDanglingMount(t *testing.T) {
	testutil.Need(t, os.Geteuid() == 0, "bind mounts need root")
	workDir := t.TempDir()
	volume := filepath.Join(t.TempDir(), "volume")
	sandbox := filepath.Join(workDir, "slaves", "s", "frameworks", "f", "executors", "e", "runs", "c")
	target := filepath.Join(sandbox, "data")
	for _, d := range []string{volume, target} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(volume, "keep"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(volume, target, "", syscall.MS_BIND, ""); err != nil {
		testutil.Need(t, false, "bind mount: "+err.Error())
	}
	t.Cleanup(func() { syscall.Unmount(target, syscall.MNT_DETACH) })

	g, err := New(Config{WorkDir: workDir, DiskWatchInterval: -1, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	select {
	case err := <-g.Schedule(0, sandbox):
		if err != nil {
			t.Fatalf("removal: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("removal did not finish")
	}
	if _, err := os.Lstat(sandbox); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sandbox still there: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(volume, "keep"))
	if err != nil || string(data) != "precious" {
		t.Errorf("volume data = %q, %v; want it untouched", data, err)
	}
}
