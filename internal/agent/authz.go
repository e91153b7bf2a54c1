package agent

import (
	"context"
	"net/http"
	"path"
	"strings"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/agent/paths"
	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/files"
	"github.com/meso-project/meso/internal/httpapi"
)

// Authorization (--acls, Config.Authorizer), as Mesos's agent asks its
// authorizer: view_flags for /flags and GET_FLAGS, get_endpoints for
// /metrics/snapshot, /monitor/statistics and /containers, access_sandboxes
// (object: the executor's user, else the framework's) and
// access_mesos_logs for /files and LIST_FILES/READ_FILE, set_log_level,
// the nested and standalone container calls, prune_images, and the views
// of /state and GET_STATE/FRAMEWORKS/EXECUTORS/TASKS filtered by
// view_frameworks, view_executors and view_tasks. Without an authorizer
// everything is allowed. The subject is the request's authenticated
// principal (httpapi.Principal).

// allowed asks the authorizer; none allows, an error denies. A request
// authenticated by an executor's token alone (claims, no principal value)
// is denied: Mesos's LocalAuthorizer matches no ACL against such a
// principal, and approves it only for the container calls of
// executorContainerCall.
func (a *Agent) allowed(ctx context.Context, req authz.Request) bool {
	if a.cfg.Authorizer != nil && claimsOnly(ctx) {
		return false
	}
	return authz.Allowed(ctx, a.cfg.Authorizer, a.log, req)
}

// claimsOnly reports whether the request of ctx was authenticated with
// claims and no principal value (an executor's token).
func claimsOnly(ctx context.Context) bool {
	_, hasClaims := authn.Claims(ctx)
	_, hasValue := httpapi.Principal(ctx)
	return hasClaims && !hasValue
}

// executorContainerCall is Mesos's implicit executor approver: an
// executor's token may launch, wait for, kill and remove the containers
// nested under its own, launch sessions in them and attach to their
// output, whatever the ACLs say (executorMayCall has checked that the
// container is under the token's). Anything else it may not do.
func executorContainerCall(call *agentpb.Call) bool {
	switch call.GetType() {
	case agentpb.Call_LAUNCH_NESTED_CONTAINER, agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION,
		agentpb.Call_WAIT_NESTED_CONTAINER, agentpb.Call_KILL_NESTED_CONTAINER,
		agentpb.Call_REMOVE_NESTED_CONTAINER, agentpb.Call_ATTACH_CONTAINER_OUTPUT,
		agentpb.Call_LAUNCH_CONTAINER, agentpb.Call_WAIT_CONTAINER,
		agentpb.Call_KILL_CONTAINER, agentpb.Call_REMOVE_CONTAINER:
		return true
	}
	return false
}

// guard wraps h with a check of action (with object, if not empty).
func (a *Agent) guard(action authz.Action, object string, h http.HandlerFunc) http.HandlerFunc {
	return authz.Guard(a.cfg.Authorizer, a.log, action, object, h)
}

// guardFiles wraps a /files handler with the authorization of its "path"
// parameter (filesAllowed).
func (a *Agent) guardFiles(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _ := httpapi.QueryValue(r.URL.Query(), "path")
		if !a.filesAllowed(r.Context(), authz.HTTPSubject(r), p) {
			authz.Forbidden(w)
			return
		}
		h(w, r)
	}
}

// filesAllowed authorizes reading p as Mesos's files process does with
// the authorization callback of the attachment p is under: the agent log
// needs access_mesos_logs, an executor's sandbox access_sandboxes with the
// executor's user (else its framework's). A path under no attachment is
// left to the files process (404).
func (a *Agent) filesAllowed(ctx context.Context, subject *string, p string) bool {
	if a.cfg.Authorizer == nil {
		return true
	}
	p = path.Clean("/" + strings.TrimPrefix(p, "/"))
	if p == files.AgentLogVirtualPath || strings.HasPrefix(p, files.AgentLogVirtualPath+"/") {
		return a.allowed(ctx, authz.Request{Action: authz.AccessMesosLog, Subject: subject})
	}
	var user *string
	found := false
	_ = a.call(ctx, func() {
		for _, fw := range a.allFrameworks() {
			for _, ex := range append(fw.sortedExecutors(), fw.completedExecutors...) {
				if ex.directory == "" {
					continue
				}
				for _, root := range []string{
					paths.ExecutorLatestRunDir(a.cfg.WorkDir, a.agentID(), fw.id, ex.id),
					files.ExecutorVirtualPath(fw.id, ex.id),
					ex.directory,
				} {
					if p == root || strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/") {
						user, found = authz.Ptr(authz.ExecutorUser(ex.info, fw.info)), true
						return
					}
				}
			}
		}
	})
	if !found {
		return true
	}
	return a.allowed(ctx, authz.Request{Action: authz.AccessSandbox, Subject: subject, Object: user})
}

