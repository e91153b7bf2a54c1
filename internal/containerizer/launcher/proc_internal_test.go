//go:build linux

package launcher

import (
	"os/exec"
	"sync"
	"testing"
)

// Concurrent callers share scans of /proc, and each sees a scan that
// started after its call: a process started just before is in it.
func TestProcessScansCoalesce(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("sleep", "5")
			if err := cmd.Start(); err != nil {
				t.Error(err)
				return
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			found := false
			for _, p := range processes() {
				found = found || p.pid == cmd.Process.Pid
			}
			if !found {
				t.Errorf("caller %d: pid %d started before the call is not in its scan", i, cmd.Process.Pid)
			}
		}()
	}
	wg.Wait()
}
