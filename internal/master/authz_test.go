package master

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/resources"
)

// withACLs returns a Config modifier installing the LocalAuthorizer of
// the JSON ACLs.
func withACLs(t *testing.T, js string) func(*Config) {
	t.Helper()
	acls, err := authz.ParseACLs([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) { c.Authorizer = authz.NewLocal(acls) }
}

// principalServer serves the master's routes on a second loopback
// listener whose requests carry principal, as authentication middleware
// would set it (the actor runs under startMaster's Serve).
func principalServer(t *testing.T, h *harness, principal string) string {
	t.Helper()
	handler := h.m.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(w, r.WithContext(httpapi.WithPrincipal(r.Context(), principal)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func do(t *testing.T, method, url, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Accept", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 && strings.Contains(url, "/api/v1") {
		return resp.StatusCode, "" // SUBSCRIBE streams
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// authzDeniedCalls are the operator calls an ACL can deny (403); the
// others either need no authorization in Mesos (GET_HEALTH, GET_VERSION,
// GET_MASTER, GET_LOGGING_LEVEL) or are views that are filtered (200).
var authzDeniedCalls = []masterpb.Call_Type{
	masterpb.Call_GET_FLAGS, masterpb.Call_GET_METRICS, masterpb.Call_SET_LOGGING_LEVEL,
	masterpb.Call_LIST_FILES, masterpb.Call_READ_FILE,
	masterpb.Call_UPDATE_WEIGHTS, masterpb.Call_RESERVE_RESOURCES, masterpb.Call_UNRESERVE_RESOURCES,
	masterpb.Call_DEACTIVATE_AGENT, masterpb.Call_REACTIVATE_AGENT,
	masterpb.Call_UPDATE_QUOTA, masterpb.Call_SET_QUOTA, masterpb.Call_REMOVE_QUOTA,
	masterpb.Call_TEARDOWN, masterpb.Call_MARK_AGENT_GONE,
}

// TestAuthzDenyAllRoutes: with ACLs that deny everything but the test
// framework's registration (permissive false), for a request with a
// principal (set as authentication would) and for one without,
// every operator call and legacy endpoint that Mesos authorizes answers
// 403, and the views answer 200 (filtered, see TestAuthzViewFiltering).
// Then the same calls with permissive ACLs are not 403.
func TestAuthzDenyAllRoutes(t *testing.T) {
	for _, permissive := range []bool{false, true} {
		t.Run(map[bool]string{false: "deny", true: "permissive"}[permissive], func(t *testing.T) {
			logFile := filepath.Join(t.TempDir(), "mesos-master.INFO")
			if err := os.WriteFile(logFile, []byte("master log\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			js := `{"permissive": false, "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}], "register_frameworks": [{"principals": {"values": ["fw"]}, "roles": {"type": "ANY"}}]}`
			if permissive {
				js = `{"permissive": true}`
			}
			set := withACLs(t, js)
			h := startMaster(t, func(c *Config) { c.LogFile = logFile; set(c) })
			gone := h.registerAgent("cpus:2;mem:1024")
			agent := h.registerAgent("cpus:2;mem:1024")
			// Only the framework's registration is allowed.
			fwID := h.subscribe(roleFramework("eng", "fw", false), codec.JSON).id
			ids := walkIDs{agent: agent.id, goneAgent: gone.id, framework: fwID}

			// Every route of the master is checked here or, for the three
			// with authorization of their own, in the tests named.
			covered := map[string]bool{
				"/master/api/v1":           true, // the operator calls, walked below
				"/master/api/v1/scheduler": true, // TestAuthzSubscribeRoles, TestAuthzRunTaskUserRoot, TestAuthzOfferReservations
				"/master/internal/agent":   true, // TestAuthzRegisterAgent
				// The web UI's static files: no authorization, as
				// Mesos's UI files (what the page reads is authorized).
				"/master/":       true,
				"/master/static": true,
			}
			defer func() {
				for _, route := range h.m.Handler().(*httpapi.Router).Routes() {
					if !covered[route] {
						t.Errorf("route %s is not checked for authorization", route)
					}
				}
			}()
			for _, base := range []string{"http://" + h.addr, principalServer(t, h, "mallory")} {
				mt := codec.JSON
				values := masterpb.Call_UNKNOWN.Descriptor().Values()
				for i := range values.Len() {
					typ := masterpb.Call_Type(values.Get(i).Number())
					if slices.Contains(walkNotImplemented, typ) || typ == masterpb.Call_MARK_AGENT_GONE && permissive {
						continue
					}
					body, err := codec.Marshal(mt, walkCall(typ, ids))
					if err != nil {
						t.Fatal(err)
					}
					code, msg := do(t, http.MethodPost, base+"/api/v1", string(mt), body)
					denied := slices.Contains(authzDeniedCalls, typ)
					switch {
					case !permissive && denied && code != http.StatusForbidden:
						t.Errorf("%s %s: %d %s, want 403", base, typ, code, msg)
					case (permissive || !denied) && code == http.StatusForbidden:
						t.Errorf("%s %s: 403, want it allowed", base, typ)
					case !denied && code/100 != 2:
						t.Errorf("%s %s: %d %s, want 2xx", base, typ, code, msg)
					}
				}
				for _, ep := range []struct {
					method, path, ctype, body string
					denied                    bool
				}{
					{"GET", "/flags", "", "", true},
					{"GET", "/master/flags", "", "", true},
					{"GET", "/metrics/snapshot", "", "", true},
					{"GET", "/files/browse?path=/master/log", "", "", true},
					{"GET", "/files/read?path=/master/log&offset=0", "", "", true},
					{"GET", "/files/download?path=/master/log", "", "", true},
					{"GET", "/files/debug", "", "", true},
					{"POST", "/master/teardown", "application/x-www-form-urlencoded", "frameworkId=" + fwID, true},
					{"POST", "/master/reserve", "application/x-www-form-urlencoded",
						"slaveId=" + agent.id + `&resources=[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"eng"}]}]`, true},
					{"POST", "/master/unreserve", "application/x-www-form-urlencoded",
						"slaveId=" + agent.id + `&resources=[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"eng"}]}]`, true},
					{"PUT", "/master/weights", "application/json", `[{"role":"eng","weight":2}]`, true},
					{"POST", "/master/quota", "application/json", `{"role":"eng","guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}`, true},
					{"DELETE", "/master/quota/eng", "", "", true},
					{"GET", "/master/state", "", "", false},
					{"GET", "/master/frameworks", "", "", false},
					{"GET", "/master/tasks", "", "", false},
					{"GET", "/master/slaves", "", "", false},
					{"GET", "/master/roles", "", "", false},
					{"GET", "/master/state-summary", "", "", false},
					{"GET", "/master/weights", "", "", false},
					{"GET", "/master/quota", "", "", false},
					{"GET", "/master/state.json", "", "", false},
					{"GET", "/master/frameworks.json", "", "", false},
					{"GET", "/master/tasks.json", "", "", false},
					{"GET", "/master/slaves.json", "", "", false},
					{"GET", "/master/roles.json", "", "", false},
					{"GET", "/master/explain/framework?framework=" + fwID, "", "", false},
					{"GET", "/master/explain/task?task=t", "", "", false},
					{"GET", "/master/redirect", "", "", false},
					{"GET", "/metrics", "", "", true},
					{"GET", "/version", "", "", false},
					{"GET", "/master/health", "", "", false},
				} {
					covered[routeOf(ep.path)] = true
					code, msg := do(t, ep.method, base+ep.path, ep.ctype, []byte(ep.body))
					switch {
					case !permissive && ep.denied && code != http.StatusForbidden:
						t.Errorf("%s %s %s: %d %s, want 403", base, ep.method, ep.path, code, msg)
					case (permissive || !ep.denied) && code == http.StatusForbidden:
						t.Errorf("%s %s %s: 403, want it allowed", base, ep.method, ep.path)
					}
				}
			}
		})
	}
}

