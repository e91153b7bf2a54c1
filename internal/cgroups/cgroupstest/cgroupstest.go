//go:build linux

// Package cgroupstest helps tests that need cgroups: the real hierarchy of
// the machine (root, skipped without it and failed in CI), and a fake cgroup
// v2 tree of plain files for testing what is written where on hosts whose
// v2 hierarchy has no controllers.
package cgroupstest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meso-project/meso/internal/cgroups"
	"github.com/meso-project/meso/internal/testutil"
)

// Real opens the machine's cgroup hierarchy and checks that it has the
// controllers; the test is skipped (failed in CI) without root or them.
func Real(t testing.TB, controllers ...string) *cgroups.Hierarchy {
	t.Helper()
	testutil.Need(t, os.Geteuid() == 0, "the test needs root to create cgroups")
	h, err := cgroups.Open(cgroups.Options{})
	testutil.Need(t, err == nil, "the test needs a cgroup hierarchy under /sys/fs/cgroup")
	for _, c := range controllers {
		testutil.Need(t, h.Has(c), "the test needs the "+c+" cgroup controller (have "+strings.Join(h.Controllers(), ",")+")")
	}
	return h
}

// Unified opens the machine's cgroup v2 mount (on a hybrid host, its
// unified half) for process tracking; skipped (failed in CI) without it.
func Unified(t testing.TB) *cgroups.Hierarchy {
	t.Helper()
	testutil.Need(t, os.Geteuid() == 0, "the test needs root to create cgroups")
	h, err := cgroups.Open(cgroups.Options{})
	testutil.Need(t, err == nil && h.Unified() != "", "the test needs a cgroup v2 mount")
	u, err := cgroups.Open(cgroups.Options{Root: h.Unified()})
	if err != nil {
		t.Fatalf("opening %s: %v", h.Unified(), err)
	}
	return u
}

// Root returns a fresh cgroups root name ("meso-test-<random>") and removes
// what is left under it in every hierarchy when the test ends.
func Root(t testing.TB, h *cgroups.Hierarchy) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "meso-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		dirs := []string{filepath.Join(h.Root(), name)}
		for _, c := range h.Controllers() {
			dirs = append(dirs, filepath.Join(h.Root(), c, name))
		}
		for _, d := range dirs {
			removeTree(d)
		}
	})
	return name
}

// removeTree removes cgroup directories bottom-up (cgroupfs refuses
// recursive removal); errors are ignored.
func removeTree(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			removeTree(filepath.Join(dir, e.Name()))
		}
	}
	_ = os.Remove(dir)
}

// FakeV2 makes a fake cgroup v2 tree of plain files offering the given v2
// controllers ("cpu memory pids"), with the intermediate cgroups parents
// (e.g. "mesos") already made the way the kernel makes them. Open it with
// cgroups.Options{Root: dir, Version: cgroups.V2}.
func FakeV2(t testing.TB, controllers string, parents ...string) string {
	t.Helper()
	root := t.TempDir()
	write := func(dir, name, v string) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(root, "cgroup.controllers", controllers+"\n")
	write(root, "cgroup.subtree_control", "")
	write(root, "cgroup.procs", "")
	for _, p := range parents {
		d := filepath.Join(root, p)
		write(d, "cgroup.controllers", "")
		write(d, "cgroup.subtree_control", "")
		write(d, "cgroup.procs", "")
	}
	return root
}
