package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meso-project/meso/internal/testutil"
)

// TestAuthzFlags: --authorizers other than local and ACLs that do not
// parse stop the master at startup, as Mesos's master exits.
func TestAuthzFlags(t *testing.T) {
	bin := testutil.MesoBinary(t)
	bad := filepath.Join(t.TempDir(), "acls.json")
	if err := os.WriteFile(bad, []byte(`{"view_flags": [{"principals": {"type": "ANY"}, "flags": {"values": ["x"]}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		wantOut string
	}{
		{"module authorizer", []string{"--authorizers=com_example_Authorizer"}, "Could not create 'com_example_Authorizer' authorizer"},
		{"several authorizers", []string{"--authorizers=local,other"}, "Multiple authorizers not supported"},
		{"misspelt action", []string{`--acls={"run_task": []}`}, "unknown field 'run_task'"},
		{"missing objects", []string{`--acls={"run_tasks": [{"principals": {"type": "ANY"}}]}`}, "Missing required fields: users"},
		{"file:// ACLs validated", []string{"--acls=file://" + bad}, "ACL.ViewFlags type must be either NONE or ANY"},
		{"path ACLs validated", []string{"--acls=" + bad}, "ACL.ViewFlags type must be either NONE or ANY"},
		{"local takes --acls", []string{"--acls=/nonexistent.json"}, "Error reading file '/nonexistent.json'"},
		{"agent takes --acls", []string{`--acls={"permissive": "no"}`}, "Not expecting a JSON string for field 'permissive'"},
		{"agent takes --authorizers", []string{"--authorizers=other"}, "Could not create 'other' authorizer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"master", "--registry=in_memory", "--port=0"}, tc.args...)
			switch {
			case tc.name == "local takes --acls":
				args = append([]string{"local", "--work_dir=" + t.TempDir(), "--port=0"}, tc.args...)
			case strings.HasPrefix(tc.name, "agent"):
				args = append([]string{"agent", "--master=127.0.0.1:1", "--work_dir=" + t.TempDir(), "--port=0"}, tc.args...)
			}
			cmd := exec.CommandContext(t.Context(), bin, args...)
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 1 {
				t.Errorf("exit %d, want 1\n%s", code, out)
			}
			if !strings.Contains(string(out), tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out)
			}
		})
	}
}

// TestAuthzRunAsRootRefused is the repro with the real binary:
// `meso local --acls=...` whose run_tasks ACL allows only "nobody" answers
// a task with CommandInfo.user=root with TASK_ERROR
// REASON_TASK_UNAUTHORIZED, and `meso execute` fails; /flags is 403.
func TestAuthzRunAsRootRefused(t *testing.T) {
	bin := testutil.MesoBinary(t)
	acls := filepath.Join(t.TempDir(), "acls.json")
	if err := os.WriteFile(acls, []byte(`{
	  "permissive": false,
	  "register_agents":     [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
	  "register_frameworks": [{"principals": {"type": "ANY"}, "roles":  {"type": "ANY"}}],
	  "run_tasks":           [{"principals": {"type": "ANY"}, "users":  {"values": ["nobody"]}}]
	}`), 0o600); err != nil {
		t.Fatal(err)
	}
	local := exec.CommandContext(t.Context(), bin, "local", "--ip=127.0.0.1", "--port=0",
		"--work_dir="+t.TempDir(), "--acls=file://"+acls)
	local.Env = []string{"PATH=/usr/bin:/bin"}
	stdout := &lockedBuffer{}
	local.Stdout = stdout
	if err := local.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = local.Process.Kill()
		_ = local.Wait()
	})
	addr := regexp.MustCompile(`master at http://(\S+)`)
	var m []string
	testutil.Eventually(t, 20*time.Second, func() bool {
		m = addr.FindStringSubmatch(stdout.String())
		return m != nil
	}, "meso local did not print its address: %q", stdout)

	resp, err := http.Get("http://" + m[1] + "/flags")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("/flags: %d, want 403 (no view_flags ACL)", resp.StatusCode)
	}

	task := `{"name": "root", "task_id": {"value": "as-root"}, "agent_id": {"value": ""},
	  "command": {"value": "id -u", "user": "root"},
	  "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
	                {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}`
	execute := exec.CommandContext(t.Context(), bin, "execute", "--master="+m[1], "--task="+task)
	execute.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := execute.CombinedOutput()
	if err == nil {
		t.Fatalf("meso execute succeeded:\n%s", out)
	}
	for _, want := range []string{"TASK_ERROR", "REASON_TASK_UNAUTHORIZED", "under user 'root'"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("meso execute output lacks %q:\n%s", want, out)
		}
	}
}
