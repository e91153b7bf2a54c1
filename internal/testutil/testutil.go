// Package testutil holds small fixtures shared by meso's tests: building the
// meso binary (or an example program) once per test process, polling for a
// condition, and the rule that tests needing a real external part
// (ZooKeeper, root and cgroups, Docker) skip when it is missing but fail
// when CI=true.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI (CI=true), where every real part
// must be present.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need skips the test with reason when ok is false, or fails it in CI.
func Need(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("CI=true but %s", reason)
	}
	t.Skipf("skipping: %s (set up the machine with 'make deps'; CI fails here instead)", reason)
}

// built is one binary built by Binary: once per package per test process.
type built struct {
	once sync.Once
	path string
	err  error
}

var (
	buildMu sync.Mutex
	builds  = map[string]*built{}
)

// MesoBinary builds ./cmd/meso once per test process and returns its path.
// Integration tests use it to run the real command executor and CLI.
func MesoBinary(t testing.TB) string {
	t.Helper()
	return Binary(t, "./cmd/meso", "meso")
}

// Binary builds the main package pkg (a path relative to the module root,
// e.g. "./examples/executor") once per test process, statically, and
// returns the path of the binary, named name.
func Binary(t testing.TB, pkg, name string) string {
	t.Helper()
	buildMu.Lock()
	b := builds[pkg]
	if b == nil {
		b = &built{}
		builds[pkg] = b
	}
	buildMu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "meso-test-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = ModuleRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// ModuleRoot returns the repository root (the directory holding go.mod).
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Eventually polls cond every 10ms until it returns true or timeout passes,
// then fails the test with the message.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BrowserDataDir returns a new directory for a browser's profile, removed
// when the test ends. Unlike t.TempDir, the removal is retried for a
// while: a headless Chromium's helper processes may still write to its
// profile for a moment after the browser was stopped. Call it before
// starting the browser, so that the browser is stopped (a later
// t.Cleanup) before the directory is removed.
func BrowserDataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "meso-browser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var err error
		for range 50 {
			if err = os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("removing the browser's profile %s: %v", dir, err)
	})
	return dir
}
