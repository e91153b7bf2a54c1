package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/builtin"
	"github.com/meso-project/meso/internal/cgroups"
	"github.com/meso-project/meso/internal/cgroups/cgroupstest"
	"github.com/meso-project/meso/internal/local"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/taskstate"
)

// isolated starts a cluster whose agent runs containers with the linux
// launcher and the given isolators, under a cgroups root of the test's own.
// It needs root and the cgroup controllers (skipped without them, failed
// in CI).
func isolated(t *testing.T, isolation string, tweak func(*builtin.Containerizer)) (*local.Cluster, *cgroups.Hierarchy, string) {
	t.Helper()
	h := cgroupstest.Real(t, "cpu", "cpuacct", "memory")
	testutil.Need(t, h.Tracking() != nil, "the test needs the cgroup freezer or cgroups v2")
	root := cgroupstest.Root(t, h)
	c := cluster(t, func(cfg *local.Config) {
		cfg.Containerizer = builtin.Containerizer{
			Launcher:                "linux",
			Isolation:               isolation,
			CgroupsRoot:             root,
			RevocableCPULowPriority: true,
			Helper:                  []string{testutil.MesoBinary(t), "launch"},
		}
		if tweak != nil {
			tweak(&cfg.Containerizer)
		}
	})
	return c, h, root
}

// TestMemoryLimitWithMesoLocalAndExecute is the acceptance run with
// the real binaries: `meso local --isolation=cgroups/cpu,cgroups/mem` and
// `meso execute` of a 600 MB allocation in cpus:0.1;mem:32 prints TASK_FAILED
// with REASON_CONTAINER_LIMITATION_MEMORY and exits non-zero.
func TestMemoryLimitWithMesoLocalAndExecute(t *testing.T) {
	h := cgroupstest.Real(t, "cpu", "cpuacct", "memory")
	root := cgroupstest.Root(t, h)
	bin := testutil.MesoBinary(t)
	ctx := withTimeout(t, 90*time.Second)
	master := startMesoLocal(t, ctx, "--work_dir="+t.TempDir(),
		"--isolation=cgroups/cpu,cgroups/mem", "--cgroups_root="+root, "--logging_level=WARNING")

	execute := exec.CommandContext(ctx, bin, "execute", "--master="+master, "--name=hog",
		"--resources=cpus:0.1;mem:32", "--command=dd if=/dev/zero of=/dev/null bs=600M count=1")
	text, err := execute.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("meso execute: %v, want a non-zero exit\n%s", err, text)
	}
	for _, want := range []string{"TASK_FAILED", "reason: REASON_CONTAINER_LIMITATION_MEMORY",
		"Memory limit exceeded: Requested: 64MB", "source: SOURCE_AGENT"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("meso execute output lacks %q:\n%s", want, text)
		}
	}
	// The container's cgroups are gone.
	testutil.Eventually(t, 10*time.Second, func() bool {
		kids, _ := h.Children(root, "memory")
		return len(kids) == 0
	}, "cgroups left under %s", root)
}

// statistics reads the agent's /monitor/statistics entry for executorID.
func statistics(t *testing.T, agentAddr, executorID string) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + agentAddr + "/monitor/statistics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var entries []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e["executor_id"] == executorID {
			return e["statistics"].(map[string]any)
		}
	}
	return nil
}

// TestStatisticsAndCPUThrottling: a running task's statistics show the
// container's limits (task + executor), and a cpus:0.1 spinner under
// --cgroups_enable_cfs is throttled.
func TestStatisticsAndCPUThrottling(t *testing.T) {
	c, _, _ := isolated(t, "cgroups/cpu,cgroups/mem", func(cz *builtin.Containerizer) { cz.CgroupsEnableCFS = true })
	s := subscribe(t, c.MasterAddr, codec.Protobuf, frameworkInfo("spinner"))
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	s.launch(offer, "spin", "while :; do :; done", taskResources("*", 0.1, 32))
	waitFor(t, s, mesospb.TaskState_TASK_RUNNING)
	var st map[string]any
	testutil.Eventually(t, 15*time.Second, func() bool {
		st = statistics(t, c.AgentAddrs[0], "spin")
		n, _ := st["cpus_nr_throttled"].(float64)
		return n > 0
	}, "the spinner was never throttled: %v", st)
	if st["mem_limit_bytes"] != float64((32+32)<<20) {
		t.Errorf("mem_limit_bytes = %v, want the task's 32 MB plus the executor's 32 MB", st["mem_limit_bytes"])
	}
	if st["cpus_limit"] != 0.2 {
		t.Errorf("cpus_limit = %v, want 0.1 + 0.1", st["cpus_limit"])
	}
	// Throttled: the spinner gets about 0.2 of a cpu, far from a whole one.
	before, _ := st["cpus_user_time_secs"].(float64)
	time.Sleep(2 * time.Second)
	after, _ := statistics(t, c.AgentAddrs[0], "spin")["cpus_user_time_secs"].(float64)
	if used := (after - before) / 2; used > 0.5 {
		t.Errorf("the spinner used %.2f cpus, want about 0.2", used)
	}
}

