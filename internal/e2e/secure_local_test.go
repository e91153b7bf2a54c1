package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/codec"
)

// TestSecureMesoLocal runs the real binary as README's "A secure cluster"
// describes it, authentication and ACLs together: `meso local` with every
// authentication flag and --acls. Without credentials every endpoint is a
// 401; an authenticated principal the ACLs deny gets 403 (flags, teardown,
// registering a framework) and sees nothing of another principal's
// framework; the allowed principal runs a task and a task group with
// `meso execute` (agents registered with their credential, the executors
// with their tokens).
func TestSecureMesoLocal(t *testing.T) {
	ctx := withTimeout(t, 3*time.Minute)
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	creds := write("creds.json", `{"credentials":[
		{"principal":"ops","secret":"ops-secret"},
		{"principal":"agent","secret":"agent-secret"},
		{"principal":"fw","secret":"fw-secret"},
		{"principal":"intruder","secret":"intruder-secret"}]}`)
	agentCred := write("agent-cred.json", `{"principal":"agent","secret":"agent-secret"}`)
	key := write("jwt.key", "a key that signs executor tokens")
	acls := write("acls.json", `{
	  "permissive": false,
	  "register_agents":     [{"principals": {"values": ["agent"]}, "agents": {"type": "ANY"}}],
	  "register_frameworks": [{"principals": {"values": ["fw"]}, "roles": {"type": "ANY"}}],
	  "run_tasks":           [{"principals": {"values": ["fw"]}, "users": {"type": "ANY"}}],
	  "teardown_frameworks": [{"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}],
	  "view_flags":          [{"principals": {"values": ["ops"]}, "flags": {"type": "ANY"}}],
	  "view_frameworks":     [{"principals": {"values": ["ops", "fw"]}, "users": {"type": "ANY"}}],
	  "view_tasks":          [{"principals": {"values": ["ops", "fw"]}, "users": {"type": "ANY"}}],
	  "view_executors":      [{"principals": {"values": ["ops", "fw"]}, "users": {"type": "ANY"}}]
	}`)
	master := startMesoLocal(t, ctx, "--work_dir="+dir, "--logging_level=WARNING",
		"--credentials=file://"+creds, "--authenticate_frameworks", "--authenticate_agents",
		"--authenticate_http_readonly", "--authenticate_http_readwrite",
		"--credential="+agentCred, "--authenticate_http_executors", "--jwt_secret_key="+key,
		"--acls=file://"+acls)
	base := "http://" + master

	call := func(method, url, user, pass, body string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", string(codec.JSON))
			req.Header.Set("Accept", string(codec.JSON))
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp.StatusCode, resp.Header, []byte(b.String())
	}

	// No credentials: 401 with Mesos's challenge, on the master and the agent.
	code, h, _ := call(http.MethodGet, base+"/master/state", "", "", "")
	if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") != `Basic realm="mesos-master-readonly"` {
		t.Errorf("/master/state without credentials: %d %q", code, h.Get("WWW-Authenticate"))
	}
	if code, _, _ := call(http.MethodGet, base+"/master/state", "fw", "wrong", ""); code != http.StatusUnauthorized {
		t.Errorf("/master/state with a wrong secret: %d", code)
	}

	// The allowed principal runs a task through the real CLI.
	execute := func(principal, secret, name string) (string, error) {
		cmd := exec.CommandContext(ctx, testutil.MesoBinary(t), "execute", "--master="+master,
			"--principal="+principal, "--secret="+secret, "--name="+name, "--command=echo hello")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := execute("fw", "fw-secret", "allowed"); err != nil || !strings.Contains(out, "TASK_FINISHED") {
		t.Fatalf("meso execute as fw: %v\n%s", err, out)
	}
	// A task group: the default executor launches its task's nested
	// container with its own token, which the ACLs (permissive false)
	// do not name — Mesos's implicit executor approval.
	group := exec.CommandContext(ctx, testutil.MesoBinary(t), "execute", "--master="+master,
		"--principal=fw", "--secret=fw-secret", `--task_group={"tasks":[{"name":"g","task_id":{"value":"g"},
		"agent_id":{"value":""},"command":{"value":"true"},
		"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.1}},{"name":"mem","type":"SCALAR","scalar":{"value":32}}]}]}`)
	if out, err := group.CombinedOutput(); err != nil || !strings.Contains(string(out), "TASK_FINISHED") {
		t.Fatalf("meso execute --task_group as fw: %v\n%s", err, out)
	}
	// The intruder is authenticated but may not register a framework: the
	// master answers SUBSCRIBE with Mesos's ERROR event.
	if out, err := execute("intruder", "intruder-secret", "denied"); err == nil ||
		!strings.Contains(out, "Not authorized to register framework") {
		t.Errorf("meso execute as intruder: want the ERROR event and a failure, got %v\n%s", err, out)
	}
	// A framework that stays: fw's long task.
	long := exec.CommandContext(ctx, testutil.MesoBinary(t), "execute", "--master="+master,
		"--principal=fw", "--secret=fw-secret", "--name=long", "--command=sleep 300")
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = long.Process.Kill(); _ = long.Wait() })

	var state struct {
		Frameworks []struct {
			ID    string
			Tasks []struct{ State string } `json:"tasks"`
		} `json:"frameworks"`
		Slaves []struct{ PID string } `json:"slaves"`
	}
	var b []byte
	for deadline := time.Now().Add(time.Minute); ; {
		code, _, body := call(http.MethodGet, base+"/master/state", "ops", "ops-secret", "")
		state.Frameworks, state.Slaves, b = nil, nil, body
		if code != http.StatusOK || json.Unmarshal(b, &state) != nil {
			t.Fatalf("/master/state as ops: %d %s", code, b)
		}
		if len(state.Frameworks) == 1 && len(state.Frameworks[0].Tasks) == 1 && state.Frameworks[0].Tasks[0].State == "TASK_RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ops does not see fw's one framework with its running task: %s", b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(state.Slaves) != 1 {
		t.Fatalf("ops sees %d agents, want 1: %s", len(state.Slaves), b)
	}
	fwID := state.Frameworks[0].ID
	agent := "http://" + state.Slaves[0].PID[strings.Index(state.Slaves[0].PID, "@")+1:]

	// The intruder sees the agent but not fw's framework.
	code, _, b = call(http.MethodGet, base+"/master/state", "intruder", "intruder-secret", "")
	if code != http.StatusOK {
		t.Fatalf("/master/state as intruder: %d", code)
	}
	if strings.Contains(string(b), fwID) || !strings.Contains(string(b), state.Slaves[0].PID) {
		t.Errorf("intruder's /master/state shows framework %s or hides the agent: %s", fwID, b)
	}

	// 403 where the ACLs deny the intruder; ops may.
	teardown := `{"type":"TEARDOWN","teardown":{"framework_id":{"value":"` + fwID + `"}}}`
	for _, c := range []struct {
		method, url, body string
	}{
		{http.MethodGet, base + "/flags", ""},
		{http.MethodPost, base + "/api/v1", `{"type":"GET_FLAGS"}`},
		{http.MethodPost, base + "/api/v1", teardown},
		{http.MethodPost, base + "/master/teardown", "frameworkId=" + fwID},
	} {
		if code, _, b := call(c.method, c.url, "intruder", "intruder-secret", c.body); code != http.StatusForbidden {
			t.Errorf("%s %s %s as intruder: %d %s, want 403", c.method, c.url, c.body, code, b)
		}
	}
	if code, _, b := call(http.MethodGet, base+"/flags", "ops", "ops-secret", ""); code != http.StatusOK {
		t.Errorf("/flags as ops: %d %s", code, b)
	}

	// The agent: 401 without credentials, its state filtered for the intruder.
	if code, _, _ := call(http.MethodGet, agent+"/state", "", "", ""); code != http.StatusUnauthorized {
		t.Errorf("agent /state without credentials: %d", code)
	}
	if code, _, b := call(http.MethodGet, agent+"/flags", "intruder", "intruder-secret", ""); code != http.StatusForbidden {
		t.Errorf("agent /flags as intruder: %d %s", code, b)
	}
	code, _, b = call(http.MethodGet, agent+"/state", "intruder", "intruder-secret", "")
	if code != http.StatusOK || strings.Contains(string(b), fwID) {
		t.Errorf("agent /state as intruder: %d, shows %s: %s", code, fwID, b)
	}
	code, _, b = call(http.MethodGet, agent+"/state", "fw", "fw-secret", "")
	if code != http.StatusOK || !strings.Contains(string(b), fwID) {
		t.Errorf("agent /state as fw: %d, want framework %s: %s", code, fwID, b)
	}

	// ops may tear fw's framework down.
	if code, _, b := call(http.MethodPost, base+"/api/v1", "ops", "ops-secret", teardown); code != http.StatusOK {
		t.Errorf("TEARDOWN as ops: %d %s", code, b)
	}
}
