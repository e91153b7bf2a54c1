package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meso-project/meso/internal/testutil"
)

// TestCommandLine runs the real binary the way users do and checks the
// answers to common mistakes: each says what to do next.
func TestCommandLine(t *testing.T) {
	bin := testutil.MesoBinary(t)
	creds := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(creds, []byte(`{"credentials":[{"principal":"p","secret":"s"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantCode int
		wantOut  string
	}{
		{"help lists commands", []string{"--help"}, nil, 0, "local"},
		{"agent help lists Mesos flags", []string{"agent", "--help"}, nil, 0, "--executor_registration_timeout"},
		{"agent needs master and work_dir", []string{"agent"}, nil, 1, "--master and --work_dir are required"},
		{"unknown flag", []string{"master", "--no_such_flag=1"}, nil, 1, "meso master --help"},
		{"bad duration", []string{"master", "--allocation_interval=soon"}, nil, 1, "allocation_interval"},
		{"MESOS_ env is read", []string{"master", "--registry=in_memory"}, []string{"MESOS_ALLOCATOR=Nope"}, 1, `unknown --allocator "Nope"`},
		{"execute needs name and command", []string{"execute"}, nil, 1, "--name and --command are required"},
		{"execute help explains --task_group", []string{"execute", "--help"}, nil, 0, "--task_group launches several tasks together"},
		{"execute --task excludes --task_group", []string{"execute", "--task={}", "--task_group={}"}, nil, 1,
			"Either task or task group should be set but not both"},
		{"execute --task excludes --command", []string{"execute", "--task=/nonexistent.json", "--command=true"}, nil, 1,
			"can only be set when both '--task' and '--task_group' are not set"},
		{"execute content type", []string{"execute", "--name=a", "--command=true", "--content_type=xml"}, nil, 1, "unknown --content_type"},
		{"launch helper without command", []string{"launch", "--"}, nil, 127, "no command given"},
		{"version", []string{"version"}, nil, 0, "Apache Mesos 1.11.0"},
		{"unknown isolator names the known ones", []string{"agent", "--master=127.0.0.1:1", "--work_dir=" + t.TempDir(),
			"--isolation=bogus/thing"}, nil, 1, "Unknown or unsupported isolator 'bogus/thing' (meso's isolators: cgroups/all"},
		{"unknown launcher", []string{"agent", "--master=127.0.0.1:1", "--work_dir=" + t.TempDir(),
			"--launcher=lxc"}, nil, 1, "Unknown or unsupported launcher: lxc"},
		{"local passes --isolation to its agents", []string{"local", "--work_dir=" + t.TempDir(), "--port=0",
			"--isolation=process,bogus/thing"}, nil, 1, "Unknown or unsupported isolator 'bogus/thing'"},
		{"agent help explains isolation", []string{"agent", "--help"}, nil, 0, "cgroups/cpu,cgroups/mem"},
		{"agent help has the fetcher cache flags", []string{"agent", "--help"}, nil, 0, "--fetcher_cache_dir"},
		{"agent fetcher cache default", []string{"agent", "--help"}, nil, 0, "/tmp/mesos/fetch"},
		{"bad fetcher cache size", []string{"agent", "--master=127.0.0.1:1", "--work_dir=" + t.TempDir(),
			"--fetcher_cache_size=lots"}, nil, 1, "fetcher_cache_size"},
		{"empty fetcher cache dir", []string{"agent", "--master=127.0.0.1:1", "--work_dir=" + t.TempDir(),
			"--fetcher_cache_dir="}, nil, 1, "--fetcher_cache_dir must not be empty"},
		{"master help has Mesos's log flags", []string{"master", "--help"}, nil, 0, "--external_log_file"},
		{"agent help has Mesos's log flags", []string{"agent", "--help"}, nil, 0, "--log_dir"},
		{"registry needs a work_dir", []string{"master"}, nil, 1, "--work_dir needed for replicated log based registry"},
		{"zk needs a quorum", []string{"master", "--zk=zk://127.0.0.1:2181/mesos"}, nil, 1,
			"Need to specify --quorum for replicated log based registry when using ZooKeeper"},
		{"bad zk url", []string{"master", "--zk=zk://127.0.0.1:2181", "--quorum=1"}, nil, 1, "Error parsing ZooKeeper URL"},
		{"unknown registry", []string{"master", "--registry=etcd"}, nil, 1, "'etcd' is not a supported option for registry persistence"},
		{"registry_strict is disabled", []string{"master", "--registry=in_memory", "--registry_strict"}, nil, 1,
			"Support for '--registry_strict' has been disabled"},
		{"agent_reregister_timeout minimum", []string{"master", "--registry=in_memory", "--agent_reregister_timeout=1mins"}, nil, 1,
			"Must be at least 10mins"},
		{"http framework authentication needs its authenticators", []string{"master", "--registry=in_memory",
			"--authenticate_http_frameworks", "--credentials=file://" + creds}, nil, 1, "Missing `--http_framework_authenticators` flag"},
		{"credentials file must exist", []string{"master", "--registry=in_memory", "--authenticate_http_readonly",
			"--credentials=file:///nonexistent/creds"}, nil, 1, "Failed to read credentials file '/nonexistent/creds'"},
		{"basic authenticator needs credentials", []string{"master", "--registry=in_memory", "--authenticate_http_readwrite"}, nil, 1,
			"No credentials provided for the default 'basic' HTTP authenticator for realm 'mesos-master-readwrite'"},
		{"unknown http authenticator", []string{"master", "--registry=in_memory", "--authenticate_http_readonly",
			"--http_authenticators=kerberos", "--credentials=" + creds}, nil, 1, "HTTP authenticator 'kerberos' not found"},
		{"executor authentication needs a key", []string{"agent", "--master=127.0.0.1:1", "--work_dir=" + t.TempDir(),
			"--authenticate_http_executors"}, nil, 1, "--jwt_secret_key must be specified when --authenticate_http_executors is set to true"},
		{"agent credential file", []string{"agent", "--master=127.0.0.1:1", "--work_dir=" + t.TempDir(),
			"--credential=file:///nonexistent/cred"}, nil, 1, "Failed to read credential file '/nonexistent/cred'"},
		{"execute has --principal and --secret", []string{"execute", "--help"}, nil, 0, "--secret"},
		// The operator CLI: `meso agent list` is a verb; `meso agent
		// --flags` still runs an agent (the cases above).
		{"agent list is a verb", []string{"agent", "list", "--master=127.0.0.1:1"}, nil, 1, "Is the master running at 127.0.0.1:1?"},
		{"agent list help is cobra's", []string{"agent", "list", "--help"}, nil, 0, "--json"},
		{"agent help names its verbs", []string{"agent", "--help"}, nil, 0, "meso agent deactivate|reactivate|drain"},
		{"agent deactivate needs an ID", []string{"agent", "deactivate"}, nil, 1, "accepts 1 arg(s)"},
		{"MESOS_MASTER is the default master", []string{"task", "list"}, []string{"MESOS_MASTER=127.0.0.1:2"}, 1, "127.0.0.1:2"},
		{"exec wants --", []string{"task", "exec", "t", "ls", "--master=127.0.0.1:1"}, nil, 1, "write the command after --"},
		{"bad zk master", []string{"cluster", "--master=zk://"}, nil, 1, "Pass --master="},
		{"completion", []string{"completion", "bash"}, nil, 0, "__meso_debug"},
		{"help lists the operator verbs", []string{"--help"}, nil, 0, "why"},
		{"removal limit needs a percent", []string{"master", "--registry=in_memory", "--recovery_agent_removal_limit=50"}, nil, 1,
			"missing '%'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), bin, tc.args...)
			cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, tc.env...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tc.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tc.wantCode, out)
			}
			if !strings.Contains(string(out), tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out)
			}
		})
	}
}

