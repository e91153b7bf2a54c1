package agent

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

func postExecutorCall(t *testing.T, addr, path string, mt codec.MediaType, accept string, call *executorpb.Call) *http.Response {
	t.Helper()
	body, err := codec.Marshal(mt, call)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", string(mt))
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func execCall(typ executorpb.Call_Type, exID string) *executorpb.Call {
	return &executorpb.Call{
		Type:        typ.Enum(),
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(testFrameworkID)},
		ExecutorId:  &mesospb.ExecutorID{Value: proto.String(exID)},
	}
}

// eventReader reads JSON events from a SUBSCRIBE stream.
type eventReader struct {
	t    *testing.T
	body io.ReadCloser
	r    *recordio.Reader
}

func (er *eventReader) next() *executorpb.Event {
	er.t.Helper()
	rec, err := er.r.ReadRecord()
	if err != nil {
		er.t.Fatalf("reading event: %v", err)
	}
	ev := &executorpb.Event{}
	if err := codec.Unmarshal(codec.JSON, rec, ev); err != nil {
		er.t.Fatalf("decoding event %s: %v", rec, err)
	}
	return ev
}

// TestExecutorAPI plays the executor over real HTTP with JSON: status codes,
// SUBSCRIBE (SUBSCRIBED then LAUNCH), a second SUBSCRIBE closing the first
// stream, UPDATE acknowledged, MESSAGE in both directions.
func TestExecutorAPI(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "noregister", nil)
	runTask(m, commandTask("t1", "sleep"))
	// The task is queued until its executor subscribes.
	eventually(t, 5*time.Second, func() bool {
		s := ta.getJSON(t, "/state")
		fws, _ := s["frameworks"].([]any)
		if len(fws) != 1 {
			return false
		}
		ex := fws[0].(map[string]any)["executors"].([]any)[0].(map[string]any)
		q := ex["queued_tasks"].([]any)
		return len(q) == 1 && q[0].(map[string]any)["id"] == "t1"
	}, "task not queued in /state")

	const path = "/api/v1/executor"
	status := func(resp *http.Response) int {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// 405
	resp, err := http.Get("http://" + ta.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	if got := status(resp); got != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", got)
	}
	// 400 without Content-Type, 415 with a bad one, 400 on garbage.
	for _, c := range []struct {
		ct, body string
		want     int
	}{
		{"", "{}", http.StatusBadRequest},
		{"text/plain", "{}", http.StatusUnsupportedMediaType},
		{"application/json", "{not json", http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ta.addr+path, strings.NewReader(c.body))
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := status(resp); got != c.want {
			t.Errorf("Content-Type %q body %q: %d, want %d", c.ct, c.body, got, c.want)
		}
	}
	// UPDATE without a uuid: validation 400.
	bad := execCall(executorpb.Call_UPDATE, "t1")
	bad.Update = &executorpb.Call_Update{Status: &mesospb.TaskStatus{
		TaskId: &mesospb.TaskID{Value: proto.String("t1")}, State: mesospb.TaskState_TASK_RUNNING.Enum(),
		Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum()}}
	if got := status(postExecutorCall(t, ta.addr, path, codec.JSON, "", bad)); got != http.StatusBadRequest {
		t.Errorf("UPDATE without uuid: %d, want 400", got)
	}
	// HEARTBEAT with dummy IDs: 202.
	hb := execCall(executorpb.Call_HEARTBEAT, "unused")
	hb.FrameworkId.Value = proto.String("unused")
	if got := status(postExecutorCall(t, ta.addr, path, codec.Protobuf, "", hb)); got != http.StatusAccepted {
		t.Errorf("HEARTBEAT: %d, want 202", got)
	}
	// Unknown framework / executor: 400.
	unknown := execCall(executorpb.Call_SUBSCRIBE, "nope")
	unknown.Subscribe = &executorpb.Call_Subscribe{}
	if got := status(postExecutorCall(t, ta.addr, path, codec.JSON, "", unknown)); got != http.StatusBadRequest {
		t.Errorf("unknown executor: %d, want 400", got)
	}
	// 403 before SUBSCRIBE.
	msg := execCall(executorpb.Call_MESSAGE, "t1")
	msg.Message = &executorpb.Call_Message{Data: []byte("hi")}
	if got := status(postExecutorCall(t, ta.addr, path, codec.JSON, "", msg)); got != http.StatusForbidden {
		t.Errorf("MESSAGE before SUBSCRIBE: %d, want 403", got)
	}
	// 406 for SUBSCRIBE with an unacceptable Accept.
	sub := execCall(executorpb.Call_SUBSCRIBE, "t1")
	sub.Subscribe = &executorpb.Call_Subscribe{}
	if got := status(postExecutorCall(t, ta.addr, path, codec.JSON, "text/html", sub)); got != http.StatusNotAcceptable {
		t.Errorf("SUBSCRIBE Accept text/html: %d, want 406", got)
	}

	subscribe := func() *eventReader {
		resp := postExecutorCall(t, ta.addr, "/slave(1)"+path, codec.JSON, "application/json", sub)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("SUBSCRIBE: %s %q", resp.Status, resp.Header.Get("Content-Type"))
		}
		t.Cleanup(func() { resp.Body.Close() })
		return &eventReader{t: t, body: resp.Body, r: recordio.NewReader(resp.Body, 1<<20)}
	}
	first := subscribe()
	ev := first.next()
	if ev.GetType() != executorpb.Event_SUBSCRIBED || ev.GetSubscribed().GetExecutorInfo().GetExecutorId().GetValue() != "t1" ||
		ev.GetSubscribed().GetAgentInfo().GetId().GetValue() != testAgentID ||
		ev.GetSubscribed().GetFrameworkInfo().GetId().GetValue() != testFrameworkID ||
		ev.GetSubscribed().GetContainerId().GetValue() == "" {
		t.Fatalf("first event = %v", ev)
	}
	if ev := first.next(); ev.GetType() != executorpb.Event_LAUNCH || ev.GetLaunch().GetTask().GetTaskId().GetValue() != "t1" {
		t.Fatalf("second event = %v", ev)
	}

	// A new SUBSCRIBE closes the previous stream; the task, reported as
	// unacknowledged, is not re-sent.
	sub.Subscribe.UnacknowledgedTasks = []*mesospb.TaskInfo{commandTask("t1", "sleep")}
	second := subscribe()
	if _, err := first.r.ReadRecord(); err == nil {
		t.Errorf("the first stream is still open")
	}
	if ev := second.next(); ev.GetType() != executorpb.Event_SUBSCRIBED {
		t.Fatalf("re-SUBSCRIBE first event = %v", ev)
	}

	// UPDATE → 202, ACKNOWLEDGED on the stream, STATUS_UPDATE to the master.
	u := uuid.New()
	upd := execCall(executorpb.Call_UPDATE, "t1")
	upd.Update = &executorpb.Call_Update{Status: &mesospb.TaskStatus{
		TaskId: &mesospb.TaskID{Value: proto.String("t1")}, State: mesospb.TaskState_TASK_RUNNING.Enum(),
		Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(), Uuid: u[:]}}
	if got := status(postExecutorCall(t, ta.addr, path, codec.JSON, "", upd)); got != http.StatusAccepted {
		t.Fatalf("UPDATE: %d, want 202", got)
	}
	ev = second.next()
	if ev.GetType() != executorpb.Event_ACKNOWLEDGED || !bytes.Equal(ev.GetAcknowledged().GetUuid(), u[:]) ||
		ev.GetAcknowledged().GetTaskId().GetValue() != "t1" {
		t.Fatalf("event after UPDATE = %v", ev)
	}
	m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)
	// A duplicate is acknowledged again but not queued twice.
	if got := status(postExecutorCall(t, ta.addr, path, codec.JSON, "", upd)); got != http.StatusAccepted {
		t.Fatalf("duplicate UPDATE: %d", got)
	}
	if ev := second.next(); ev.GetType() != executorpb.Event_ACKNOWLEDGED {
		t.Fatalf("event after duplicate UPDATE = %v", ev)
	}

	// MESSAGE → EXECUTOR_MESSAGE; FRAMEWORK_MESSAGE → MESSAGE.
	if got := status(postExecutorCall(t, ta.addr, path, codec.JSON, "", msg)); got != http.StatusAccepted {
		t.Fatalf("MESSAGE: %d", got)
	}
	eventually(t, 5*time.Second, func() bool { return len(m.callsOf(agentapipb.Call_EXECUTOR_MESSAGE)) == 1 }, "no EXECUTOR_MESSAGE")
	if c := m.callsOf(agentapipb.Call_EXECUTOR_MESSAGE)[0].GetExecutorMessage(); string(c.GetData()) != "hi" ||
		c.GetExecutorId().GetValue() != "t1" {
		t.Errorf("EXECUTOR_MESSAGE = %v", c)
	}
	m.send(&agentapipb.Event{Type: agentapipb.Event_FRAMEWORK_MESSAGE.Enum(), FrameworkMessage: &agentapipb.Event_FrameworkMessage{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(testFrameworkID)},
		ExecutorId:  &mesospb.ExecutorID{Value: proto.String("t1")},
		Data:        []byte("ping"),
	}})
	if ev := second.next(); ev.GetType() != executorpb.Event_MESSAGE || string(ev.GetMessage().GetData()) != "ping" {
		t.Fatalf("event after FRAMEWORK_MESSAGE = %v", ev)
	}

	// SHUTDOWN_FRAMEWORK: SHUTDOWN on the stream, container destroyed after
	// the grace, framework removed, no updates for it.
	m.send(&agentapipb.Event{Type: agentapipb.Event_SHUTDOWN_FRAMEWORK.Enum(), ShutdownFramework: &agentapipb.Event_ShutdownFramework{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(testFrameworkID)}}})
	if ev := second.next(); ev.GetType() != executorpb.Event_SHUTDOWN {
		t.Fatalf("event after SHUTDOWN_FRAMEWORK = %v", ev)
	}
	eventually(t, 10*time.Second, func() bool {
		s := ta.getJSON(t, "/state")
		fws, _ := s["frameworks"].([]any)
		done, _ := s["completed_frameworks"].([]any)
		return len(fws) == 0 && len(done) == 1
	}, "framework not removed")
	for _, st := range m.updates("t1") {
		if st.GetState() != mesospb.TaskState_TASK_RUNNING {
			t.Errorf("update %v sent for a shut down framework", st.GetState())
		}
	}
}

