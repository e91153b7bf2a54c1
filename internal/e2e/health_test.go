package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meso-project/meso/internal/testutil"
)

// healthServer serves code on loopback; the task's executor (posix
// launcher: the host's network) health-checks it.
func healthServer(t *testing.T, code int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

// healthTask is a --task TaskInfo with an HTTP health check on port.
func healthTask(name, command, port string) string {
	return fmt.Sprintf(`{"name": %[1]q, "task_id": {"value": %[1]q}, "agent_id": {"value": ""},
	  "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
	                {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
	  "command": {"value": %[2]q},
	  "kill_policy": {"grace_period": {"nanoseconds": 0}},
	  "health_check": {"type": "HTTP", "http": {"port": %[3]s, "path": "/health"},
	                   "delay_seconds": 0, "interval_seconds": 0.2, "grace_period_seconds": 0,
	                   "consecutive_failures": 2}}`, name, command, port)
}

// TestMesoExecuteTaskHealthy: `meso execute --task=` with a passing HTTP
// health check prints the healthy update and exits 0 when the task finishes.
func TestMesoExecuteTaskHealthy(t *testing.T) {
	c := cluster(t, nil)
	task := healthTask("healthy", "sleep 2", healthServer(t, http.StatusOK))
	cmd := exec.CommandContext(withTimeout(t, 60*time.Second), testutil.MesoBinary(t), "execute",
		"--master="+c.MasterAddr, "--task="+task)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("meso execute: %v\n%s", err, out)
	}
	text := string(out)
	want := "Received status update TASK_RUNNING for task 'healthy'\n  source: SOURCE_EXECUTOR\n  reason: REASON_TASK_HEALTH_CHECK_STATUS_UPDATED\n  healthy?: 1\n"
	if !strings.Contains(text, want) {
		t.Errorf("output lacks the healthy update %q:\n%s", want, text)
	}
	if !strings.Contains(text, "Received status update TASK_FINISHED for task 'healthy'") {
		t.Errorf("output lacks TASK_FINISHED:\n%s", text)
	}
}

// TestMesoExecuteTaskUnhealthyKilled: a failing HTTP health check gets the
// task killed after consecutive_failures; the terminal update says
// healthy:false and meso execute exits non-zero.
func TestMesoExecuteTaskUnhealthyKilled(t *testing.T) {
	c := cluster(t, nil)
	task := healthTask("sick", "sleep 1000", healthServer(t, http.StatusInternalServerError))
	cmd := exec.CommandContext(withTimeout(t, 60*time.Second), testutil.MesoBinary(t), "execute",
		"--master="+c.MasterAddr, "--task="+task)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("meso execute: err %v, want a non-zero exit\n%s", err, out)
	}
	text := string(out)
	unhealthy := "  reason: REASON_TASK_HEALTH_CHECK_STATUS_UPDATED\n  healthy?: 0\n"
	if n := strings.Count(text, unhealthy); n != 2 {
		t.Errorf("%d unhealthy updates, want 2 (consecutive_failures):\n%s", n, text)
	}
	if !strings.Contains(text, "Received status update TASK_KILLED for task 'sick'") ||
		!strings.Contains(text[strings.Index(text, "TASK_KILLED"):], "healthy?: 0") {
		t.Errorf("output lacks TASK_KILLED with healthy?: 0:\n%s", text)
	}
}
