package containerizer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meso-project/meso/internal/testutil"
)

// recordingIsolator checks, while the container is held, that its command
// has not run yet, and remembers the pid it was given.
type recordingIsolator struct {
	t       *testing.T
	marker  string // file the command creates
	pid     int
	cmdline string
	fail    bool
}

func (r *recordingIsolator) Name() string                                   { return "test/recording" }
func (r *recordingIsolator) Prepare(context.Context, ContainerConfig) error { return nil }
func (r *recordingIsolator) Cleanup(context.Context, string) error          { return nil }

func (r *recordingIsolator) Isolate(_ context.Context, _ string, pid int) error {
	r.pid = pid
	b, _ := os.ReadFile(filepath.Join("/proc", itoa(pid), "cmdline"))
	r.cmdline = strings.ReplaceAll(string(b), "\x00", " ")
	// Give a command that was not held every chance to run.
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(r.marker); err == nil {
		r.t.Errorf("the command ran before the isolator released it")
	}
	if r.fail {
		return errors.New("isolation refused")
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestLaunchHelperHoldsUntilIsolated(t *testing.T) {
	bin := testutil.MesoBinary(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	iso := &recordingIsolator{t: t, marker: marker}
	p := NewPosix(PosixOptions{Isolators: []Isolator{iso}, LaunchHelper: []string{bin, "launch"}})
	err := p.Launch(t.Context(), ContainerConfig{
		ID:      "held",
		Command: []string{"/bin/sh", "-c", `echo $$ > ` + marker + `; exec sleep 30`},
		Env:     []string{"PATH=/usr/bin:/bin"},
		Dir:     dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Destroy(context.Background(), "held", 0) })
	if !strings.Contains(iso.cmdline, "launch -- /bin/sh") {
		t.Errorf("isolator saw %q, want the launch helper holding /bin/sh", iso.cmdline)
	}
	// The command runs after release, with the pid the isolator was given.
	testutil.Eventually(t, 5*time.Second, func() bool {
		b, err := os.ReadFile(marker)
		return err == nil && strings.TrimSpace(string(b)) == itoa(iso.pid)
	}, "command did not run as pid %d", iso.pid)
}

func TestLaunchHelperAbortsWhenIsolationFails(t *testing.T) {
	bin := testutil.MesoBinary(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	iso := &recordingIsolator{t: t, marker: marker, fail: true}
	p := NewPosix(PosixOptions{Isolators: []Isolator{iso}, LaunchHelper: []string{bin, "launch"}})
	err := p.Launch(t.Context(), ContainerConfig{
		ID:      "refused",
		Command: []string{"/bin/sh", "-c", `touch ` + marker},
		Env:     []string{"PATH=/usr/bin:/bin"},
		Dir:     dir,
	})
	if !errors.Is(err, ErrLaunch) {
		t.Fatalf("Launch: %v, want ErrLaunch", err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the command ran although isolation failed")
	}
}
