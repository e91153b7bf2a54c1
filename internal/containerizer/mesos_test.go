//go:build linux

package containerizer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/containerizer/launcher"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/resources"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newMesos starts a containerizer on the posix launcher with the launch
// helper and the given isolators, closed when the test ends.
func newMesos(t *testing.T, isolators ...containerizer.Isolator) *containerizer.Mesos {
	t.Helper()
	m, err := containerizer.New(t.Context(), containerizer.Config{
		Launcher:  launcher.NewPosix(),
		Isolators: isolators,
		Helper:    []string{testutil.MesoBinary(t), "launch"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func shell(t *testing.T, id, script string) containerizer.ContainerConfig {
	t.Helper()
	dir := t.TempDir()
	return containerizer.ContainerConfig{
		ID:        id,
		Command:   []string{"/bin/sh", "-c", script},
		Env:       []string{"PATH=/usr/bin:/bin"},
		Dir:       dir,
		Stdout:    filepath.Join(dir, "stdout"),
		Stderr:    filepath.Join(dir, "stderr"),
		Resources: mustParse(t, "cpus:0.5;mem:64"),
	}
}

func mustParse(t *testing.T, s string) []*mesospb.Resource {
	t.Helper()
	rs, err := resources.Parse(s, "*")
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// launch launches cfg and destroys the container when the test ends.
func launch(t *testing.T, m *containerizer.Mesos, cfg containerizer.ContainerConfig) {
	t.Helper()
	if err := m.Launch(t.Context(), cfg); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() { _ = m.Destroy(context.Background(), cfg.ID, 0) })
}

func wait(t *testing.T, m *containerizer.Mesos, id string) containerizer.Termination {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	term, err := m.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait(%s): %v", id, err)
	}
	return term
}

func TestLaunchWaitDestroy(t *testing.T) {
	m := newMesos(t)
	cfg := shell(t, "c1", `echo "out $FOO $(pwd)"; echo err >&2; exit 3`)
	cfg.Env = append(cfg.Env, "FOO=bar")
	launch(t, m, cfg)
	term := wait(t, m, "c1")
	if term.ExitCode != 3 || term.Status != 3<<8 || term.Signal != 0 || term.Destroyed || term.Limitation != nil {
		t.Errorf("termination = %+v, want exit code 3", term)
	}
	out, _ := os.ReadFile(cfg.Stdout)
	if got, want := string(out), "out bar "+cfg.Dir+"\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if errOut, _ := os.ReadFile(cfg.Stderr); string(errOut) != "err\n" {
		t.Errorf("stderr = %q", errOut)
	}
	// The container stays known, ended, until Destroy forgets it.
	if again := wait(t, m, "c1"); again != term {
		t.Errorf("second Wait = %+v", again)
	}
	if ids, err := m.Containers(t.Context()); err != nil || len(ids) != 0 {
		t.Errorf("Containers = %v, %v; want none live", ids, err)
	}
	if err := m.Launch(t.Context(), shell(t, "c1", "true")); !errors.Is(err, containerizer.ErrExists) {
		t.Errorf("relaunch of c1: %v, want ErrExists", err)
	}
	if err := m.Destroy(t.Context(), "c1", 0); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if _, err := m.Wait(t.Context(), "c1"); !errors.Is(err, containerizer.ErrUnknown) {
		t.Errorf("Wait after Destroy: %v, want ErrUnknown", err)
	}
	if err := m.Destroy(t.Context(), "c1", 0); !errors.Is(err, containerizer.ErrUnknown) {
		t.Errorf("second Destroy: %v, want ErrUnknown", err)
	}
}

// phases records the isolator calls and can fail or block in any phase.
type phases struct {
	name   string
	mu     sync.Mutex
	calls  []string
	fail   map[string]error
	marker string // a file the command creates: it must not exist at Isolate
	ran    bool
	block  chan struct{} // Prepare waits on it when set
	lim    chan *containerizer.Limitation
	check  *containerizer.Limitation
	usage  *mesospb.ResourceStatistics
}

func (p *phases) record(call string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, call)
	return p.fail[call]
}

func (p *phases) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

func (p *phases) Name() string { return p.name }

func (p *phases) Prepare(ctx context.Context, cfg containerizer.ContainerConfig) (*containerizer.LaunchInfo, error) {
	if p.block != nil {
		<-p.block
	}
	return &containerizer.LaunchInfo{Env: []string{"FROM_ISOLATOR=" + p.name}}, p.record("prepare")
}

func (p *phases) Isolate(_ context.Context, c containerizer.Container) error {
	if p.marker != "" {
		// Give a command that was not held every chance to run.
		time.Sleep(200 * time.Millisecond)
		if _, err := os.Stat(p.marker); err == nil {
			p.mu.Lock()
			p.ran = true
			p.mu.Unlock()
		}
	}
	if c.Pid <= 0 || c.Dir == "" {
		return errors.New("isolate without a pid or sandbox")
	}
	return p.record("isolate")
}

func (p *phases) Update(context.Context, containerizer.Container, []*mesospb.Resource, map[string]float64) error {
	return p.record("update")
}

func (p *phases) Watch(ctx context.Context, _ containerizer.Container) (*containerizer.Limitation, error) {
	if p.lim == nil {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	select {
	case l := <-p.lim:
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *phases) Check(context.Context, containerizer.Container) (*containerizer.Limitation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.check, nil
}

func (p *phases) Usage(context.Context, containerizer.Container) (*mesospb.ResourceStatistics, error) {
	if p.usage == nil {
		return nil, errors.New("no usage")
	}
	return p.usage, nil
}

func (p *phases) Cleanup(context.Context, containerizer.Container) error { return p.record("cleanup") }

func TestHeldUntilIsolated(t *testing.T) {
	dir := t.TempDir()
	iso := &phases{name: "test/a", marker: filepath.Join(dir, "ran")}
	m := newMesos(t, iso)
	cfg := shell(t, "held", "touch "+iso.marker+"; echo $FROM_ISOLATOR")
	launch(t, m, cfg)
	if term := wait(t, m, "held"); term.ExitCode != 0 {
		t.Fatalf("termination %+v", term)
	}
	if iso.ran {
		t.Error("the command ran before the isolators released it")
	}
	if _, err := os.Stat(iso.marker); err != nil {
		t.Errorf("the command never ran after its release: %v", err)
	}
	if out, _ := os.ReadFile(cfg.Stdout); string(out) != "test/a\n" {
		t.Errorf("the isolator's environment did not reach the command: stdout %q", out)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return len(iso.got()) == 4 }, "phases %v", iso.got())
	if diff := cmp.Diff([]string{"prepare", "isolate", "update", "cleanup"}, iso.got()); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
}

func TestFailedPhasesLeaveNothing(t *testing.T) {
	for _, phase := range []string{"prepare", "isolate", "update"} {
		t.Run(phase, func(t *testing.T) {
			first := &phases{name: "test/first"}
			failing := &phases{name: "test/failing", fail: map[string]error{phase: errors.New("refused in " + phase)}}
			m := newMesos(t, first, failing)
			cfg := shell(t, "c", "touch ran")
			err := m.Launch(t.Context(), cfg)
			var le *containerizer.LaunchError
			if !errors.As(err, &le) || !errors.Is(err, containerizer.ErrLaunch) || !strings.Contains(le.Err.Error(), "refused in "+phase) {
				t.Fatalf("Launch = %v, want a LaunchError naming the cause", err)
			}
			if _, err := os.Stat(filepath.Join(cfg.Dir, "ran")); err == nil {
				t.Error("the command ran")
			}
			for _, iso := range []*phases{first, failing} {
				if calls := iso.got(); calls[len(calls)-1] != "cleanup" {
					t.Errorf("%s: phases %v, want a cleanup last", iso.name, calls)
				}
			}
			if ids, _ := m.Containers(t.Context()); len(ids) != 0 {
				t.Errorf("containers left: %v", ids)
			}
			// The ID is free again.
			if _, err := m.Wait(t.Context(), "c"); !errors.Is(err, containerizer.ErrUnknown) {
				t.Errorf("Wait of the failed container: %v", err)
			}
		})
	}
}

func TestContainerInfoRefusals(t *testing.T) {
	m := newMesos(t)
	docker := mesospb.ContainerInfo_DOCKER
	mesos := mesospb.ContainerInfo_MESOS
	dockerImage := mesospb.Image_DOCKER
	tests := []struct {
		name    string
		ci      *mesospb.ContainerInfo
		sentry  error
		message string
	}{
		{"docker", &mesospb.ContainerInfo{Type: &docker, Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("busybox")}},
			containerizer.ErrNotSupported, "docker containerizer"},
		{"image", &mesospb.ContainerInfo{Type: &mesos, Mesos: &mesospb.ContainerInfo_MesosInfo{
			Image: &mesospb.Image{Type: &dockerImage, Docker: &mesospb.Image_Docker{Name: proto.String("busybox")}}}},
			containerizer.ErrLaunch, "Unsupported container image type: DOCKER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := shell(t, "c-"+strings.ReplaceAll(tc.name, " ", "-"), "touch ran")
			cfg.ContainerInfo = tc.ci
			err := m.Launch(t.Context(), cfg)
			if !errors.Is(err, tc.sentry) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("Launch = %v, want %v mentioning %q", err, tc.sentry, tc.message)
			}
			if _, err := os.Stat(filepath.Join(cfg.Dir, "ran")); err == nil {
				t.Error("the command ran on the host")
			}
		})
	}
}

