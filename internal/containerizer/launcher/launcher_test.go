//go:build linux

package launcher_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/meso-project/meso/internal/cgroups"
	"github.com/meso-project/meso/internal/cgroups/cgroupstest"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/containerizer/launch"
	"github.com/meso-project/meso/internal/containerizer/launcher"
	"github.com/meso-project/meso/internal/testutil"
)

// childEnv makes the test binary a container's command instead of running
// tests. In mode "escape" it starts `sleep 300` in a session of its own,
// writes the sleep's pid to ./pidfile and exits at once: the sleep is
// reparented to init and shares neither the session, the process group nor
// the ancestry of the container's first process, so only a cgroup still
// knows it belongs to the container.
const childEnv = "MESO_LAUNCHER_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	goleak.VerifyTestMain(m)
}

func child(mode string) int {
	if mode != "escape" {
		fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
		return 2
	}
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile("pidfile", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func helper(t *testing.T) []string {
	t.Helper()
	return []string{testutil.MesoBinary(t), "launch"}
}

// env is a container environment: the launch helper looks the command up
// in it.
func env(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH")}, extra...)
}

// fork forks a container and, when the test ends, destroys it and waits
// for its first process to be reaped.
func fork(t *testing.T, l containerizer.Launcher, id string, spec containerizer.ForkSpec) *containerizer.Process {
	t.Helper()
	p, err := l.Fork(t.Context(), id, spec)
	if err != nil {
		t.Fatalf("%s Fork: %v", l.Name(), err)
	}
	t.Cleanup(func() {
		p.Abort()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Destroy(ctx, id, p.Pid()); err != nil {
			t.Errorf("%s Destroy in cleanup: %v", l.Name(), err)
		}
		select {
		case <-p.Done():
		case <-ctx.Done():
			t.Errorf("process %d not reaped", p.Pid())
		}
	})
	return p
}

func waitExit(t *testing.T, p *containerizer.Process) containerizer.Exit {
	t.Helper()
	select {
	case <-p.Done():
		return p.Exit()
	case <-time.After(10 * time.Second):
		t.Fatalf("process %d still runs", p.Pid())
		return containerizer.Exit{}
	}
}

// alive reports whether pid runs; a zombie does not (nobody may ever reap
// a process reparented to this machine's init).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	// Should an assertion fail before the container is destroyed.
	t.Cleanup(func() {
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return pid
}

func procs(t *testing.T, file string) []int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestPosixHoldsUntilRelease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := launcher.NewPosix()
	p := fork(t, l, "held", containerizer.ForkSpec{
		Command: []string{"sh", "-c", "echo ran > marker; exit 3"},
		Env:     env(), Dir: dir, Helper: helper(t),
	})
	marker := filepath.Join(dir, "marker")
	time.Sleep(200 * time.Millisecond) // time enough to run, were it not held
	if exists(marker) {
		t.Fatal("the command ran before Release")
	}
	select {
	case <-p.Done():
		t.Fatalf("the held process ended before Release: %+v", p.Exit())
	default:
	}
	if err := p.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if diff := cmp.Diff(containerizer.Exit{Status: 3 << 8, ExitCode: 3}, waitExit(t, p)); diff != "" {
		t.Errorf("Exit (-want +got):\n%s", diff)
	}
	if !exists(marker) {
		t.Error("the command did not run after Release")
	}
	if err := p.Release(); err != nil {
		t.Errorf("a second Release: %v", err)
	}
}

// The held command does not inherit the release pipe.
func TestPosixReleasePipeNotInherited(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := fork(t, launcher.NewPosix(), "pipe", containerizer.ForkSpec{
		Command: []string{"sh", "-c", "if [ -e /proc/self/fd/3 ]; then exit 9; fi"},
		Env:     env(), Dir: dir, Helper: helper(t),
	})
	if err := p.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if e := waitExit(t, p); e.ExitCode != 0 {
		t.Errorf("Exit = %+v: fd 3 (the release pipe) is open in the command", e)
	}
}

func TestPosixAbort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := fork(t, launcher.NewPosix(), "aborted", containerizer.ForkSpec{
		Command: []string{"sh", "-c", "echo ran > marker"},
		Env:     env(), Dir: dir, Helper: helper(t),
	})
	p.Abort()
	if e := waitExit(t, p); e.ExitCode != launch.ExitAborted {
		t.Errorf("Exit = %+v, want exit code %d", e, launch.ExitAborted)
	}
	if exists(filepath.Join(dir, "marker")) {
		t.Error("an aborted command ran")
	}
}

func TestPosixWithoutHelper(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "stdout")
	p := fork(t, launcher.NewPosix(), "unheld", containerizer.ForkSpec{
		Command: []string{"sh", "-c", "echo $FOO; kill -TERM $$"},
		Env:     env("FOO=bar"), Dir: dir, Stdout: out,
	})
	e := waitExit(t, p) // runs without a Release
	if diff := cmp.Diff(containerizer.Exit{Status: int(syscall.SIGTERM), ExitCode: -1, Signal: int(syscall.SIGTERM)}, e); diff != "" {
		t.Errorf("Exit (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(out); string(b) != "bar\n" {
		t.Errorf("stdout %q, want the environment's FOO", b)
	}
	if err := p.Release(); err != nil {
		t.Errorf("Release without a helper: %v", err)
	}
}

// TestMountsNeedTheHelper: only the launch helper can make mounts in the
// container, so a launch without it cannot have any.
func TestMountsNeedTheHelper(t *testing.T) {
	_, err := containerizer.StartHeld(containerizer.ForkSpec{Command: []string{"true"},
		Launch: containerizer.LaunchInfo{Mounts: []containerizer.Mount{{Target: "/", Flags: syscall.MS_SLAVE}}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "needs the launch helper") {
		t.Errorf("StartHeld = %v", err)
	}
}

func TestPosixForkErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    containerizer.ForkSpec
		wantErr string
	}{
		{"namespaces", containerizer.ForkSpec{Command: []string{"true"}, Launch: containerizer.LaunchInfo{CloneFlags: syscall.CLONE_NEWPID}},
			"namespaces and mounts need the linux launcher"},
		{"no command", containerizer.ForkSpec{}, "no command to run"},
		{"mounts", containerizer.ForkSpec{Command: []string{"true"},
			Launch: containerizer.LaunchInfo{Mounts: []containerizer.Mount{{Target: "/", Flags: syscall.MS_SLAVE}}}},
			"namespaces and mounts need the linux launcher"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := launcher.NewPosix().Fork(t.Context(), "bad", tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				if p != nil {
					<-p.Done()
				}
				t.Errorf("Fork = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// TestPosixKillsTheSession covers processes that outlive the container's
// first process: they stay in its session, where Signal and Destroy find
// them.
func TestPosixKillsTheSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kill func(ctx context.Context, l *launcher.Posix, id string, pid int) error
	}{
		{"destroy", func(ctx context.Context, l *launcher.Posix, id string, pid int) error {
			return l.Destroy(ctx, id, pid)
		}},
		{"signal", func(_ context.Context, l *launcher.Posix, id string, pid int) error {
			return l.Signal(id, pid, syscall.SIGKILL)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			l := launcher.NewPosix()
			id := "session-" + tc.name
			p := fork(t, l, id, containerizer.ForkSpec{
				Command: []string{"sh", "-c", "sleep 300 & echo $! > pidfile; exit 0"},
				Env:     env(), Dir: dir, Helper: helper(t),
			})
			if err := p.Release(); err != nil {
				t.Fatal(err)
			}
			if e := waitExit(t, p); e.ExitCode != 0 {
				t.Fatalf("first process: %+v", e)
			}
			sleep := readPid(t, filepath.Join(dir, "pidfile"))
			if !alive(sleep) {
				t.Fatalf("the background sleep %d is not running", sleep)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := tc.kill(ctx, l, id, p.Pid()); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 5*time.Second, func() bool { return !alive(sleep) },
				"the sleep %d outlived its container", sleep)
			if err := l.Destroy(ctx, id, p.Pid()); err != nil {
				t.Errorf("Destroy of a container with nothing left: %v", err)
			}
		})
	}
}

func TestPosixSignalsARunningTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := launcher.NewPosix()
	p := fork(t, l, "running", containerizer.ForkSpec{
		Command: []string{"sh", "-c", "sleep 300 & echo $! > tmp && mv tmp pidfile; wait"},
		Env:     env(), Dir: dir, Helper: helper(t),
	})
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return exists(filepath.Join(dir, "pidfile")) }, "no pidfile")
	sleep := readPid(t, filepath.Join(dir, "pidfile"))
	if err := l.Signal("running", p.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// sh dies of the signal, unless the sleep's end woke its wait first.
	if e := waitExit(t, p); e.Signal != int(syscall.SIGTERM) && e.ExitCode != 128+int(syscall.SIGTERM) {
		t.Errorf("Exit = %+v, want SIGTERM", e)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return !alive(sleep) }, "the sleep %d survived SIGTERM", sleep)
}

// testEscapee runs a container whose command leaves a process behind that
// escaped its session and ancestry, and checks that the posix launcher
// cannot find it (Mesos's documented limitation of the posix launcher: a
// process that double-forks and calls setsid escapes it) while l, a linux
// launcher, kills it. procsFile is where the container's cgroup lists its
// processes.
func testEscapee(t *testing.T, l *launcher.Linux, cgroupDir, procsFile func(id string) string) {
	t.Helper()
	const id = "escapee"
	dir := t.TempDir()
	p := fork(t, l, id, containerizer.ForkSpec{
		Command: []string{os.Args[0], "-test.run=^$"},
		Env:     env(childEnv + "=escape"), Dir: dir, Stderr: filepath.Join(dir, "stderr"), Helper: helper(t),
	})
	if !exists(cgroupDir(id)) {
		t.Fatalf("no cgroup at %s", cgroupDir(id))
	}
	if got := procs(t, procsFile(id)); !slices.Contains(got, p.Pid()) {
		t.Fatalf("%s = %v, want the held process %d", procsFile(id), got, p.Pid())
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, p); e.ExitCode != 0 {
		b, _ := os.ReadFile(filepath.Join(dir, "stderr"))
		t.Fatalf("first process: %+v; stderr: %s", e, b)
	}
	sleep := readPid(t, filepath.Join(dir, "pidfile"))
	if !alive(sleep) {
		t.Fatalf("the escaped sleep %d is not running", sleep)
	}
	if got := procs(t, procsFile(id)); !slices.Equal(got, []int{sleep}) {
		t.Errorf("%s = %v, want just the escaped sleep %d", procsFile(id), got, sleep)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := launcher.NewPosix().Destroy(ctx, id, p.Pid()); err != nil {
		t.Fatalf("posix Destroy: %v", err)
	}
	if !alive(sleep) {
		t.Error("the posix launcher found a process outside the session and ancestry of the container")
	}

	if err := l.Destroy(ctx, id, p.Pid()); err != nil {
		t.Fatalf("linux Destroy: %v", err)
	}
	if alive(sleep) {
		t.Errorf("the escaped sleep %d outlived the linux launcher's Destroy", sleep)
	}
	if exists(cgroupDir(id)) {
		t.Errorf("the cgroup %s outlived Destroy", cgroupDir(id))
	}
	if err := l.Destroy(ctx, id, p.Pid()); err != nil {
		t.Errorf("a second Destroy: %v", err)
	}
}

// testRecover checks that Recover lists a cgroup left under root.
func testRecover(t *testing.T, l *launcher.Linux, leftover *cgroups.Group) {
	t.Helper()
	if err := leftover.Create(); err != nil {
		t.Fatal(err)
	}
	id := filepath.Base(leftover.Path())
	ids, err := l.Recover(t.Context())
	if err != nil || !slices.Equal(ids, []string{id}) {
		t.Fatalf("Recover = %v, %v; want [%s]", ids, err, id)
	}
	if err := l.Destroy(t.Context(), id, 0); err != nil {
		t.Fatalf("Destroy of the leftover: %v", err)
	}
	if ids, err := l.Recover(t.Context()); err != nil || len(ids) != 0 {
		t.Errorf("Recover after Destroy = %v, %v", ids, err)
	}
}

func TestLinuxV1Freezer(t *testing.T) {
	t.Parallel()
	h := cgroupstest.Real(t, "freezer")
	if h.Version() != cgroups.V1 {
		t.Skip("the host's cgroups are v2; TestLinuxV2 covers the linux launcher")
	}
	root := cgroupstest.Root(t, h)
	l, err := launcher.NewLinux(h, root, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Name() != "linux" || !launcher.Available(h) {
		t.Errorf("Name %q, Available %v", l.Name(), launcher.Available(h))
	}
	dir := func(id string) string { return filepath.Join(h.Root(), "freezer", root, id) }
	t.Run("escapee", func(t *testing.T) {
		testEscapee(t, l, dir, func(id string) string { return filepath.Join(dir(id), "cgroup.procs") })
	})
	t.Run("recover", func(t *testing.T) {
		testRecover(t, l, h.Group(root+"/leftover", "freezer"))
	})
}

func TestLinuxV2(t *testing.T) {
	t.Parallel()
	u := cgroupstest.Unified(t)
	root := cgroupstest.Root(t, u)
	l, err := launcher.NewLinux(u, root, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := func(id string) string { return filepath.Join(u.Root(), root, id) }
	t.Run("escapee", func(t *testing.T) {
		testEscapee(t, l, dir, func(id string) string { return filepath.Join(dir(id), cgroups.Leaf, "cgroup.procs") })
	})
	t.Run("recover", func(t *testing.T) {
		testRecover(t, l, u.Group(root+"/leftover"))
	})
}

func TestLinuxForkFailureLeavesNoCgroup(t *testing.T) {
	t.Parallel()
	h := cgroupstest.Real(t)
	root := cgroupstest.Root(t, h)
	l, err := launcher.NewLinux(h, root, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := l.Fork(t.Context(), "bad", containerizer.ForkSpec{}); err == nil {
		<-p.Done()
		t.Fatal("Fork without a command succeeded")
	}
	if ids, err := l.Recover(t.Context()); err != nil || len(ids) != 0 {
		t.Errorf("cgroups left after a failed Fork: %v, %v", ids, err)
	}
	if _, err := launcher.NewLinux(nil, root, 0); err == nil {
		t.Error("NewLinux without a hierarchy succeeded")
	}
}

// procMounts lists the mounts at /proc in the agent's mount namespace.
func procMounts(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == "/proc" {
			out = append(out, line)
		}
	}
	return out
}

// TestLinuxNamespaces runs a command in the pid and mount namespaces that
// filesystem/linux and namespaces/pid ask for.
func TestLinuxNamespaces(t *testing.T) {
	t.Parallel()
	h := cgroupstest.Real(t)
	root := cgroupstest.Root(t, h)
	l, err := launcher.NewLinux(h, root, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := procMounts(t)
	dir := t.TempDir()
	p := fork(t, l, "ns", containerizer.ForkSpec{
		Command: []string{"sh", "-c", `echo $$ > out; ls /proc | grep -c "^[0-9]" >> out`},
		Env:     env(), Dir: dir, Stderr: filepath.Join(dir, "stderr"), Helper: helper(t),
		Launch: containerizer.LaunchInfo{
			CloneFlags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
			Mounts: []containerizer.Mount{
				{Target: "/", Flags: syscall.MS_SLAVE | syscall.MS_REC},
				{Source: "proc", Target: "/proc", FSType: "proc", Flags: syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC},
			},
		},
	})
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, p); e.ExitCode != 0 {
		b, _ := os.ReadFile(filepath.Join(dir, "stderr"))
		t.Fatalf("Exit %+v; stderr: %s", e, b)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 {
		t.Fatalf("out = %q", b)
	}
	if lines[0] != "1" {
		t.Errorf("the command's pid is %s in its namespace, want 1", lines[0])
	}
	if n, err := strconv.Atoi(lines[1]); err != nil || n < 1 || n > 5 {
		t.Errorf("the container's /proc shows %s processes, want only its own few", lines[1])
	}
	if diff := cmp.Diff(before, procMounts(t)); diff != "" {
		t.Errorf("the agent's /proc mounts changed (-before +after):\n%s", diff)
	}
	if !exists("/proc/" + strconv.Itoa(os.Getpid())) {
		t.Error("the agent's /proc no longer shows the agent")
	}
}