// TestKilledExecutorLeavesNoProcess: kill -9 of the command executor ends
// the task TASK_FAILED, kills every process of the container, removes its
// cgroups and gives its resources back.
func TestKilledExecutorLeavesNoProcess(t *testing.T) {
	c, h, root := isolated(t, "cgroups/cpu,cgroups/mem", nil)
	s := subscribe(t, c.MasterAddr, codec.Protobuf, frameworkInfo("victim"))
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	// setsid: the task leaves the executor's session, as a daemon would.
	s.launch(offer, "orphan", "setsid sh -c 'sleep 1000 & echo $! > child.pid; echo $$ > task.pid; wait'",
		taskResources("*", 0.5, 64))
	running := waitFor(t, s, mesospb.TaskState_TASK_RUNNING)
	executorPid := int(running.GetContainerStatus().GetExecutorPid())
	if executorPid == 0 {
		t.Fatalf("TASK_RUNNING has no container_status.executor_pid: %v", running.GetContainerStatus())
	}
	dir := sandbox(t, c, s.fwID.GetValue(), "orphan")
	taskPid, childPid := readPid(t, dir+"/task.pid"), readPid(t, dir+"/child.pid")
	if err := syscall.Kill(executorPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := s.update(true, 30*time.Second)
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED ||
		st.GetSource() != mesospb.TaskStatus_SOURCE_AGENT {
		t.Errorf("after kill -9 of the executor: %v %v %v %q", st.GetState(), st.GetSource(), st.GetReason(), st.GetMessage())
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return gone(taskPid) && gone(childPid) },
		"task processes %d and %d outlived their executor", taskPid, childPid)
	testutil.Eventually(t, 10*time.Second, func() bool {
		kids, _ := h.Children(root, "memory")
		return len(kids) == 0
	}, "cgroups left under %s", root)
	// The master counts the resources free again only now that nothing of
	// the task runs.
	testutil.Eventually(t, 15*time.Second, func() bool {
		resp, err := http.Get("http://" + c.MasterAddr + "/master/slaves")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var v struct {
			Slaves []struct {
				Used map[string]any `json:"used_resources"`
			} `json:"slaves"`
		}
		if json.NewDecoder(resp.Body).Decode(&v) != nil || len(v.Slaves) != 1 {
			return false
		}
		return v.Slaves[0].Used["cpus"] == 0.0
	}, "the master still counts the task's resources as used")
}

// TestPidNamespace: with namespaces/pid the task sees its own pid space:
// the executor is pid 1 and only the container's few processes are in
// /proc.
func TestPidNamespace(t *testing.T) {
	c, _, _ := isolated(t, "filesystem/linux,namespaces/pid,cgroups/cpu,cgroups/mem", nil)
	s := subscribe(t, c.MasterAddr, codec.Protobuf, frameworkInfo("pidns"))
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	s.launch(offer, "ns", `tr '\0' ' ' < /proc/1/cmdline > init; ls /proc | grep -c '^[0-9]' > count; echo $$ > self`,
		taskResources("*", 0.1, 32))
	waitFor(t, s, mesospb.TaskState_TASK_FINISHED)
	dir := sandbox(t, c, s.fwID.GetValue(), "ns")
	if init := readFile(t, filepath.Join(dir, "init")); !strings.Contains(init, "executor") {
		t.Errorf("pid 1 in the task's namespace is %q, want the executor", init)
	}
	count, err := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(dir, "count"))))
	if err != nil || count > 10 {
		t.Errorf("the task sees %d processes (%v), want its container's few", count, err)
	}
	if self, _ := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(dir, "self")))); self <= 1 || self > 100 {
		t.Errorf("the task's own pid is %d, want a small pid of its namespace", self)
	}
	// The host's /proc was not touched.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", os.Getpid())); err != nil {
		t.Errorf("the host's /proc lost the test process: %v", err)
	}
}