func TestLimitationDestroysTheContainer(t *testing.T) {
	iso := &phases{name: "test/limit", lim: make(chan *containerizer.Limitation, 1)}
	m := newMesos(t, iso)
	launch(t, m, shell(t, "limited", "sleep 300"))
	want := &containerizer.Limitation{Reason: mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY,
		Message: "Memory limit exceeded", Resources: mustParse(t, "mem:64")}
	iso.lim <- want
	term := wait(t, m, "limited")
	if !term.Destroyed || term.Signal != int(syscall.SIGKILL) {
		t.Errorf("termination %+v, want destroyed by SIGKILL", term)
	}
	if diff := cmp.Diff(want, term.Limitation, protocmp.Transform()); diff != "" {
		t.Errorf("limitation (-want +got):\n%s", diff)
	}
}

func TestStatusReportsAndActsOnAnAlreadyHitLimit(t *testing.T) {
	iso := &phases{name: "test/check"}
	m := newMesos(t, iso)
	cfg := shell(t, "checked", "sleep 300")
	launch(t, m, cfg)
	st, err := m.Status(t.Context(), "checked")
	if err != nil {
		t.Fatal(err)
	}
	if st.Limitation != nil || st.ContainerStatus.GetContainerId().GetValue() != "checked" || st.ContainerStatus.GetExecutorPid() == 0 {
		t.Errorf("Status = %v, limitation %v", st.ContainerStatus, st.Limitation)
	}
	iso.mu.Lock()
	iso.check = &containerizer.Limitation{Reason: mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY, Message: "oom"}
	iso.mu.Unlock()
	st, err = m.Status(t.Context(), "checked")
	if err != nil || st.Limitation == nil || st.Limitation.Message != "oom" {
		t.Fatalf("Status after the limit = %v, %v", st.Limitation, err)
	}
	if term := wait(t, m, "checked"); term.Limitation == nil || !term.Destroyed {
		t.Errorf("termination %+v, want the limitation", term)
	}
}