// TestLogDir runs a real master with --log_dir: it writes its log to
// <log_dir>/mesos-master.INFO besides stderr, and shows that file in the
// file browser at /master/log, as Mesos's master does.
func TestLogDir(t *testing.T) {
	bin := testutil.MesoBinary(t)
	dir := filepath.Join(t.TempDir(), "logs") // created by the master, as glog's is
	cmd := exec.CommandContext(t.Context(), bin, "master", "--registry=in_memory", "--ip=127.0.0.1", "--port=0",
		"--log_dir="+dir)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	logFile := filepath.Join(dir, "mesos-master.INFO")
	addr := regexp.MustCompile(`msg="master listening" address=(\S+)`)
	var m []string
	testutil.Eventually(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(logFile)
		m = addr.FindStringSubmatch(string(b))
		return m != nil
	}, "the master logs its address to %s", logFile)
	testutil.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(stderr.String(), "master listening")
	}, "stderr lacks the log: %q", stderr)
	resp, err := http.Get("http://" + m[1] + "/files/read?path=/master/log&offset=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var read struct {
		Data   string `json:"data"`
		Offset int    `json:"offset"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&read); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/files/read: %d %v", resp.StatusCode, err)
	}
	if !strings.Contains(read.Data, "master listening") {
		t.Errorf("/master/log does not show the log: %q", read.Data)
	}
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
