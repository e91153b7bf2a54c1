package validation

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/resources"
)

func TestID(t *testing.T) {
	for _, tc := range []struct {
		id, err string
	}{
		{"task-1", ""}, {"", "must not be empty"}, {".", "disallowed"}, {"..", "disallowed"},
		{"a/b", "invalid characters"}, {`a\b`, "invalid characters"}, {"a\nb", "invalid characters"},
		{strings.Repeat("x", 256), "greater than 255"}, {strings.Repeat("x", 255), ""},
	} {
		err := ID(tc.id)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ID(%q) = %v, want %q", tc.id, err, tc.err)
		}
	}
}

func TestRole(t *testing.T) {
	for _, tc := range []struct {
		role string
		ok   bool
	}{
		{"*", true}, {"web", true}, {"a/b", true}, {"", false}, {"/a", false}, {"a/", false},
		{"a//b", false}, {"a/./b", false}, {"..", false}, {"a/*", false}, {"-a", false}, {"a b", false},
	} {
		if err := Role(tc.role); (err == nil) != tc.ok {
			t.Errorf("Role(%q) = %v, want ok=%v", tc.role, err, tc.ok)
		}
	}
}

func caps(cs ...mesospb.FrameworkInfo_Capability_Type) []*mesospb.FrameworkInfo_Capability {
	var out []*mesospb.FrameworkInfo_Capability
	for _, c := range cs {
		out = append(out, &mesospb.FrameworkInfo_Capability{Type: c.Enum()})
	}
	return out
}