// TestDiskQuota: disk/du with --enforce_container_disk_quota fails a task
// whose sandbox outgrows its disk.
func TestDiskQuota(t *testing.T) {
	c, _, _ := isolated(t, "cgroups/cpu,cgroups/mem,disk/du", func(cz *builtin.Containerizer) {
		cz.EnforceContainerDiskQuota = true
		cz.ContainerDiskWatchInterval = 100 * time.Millisecond
	})
	s := subscribe(t, c.MasterAddr, codec.Protobuf, frameworkInfo("filler"))
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	res := append(taskResources("*", 0.1, 32), scalar("disk", 10))
	res[2].AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("*")}
	s.launch(offer, "filler", "dd if=/dev/zero of=big bs=1M count=30 && sleep 1000", res)
	var st *mesospb.TaskStatus
	for st = s.update(true, 30*time.Second); !taskstate.IsTerminal(st.GetState()); st = s.update(true, 30*time.Second) {
	}
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_DISK ||
		!regexp.MustCompile(`^Disk usage \(\d+\w*B\) exceeds quota \(10MB\)$`).MatchString(st.GetMessage()) {
		t.Errorf("terminal update: %v %v %q", st.GetState(), st.GetReason(), st.GetMessage())
	}
	if l := st.GetLimitation().GetResources(); len(l) != 1 || l[0].GetName() != "disk" {
		t.Errorf("limitation = %v", st.GetLimitation())
	}
}

// TestDockerTaskIsNotRunOnTheHost: without the docker containerizer a
// DOCKER task fails as Mesos fails it, and nothing runs.
func TestDockerTaskIsNotRunOnTheHost(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.JSON, frameworkInfo("docker"))
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	marker := filepath.Join(t.TempDir(), "ran")
	docker := mesospb.ContainerInfo_DOCKER
	s.launchTask(offer, &mesospb.TaskInfo{
		Name:      proto.String("docker"),
		TaskId:    &mesospb.TaskID{Value: proto.String("docker")},
		AgentId:   offer.GetAgentId(),
		Resources: taskResources("*", 0.1, 32),
		Command:   &mesospb.CommandInfo{Value: proto.String("touch " + marker)},
		Container: &mesospb.ContainerInfo{Type: &docker,
			Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("busybox")}},
	})
	st := s.update(true, 30*time.Second)
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetSource() != mesospb.TaskStatus_SOURCE_AGENT ||
		st.GetReason() != mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED ||
		st.GetMessage() != "Abnormal executor termination: unknown container" {
		t.Errorf("DOCKER task: %v %v %v %q", st.GetState(), st.GetSource(), st.GetReason(), st.GetMessage())
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the DOCKER task's command ran on the host")
	}
}

