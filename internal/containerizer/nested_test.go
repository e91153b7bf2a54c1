//go:build linux

package containerizer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/cgroups"
	"github.com/meso-project/meso/internal/cgroups/cgroupstest"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/containerizer/ioswitchboard"
	cgisolator "github.com/meso-project/meso/internal/containerizer/isolator/cgroups"
	"github.com/meso-project/meso/internal/containerizer/launcher"
	"github.com/meso-project/meso/internal/testutil"
)

// nested is the config of a nested container running script; the
// containerizer fills its sandbox and output.
func nested(id, script string) containerizer.ContainerConfig {
	return containerizer.ContainerConfig{ID: id, Command: []string{"/bin/sh", "-c", script},
		Env: []string{"PATH=/usr/bin:/bin"}}
}

// pidOf reads the pid a container's script wrote to file, waiting for it.
func pidOf(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if s := strings.TrimSpace(string(b)); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(s)
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", file)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNestedLaunchWaitRemove(t *testing.T) {
	m := newMesos(t)
	parent := shell(t, "p", "sleep 60")
	launch(t, m, parent)

	if err := m.Launch(t.Context(), nested("p.c", `echo "in $(pwd)"; echo err >&2; exit 7`)); err != nil {
		t.Fatalf("nested Launch: %v", err)
	}
	term := wait(t, m, "p.c")
	if term.ExitCode != 7 || term.Status != 7<<8 || term.Destroyed {
		t.Errorf("nested termination = %+v, want exit code 7", term)
	}
	sandbox := filepath.Join(parent.Dir, "containers", "c")
	if got := containerizer.SandboxPath(parent.Dir, "p.c"); got != sandbox {
		t.Errorf("SandboxPath = %s, want %s", got, sandbox)
	}
	if out, err := os.ReadFile(filepath.Join(sandbox, "stdout")); err != nil || string(out) != "in "+sandbox+"\n" {
		t.Errorf("nested stdout = %q, %v", out, err)
	}
	if out, _ := os.ReadFile(filepath.Join(sandbox, "stderr")); string(out) != "err\n" {
		t.Errorf("nested stderr = %q", out)
	}
	// Ended, it stays known (Mesos's checkpointed termination) through a
	// Destroy, and Kill no longer finds it.
	if err := m.Destroy(t.Context(), "p.c", 0); err != nil {
		t.Errorf("Destroy of an ended nested container: %v", err)
	}
	if again := wait(t, m, "p.c"); again != term {
		t.Errorf("Wait after Destroy = %+v, want %+v", again, term)
	}
	if err := m.Kill(t.Context(), "p.c", syscall.SIGKILL); !errors.Is(err, containerizer.ErrUnknown) {
		t.Errorf("Kill of an ended container: %v, want ErrUnknown", err)
	}
	if err := m.Remove(t.Context(), "p.c"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(sandbox); !os.IsNotExist(err) {
		t.Errorf("the nested sandbox is still there: %v", err)
	}
	if _, err := m.Wait(t.Context(), "p.c"); !errors.Is(err, containerizer.ErrUnknown) {
		t.Errorf("Wait after Remove: %v, want ErrUnknown", err)
	}
	// The ID can be used again; a running container cannot be removed.
	if err := m.Launch(t.Context(), nested("p.c", "sleep 60")); err != nil {
		t.Fatalf("relaunch: %v", err)
	}
	if err := m.Launch(t.Context(), nested("p.c", "true")); !errors.Is(err, containerizer.ErrExists) {
		t.Errorf("launch of a running ID: %v, want ErrExists", err)
	}
	if err := m.Remove(t.Context(), "p.c"); !errors.Is(err, containerizer.ErrNotTerminated) {
		t.Errorf("Remove of a running container: %v, want ErrNotTerminated", err)
	}
	if err := m.Kill(t.Context(), "p.c", syscall.SIGTERM); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if term := wait(t, m, "p.c"); term.Signal != int(syscall.SIGTERM) {
		t.Errorf("killed termination = %+v, want SIGTERM", term)
	}
	// The parent runs on.
	if ids, _ := m.Containers(t.Context()); len(ids) != 1 || ids[0] != "p" {
		t.Errorf("Containers = %v, want [p]", ids)
	}
}

func TestNestedLaunchRefusals(t *testing.T) {
	m := newMesos(t)
	err := m.Launch(t.Context(), nested("none.c", "true"))
	var le *containerizer.LaunchError
	if !errors.As(err, &le) || le.Err.Error() != "Parent container none does not exist" {
		t.Errorf("launch under an unknown parent: %v", err)
	}
	launch(t, m, shell(t, "ended", "true"))
	wait(t, m, "ended")
	if err := m.Launch(t.Context(), nested("ended.c", "true")); err == nil ||
		!strings.Contains(err.Error(), "Parent container ended does not exist") {
		t.Errorf("launch under an ended parent: %v", err)
	}
	if err := m.Remove(t.Context(), "none.c"); !errors.Is(err, containerizer.ErrUnknown) {
		t.Errorf("Remove under an unknown root: %v, want ErrUnknown", err)
	}
}

func TestDestroyingTheParentDestroysItsChildrenFirst(t *testing.T) {
	m := newMesos(t)
	parent := shell(t, "p", "sleep 60")
	launch(t, m, parent)
	for _, id := range []string{"p.a", "p.b"} {
		if err := m.Launch(t.Context(), nested(id, "echo $$ > pid; exec sleep 60")); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Launch(t.Context(), nested("p.a.x", "echo $$ > pid; exec sleep 60")); err != nil {
		t.Fatalf("twice nested: %v", err)
	}
	var pids []int
	for _, id := range []string{"p.a", "p.b", "p.a.x"} {
		pids = append(pids, pidOf(t, filepath.Join(containerizer.SandboxPath(parent.Dir, id), "pid")))
	}
	if err := m.Destroy(t.Context(), "p", 0); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for i, pid := range pids {
		if alive(pid) {
			t.Errorf("nested process %d (%d) survived its parent's destroy", i, pid)
		}
	}
	for _, id := range []string{"p.a", "p.b", "p.a.x"} {
		if _, err := m.Wait(t.Context(), id); !errors.Is(err, containerizer.ErrUnknown) {
			t.Errorf("Wait(%s) after the parent's destroy: %v, want ErrUnknown", id, err)
		}
	}
}

func TestParentExitDestroysChildren(t *testing.T) {
	m := newMesos(t)
	parent := shell(t, "p", "read line") // ends when its stdin (/dev/null) ends... at once
	parent.Command = []string{"/bin/sh", "-c", "while [ ! -e go ]; do sleep 0.05; done"}
	launch(t, m, parent)
	if err := m.Launch(t.Context(), nested("p.c", "echo $$ > pid; exec sleep 60")); err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, filepath.Join(parent.Dir, "containers", "c", "pid"))
	if err := os.WriteFile(filepath.Join(parent.Dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if term := wait(t, m, "p"); term.ExitCode != 0 {
		t.Errorf("parent termination = %+v", term)
	}
	if alive(pid) {
		t.Error("the nested container outlived its parent's first process")
	}
}

func TestDebugContainerSwitchboard(t *testing.T) {
	m := newMesos(t)
	parent := shell(t, "p", "sleep 60")
	launch(t, m, parent)
	cfg := nested("p.s", "cat")
	cfg.Debug = true
	if err := m.Launch(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	sb, err := m.Attach(t.Context(), "p.s")
	if err != nil {
		t.Fatal(err)
	}
	out, err := sb.Output(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	in, err := sb.Input()
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if err := in.Write(nil); err != nil {
		t.Fatal(err)
	}
	in.Close()
	var got strings.Builder
	timeout := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case o, ok := <-out:
			if !ok {
				done = true
				break
			}
			if o.Stream == ioswitchboard.Stdout {
				got.Write(o.Data)
			}
		case <-timeout:
			t.Fatalf("output so far %q", got.String())
		}
	}
	if got.String() != "hello\n" {
		t.Errorf("session output = %q", got.String())
	}
	if term := wait(t, m, "p.s"); term.ExitCode != 0 {
		t.Errorf("cat ended %+v", term)
	}
	if log, _ := os.ReadFile(filepath.Join(parent.Dir, "containers", "s", "stdout")); string(log) != "hello\n" {
		t.Errorf("stdout log = %q", log)
	}
	if _, err := m.Attach(t.Context(), "p"); !errors.Is(err, containerizer.ErrNoSwitchboard) {
		t.Errorf("Attach to a container without a switchboard: %v", err)
	}
}

func TestTTYContainer(t *testing.T) {
	m := newMesos(t)
	cfg := shell(t, "t", "test -t 0 && test -t 1 && stty size")
	cfg.ContainerInfo = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(),
		TtyInfo: &mesospb.TTYInfo{WindowSize: &mesospb.TTYInfo_WindowSize{Rows: proto.Uint32(33), Columns: proto.Uint32(99)}}}
	launch(t, m, cfg)
	if term := wait(t, m, "t"); term.ExitCode != 0 {
		t.Errorf("the container has no terminal: %+v", term)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		out, _ := os.ReadFile(cfg.Stdout)
		if strings.Contains(string(out), "33 99") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("stdout = %q, want the window size", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNestedSharesItsRootsCgroups(t *testing.T) {
	h := cgroupstest.Real(t, "freezer", "memory")
	if h.Version() != cgroups.V1 {
		t.Skip("the host's cgroups are v2; this test reads v1 paths")
	}
	root := cgroupstest.Root(t, h)
	l, err := launcher.NewLinux(h, root, 0)
	if err != nil {
		t.Fatal(err)
	}
	iso, err := cgisolator.New(cgisolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/mem"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iso.Close() })
	m, err := containerizer.New(t.Context(), containerizer.Config{Launcher: l, Isolators: []containerizer.Isolator{iso},
		Helper: []string{testutil.MesoBinary(t), "launch"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	parent := shell(t, "p", "sleep 60")
	launch(t, m, parent)
	if err := m.Launch(t.Context(), nested("p.c", "echo $$ > pid; exec sleep 60")); err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, filepath.Join(parent.Dir, "containers", "c", "pid"))
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{":memory:/" + root + "/p\n", ":freezer:/" + root + "/p/mesos/c\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the nested process's cgroups:\n%s\nwant a line ending %q", b, want)
		}
	}
	if err := m.Kill(t.Context(), "p.c", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait(t, m, "p.c")
	if _, err := os.Stat(filepath.Join(h.Root(), "freezer", root, "p", "mesos", "c")); !os.IsNotExist(err) {
		t.Errorf("the nested freezer cgroup is left: %v", err)
	}
	if err := m.Launch(t.Context(), nested("p.d", "echo $$ > pid; exec sleep 60")); err != nil {
		t.Fatal(err)
	}
	pid = pidOf(t, filepath.Join(parent.Dir, "containers", "d", "pid"))
	if err := m.Destroy(t.Context(), "p", 0); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Error("the nested process survived")
	}
	for _, c := range []string{"freezer", "memory"} {
		if _, err := os.Stat(filepath.Join(h.Root(), c, root, "p")); !os.IsNotExist(err) {
			t.Errorf("the %s cgroup of p is left: %v", c, err)
		}
	}
}

func TestNestedWithCgroupsOfItsOwn(t *testing.T) {
	h := cgroupstest.Real(t, "freezer", "memory")
	if h.Version() != cgroups.V1 {
		t.Skip("the host's cgroups are v2; this test reads v1 paths")
	}
	root := cgroupstest.Root(t, h)
	l, err := launcher.NewLinux(h, root, 0)
	if err != nil {
		t.Fatal(err)
	}
	iso, err := cgisolator.New(cgisolator.Options{Hierarchy: h, Root: root, Isolation: []string{"cgroups/mem"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iso.Close() })
	m, err := containerizer.New(t.Context(), containerizer.Config{Launcher: l, Isolators: []containerizer.Isolator{iso},
		Helper: []string{testutil.MesoBinary(t), "launch"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	parent := shell(t, "p", "sleep 60")
	launch(t, m, parent)
	cfg := nested("p.c", "echo $$ > pid; exec sleep 60")
	cfg.ContainerInfo = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(),
		LinuxInfo: &mesospb.LinuxInfo{ShareCgroups: proto.Bool(false)}}
	cfg.Resources = mustParse(t, "cpus:0.1;mem:48")
	if err := m.Launch(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, filepath.Join(parent.Dir, "containers", "c", "pid"))
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := ":memory:/" + root + "/p/mesos/c\n"; !strings.Contains(string(b), want) {
		t.Errorf("the nested process's cgroups:\n%s\nwant a line ending %q", b, want)
	}
	limit, err := os.ReadFile(filepath.Join(h.Root(), "memory", root, "p", "mesos", "c", "memory.limit_in_bytes"))
	if err != nil || strings.TrimSpace(string(limit)) != strconv.Itoa(48<<20) {
		t.Errorf("the nested memory limit = %q, %v; want 48 MB", limit, err)
	}
	if err := m.Destroy(t.Context(), "p", 0); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Error("the nested process survived")
	}
	for _, c := range []string{"freezer", "memory"} {
		if _, err := os.Stat(filepath.Join(h.Root(), c, root, "p")); !os.IsNotExist(err) {
			t.Errorf("the %s cgroup of p is left: %v", c, err)
		}
	}
}