// TestAuthzRunTaskUserRoot is the repro: CommandInfo.user=root ran
// as root. With an ACL that lets the framework's principal run tasks only
// as "nobody", the root task gets TASK_ERROR REASON_TASK_UNAUTHORIZED and
// never reaches the agent; a task as nobody is launched.
func TestAuthzRunTaskUserRoot(t *testing.T) {
	h := startMaster(t, withACLs(t, `{
	  "permissive": false,
	  "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
	  "register_frameworks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
	  "run_tasks": [
	    {"principals": {"values": ["fw"]}, "users": {"values": ["nobody"]}},
	    {"principals": {"type": "ANY"}, "users": {"type": "NONE"}}
	  ]
	}`))
	agent := h.registerAgent("cpus:4;mem:1024")
	info := roleFramework("*", "fw", false)
	info.User = proto.String("nobody")
	sched := h.subscribe(info, codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	task := func(id, user string) *mesospb.TaskInfo {
		t := &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)}, AgentId: o.AgentId,
			Command: &mesospb.CommandInfo{Value: proto.String("id -u")}, Resources: cpuMem(1, 64)}
		if user != "" {
			t.Command.User = proto.String(user)
		}
		return t
	}
	sched.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.Id},
			Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{
					task("as-root", "root"), task("as-nobody", ""),
				}},
			}},
		},
	})
	st := sched.next(schedulerpb.Event_UPDATE).GetUpdate().GetStatus()
	if st.GetTaskId().GetValue() != "as-root" || st.GetState() != mesospb.TaskState_TASK_ERROR ||
		st.GetReason() != mesospb.TaskStatus_REASON_TASK_UNAUTHORIZED || st.GetSource() != mesospb.TaskStatus_SOURCE_MASTER ||
		st.GetMessage() != "Not authorized to launch task as-root of framework "+sched.id+" under user 'root'" {
		t.Fatalf("update for the root task: %v", st)
	}
	run := agent.next(agentapipb.Event_RUN_TASK).GetRunTask()
	if run.GetTask().GetTaskId().GetValue() != "as-nobody" {
		t.Fatalf("RUN_TASK %v, want only as-nobody", run)
	}
}

