//go:build unix

package containerizer

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func launchScript(t *testing.T, p *Posix, id, script string, env ...string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	err := p.Launch(t.Context(), ContainerConfig{
		ID:      id,
		Command: []string{"/bin/sh", "-c", script},
		Env:     append([]string{"PATH=/usr/bin:/bin"}, env...),
		Dir:     dir,
		Stdout:  filepath.Join(dir, "stdout"),
		Stderr:  filepath.Join(dir, "stderr"),
	})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() { _ = p.Destroy(t.Context(), id, 0) })
	return dir
}

func TestPosixLaunchWaitOutput(t *testing.T) {
	p := NewPosix(PosixOptions{})
	dir := launchScript(t, p, "c1", `echo "out $FOO $(pwd)"; echo err >&2; exit 3`, "FOO=bar")
	term, err := p.Wait(t.Context(), "c1")
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if term.ExitCode != 3 || term.Status != 3<<8 || term.Signal != 0 || term.Destroyed {
		t.Errorf("termination = %+v, want exit code 3", term)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "stdout"))
	if got, want := string(out), "out bar "+dir+"\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	errOut, _ := os.ReadFile(filepath.Join(dir, "stderr"))
	if string(errOut) != "err\n" {
		t.Errorf("stderr = %q", errOut)
	}
	// A second Wait answers the same.
	if again, err := p.Wait(t.Context(), "c1"); err != nil || again != term {
		t.Errorf("second Wait = %+v, %v", again, err)
	}
	if err := p.Launch(t.Context(), ContainerConfig{ID: "c1", Command: []string{"true"}}); !errors.Is(err, ErrExists) {
		t.Errorf("relaunch of c1: err = %v, want ErrExists", err)
	}
}

func TestPosixLaunchFailure(t *testing.T) {
	p := NewPosix(PosixOptions{})
	err := p.Launch(t.Context(), ContainerConfig{ID: "x", Command: []string{"/nonexistent/binary"}})
	if !errors.Is(err, ErrLaunch) {
		t.Fatalf("err = %v, want ErrLaunch", err)
	}
	if _, err := p.Wait(t.Context(), "x"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Wait after failed launch: %v, want ErrUnknown", err)
	}
}

func alive(pid int) bool {
	// A zombie still answers kill(0); treat it as dead.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// TestPosixDestroyKillsTree launches a tree whose members ignore SIGTERM,
// one of them in its own process group, and checks that a destroy with a
// grace period leaves nothing behind.
func TestPosixDestroyKillsTree(t *testing.T) {
	p := NewPosix(PosixOptions{})
	script := `trap '' TERM
sleep 300 &
echo $! > pids
(trap '' TERM; sleep 300) &
echo $! >> pids
setsid sleep 300 &
echo $! >> pids
echo ready > ready
wait`
	dir := launchScript(t, p, "tree", script)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tree did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for f := range strings.FieldsSeq(string(b)) {
		n, _ := strconv.Atoi(f)
		pids = append(pids, n)
	}
	if len(p.Containers()) != 1 {
		t.Errorf("Containers() = %v, want one", p.Containers())
	}

	waited := make(chan Termination, 1)
	go func() {
		term, _ := p.Wait(t.Context(), "tree")
		waited <- term
	}()
	start := time.Now()
	if err := p.Destroy(t.Context(), "tree", 300*time.Millisecond); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("Destroy returned after %v, before the grace period (the shell ignores SIGTERM)", d)
	}
	term := <-waited
	if !term.Destroyed || term.Signal != int(syscall.SIGKILL) {
		t.Errorf("termination = %+v, want destroyed by SIGKILL", term)
	}
	deadline = time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d of the tree survived the destroy", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := p.Wait(t.Context(), "tree"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Wait after Destroy: %v, want ErrUnknown", err)
	}
	if err := p.Destroy(t.Context(), "tree", 0); !errors.Is(err, ErrUnknown) {
		t.Errorf("second Destroy: %v, want ErrUnknown", err)
	}
}

// TestPosixExitKillsStragglers checks that the container ends with its
// first process: children left in the group are killed.
func TestPosixExitKillsStragglers(t *testing.T) {
	p := NewPosix(PosixOptions{})
	dir := launchScript(t, p, "s", `sleep 300 & echo $! > pid; exit 0`)
	term, err := p.Wait(t.Context(), "s")
	if err != nil || term.ExitCode != 0 {
		t.Fatalf("Wait = %+v, %v", term, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for pid > 0 && alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("straggler %d survived", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
