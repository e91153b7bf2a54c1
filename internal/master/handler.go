package master

import "net/http"

// prefixes are the path prefixes every master route is served under: the
// root and the libprocess actor id (spec §0.5).
var prefixes = []string{"", "/master"}

// Handler returns the master's HTTP routes. Requests that need the actor
// wait until Serve has started it.
func (m *Master) Handler() http.Handler {
	m.handlerOnce.Do(func() { m.handler = m.routes() })
	return m.handler
}

func (m *Master) routes() http.Handler {
	mux := http.NewServeMux()
	route := func(path string, h http.HandlerFunc, withPrefixes bool) {
		if !withPrefixes {
			mux.HandleFunc(path, h)
			return
		}
		for _, p := range prefixes {
			mux.HandleFunc(p+path, h)
		}
	}
	st := m.st
	route("/api/v1/scheduler", m.serveScheduler, true)
	route("/internal/agent", m.serveAgent, true)
	route("/health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }, true)
	route("/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, versionEndpoint())
	}, false)
	route("/redirect", m.serveRedirect, true)
	for _, p := range []string{"/state", "/state.json"} {
		route(p, m.serveRead(st.stateJSON, true), true)
	}
	for _, p := range []string{"/frameworks", "/frameworks.json"} {
		route(p, m.serveRead(st.frameworksEndpoint, true), true)
	}
	for _, p := range []string{"/slaves", "/slaves.json"} {
		route(p, m.serveRead(st.slavesEndpoint, true), true)
	}
	for _, p := range []string{"/tasks", "/tasks.json"} {
		route(p, m.serveRead(st.tasksEndpoint, true), true)
	}
	route("/state-summary", m.serveRead(st.stateSummary, true), true)
	route("/api/v1", m.serveOperator, true)
	route("/weights", m.serveWeights, true)
	route("/quota", m.serveQuota, true)
	route("/quota/", m.serveQuota, true)
	route("/reserve", m.serveReserve, true)
	route("/unreserve", m.serveUnreserve, true)
	route("/roles", m.serveRead(st.rolesEndpoint, true), true)
	route("/roles.json", m.serveRead(st.rolesEndpoint, true), true)
	route("/flags", m.serveRead(func(*http.Request) any { return object{"flags": st.flags()} }, false), true)
	route("/metrics/snapshot", m.serveRead(st.metricsSnapshot, false), false)
	return mux
}