// TestAuthzSubscribeRoles: register_frameworks decides the roles a
// principal may subscribe with, hierarchically ("eng/%").
func TestAuthzSubscribeRoles(t *testing.T) {
	h := startMaster(t, withACLs(t, `{
	  "permissive": false,
	  "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
	  "register_frameworks": [{"principals": {"values": ["fw"]}, "roles": {"values": ["eng/%"]}}]
	}`))
	sched := h.subscribe(roleFramework("eng/dev", "fw", false), codec.JSON)
	// UPDATE_FRAMEWORK to a role the ACLs refuse: 403, as Mesos.
	update := roleFramework("ops", "fw", false)
	update.Id = &mesospb.FrameworkID{Value: proto.String(sched.id)}
	code, body := sched.call(&schedulerpb.Call{Type: schedulerpb.Call_UPDATE_FRAMEWORK.Enum(),
		UpdateFramework: &schedulerpb.Call_UpdateFramework{FrameworkInfo: update}})
	if code != http.StatusForbidden || body != "Not authorized to register framework "+sched.id+" with roles { ops }" {
		t.Errorf("UPDATE_FRAMEWORK to role ops: %d %q, want 403", code, body)
	}
	for _, info := range []*mesospb.FrameworkInfo{roleFramework("eng", "fw", false), roleFramework("eng/dev", "other", false), roleFramework("eng/dev", "", false)} {
		s := h.subscribeRaw(info, codec.JSON)
		evs := s.waitClosed()
		if len(evs) != 1 || evs[0].GetType() != schedulerpb.Event_ERROR ||
			!strings.HasPrefix(evs[0].GetError().GetMessage(), "Not authorized to register framework") {
			t.Errorf("SUBSCRIBE %v: events %v, want one ERROR", info, evs)
		}
	}
}