// TestSecretsAndNetworks: every agent runs Mesos's environment_secret and
// network/cni isolators. A secret given by value reaches the task; one
// given by reference, or a named CNI network, fails the launch with
// Mesos's words.
func TestSecretsAndNetworks(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.Protobuf, frameworkInfo("secrets"))
	secretVar := func(s *mesospb.Secret) *mesospb.CommandInfo {
		return &mesospb.CommandInfo{Value: proto.String(`echo "password=$PASSWORD"`),
			Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{{
				Name: proto.String("PASSWORD"), Type: mesospb.Environment_Variable_SECRET.Enum(), Secret: s}}}}
	}
	mesos := mesospb.ContainerInfo_MESOS
	tests := []struct {
		id      string
		command *mesospb.CommandInfo
		ci      *mesospb.ContainerInfo
		message string // empty: TASK_FINISHED
	}{
		{"by-value", secretVar(&mesospb.Secret{Type: mesospb.Secret_VALUE.Enum(),
			Value: &mesospb.Secret_Value{Data: []byte("hunter2")}}), nil, ""},
		{"by-reference", secretVar(&mesospb.Secret{Type: mesospb.Secret_REFERENCE.Enum(),
			Reference: &mesospb.Secret_Reference{Name: proto.String("/db/password")}}), nil,
			"Failed to launch container: Default secret resolver cannot resolve references"},
		{"cni", &mesospb.CommandInfo{Value: proto.String("true")},
			&mesospb.ContainerInfo{Type: &mesos, NetworkInfos: []*mesospb.NetworkInfo{{Name: proto.String("overlay")}}},
			"Failed to launch container: Unknown CNI network 'overlay'"},
	}
	// One offer, three tasks: each case's outcome is told apart by task ID.
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	var tasks []*mesospb.TaskInfo
	for _, tc := range tests {
		tasks = append(tasks, &mesospb.TaskInfo{
			Name: proto.String(tc.id), TaskId: &mesospb.TaskID{Value: proto.String(tc.id)}, AgentId: offer.GetAgentId(),
			Resources: taskResources("*", 0.1, 32), Command: tc.command, Container: tc.ci,
		})
	}
	s.launchTasks(offer, tasks...)
	final := map[string]*mesospb.TaskStatus{}
	for len(final) < len(tests) {
		st := s.update(true, 30*time.Second)
		if taskstate.IsTerminal(st.GetState()) {
			final[st.GetTaskId().GetValue()] = st
		}
	}
	for _, tc := range tests {
		st := final[tc.id]
		if tc.message == "" {
			if st.GetState() != mesospb.TaskState_TASK_FINISHED {
				t.Errorf("%s: %v (%s), want TASK_FINISHED", tc.id, st.GetState(), st.GetMessage())
			}
			if out := readFile(t, filepath.Join(sandbox(t, c, s.fwID.GetValue(), tc.id), "stdout")); !strings.Contains(out, "password=hunter2") {
				t.Errorf("%s: stdout lacks the secret:\n%s", tc.id, out)
			}
			continue
		}
		if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED ||
			st.GetMessage() != tc.message {
			t.Errorf("%s: %v %v %q, want TASK_FAILED REASON_CONTAINER_LAUNCH_FAILED %q", tc.id, st.GetState(), st.GetReason(), st.GetMessage(), tc.message)
		}
	}
}

// TestBurstableTask: a task with a memory limit above its request
// (TaskInfo.limits, Mesos 1.11's TASK_RESOURCE_LIMITS) may use memory up to
// the limit, its container's soft limit stays the request, and its
// processes are the first the machine's OOM killer picks.
func TestBurstableTask(t *testing.T) {
	c, _, _ := isolated(t, "cgroups/cpu,cgroups/mem", nil)
	s := subscribe(t, c.MasterAddr, codec.Protobuf, frameworkInfo("burst"))
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	s.launchTask(offer, &mesospb.TaskInfo{
		Name: proto.String("burst"), TaskId: &mesospb.TaskID{Value: proto.String("burst")}, AgentId: offer.GetAgentId(),
		Resources: taskResources("*", 0.1, 32),
		Limits:    map[string]*mesospb.Value_Scalar{"mem": {Value: proto.Float64(160)}},
		// 100 MB: over the 64 MB request, under the 192 MB limit.
		Command: &mesospb.CommandInfo{Value: proto.String(
			"dd if=/dev/zero of=/dev/null bs=100M count=1 && cat /proc/self/oom_score_adj > adj && sleep 1000")},
	})
	waitFor(t, s, mesospb.TaskState_TASK_RUNNING)
	dir := sandbox(t, c, s.fwID.GetValue(), "burst")
	var adj string
	testutil.Eventually(t, 20*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "adj"))
		adj = strings.TrimSpace(string(b))
		return err == nil && adj != ""
	}, "the 100 MB task did not get past its allocation (stderr: %s)", readFileOr(filepath.Join(dir, "stderr")))
	st := statistics(t, c.AgentAddrs[0], "burst")
	if st["mem_limit_bytes"] != float64((160+32)<<20) || st["mem_soft_limit_bytes"] != float64((32+32)<<20) {
		t.Errorf("limits: mem_limit_bytes %v mem_soft_limit_bytes %v, want 192 MB and 64 MB", st["mem_limit_bytes"], st["mem_soft_limit_bytes"])
	}
	want := 1000 - (1000*uint64(64<<20))/totalMemory(t)
	if adj != strconv.FormatUint(want, 10) {
		t.Errorf("oom_score_adj = %s, want %d", adj, want)
	}
}

func readFileOr(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func totalMemory(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	var kb uint64
	if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err != nil {
		t.Fatal(err)
	}
	return kb << 10
}
