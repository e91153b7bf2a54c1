package master

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/httpapi"
)

// richTask has every field /state writes, in its less usual forms too.
func richTask() *mesospb.Task {
	tid := &mesospb.TaskID{Value: proto.String("t<1>&\"x\"")}
	return &mesospb.Task{
		Name: proto.String("name\u2028é\x01"), TaskId: tid,
		FrameworkId: &mesospb.FrameworkID{Value: proto.String("fw")},
		ExecutorId:  &mesospb.ExecutorID{Value: proto.String("ex")},
		AgentId:     &mesospb.AgentID{Value: proto.String("ag")},
		State:       mesospb.TaskState_TASK_RUNNING.Enum(),
		Resources: []*mesospb.Resource{
			{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(0.1)},
				AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("web")}},
			{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(0.2)},
				AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("web")}},
			{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(1e-7)}},
			{Name: proto.String("foo"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(3)}},
		},
		Statuses: []*mesospb.TaskStatus{
			{TaskId: tid, State: mesospb.TaskState_TASK_STARTING.Enum(), Timestamp: proto.Float64(1.5)},
			{TaskId: tid, State: mesospb.TaskState_TASK_RUNNING.Enum(), Timestamp: proto.Float64(1.7e9 + 0.123456),
				Healthy: proto.Bool(true),
				Labels:  &mesospb.Labels{Labels: []*mesospb.Label{{Key: proto.String("k"), Value: proto.String("v")}, {Key: proto.String("nv")}}},
				ContainerStatus: &mesospb.ContainerStatus{
					ContainerId: &mesospb.ContainerID{Value: proto.String("c1"),
						Parent: &mesospb.ContainerID{Value: proto.String("c0")}},
					NetworkInfos: []*mesospb.NetworkInfo{{
						Name:        proto.String("net"),
						IpAddresses: []*mesospb.NetworkInfo_IPAddress{{IpAddress: proto.String("10.0.0.1"), Protocol: mesospb.NetworkInfo_IPv4.Enum()}},
					}},
				}},
		},
		StatusUpdateState: mesospb.TaskState_TASK_RUNNING.Enum(),
		StatusUpdateUuid:  make([]byte, 16),
		Labels:            &mesospb.Labels{Labels: []*mesospb.Label{{Key: proto.String("a"), Value: proto.String("b")}}},
		Discovery: &mesospb.DiscoveryInfo{Visibility: mesospb.DiscoveryInfo_FRAMEWORK.Enum(),
			Name: proto.String("d")},
		Container:   &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum()},
		HealthCheck: &mesospb.HealthCheck{Type: mesospb.HealthCheck_TCP.Enum(), Tcp: &mesospb.HealthCheck_TCPCheckInfo{Port: proto.Uint32(80)}},
		KillPolicy:  &mesospb.KillPolicy{GracePeriod: &mesospb.DurationInfo{Nanoseconds: proto.Int64(5)}},
		User:        proto.String("root"),
		Limits:      map[string]*mesospb.Value_Scalar{"cpus": {Value: proto.Float64(2)}, "mem": {Value: proto.Float64(math.Inf(1))}},
	}
}

func TestCopyTaskCopiesEveryField(t *testing.T) {
	task := richTask()
	// Every field of Task must be set in richTask, so that a field added
	// to the proto and forgotten in copyTask shows here.
	fields := task.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); !task.ProtoReflect().Has(fd) {
			t.Errorf("richTask does not set %s", fd.Name())
		}
	}
	snap := copyTask(task)
	if diff := cmp.Diff(task, snap, protocmp.Transform()); diff != "" {
		t.Errorf("copyTask differs (-task +copy):\n%s", diff)
	}
	// The loop's changes to the new version do not reach the task, which
	// reads may hold.
	snap.Statuses[1] = &mesospb.TaskStatus{State: mesospb.TaskState_TASK_FAILED.Enum()}
	snap.Statuses = append(snap.Statuses, &mesospb.TaskStatus{})
	snap.State = mesospb.TaskState_TASK_FAILED.Enum()
	if task.GetState() != mesospb.TaskState_TASK_RUNNING || len(task.Statuses) != 2 ||
		task.Statuses[1].GetState() != mesospb.TaskState_TASK_RUNNING {
		t.Errorf("the task changed with its new version: %v", task)
	}
}

// decodeJSON decodes b, failing the test if it is not JSON.
func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return v
}