func TestUsageMergesAndAddsLimits(t *testing.T) {
	iso := &phases{name: "test/usage", usage: &mesospb.ResourceStatistics{Timestamp: proto.Float64(1), MemRssBytes: proto.Uint64(1234)}}
	m, err := containerizer.New(t.Context(), containerizer.Config{Launcher: launcher.NewPosix(),
		Isolators: []containerizer.Isolator{iso}, CFSQuota: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	cfg := shell(t, "usage", "sleep 300")
	launch(t, m, cfg)
	st, err := m.Usage(t.Context(), "usage")
	if err != nil {
		t.Fatal(err)
	}
	want := &mesospb.ResourceStatistics{
		MemRssBytes: proto.Uint64(1234), CpusSoftLimit: proto.Float64(0.5), CpusLimit: proto.Float64(0.5),
		MemSoftLimitBytes: proto.Uint64(64 << 20), MemLimitBytes: proto.Uint64(64 << 20),
	}
	if diff := cmp.Diff(want, st, protocmp.Transform(), protocmp.IgnoreFields(&mesospb.ResourceStatistics{}, "timestamp")); diff != "" {
		t.Errorf("Usage (-want +got):\n%s", diff)
	}
	if st.GetTimestamp() < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("timestamp %v is not now", st.GetTimestamp())
	}
	// A task joining the container grows it; limits above the requests show.
	if err := m.Update(t.Context(), "usage", mustParse(t, "cpus:1.5;mem:192"), map[string]float64{"mem": 256}); err != nil {
		t.Fatal(err)
	}
	st, _ = m.Usage(t.Context(), "usage")
	if st.GetCpusLimit() != 1.5 || st.GetMemSoftLimitBytes() != 192<<20 || st.GetMemLimitBytes() != 256<<20 {
		t.Errorf("after Update: cpus_limit %v mem_soft %v mem_limit %v", st.GetCpusLimit(), st.GetMemSoftLimitBytes(), st.GetMemLimitBytes())
	}
	if diff := cmp.Diff([]string{"prepare", "isolate", "update", "update"}, iso.got()); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if _, err := m.Usage(t.Context(), "nope"); !errors.Is(err, containerizer.ErrUnknown) {
		t.Errorf("Usage of an unknown container: %v", err)
	}
}

func TestDestroyDuringLaunch(t *testing.T) {
	iso := &phases{name: "test/slow", block: make(chan struct{})}
	m := newMesos(t, iso)
	cfg := shell(t, "slow", "touch ran; sleep 300")
	launched := make(chan error, 1)
	go func() { launched <- m.Launch(context.Background(), cfg) }()
	testutil.Eventually(t, 5*time.Second, func() bool {
		ids, _ := m.Containers(t.Context())
		return len(ids) == 1
	}, "the launch never registered the container")
	destroyed := make(chan error, 1)
	go func() { destroyed <- m.Destroy(context.Background(), "slow", 0) }()
	time.Sleep(50 * time.Millisecond)
	close(iso.block)
	if err := <-launched; !errors.Is(err, containerizer.ErrLaunch) || !strings.Contains(err.Error(), "destroyed during its launch") {
		t.Errorf("Launch = %v, want a launch destroyed", err)
	}
	if err := <-destroyed; err != nil && !errors.Is(err, containerizer.ErrUnknown) {
		t.Errorf("Destroy = %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "ran")); err == nil {
		t.Error("the command ran")
	}
}

func TestDestroyGraceThenKill(t *testing.T) {
	m := newMesos(t)
	// The first process ignores SIGTERM; a child in its session too.
	cfg := shell(t, "stubborn", `trap "" TERM; sleep 300 & echo $! > child; wait`)
	launch(t, m, cfg)
	var child int
	testutil.Eventually(t, 5*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(cfg.Dir, "child"))
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && child > 0
	}, "no child pid")
	start := time.Now()
	if err := m.Destroy(t.Context(), "stubborn", 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("Destroy took %v, less than the grace", d)
	}
	if alive(child) {
		t.Errorf("child %d survived the destroy", child)
	}
}

