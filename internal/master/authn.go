package master

import (
	"fmt"
	"net/http"

	"github.com/meso-project/meso/api/v1/schedulerpb"

	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/httpapi"
)

// routeRealms is the authentication realm of each master route, as the
// route(path, realm, ...) calls of Mesos 1.11's Master::initialize give
// them. A route of the master's process that is not listed here is in the
// read-write realm (fail closed), except those in openRoutes.
var routeRealms = map[string]string{
	"/api/v1/scheduler":   authn.RealmMasterScheduler,
	"/internal/agent":     authn.RealmMasterAgent,
	"/api/v1":             authn.RealmMasterReadWrite,
	"/state":              authn.RealmMasterReadOnly,
	"/state.json":         authn.RealmMasterReadOnly,
	"/frameworks":         authn.RealmMasterReadOnly,
	"/frameworks.json":    authn.RealmMasterReadOnly,
	"/slaves":             authn.RealmMasterReadOnly,
	"/slaves.json":        authn.RealmMasterReadOnly,
	"/tasks":              authn.RealmMasterReadOnly,
	"/tasks.json":         authn.RealmMasterReadOnly,
	"/state-summary":      authn.RealmMasterReadOnly,
	"/roles":              authn.RealmMasterReadOnly,
	"/roles.json":         authn.RealmMasterReadOnly,
	"/flags":              authn.RealmMasterReadOnly,
	"/maintenance/status": authn.RealmMasterReadOnly,
	// meso's explainer (pkg/explain), read-only like /state.
	"/explain/framework": authn.RealmMasterReadOnly,
	"/explain/task":      authn.RealmMasterReadOnly,
	// The web UI (a meso addition) in the read-only realm, so that a
	// browser asks for credentials when authentication is on and then
	// sends them with the page's own requests.
	"/":       authn.RealmMasterReadOnly,
	"/static": authn.RealmMasterReadOnly,
}

// openRoutes are the routes Mesos registers without a realm: /health and
// /redirect of the master, and the whole "version" process.
var openRoutes = map[string]bool{
	actorID + " /health":   true,
	actorID + " /redirect": true,
}

// processRealms are the realms of libprocess's own processes: /metrics
// (MetricsProcess, the read-only realm) and /files (Files, read-only);
// /version (VersionProcess) has none.
var processRealms = map[string]string{
	"metrics": authn.RealmMasterReadOnly,
	"files":   authn.RealmMasterReadOnly,
	"version": "",
}

// MasterRealm returns the realm of route of process id ("" for an open
// route), for tests and documentation.
func MasterRealm(id, route string) string {
	if openRoutes[id+" "+route] {
		return ""
	}
	if id != actorID {
		if realm, ok := processRealms[id]; ok {
			return realm
		}
		return authn.RealmMasterReadWrite
	}
	if realm, ok := routeRealms[route]; ok {
		return realm
	}
	return authn.RealmMasterReadWrite
}

// authenticateRoute is the router's Wrap: route behind its realm's
// authenticator (Config.Authenticators), if that realm has one.
func (m *Master) authenticateRoute(id, route string, h http.Handler) http.Handler {
	return m.cfg.Authenticators.Wrap(MasterRealm(id, route), h)
}

// claimsOnly answers Mesos's 403 for a principal with claims and no value
// (an executor's token used on the master): "The master currently requires
// that principals have a value". It reports whether it answered.
func claimsOnly(w http.ResponseWriter, r *http.Request) bool {
	if _, ok := httpapi.Principal(r.Context()); ok || !authn.Authenticated(r.Context()) {
		return false
	}
	httpapi.WriteError(w, httpapi.Errorf(http.StatusForbidden,
		"The request's authenticated principal contains claims, but no value string. The master currently requires that principals have a value"))
	return true
}

// subscribePrincipal is the principal check of Mesos's
// validation::scheduler::call::validate for SUBSCRIBE: a FrameworkInfo
// that names a principal must name the authenticated one.
func subscribePrincipal(call *schedulerpb.Call, principal string, authenticated bool) error {
	if call.GetType() != schedulerpb.Call_SUBSCRIBE || !authenticated {
		return nil
	}
	info := call.GetSubscribe().GetFrameworkInfo()
	if info.Principal != nil && info.GetPrincipal() != principal {
		return fmt.Errorf("Authenticated principal '%s' does not match principal '%s' set in `FrameworkInfo`",
			principal, info.GetPrincipal())
	}
	return nil
}

// callPrincipal is Master::Http::scheduler's check for the other calls: an
// authenticated caller must be the framework's principal, so that a
// client of another principal cannot act for it (400, Mesos's message).
// An unknown framework is left to schedulerCall.
func (s *state) callPrincipal(call *schedulerpb.Call, principal string, authenticated bool) callResult {
	f := s.frameworks[call.GetFrameworkId().GetValue()]
	if !authenticated || f == nil || principal == f.info.GetPrincipal() {
		return callResult{}
	}
	return failed(ErrInvalid,
		"Authenticated principal '%s' does not match principal '%s' set in `FrameworkInfo`",
		principal, f.info.GetPrincipal())
}
