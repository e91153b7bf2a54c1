package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meso-project/meso/internal/testutil"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of the CLI tests")

// meso runs the meso binary with args and returns its stdout, stderr and
// exit code.
func meso(t *testing.T, ctx context.Context, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, testutil.MesoBinary(t), args...)
	cmd.Env = append(os.Environ(), "MESOS_MASTER=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("meso %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// normalize replaces what changes from run to run (IDs, addresses, pids,
// the machine's resources) and collapses the runs of blanks tabwriter
// pads columns with.
func normalize(s string) string {
	for _, r := range []struct{ re, with string }{
		{`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`, "<UUID>"},
		{`127\.0\.0\.1:\d+`, "<ADDR>"},
		{`(pid:? )\d+`, "${1}<PID>"},
		{`(?m)^(Version:\s+).*$`, "${1}<VERSION>"},
		{`[ \t]+`, " "},
		{`(?m) $`, ""},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.with)
	}
	return s
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "cli", name+".golden")
	got = normalize(got)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("meso %s: output differs from %s (-want +got):\n%s", name, path, diff)
	}
}

// TestOperatorCLI runs the operator verbs of the real binary against a
// real local cluster that has run a task: the tables match golden files
// (IDs and addresses normalized), --json parses, meso task logs prints
// the finished task's stdout and stderr, meso task exec runs a command in
// a running task with stdin attached and exits with its code, the weights
// and quota set are read back, and an agent is deactivated and
// reactivated.
func TestOperatorCLI(t *testing.T) {
	c := cluster(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	m := "--master=" + c.MasterAddr

	if out, errOut, code := meso(t, ctx, "", "execute", m, "--name=hello", "--command=echo hello; echo oops >&2"); code != 0 {
		t.Fatalf("meso execute: %d\n%s\n%s", code, out, errOut)
	}

	for _, v := range []struct {
		name string
		args []string
	}{
		{"cluster", []string{"cluster"}},
		{"agent-list", []string{"agent", "list"}},
		{"framework-list-all", []string{"framework", "list", "--all"}},
		{"task-list", []string{"task", "list"}},
		{"task-list-all", []string{"task", "list", "--all"}},
		{"roles", []string{"roles"}},
		{"task-logs", []string{"task", "logs", "hello"}},
		{"task-logs-stderr", []string{"task", "logs", "hello", "--stderr"}},
	} {
		out, errOut, code := meso(t, ctx, "", append(v.args, m)...)
		if code != 0 {
			t.Errorf("meso %s: exit %d: %s", v.name, code, errOut)
			continue
		}
		if strings.HasPrefix(v.name, "task-logs") {
			// The command executor's own lines vary (pids, event order):
			// keep the task's.
			var keep []string
			for _, l := range strings.Split(out, "\n") {
				if l == "hello" || l == "oops" {
					keep = append(keep, l)
				}
			}
			out = strings.Join(keep, "\n") + "\n"
		}
		golden(t, v.name, out)
	}

	// Shell completion offers the cluster's task IDs.
	if out, errOut, _ := meso(t, ctx, "", "__complete", "task", "logs", m, ""); !strings.Contains(out, "hello\thello TASK_FINISHED") {
		t.Errorf("completion of meso task logs: %q %s", out, errOut)
	}

	// --json parses, and says what the tables say.
	for _, args := range [][]string{{"cluster"}, {"agent", "list"}, {"framework", "list", "--all"}, {"task", "list", "--all"},
		{"roles"}, {"quota", "get"}, {"weights", "get"}} {
		out, errOut, code := meso(t, ctx, "", append(args, m, "--json")...)
		var v map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Errorf("meso %v --json: exit %d, %q is not a JSON object: %s", args, code, out, errOut)
		}
	}
	out, _, _ := meso(t, ctx, "", "task", "list", "--all", "--json", m)
	var tasks struct {
		Tasks []struct {
			TaskID struct{ Value string } `json:"task_id"`
			State  string                 `json:"state"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(out), &tasks); err != nil || len(tasks.Tasks) != 1 ||
		tasks.Tasks[0].TaskID.Value != "hello" || tasks.Tasks[0].State != "TASK_FINISHED" {
		t.Errorf("task list --json: %v %+v", err, tasks)
	}

	// Weights and quota round-trip.
	if _, errOut, code := meso(t, ctx, "", "weights", "set", "dev=2.5", "ops=3", m); code != 0 {
		t.Errorf("weights set: %d %s", code, errOut)
	}
	out, _, _ = meso(t, ctx, "", "weights", "get", m)
	golden(t, "weights-get", out)
	if out, errOut, code := meso(t, ctx, "", "weights", "set", "dev=2.5", "--json", m); code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("weights set --json: exit %d, %q is not JSON: %s", code, out, errOut)
	}
	if _, errOut, code := meso(t, ctx, "", "quota", "set", "dev", "--guarantees=cpus:1;mem:128", "--limits=cpus:2;mem:256", m); code != 0 {
		t.Errorf("quota set: %d %s", code, errOut)
	}
	out, _, _ = meso(t, ctx, "", "quota", "get", m)
	golden(t, "quota-get", out)
	out, _, _ = meso(t, ctx, "", "roles", m)
	golden(t, "roles-weighted", out)

	// Deactivate and reactivate the agent; drain is not implemented.
	out, _, _ = meso(t, ctx, "", "agent", "list", "--json", m)
	var agents struct {
		Agents []struct {
			AgentInfo struct {
				ID struct{ Value string } `json:"id"`
			} `json:"agent_info"`
		} `json:"agents"`
	}
	if err := json.Unmarshal([]byte(out), &agents); err != nil || len(agents.Agents) != 1 {
		t.Fatalf("agent list --json: %v %s", err, out)
	}
	agentID := agents.Agents[0].AgentInfo.ID.Value
	if _, errOut, code := meso(t, ctx, "", "agent", "deactivate", agentID, m); code != 0 {
		t.Errorf("agent deactivate: %d %s", code, errOut)
	}
	out, _, _ = meso(t, ctx, "", "agent", "list", m)
	if !strings.Contains(out, "deactivated") {
		t.Errorf("agent list after deactivate:\n%s", out)
	}
	if _, errOut, code := meso(t, ctx, "", "agent", "reactivate", agentID, m); code != 0 {
		t.Errorf("agent reactivate: %d %s", code, errOut)
	}
	out, _, _ = meso(t, ctx, "", "agent", "list", m)
	if strings.Contains(out, "deactivated") {
		t.Errorf("agent list after reactivate:\n%s", out)
	}
	if _, errOut, code := meso(t, ctx, "", "agent", "drain", agentID, m); code == 0 || !strings.Contains(errOut, "DRAIN_AGENT") {
		t.Errorf("agent drain: exit %d, %s", code, errOut)
	}

	// Errors say what to do next.
	if _, errOut, code := meso(t, ctx, "", "task", "logs", "nope", m); code == 0 || !strings.Contains(errOut, "meso task list --all") {
		t.Errorf("logs of an unknown task: exit %d, %s", code, errOut)
	}
	if _, errOut, code := meso(t, ctx, "", "cluster", "--master=127.0.0.1:1"); code == 0 || !strings.Contains(errOut, "Pass --master") {
		t.Errorf("cluster of no master: exit %d, %s", code, errOut)
	}

	// exec, in a running task: stdin in, stdout out, the exit code out.
	execCtx, stopTask := context.WithCancel(ctx)
	defer stopTask()
	long := exec.CommandContext(execCtx, testutil.MesoBinary(t), "execute", m, "--name=long", "--command=sleep 120")
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stopTask(); _ = long.Wait() }()
	testutil.Eventually(t, 30*time.Second, func() bool {
		out, _, _ := meso(t, ctx, "", "task", "list", m)
		return strings.Contains(out, "TASK_RUNNING")
	}, "the task long does not run")
	out, errOut, code := meso(t, ctx, "piped in\n", "task", "exec", "long", m, "--", "cat; echo out; echo err >&2; exit 7")
	if code != 7 || out != "piped in\nout\n" || errOut != "err\n" {
		t.Errorf("task exec: exit %d, stdout %q, stderr %q; want 7, %q, %q", code, out, errOut, "piped in\nout\n", "err\n")
	}
	out, errOut, code = meso(t, ctx, "", "task", "exec", "long", m, "--no-stdin", "--", "ls", "-d", "/")
	if code != 0 || out != "/\n" {
		t.Errorf("task exec ls: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// logs --follow prints what a running task writes, and returns once
	// it has ended.
	counter := exec.CommandContext(execCtx, testutil.MesoBinary(t), "execute", m, "--name=counter",
		"--command=for i in 1 2 3; do echo line$i; sleep 1; done")
	if err := counter.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = counter.Wait() }()
	testutil.Eventually(t, 30*time.Second, func() bool {
		out, _, _ := meso(t, ctx, "", "task", "list", m)
		return strings.Contains(out, "counter")
	}, "the task counter does not start")
	out, errOut, code = meso(t, ctx, "", "task", "logs", "counter", "--follow", m)
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "line") { // not the command executor's own lines
			lines = append(lines, l)
		}
	}
	if code != 0 || strings.Join(lines, ",") != "line1,line2,line3" {
		t.Errorf("task logs --follow: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestOperatorCLIFindsTheLeader runs meso cluster against an HA cluster
// of real masters: given zk://, and given a standby (whose 307 it
// follows), it names the same leader and sees the agent.
func TestOperatorCLIFindsTheLeader(t *testing.T) {
	r := newHARig(t, 2, 1, 10*time.Second)
	leader := r.waitLeader(60 * time.Second)
	var standby *proc
	for _, p := range r.masters {
		if p != leader {
			standby = p
		}
	}
	want := fmt.Sprintf("Leader: 127.0.0.1:%d", leader.port)
	for _, master := range []string{r.zkURL, fmt.Sprintf("127.0.0.1:%d", standby.port)} {
		testutil.Eventually(t, 60*time.Second, func() bool {
			out, _, code := meso(t, t.Context(), "", "cluster", "--master="+master)
			return code == 0 && strings.Contains(normalizeBlanks(out), want) && strings.Contains(out, "1 active")
		}, "meso cluster --master=%s does not name the leader %s with its agent", master, leader.name)
	}
}

func normalizeBlanks(s string) string { return regexp.MustCompile(`[ \t]+`).ReplaceAllString(s, " ") }
