package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/files"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/codec"
	"google.golang.org/protobuf/proto"
)

// authzDeniedAgentCalls are the agent calls an ACL can deny (403). The
// views (GET_STATE, GET_FRAMEWORKS, ...) are filtered instead, and
// ATTACH_CONTAINER_INPUT is refused for its content type before.
var authzDeniedAgentCalls = []agentpb.Call_Type{
	agentpb.Call_GET_FLAGS, agentpb.Call_GET_METRICS, agentpb.Call_SET_LOGGING_LEVEL,
	agentpb.Call_LIST_FILES, agentpb.Call_READ_FILE, agentpb.Call_PRUNE_IMAGES,
	agentpb.Call_LAUNCH_NESTED_CONTAINER, agentpb.Call_WAIT_NESTED_CONTAINER, agentpb.Call_KILL_NESTED_CONTAINER,
	agentpb.Call_REMOVE_NESTED_CONTAINER, agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION,
	agentpb.Call_ATTACH_CONTAINER_OUTPUT, agentpb.Call_LAUNCH_CONTAINER, agentpb.Call_WAIT_CONTAINER,
	agentpb.Call_KILL_CONTAINER, agentpb.Call_REMOVE_CONTAINER,
	agentpb.Call_ADD_RESOURCE_PROVIDER_CONFIG, agentpb.Call_UPDATE_RESOURCE_PROVIDER_CONFIG,
	agentpb.Call_REMOVE_RESOURCE_PROVIDER_CONFIG, agentpb.Call_MARK_RESOURCE_PROVIDER_GONE,
}