// containerUsers are the users of the executor owning container cid (its
// root container): the executor's user and the framework's; ok is false
// when no executor runs it (a standalone container).
func (a *Agent) containerUser(ctx context.Context, cid *mesospb.ContainerID) (user string, ok bool) {
	root := cid
	for root.GetParent() != nil {
		root = root.GetParent()
	}
	_ = a.call(ctx, func() {
		for _, fw := range a.allFrameworks() {
			for _, ex := range append(fw.sortedExecutors(), fw.completedExecutors...) {
				if ex.containerID != "" && ex.containerID == root.GetValue() {
					user, ok = authz.ExecutorUser(ex.info, fw.info), true
					return
				}
			}
		}
	})
	return user, ok
}

// authorizeCall decides an operator call before it runs, with Mesos's
// action and object for it; false: answer 403.
func (a *Agent) authorizeCall(r *http.Request, call *agentpb.Call) bool {
	if a.cfg.Authorizer == nil {
		return true
	}
	ctx, subject := r.Context(), authz.HTTPSubject(r)
	if claimsOnly(ctx) {
		return executorContainerCall(call)
	}
	ok := func(action authz.Action, object *string) bool {
		return a.allowed(ctx, authz.Request{Action: action, Subject: subject, Object: object})
	}
	// container checks the call on a container: nested containers are
	// their executor's (object: its user), others are standalone.
	container := func(cid *mesospb.ContainerID, nested, standalone authz.Action, cmd *mesospb.CommandInfo) bool {
		user, found := a.containerUser(ctx, cid)
		if cid.GetParent() == nil || !found {
			if cid.GetParent() == nil {
				return ok(standalone, nil)
			}
			return ok(nested, nil)
		}
		req := authz.Request{Action: nested, Subject: subject, Object: authz.Ptr(user), ChildCommand: cmd != nil}
		if cmd != nil && cmd.User != nil {
			req.ChildUser = authz.Ptr(cmd.GetUser())
		}
		return a.allowed(ctx, req)
	}
	switch call.GetType() {
	case agentpb.Call_GET_FLAGS:
		return ok(authz.ViewFlags, nil)
	case agentpb.Call_GET_METRICS:
		return ok(authz.GetEndpointWithPath, authz.Ptr("/metrics/snapshot"))
	case agentpb.Call_SET_LOGGING_LEVEL:
		return ok(authz.SetLogLevel, nil)
	case agentpb.Call_PRUNE_IMAGES:
		return ok(authz.PruneImages, nil)
	case agentpb.Call_ADD_RESOURCE_PROVIDER_CONFIG, agentpb.Call_UPDATE_RESOURCE_PROVIDER_CONFIG,
		agentpb.Call_REMOVE_RESOURCE_PROVIDER_CONFIG:
		return ok(authz.ModifyResourceProviderConfig, nil)
	case agentpb.Call_MARK_RESOURCE_PROVIDER_GONE:
		return ok(authz.MarkResourceProviderGone, nil)
	case agentpb.Call_LIST_FILES:
		return a.filesAllowed(ctx, subject, call.GetListFiles().GetPath())
	case agentpb.Call_READ_FILE:
		return a.filesAllowed(ctx, subject, call.GetReadFile().GetPath())
	case agentpb.Call_LAUNCH_NESTED_CONTAINER:
		c := call.GetLaunchNestedContainer()
		return container(c.GetContainerId(), authz.LaunchNestedContainer, authz.LaunchStandaloneContainer, c.GetCommand())
	case agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION:
		c := call.GetLaunchNestedContainerSession()
		return container(c.GetContainerId(), authz.LaunchNestedContainerSession, authz.LaunchStandaloneContainer, c.GetCommand())
	case agentpb.Call_LAUNCH_CONTAINER:
		c := call.GetLaunchContainer()
		return container(c.GetContainerId(), authz.LaunchNestedContainer, authz.LaunchStandaloneContainer, c.GetCommand())
	case agentpb.Call_WAIT_NESTED_CONTAINER:
		return container(call.GetWaitNestedContainer().GetContainerId(), authz.WaitNestedContainer, authz.WaitStandaloneContainer, nil)
	case agentpb.Call_WAIT_CONTAINER:
		return container(call.GetWaitContainer().GetContainerId(), authz.WaitNestedContainer, authz.WaitStandaloneContainer, nil)
	case agentpb.Call_KILL_NESTED_CONTAINER:
		return container(call.GetKillNestedContainer().GetContainerId(), authz.KillNestedContainer, authz.KillStandaloneContainer, nil)
	case agentpb.Call_KILL_CONTAINER:
		return container(call.GetKillContainer().GetContainerId(), authz.KillNestedContainer, authz.KillStandaloneContainer, nil)
	case agentpb.Call_REMOVE_NESTED_CONTAINER:
		return container(call.GetRemoveNestedContainer().GetContainerId(), authz.RemoveNestedContainer, authz.RemoveStandaloneContainer, nil)
	case agentpb.Call_REMOVE_CONTAINER:
		return container(call.GetRemoveContainer().GetContainerId(), authz.RemoveNestedContainer, authz.RemoveStandaloneContainer, nil)
	case agentpb.Call_ATTACH_CONTAINER_INPUT:
		return container(call.GetAttachContainerInput().GetContainerId(), authz.AttachContainerInput, authz.AttachContainerInput, nil)
	case agentpb.Call_ATTACH_CONTAINER_OUTPUT:
		return container(call.GetAttachContainerOutput().GetContainerId(), authz.AttachContainerOutput, authz.AttachContainerOutput, nil)
	}
	return true
}