func TestAppendTaskJSON(t *testing.T) {
	plain := scaleReregister(t, 7).Tasks[3]
	bare := &mesospb.Task{Name: proto.String("n"), TaskId: &mesospb.TaskID{Value: proto.String("t")},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")}, AgentId: &mesospb.AgentID{Value: proto.String("a")},
		State: mesospb.TaskState_TASK_STAGING.Enum()}
	ports := proto.CloneOf(plain)
	ports.Resources = append(ports.Resources, &mesospb.Resource{Name: proto.String("ports"), Type: mesospb.Value_RANGES.Enum(),
		Ranges: &mesospb.Value_Ranges{Range: []*mesospb.Value_Range{{Begin: proto.Uint64(31000), End: proto.Uint64(31001)}}}})
	for name, task := range map[string]*mesospb.Task{"rich": richTask(), "plain": plain, "bare": bare, "ports": ports} {
		t.Run(name, func(t *testing.T) {
			want := httptest.NewRecorder()
			httpapi.WriteJSON(want, nil, 200, taskJSON(task))
			got := appendTaskJSON(nil, task)
			if diff := cmp.Diff(decodeJSON(t, want.Body.Bytes()), decodeJSON(t, got)); diff != "" {
				t.Errorf("appendTaskJSON differs from taskJSON (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAppendJSON checks the encoder against encoding/json byte for byte:
// its contract is to write what httpapi.WriteJSON writes, faster.
func TestAppendJSON(t *testing.T) {
	model := object{
		"s":      "a<b>&c\"d\\e\n\t\x00\u2028\u2029é\xff",
		"floats": []any{0.0, 1.0, -2.5, 1e-7, 1e21, 123456789.125, 1e20, float32(0.1), math.NaN(), math.Inf(1), math.Inf(-1)},
		"ints":   []any{1, int32(-2), int64(3), uint32(4), uint64(5)},
		"nested": object{"b": true, "a": nil, "list": []object{{"z": 1, "y": "x"}}, "empty": []object{}},
		"flags":  map[string]string{"b": "2", "a": "1"},
		"strs":   []string{"x", "y"},
		"raw":    json.RawMessage(`{"value":"x"}`),
		"nilraw": []json.RawMessage{},
		"later":  deferred(func() any { return object{"k": 1.5} }),
		"other":  struct{ A int }{A: 1},
	}
	want := httptest.NewRecorder()
	httpapi.WriteJSON(want, nil, 200, model)
	if got := appendJSON(nil, model); !bytes.Equal(got, want.Body.Bytes()) {
		t.Errorf("appendJSON:\n got %s\nwant %s", got, want.Body.Bytes())
	}
}

// materialize is v with its deferred values computed and its task lists
// built as taskJSON objects, as /state was before it deferred them.
func materialize(v any) any {
	switch v := v.(type) {
	case deferred:
		return materialize(v())
	case taskList:
		ts := slices.Clone(v.tasks)
		if v.sort {
			slices.SortFunc(ts, func(a, b *mesospb.Task) int {
				return strings.Compare(a.GetTaskId().GetValue(), b.GetTaskId().GetValue())
			})
		}
		out := []object{}
		for _, t := range ts {
			out = append(out, taskJSON(t))
		}
		return out
	case object:
		out := object{}
		for k, x := range v {
			out[k] = materialize(x)
		}
		return out
	case []any:
		out := []any{}
		for _, x := range v {
			out = append(out, materialize(x))
		}
		return out
	case []object:
		out := []object{}
		for _, x := range v {
			out = append(out, materialize(x).(object))
		}
		return out
	}
	return v
}

// TestStateJSONDeferred checks that /state's model, whose agents and
// tasks are written off the loop, encodes as encoding/json encodes the
// same model built fully (the deferred parts run first).
func TestStateJSONDeferred(t *testing.T) {
	m := scaleMaster(t, 20)
	var model any
	m.st.viewing(nil, func() { model = m.st.stateJSON(nil) })
	got := appendJSON(nil, model)
	want := httptest.NewRecorder()
	httpapi.WriteJSON(want, nil, 200, materialize(model))
	if diff := cmp.Diff(decodeJSON(t, want.Body.Bytes()), decodeJSON(t, got)); diff != "" {
		t.Errorf("/state differs (-encoding/json +appendJSON):\n%s", diff)
	}
	m.st.viewing(nil, func() { model = m.st.stateJSON(nil) })
	if par := streamed(t, model, 4); !bytes.Equal(par, got) {
		t.Errorf("streamModel on 4 goroutines differs from appendJSON:\n%s\n%s", par, got)
	}
	// The tasks are all there, each as taskJSON writes it.
	st := decodeJSON(t, got).(map[string]any)
	n := 0
	for _, f := range st["frameworks"].([]any) {
		n += len(f.(map[string]any)["tasks"].([]any))
	}
	if n != 20*scaleTasksPerAgent {
		t.Errorf("/state has %d tasks, want %d", n, 20*scaleTasksPerAgent)
	}
}

// TestReadsWhileTasksChange reads /master/state and GET_STATE (both
// encodings), whose answers are built and encoded off the loop from
// snapshots, while the loop keeps changing the tasks they were taken
// from: under -race this checks that the snapshots share nothing the loop
// writes.
func TestReadsWhileTasksChange(t *testing.T) {
	h, agent, sched := readCluster(t, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5 {
			resp, err := http.Get(h.url("/master/state"))
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			h.operatorBoth(&masterpb.Call{Type: masterpb.Call_GET_STATE.Enum()})
		}
	}()
	states := []mesospb.TaskState{mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING}
	for i := 0; ; i++ {
		select {
		case <-done:
			return
		default:
		}
		uuid := bytes.Repeat([]byte{byte(i)}, 16)
		agent.statusUpdate(sched.id, "t", states[i%2], uuid)
		agent.statusUpdate(sched.id, "e", states[(i+1)%2], uuid)
	}
}

// TestGetStateAgentsFromSnapshots: GET_STATE's agents, whose used
// resources are summed off the loop from the task snapshots, are
// GET_AGENTS's, which reads them from each agent's tasks on the loop, with
// tasks in every kind of state (live, terminal but not acknowledged,
// unreachable) and agents without tasks.
func TestGetStateAgentsFromSnapshots(t *testing.T) {
	s := mixedStateMaster(t, mesospb.TaskState_TASK_FINISHED)
	want := s.viewAgents()()
	got := s.viewState()().GetGetAgents()
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("GET_STATE's agents differ from GET_AGENTS's (-GET_AGENTS +GET_STATE):\n%s", diff)
	}
	used := 0
	for _, a := range got.GetAgents() {
		used += len(a.GetAllocatedResources())
	}
	if used == 0 {
		t.Error("no agent uses anything: the test compares nothing")
	}
}

// TestGetStateFrameworksFromSnapshots is TestGetStateAgentsFromSnapshots
// for the frameworks' used resources.
func TestGetStateFrameworksFromSnapshots(t *testing.T) {
	s := mixedStateMaster(t, mesospb.TaskState_TASK_KILLED)
	want := s.viewFrameworks()()
	got := s.viewState()().GetGetFrameworks()
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("GET_STATE's frameworks differ from GET_FRAMEWORKS's (-GET_FRAMEWORKS +GET_STATE):\n%s", diff)
	}
	used := 0
	for _, f := range got.GetFrameworks() {
		used += len(f.GetAllocatedResources())
	}
	if used == 0 {
		t.Error("no framework uses anything: the test compares nothing")
	}
}

// TestStateAgentsUsedFromSnapshots: /state's agents' used resources,
// summed off the loop from the frameworks' task snapshots, are what each
// agent's tasks on the loop give.
func TestStateAgentsUsedFromSnapshots(t *testing.T) {
	s := mixedStateMaster(t, mesospb.TaskState_TASK_FAILED)
	var model any
	s.viewing(nil, func() { model = s.stateJSON(nil) })
	var got struct {
		Slaves []struct {
			ID   string         `json:"id"`
			Used map[string]any `json:"used_resources"`
		} `json:"slaves"`
	}
	if err := json.Unmarshal(streamed(t, model, 4), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Slaves) != 30 {
		t.Fatalf("%d agents in /state, want 30", len(got.Slaves))
	}
	nonZero := 0
	for _, a := range got.Slaves {
		var want map[string]any
		if err := json.Unmarshal(appendJSON(nil, legacyMap(s.viewAgent(s.agents[a.ID]).used())), &want); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, a.Used); diff != "" {
			t.Errorf("agent %s: used_resources (-from its tasks +in /state):\n%s", a.ID, diff)
		}
		if a.Used["cpus"] != 0.0 {
			nonZero++
		}
	}
	if nonZero == 0 {
		t.Error("no agent uses anything: the test compares nothing")
	}
}

// mixedStateMaster is a master of 30 agents × 10 tasks (scaleMaster) whose
// tasks are, in turn, running, in state terminal (not yet acknowledged),
// and unreachable.
func mixedStateMaster(t *testing.T, terminal mesospb.TaskState) *state {
	t.Helper()
	s := scaleMaster(t, 30).st
	i := 0
	for _, f := range s.frameworks {
		for _, task := range f.tasks {
			switch i % 3 {
			case 1:
				task.State = terminal.Enum()
			case 2:
				task.State = mesospb.TaskState_TASK_UNREACHABLE.Enum()
			}
			i++
		}
	}
	if i == 0 {
		t.Fatal("no tasks")
	}
	return s
}

// TestPingGroups: a round of the ping groups visits every agent exactly
// once, and the groups are of similar sizes.
func TestPingGroups(t *testing.T) {
	if g := pingGroupsFor(15 * time.Second); g != pingGroups {
		t.Errorf("%d ping groups for 15s, want %d", g, pingGroups)
	}
	if g := pingGroupsFor(100 * time.Millisecond); g != 10 {
		t.Errorf("%d ping groups for 100ms, want 10", g)
	}
	m := scaleMaster(t, 800)
	s := m.st
	for _, a := range s.agents {
		a.pongPending, a.missedPings = true, 0 // each visit counts a miss
	}
	sizes := make([]int, pingGroups)
	for k := range pingGroups {
		before := 0
		for _, a := range s.agents {
			before += a.missedPings
		}
		s.pingGroup(k, pingGroups)
		after := 0
		for _, a := range s.agents {
			after += a.missedPings
		}
		sizes[k] = after - before
	}
	for id, a := range s.agents {
		if a.missedPings != 1 {
			t.Errorf("agent %s visited %d times in a round", id, a.missedPings)
		}
	}
	for k, n := range sizes {
		if n > 4*800/pingGroups+2 {
			t.Errorf("ping group %d has %d of 800 agents: %v", k, n, sizes)
		}
	}
}
