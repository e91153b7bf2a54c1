//go:build linux

package cgroups_test

import (
	"context"
	"errors"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/cgroups"
	"github.com/meso-project/meso/internal/cgroups/cgroupstest"
	"github.com/meso-project/meso/internal/containerizer"
	isolator "github.com/meso-project/meso/internal/containerizer/isolator/cgroups"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/resources"
)

func TestMain(m *testing.M) {
	cgroupstest.RunChild()
	goleak.VerifyTestMain(m)
}

// realV1 opens the machine's v1 hierarchy with the controllers and returns
// it with a fresh cgroups root.
func realV1(t *testing.T, controllers ...string) (*cgroups.Hierarchy, string) {
	t.Helper()
	h := cgroupstest.Real(t, controllers...)
	if h.Version() != cgroups.V1 {
		t.Skip("the host's cgroups are v2; the fake v2 tests cover the isolator there")
	}
	return h, cgroupstest.Root(t, h)
}

// fakeV2 makes a fake v2 tree offering cpu, memory and pids, with the
// isolator's root already made the way the kernel (systemd) would have.
func fakeV2(t *testing.T) (h *cgroups.Hierarchy, dir, root string) {
	t.Helper()
	root = "mesos-test"
	dir = cgroupstest.FakeV2(t, "cpu memory pids", root)
	h, err := cgroups.Open(cgroups.Options{Root: dir, Version: cgroups.V2})
	if err != nil {
		t.Fatal(err)
	}
	return h, dir, root
}

func newIsolator(t *testing.T, o isolator.Options) *isolator.Isolator {
	t.Helper()
	i, err := isolator.New(o)
	if err != nil {
		t.Fatalf("New(%v): %v", o.Isolation, err)
	}
	t.Cleanup(func() { _ = i.Close() })
	return i
}

// res parses Mesos's text form of resources.
func res(t *testing.T, text string) []*mesospb.Resource {
	t.Helper()
	r, err := resources.Parse(text, "*")
	if err != nil {
		t.Fatalf("parsing %q: %v", text, err)
	}
	return r
}