func TestRoutesAndResources(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "normal", func(c *Config) {
		c.Resources = "cpus:3"
		c.Attributes = "rack:r1;level:3"
	})
	for _, p := range []string{"/health", "/slave(1)/health"} {
		resp, err := http.Get("http://" + ta.addr + p)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", p, resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	if v := ta.getJSON(t, "/version"); v["version"] != Version {
		t.Errorf("/version = %v", v)
	}
	if f := ta.getJSON(t, "/slave(1)/flags"); f["flags"].(map[string]any)["work_dir"] != ta.workDir {
		t.Errorf("/flags = %v", f)
	}
	s := ta.getJSON(t, "/state.json")
	res := s["resources"].(map[string]any)
	if res["cpus"] != 3.0 || res["mem"].(float64) <= 0 || res["disk"].(float64) <= 0 || res["ports"] != "[31000-32000]" {
		t.Errorf("detected resources = %v", res)
	}
	if attrs := s["attributes"].(map[string]any); attrs["rack"] != "r1" || attrs["level"] != 3.0 {
		t.Errorf("attributes = %v", attrs)
	}
	metrics := ta.getJSON(t, "/metrics/snapshot")
	if metrics["slave/cpus_total"] != 3.0 {
		t.Errorf("slave/cpus_total = %v", metrics["slave/cpus_total"])
	}
}

