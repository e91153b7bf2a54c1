package posix_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/containerizer/isolator/posix"
)

func requireProc(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no procfs: %v", err)
	}
}

// startTree runs script under sh in a process group of its own and kills
// the whole group when the test ends.
func startTree(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %q: %v", script, err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return pid
}

// childrenOf returns the pids whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name: state ppid ...
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			p, err := strconv.Atoi(e.Name())
			if err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// waitChildren waits until pid has n children.
func waitChildren(t *testing.T, pid, n int) []int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := childrenOf(t, pid)
		if len(c) >= n {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d has children %v, want %d", pid, c, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func cpuSecs(t *testing.T, pid int) float64 {
	t.Helper()
	st, err := posix.NewCPU().Usage(t.Context(), containerizer.Container{ID: "c", Pid: pid})
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if st.CpusUserTimeSecs == nil || st.CpusSystemTimeSecs == nil {
		t.Fatalf("Usage(%d) has no cpu times: %v", pid, st)
	}
	if st.MemRssBytes != nil {
		t.Errorf("posix/cpu reported memory: %v", st)
	}
	return st.GetCpusUserTimeSecs() + st.GetCpusSystemTimeSecs()
}

func rssBytes(t *testing.T, pid int) uint64 {
	t.Helper()
	st, err := posix.NewMem().Usage(t.Context(), containerizer.Container{ID: "c", Pid: pid})
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if st.MemRssBytes == nil {
		t.Fatalf("Usage(%d) has no rss: %v", pid, st)
	}
	if st.CpusUserTimeSecs != nil || st.CpusSystemTimeSecs != nil {
		t.Errorf("posix/mem reported cpu: %v", st)
	}
	return st.GetMemRssBytes()
}

func TestNames(t *testing.T) {
	if got := posix.NewCPU().Name(); got != "posix/cpu" {
		t.Errorf("NewCPU().Name() = %q", got)
	}
	if got := posix.NewMem().Name(); got != "posix/mem" {
		t.Errorf("NewMem().Name() = %q", got)
	}
}

// TestCPUSumsChildren burns CPU in two children of an idle shell: the tree's
// time grows and is well above the shell's own.
func TestCPUSumsChildren(t *testing.T) {
	requireProc(t)
	pid := startTree(t, "yes > /dev/null & yes > /dev/null & wait")
	kids := waitChildren(t, pid, 2)

	before := cpuSecs(t, pid)
	deadline := time.Now().Add(10 * time.Second)
	var after float64
	for {
		time.Sleep(100 * time.Millisecond)
		if after = cpuSecs(t, pid); after >= before+0.2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cpu time of the tree went from %v to %v in 10s", before, after)
		}
	}
	// CPU times only grow: the tree, measured last, holds at least both
	// children's time (the shell itself is idle in wait).
	kidsTime := cpuSecs(t, kids[0]) + cpuSecs(t, kids[1])
	if tree := cpuSecs(t, pid); kidsTime < 0.2 || tree < kidsTime {
		t.Errorf("tree cpu %vs, children's %vs: want the tree to hold its children's", tree, kidsTime)
	}
}

// TestMemSumsChildren checks the tree's rss is the root's plus its
// children's (sleep's rss does not change while it sleeps).
func TestMemSumsChildren(t *testing.T) {
	requireProc(t)
	pid := startTree(t, "sleep 30 & sleep 30 & wait")
	kids := waitChildren(t, pid, 2)
	// Let the children finish exec'ing sleep.
	time.Sleep(100 * time.Millisecond)

	var sum uint64
	for _, k := range kids {
		r := rssBytes(t, k)
		if r == 0 {
			t.Errorf("rss of child %d is 0", k)
		}
		sum += r
	}
	tree := rssBytes(t, pid)
	if tree <= sum {
		t.Errorf("tree rss %d is not above its children's sum %d", tree, sum)
	}
	page := uint64(os.Getpagesize())
	if tree%page != 0 {
		t.Errorf("tree rss %d is not a whole number of %d-byte pages", tree, page)
	}
}

// TestSelf measures this test process: a live tree with a known root.
func TestSelf(t *testing.T) {
	requireProc(t)
	if rssBytes(t, os.Getpid()) == 0 {
		t.Error("rss of the test process is 0")
	}
	cpuSecs(t, os.Getpid())
}

func TestUnknownPid(t *testing.T) {
	requireProc(t)
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	isolators := []containerizer.Usager{posix.NewCPU(), posix.NewMem()}
	for _, pid := range []int{0, -1, 1 << 30, exited.Process.Pid} {
		for _, iso := range isolators {
			st, err := iso.Usage(t.Context(), containerizer.Container{ID: "c", Pid: pid})
			if err != nil {
				t.Fatalf("Usage(pid %d): %v", pid, err)
			}
			if st.Timestamp == nil {
				t.Errorf("Usage(pid %d) has no timestamp", pid)
			}
			if diff := cmp.Diff(&mesospb.ResourceStatistics{}, st, protocmp.Transform(),
				protocmp.IgnoreFields(&mesospb.ResourceStatistics{}, "timestamp")); diff != "" {
				t.Errorf("Usage(pid %d) not empty (-want +got):\n%s", pid, diff)
			}
		}
	}
}
