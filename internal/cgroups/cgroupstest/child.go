//go:build linux

package cgroupstest

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childEnv makes the test binary a container process instead of running
// tests (see RunChild).
const childEnv = "MESO_CGROUPSTEST_CHILD"

var sink int

// RunChild must be called first in the TestMain of a package that uses
// StartChild: in a process StartChild started, it waits for a byte on stdin
// (so that the test can place it in cgroups first), then does what its mode
// says: "sleep", "burn" (spin on a CPU) or "hog:<MB>" (allocate and touch
// that much memory, then sleep), and never returns. In the test process it
// returns at once.
func RunChild() {
	mode := os.Getenv(childEnv)
	if mode == "" {
		return
	}
	var b [1]byte
	_, _ = os.Stdin.Read(b[:])
	switch {
	case mode == "burn":
		for i := 0; ; i++ {
			sink = i
		}
	case strings.HasPrefix(mode, "hog:"):
		n, _ := strconv.Atoi(strings.TrimPrefix(mode, "hog:"))
		var keep [][]byte
		for range n {
			chunk := make([]byte, 1<<20)
			for i := range chunk {
				chunk[i] = 1
			}
			keep = append(keep, chunk)
		}
		sink = len(keep)
	}
	time.Sleep(5 * time.Minute)
	os.Exit(0)
}

// Child is a held test process.
type Child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	done chan struct{}
}

// StartChild starts the test binary in mode (see RunChild), held until
// Release; it is killed and reaped when the test ends.
func StartChild(t testing.TB, mode string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Child{cmd: cmd, in: in, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.done
	})
	return c
}

// Pid is the child's pid.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Release lets the child do what its mode says.
func (c *Child) Release(t testing.TB) {
	t.Helper()
	if _, err := c.in.Write([]byte{1}); err != nil {
		t.Fatalf("releasing the child: %v", err)
	}
}

// Done is closed once the child ended and was reaped.
func (c *Child) Done() <-chan struct{} { return c.done }

// WaitGone waits for the child to end (killed by a test or the OOM killer).
func (c *Child) WaitGone(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("child %d still runs after %v", c.Pid(), timeout)
	}
}