// TestLibprocessRouting: the agent matches paths as libprocess does (see
// httpapi.Router): the longest registered prefix, trailing '/' dropped.
func TestLibprocessRouting(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "normal", nil)
	for _, tt := range []struct {
		path string
		code int
		key  string
	}{
		{"/state/", 200, "frameworks"},
		{"/slave(1)/state/x/y", 200, "frameworks"},
		{"/slave%281%29/state", 200, "frameworks"},
		{"/state.json/", 200, "frameworks"},
		{"/slave(1)/flags/", 200, "flags"},
		{"/version/", 200, "version"},
		{"/metrics/snapshot/", 200, "slave/cpus_total"},
		{"/slave(1)/health/", 200, ""},
		{"/nope", 404, ""},
		{"/slave(2)/state", 404, ""},
		{"/version/x", 404, ""},
	} {
		resp, err := http.Get("http://" + ta.addr + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("GET %s: %d %q, want %d", tt.path, resp.StatusCode, body, tt.code)
			continue
		}
		if tt.code == 404 && string(body) != "404 Not Found." {
			t.Errorf("GET %s: 404 body %q", tt.path, body)
		}
		if tt.key != "" && !strings.Contains(string(body), `"`+tt.key+`"`) {
			t.Errorf("GET %s: no %q in %.80q", tt.path, tt.key, body)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second: "5secs", time.Minute: "1mins", 90 * time.Second: "90secs",
		250 * time.Millisecond: "250ms", 2 * time.Hour: "2hrs", 0: "0ns", 7 * 24 * time.Hour: "1weeks",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