// TestAuthzViewFiltering: /state, /frameworks, /tasks, GET_FRAMEWORKS,
// GET_TASKS and the operator event stream show a reader only the
// frameworks and tasks the view ACLs let it see, and /state's flags only
// with view_flags.
func TestAuthzViewFiltering(t *testing.T) {
	h := startMaster(t, withACLs(t, `{
	  "permissive": false,
	  "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
	  "register_frameworks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
	  "run_tasks": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
	  "view_frameworks": [{"principals": {"values": ["alice", "ops"]}, "users": {"values": ["alice"]}},
	                      {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "view_tasks": [{"principals": {"values": ["alice", "ops"]}, "users": {"values": ["alice"]}},
	                 {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "view_flags": [{"principals": {"values": ["ops"]}, "flags": {"type": "ANY"}}]
	}`))
	agent := h.registerAgent("cpus:4;mem:1024")
	launch := func(user string) string {
		info := roleFramework("*", user, false)
		info.User = proto.String(user)
		s := h.subscribe(info, codec.JSON)
		o := s.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
		s.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.Id},
			Operations: []*mesospb.Offer_Operation{{Type: mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{{
					Name: proto.String(user), TaskId: &mesospb.TaskID{Value: proto.String(user + "-task")}, AgentId: o.AgentId,
					Command: &mesospb.CommandInfo{Value: proto.String("true")}, Resources: cpuMem(1, 64)}}}}},
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(3600)},
		}})
		agent.next(agentapipb.Event_RUN_TASK)
		return s.id
	}
	aliceID, bobID := launch("alice"), launch("bob")

	getJSON := func(base, path string) map[string]any {
		t.Helper()
		code, body := do(t, http.MethodGet, base+path, "", nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s%s: %d %s", base, path, code, body)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return v
	}
	ids := func(list any, key string) []string {
		out := []string{}
		for _, x := range list.([]any) {
			out = append(out, x.(map[string]any)[key].(string))
		}
		slices.Sort(out)
		return out
	}
	operator := func(base string, typ masterpb.Call_Type) *masterpb.Response {
		t.Helper()
		body, _ := codec.Marshal(codec.JSON, &masterpb.Call{Type: typ.Enum()})
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1", bytes.NewReader(body))
		req.Header.Set("Content-Type", string(codec.JSON))
		req.Header.Set("Accept", string(codec.JSON))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out := &masterpb.Response{}
		if err := codec.Unmarshal(codec.JSON, b, out); err != nil {
			t.Fatalf("%s: %d %s: %v", typ, resp.StatusCode, b, err)
		}
		return out
	}

	for _, tc := range []struct {
		principal  string // "" for none
		frameworks []string
		tasks      []string
		flags      bool
	}{
		{"alice", []string{aliceID}, []string{"alice-task"}, false},
		{"ops", sortedStrings(aliceID, bobID), []string{"alice-task", "bob-task"}, true},
		{"mallory", []string{}, []string{}, false},
		{"", []string{}, []string{}, false},
	} {
		base := "http://" + h.addr
		if tc.principal != "" {
			base = principalServer(t, h, tc.principal)
		}
		st := getJSON(base, "/master/state")
		if got := ids(st["frameworks"], "id"); !slices.Equal(got, tc.frameworks) {
			t.Errorf("%q /state frameworks %v, want %v", tc.principal, got, tc.frameworks)
		}
		if _, ok := st["flags"]; ok != tc.flags {
			t.Errorf("%q /state has flags: %v, want %v", tc.principal, ok, tc.flags)
		}
		if got := ids(getJSON(base, "/master/state-summary")["frameworks"], "id"); !slices.Equal(got, tc.frameworks) {
			t.Errorf("%q /state-summary frameworks %v, want %v", tc.principal, got, tc.frameworks)
		}
		if got := ids(getJSON(base, "/master/frameworks")["frameworks"], "id"); !slices.Equal(got, tc.frameworks) {
			t.Errorf("%q /frameworks %v, want %v", tc.principal, got, tc.frameworks)
		}
		if got := ids(getJSON(base, "/master/tasks")["tasks"], "id"); !slices.Equal(got, tc.tasks) {
			t.Errorf("%q /tasks %v, want %v", tc.principal, got, tc.tasks)
		}
		var fws []string
		for _, f := range operator(base, masterpb.Call_GET_FRAMEWORKS).GetGetFrameworks().GetFrameworks() {
			fws = append(fws, f.GetFrameworkInfo().GetId().GetValue())
		}
		slices.Sort(fws)
		if !slices.Equal(append([]string{}, fws...), tc.frameworks) {
			t.Errorf("%q GET_FRAMEWORKS %v, want %v", tc.principal, fws, tc.frameworks)
		}
		var tasks []string
		for _, tk := range operator(base, masterpb.Call_GET_TASKS).GetGetTasks().GetTasks() {
			tasks = append(tasks, tk.GetTaskId().GetValue())
		}
		slices.Sort(tasks)
		if !slices.Equal(append([]string{}, tasks...), tc.tasks) {
			t.Errorf("%q GET_TASKS %v, want %v", tc.principal, tasks, tc.tasks)
		}
	}
}

