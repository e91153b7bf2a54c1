package agent

import (
	"context"
	"net/http"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/httpapi"
)

// agentRouteRealms is the realm of each route of the agent's process, as
// the route(path, realm, ...) calls of Mesos 1.11's Slave::initialize give
// them. Routes not listed are read-write (fail closed), except /health.
var agentRouteRealms = map[string]string{
	"/api/v1/executor":         authn.RealmAgentExecutor,
	"/api/v1":                  authn.RealmAgentReadWrite,
	"/state":                   authn.RealmAgentReadOnly,
	"/state.json":              authn.RealmAgentReadOnly,
	"/flags":                   authn.RealmAgentReadOnly,
	"/monitor/statistics":      authn.RealmAgentReadOnly,
	"/monitor/statistics.json": authn.RealmAgentReadOnly,
	"/containers":              authn.RealmAgentReadOnly,
	"/containerizer/debug":     authn.RealmAgentReadOnly,
	// meso also serves the process-wide /version and /metrics/snapshot
	// under /slave(1): the realms of their processes.
	"/version":          "",
	"/metrics/snapshot": authn.RealmAgentReadOnly,
	"/health":           "",
}

// agentProcessRealms are the realms of libprocess's own processes on the
// agent: /metrics and /files read-only, /version open.
var agentProcessRealms = map[string]string{
	"metrics": authn.RealmAgentReadOnly,
	"files":   authn.RealmAgentReadOnly,
	"version": "",
}

// AgentRealm returns the realm of route of process id ("" when open).
func AgentRealm(id, route string) string {
	table := agentProcessRealms
	if id == actorID {
		table = agentRouteRealms
		id = route
	}
	if realm, ok := table[id]; ok {
		return realm
	}
	return authn.RealmAgentReadWrite
}

// authenticateRoute is the router's Wrap: route behind its realm's
// authenticator (Config.Authenticators), if that realm has one.
func (a *Agent) authenticateRoute(id, route string, h http.Handler) http.Handler {
	return a.cfg.Authenticators.Wrap(AgentRealm(id, route), h)
}

// verifyExecutorClaims is Mesos's verifyExecutorClaims (src/slave/http.cpp):
// an authenticated executor call must carry the claims of the executor it
// speaks for — framework, executor and its current container. It returns
// the 403 message, or "" when the call may go on (also when the request was
// not authenticated, i.e. executor authentication is off).
func verifyExecutorClaims(ctx context.Context, frameworkID, executorID, containerID string) string {
	if !authn.Authenticated(ctx) {
		return ""
	}
	claims, _ := authn.Claims(ctx)
	who := principalString(ctx, claims)
	if fid, ok := claims["fid"]; !ok || fid != frameworkID {
		return "Authenticated principal '" + who + "' does not contain an 'fid' claim with the framework ID " +
			frameworkID + ", which is set in the call"
	}
	if eid, ok := claims["eid"]; !ok || eid != executorID {
		return "Authenticated principal '" + who + "' does not contain an 'eid' claim with the executor ID " +
			executorID + ", which is set in the call"
	}
	if cid, ok := claims["cid"]; !ok || cid != containerID {
		return "Authenticated principal '" + who + "' does not contain a 'cid' claim with the correct active ContainerID"
	}
	return ""
}

func principalString(ctx context.Context, claims map[string]string) string {
	if p, ok := httpapi.Principal(ctx); ok && len(claims) == 0 {
		return p
	}
	return authn.ClaimsString(claims)
}

// executorMayCall limits what an executor's token may do on the operator
// API, as Mesos's LocalAuthorizer does for a principal with claims only
// (the implicit executor approvers): the container calls on containers
// nested under the token's own container, nothing else. It returns the
// 403 message, or "" when the call may go on.
func executorMayCall(ctx context.Context, call *agentpb.Call) string {
	claims, ok := authn.Claims(ctx)
	if !ok {
		return ""
	}
	if _, hasValue := httpapi.Principal(ctx); hasValue {
		return ""
	}
	var id *mesospb.ContainerID
	switch call.GetType() {
	case agentpb.Call_LAUNCH_NESTED_CONTAINER:
		id = call.GetLaunchNestedContainer().GetContainerId()
	case agentpb.Call_WAIT_NESTED_CONTAINER:
		id = call.GetWaitNestedContainer().GetContainerId()
	case agentpb.Call_KILL_NESTED_CONTAINER:
		id = call.GetKillNestedContainer().GetContainerId()
	case agentpb.Call_REMOVE_NESTED_CONTAINER:
		id = call.GetRemoveNestedContainer().GetContainerId()
	case agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION:
		id = call.GetLaunchNestedContainerSession().GetContainerId()
	case agentpb.Call_ATTACH_CONTAINER_INPUT:
		id = call.GetAttachContainerInput().GetContainerId()
	case agentpb.Call_ATTACH_CONTAINER_OUTPUT:
		id = call.GetAttachContainerOutput().GetContainerId()
	case agentpb.Call_LAUNCH_CONTAINER:
		id = call.GetLaunchContainer().GetContainerId()
	case agentpb.Call_WAIT_CONTAINER:
		id = call.GetWaitContainer().GetContainerId()
	case agentpb.Call_KILL_CONTAINER:
		id = call.GetKillContainer().GetContainerId()
	case agentpb.Call_REMOVE_CONTAINER:
		id = call.GetRemoveContainer().GetContainerId()
	default:
		return "Forbidden: an executor's token may not make a " + call.GetType().String() + " call"
	}
	cid := claims["cid"]
	for p := id.GetParent(); p != nil; p = p.GetParent() {
		if cid != "" && p.GetValue() == cid {
			return ""
		}
	}
	return "Forbidden: the container is not nested under the container of the authenticated executor"
}
