//go:build linux

package cgroups_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meso-project/meso/internal/cgroups"
	"github.com/meso-project/meso/internal/cgroups/cgroupstest"
)

func TestMain(m *testing.M) {
	cgroupstest.RunChild()
	os.Exit(m.Run())
}

func TestV1GroupLifecycle(t *testing.T) {
	h := cgroupstest.Real(t, "cpu", "cpuacct", "memory", "freezer")
	if h.Version() != cgroups.V1 {
		t.Skip("the host's cgroups are v2; TestV2* cover it")
	}
	root := cgroupstest.Root(t, h)
	g := h.Group(root+"/c1", "cpu", "cpuacct", "memory")
	tracker := h.Group(root+"/c1", "freezer")
	for _, grp := range []*cgroups.Group{g, tracker} {
		if err := grp.Create(); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	pid := cgroupstest.StartChild(t, "sleep").Pid()
	for _, grp := range []*cgroups.Group{g, tracker} {
		if err := grp.Add(pid); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	for _, grp := range []*cgroups.Group{g, tracker} {
		procs, err := grp.Procs()
		if err != nil || !slices.Contains(procs, pid) {
			t.Fatalf("Procs = %v, %v; want %d in it", procs, err, pid)
		}
	}

	shares, quota, period := uint64(2048), int64(50000), uint64(100000)
	soft, hard := int64(64<<20), int64(96<<20)
	if err := g.Update(cgroups.Resources{CPUShares: &shares, CPUQuota: &quota, CPUPeriod: &period,
		MemorySoft: &soft, MemoryHard: &hard}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	read := func(ctrl, file string) string {
		b, err := os.ReadFile(filepath.Join(g.Dir(ctrl), file))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	got := []string{read("cpu", "cpu.shares"), read("cpu", "cpu.cfs_quota_us"), read("cpu", "cpu.cfs_period_us"),
		read("memory", "memory.soft_limit_in_bytes"), read("memory", "memory.limit_in_bytes")}
	want := []string{"2048", "50000", "100000", strconv.Itoa(64 << 20), strconv.Itoa(96 << 20)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("written values (-want +got):\n%s", diff)
	}
	if l, err := g.MemoryLimit(); err != nil || l != hard {
		t.Errorf("MemoryLimit = %d, %v; want %d", l, err, hard)
	}
	unlimited := cgroups.Unlimited
	if err := g.Update(cgroups.Resources{CPUQuota: &unlimited}); err != nil {
		t.Fatalf("Update unlimited quota: %v", err)
	}
	if q := read("cpu", "cpu.cfs_quota_us"); q != "-1" {
		t.Errorf("cfs quota after Unlimited = %s", q)
	}
	if _, err := g.CPU(); err != nil {
		t.Errorf("CPU: %v", err)
	}
	mem, err := g.Memory()
	if err != nil || !strings.Contains(mem.Stat, "total_rss") {
		t.Errorf("Memory = %+v, %v", mem, err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tracker.Kill(ctx); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if procs, _ := tracker.Procs(); len(procs) != 0 {
		t.Errorf("processes left after Kill: %v", procs)
	}
	for _, grp := range []*cgroups.Group{g, tracker} {
		if err := grp.Delete(); err != nil {
			t.Errorf("Delete: %v", err)
		}
		if grp.Exists() {
			t.Errorf("%s still exists", grp.Path())
		}
		if err := grp.Delete(); err != nil {
			t.Errorf("second Delete: %v", err)
		}
	}
	kids, err := h.Children(root, "memory")
	if err != nil || len(kids) != 0 {
		t.Errorf("Children after delete = %v, %v", kids, err)
	}
}

func TestV1OOMIsNoticed(t *testing.T) {
	h := cgroupstest.Real(t, "memory")
	if h.Version() != cgroups.V1 {
		t.Skip("the host's cgroups are v2")
	}
	root := cgroupstest.Root(t, h)
	g := h.Group(root+"/oom", "memory")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	hard := int64(32 << 20)
	if err := g.Update(cgroups.Resources{MemoryHard: &hard}); err != nil {
		t.Fatal(err)
	}
	hog := cgroupstest.StartChild(t, "hog:200")
	if err := g.Add(hog.Pid()); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	go func() { waited <- g.WaitOOM(ctx) }()
	time.Sleep(50 * time.Millisecond) // let WaitOOM register before the OOM
	hog.Release(t)
	if err := <-waited; err != nil {
		t.Fatalf("WaitOOM: %v", err)
	}
	if hit, err := g.OOMAtLimit(); err != nil || !hit {
		t.Errorf("OOMAtLimit = %v, %v", hit, err)
	}
	mem, _ := g.Memory()
	if mem.MaxUsage < uint64(hard)-(1<<20) {
		t.Errorf("peak usage %d, want about the limit %d", mem.MaxUsage, hard)
	}
	_ = g.Kill(ctx)
	if err := g.Delete(); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

func TestWaitOOMEndsWithContext(t *testing.T) {
	h := cgroupstest.Real(t, "memory")
	root := cgroupstest.Root(t, h)
	g := h.Group(root+"/quiet", "memory")
	if err := g.Create(); err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := g.WaitOOM(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitOOM = %v, want the context's deadline", err)
	}
}

// TestV2TrackingLive runs the launcher's part of cgroups v2 (create, add,
// list, cgroup.kill, remove) on the machine's v2 mount, which every host with
// cgroups has, hybrid ones included.
func TestV2TrackingLive(t *testing.T) {
	u := cgroupstest.Unified(t)
	if u.Version() != cgroups.V2 {
		t.Fatalf("version %v", u.Version())
	}
	root := cgroupstest.Root(t, u)
	g := u.Group(root + "/c1")
	if err := g.Create(); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := os.Stat(filepath.Join(u.Root(), root, "c1", cgroups.Leaf)); err != nil {
		t.Fatalf("no leaf: %v", err)
	}
	child := cgroupstest.StartChild(t, "sleep")
	if err := g.Add(child.Pid()); err != nil {
		t.Fatalf("Add: %v", err)
	}
	procs, err := g.Procs()
	if err != nil || !slices.Equal(procs, []int{child.Pid()}) {
		t.Fatalf("Procs = %v, %v", procs, err)
	}
	if err := g.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := g.Kill(ctx); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := g.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if g.Exists() {
		t.Error("group still exists")
	}
	kids, _ := u.Children(root, "")
	if len(kids) != 0 {
		t.Errorf("children left: %v", kids)
	}
}

// TestV2FakeTree checks what is written where on cgroups v2, against a tree
// of plain files laid out as the kernel lays it out.
func TestV2FakeTree(t *testing.T) {
	dir := cgroupstest.FakeV2(t, "cpuset cpu io memory pids", "mesos")
	h, err := cgroups.Open(cgroups.Options{Root: dir, Version: cgroups.V2})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"blkio", "cpu", "cpuacct", "cpuset", "freezer", "memory", "pids"}, h.Controllers()); diff != "" {
		t.Errorf("Controllers (-want +got):\n%s", diff)
	}
	if h.Has("devices") || h.Has("net_cls") {
		t.Error("v2 offers no devices or net_cls controller")
	}
	g := h.Group("mesos/c1", "cpu", "cpuacct", "memory", "pids")
	if err := g.Create(); err != nil {
		t.Fatalf("Create: %v", err)
	}
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	for _, f := range []string{"cgroup.subtree_control", "mesos/cgroup.subtree_control"} {
		if got := read(f); got != "+cpu +memory +pids" {
			t.Errorf("%s = %q, want the group's controllers enabled", f, got)
		}
	}
	if err := g.Add(4242); err != nil {
		t.Fatal(err)
	}
	if got := read("mesos/c1/leaf/cgroup.procs"); got != "4242" {
		t.Errorf("leaf cgroup.procs = %q", got)
	}

	weight, quota, period := uint64(150), int64(10000), uint64(100000)
	soft, hard, swap := int64(32<<20), int64(64<<20), int64(64<<20)
	if err := g.Update(cgroups.Resources{CPUWeight: &weight, CPUQuota: &quota, CPUPeriod: &period,
		MemorySoft: &soft, MemoryHard: &hard, MemorySwap: &swap}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	got := map[string]string{}
	for _, f := range []string{"cpu.weight", "cpu.max", "memory.low", "memory.max", "memory.swap.max"} {
		got[f] = read("mesos/c1/" + f)
	}
	want := map[string]string{"cpu.weight": "150", "cpu.max": "10000 100000", "memory.low": strconv.Itoa(32 << 20),
		"memory.max": strconv.Itoa(64 << 20), "memory.swap.max": "0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("written values (-want +got):\n%s", diff)
	}
	unlimited := cgroups.Unlimited
	if err := g.Update(cgroups.Resources{CPUQuota: &unlimited, MemoryHard: &unlimited}); err != nil {
		t.Fatal(err)
	}
	if got := read("mesos/c1/cpu.max"); got != "max 100000" {
		t.Errorf("cpu.max = %q", got)
	}
	if l, err := g.MemoryLimit(); err != nil || l != cgroups.Unlimited {
		t.Errorf("MemoryLimit = %d, %v; want Unlimited", l, err)
	}
	if err := g.Update(cgroups.Resources{Devices: nil}); err != nil {
		t.Errorf("an empty update: %v", err)
	}

	// Statistics, from files as the kernel writes them.
	files := map[string]string{
		"cpu.stat":            "usage_usec 3500000\nuser_usec 2500000\nsystem_usec 1000000\nnr_periods 40\nnr_throttled 7\nthrottled_usec 250000\n",
		"memory.current":      "52428800\n",
		"memory.peak":         "60000000\n",
		"memory.swap.current": "0\n",
		"memory.stat":         "anon 41943040\nfile 8388608\nkernel 1048576\nsock 0\nfile_mapped 4096\nunevictable 0\n",
		"memory.events":       "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
	}
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, "mesos/c1", f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cpu, err := g.CPU()
	if err != nil {
		t.Fatal(err)
	}
	wantCPU := cgroups.CPUStats{User: 2500 * time.Millisecond, System: time.Second, Periods: 40, Throttled: 7,
		ThrottledTime: 250 * time.Millisecond}
	if diff := cmp.Diff(wantCPU, cpu); diff != "" {
		t.Errorf("CPU (-want +got):\n%s", diff)
	}
	mem, err := g.Memory()
	if err != nil {
		t.Fatal(err)
	}
	if mem.Usage != 52428800 || mem.MaxUsage != 60000000 || mem.RSS != 41943040 || mem.Cache != 8388608 ||
		mem.MappedFile != 4096 || mem.Kernel != 1048576 || mem.UsageWithSwap != 52428800 {
		t.Errorf("Memory = %+v", mem)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := g.WaitOOM(ctx); err != nil {
		t.Errorf("WaitOOM with oom_kill 1: %v", err)
	}

	if err := g.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mesos/c1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mesos/c1 still there: %v", err)
	}
}

func TestGroupNeedsItsControllers(t *testing.T) {
	dir := cgroupstest.FakeV2(t, "cpu")
	h, err := cgroups.Open(cgroups.Options{Root: dir, Version: cgroups.V2})
	if err != nil {
		t.Fatal(err)
	}
	err = h.Group("mesos/x", "memory").Create()
	if !errors.Is(err, cgroups.ErrNoController) || !strings.Contains(err.Error(), "memory") {
		t.Errorf("Create without the memory controller: %v", err)
	}
}

func TestFakeV1Tree(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []string{"cpu", "memory", "freezer"} {
		if err := os.MkdirAll(filepath.Join(dir, c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h, err := cgroups.Open(cgroups.Options{Root: dir, Version: cgroups.V1})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cpu", "freezer", "memory"}, h.Controllers()); diff != "" {
		t.Errorf("Controllers (-want +got):\n%s", diff)
	}
	if tr := h.Tracking(); tr != h {
		t.Errorf("Tracking = %v, want the v1 freezer hierarchy", tr)
	}
	if _, err := cgroups.Open(cgroups.Options{Root: t.TempDir(), Version: cgroups.V1}); !errors.Is(err, cgroups.ErrUnavailable) {
		t.Errorf("Open of an empty v1 root: %v", err)
	}
}

// TestOOMAtLimit tells an OOM kill at the group's limit from a kill by the
// machine-wide OOM killer, on fake trees with the kernel's files.
func TestOOMAtLimit(t *testing.T) {
	v2dir := cgroupstest.FakeV2(t, "memory", "mesos")
	v2, err := cgroups.Open(cgroups.Options{Root: v2dir, Version: cgroups.V2})
	if err != nil {
		t.Fatal(err)
	}
	v1dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(v1dir, "memory", "mesos", "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	v1, err := cgroups.Open(cgroups.Options{Root: v1dir, Version: cgroups.V1})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(v2dir, "mesos", "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		h     *cgroups.Hierarchy
		files map[string]string
		want  bool
	}{
		{"v2 limit", v2, map[string]string{"memory.events": "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n"}, true},
		{"v2 machine-wide kill", v2, map[string]string{"memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 1\n"}, false},
		{"v2 none", v2, map[string]string{"memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"}, false},
		{"v1 limit", v1, map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", "memory.failcnt": "12\n"}, true},
		{"v1 machine-wide kill", v1, map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n", "memory.failcnt": "0\n"}, false},
		{"v1 old kernel in an OOM", v1, map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 1\n"}, true},
		{"v1 old kernel", v1, map[string]string{"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n"}, false},
	}
	for _, tc := range tests {
		g := tc.h.Group("mesos/c", "memory")
		for f, v := range tc.files {
			if err := os.WriteFile(filepath.Join(g.Dir("memory"), f), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := g.OOMAtLimit(); err != nil || got != tc.want {
			t.Errorf("%s: OOMAtLimit = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