func sortedStrings(s ...string) []string {
	slices.Sort(s)
	return s
}

// TestAuthzEventStreamFiltering: the operator event stream of a reader
// the ACLs limit to alice's frameworks and tasks carries neither bob's
// framework nor his task, in SUBSCRIBED nor in later events; a reader the
// ACLs allow everything sees both.
func TestAuthzEventStreamFiltering(t *testing.T) {
	h := startMaster(t, withACLs(t, `{
	  "permissive": false,
	  "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
	  "register_frameworks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
	  "run_tasks": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
	  "view_frameworks": [{"principals": {"values": ["alice"]}, "users": {"values": ["alice"]}},
	                      {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}],
	  "view_tasks": [{"principals": {"values": ["alice"]}, "users": {"values": ["alice"]}},
	                 {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}]
	}`))
	agent := h.registerAgent("cpus:4;mem:1024")
	launch := func(user string) {
		info := roleFramework("*", user, false)
		info.User = proto.String(user)
		s := h.subscribe(info, codec.JSON)
		o := s.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
		s.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.Id},
			Operations: []*mesospb.Offer_Operation{{Type: mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{{
					Name: proto.String(user), TaskId: &mesospb.TaskID{Value: proto.String(user + "-task")}, AgentId: o.AgentId,
					Command: &mesospb.CommandInfo{Value: proto.String("true")}, Resources: cpuMem(1, 64)}}}}},
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(3600)},
		}})
		agent.next(agentapipb.Event_RUN_TASK)
	}
	launch("bob") // before the streams: in SUBSCRIBED
	stream := func(principal string) *opStream {
		h2 := *h
		h2.addr = strings.TrimPrefix(principalServer(t, h, principal), "http://")
		return h2.operatorSubscribe(codec.JSON)
	}
	alice, ops := stream("alice"), stream("ops")
	if st := alice.expect(masterpb.Event_SUBSCRIBED).GetSubscribed().GetGetState(); len(st.GetGetFrameworks().GetFrameworks()) != 0 ||
		len(st.GetGetTasks().GetTasks()) != 0 {
		t.Errorf("alice's SUBSCRIBED shows bob's framework or task: %v", prototext(st))
	}
	if st := ops.expect(masterpb.Event_SUBSCRIBED).GetSubscribed().GetGetState(); len(st.GetGetFrameworks().GetFrameworks()) != 1 ||
		len(st.GetGetTasks().GetTasks()) != 1 {
		t.Errorf("ops's SUBSCRIBED lacks bob's framework or task: %v", prototext(st))
	}
	launch("bob2")
	launch("alice")
	// alice's stream: the first framework and task events are alice's.
	seen := func(s *opStream, until string) []string {
		var out []string
		for {
			ev := s.next()
			var what string
			switch ev.GetType() {
			case masterpb.Event_FRAMEWORK_ADDED:
				what = "framework:" + ev.GetFrameworkAdded().GetFramework().GetFrameworkInfo().GetUser()
			case masterpb.Event_TASK_ADDED:
				what = "task:" + ev.GetTaskAdded().GetTask().GetTaskId().GetValue()
			default:
				continue
			}
			out = append(out, what)
			if what == until {
				return out
			}
		}
	}
	if got, want := seen(alice, "task:alice-task"), []string{"framework:alice", "task:alice-task"}; !slices.Equal(got, want) {
		t.Errorf("alice's events %v, want %v", got, want)
	}
	if got, want := seen(ops, "task:alice-task"), []string{"framework:bob2", "task:bob2-task", "framework:alice", "task:alice-task"}; !slices.Equal(got, want) {
		t.Errorf("ops's events %v, want %v", got, want)
	}
}

