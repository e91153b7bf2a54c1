package gc

import (
	"errors"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"
)

// fakeMounts is a mount table for the hooks: unmounting removes the entry.
type fakeMounts struct {
	mu        sync.Mutex
	targets   []string
	readErr   error
	fail      map[string]error
	unmounted []string
}

func (m *fakeMounts) hooks() hooks { return hooks{mounts: m.mounts, unmount: m.unmount} }

func (m *fakeMounts) mounts() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.targets), m.readErr
}

func (m *fakeMounts) unmount(target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail[target]; err != nil {
		return err
	}
	m.unmounted = append(m.unmounted, target)
	m.targets = slices.DeleteFunc(m.targets, func(s string) bool { return s == target })
	return nil
}

func TestDanglingMountsAreUnmountedFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const run = "/agent/slaves/s/frameworks/f/executors/e/runs/c"
		m := &fakeMounts{
			targets: []string{
				"/",
				"/agent",                       // the work dir itself: not inside a path
				run + "/volume",                // a persistent volume in the sandbox
				run + "/volume/nested",         // mounted later: unmounted first
				run + "x/volume",               // a sibling run sharing a name prefix
				"/elsewhere" + run + "/volume", // outside the work dir
				"/agent/slaves/s/frameworks/g/executors/e/runs/c/busy",
			},
			// An unmount failing with ENOENT is a failure, not a missing path.
			fail: map[string]error{"/agent/slaves/s/frameworks/g/executors/e/runs/c/busy": syscall.ENOENT},
		}
		rec := &recorder{}
		g := newTestGC(t, Config{WorkDir: "/agent", DiskWatchInterval: -1, Remove: rec.remove}, m.hooks())
		ok := g.Schedule(0, run)
		busy := g.Schedule(0, "/agent/slaves/s/frameworks/g")
		synctest.Wait()

		wantResult(t, "run", ok, nil)
		wantResult(t, "framework with a busy mount", busy, ErrRemove)
		m.mu.Lock()
		gotUnmounted := slices.Clone(m.unmounted)
		m.mu.Unlock()
		if diff := cmp.Diff([]string{run + "/volume/nested", run + "/volume"}, gotUnmounted); diff != "" {
			t.Errorf("unmounted (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{run}, rec.removed); diff != "" {
			t.Errorf("removed (-want +got):\n%s", diff)
		}
		wantMetrics(t, g, 1, 1, 0)
	})
}

func TestUnreadableMountTableFailsTheBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &fakeMounts{readErr: errors.New("no /proc")}
		rec := &recorder{}
		g := newTestGC(t, Config{WorkDir: "/agent", DiskWatchInterval: -1, Remove: rec.remove}, m.hooks())
		a := g.Schedule(0, "/agent/a")
		b := g.Schedule(0, "/agent/b")
		synctest.Wait()
		wantResult(t, "a", a, ErrRemove)
		wantResult(t, "b", b, ErrRemove)
		if len(rec.removed) != 0 {
			t.Errorf("removed %v without a mount table", rec.removed)
		}
		wantMetrics(t, g, 0, 2, 0)

		// Without a work dir (tests, tools) mounts are not looked at.
		g2 := newTestGC(t, Config{Remove: rec.remove}, m.hooks())
		wantResult(t, "no work dir", waitResult(g2.Schedule(0, "/x")), nil)
	})
}

// waitResult waits for the bubble to settle and returns ch.
func waitResult(ch <-chan error) <-chan error {
	synctest.Wait()
	return ch
}

func TestDirPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b":  "/a/b/",
		"/a/b/": "/a/b/",
		"/":     "/",
		"/a//b": "/a/b/",
	} {
		if got := dirPrefix(in); got != want {
			t.Errorf("dirPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