func TestFrameworkInfo(t *testing.T) {
	mr := mesospb.FrameworkInfo_Capability_MULTI_ROLE
	for _, tc := range []struct {
		name string
		fi   *mesospb.FrameworkInfo
		err  string
	}{
		{"default role", &mesospb.FrameworkInfo{}, ""},
		{"role", &mesospb.FrameworkInfo{Role: proto.String("web")}, ""},
		{"roles without MULTI_ROLE", &mesospb.FrameworkInfo{Roles: []string{"a"}}, "must not be set when the framework is not MULTI_ROLE"},
		{"role with MULTI_ROLE", &mesospb.FrameworkInfo{Role: proto.String("a"), Capabilities: caps(mr)}, "'FrameworkInfo.role' must not be set"},
		{"duplicate roles", &mesospb.FrameworkInfo{Roles: []string{"a", "a"}, Capabilities: caps(mr)}, "duplicate"},
		{"invalid roles", &mesospb.FrameworkInfo{Roles: []string{"/a"}, Capabilities: caps(mr)}, "invalid role"},
		{"invalid role", &mesospb.FrameworkInfo{Role: proto.String("a b")}, "not a valid role"},
		{"bad id", &mesospb.FrameworkInfo{Id: &mesospb.FrameworkID{Value: proto.String("a/b")}}, "invalid characters"},
		{"negative failover", &mesospb.FrameworkInfo{FailoverTimeout: proto.Float64(-1)}, ""},
		{"huge failover", &mesospb.FrameworkInfo{FailoverTimeout: proto.Float64(1e10)}, "The framework failover_timeout (1e+10) is invalid"},
		{"huge negative failover", &mesospb.FrameworkInfo{FailoverTimeout: proto.Float64(-1e10)}, "failover_timeout"},
		{"infinite failover", &mesospb.FrameworkInfo{FailoverTimeout: proto.Float64(math.Inf(1))}, "failover_timeout"},
	} {
		err := FrameworkInfo(tc.fi)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestFrameworkUpdate(t *testing.T) {
	old := &mesospb.FrameworkInfo{User: proto.String("u"), Name: proto.String("n"), Principal: proto.String("p")}
	ok := proto.Clone(old).(*mesospb.FrameworkInfo)
	ok.Name = proto.String("m")
	if err := FrameworkUpdate(old, ok); err != nil {
		t.Errorf("name change: %v", err)
	}
	for _, mod := range []func(*mesospb.FrameworkInfo){
		func(f *mesospb.FrameworkInfo) { f.Principal = nil },
		func(f *mesospb.FrameworkInfo) { f.User = proto.String("x") },
		func(f *mesospb.FrameworkInfo) { f.Checkpoint = proto.Bool(true) },
	} {
		n := proto.Clone(old).(*mesospb.FrameworkInfo)
		mod(n)
		if err := FrameworkUpdate(old, n); err == nil {
			t.Errorf("update %v accepted", n)
		}
	}
	if err := SuppressedRoles([]string{"a"}, []string{"a", "b"}); err == nil {
		t.Error("suppressed role outside roles accepted")
	}
}

func TestSchedulerCall(t *testing.T) {
	fid := &mesospb.FrameworkID{Value: proto.String("f")}
	for _, tc := range []struct {
		name string
		call *schedulerpb.Call
		err  string
	}{
		{"no type", &schedulerpb.Call{}, "'type'"},
		{"subscribe without payload", &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum()}, "'subscribe'"},
		{"subscribe id mismatch", &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), FrameworkId: fid,
			Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: &mesospb.FrameworkInfo{}}}, "differs"},
		{"subscribe", &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(),
			Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: &mesospb.FrameworkInfo{}}}, ""},
		{"no framework id", &schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()}, "'framework_id'"},
		{"accept without payload", &schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), FrameworkId: fid}, "'accept'"},
		{"bad uuid", &schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE.Enum(), FrameworkId: fid,
			Acknowledge: &schedulerpb.Call_Acknowledge{Uuid: []byte{1}}}, "UUID"},
		{"nil uuid", &schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE.Enum(), FrameworkId: fid,
			Acknowledge: &schedulerpb.Call_Acknowledge{Uuid: make([]byte, 16)}}, "Not a valid UUID"},
		{"version 6 uuid", &schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE.Enum(), FrameworkId: fid,
			Acknowledge: &schedulerpb.Call_Acknowledge{Uuid: uuidV(6)}}, "Not a valid UUID"},
		{"good uuid", &schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE.Enum(), FrameworkId: fid,
			Acknowledge: &schedulerpb.Call_Acknowledge{Uuid: uuidV(4)}}, ""},
		{"operation status bad uuid", &schedulerpb.Call{Type: schedulerpb.Call_ACKNOWLEDGE_OPERATION_STATUS.Enum(), FrameworkId: fid,
			AcknowledgeOperationStatus: &schedulerpb.Call_AcknowledgeOperationStatus{Uuid: make([]byte, 16)}}, "Not a valid UUID"},
		{"update id mismatch", &schedulerpb.Call{Type: schedulerpb.Call_UPDATE_FRAMEWORK.Enum(), FrameworkId: fid,
			UpdateFramework: &schedulerpb.Call_UpdateFramework{FrameworkInfo: &mesospb.FrameworkInfo{}}}, "differs"},
		{"unknown", &schedulerpb.Call{Type: schedulerpb.Call_UNKNOWN.Enum(), FrameworkId: fid}, ""},
	} {
		err := SchedulerCall(tc.call)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

// uuidV returns a 16 byte UUID with version nibble v.
func uuidV(v byte) []byte {
	b := make([]byte, 16)
	b[6] = v << 4
	return b
}

func res(t *testing.T, text string) resources.Resources {
	t.Helper()
	rs, err := resources.Parse(text, "*")
	if err != nil {
		t.Fatal(err)
	}
	return rs.Allocate("*")
}

func TestTask(t *testing.T) {
	avail := res(t, "cpus:2;mem:512")
	ctx := TaskContext{
		FrameworkID: "f", AgentID: "a", Available: avail,
		TaskIDInUse: func(id string) (bool, bool) { return id == "dup" || id == "unr", id == "unr" },
		Executor: func(id string) (*mesospb.ExecutorInfo, bool) {
			if id == "known" {
				return &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("known")},
					FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")}, Command: &mesospb.CommandInfo{Value: proto.String("x")}}, true
			}
			return nil, false
		},
	}
	base := func(id string) *mesospb.TaskInfo {
		return &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
			AgentId: &mesospb.AgentID{Value: proto.String("a")}, Resources: res(t, "cpus:1;mem:128"),
			Command: &mesospb.CommandInfo{Value: proto.String("true")}}
	}
	exec := func(id string) *mesospb.ExecutorInfo {
		return &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String(id)},
			FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")}, Command: &mesospb.CommandInfo{Value: proto.String("x")}}
	}
	for _, tc := range []struct {
		name string
		mod  func(*mesospb.TaskInfo)
		err  string
	}{
		{"ok", nil, ""},
		{"duplicate", func(ti *mesospb.TaskInfo) { ti.TaskId.Value = proto.String("dup") }, "duplicate ID"},
		{"unreachable id", func(ti *mesospb.TaskInfo) { ti.TaskId.Value = proto.String("unr") }, "unreachable task"},
		{"wrong agent", func(ti *mesospb.TaskInfo) { ti.AgentId.Value = proto.String("b") }, "invalid agent"},
		{"no resources", func(ti *mesospb.TaskInfo) { ti.Resources = nil }, "no resources"},
		{"too much", func(ti *mesospb.TaskInfo) { ti.Resources = res(t, "cpus:3") }, "more than available"},
		{"neither", func(ti *mesospb.TaskInfo) { ti.Command = nil }, "not both"},
		{"both", func(ti *mesospb.TaskInfo) { ti.Executor = exec("e") }, "not both"},
		{"custom executor", func(ti *mesospb.TaskInfo) { ti.Command = nil; ti.Executor = exec("e") }, ""},
		{"invalid check", func(ti *mesospb.TaskInfo) {
			ti.Check = &mesospb.CheckInfo{Type: mesospb.CheckInfo_HTTP.Enum()}
			ti.HealthCheck = &mesospb.HealthCheck{}
		}, "Task uses invalid check: Expecting 'http' to be set for HTTP check"},
		{"invalid health check", func(ti *mesospb.TaskInfo) {
			ti.HealthCheck = &mesospb.HealthCheck{Type: mesospb.HealthCheck_HTTP.Enum(),
				Http: &mesospb.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(80), Path: proto.String("health")}}
		}, "Task uses invalid health check: The path 'health' of HTTP health check must start with '/'"},
		{"health check without type", func(ti *mesospb.TaskInfo) { ti.HealthCheck = &mesospb.HealthCheck{} },
			"Task uses invalid health check: HealthCheck must specify 'type'"},
		{"executor without framework id", func(ti *mesospb.TaskInfo) {
			ti.Command = nil
			ti.Executor = exec("e")
			ti.Executor.FrameworkId = nil
		}, "framework_id"},
		{"default executor on LAUNCH", func(ti *mesospb.TaskInfo) {
			ti.Command = nil
			ti.Executor = exec("e")
			ti.Executor.Command = nil
			ti.Executor.Type = mesospb.ExecutorInfo_DEFAULT.Enum()
		}, "must be 'CUSTOM'"},
		{"incompatible executor", func(ti *mesospb.TaskInfo) {
			ti.Command = nil
			ti.Executor = exec("known")
			ti.Executor.Name = proto.String("other")
		}, "not compatible"},
		{"negative grace", func(ti *mesospb.TaskInfo) {
			ti.KillPolicy = &mesospb.KillPolicy{GracePeriod: &mesospb.DurationInfo{Nanoseconds: proto.Int64(-1)}}
		}, "grace_period"},
		{"limits without capability", func(ti *mesospb.TaskInfo) {
			ti.Limits = map[string]*mesospb.Value_Scalar{"cpus": {Value: proto.Float64(2)}}
		}, "resource limits"},
	} {
		ti := base("t")
		if tc.mod != nil {
			tc.mod(ti)
		}
		err := Task(ti, ctx)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestTaskGroup(t *testing.T) {
	ctx := TaskContext{FrameworkID: "f", AgentID: "a", Available: res(t, "cpus:2;mem:512;disk:100")}
	e := &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")}, Type: mesospb.ExecutorInfo_DEFAULT.Enum(),
		Resources: res(t, "cpus:0.1;mem:32;disk:10")}
	task := func(id string) *mesospb.TaskInfo {
		return &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
			AgentId: &mesospb.AgentID{Value: proto.String("a")}, Resources: res(t, "cpus:0.5;mem:64"),
			Executor: proto.Clone(e).(*mesospb.ExecutorInfo)}
	}
	g := &mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{task("a"), task("b")}}
	if err := TaskGroup(g, e, ctx); err != nil {
		t.Fatalf("valid group: %v", err)
	}
	small := proto.Clone(e).(*mesospb.ExecutorInfo)
	small.Resources = res(t, "cpus:0.1;mem:16;disk:10")
	for i := range g.Tasks {
		g.Tasks[i].Executor = proto.Clone(small).(*mesospb.ExecutorInfo)
	}
	if err := TaskGroup(g, small, ctx); err == nil || !strings.Contains(err.Error(), "less memory") {
		t.Errorf("small executor: %v", err)
	}
	dup := &mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{task("a"), task("a")}}
	if err := TaskGroup(dup, e, ctx); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate ids in group: %v", err)
	}
}