func read(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func write(t *testing.T, file, v string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(v), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func mustPrepare(t *testing.T, i *isolator.Isolator, id string) {
	t.Helper()
	li, err := i.Prepare(t.Context(), containerizer.ContainerConfig{ID: id})
	if err != nil {
		t.Fatalf("Prepare(%s): %v", id, err)
	}
	if li != nil {
		t.Errorf("Prepare(%s) = %+v, want no launch info", id, li)
	}
}

func errContains(err error, want string) bool {
	return err != nil && strings.Contains(err.Error(), want)
}

func TestNew(t *testing.T) {
	t.Parallel()
	fakeV1 := func(t *testing.T) *cgroups.Hierarchy {
		dir := t.TempDir()
		for _, c := range []string{"blkio", "cpu", "cpuacct", "devices", "freezer", "memory"} {
			if err := os.MkdirAll(filepath.Join(dir, c), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		h, err := cgroups.Open(cgroups.Options{Root: dir, Version: cgroups.V1})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	v2 := func(controllers string) func(*testing.T) *cgroups.Hierarchy {
		return func(t *testing.T) *cgroups.Hierarchy {
			h, err := cgroups.Open(cgroups.Options{Root: cgroupstest.FakeV2(t, controllers), Version: cgroups.V2})
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
	}
	tests := []struct {
		name        string
		hierarchy   func(*testing.T) *cgroups.Hierarchy
		isolation   []string
		wantErr     []string // substrings of the error
		controllers []string
		isoName     string
	}{
		{
			name: "unknown name", hierarchy: v2("cpu memory pids"), isolation: []string{"cgroups/bogus"},
			wantErr: []string{"Unknown or unsupported isolator 'cgroups/bogus'"},
		},
		{
			name: "controller missing", hierarchy: v2("cpu"), isolation: []string{"cgroups/cpu", "cgroups/mem"},
			wantErr: []string{"'cgroups/mem'", "'memory'", "available: cpu, cpuacct, freezer"},
		},
		{
			name: "devices on v2", hierarchy: v2("cpu memory pids"), isolation: []string{"cgroups/devices"},
			wantErr: []string{"'cgroups/devices'"},
		},
		{
			name: "cpu and mem", hierarchy: v2("cpu memory pids"), isolation: []string{"cgroups/cpu", "cgroups/mem"},
			controllers: []string{"cpu", "cpuacct", "memory"}, isoName: "cgroups(cpu,cpuacct,memory)",
		},
		{
			name: "a name twice", hierarchy: v2("cpu memory"), isolation: []string{"cgroups/mem", "cgroups/mem"},
			controllers: []string{"memory"}, isoName: "cgroups(memory)",
		},
		{
			name: "all on v2 takes the supported controllers present", hierarchy: v2("cpu memory pids io"),
			isolation:   []string{"cgroups/all"},
			controllers: []string{"cpu", "cpuacct", "memory", "pids"}, isoName: "cgroups(cpu,cpuacct,memory,pids)",
		},
		{
			name: "all on v1 takes devices but not blkio", hierarchy: fakeV1, isolation: []string{"cgroups/all"},
			controllers: []string{"cpu", "cpuacct", "devices", "memory"},
		},
		{
			name: "all with nothing supported", hierarchy: v2(""), isolation: []string{"cgroups/all"},
			wantErr: []string{"no cgroup controllers meso supports"},
		},
		{
			name: "no hierarchy", hierarchy: func(*testing.T) *cgroups.Hierarchy { return nil },
			isolation: []string{"cgroups/cpu"}, wantErr: []string{"no cgroup hierarchy"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			i, err := isolator.New(isolator.Options{Hierarchy: tc.hierarchy(t), Root: "mesos", Isolation: tc.isolation})
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("New(%v) = %v, want an error", tc.isolation, i.Controllers())
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("New(%v) error %q does not mention %q", tc.isolation, err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%v): %v", tc.isolation, err)
			}
			t.Cleanup(func() { _ = i.Close() })
			if diff := cmp.Diff(tc.controllers, i.Controllers()); diff != "" {
				t.Errorf("Controllers (-want +got):\n%s", diff)
			}
			if tc.isoName != "" && i.Name() != tc.isoName {
				t.Errorf("Name = %q, want %q", i.Name(), tc.isoName)
			}
		})
	}
}

// TestV1PrepareIsolateCleanup follows one container through its cgroups'
// life: created by Prepare, holding the first process after Isolate, and
// emptied and removed by Cleanup.
func TestV1PrepareIsolateCleanup(t *testing.T) {
	t.Parallel()
	h, root := realV1(t, "cpu", "cpuacct", "memory")
	i := newIsolator(t, isolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/cpu", "cgroups/mem"}})
	ctx := t.Context()
	const id = "c1"
	dirs := map[string]string{}
	for _, c := range []string{"cpu", "cpuacct", "memory"} {
		dirs[c] = filepath.Join(h.Root(), c, root, id)
	}

	mustPrepare(t, i, id)
	for c, d := range dirs {
		if !exists(d) {
			t.Errorf("no %s cgroup at %s after Prepare", c, d)
		}
	}
	_, err := i.Prepare(ctx, containerizer.ContainerConfig{ID: id})
	if want := "The cgroup at '" + dirs["cpu"] + "' already exists"; err == nil || err.Error() != want {
		t.Errorf("second Prepare = %v, want %q", err, want)
	}

	ch := cgroupstest.StartChild(t, "sleep")
	c := containerizer.Container{ID: id, Pid: ch.Pid()}
	if err := i.Isolate(ctx, c); err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	for ctrl, d := range dirs {
		procs := strings.Fields(read(t, filepath.Join(d, "cgroup.procs")))
		if !slices.Contains(procs, strconv.Itoa(ch.Pid())) {
			t.Errorf("%s cgroup.procs = %v, want pid %d in it", ctrl, procs, ch.Pid())
		}
	}
	ch.Release(t)

	if err := i.Cleanup(ctx, c); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	ch.WaitGone(t, 10*time.Second)
	for ctrl, d := range dirs {
		if exists(d) {
			t.Errorf("%s cgroup %s left after Cleanup", ctrl, d)
		}
	}
	if err := i.Cleanup(ctx, c); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
	if err := i.Cleanup(ctx, containerizer.Container{ID: "never-prepared"}); err != nil {
		t.Errorf("Cleanup of an unknown container: %v", err)
	}
}

func TestV1Devices(t *testing.T) {
	t.Parallel()
	h, root := realV1(t, "devices")
	i := newIsolator(t, isolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/devices"}})
	mustPrepare(t, i, "c1")
	t.Cleanup(func() { _ = i.Cleanup(context.Background(), containerizer.Container{ID: "c1"}) })
	got := strings.Split(read(t, filepath.Join(h.Root(), "devices", root, "c1", "devices.list")), "\n")
	// Mesos's default whitelist: every device may be mknod'ed, and the
	// usual character devices used (null, zero, full, random, urandom,
	// tty*, ptmx, pts, fuse).
	for _, want := range []string{"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm"} {
		if !slices.Contains(got, want) {
			t.Errorf("devices.list %q lacks %q", got, want)
		}
	}
	if slices.Contains(got, "a *:* rwm") || slices.Contains(got, "b 8:0 rwm") {
		t.Errorf("devices.list %q allows more than the whitelist", got)
	}
}

// step is one Update call.
type step struct {
	requests string
	limits   map[string]float64
	wantErr  string
}

func TestV1Update(t *testing.T) {
	t.Parallel()
	h, root := realV1(t, "cpu", "cpuacct", "memory")
	const mb = 1 << 20
	revocable := append(res(t, "mem:64"), &mesospb.Resource{
		Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(),
		Scalar:    &mesospb.Value_Scalar{Value: proto.Float64(2)},
		Revocable: &mesospb.Resource_RevocableInfo{},
	})
	tests := []struct {
		name    string
		opts    isolator.Options
		steps   []step
		revoc   bool // a last Update with 2 revocable cpus
		want    map[string]string
		maxHard bool // memory.limit_in_bytes is unlimited
	}{
		{
			name:  "requests",
			steps: []step{{requests: "cpus:0.5;mem:64"}},
			want: map[string]string{"cpu/cpu.shares": "512", "cpu/cpu.cfs_quota_us": "-1",
				"memory/memory.soft_limit_in_bytes": strconv.Itoa(64 * mb), "memory/memory.limit_in_bytes": strconv.Itoa(64 * mb)},
		},
		{
			name:  "cfs quota from the request",
			opts:  isolator.Options{EnableCFS: true},
			steps: []step{{requests: "cpus:0.5;mem:64"}},
			want:  map[string]string{"cpu/cpu.shares": "512", "cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"},
		},
		{
			name:  "minimums",
			opts:  isolator.Options{EnableCFS: true},
			steps: []step{{requests: "cpus:0.001;mem:10"}},
			want: map[string]string{"cpu/cpu.shares": "2", "cpu/cpu.cfs_quota_us": "1000",
				"memory/memory.soft_limit_in_bytes": strconv.Itoa(32 * mb), "memory/memory.limit_in_bytes": strconv.Itoa(32 * mb)},
		},
		{
			name:  "less memory lowers only the soft limit",
			steps: []step{{requests: "cpus:1;mem:128"}, {requests: "cpus:1;mem:64"}},
			want: map[string]string{"memory/memory.soft_limit_in_bytes": strconv.Itoa(64 * mb),
				"memory/memory.limit_in_bytes": strconv.Itoa(128 * mb)},
		},
		{
			name:  "more memory raises the hard limit",
			steps: []step{{requests: "cpus:1;mem:64"}, {requests: "cpus:1;mem:128"}},
			want: map[string]string{"memory/memory.soft_limit_in_bytes": strconv.Itoa(128 * mb),
				"memory/memory.limit_in_bytes": strconv.Itoa(128 * mb)},
		},
		{
			name: "cpu limit, then an unlimited one",
			steps: []step{
				{requests: "cpus:0.5;mem:64", limits: map[string]float64{"cpus": 2}},
				{requests: "cpus:0.5;mem:64", limits: map[string]float64{"cpus": math.Inf(1)}},
			},
			want: map[string]string{"cpu/cpu.shares": "512", "cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"},
		},
		{
			name:  "cpu limit wins over the request with cfs",
			opts:  isolator.Options{EnableCFS: true},
			steps: []step{{requests: "cpus:0.5;mem:64", limits: map[string]float64{"cpus": 1.5}}},
			want:  map[string]string{"cpu/cpu.cfs_quota_us": "150000"},
		},
		{
			name:  "memory limit",
			steps: []step{{requests: "cpus:1;mem:64", limits: map[string]float64{"mem": 256}}},
			want: map[string]string{"memory/memory.soft_limit_in_bytes": strconv.Itoa(64 * mb),
				"memory/memory.limit_in_bytes": strconv.Itoa(256 * mb)},
		},
		{
			name: "unlimited memory",
			steps: []step{
				{requests: "cpus:1;mem:64"},
				{requests: "cpus:1;mem:64", limits: map[string]float64{"mem": math.Inf(1)}},
			},
			want:    map[string]string{"memory/memory.soft_limit_in_bytes": strconv.Itoa(64 * mb)},
			maxHard: true,
		},
		{
			// Once unlimited, a finite limit would be a lowering: kept.
			name: "unlimited memory stays unlimited",
			steps: []step{
				{requests: "cpus:1;mem:64", limits: map[string]float64{"mem": math.Inf(1)}},
				{requests: "cpus:1;mem:64"},
			},
			want:    map[string]string{"memory/memory.soft_limit_in_bytes": strconv.Itoa(64 * mb)},
			maxHard: true,
		},
		{
			name:  "revocable cpus at low priority",
			opts:  isolator.Options{RevocableCPULowPriority: true},
			revoc: true,
			want:  map[string]string{"cpu/cpu.shares": "20"},
		},
		{
			name:  "revocable cpus without low priority",
			revoc: true,
			want:  map[string]string{"cpu/cpu.shares": "2048"},
		},
		{
			name:  "no cpus",
			steps: []step{{requests: "mem:64", wantErr: "Failed to update subsystem 'cpu': No cpus resource given"}},
		},
		{
			name:  "no mem",
			steps: []step{{requests: "cpus:1", wantErr: "Failed to update subsystem 'memory': No memory resource given"}},
		},
	}
	for n, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.opts
			o.Hierarchy, o.Root, o.Isolation = h, root, []string{"cgroups/cpu", "cgroups/mem"}
			i := newIsolator(t, o)
			id := "update-" + strconv.Itoa(n)
			mustPrepare(t, i, id)
			t.Cleanup(func() { _ = i.Cleanup(context.Background(), containerizer.Container{ID: id}) })
			c := containerizer.Container{ID: id}
			for _, s := range tc.steps {
				err := i.Update(t.Context(), c, res(t, s.requests), s.limits)
				switch {
				case s.wantErr != "" && (err == nil || err.Error() != s.wantErr):
					t.Fatalf("Update(%s) = %v, want %q", s.requests, err, s.wantErr)
				case s.wantErr == "" && err != nil:
					t.Fatalf("Update(%s, %v): %v", s.requests, s.limits, err)
				}
			}
			if tc.revoc {
				if err := i.Update(t.Context(), c, revocable, nil); err != nil {
					t.Fatalf("Update with revocable cpus: %v", err)
				}
			}
			got := map[string]string{}
			for f := range tc.want {
				got[f] = read(t, filepath.Join(h.Root(), filepath.Dir(f), root, id, filepath.Base(f)))
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("cgroup files (-want +got):\n%s", diff)
			}
			if tc.maxHard {
				v, err := strconv.ParseUint(read(t, filepath.Join(h.Root(), "memory", root, id, "memory.limit_in_bytes")), 10, 64)
				if err != nil || v < 1<<62 {
					t.Errorf("memory.limit_in_bytes = %d, %v; want unlimited", v, err)
				}
			}
		})
	}
}

// checkOOM checks a limitation against Mesos's memory limitation for a
// hard limit of 32 MB.
func checkOOM(t *testing.T, what string, l *containerizer.Limitation, wantPeakMB float64) {
	t.Helper()
	if l == nil {
		t.Fatalf("%s: no limitation", what)
	}
	if l.Reason != mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY {
		t.Errorf("%s: reason %v", what, l.Reason)
	}
	if want := "\n\nMEMORY STATISTICS: \n"; !strings.Contains(l.Message, want) {
		t.Errorf("%s: message %q lacks %q", what, l.Message, want)
	}
	if prefix := "Memory limit exceeded: Requested: 32MB Maximum Used: "; !strings.HasPrefix(l.Message, prefix) {
		t.Errorf("%s: message %q does not start with %q", what, l.Message, prefix)
	}
	if len(l.Resources) != 1 {
		t.Fatalf("%s: resources %v, want one mem", what, l.Resources)
	}
	r := l.Resources[0]
	if r.GetName() != "mem" || r.GetType() != mesospb.Value_SCALAR || math.Abs(r.GetScalar().GetValue()-wantPeakMB) > 1 {
		t.Errorf("%s: resources %v, want mem ≈ %v", what, l.Resources, wantPeakMB)
	}
}

func TestV1OOM(t *testing.T) {
	t.Parallel()
	h, root := realV1(t, "memory")
	i := newIsolator(t, isolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/mem"}})
	const id = "oom"
	mustPrepare(t, i, id)
	hog := cgroupstest.StartChild(t, "hog:200")
	c := containerizer.Container{ID: id, Pid: hog.Pid()}
	t.Cleanup(func() { _ = i.Cleanup(context.Background(), c) })
	if err := i.Isolate(t.Context(), c); err != nil {
		t.Fatalf("Isolate: %v", err)
	}
	if err := i.Update(t.Context(), c, res(t, "mem:32"), nil); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if l, err := i.Check(t.Context(), c); l != nil || err != nil {
		t.Fatalf("Check before any OOM = %+v, %v; want nil", l, err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type result struct {
		l   *containerizer.Limitation
		err error
	}
	watched := make(chan result, 1)
	go func() {
		l, err := i.Watch(ctx, c)
		watched <- result{l, err}
	}()
	time.Sleep(50 * time.Millisecond) // let Watch listen before the OOM
	hog.Release(t)
	w := <-watched
	if w.err != nil {
		t.Fatalf("Watch: %v", w.err)
	}
	checkOOM(t, "Watch", w.l, 32)
	if !strings.Contains(w.l.Message, "total_rss") {
		t.Errorf("Watch: message %q lacks memory.stat's total_rss", w.l.Message)
	}
	hog.WaitGone(t, 10*time.Second) // the OOM killer's victim

	l, err := i.Check(t.Context(), c)
	if err != nil {
		t.Fatalf("Check after the OOM: %v", err)
	}
	checkOOM(t, "Check", l, 32)
	// Reaching the limit was memory pressure, and it was counted (Mesos's
	// mem_*_pressure_counter, cgroups v1).
	var st *mesospb.ResourceStatistics
	testutil.Eventually(t, 5*time.Second, func() bool {
		st, err = i.Usage(t.Context(), c)
		return err == nil && st.GetMemLowPressureCounter() > 0
	}, "no memory pressure counted: %v, %v", st, err)
	if st.MemMediumPressureCounter == nil || st.MemCriticalPressureCounter == nil {
		t.Errorf("pressure counters %v", st)
	}
	if err := i.Cleanup(t.Context(), c); err != nil {
		t.Errorf("Cleanup: %v", err)
	}
}

func TestV1Usage(t *testing.T) {
	t.Parallel()
	h, root := realV1(t, "cpu", "cpuacct", "memory")
	tests := []struct {
		name  string
		opts  isolator.Options
		mode  string
		cpus  string
		check func(t *testing.T, s *mesospb.ResourceStatistics)
		// until, when set, is polled until it holds.
		until func(s *mesospb.ResourceStatistics) bool
	}{
		{
			name: "plain", mode: "sleep", cpus: "1",
			check: func(t *testing.T, s *mesospb.ResourceStatistics) {
				if s.CpusNrPeriods != nil || s.CpusNrThrottled != nil || s.CpusThrottledTimeSecs != nil {
					t.Errorf("throttling statistics without --cgroups_enable_cfs: %v", s)
				}
				if s.Processes != nil || s.Threads != nil {
					t.Errorf("process counts without --cgroups_cpu_enable_pids_and_tids_count: %v", s)
				}
				if s.MemTotalMemswBytes != nil {
					t.Errorf("mem_total_memsw_bytes without --cgroups_limit_swap: %v", s)
				}
			},
		},
		{
			name: "pids and tids", mode: "sleep", cpus: "1", opts: isolator.Options{CountPidsAndTids: true},
			check: func(t *testing.T, s *mesospb.ResourceStatistics) {
				if s.Processes == nil || s.GetProcesses() < 1 || s.Threads == nil || s.GetThreads() < s.GetProcesses() {
					t.Errorf("processes %v, threads %v; want at least one each", s.Processes, s.Threads)
				}
			},
		},
		{
			name: "throttled", mode: "burn", cpus: "0.1", opts: isolator.Options{EnableCFS: true},
			until: func(s *mesospb.ResourceStatistics) bool {
				return s.GetCpusNrThrottled() > 0 && s.GetCpusThrottledTimeSecs() > 0 && s.GetCpusNrPeriods() > 0
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.opts
			o.Hierarchy, o.Root, o.Isolation = h, root, []string{"cgroups/cpu", "cgroups/mem"}
			i := newIsolator(t, o)
			id := strings.ReplaceAll(tc.name, " ", "-")
			mustPrepare(t, i, id)
			ch := cgroupstest.StartChild(t, tc.mode)
			c := containerizer.Container{ID: id, Pid: ch.Pid()}
			t.Cleanup(func() { _ = i.Cleanup(context.Background(), c) })
			if err := i.Isolate(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			if err := i.Update(t.Context(), c, res(t, "cpus:"+tc.cpus+";mem:128"), nil); err != nil {
				t.Fatal(err)
			}
			ch.Release(t)
			usage := func() *mesospb.ResourceStatistics {
				s, err := i.Usage(t.Context(), c)
				if err != nil {
					t.Fatalf("Usage: %v", err)
				}
				return s
			}
			var s *mesospb.ResourceStatistics
			if tc.until != nil {
				testutil.Eventually(t, 10*time.Second, func() bool { s = usage(); return tc.until(s) },
					"usage shows no throttling: %v", s)
			} else {
				s = usage()
			}
			if s.Timestamp == nil || s.CpusUserTimeSecs == nil || s.CpusSystemTimeSecs == nil ||
				s.MemTotalBytes == nil || s.MemRssBytes == nil || s.MemAnonBytes == nil || s.MemCacheBytes == nil {
				t.Errorf("Usage lacks Mesos's cpu and memory fields: %v", s)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func TestV1Recover(t *testing.T) {
	t.Parallel()
	h, root := realV1(t, "cpu", "cpuacct", "memory")
	controllers := []string{"cpu", "cpuacct", "memory"}
	i := newIsolator(t, isolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/cpu", "cgroups/mem"}})
	ctx := t.Context()

	// An earlier agent's container, with a process still in it.
	orphan := h.Group(root+"/orphan", controllers...)
	if err := orphan.Create(); err != nil {
		t.Fatal(err)
	}
	ch := cgroupstest.StartChild(t, "sleep")
	if err := orphan.Add(ch.Pid()); err != nil {
		t.Fatal(err)
	}
	mustPrepare(t, i, "live")
	live := h.Group(root+"/live", controllers...)

	if err := i.Recover(ctx, []string{"live"}); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	ch.WaitGone(t, 10*time.Second)
	for _, c := range controllers {
		if exists(orphan.Dir(c)) {
			t.Errorf("orphan's %s cgroup left", c)
		}
		if !exists(live.Dir(c)) {
			t.Errorf("live container's %s cgroup removed", c)
		}
	}

	if err := i.Recover(ctx, nil); err != nil {
		t.Fatalf("Recover(nil): %v", err)
	}
	if live.Exists() {
		t.Error("Recover(nil) kept a container nobody claims")
	}
	if kids, err := h.Children(root, "memory"); err != nil || len(kids) != 0 {
		t.Errorf("cgroups left under the root: %v, %v", kids, err)
	}
}

// TestV1RecoverPartialOrphan covers an orphan that exists in only some of
// the isolator's controllers (an agent restarted with more cgroups/*
// isolators than before): Mesos cleans up each hierarchy where the cgroup
// exists.
func TestV1RecoverPartialOrphan(t *testing.T) {
	t.Parallel()
	h, root := realV1(t, "cpu", "cpuacct", "memory")
	i := newIsolator(t, isolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/cpu", "cgroups/mem"}})
	orphan := h.Group(root+"/orphan", "memory")
	if err := orphan.Create(); err != nil {
		t.Fatal(err)
	}
	if err := i.Recover(t.Context(), nil); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if orphan.Exists() {
		t.Errorf("Recover left the orphan's memory cgroup %s", orphan.Dir("memory"))
	}
}

// prepareFake prepares a container on the fake v2 tree and writes the
// interface files the kernel would have made with the cgroup.
func prepareFake(t *testing.T, i *isolator.Isolator, dir, root, id string) string {
	t.Helper()
	mustPrepare(t, i, id)
	cg := filepath.Join(dir, root, id)
	for f, v := range map[string]string{
		"cpu.weight": "100", "cpu.max": "max 100000", "memory.low": "0", "memory.max": "max",
		"memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
	} {
		write(t, filepath.Join(cg, f), v+"\n")
	}
	return cg
}

func TestV2FakePrepareCleanupRecover(t *testing.T) {
	t.Parallel()
	h, dir, root := fakeV2(t)
	i := newIsolator(t, isolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/all"}})
	ctx := t.Context()
	cg := prepareFake(t, i, dir, root, "c1")
	if !exists(filepath.Join(cg, cgroups.Leaf)) {
		t.Errorf("no leaf cgroup under %s", cg)
	}
	for _, f := range []string{"cgroup.subtree_control", root + "/cgroup.subtree_control"} {
		if got := read(t, filepath.Join(dir, f)); got != "+cpu +memory +pids" {
			t.Errorf("%s = %q, want the isolator's controllers enabled", f, got)
		}
	}
	if _, err := i.Prepare(ctx, containerizer.ContainerConfig{ID: "c1"}); !errContains(err, "already exists") {
		t.Errorf("second Prepare = %v", err)
	}
	if err := i.Isolate(ctx, containerizer.Container{ID: "c1", Pid: 4242}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(cg, cgroups.Leaf, "cgroup.procs")); got != "4242" {
		t.Errorf("leaf cgroup.procs = %q, want the pid", got)
	}
	// Nothing real runs there: empty it before anything kills its pids.
	write(t, filepath.Join(cg, cgroups.Leaf, "cgroup.procs"), "")

	orphan := h.Group(root+"/orphan", "cpu", "memory", "pids")
	if err := orphan.Create(); err != nil {
		t.Fatal(err)
	}
	if err := i.Recover(ctx, []string{"c1"}); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if orphan.Exists() || exists(filepath.Join(dir, root, "orphan")) {
		t.Error("Recover kept the orphan")
	}
	if !exists(cg) {
		t.Error("Recover removed the live container")
	}
	if err := i.Cleanup(ctx, containerizer.Container{ID: "c1"}); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if exists(cg) {
		t.Errorf("%s left after Cleanup", cg)
	}
}

func TestV2FakeUpdate(t *testing.T) {
	t.Parallel()
	const mb = 1 << 20
	tests := []struct {
		name  string
		opts  isolator.Options
		steps []step
		want  map[string]string
	}{
		{
			name:  "requests",
			steps: []step{{requests: "cpus:0.5;mem:64"}},
			want: map[string]string{"cpu.weight": "50", "cpu.max": "max 100000",
				"memory.low": strconv.Itoa(64 * mb), "memory.max": strconv.Itoa(64 * mb)},
		},
		{
			name:  "cfs",
			opts:  isolator.Options{EnableCFS: true},
			steps: []step{{requests: "cpus:2.5;mem:64"}},
			want:  map[string]string{"cpu.weight": "250", "cpu.max": "250000 100000"},
		},
		{
			name:  "minimums",
			opts:  isolator.Options{EnableCFS: true},
			steps: []step{{requests: "cpus:0.001;mem:10"}},
			want: map[string]string{"cpu.weight": "1", "cpu.max": "1000 100000",
				"memory.low": strconv.Itoa(32 * mb), "memory.max": strconv.Itoa(32 * mb)},
		},
		{
			name:  "unlimited cpus",
			opts:  isolator.Options{EnableCFS: true},
			steps: []step{{requests: "cpus:1;mem:64", limits: map[string]float64{"cpus": math.Inf(1)}}},
			want:  map[string]string{"cpu.max": "max 100000"},
		},
		{
			name:  "less memory lowers only memory.low",
			steps: []step{{requests: "cpus:1;mem:128"}, {requests: "cpus:1;mem:64"}},
			want:  map[string]string{"memory.low": strconv.Itoa(64 * mb), "memory.max": strconv.Itoa(128 * mb)},
		},
		{
			name:  "more memory raises memory.max",
			steps: []step{{requests: "cpus:1;mem:64"}, {requests: "cpus:1;mem:128"}},
			want:  map[string]string{"memory.low": strconv.Itoa(128 * mb), "memory.max": strconv.Itoa(128 * mb)},
		},
		{
			name:  "memory limits",
			opts:  isolator.Options{LimitSwap: true},
			steps: []step{{requests: "cpus:1;mem:64", limits: map[string]float64{"mem": 96}}},
			want: map[string]string{"memory.low": strconv.Itoa(64 * mb), "memory.max": strconv.Itoa(96 * mb),
				"memory.swap.max": "0"},
		},
		{
			name:  "no cpus",
			steps: []step{{requests: "mem:64", wantErr: "No cpus resource given"}},
		},
	}
	for n, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, dir, root := fakeV2(t)
			o := tc.opts
			o.Hierarchy, o.Root, o.Isolation = h, root, []string{"cgroups/cpu", "cgroups/mem"}
			i := newIsolator(t, o)
			id := "c" + strconv.Itoa(n)
			cg := prepareFake(t, i, dir, root, id)
			for _, s := range tc.steps {
				err := i.Update(t.Context(), containerizer.Container{ID: id}, res(t, s.requests), s.limits)
				switch {
				case s.wantErr != "" && !errContains(err, s.wantErr):
					t.Fatalf("Update(%s) = %v, want %q", s.requests, err, s.wantErr)
				case s.wantErr == "" && err != nil:
					t.Fatalf("Update(%s, %v): %v", s.requests, s.limits, err)
				}
			}
			got := map[string]string{}
			for f := range tc.want {
				got[f] = read(t, filepath.Join(cg, f))
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("cgroup files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestV2FakeCheckAndWatch(t *testing.T) {
	t.Parallel()
	h, dir, root := fakeV2(t)
	i := newIsolator(t, isolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/mem"}})
	ctx := t.Context()
	cg := prepareFake(t, i, dir, root, "c1")
	c := containerizer.Container{ID: "c1"}
	if err := i.Update(ctx, c, res(t, "mem:32"), nil); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(cg, "memory.stat"), "anon 33554432\nfile 0\n")
	write(t, filepath.Join(cg, "memory.current"), "33000000\n")
	write(t, filepath.Join(cg, "memory.peak"), strconv.Itoa(32<<20)+"\n")
	if l, err := i.Check(ctx, c); l != nil || err != nil {
		t.Fatalf("Check with oom_kill 0 = %+v, %v; want nil", l, err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if l, err := i.Watch(short, c); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Watch without an OOM = %+v, %v; want the context's deadline", l, err)
	}

	write(t, filepath.Join(cg, "memory.events"), "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
	l, err := i.Check(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	checkOOM(t, "Check", l, 32)
	if !strings.Contains(l.Message, "anon 33554432") {
		t.Errorf("message %q lacks memory.stat", l.Message)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	wl, err := i.Watch(wctx, c)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if diff := cmp.Diff(l, wl, protocmp.Transform()); diff != "" {
		t.Errorf("Watch and Check disagree (-check +watch):\n%s", diff)
	}
}

// TestWithoutMemory checks that an isolator without the memory controller
// never reports an OOM.
func TestWithoutMemory(t *testing.T) {
	t.Parallel()
	h, dir, root := fakeV2(t)
	i := newIsolator(t, isolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/cpu"}})
	ctx := t.Context()
	prepareFake(t, i, dir, root, "c1")
	c := containerizer.Container{ID: "c1"}
	if err := i.Update(ctx, c, res(t, "cpus:1"), nil); err != nil {
		t.Errorf("Update without mem for a cpu-only isolator: %v", err)
	}
	if l, err := i.Check(ctx, c); l != nil || err != nil {
		t.Errorf("Check = %+v, %v", l, err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if l, err := i.Watch(short, c); l != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Watch = %+v, %v; want the context's deadline", l, err)
	}
}

func TestV2FakeUsage(t *testing.T) {
	t.Parallel()
	h, dir, root := fakeV2(t)
	i := newIsolator(t, isolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/cpu", "cgroups/mem"},
		EnableCFS: true, CountPidsAndTids: true, LimitSwap: true})
	cg := prepareFake(t, i, dir, root, "c1")
	for f, v := range map[string]string{
		"cpu.stat":            "usage_usec 3500000\nuser_usec 2500000\nsystem_usec 1000000\nnr_periods 40\nnr_throttled 7\nthrottled_usec 250000\n",
		"memory.current":      "52428800\n",
		"memory.swap.current": "4096\n",
		"memory.stat":         "anon 41943040\nfile 8388608\nkernel 1048576\nsock 0\nfile_mapped 4096\nunevictable 8192\n",
		"leaf/cgroup.procs":   "101\n102\n",
		"leaf/cgroup.threads": "101\n102\n103\n",
		"cgroup.procs":        "",
		"cgroup.threads":      "",
	} {
		write(t, filepath.Join(cg, f), v)
	}
	got, err := i.Usage(t.Context(), containerizer.Container{ID: "c1"})
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if got.GetTimestamp() <= 0 {
		t.Errorf("timestamp %v", got.Timestamp)
	}
	want := &mesospb.ResourceStatistics{
		CpusUserTimeSecs:      proto.Float64(2.5),
		CpusSystemTimeSecs:    proto.Float64(1),
		CpusNrPeriods:         proto.Uint32(40),
		CpusNrThrottled:       proto.Uint32(7),
		CpusThrottledTimeSecs: proto.Float64(0.25),
		Processes:             proto.Uint32(2),
		Threads:               proto.Uint32(3),
		MemTotalBytes:         proto.Uint64(52428800),
		MemTotalMemswBytes:    proto.Uint64(52428800 + 4096),
		MemFileBytes:          proto.Uint64(8388608),
		MemCacheBytes:         proto.Uint64(8388608),
		MemAnonBytes:          proto.Uint64(41943040),
		MemRssBytes:           proto.Uint64(41943040),
		MemMappedFileBytes:    proto.Uint64(4096),
		MemSwapBytes:          proto.Uint64(4096),
		MemUnevictableBytes:   proto.Uint64(8192),
	}
	if diff := cmp.Diff(want, got, protocmp.Transform(), protocmp.IgnoreFields(&mesospb.ResourceStatistics{}, "timestamp")); diff != "" {
		t.Errorf("Usage (-want +got):\n%s", diff)
	}

	// A container whose cgroups are gone has no usage.
	if s, err := i.Usage(t.Context(), containerizer.Container{ID: "gone"}); err == nil {
		t.Errorf("Usage of a container without cgroups = %v, want an error", s)
	}
}

// TestV1CgroupsBelongToTheUser: the container's user owns its cgroups, not
// their control files (Mesos chowns without recursing).
func TestV1CgroupsBelongToTheUser(t *testing.T) {
	t.Parallel()
	h, root := realV1(t, "memory")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	i := newIsolator(t, isolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/mem"}})
	if _, err := i.Prepare(t.Context(), containerizer.ContainerConfig{ID: "c", User: "nobody"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = i.Cleanup(context.Background(), containerizer.Container{ID: "c"}) })
	owner := func(p string) string {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return strconv.Itoa(int(st.Uid))
	}
	dir := filepath.Join(h.Root(), "memory", root, "c")
	if got := owner(dir); got != nobody.Uid {
		t.Errorf("the cgroup belongs to uid %s, want nobody's %s", got, nobody.Uid)
	}
	if got := owner(filepath.Join(dir, "memory.limit_in_bytes")); got != "0" {
		t.Errorf("a control file belongs to uid %s, want root", got)
	}
}
