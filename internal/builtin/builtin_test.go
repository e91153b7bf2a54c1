//go:build linux

package builtin

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meso-project/meso/internal/cgroups"
	"github.com/meso-project/meso/internal/cgroups/cgroupstest"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/resources"
)

func TestParseIsolation(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", []string{"posix/cpu", "posix/mem", "filesystem/posix", "network/cni", "environment_secret"}, ""},
		{"posix/cpu,posix/mem", []string{"posix/cpu", "posix/mem", "filesystem/posix", "network/cni", "environment_secret"}, ""},
		{"cgroups/cpu,cgroups/mem", []string{"cgroups/cpu", "cgroups/mem", "filesystem/posix", "network/cni", "environment_secret"}, ""},
		// Mesos's deprecated names.
		{"process", []string{"posix/cpu", "posix/mem", "filesystem/posix", "network/cni", "environment_secret"}, ""},
		{"cgroups,posix/disk", []string{"cgroups/cpu", "cgroups/mem", "disk/du", "filesystem/posix", "network/cni", "environment_secret"}, ""},
		{"filesystem/linux,namespaces/pid", []string{"filesystem/linux", "namespaces/pid", "network/cni", "environment_secret"}, ""},
		// Named as users name them for Mesos, where they are always on.
		{"network/cni,environment_secret,posix/cpu", []string{"network/cni", "environment_secret", "posix/cpu", "filesystem/posix"}, ""},
		{"posix/cpu,posix/cpu", nil, "Duplicate entries found in --isolation flag '[ posix/cpu, posix/cpu ]'"},
		{"filesystem/linux,filesystem/posix", nil, "Using multiple filesystem isolators simultaneously is disallowed"},
		{"bogus/thing", nil, "Unknown or unsupported isolator 'bogus/thing' (meso's isolators: cgroups/all, cgroups/cpu"},
		{"cgroups/net_cls", nil, "Unknown or unsupported isolator 'cgroups/net_cls'"},
	}
	for _, tc := range tests {
		got, err := ParseIsolation(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseIsolation(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseIsolation(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseIsolation(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestUnknownIsolatorNamesTheKnownOnes(t *testing.T) {
	_, err := NewContainerizer(t.Context(), Containerizer{Isolation: "bogus/thing", Launcher: "posix"})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range append([]string{"Failed to create a containerizer: Unknown or unsupported isolator 'bogus/thing'"}, KnownIsolators()...) {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestLauncherChoice(t *testing.T) {
	if _, err := NewContainerizer(t.Context(), Containerizer{Launcher: "bogus"}); err == nil ||
		!strings.Contains(err.Error(), "Unknown or unsupported launcher: bogus") {
		t.Errorf("--launcher=bogus: %v", err)
	}
	m, err := NewContainerizer(t.Context(), Containerizer{Launcher: "posix"})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	// Mesos's requirements of namespaces/pid.
	_, err = NewContainerizer(t.Context(), Containerizer{Launcher: "posix", Isolation: "filesystem/linux,namespaces/pid"})
	if err == nil || !strings.Contains(err.Error(), "launcher") {
		t.Errorf("namespaces/pid with the posix launcher: %v", err)
	}
	if os.Geteuid() == 0 {
		h := cgroupstest.Real(t, "freezer")
		_, err = NewContainerizer(t.Context(), Containerizer{Launcher: "linux", Isolation: "namespaces/pid",
			CgroupsRoot: cgroupstest.Root(t, h)})
		if err == nil || !strings.Contains(err.Error(), "'filesystem/linux' must be used to enable pid namespace") {
			t.Errorf("namespaces/pid without filesystem/linux: %v", err)
		}
	}
}

func TestDefaultLauncher(t *testing.T) {
	if got := DefaultLauncher(nil); got != "posix" {
		t.Errorf("without cgroups: %s", got)
	}
	dir := cgroupstest.FakeV2(t, "cpu memory")
	h, err := cgroups.Open(cgroups.Options{Root: dir, Version: cgroups.V2})
	if err != nil {
		t.Fatal(err)
	}
	want := "posix"
	if os.Geteuid() == 0 {
		want = "linux"
	}
	if got := DefaultLauncher(h); got != want {
		t.Errorf("DefaultLauncher = %s, want %s (root: %v)", got, want, os.Geteuid() == 0)
	}
}

// TestCgroupsIsolatorsOnAFakeV2Tree builds the cgroups isolators against a
// fake v2 tree: a host without the memory controller refuses cgroups/mem,
// naming what it has.
func TestCgroupsIsolatorsOnAFakeV2Tree(t *testing.T) {
	dir := cgroupstest.FakeV2(t, "cpu pids", "mesos")
	_, err := NewContainerizer(t.Context(), Containerizer{Launcher: "posix", Isolation: "cgroups/cpu,cgroups/mem",
		CgroupsHierarchy: dir, CgroupsVersion: cgroups.V2})
	if err == nil || !strings.Contains(err.Error(), "Failed to create isolator 'cgroups/cpu'") ||
		!strings.Contains(err.Error(), "'memory'") {
		t.Errorf("cgroups/mem without the memory controller: %v", err)
	}
	m, err := NewContainerizer(t.Context(), Containerizer{Launcher: "posix", Isolation: "cgroups/cpu,cgroups/pids",
		CgroupsHierarchy: dir, CgroupsVersion: cgroups.V2})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}

// TestV2ContainerOnAFakeTree runs a container through the whole Mesos
// containerizer with the cgroups isolators on a fake cgroups v2 tree: what
// an agent on a cgroups v2 host writes, and where its process goes.
func TestV2ContainerOnAFakeTree(t *testing.T) {
	dir := cgroupstest.FakeV2(t, "cpu memory pids", "mesos")
	m, err := NewContainerizer(t.Context(), Containerizer{Launcher: "posix", Isolation: "cgroups/cpu,cgroups/mem",
		CgroupsHierarchy: dir, CgroupsVersion: cgroups.V2, CgroupsEnableCFS: true,
		Helper: []string{testutil.MesoBinary(t), "launch"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rs, err := resources.Parse("cpus:0.5;mem:64", "*")
	if err != nil {
		t.Fatal(err)
	}
	sandbox := t.TempDir()
	// The fake tree has no kernel behind it: seed the files the kernel
	// would have made in the container's cgroup.
	cg := filepath.Join(dir, "mesos", "c1")
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"memory.max": "max\n", "memory.low": "0\n", "memory.events": "oom 0\noom_kill 0\n"} {
		if err := os.WriteFile(filepath.Join(cg, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err = m.Launch(t.Context(), containerizer.ContainerConfig{ID: "c1", Command: []string{"sleep", "300"},
		Env: []string{"PATH=/usr/bin:/bin"}, Dir: sandbox, Resources: rs})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	defer func() {
		// The fake cgroup.procs never empties by itself: empty it, as the
		// kernel would once the launcher killed the process.
		_ = os.WriteFile(filepath.Join(cg, "leaf", "cgroup.procs"), nil, 0o644)
		_ = m.Destroy(context.Background(), "c1", 0)
	}()
	read := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(cg, f))
		return strings.TrimSpace(string(b))
	}
	got := map[string]string{"cpu.weight": read("cpu.weight"), "cpu.max": read("cpu.max"),
		"memory.low": read("memory.low"), "memory.max": read("memory.max")}
	want := map[string]string{"cpu.weight": "50", "cpu.max": "50000 100000",
		"memory.low": strconv.Itoa(64 << 20), "memory.max": strconv.Itoa(64 << 20)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cgroup files (-want +got):\n%s", diff)
	}
	st, err := m.Status(t.Context(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if pid := read("leaf/cgroup.procs"); pid != strconv.Itoa(int(st.ContainerStatus.GetExecutorPid())) {
		t.Errorf("leaf cgroup.procs = %q, want the container's pid %d", pid, st.ContainerStatus.GetExecutorPid())
	}
}
