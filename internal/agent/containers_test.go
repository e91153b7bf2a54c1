package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/containerizer/isolator/posix"
	"github.com/meso-project/meso/internal/containerizer/launcher"
	"github.com/meso-project/meso/pkg/resources"
)

// testIsolator stands in for a real isolator: it records the resources the
// agent sizes containers to, and "hits a memory limit" when the container's
// sandbox holds a file named limited (the fake executor's "limit" task
// writes it).
type testIsolator struct {
	mu      sync.Mutex
	updates map[string][]*mesospb.Resource // container ID -> last requests
}

func (i *testIsolator) Name() string { return "test/limit" }

func (i *testIsolator) Update(_ context.Context, c containerizer.Container, requests []*mesospb.Resource, _ map[string]float64) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.updates == nil {
		i.updates = map[string][]*mesospb.Resource{}
	}
	i.updates[c.ID] = requests
	return nil
}

func (i *testIsolator) last(id string) resources.Resources {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.updates[id]
}

func (i *testIsolator) limited(c containerizer.Container) *containerizer.Limitation {
	if _, err := os.Stat(filepath.Join(c.Dir, "limited")); err != nil {
		return nil
	}
	return &containerizer.Limitation{
		Reason:  mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY,
		Message: "Memory limit exceeded: Requested: 96MB Maximum Used: 96MB",
		Resources: []*mesospb.Resource{{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(),
			Scalar: &mesospb.Value_Scalar{Value: proto.Float64(96)}}},
	}
}

func (i *testIsolator) Check(_ context.Context, c containerizer.Container) (*containerizer.Limitation, error) {
	return i.limited(c), nil
}

func (i *testIsolator) Watch(ctx context.Context, c containerizer.Container) (*containerizer.Limitation, error) {
	for {
		if l := i.limited(c); l != nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// withIsolators gives the test agent a containerizer with the posix
// launcher, the launch helper and the isolators.
func withIsolators(t *testing.T, isolators ...containerizer.Isolator) func(*Config) {
	return func(cfg *Config) {
		cz, err := containerizer.New(t.Context(), containerizer.Config{Launcher: launcher.NewPosix(), Isolators: isolators})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cz.Close() })
		cfg.Containerizer = cz
	}
}

func TestUpdatesCarryTheContainerStatus(t *testing.T) {
	m := newFakeMaster(t, 30)
	startAgent(t, m, "normal", nil)
	runTask(m, commandTask("t1", "exit"))
	running := m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)
	cs := running.GetContainerStatus()
	if cs.GetContainerId().GetValue() == "" || cs.GetExecutorPid() == 0 ||
		cs.GetNetworkInfos()[0].GetIpAddresses()[0].GetIpAddress() != "127.0.0.1" {
		t.Errorf("TASK_RUNNING container_status = %v", cs)
	}
	m.ack("t1", running)
	finished := m.waitUpdate(t, "t1", mesospb.TaskState_TASK_FINISHED)
	if finished.GetContainerStatus().GetContainerId().GetValue() != cs.GetContainerId().GetValue() {
		t.Errorf("TASK_FINISHED container_status = %v", finished.GetContainerStatus())
	}
}

// TestLimitationEndsTheTask: the executor reports its task failed after
// the container hit a memory limit; the agent reports what Mesos reports,
// the limitation, from the agent.
func TestLimitationEndsTheTask(t *testing.T) {
	m := newFakeMaster(t, 30)
	iso := &testIsolator{}
	startAgent(t, m, "normal", withIsolators(t, iso))
	runTask(m, commandTask("t1", "limit"))
	m.ack("t1", m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING))
	failed := m.waitUpdate(t, "t1", mesospb.TaskState_TASK_FAILED)
	if failed.GetSource() != mesospb.TaskStatus_SOURCE_AGENT ||
		failed.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY ||
		!strings.HasPrefix(failed.GetMessage(), "Memory limit exceeded") ||
		len(failed.GetLimitation().GetResources()) != 1 || failed.GetLimitation().GetResources()[0].GetName() != "mem" {
		t.Errorf("TASK_FAILED = %v", failed)
	}
	for _, st := range m.updates("t1") {
		if st.GetState() == mesospb.TaskState_TASK_FAILED && st.GetSource() == mesospb.TaskStatus_SOURCE_EXECUTOR {
			t.Errorf("the executor's own TASK_FAILED went out: %v", st)
		}
	}
}