// TestAuthzRoleViews: /roles, GET_ROLES and the weights show the roles
// view_roles allows, /quota and GET_QUOTA those get_quotas allows.
func TestAuthzRoleViews(t *testing.T) {
	set := withACLs(t, `{
	  "permissive": false,
	  "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
	  "update_quotas": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
	  "view_roles": [{"principals": {"values": ["alice"]}, "roles": {"values": ["eng", "eng/%"]}}],
	  "get_quotas": [{"principals": {"values": ["alice"]}, "roles": {"values": ["eng"]}}]
	}`)
	h := startMaster(t, func(c *Config) {
		set(c)
		c.Weights = map[string]float64{"eng": 1, "eng/dev": 2, "ops": 3}
	})
	for _, role := range []string{"eng", "ops"} {
		body := `{"role":"` + role + `","force":true,"guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}`
		if code, msg := do(t, http.MethodPost, h.url("/master/quota"), "application/json", []byte(body)); code != http.StatusOK {
			t.Fatalf("set quota %s: %d %s", role, code, msg)
		}
	}
	roles := func(base, path, listKey, nameKey string) []string {
		t.Helper()
		code, body := do(t, http.MethodGet, base+path, "", nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		list := v
		if listKey != "" {
			list = v.(map[string]any)[listKey]
		}
		out := []string{}
		if list == nil {
			return out
		}
		for _, x := range list.([]any) {
			out = append(out, x.(map[string]any)[nameKey].(string))
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		base                   string
		weights, quota, listed []string
	}{
		{principalServer(t, h, "alice"), []string{"eng", "eng/dev"}, []string{"eng"}, []string{"eng", "eng/dev"}},
		{"http://" + h.addr, []string{}, []string{}, []string{}},
	} {
		if got := roles(tc.base, "/master/weights", "", "role"); !slices.Equal(got, tc.weights) {
			t.Errorf("%s weights %v, want %v", tc.base, got, tc.weights)
		}
		if got := roles(tc.base, "/master/quota", "configs", "role"); !slices.Equal(got, tc.quota) {
			t.Errorf("%s quota %v, want %v", tc.base, got, tc.quota)
		}
		if got := roles(tc.base, "/master/roles", "roles", "name"); !slices.Equal(got, tc.listed) {
			t.Errorf("%s roles %v, want %v", tc.base, got, tc.listed)
		}
	}
}

// TestAuthzRegisterAgent: register_agents decides which agents may
// register; a refused one gets 403 with Mesos's message.
func TestAuthzRegisterAgent(t *testing.T) {
	h := startMaster(t, withACLs(t, `{"permissive": false}`))
	body, err := codec.Marshal(codec.Protobuf, registerCall(t, "cpus:1;mem:64", 5051))
	if err != nil {
		t.Fatal(err)
	}
	code, msg := do(t, http.MethodPost, h.url("/master/internal/agent"), string(codec.Protobuf), body)
	if code != http.StatusForbidden || msg != "Not authorized to register agent providing resources 'cpus:1; mem:64' without a principal" {
		t.Errorf("REGISTER: %d %q, want 403", code, msg)
	}
}

// TestAuthzOfferReservations: a framework's RESERVE offer operation needs
// reserve_resources for the role: refused, it is dropped (the agent
// checkpoints nothing and the resources come back unreserved); allowed,
// it is applied.
func TestAuthzOfferReservations(t *testing.T) {
	for _, allowed := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "allowed"}[allowed], func(t *testing.T) {
			role := "ops"
			if allowed {
				role = "eng"
			}
			h := startMaster(t, withACLs(t, `{
			  "permissive": false,
			  "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
			  "register_frameworks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
			  "reserve_resources": [{"principals": {"values": ["p"]}, "roles": {"values": ["`+role+`"]}}],
			  "view_roles": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}]
			}`))
			agent := h.registerAgent("cpus:2;mem:1024")
			sched := h.subscribe(roleFramework("eng", "p", true), codec.JSON)
			o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
			sched.accept(o, reserveOp(reservedFor("eng", "p", true, 1, 512)))
			if allowed {
				cp := agent.next(agentapipb.Event_CHECKPOINT_RESOURCES).GetCheckpointResources().GetResources()
				if got := resources.Resources(cp).ReservedBy("eng").Quantities(); got["cpus"] != 1 {
					t.Fatalf("checkpointed %v", got)
				}
				// /slaves shows the reservation only to a reader with
				// view_roles for eng (ReadOnlyHandler's SlaveWriter).
				for base, want := range map[string]bool{"http://" + h.addr: false, principalServer(t, h, "ops"): true} {
					code, body := do(t, http.MethodGet, base+"/master/slaves", "", nil)
					var v struct {
						Slaves []struct {
							Reserved     map[string]any `json:"reserved_resources"`
							ReservedFull map[string]any `json:"reserved_resources_full"`
						} `json:"slaves"`
					}
					if err := json.Unmarshal([]byte(body), &v); code != http.StatusOK || err != nil || len(v.Slaves) != 1 {
						t.Fatalf("/slaves: %d %s", code, body)
					}
					_, shown := v.Slaves[0].Reserved["eng"]
					_, shownFull := v.Slaves[0].ReservedFull["eng"]
					if shown != want || shownFull != want {
						t.Errorf("%s /slaves shows eng's reservation: %v %v, want %v", base, shown, shownFull, want)
					}
					body2, _ := codec.Marshal(codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
					req, _ := http.NewRequest(http.MethodPost, base+"/api/v1", bytes.NewReader(body2))
					req.Header.Set("Content-Type", string(codec.JSON))
					req.Header.Set("Accept", string(codec.JSON))
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					out := &masterpb.Response{}
					if err := codec.Unmarshal(codec.JSON, b, out); err != nil || len(out.GetGetAgents().GetAgents()) != 1 {
						t.Fatalf("GET_AGENTS: %s %v", b, err)
					}
					total := resources.Resources(out.GetGetAgents().GetAgents()[0].GetTotalResources())
					if got := total.ReservedBy("eng").Quantities()["cpus"] == 1; got != want {
						t.Errorf("%s GET_AGENTS shows eng's reservation: %v, want %v", base, got, want)
					}
				}
				return
			}
			next := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
			if rs := resources.Resources(next.GetResources()); rs.ReservedBy("eng").Quantities()["cpus"] != 0 ||
				rs.Unreserved().Quantities()["cpus"] != 2 {
				t.Fatalf("re-offered %v, want all of it unreserved", rs)
			}
		})
	}
}

