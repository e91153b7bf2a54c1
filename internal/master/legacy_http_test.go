package master

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
)

// get returns the status, Content-Type and body of GET path, not following
// redirects.
func (h *harness) get(path string) (int, string, string) {
	h.t.Helper()
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Get(h.url(path))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestLegacyRouting checks libprocess's matching on a running master: the
// route of the longest prefix, trailing slashes dropped.
func TestLegacyRouting(t *testing.T) {
	h := startMaster(t, nil)
	h.registerAgent("cpus:1;mem:512")
	tests := []struct {
		path    string
		code    int
		wantKey string // a key of the JSON object answered
		body    string // or the exact body
	}{
		{path: "/master/slaves/", code: 200, wantKey: "slaves"},
		{path: "/slaves/anything/else", code: 200, wantKey: "recovered_slaves"},
		{path: "/master/state.json/", code: 200, wantKey: "leader_info"},
		{path: "/state/", code: 200, wantKey: "leader_info"},
		{path: "/tasks/", code: 200, wantKey: "tasks"},
		{path: "/master/tasks/x?limit=1", code: 200, wantKey: "tasks"},
		{path: "/frameworks//", code: 200, wantKey: "unregistered_frameworks"},
		{path: "/master/state-summary/", code: 200, wantKey: "slaves"},
		{path: "/roles/", code: 200, wantKey: "roles"},
		{path: "/flags/", code: 200, wantKey: "flags"},
		{path: "/version/", code: 200, wantKey: "version"},
		{path: "/metrics/snapshot/", code: 200, wantKey: "master/elected"},
		{path: "/master/health/", code: 200},
		{path: "/nope", code: 404, body: "404 Not Found."},
		// The web UI (package webui) is the master's route "/", which
		// only the root and /master reach.
		{path: "/", code: 200},
		{path: "/master", code: 200},
		{path: "/master/nope", code: 404, body: "404 Not Found."},
		{path: "/master/version", code: 404, body: "404 Not Found."},
		{path: "/version/x", code: 404, body: "404 Not Found."},
		{path: "/master/metrics/snapshot", code: 404, body: "404 Not Found."},
		// Master::Http::redirect: only /redirect and /master/redirect
		// redirect; anything under them, a trailing slash included, is a
		// 404 so that redirects cannot loop.
		{path: "/redirect", code: 307},
		{path: "/master/redirect", code: 307},
		{path: "/redirect/", code: 404, body: "404 Not Found."},
		{path: "/master/redirect/x", code: 404, body: "404 Not Found."},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, _, body := h.get(tt.path)
			if code != tt.code {
				t.Fatalf("GET %s: %d %q, want %d", tt.path, code, body, tt.code)
			}
			if tt.body != "" && body != tt.body {
				t.Errorf("GET %s: body %q, want %q", tt.path, body, tt.body)
			}
			if tt.wantKey != "" {
				var v map[string]any
				if err := json.Unmarshal([]byte(body), &v); err != nil {
					t.Fatalf("GET %s: %v in %q", tt.path, err, body)
				}
				if _, ok := v[tt.wantKey]; !ok {
					t.Errorf("GET %s: no %q in %s", tt.path, tt.wantKey, body)
				}
			}
		})
	}
}

// reregisterWithTasks brings back an agent that runs tasks of two
// frameworks (unknown to this master until then): fw-A's t0 (no status yet),
// t1, t2, t3 and fw-B's b1, whose first statuses are at 3, 1, 2 and 4.
func reregisterWithTasks(h *harness) {
	h.t.Helper()
	task := func(fid, id string, ts ...float64) *mesospb.Task {
		t := &mesospb.Task{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(fid)}, AgentId: &mesospb.AgentID{Value: proto.String("S1")},
			State: mesospb.TaskState_TASK_RUNNING.Enum(), Resources: cpuMem(0.1, 16)}
		for _, r := range t.Resources {
			r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("*")}
		}
		for _, x := range ts {
			t.Statuses = append(t.Statuses, &mesospb.TaskStatus{TaskId: t.TaskId, State: mesospb.TaskState_TASK_RUNNING.Enum(),
				Timestamp: proto.Float64(x)})
		}
		return t
	}
	fw := func(id string) *mesospb.FrameworkInfo {
		return &mesospb.FrameworkInfo{User: proto.String("u"), Name: proto.String(id), Id: &mesospb.FrameworkID{Value: proto.String(id)}}
	}
	a := h.openAgent(&agentapipb.Call{
		Type: agentapipb.Call_REREGISTER.Enum(),
		Reregister: &agentapipb.Call_Reregister{
			AgentInfo: &mesospb.AgentInfo{Hostname: proto.String("h"), Id: &mesospb.AgentID{Value: proto.String("S1")},
				Resources: cpuMem(2, 1024)},
			Pid:        proto.String("slave(1)@127.0.0.1:5051"),
			Frameworks: []*mesospb.FrameworkInfo{fw("fw-A"), fw("fw-B")},
			Tasks: []*mesospb.Task{task("fw-A", "t0"), task("fw-A", "t1", 3, 5), task("fw-A", "t2", 1),
				task("fw-A", "t3", 2), task("fw-B", "b1", 4)},
		},
	})
	a.next(agentapipb.Event_REREGISTERED)
}