func TestContainersThatCannotRun(t *testing.T) {
	docker := mesospb.ContainerInfo_DOCKER
	mesos := mesospb.ContainerInfo_MESOS
	image := mesospb.Image_DOCKER
	tests := []struct {
		name    string
		ci      *mesospb.ContainerInfo
		reason  mesospb.TaskStatus_Reason
		message string
	}{
		{"docker without the docker containerizer",
			&mesospb.ContainerInfo{Type: &docker, Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("busybox")}},
			mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED, "Abnormal executor termination: unknown container"},
		{"an image without image providers",
			&mesospb.ContainerInfo{Type: &mesos, Mesos: &mesospb.ContainerInfo_MesosInfo{
				Image: &mesospb.Image{Type: &image, Docker: &mesospb.Image_Docker{Name: proto.String("busybox")}}}},
			mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED, "Failed to launch container: Unsupported container image type: DOCKER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMaster(t, 30)
			ta := startAgent(t, m, "normal", nil)
			task := commandTask("t1", "exit")
			task.Container = tc.ci
			runTask(m, task)
			failed := m.waitUpdate(t, "t1", mesospb.TaskState_TASK_FAILED)
			if failed.GetSource() != mesospb.TaskStatus_SOURCE_AGENT || failed.GetReason() != tc.reason ||
				failed.GetMessage() != tc.message {
				t.Errorf("TASK_FAILED = %v", failed)
			}
			if len(m.updates("t1")) != 1 {
				t.Errorf("updates %v: the executor ran", states(m.updates("t1")))
			}
			snap := ta.getJSON(t, "/metrics/snapshot")
			if snap["slave/container_launch_errors"] != 1.0 {
				t.Errorf("slave/container_launch_errors = %v", snap["slave/container_launch_errors"])
			}
			if _, ok := snap["containerizer/mesos/container_destroy_errors"]; !ok {
				t.Error("no containerizer/mesos/container_destroy_errors metric")
			}
		})
	}
}

// customTask is a task for a custom executor (the fake executor) whose ID
// is exID.
func customTask(id, exID, command string) *mesospb.TaskInfo {
	task := commandTask(id, command)
	task.Executor = &mesospb.ExecutorInfo{
		ExecutorId: &mesospb.ExecutorID{Value: proto.String(exID)},
		Command:    &mesospb.CommandInfo{Value: proto.String(os.Args[0]), Shell: proto.Bool(false)},
		Resources: []*mesospb.Resource{
			{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(0.25)},
				AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("*")}},
			{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(16)},
				AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("*")}},
		},
	}
	return task
}