// alive reports whether pid is a live process (a zombie, killed and waiting
// for its new parent to reap it, is not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) < i+3 || s[i+2] != 'Z'
}

func TestCloseLeavesContainersRunning(t *testing.T) {
	m, err := containerizer.New(t.Context(), containerizer.Config{Launcher: launcher.NewPosix()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := shell(t, "survivor", "echo $$ > pid; sleep 300")
	if err := m.Launch(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	var pid int
	testutil.Eventually(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(cfg.Dir, "pid"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return pid > 0
	}, "no pid")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !alive(pid) {
		t.Fatal("the container did not outlive Close")
	}
	if err := m.Launch(t.Context(), shell(t, "late", "true")); !errors.Is(err, containerizer.ErrStopped) {
		t.Errorf("Launch after Close: %v", err)
	}
	// Clean up through the launcher, as an agent restart would.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := launcher.NewPosix().Destroy(ctx, "survivor", pid); err != nil {
		t.Fatal(err)
	}
	// The process's waiter ends once it is reaped.
	testutil.Eventually(t, 5*time.Second, func() bool { return !alive(pid) }, "still alive")
}

// stuckLauncher is the posix launcher whose Destroy cannot kill anything,
// as when a process is stuck in the kernel.
type stuckLauncher struct{ *launcher.Posix }

func (stuckLauncher) Destroy(context.Context, string, int) error {
	return errors.New("1 process left: context deadline exceeded")
}

// TestDestroyThatCannotKill: a destroy whose processes will not die
// reports the failure (the termination and container_destroy_errors)
// instead of hanging.
func TestDestroyThatCannotKill(t *testing.T) {
	defer containerizer.SetUnkillableWait(100 * time.Millisecond)()
	m, err := containerizer.New(t.Context(), containerizer.Config{Launcher: stuckLauncher{launcher.NewPosix()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	cfg := shell(t, "stuck", "echo $$ > pid; sleep 300")
	if err := m.Launch(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	pid := 0
	testutil.Eventually(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(cfg.Dir, "pid"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return pid > 0
	}, "no pid")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = launcher.NewPosix().Destroy(ctx, "stuck", pid)
		testutil.Eventually(t, 5*time.Second, func() bool { return !alive(pid) }, "still alive")
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan containerizer.Termination, 1)
	go func() {
		term, _ := m.Wait(ctx, "stuck")
		done <- term
	}()
	if err := m.Destroy(ctx, "stuck", 0); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	term := <-done
	if !term.Destroyed || !strings.Contains(term.Message, "failed to kill the container's processes") {
		t.Errorf("termination %+v", term)
	}
	metrics, err := m.Metrics(t.Context())
	if err != nil || metrics["containerizer/mesos/container_destroy_errors"] != 1 {
		t.Errorf("metrics %v, %v", metrics, err)
	}
}

// TestRecoverAdoptsLiveContainers: Recover adopts a container whose first
// process lives (it keeps running, and a destroy kills it), and ends at
// once one whose process is gone, with an unknown exit status.
func TestRecoverAdoptsLiveContainers(t *testing.T) {
	m := newMesos(t)
	live := exec.Command("sleep", "60")
	live.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	reaped := make(chan struct{})
	go func() { _ = live.Wait(); close(reaped) }()
	t.Cleanup(func() { _ = live.Process.Kill(); <-reaped })
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	if err := m.Recover(t.Context(), []containerizer.Recovered{
		{ID: "live", Pid: live.Process.Pid, Dir: t.TempDir()},
		{ID: "gone", Pid: gone.Process.Pid, Dir: t.TempDir()},
	}); err != nil {
		t.Fatal(err)
	}
	if term := wait(t, m, "gone"); term.Message == "" || term.ExitCode != -1 {
		t.Errorf("gone: termination %+v, want an unknown exit status", term)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	_, err := m.Wait(ctx, "live")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the adopted container ended while its process runs: %v", err)
	}
	ids, _ := m.Containers(t.Context())
	if !slices.Contains(ids, "live") {
		t.Errorf("containers %v lack the adopted one", ids)
	}
	if err := m.Destroy(t.Context(), "live", 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reaped:
	case <-time.After(10 * time.Second):
		t.Fatal("destroying the adopted container did not kill its process")
	}
}

// fetchPlan is a fetch plan (the agent's fetcher.Plan JSON, Mesos's
// FetcherInfo) that copies src into the sandbox.
func fetchPlan(id, sandbox, src string) []byte {
	return []byte(fmt.Sprintf(`{"container_id":%q,"sandbox_directory":%q,"items":[{"uri":{"value":%q},"action":"BYPASS_CACHE"}]}`,
		id, sandbox, src))
}

// TestFetchInTheContainer: the launch helper runs the fetch once released
// and before the command, with the fetcher's lines in the sandbox's stderr;
// a failed fetch fails the launch with the fetcher's message and the
// command never runs.
func TestFetchInTheContainer(t *testing.T) {
	m := newMesos(t)
	if !m.FetchesInContainer() {
		t.Fatal("a containerizer with a launch helper does not fetch in the container")
	}
	src := filepath.Join(t.TempDir(), "payload.txt")
	if err := os.WriteFile(src, []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := shell(t, "f1", `cat payload.txt; echo " pid $$"`)
	cfg.Fetch = fetchPlan("f1", cfg.Dir, src)
	launch(t, m, cfg)
	if term := wait(t, m, "f1"); term.ExitCode != 0 {
		t.Fatalf("termination %+v", term)
	}
	if out, _ := os.ReadFile(cfg.Stdout); !strings.HasPrefix(string(out), "payload pid ") {
		t.Errorf("stdout = %q, want the fetched file", out)
	}
	errOut, _ := os.ReadFile(cfg.Stderr)
	for _, want := range []string{"Fetching URI '" + src + "'", "Successfully fetched all URIs into '" + cfg.Dir + "'"} {
		if !strings.Contains(string(errOut), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	bad := shell(t, "f2", "touch ran")
	bad.Fetch = fetchPlan("f2", bad.Dir, "/nonexistent/payload")
	err := m.Launch(t.Context(), bad)
	var le *containerizer.LaunchError
	if !errors.As(err, &le) || !errors.Is(err, containerizer.ErrFetch) ||
		!strings.HasPrefix(le.Err.Error(), "Failed to fetch all URIs for container 'f2': Failed to fetch '/nonexistent/payload': ") {
		t.Fatalf("Launch with a failing fetch = %v, want a LaunchError with the fetcher's message", err)
	}
	if _, err := os.Stat(filepath.Join(bad.Dir, "ran")); err == nil {
		t.Error("the command ran after a failed fetch")
	}
	if ids, _ := m.Containers(t.Context()); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
}

// A destroy during the fetch kills it and fails the launch.
func TestDestroyDuringFetch(t *testing.T) {
	m := newMesos(t)
	fifo := filepath.Join(t.TempDir(), "never-written")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := shell(t, "stuck", "touch ran")
	cfg.Fetch = fetchPlan("stuck", cfg.Dir, fifo) // opening a FIFO with no writer blocks
	launched := make(chan error, 1)
	go func() { launched <- m.Launch(context.Background(), cfg) }()
	testutil.Eventually(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(cfg.Stderr)
		return strings.Contains(string(b), "Fetching URI '"+fifo+"'")
	}, "the fetch did not start")
	// The plan (its URIs may hold credentials) is not on the command line,
	// which every user can read.
	st, err := m.Status(t.Context(), "stuck")
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.ContainerStatus.GetExecutorPid()))
	if err != nil || strings.Contains(string(cmdline), fifo) || !strings.Contains(string(cmdline), "launch") {
		t.Errorf("the fetching helper's command line: %q, %v", cmdline, err)
	}
	if err := m.Destroy(t.Context(), "stuck", 0); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	select {
	case err := <-launched:
		if !errors.Is(err, containerizer.ErrLaunch) || !errors.Is(err, containerizer.ErrFetch) {
			t.Errorf("Launch = %v, want a failed launch", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Launch did not return after the destroy")
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "ran")); err == nil {
		t.Error("the command ran")
	}
}