func TestTasksQueryParameters(t *testing.T) {
	h := startMaster(t, nil)
	reregisterWithTasks(h)
	ids := func(path string) []string {
		t.Helper()
		var out []string
		for _, x := range h.getJSON(path)["tasks"].([]any) {
			out = append(out, x.(map[string]any)["id"].(string))
		}
		return out
	}
	all := []string{"b1", "t1", "t3", "t2", "t0"}
	tests := []struct {
		query string
		want  []string
	}{
		{"", all}, // newest first; no status last
		{"order=des", all},
		{"order=anything", all},
		{"order=asc", []string{"t0", "t2", "t3", "t1", "b1"}},
		{"limit=2", []string{"b1", "t1"}},
		{"limit=2&offset=1", []string{"t1", "t3"}},
		{"offset=4", []string{"t0"}},
		{"offset=5", nil},
		{"limit=0", nil},
		{"limit=0x2", []string{"b1", "t1"}},
		{"limit=abc", all}, // unparsable: the default
		{"limit=99999999999", all},
		{"limit=-1", all},            // as size_t: no limit
		{"offset=-1", nil},           // as size_t: past the end
		{"offset=1&limit=-1", nil},   // offset+limit wraps around to 0
		{"limit=1&limit=3", all[:3]}, // the last value wins
		{"framework_id=fw-B", []string{"b1"}},
		{"framework_id=fw-A&order=asc&limit=2", []string{"t0", "t2"}},
		{"framework_id=", nil}, // present: selects the empty ID
		{"framework_id=nope", nil},
		{"task_id=t3", []string{"t3"}},
		{"task_id=t3&framework_id=fw-B", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			for _, p := range []string{"/tasks?", "/master/tasks?", "/master/tasks.json?"} {
				if got := ids(p + tt.query); !slices.Equal(got, tt.want) {
					t.Errorf("%s%s = %v, want %v", p, tt.query, got, tt.want)
				}
			}
		})
	}
}

func TestFrameworksAndSlavesSelection(t *testing.T) {
	h := startMaster(t, nil)
	reregisterWithTasks(h)
	h.registerAgentAt("cpus:1;mem:512", 5060) // S1 is at 5051
	count := func(path, key string) int {
		t.Helper()
		return len(h.getJSON(path)[key].([]any))
	}
	tests := []struct {
		path, key string
		want      int
	}{
		{"/frameworks", "frameworks", 2},
		{"/master/frameworks?framework_id=fw-B", "frameworks", 1},
		{"/frameworks?framework_id=", "frameworks", 0},
		{"/frameworks?framework_id=nope", "frameworks", 0},
		{"/slaves", "slaves", 2},
		{"/master/slaves?slave_id=S1", "slaves", 1},
		{"/slaves?slave_id=", "slaves", 0},
	}
	for _, tt := range tests {
		if got := count(tt.path, tt.key); got != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.path, got, tt.key, tt.want)
		}
	}
	if fw := h.getJSON("/frameworks?framework_id=fw-B")["frameworks"].([]any)[0].(map[string]any); fw["id"] != "fw-B" {
		t.Errorf("selected %v", fw["id"])
	}
}

func TestJSONP(t *testing.T) {
	h := startMaster(t, nil)
	for _, p := range []string{"/state", "/master/state-summary", "/tasks", "/frameworks", "/slaves", "/roles", "/flags", "/metrics/snapshot", "/version"} {
		code, ct, body := h.get(p + "?jsonp=angular.callbacks._0")
		if code != 200 || ct != "text/javascript" || !strings.HasPrefix(body, "angular.callbacks._0({") || !strings.HasSuffix(body, "})") {
			t.Errorf("%s?jsonp: %d %q %.60q", p, code, ct, body)
		}
	}
}

func TestLegacyTeardown(t *testing.T) {
	h := startMaster(t, nil)
	s := h.subscribe(fwInfo("doomed"), codec.JSON)
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		code   int
		msg    string
	}{
		{"GET", http.MethodGet, "/teardown", "", 405, "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'."},
		{"no frameworkId", http.MethodPost, "/master/teardown", "other=1", 400, "Missing 'frameworkId' query parameter in the request body"},
		{"unknown", http.MethodPost, "/teardown", "frameworkId=nope", 400, "No framework found with specified ID"},
		{"known", http.MethodPost, "/teardown/", url.Values{"frameworkId": {s.id}}.Encode(), 200, ""},
		{"again", http.MethodPost, "/teardown", "frameworkId=" + s.id, 400, "No framework found with specified ID"},
	}
	for _, tt := range tests {
		code, body := h.do(tt.method, tt.path, tt.body)
		if code != tt.code || body != tt.msg {
			t.Errorf("%s: %d %q, want %d %q", tt.name, code, body, tt.code, tt.msg)
		}
	}
	s.waitClosed()
	fws := h.getJSON("/frameworks?framework_id=" + s.id)
	if len(fws["frameworks"].([]any)) != 0 || len(fws["completed_frameworks"].([]any)) != 1 {
		t.Errorf("after teardown: %v", fws)
	}
}

func TestOperatorTeardown(t *testing.T) {
	h := startMaster(t, nil)
	s := h.subscribe(fwInfo("doomed"), codec.JSON)
	call := func(id string) (int, string) {
		return h.operator(`{"type":"TEARDOWN","teardown":{"framework_id":{"value":"`+id+`"}}}`, "application/json")
	}
	if code, body := call("nope"); code != 400 || body != "No framework found with specified ID" {
		t.Errorf("unknown framework: %d %q", code, body)
	}
	if code, body := call(s.id); code != 200 || body != "" {
		t.Errorf("teardown: %d %q", code, body)
	}
	s.waitClosed()
	// A completed framework cannot be torn down.
	if code, _ := call(s.id); code != 400 {
		t.Errorf("second teardown: %d", code)
	}
}