// routeOf is the router's name of the route a test path reaches:
// "/flags" is "/master/flags" (delegated), "/version" is "/version/".
func routeOf(p string) string {
	p, _, _ = strings.Cut(p, "?")
	switch {
	case p == "/version" || p == "/metrics":
		return p + "/"
	case p == "/master/quota/eng":
		return "/master/quota"
	case strings.HasPrefix(p, "/master/"), strings.HasPrefix(p, "/files/"), strings.HasPrefix(p, "/metrics/"):
		return p
	}
	return "/master" + p
}

// TestAuthzRegisterAgentStaticReservations: an agent's static reservations
// are authorized as reserve_resources of their roles (Mesos's
// ActionObject::agentRegistration), on top of register_agents.
func TestAuthzRegisterAgentStaticReservations(t *testing.T) {
	h := startMaster(t, withACLs(t, `{"permissive": false,
		"register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
		"reserve_resources": [{"principals": {"type": "ANY"}, "roles": {"values": ["dev"]}}]}`))
	for i, c := range []struct{ resources, msg string }{
		{"cpus(ops):1;mem:64", "Not authorized to register agent providing resources 'cpus(reservations: [(STATIC,ops)]):1; mem:64' without a principal"},
		{"cpus(dev):1;mem(ops):64", "Not authorized to register agent providing resources 'cpus(reservations: [(STATIC,dev)]):1; mem(reservations: [(STATIC,ops)]):64' without a principal"},
	} {
		body, err := codec.Marshal(codec.Protobuf, registerCall(t, c.resources, 5051+i))
		if err != nil {
			t.Fatal(err)
		}
		code, msg := do(t, http.MethodPost, h.url("/master/internal/agent"), string(codec.Protobuf), body)
		if code != http.StatusForbidden || msg != c.msg {
			t.Errorf("REGISTER with %s: %d %q, want 403 %q", c.resources, code, msg, c.msg)
		}
	}
	// Reservations for a role the ACLs allow, and none at all: registered.
	h.registerAgentAt("cpus(dev):1;mem:64", 5061)
	h.registerAgentAt("cpus:1;mem:64", 5062)
}
