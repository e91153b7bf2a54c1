package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
