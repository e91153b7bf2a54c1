package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/tlsconfig"
	"github.com/meso-project/meso/pkg/tlsconfig/tlstest"
)

// tlsProc starts `meso args...` with env added to the test's environment,
// logging to a file shown when the test fails, and kills it at cleanup.
func tlsProc(t *testing.T, env map[string]string, args ...string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), args[0]+".log")
	logf, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testutil.MesoBinary(t), args...)
	cmd.Env = append(os.Environ(), envList(env)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("--- %s log tail:\n%s", args[0], tail(log, 3000))
		}
	})
}

func envList(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// tlsGet GETs url with a client configured by env (nil: plain net/http).
func tlsGet(t *testing.T, env map[string]string, url string) (string, error) {
	t.Helper()
	var tc *tlsconfig.Config
	if env != nil {
		var err error
		if tc, err = tlsconfig.FromEnv(tlstest.Lookup(env), nil); err != nil {
			t.Fatalf("client TLS: %v", err)
		}
	}
	tr := tc.Transport(nil)
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), nil
}

// waitActiveAgents waits until the master at base (with client env) lists
// n active agents.
func waitActiveAgents(t *testing.T, env map[string]string, base string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		body, err := tlsGet(t, env, base+"/master/slaves")
		if err == nil {
			var s struct {
				Slaves []struct {
					Active bool `json:"active"`
				} `json:"slaves"`
			}
			if json.Unmarshal([]byte(body), &s) == nil {
				active := 0
				for _, a := range s.Slaves {
					if a.Active {
						active++
					}
				}
				if active >= n {
					return
				}
			}
			last = body
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%d active agent(s) never showed up at %s; last: %s", n, base, last)
}

// runExecute runs `meso execute` with env and returns its output and exit code.
func runExecute(t *testing.T, env map[string]string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(withTimeout(t, 90*time.Second), testutil.MesoBinary(t), append([]string{"execute"}, args...)...)
	cmd.Env = append(os.Environ(), envList(env)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("meso execute: %v\n%s", err, out)
	return "", 0
}

// TestTLSCluster runs a master, an agent, the command and default
// executors and a scheduler (meso execute) as real processes, all over TLS
// with client certificates required and verified, from certificates made
// for the test: the agent registers over TLS, its executors subscribe over
// TLS (they inherit the agent's LIBPROCESS_SSL_*), the default executor
// calls the agent's operator API over TLS. Plaintext clients, clients
// without a certificate and clients trusting another CA are refused.
func TestTLSCluster(t *testing.T) {
	pki := tlstest.New(t, "cluster")
	env := pki.Env(nil)
	mport, aport := freePort(t), freePort(t)
	master := "127.0.0.1:" + strconv.Itoa(mport)
	tlsProc(t, env, "master", "--ip=127.0.0.1", "--port="+strconv.Itoa(mport),
		"--work_dir="+t.TempDir(), "--allocation_interval=50ms")
	tlsProc(t, env, "agent", "--master="+master, "--ip=127.0.0.1", "--port="+strconv.Itoa(aport),
		"--work_dir="+t.TempDir(), "--resources=cpus:4;mem:4096;disk:1000;ports:[31000-32000]",
		"--launcher=posix", "--isolation=posix/cpu,posix/mem", "--registration_backoff_factor=10ms")
	waitActiveAgents(t, env, "https://"+master, 1)

	t.Run("command executor", func(t *testing.T) {
		out, code := runExecute(t, env, "--master="+master, "--name=tls-hello", "--command=echo hello over tls")
		if code != 0 || !strings.Contains(out, "TASK_FINISHED") {
			t.Fatalf("meso execute over TLS exited %d:\n%s", code, out)
		}
	})
	t.Run("default executor", func(t *testing.T) {
		group := `{"tasks": [{"name": "g1", "task_id": {"value": "g1"}, "agent_id": {"value": ""},
		  "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
		                {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
		  "command": {"value": "echo group over tls"}}]}`
		out, code := runExecute(t, env, "--master="+master, "--task_group="+group)
		if code != 0 || !strings.Contains(out, "TASK_FINISHED") {
			t.Fatalf("meso execute --task_group over TLS exited %d:\n%s", code, out)
		}
	})

	other := tlstest.New(t, "other")
	for _, base := range []string{"127.0.0.1:" + strconv.Itoa(mport), "127.0.0.1:" + strconv.Itoa(aport)} {
		if _, err := tlsGet(t, env, "https://"+base+"/state"); err != nil {
			t.Errorf("GET https://%s/state with the cluster's certificate: %v", base, err)
		}
		if body, err := tlsGet(t, nil, "http://"+base+"/state"); err == nil {
			t.Errorf("plaintext GET http://%s/state answered %.80q, want refused", base, body)
		}
		if body, err := tlsGet(t, other.Env(nil), "https://"+base+"/state"); err == nil {
			t.Errorf("a client of another CA was served %.80q, want refused", body)
		}
		// Not verifying the server does not help a client whose
		// certificate the server cannot verify.
		noVerify := other.Env(map[string]string{"LIBPROCESS_SSL_VERIFY_CERT": "false", "LIBPROCESS_SSL_REQUIRE_CERT": "false"})
		if body, err := tlsGet(t, noVerify, "https://"+base+"/state"); err == nil {
			t.Errorf("a client certificate of another CA was accepted (%.80q), want refused", body)
		}
	}
}

// TestTLSDowngrade: with LIBPROCESS_SSL_SUPPORT_DOWNGRADE the master
// serves TLS and plaintext on one port, and an agent without TLS registers
// with it (TestTLSCluster shows plaintext refused without downgrade).
func TestTLSDowngrade(t *testing.T) {
	pki := tlstest.New(t, "downgrade")
	// Server-side verification of clients is off, as a mixed cluster needs.
	env := pki.Env(map[string]string{"LIBPROCESS_SSL_SUPPORT_DOWNGRADE": "true",
		"LIBPROCESS_SSL_REQUIRE_CERT": "false", "LIBPROCESS_SSL_VERIFY_CERT": "false"})
	mport := freePort(t)
	master := "127.0.0.1:" + strconv.Itoa(mport)
	tlsProc(t, env, "master", "--ip=127.0.0.1", "--port="+strconv.Itoa(mport),
		"--work_dir="+t.TempDir(), "--allocation_interval=50ms")
	tlsProc(t, nil, "agent", "--master="+master, "--ip=127.0.0.1", "--port="+strconv.Itoa(freePort(t)),
		"--work_dir="+t.TempDir(), "--resources=cpus:1;mem:512;disk:100",
		"--launcher=posix", "--isolation=posix/cpu,posix/mem", "--registration_backoff_factor=10ms")
	waitActiveAgents(t, nil, "http://"+master, 1)
	if _, err := tlsGet(t, pki.Env(nil), "https://"+master+"/state"); err != nil {
		t.Errorf("TLS GET on the downgrading master: %v", err)
	}
}
