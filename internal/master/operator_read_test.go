package master

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
)

// operatorBoth posts call in protobuf and in JSON and returns both
// answers, failing unless each is a 200 of the expected content type.
func (h *harness) operatorBoth(call *masterpb.Call) (pb, js *masterpb.Response) {
	h.t.Helper()
	post := func(mt string, body []byte) []byte {
		req, _ := http.NewRequest(http.MethodPost, h.url("/api/v1"), bytes.NewReader(body))
		req.Header.Set("Content-Type", mt)
		req.Header.Set("Accept", mt)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			h.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != mt {
			h.t.Fatalf("%s in %s: %d %s %s", call.GetType(), mt, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		return b
	}
	body, err := proto.Marshal(call)
	if err != nil {
		h.t.Fatal(err)
	}
	pb = &masterpb.Response{}
	if err := proto.Unmarshal(post("application/x-protobuf", body), pb); err != nil {
		h.t.Fatalf("%s: %v", call.GetType(), err)
	}
	jbody, err := codec.MarshalJSON(call)
	if err != nil {
		h.t.Fatal(err)
	}
	js = &masterpb.Response{}
	if err := codec.UnmarshalJSON(post("application/json", jbody), js); err != nil {
		h.t.Fatalf("%s: %v", call.GetType(), err)
	}
	return pb, js
}

// readCluster is a master with one agent, a framework of role "eng" and
// two tasks: a command task and one with its own executor; the rest of
// the agent is outstanding as an offer.
func readCluster(t *testing.T, mod func(*Config)) (*harness, *testAgent, *scheduler) {
	t.Helper()
	h := startMaster(t, mod)
	agent := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(roleFramework("eng", "", false), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	withExec := simpleTask("e", o.AgentId)
	withExec.Command = nil
	withExec.Executor = &mesospb.ExecutorInfo{
		ExecutorId: &mesospb.ExecutorID{Value: proto.String("exec")},
		Command:    &mesospb.CommandInfo{Value: proto.String("exec")},
		Resources:  cpuMem(0.25, 32),
	}
	launchOn(t, sched, agent, o, simpleTask("t", o.AgentId), withExec)
	sched.next(schedulerpb.Event_OFFERS) // the rest, outstanding
	return h, agent, sched
}

func scalarSum(rs []*mesospb.Resource, name string) float64 {
	v := 0.0
	for _, r := range rs {
		if r.GetName() == name {
			v += r.GetScalar().GetValue()
		}
	}
	return v
}

func TestOperatorReadCalls(t *testing.T) {
	h, agent, sched := readCluster(t, nil)
	call := func(typ masterpb.Call_Type) *masterpb.Response {
		t.Helper()
		pb, js := h.operatorBoth(&masterpb.Call{Type: typ.Enum()})
		if diff := cmp.Diff(pb, js, protocmp.Transform()); diff != "" {
			t.Errorf("%s: protobuf and JSON differ (-pb +json):\n%s", typ, diff)
		}
		return pb
	}

	agents := call(masterpb.Call_GET_AGENTS)
	if agents.GetType() != masterpb.Response_GET_AGENTS || len(agents.GetGetAgents().GetAgents()) != 1 {
		t.Fatalf("GET_AGENTS: %v", agents)
	}
	a := agents.GetGetAgents().GetAgents()[0]
	if a.GetAgentInfo().GetId().GetValue() != agent.id || !a.GetActive() || a.GetDeactivated() ||
		a.GetPid() != "slave(1)@127.0.0.1:5051" || a.GetVersion() != "1.11.0" || a.GetRegisteredTime().GetNanoseconds() == 0 {
		t.Errorf("agent %v", a)
	}
	if got := scalarSum(a.GetTotalResources(), "cpus"); got != 2 {
		t.Errorf("total cpus %v", got)
	}
	if got := scalarSum(a.GetAllocatedResources(), "cpus"); got != 1.25 {
		t.Errorf("allocated cpus %v (%v)", got, a.GetAllocatedResources())
	}
	if got := scalarSum(a.GetOfferedResources(), "cpus"); got != 0.75 {
		t.Errorf("offered cpus %v", got)
	}
	for _, r := range append(a.GetAllocatedResources(), a.GetOfferedResources()...) {
		if r.GetAllocationInfo().GetRole() != "eng" {
			t.Errorf("resource without allocation_info for eng: %v", r)
		}
	}

	fws := call(masterpb.Call_GET_FRAMEWORKS).GetGetFrameworks()
	if len(fws.GetFrameworks()) != 1 || len(fws.GetCompletedFrameworks()) != 0 {
		t.Fatalf("GET_FRAMEWORKS: %v", fws)
	}
	f := fws.GetFrameworks()[0]
	if f.GetFrameworkInfo().GetId().GetValue() != sched.id || !f.GetActive() || !f.GetConnected() || f.GetRecovered() ||
		len(f.GetOffers()) != 1 || f.GetRegisteredTime() == nil || f.OfferConstraints == nil {
		t.Errorf("framework %v", f)
	}
	if got := scalarSum(f.GetAllocatedResources(), "cpus"); got != 1.25 {
		t.Errorf("framework allocated cpus %v", got)
	}
	if got := scalarSum(f.GetOfferedResources(), "cpus"); got != 0.75 {
		t.Errorf("framework offered cpus %v", got)
	}

	tasks := call(masterpb.Call_GET_TASKS).GetGetTasks()
	var ids []string
	for _, tk := range tasks.GetTasks() {
		ids = append(ids, tk.GetTaskId().GetValue())
		if tk.GetState() != mesospb.TaskState_TASK_STAGING || tk.GetAgentId().GetValue() != agent.id {
			t.Errorf("task %v", tk)
		}
	}
	if !cmp.Equal(ids, []string{"e", "t"}) || len(tasks.GetCompletedTasks()) != 0 || len(tasks.GetUnreachableTasks()) != 0 {
		t.Errorf("GET_TASKS: %v", tasks)
	}

	execs := call(masterpb.Call_GET_EXECUTORS).GetGetExecutors().GetExecutors()
	if len(execs) != 1 || execs[0].GetExecutorInfo().GetExecutorId().GetValue() != "exec" ||
		execs[0].GetAgentId().GetValue() != agent.id {
		t.Errorf("GET_EXECUTORS: %v", execs)
	}

	ops := call(masterpb.Call_GET_OPERATIONS)
	if ops.GetType() != masterpb.Response_GET_OPERATIONS || ops.GetOperations == nil {
		t.Errorf("GET_OPERATIONS: %v", ops)
	}

	state := call(masterpb.Call_GET_STATE)
	want := &masterpb.Response_GetState{
		GetTasks:      call(masterpb.Call_GET_TASKS).GetGetTasks(),
		GetExecutors:  call(masterpb.Call_GET_EXECUTORS).GetGetExecutors(),
		GetFrameworks: call(masterpb.Call_GET_FRAMEWORKS).GetGetFrameworks(),
		GetAgents:     call(masterpb.Call_GET_AGENTS).GetGetAgents(),
	}
	if state.GetType() != masterpb.Response_GET_STATE {
		t.Errorf("GET_STATE type %v", state.GetType())
	}
	if diff := cmp.Diff(want, state.GetGetState(), protocmp.Transform()); diff != "" {
		t.Errorf("GET_STATE differs from the four calls (-calls +state):\n%s", diff)
	}
}

func TestOperatorGetMetrics(t *testing.T) {
	h, _, _ := readCluster(t, nil)
	for _, c := range []*masterpb.Call{
		{Type: masterpb.Call_GET_METRICS.Enum(), GetMetrics: &masterpb.Call_GetMetrics{}},
		{Type: masterpb.Call_GET_METRICS.Enum(), GetMetrics: &masterpb.Call_GetMetrics{
			Timeout: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(time.Second))}}},
	} {
		pb, js := h.operatorBoth(c)
		for _, resp := range []*masterpb.Response{pb, js} {
			if resp.GetType() != masterpb.Response_GET_METRICS {
				t.Fatalf("type %v", resp.GetType())
			}
			got := map[string]float64{}
			for _, m := range resp.GetGetMetrics().GetMetrics() {
				got[m.GetName()] = m.GetValue()
			}
			// The same names as /metrics/snapshot; the allocation timers
			// may gain their statistics between the two reads.
			snap := h.getJSON("/metrics/snapshot")
			names := func(m map[string]float64) []string {
				var out []string
				for k := range m {
					if !strings.HasPrefix(k, "allocator/mesos/allocation_run") {
						out = append(out, k)
					}
				}
				slices.Sort(out)
				return out
			}
			snapValues := map[string]float64{}
			for k := range snap {
				snapValues[k] = 0
			}
			if diff := cmp.Diff(names(snapValues), names(got)); diff != "" {
				t.Errorf("GET_METRICS names differ from /metrics/snapshot's (-snapshot +get_metrics):\n%s", diff)
			}
			for name, want := range map[string]float64{
				"master/elected": 1, "master/tasks_staging": 2, "master/slaves_active": 1,
				"master/frameworks_active": 1, "master/outstanding_offers": 1, "master/cpus_total": 2,
			} {
				if v, ok := got[name]; !ok || v != want {
					t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
				}
			}
		}
	}
	// get_metrics is required.
	if code, body := h.operator(`{"type":"GET_METRICS"}`, ""); code != 400 {
		t.Errorf("GET_METRICS without get_metrics: %d %s", code, body)
	}
}

func TestOperatorLoggingLevel(t *testing.T) {
	lv := &slog.LevelVar{}
	lv.Set(slog.LevelWarn)
	h := startMaster(t, func(c *Config) { c.LogLevel = lv })
	level := func() uint32 {
		t.Helper()
		pb, js := h.operatorBoth(&masterpb.Call{Type: masterpb.Call_GET_LOGGING_LEVEL.Enum()})
		if pb.GetType() != masterpb.Response_GET_LOGGING_LEVEL || pb.GetGetLoggingLevel().GetLevel() != js.GetGetLoggingLevel().GetLevel() {
			t.Fatalf("GET_LOGGING_LEVEL: %v / %v", pb, js)
		}
		return pb.GetGetLoggingLevel().GetLevel()
	}
	if v := level(); v != 0 || lv.Level() != slog.LevelWarn {
		t.Fatalf("initial level %d, slog %v", v, lv.Level())
	}
	set := func(v uint32, d time.Duration, mt string) {
		t.Helper()
		c := &masterpb.Call{Type: masterpb.Call_SET_LOGGING_LEVEL.Enum(), SetLoggingLevel: &masterpb.Call_SetLoggingLevel{
			Level: proto.Uint32(v), Duration: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(d))}}}
		var body []byte
		if mt == "application/json" {
			body, _ = codec.MarshalJSON(c)
		} else {
			body, _ = proto.Marshal(c)
		}
		req, _ := http.NewRequest(http.MethodPost, h.url("/api/v1"), bytes.NewReader(body))
		req.Header.Set("Content-Type", mt)
		req.Header.Set("Accept", mt)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(b) != 0 {
			t.Fatalf("SET_LOGGING_LEVEL (%s): %d %q", mt, resp.StatusCode, b)
		}
	}
	// A long change holds; a later short one replaces it and reverts.
	set(2, time.Hour, "application/x-protobuf")
	if v := level(); v != 2 || lv.Level() != slog.LevelDebug-1 {
		t.Fatalf("after SET 2: level %d, slog %v", v, lv.Level())
	}
	set(1, time.Second, "application/json") // long enough to read back on a loaded machine
	if v := level(); v != 1 || lv.Level() != slog.LevelDebug {
		t.Fatalf("after SET 1: level %d, slog %v", v, lv.Level())
	}
	deadline := time.Now().Add(5 * time.Second)
	for lv.Level() != slog.LevelWarn {
		if time.Now().After(deadline) {
			t.Fatalf("level did not revert: slog %v", lv.Level())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := level(); v != 0 {
		t.Errorf("reverted level %d, want 0", v)
	}
	// set_logging_level is required.
	if code, body := h.operator(`{"type":"SET_LOGGING_LEVEL"}`, ""); code != 400 {
		t.Errorf("SET_LOGGING_LEVEL without set_logging_level: %d %s", code, body)
	}
}

func TestOperatorTeardownCall(t *testing.T) {
	h, agent, sched := readCluster(t, nil)
	if code, body := h.operator(`{"type":"TEARDOWN","teardown":{"framework_id":{"value":"nope"}}}`, ""); code != 400 ||
		!strings.Contains(body, "No framework found with specified ID") {
		t.Errorf("TEARDOWN of an unknown framework: %d %s", code, body)
	}
	body := `{"type":"TEARDOWN","teardown":{"framework_id":{"value":"` + sched.id + `"}}}`
	if code, b := h.operator(body, ""); code != 200 {
		t.Fatalf("TEARDOWN: %d %s", code, b)
	}
	agent.next(agentapipb.Event_SHUTDOWN_FRAMEWORK)
	pb, _ := h.operatorBoth(&masterpb.Call{Type: masterpb.Call_GET_FRAMEWORKS.Enum()})
	fws := pb.GetGetFrameworks()
	if len(fws.GetFrameworks()) != 0 || len(fws.GetCompletedFrameworks()) != 1 ||
		fws.GetCompletedFrameworks()[0].GetFrameworkInfo().GetId().GetValue() != sched.id ||
		fws.GetCompletedFrameworks()[0].GetActive() || fws.GetCompletedFrameworks()[0].GetUnregisteredTime() == nil {
		t.Errorf("after TEARDOWN: %v", fws)
	}
	if code, b := h.operator(body, ""); code != 400 {
		t.Errorf("second TEARDOWN: %d %s", code, b)
	}
}