// TestAuthzAgentRoutes: with ACLs denying everything (permissive false),
// each agent call and endpoint Mesos authorizes answers 403 — with a
// principal (set as authentication middleware would) and without — /state
// loses its flags, and a principal the ACLs allow gets through.
func TestAuthzAgentRoutes(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "agent.log")
	if err := os.WriteFile(logPath, []byte("log line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	acls, err := authz.ParseACLs([]byte(`{
	  "permissive": false,
	  "view_flags": [{"principals": {"values": ["ops"]}, "flags": {"type": "ANY"}}],
	  "access_mesos_logs": [{"principals": {"values": ["ops"]}, "logs": {"type": "ANY"}}],
	  "get_endpoints": [{"principals": {"values": ["ops"]}, "paths": {"values": ["/metrics/snapshot", "/containers"]}}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", func(c *Config) { c.LogFile = logPath; c.Authorizer = authz.NewLocal(acls) })
	as := func(principal string) string {
		h := ta.Handler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(httpapi.WithPrincipal(r.Context(), principal)))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(base string, call *agentpb.Call) int {
		body, _ := codec.Marshal(codec.JSON, call)
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", string(codec.JSON))
		req.Header.Set("Accept", string(codec.JSON))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// Every route of the agent is checked here: denied ones in the list
	// below, the views (/state), and the operator calls walked.
	checked := map[string]bool{
		"/slave(1)/api/v1":          true, // the calls, walked below
		"/slave(1)/api/v1/executor": true, // executors: authenticated (executor tokens), no ACL in Mesos
		"/slave(1)/state":           true, "/slave(1)/state.json": true, "/slave(1)/health": true, "/slave(1)/version": true,
		"/version/": true,
	}
	denied := []string{"/flags", "/slave(1)/flags", "/metrics/snapshot", "/slave(1)/metrics/snapshot", "/metrics",
		"/monitor/statistics", "/slave(1)/monitor/statistics.json", "/containers",
		"/files/read?path=/slave/log&offset=0", "/files/browse?path=/slave/log", "/files/download?path=/slave/log", "/files/debug"}
	for _, p := range denied {
		p, _, _ = strings.Cut(p, "?")
		switch {
		case p == "/metrics":
			p = "/metrics/"
		case !strings.HasPrefix(p, "/slave(1)/") && !strings.HasPrefix(p, "/files/") && !strings.HasPrefix(p, "/metrics/"):
			p = "/slave(1)" + p
		}
		checked[p] = true
	}
	checked["/slave(1)/monitor/statistics"] = true
	for _, route := range ta.Handler().(*httpapi.Router).Routes() {
		if !checked[route] {
			t.Errorf("route %s is not checked for authorization", route)
		}
	}
	for _, base := range []string{"http://" + ta.addr, as("mallory")} {
		values := agentpb.Call_UNKNOWN.Descriptor().Values()
		for i := range values.Len() {
			ct := agentpb.Call_Type(values.Get(i).Number())
			code := post(base, validCall(ct, "/slave/log"))
			if denied := slices.Contains(authzDeniedAgentCalls, ct); denied != (code == http.StatusForbidden) {
				t.Errorf("%s %s: %d, want 403: %v", base, ct, code, denied)
			}
		}
		for _, p := range denied {
			if code, body := get(base + p); code != http.StatusForbidden {
				t.Errorf("%s%s: %d %s, want 403", base, p, code, body)
			}
		}
		if code, body := get(base + "/state"); code != http.StatusOK || strings.Contains(body, `"flags"`) {
			t.Errorf("%s/state: %d, flags shown: %v", base, code, strings.Contains(body, `"flags"`))
		}
	}
	ops := as("ops")
	for _, p := range []string{"/flags", "/metrics/snapshot", "/containers", "/files/read?path=/slave/log&offset=0"} {
		if code, body := get(ops + p); code != http.StatusOK {
			t.Errorf("ops %s: %d %s, want 200", p, code, body)
		}
	}
	if code, _ := get(ops + "/monitor/statistics"); code != http.StatusForbidden {
		t.Errorf("ops /monitor/statistics: %d, want 403 (not in its get_endpoints)", code)
	}
	if code, body := get(ops + "/state"); code != http.StatusOK || !strings.Contains(body, `"flags"`) {
		t.Errorf("ops /state: %d, want flags", code)
	}
	for _, ct := range []agentpb.Call_Type{agentpb.Call_GET_FLAGS, agentpb.Call_GET_METRICS, agentpb.Call_READ_FILE} {
		if code := post(ops, validCall(ct, "/slave/log")); code != http.StatusOK {
			t.Errorf("ops %s: %d, want 200", ct, code)
		}
	}
}

// TestAuthzAgentViews: a running task's framework, executor, task,
// container and sandbox are shown to the principal the view ACLs and
// access_sandboxes allow, and to no other.
func TestAuthzAgentViews(t *testing.T) {
	acls, err := authz.ParseACLs([]byte(`{
	  "permissive": false,
	  "view_frameworks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "view_executors": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "view_tasks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "view_containers": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "access_sandboxes": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"values": ["/containers"]}}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", func(c *Config) { c.Authorizer = authz.NewLocal(acls) })
	runTask(m, commandTask("t1", "sleep"))
	m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)
	as := func(principal string) string {
		h := ta.Handler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(httpapi.WithPrincipal(r.Context(), principal)))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	call := func(base string, ct agentpb.Call_Type) *agentpb.Response {
		t.Helper()
		body, _ := codec.Marshal(codec.JSON, validCall(ct, ""))
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", string(codec.JSON))
		req.Header.Set("Accept", string(codec.JSON))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out := &agentpb.Response{}
		if err := codec.Unmarshal(codec.JSON, b, out); err != nil {
			t.Fatalf("%s: %d %s", ct, resp.StatusCode, b)
		}
		return out
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	sandbox := files.ExecutorVirtualPath(testFrameworkID, "t1")
	for _, tc := range []struct {
		base string
		sees bool
	}{{as("ops"), true}, {as("alice"), false}, {"http://" + ta.addr, false}} {
		n := 0
		if tc.sees {
			n = 1
		}
		if got := len(call(tc.base, agentpb.Call_GET_FRAMEWORKS).GetGetFrameworks().GetFrameworks()); got != n {
			t.Errorf("%s GET_FRAMEWORKS: %d frameworks, want %d", tc.base, got, n)
		}
		if got := len(call(tc.base, agentpb.Call_GET_TASKS).GetGetTasks().GetLaunchedTasks()); got != n {
			t.Errorf("%s GET_TASKS: %d tasks, want %d", tc.base, got, n)
		}
		if got := len(call(tc.base, agentpb.Call_GET_EXECUTORS).GetGetExecutors().GetExecutors()); got != n {
			t.Errorf("%s GET_EXECUTORS: %d executors, want %d", tc.base, got, n)
		}
		if got := len(call(tc.base, agentpb.Call_GET_CONTAINERS).GetGetContainers().GetContainers()); got != n {
			t.Errorf("%s GET_CONTAINERS: %d containers, want %d", tc.base, got, n)
		}
		code, body := get(tc.base + "/state")
		if code != http.StatusOK || strings.Contains(body, `"t1"`) != tc.sees {
			t.Errorf("%s /state: %d, shows t1: %v, want %v", tc.base, code, strings.Contains(body, `"t1"`), tc.sees)
		}
		code, body = get(tc.base + "/containers")
		if code != http.StatusOK || strings.Contains(body, `"t1"`) != tc.sees {
			t.Errorf("%s /containers: %d, shows t1: %v, want %v", tc.base, code, strings.Contains(body, `"t1"`), tc.sees)
		}
		want := http.StatusForbidden
		if tc.sees {
			want = http.StatusOK
		}
		if code, body := get(tc.base + "/files/browse?path=" + sandbox); code != want {
			t.Errorf("%s browse the sandbox: %d %s, want %d", tc.base, code, body, want)
		}
	}
}

// TestAuthzExecutorToken: under ACLs that allow nothing, a request made
// with an executor's token alone (claims, no principal value) may still
// make the container calls on containers nested under its own — Mesos's
// implicit executor approver, which the default executor needs — and
// nothing else; the same calls without the token are denied.
func TestAuthzExecutorToken(t *testing.T) {
	acls, err := authz.ParseACLs([]byte(`{"permissive": false}`))
	if err != nil {
		t.Fatal(err)
	}
	ta := startAgent(t, newFakeMaster(t, 30), "normal", func(c *Config) { c.Authorizer = authz.NewLocal(acls) })
	child := &mesospb.ContainerID{Value: proto.String("task"), Parent: &mesospb.ContainerID{Value: proto.String("exec-cid")}}
	token := authn.WithClaims(t.Context(), authn.ExecutorClaims("fw", "ex", "exec-cid"))
	for _, c := range []struct {
		call      *agentpb.Call
		withToken bool
	}{
		{&agentpb.Call{Type: agentpb.Call_LAUNCH_NESTED_CONTAINER.Enum(), LaunchNestedContainer: &agentpb.Call_LaunchNestedContainer{ContainerId: child}}, true},
		{&agentpb.Call{Type: agentpb.Call_WAIT_NESTED_CONTAINER.Enum(), WaitNestedContainer: &agentpb.Call_WaitNestedContainer{ContainerId: child}}, true},
		{&agentpb.Call{Type: agentpb.Call_KILL_NESTED_CONTAINER.Enum(), KillNestedContainer: &agentpb.Call_KillNestedContainer{ContainerId: child}}, true},
		{&agentpb.Call{Type: agentpb.Call_REMOVE_NESTED_CONTAINER.Enum(), RemoveNestedContainer: &agentpb.Call_RemoveNestedContainer{ContainerId: child}}, true},
		{&agentpb.Call{Type: agentpb.Call_ATTACH_CONTAINER_OUTPUT.Enum(), AttachContainerOutput: &agentpb.Call_AttachContainerOutput{ContainerId: child}}, true},
		{&agentpb.Call{Type: agentpb.Call_ATTACH_CONTAINER_INPUT.Enum(), AttachContainerInput: &agentpb.Call_AttachContainerInput{
			Type: agentpb.Call_AttachContainerInput_CONTAINER_ID.Enum(), ContainerId: child}}, false},
		{&agentpb.Call{Type: agentpb.Call_GET_FLAGS.Enum()}, false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1", nil)
		if got := ta.authorizeCall(r.WithContext(token), c.call); got != c.withToken {
			t.Errorf("%v with the executor's token: allowed %v, want %v", c.call.GetType(), got, c.withToken)
		}
		if ta.authorizeCall(r, c.call) {
			t.Errorf("%v without a principal: allowed under ACLs that allow nothing", c.call.GetType())
		}
	}
	if ta.allowed(token, authz.Request{Action: authz.ViewFlags}) {
		t.Error("an executor's token is allowed view_flags: an ACL matched a principal without a value")
	}
}