// TestContainerFollowsItsTasks: a task joining a running executor grows
// its container to executor + tasks before the task is sent; a finished
// task shrinks it.
func TestContainerFollowsItsTasks(t *testing.T) {
	m := newFakeMaster(t, 30)
	iso := &testIsolator{}
	ta := startAgent(t, m, "normal", withIsolators(t, iso, posix.NewMem()))
	runTask(m, customTask("t1", "ex", "run"))
	m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)
	var cid string
	eventually(t, 5*time.Second, func() bool {
		s := ta.getJSON(t, "/state")
		ex := s["frameworks"].([]any)[0].(map[string]any)["executors"].([]any)[0].(map[string]any)
		cid, _ = ex["container"].(string)
		return cid != ""
	}, "no container in /state")
	scalars := func() (float64, float64) {
		rs := iso.last(cid)
		return rs.Scalar("cpus"), rs.Scalar("mem")
	}
	if cpus, mem := scalars(); cpus != 0.75 || mem != 80 {
		t.Errorf("container after t1 = cpus %v mem %v, want 0.25+0.5 and 16+64", cpus, mem)
	}
	runTask(m, customTask("t2", "ex", "run"))
	m.waitUpdate(t, "t2", mesospb.TaskState_TASK_RUNNING)
	if cpus, mem := scalars(); cpus != 1.25 || mem != 144 {
		t.Errorf("container after t2 = cpus %v mem %v, want 0.25+0.5+0.5 and 16+64+64", cpus, mem)
	}
	// /monitor/statistics and /containers list the container.
	var stats []map[string]any
	getJSONArray(t, "http://"+ta.addr+"/slave(1)/monitor/statistics", &stats)
	if len(stats) != 1 || stats[0]["executor_id"] != "ex" || stats[0]["framework_id"] != testFrameworkID {
		t.Fatalf("/monitor/statistics = %v", stats)
	}
	st := stats[0]["statistics"].(map[string]any)
	if st["mem_limit_bytes"] != float64(144<<20) || st["cpus_soft_limit"] != 1.25 || st["mem_rss_bytes"] == nil {
		t.Errorf("statistics = %v", st)
	}
	var old []map[string]any
	getJSONArray(t, "http://"+ta.addr+"/monitor/statistics.json", &old)
	if len(old) != 1 {
		t.Errorf("/monitor/statistics.json = %v", old)
	}
	var containers []map[string]any
	getJSONArray(t, "http://"+ta.addr+"/containers?container_id="+cid, &containers)
	if len(containers) != 1 || containers[0]["container_id"] != cid ||
		containers[0]["status"].(map[string]any)["executor_pid"] == nil {
		t.Errorf("/containers = %v", containers)
	}
}

func getJSONArray(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestExecutorLimits(t *testing.T) {
	lim := func(kv ...any) map[string]*mesospb.Value_Scalar {
		out := map[string]*mesospb.Value_Scalar{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = &mesospb.Value_Scalar{Value: proto.Float64(kv[i+1].(float64))}
		}
		return out
	}
	inf := math.Inf(1)
	tests := []struct {
		name  string
		tasks []map[string]*mesospb.Value_Scalar // one task each (0.5 cpus, 64 mem)
		cfs   bool
		want  map[string]float64
	}{
		{"no limits", []map[string]*mesospb.Value_Scalar{nil}, false, nil},
		// The executor's own 0.1 cpus / 32 mem count toward the limits.
		{"one task", []map[string]*mesospb.Value_Scalar{lim("cpus", 2.0, "mem", 256.0)}, false,
			map[string]float64{"cpus": 2.1, "mem": 288}},
		// A task without limits: its mem counts; its cpus only with CFS,
		// else no cpu limit at all.
		{"mixed", []map[string]*mesospb.Value_Scalar{lim("cpus", 2.0, "mem", 256.0), nil}, false,
			map[string]float64{"mem": 352}},
		{"mixed with cfs", []map[string]*mesospb.Value_Scalar{lim("cpus", 2.0, "mem", 256.0), nil}, true,
			map[string]float64{"cpus": 2.6, "mem": 352}},
		{"infinite", []map[string]*mesospb.Value_Scalar{lim("mem", inf), lim("mem", 128.0)}, false,
			map[string]float64{"mem": inf}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fw := &framework{id: testFrameworkID, info: frameworkInfo(false)}
			ex := newExecutor(fw, &mesospb.ExecutorInfo{Resources: executorOverhead(nil)}, false)
			for i, l := range tc.tasks {
				task := commandTask(fmt.Sprintf("t%d", i), "run")
				task.Limits = l
				ex.addLaunched(ex.newTask(task, mesospb.TaskState_TASK_RUNNING))
			}
			got := ex.limits("", tc.cfs)
			if len(got) != len(tc.want) {
				t.Fatalf("limits = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || (g != v && math.Abs(g-v) > 1e-9) {
					t.Errorf("limits[%s] = %v, want %v (all: %v)", k, g, v, got)
				}
			}
		})
	}
}