// viewer filters /state and the GET_* calls for one reader: frameworks
// by view_frameworks (the framework's user), executors by view_executors
// and tasks by view_tasks (their user, else the framework's). nil sees
// everything.
type viewer struct {
	a       *Agent
	ctx     context.Context
	subject *string
}

type viewerKey struct{}

func (a *Agent) viewerFor(r *http.Request) *viewer {
	if a.cfg.Authorizer == nil {
		return nil
	}
	return &viewer{a: a, ctx: r.Context(), subject: authz.HTTPSubject(r)}
}

func (v *viewer) ok(action authz.Action, object string) bool {
	return v == nil || v.a.allowed(v.ctx, authz.Request{Action: action, Subject: v.subject, Object: authz.Ptr(object)})
}

func (v *viewer) framework(fw *framework) bool {
	return v == nil || v.ok(authz.ViewFramework, fw.info.GetUser())
}

func (v *viewer) executor(fw *framework, ex *executor) bool {
	return v == nil || v.ok(authz.ViewExecutor, authz.ExecutorUser(ex.info, fw.info))
}

func (v *viewer) task(fw *framework, t *mesospb.Task) bool {
	return v == nil || v.ok(authz.ViewTask, authz.TaskUser(t, fw.info))
}

func (v *viewer) taskInfo(fw *framework, t *mesospb.TaskInfo) bool {
	return v == nil || v.ok(authz.ViewTask, authz.RunTaskUser(t, fw.info))
}

func (v *viewer) flags() bool {
	return v == nil || v.a.allowed(v.ctx, authz.Request{Action: authz.ViewFlags, Subject: v.subject})
}

// viewing runs fn on the actor with a.view set to v.
func (a *Agent) viewing(v *viewer, fn func()) {
	a.view = v
	defer func() { a.view = nil }()
	fn()
}

func (a *Agent) visibleTasks(fw *framework, ts []*mesospb.Task) []*mesospb.Task {
	if a.view == nil {
		return ts
	}
	var out []*mesospb.Task
	for _, t := range ts {
		if a.view.task(fw, t) {
			out = append(out, t)
		}
	}
	return out
}

// containerVisible is view_containers for a container of /containers and
// GET_CONTAINERS (object: its executor's user, else its framework's);
// a container no executor owns is a standalone one
// (view_standalone_containers).
func (a *Agent) containerVisible(ctx context.Context, v *viewer, cid *mesospb.ContainerID) bool {
	if v == nil {
		return true
	}
	if user, ok := a.containerUser(ctx, cid); ok {
		return v.ok(authz.ViewContainer, user)
	}
	return v.a.allowed(v.ctx, authz.Request{Action: authz.ViewStandaloneContainer, Subject: v.subject})
}