// TestTaskGroupTaskChecks: the task-group-only checks of Mesos's
// group::internal::validateTask: an HTTP or TCP health check on a task
// whose container joins networks of its own, and resource limits on a task
// that shares its executor's cgroups, are refused.
func TestTaskGroupTaskChecks(t *testing.T) {
	ctx := TaskContext{FrameworkID: "f", AgentID: "a", Available: res(t, "cpus:2;mem:512;disk:100"), AgentSupportsLimits: true}
	e := &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")}, Type: mesospb.ExecutorInfo_DEFAULT.Enum(),
		Resources: res(t, "cpus:0.1;mem:32;disk:10")}
	task := func(id string) *mesospb.TaskInfo {
		return &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
			AgentId: &mesospb.AgentID{Value: proto.String("a")}, Resources: res(t, "cpus:0.5;mem:64"),
			Executor: proto.Clone(e).(*mesospb.ExecutorInfo),
			Command:  &mesospb.CommandInfo{Value: proto.String("sleep 10")}}
	}
	networked := func(hc mesospb.HealthCheck_Type) *mesospb.TaskInfo {
		tk := task("n")
		tk.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(),
			NetworkInfos: []*mesospb.NetworkInfo{{Name: proto.String("net1")}}}
		tk.HealthCheck = &mesospb.HealthCheck{Type: hc.Enum()}
		switch hc {
		case mesospb.HealthCheck_HTTP:
			tk.HealthCheck.Http = &mesospb.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(80)}
		case mesospb.HealthCheck_TCP:
			tk.HealthCheck.Tcp = &mesospb.HealthCheck_TCPCheckInfo{Port: proto.Uint32(80)}
		case mesospb.HealthCheck_COMMAND:
			tk.HealthCheck.Command = &mesospb.CommandInfo{Value: proto.String("true")}
		}
		return tk
	}
	limited := func(share *bool) *mesospb.TaskInfo {
		tk := task("l")
		tk.Limits = map[string]*mesospb.Value_Scalar{"cpus": {Value: proto.Float64(1)}}
		if share != nil {
			tk.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(),
				LinuxInfo: &mesospb.LinuxInfo{ShareCgroups: share}}
		}
		return tk
	}
	const netErr = "Task 'n' is invalid: HTTP and TCP health checks are not supported for nested containers not joining parent's network"
	const limErr = "Task 'l' is invalid: Resource limits may only be set for tasks within a task group when the 'share_cgroups' field is set to 'false'."
	for _, tc := range []struct {
		name string
		task *mesospb.TaskInfo
		want string
	}{
		{"HTTP health check, own network", networked(mesospb.HealthCheck_HTTP), netErr},
		{"TCP health check, own network", networked(mesospb.HealthCheck_TCP), netErr},
		{"COMMAND health check, own network", networked(mesospb.HealthCheck_COMMAND), ""},
		{"limits, cgroups shared by default", limited(nil), limErr},
		{"limits, cgroups shared", limited(proto.Bool(true)), limErr},
		{"limits, own cgroups", limited(proto.Bool(false)), ""},
	} {
		err := TaskGroup(&mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{tc.task}}, e, ctx)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
