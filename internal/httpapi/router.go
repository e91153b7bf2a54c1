package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Router dispatches requests as libprocess does (ProcessManager::handle and
// ProcessBase::consume in Mesos 1.11's process.cpp), not as http.ServeMux:
//
//   - The first path segment names a process (an actor id such as "master",
//     "slave(1)", "metrics", "version"). A path whose first segment is no
//     registered process, and the path "/", goes to the delegate process —
//     the master or the agent — and the handler sees the path with
//     "/<delegate>" put in front ("/state" is served as "/master/state":
//     that is why a standby master redirects "/state" to
//     "//leader/master/state").
//   - Within the process, the rest of the path without its leading and
//     trailing slashes names the route; if no route has that name, its last
//     segment is dropped and the lookup repeats ("tasks/a/b", "tasks/a",
//     "tasks"). So "/master/slaves/", "/slaves/anything/else" and
//     "/tasks/" reach /slaves and /tasks. The route "/" (name "") matches
//     only the process itself ("/version", "/version/"), never a longer path.
//   - Nothing matches: 404 with libprocess's body "404 Not Found.".
//
// Routes are method-agnostic: handlers answer wrong methods themselves.
// Route names are compared with the path as the client escaped it, and only
// the process segment is unescaped, as libprocess does ("/slave%281%29/state"
// is /slave(1)/state, "/master/st%61te" is no route).
//
// Register every route before serving; a Router is then safe for concurrent
// use.
type Router struct {
	delegate  string
	processes map[string]map[string]http.Handler
	// Wrap, when set before the routes are registered, wraps each route's
	// handler as Handle registers it (authentication per route, as
	// libprocess's route(path, realm, ...) does).
	Wrap func(id, route string, h http.Handler) http.Handler
}

// NewRouter returns a Router whose delegate process (the one serving paths
// that name no process) is delegate, e.g. "master" or "slave(1)".
func NewRouter(delegate string) *Router {
	return &Router{delegate: delegate, processes: map[string]map[string]http.Handler{}}
}

// Handle registers h for route of process id: Handle("master", "/state", h)
// serves /master/state, and /state through the delegate. As in libprocess,
// route starts with "/" and does not end with one (except "/" itself); it
// panics otherwise or when the route is taken.
func (rt *Router) Handle(id, route string, h http.Handler) {
	if id == "" || strings.Contains(id, "/") {
		panic(fmt.Sprintf("httpapi: bad process id %q", id))
	}
	if !strings.HasPrefix(route, "/") || (len(route) > 1 && strings.HasSuffix(route, "/")) {
		panic(fmt.Sprintf("httpapi: routes start and do not end with '/': %q", route))
	}
	routes := rt.processes[id]
	if routes == nil {
		routes = map[string]http.Handler{}
		rt.processes[id] = routes
	}
	name := route[1:]
	if _, dup := routes[name]; dup {
		panic(fmt.Sprintf("httpapi: route %s%s registered twice", id, route))
	}
	if rt.Wrap != nil {
		h = rt.Wrap(id, route, h)
	}
	routes[name] = h
}

// Routes lists every registered route as "/<id><route>" ("/master/state",
// "/version/"), sorted, e.g. for tests that walk all of them.
func (rt *Router) Routes() []string {
	var out []string
	for id, routes := range rt.processes {
		for name := range routes {
			out = append(out, "/"+id+"/"+name)
		}
	}
	sort.Strings(out)
	return out
}

// HandleFunc is Handle for a function.
func (rt *Router) HandleFunc(id, route string, h func(http.ResponseWriter, *http.Request)) {
	rt.Handle(id, route, http.HandlerFunc(h))
}

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, r2 := rt.lookup(r)
	if h == nil {
		NotFound(w)
		return
	}
	h.ServeHTTP(w, r2)
}

// NotFound writes libprocess's 404 (process::http::NotFound()).
func NotFound(w http.ResponseWriter) {
	const body = "404 Not Found."
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(body))
}

// lookup finds the handler for r and the request as the handler sees it
// (with the delegate's id in front of its path when delegated); nil when
// nothing matches.
func (rt *Router) lookup(r *http.Request) (http.Handler, *http.Request) {
	raw := r.URL.EscapedPath()
	if !strings.HasPrefix(raw, "/") {
		return nil, nil // "*", or a relative path: libprocess answers 404
	}
	first, _, _ := strings.Cut(strings.TrimLeft(raw, "/"), "/")
	id := ""
	if first != "" {
		if dec, err := url.PathUnescape(first); err == nil {
			id = dec
		}
	}
	delegated := false
	routes, ok := rt.processes[id]
	if first == "" || !ok {
		if routes, ok = rt.processes[rt.delegate]; !ok {
			return nil, nil
		}
		id, first, delegated = rt.delegate, rt.delegate, true
		raw = "/" + rt.delegate + raw
	}
	// ProcessBase::consume: drop "/<first token>", then the slashes
	// around the rest.
	name := strings.TrimPrefix(raw, "/"+first)
	name = strings.Trim(name, "/")
	for dirname(name) != name {
		if h, ok := routes[name]; ok {
			if !delegated {
				return h, r
			}
			return h, withPathPrefix(r, "/"+id)
		}
		name = dirname(name)
	}
	return nil, nil
}

// withPathPrefix returns a shallow copy of r whose URL path starts with
// prefix.
func withPathPrefix(r *http.Request, prefix string) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = prefix + u.Path
	if u.RawPath != "" {
		u.RawPath = prefix + u.RawPath
	}
	r2.URL = &u
	return r2
}

// dirname is stout's Path::dirname with '/' as the separator: "a/b" is
// "a", "a//b" is "a", "a" and "" are ".", "." and ".." are ".".
func dirname(p string) string {
	if p == "" {
		return "."
	}
	end := len(p) - 1
	if p[end] == '/' {
		end = strings.LastIndexFunc(p[:end+1], func(c rune) bool { return c != '/' })
		if end < 0 {
			return "/"
		}
	}
	end = strings.LastIndexByte(p[:end+1], '/')
	if end < 0 {
		return "."
	}
	if end == 0 {
		return "/"
	}
	end = strings.LastIndexFunc(p[:end+1], func(c rune) bool { return c != '/' })
	if end < 0 {
		return "/"
	}
	return p[:end+1]
}
