// Package testutil holds small fixtures shared by meso's tests: building the
// meso binary once per test process, polling for a condition, and the rule
// that tests needing a real external part (ZooKeeper, root and cgroups,
// Docker) skip when it is missing but fail when CI=true.
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

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// MesoBinary builds ./cmd/meso once per test process and returns its path.
// Integration tests use it to run the real command executor and CLI.
func MesoBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "meso-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "meso")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/meso")
		cmd.Dir = ModuleRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building meso: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
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
