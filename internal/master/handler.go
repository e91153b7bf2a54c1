package master

import (
	"net/http"
	"strings"

	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/files"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/webui"
)

// actorID is the master's libprocess actor id: its routes are served under
// /master and, through libprocess's delegation, at the root (spec §0.5).
const actorID = "master"

// Handler returns the master's HTTP routes. Requests that need the actor
// wait until Serve has started it.
func (m *Master) Handler() http.Handler {
	m.handlerOnce.Do(func() { m.handler = m.routes() })
	return m.handler
}

// routes registers the master's routes on a libprocess-style router (see
// httpapi.Router): /master/slaves/, /slaves/x and /tasks/ reach /slaves and
// /tasks, and handlers see delegated paths with /master in front.
func (m *Master) routes() http.Handler {
	rt := httpapi.NewRouter(actorID)
	rt.Wrap = m.authenticateRoute // authn.go
	route := func(path string, h http.HandlerFunc) { rt.Handle(actorID, path, h) }
	st := m.st
	route("/api/v1/scheduler", m.serveScheduler)
	route("/internal/agent", m.serveAgent)
	route("/health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	route("/redirect", m.serveRedirect)
	// The *.json names were removed in Mesos 1.7; old tools still ask.
	for _, p := range []string{"/state", "/state.json"} {
		route(p, m.serveRead(st.stateJSON, true))
	}
	for _, p := range []string{"/frameworks", "/frameworks.json"} {
		route(p, m.serveRead(st.frameworksEndpoint, true))
	}
	for _, p := range []string{"/slaves", "/slaves.json"} {
		route(p, m.serveRead(st.slavesEndpoint, true))
	}
	for _, p := range []string{"/tasks", "/tasks.json"} {
		route(p, m.serveRead(st.tasksEndpoint, true))
	}
	route("/state-summary", m.serveRead(st.stateSummary, true))
	route("/api/v1", m.serveOperator)
	route("/weights", m.serveWeights)
	route("/quota", m.serveQuota) // and /quota/<role> for DELETE
	route("/reserve", m.serveReserve)
	route("/unreserve", m.serveUnreserve)
	route("/teardown", m.serveTeardown)
	route("/roles", m.serveRead(st.rolesEndpoint, true))
	route("/roles.json", m.serveRead(st.rolesEndpoint, true))
	// The explainer, a meso extension (pkg/explain, explain.go).
	route("/explain/framework", m.serveExplain(st.explainFramework))
	route("/explain/task", m.serveExplain(st.explainTask))
	route("/flags", m.guard(authz.ViewFlags, "", m.serveRead(func(*http.Request) any { return object{"flags": st.flags()} }, false)))
	// The web UI (a meso addition; Mesos serves its own UI from
	// --webui_dir the same way): the page at "/" (and /master/ — the
	// router's route "/" matches nothing longer) and its assets under
	// /static/. On a standby the page follows the leader itself.
	ui := webui.Handler()
	route("/", ui.ServeHTTP)
	route(strings.TrimSuffix(webui.Assets, "/"), ui.ServeHTTP)
	// Process-wide routes live in their own libprocess processes, at the
	// root only: /version, /metrics/snapshot and /metrics.
	rt.HandleFunc("version", "/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, versionEndpoint())
	})
	// /metrics itself is the Prometheus scrape (an addition), the
	// "metrics" process's route "/", which no longer path reaches.
	rt.HandleFunc("metrics", "/snapshot", m.guard(authz.GetEndpointWithPath, "/metrics/snapshot", m.serveMetricsSnapshot))
	// The scrape shows the same numbers: the same ACL guards it.
	rt.HandleFunc("metrics", "/", m.guard(authz.GetEndpointWithPath, "/metrics/snapshot", m.servePrometheus))
	// /files/{browse,read,download,debug}: the master log (files.go).
	// With an authorizer, the master log needs access_mesos_logs and
	// /files/debug get_endpoints (the files process's authorization).
	rt.HandleFunc(files.ProcessID, "/browse", m.guard(authz.AccessMesosLog, "", m.files.ServeBrowse))
	rt.HandleFunc(files.ProcessID, "/read", m.guard(authz.AccessMesosLog, "", m.files.ServeRead))
	rt.HandleFunc(files.ProcessID, "/download", m.guard(authz.AccessMesosLog, "", m.files.ServeDownload))
	rt.HandleFunc(files.ProcessID, "/debug", m.guard(authz.GetEndpointWithPath, "/files/debug", m.files.ServeDebug))
	if m.cfg.EnablePprof {
		httpapi.RegisterPprof(rt, func(h http.HandlerFunc) http.HandlerFunc {
			return m.guard(authz.GetEndpointWithPath, "/debug/pprof", h)
		})
	}
	return rt
}
