package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestDirname(t *testing.T) {
	// The SUSv2 table stout's Path::dirname documents, plus the names
	// ProcessBase::consume walks through.
	tests := map[string]string{
		"/usr/lib": "/usr", "/usr/": "/", "usr": ".", "/": "/", ".": ".", "..": ".", "": ".",
		"a/b/c": "a/b", "a//b": "a", "a/b/": "a", "state": ".", "//": "/",
	}
	for in, want := range tests {
		if got := dirname(in); got != want {
			t.Errorf("dirname(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRouter(t *testing.T) {
	// What a master and an agent register, shaped as in Mesos: the actor's
	// routes, and process-wide ones under their own process ids.
	rt := NewRouter("master")
	echo := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" "+r.URL.Path)
		})
	}
	for _, route := range []string{"/state", "/slaves", "/tasks", "/api/v1", "/api/v1/scheduler", "/redirect", "/quota", "/maintenance/schedule", "/state.json"} {
		rt.Handle("master", route, echo(route))
	}
	rt.Handle("version", "/", echo("version"))
	rt.Handle("metrics", "/snapshot", echo("metrics"))

	agent := NewRouter("slave(1)")
	agent.Handle("slave(1)", "/state", echo("agent-state"))
	agent.Handle("slave(1)", "/api/v1/executor", echo("executor"))

	tests := []struct {
		rt       *Router
		path     string
		wantCode int
		wantBody string // route and the path the handler sees
	}{
		{rt, "/state", 200, "/state /master/state"},
		{rt, "/master/state", 200, "/state /master/state"},
		{rt, "/master/state/", 200, "/state /master/state/"},
		{rt, "/state//", 200, "/state /master/state//"},
		{rt, "//state", 200, "/state /master//state"},
		{rt, "/master//state", 200, "/state /master//state"},
		{rt, "/master/slaves/", 200, "/slaves /master/slaves/"},
		{rt, "/slaves/anything/else", 200, "/slaves /master/slaves/anything/else"},
		{rt, "/master/state.json/", 200, "/state.json /master/state.json/"},
		{rt, "/tasks/", 200, "/tasks /master/tasks/"},
		{rt, "/tasks?limit=1", 200, "/tasks /master/tasks"},
		{rt, "/api/v1", 200, "/api/v1 /master/api/v1"},
		{rt, "/api/v1/scheduler", 200, "/api/v1/scheduler /master/api/v1/scheduler"},
		{rt, "/master/api/v1/scheduler/x", 200, "/api/v1/scheduler /master/api/v1/scheduler/x"},
		{rt, "/api/v1/other", 200, "/api/v1 /master/api/v1/other"},
		{rt, "/api", 404, "404 Not Found."},
		{rt, "/redirect/x", 200, "/redirect /master/redirect/x"}, // the handler 404s it
		{rt, "/quota/role/with/slashes", 200, "/quota /master/quota/role/with/slashes"},
		{rt, "/maintenance/schedule", 200, "/maintenance/schedule /master/maintenance/schedule"},
		{rt, "/maintenance", 404, "404 Not Found."},
		{rt, "/maintenance/status", 404, "404 Not Found."},
		{rt, "/", 404, "404 Not Found."},
		{rt, "/master", 404, "404 Not Found."},
		{rt, "/master/", 404, "404 Not Found."},
		{rt, "/nope", 404, "404 Not Found."},
		{rt, "/master/../state", 404, "404 Not Found."},
		{rt, "/master/st%61te", 404, "404 Not Found."}, // route names are not unescaped
		{rt, "/%6Daster/state", 200, "/state /master/state"},
		// Process-wide routes: not under the actor, and "/" only for the
		// process itself.
		{rt, "/version", 200, "version /version"},
		{rt, "/version/", 200, "version /version/"},
		{rt, "/version/x", 404, "404 Not Found."},
		{rt, "/master/version", 404, "404 Not Found."},
		{rt, "/metrics/snapshot", 200, "metrics /metrics/snapshot"},
		{rt, "/metrics/snapshot/", 200, "metrics /metrics/snapshot/"},
		{rt, "/metrics", 404, "404 Not Found."},
		{rt, "/master/metrics/snapshot", 404, "404 Not Found."},
		// The agent's actor id has parentheses, escaped or not.
		{agent, "/state", 200, "agent-state /slave(1)/state"},
		{agent, "/slave(1)/state", 200, "agent-state /slave(1)/state"},
		{agent, "/slave%281%29/state", 200, "agent-state /slave(1)/state"},
		{agent, "/slave(1)/api/v1/executor", 200, "executor /slave(1)/api/v1/executor"},
		{agent, "/api/v1/executor/", 200, "executor /slave(1)/api/v1/executor/"},
		{agent, "/slave(2)/state", 404, "404 Not Found."},
		{agent, "/master/state", 404, "404 Not Found."},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			rec := httptest.NewRecorder()
			tt.rt.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode || rec.Body.String() != tt.wantBody {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, rec.Code, rec.Body.String(), tt.wantCode, tt.wantBody)
			}
			if rec.Code == 404 && rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("404 Content-Type %q", rec.Header().Get("Content-Type"))
			}
		})
	}
}

func TestRouterDelegatedPathKeepsEscaping(t *testing.T) {
	rt := NewRouter("slave(1)")
	var got string
	rt.HandleFunc("slave(1)", "/files", func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath() + " " + r.URL.Path
	})
	rt.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/files/a%2Fb", nil))
	if want := "/slave(1)/files/a%2Fb /slave(1)/files/a/b"; got != want {
		t.Errorf("handler saw %q, want %q", got, want)
	}
}

func TestRouterHandlePanics(t *testing.T) {
	for _, tt := range []struct{ id, route string }{
		{"master", "state"}, {"master", "/state/"}, {"", "/state"}, {"a/b", "/state"}, {"master", "/dup"},
	} {
		rt := NewRouter("master")
		rt.HandleFunc("master", "/dup", func(http.ResponseWriter, *http.Request) {})
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q, %q) did not panic", tt.id, tt.route)
				}
			}()
			rt.HandleFunc(tt.id, tt.route, func(http.ResponseWriter, *http.Request) {})
		}()
	}
}
