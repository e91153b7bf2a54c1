// Package authz is authorization: Mesos's ACLs (--acls, acls.proto's JSON),
// the Authorizer interface the master and the agent ask before acting, and
// Local, Mesos 1.11's LocalAuthorizer (--authorizers=local): the ACLs of an
// action are checked in order, the first whose subjects and objects both
// match the request decides, and when none matches, permissive decides.
//
// A subject is an authenticated principal (httpapi.Principal for HTTP
// requests, the framework's principal for scheduler calls); a request
// without one has the subject ANY, which only ACLs whose principals are
// ANY allow. The object is the one value Mesos derives for the action (the
// task's user for run_tasks, the framework's principal for
// teardown_frameworks, the role for reserve_resources, ...): helpers in
// objects.go derive them as Mesos does.
package authz

import (
	"context"
	"fmt"
	"strings"
)

// Action is an authorization::Action of Mesos's authorizer.proto.
type Action int

// The actions meso asks about, each checked against one ACLs list.
const (
	RegisterFramework Action = iota + 1
	RunTask
	TeardownFramework
	ReserveResources
	UnreserveResources
	CreateVolume
	DestroyVolume
	ResizeVolume
	GetQuota
	UpdateQuota
	UpdateWeight
	ViewRole
	GetEndpointWithPath
	ViewFramework
	ViewTask
	ViewExecutor
	AccessSandbox
	AccessMesosLog
	ViewFlags
	SetLogLevel
	MarkAgentGone
	RegisterAgent
	UpdateMaintenanceSchedule
	GetMaintenanceSchedule
	StartMaintenance
	StopMaintenance
	GetMaintenanceStatus
	DrainAgent
	DeactivateAgent
	ReactivateAgent
	LaunchNestedContainer
	LaunchNestedContainerSession
	KillNestedContainer
	WaitNestedContainer
	RemoveNestedContainer
	AttachContainerInput
	AttachContainerOutput
	ViewContainer
	LaunchStandaloneContainer
	KillStandaloneContainer
	WaitStandaloneContainer
	RemoveStandaloneContainer
	ViewStandaloneContainer
	PruneImages
	ModifyResourceProviderConfig
	MarkResourceProviderGone
	ViewResourceProvider
)

// actionInfo is an action's Mesos name, its ACLs list and whether its
// objects are roles (LocalHierarchicalRoleApprover: "a/%" ACLs cover the
// roles under "a/").
var actionInfo = map[Action]struct {
	name, list string
	roles      bool
	// anyObject: Mesos's approver ignores the object (ACCESS_MESOS_LOG,
	// VIEW_FLAGS, maintenance, agents, SET_LOG_LEVEL).
	anyObject bool
}{
	RegisterFramework:            {"REGISTER_FRAMEWORK", "register_frameworks", true, false},
	RunTask:                      {"RUN_TASK", "run_tasks", false, false},
	TeardownFramework:            {"TEARDOWN_FRAMEWORK", "teardown_frameworks", false, false},
	ReserveResources:             {"RESERVE_RESOURCES", "reserve_resources", true, false},
	UnreserveResources:           {"UNRESERVE_RESOURCES", "unreserve_resources", false, false},
	CreateVolume:                 {"CREATE_VOLUME", "create_volumes", true, false},
	DestroyVolume:                {"DESTROY_VOLUME", "destroy_volumes", false, false},
	ResizeVolume:                 {"RESIZE_VOLUME", "resize_volumes", true, false},
	GetQuota:                     {"GET_QUOTA", "get_quotas", true, false},
	UpdateQuota:                  {"UPDATE_QUOTA", "update_quotas", true, false},
	UpdateWeight:                 {"UPDATE_WEIGHT", "update_weights", true, false},
	ViewRole:                     {"VIEW_ROLE", "view_roles", true, false},
	GetEndpointWithPath:          {"GET_ENDPOINT_WITH_PATH", "get_endpoints", false, false},
	ViewFramework:                {"VIEW_FRAMEWORK", "view_frameworks", false, false},
	ViewTask:                     {"VIEW_TASK", "view_tasks", false, false},
	ViewExecutor:                 {"VIEW_EXECUTOR", "view_executors", false, false},
	AccessSandbox:                {"ACCESS_SANDBOX", "access_sandboxes", false, false},
	AccessMesosLog:               {"ACCESS_MESOS_LOG", "access_mesos_logs", false, true},
	ViewFlags:                    {"VIEW_FLAGS", "view_flags", false, true},
	SetLogLevel:                  {"SET_LOG_LEVEL", "set_log_level", false, true},
	MarkAgentGone:                {"MARK_AGENT_GONE", "mark_agents_gone", false, true},
	RegisterAgent:                {"REGISTER_AGENT", "register_agents", false, true},
	UpdateMaintenanceSchedule:    {"UPDATE_MAINTENANCE_SCHEDULE", "update_maintenance_schedules", false, true},
	GetMaintenanceSchedule:       {"GET_MAINTENANCE_SCHEDULE", "get_maintenance_schedules", false, true},
	StartMaintenance:             {"START_MAINTENANCE", "start_maintenances", false, true},
	StopMaintenance:              {"STOP_MAINTENANCE", "stop_maintenances", false, true},
	GetMaintenanceStatus:         {"GET_MAINTENANCE_STATUS", "get_maintenance_statuses", false, true},
	DrainAgent:                   {"DRAIN_AGENT", "drain_agents", false, true},
	DeactivateAgent:              {"DEACTIVATE_AGENT", "deactivate_agents", false, true},
	ReactivateAgent:              {"REACTIVATE_AGENT", "reactivate_agents", false, true},
	LaunchNestedContainer:        {"LAUNCH_NESTED_CONTAINER", "launch_nested_containers_under_parent_with_user", false, false},
	LaunchNestedContainerSession: {"LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_sessions_under_parent_with_user", false, false},
	KillNestedContainer:          {"KILL_NESTED_CONTAINER", "kill_nested_containers", false, false},
	WaitNestedContainer:          {"WAIT_NESTED_CONTAINER", "wait_nested_containers", false, false},
	RemoveNestedContainer:        {"REMOVE_NESTED_CONTAINER", "remove_nested_containers", false, false},
	AttachContainerInput:         {"ATTACH_CONTAINER_INPUT", "attach_containers_input", false, false},
	AttachContainerOutput:        {"ATTACH_CONTAINER_OUTPUT", "attach_containers_output", false, false},
	ViewContainer:                {"VIEW_CONTAINER", "view_containers", false, false},
	LaunchStandaloneContainer:    {"LAUNCH_STANDALONE_CONTAINER", "launch_standalone_containers", false, true},
	KillStandaloneContainer:      {"KILL_STANDALONE_CONTAINER", "kill_standalone_containers", false, true},
	WaitStandaloneContainer:      {"WAIT_STANDALONE_CONTAINER", "wait_standalone_containers", false, true},
	RemoveStandaloneContainer:    {"REMOVE_STANDALONE_CONTAINER", "remove_standalone_containers", false, true},
	ViewStandaloneContainer:      {"VIEW_STANDALONE_CONTAINER", "view_standalone_containers", false, true},
	PruneImages:                  {"PRUNE_IMAGES", "prune_images", false, true},
	ModifyResourceProviderConfig: {"MODIFY_RESOURCE_PROVIDER_CONFIG", "modify_resource_provider_configs", false, true},
	MarkResourceProviderGone:     {"MARK_RESOURCE_PROVIDER_GONE", "mark_resource_providers_gone", false, true},
	ViewResourceProvider:         {"VIEW_RESOURCE_PROVIDER", "view_resource_providers", false, true},
}

// String is Mesos's name of the action.
func (a Action) String() string {
	if i, ok := actionInfo[a]; ok {
		return i.name
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Request is one authorization question.
type Request struct {
	Action Action
	// Subject is the principal asking; nil when there is none (no
	// authentication): the subject ANY.
	Subject *string
	// Object is the value the action's ACL objects are matched against;
	// nil: any object (Mesos's request without an object, e.g. "may this
	// principal view any framework at all").
	Object *string
	// Roles are REGISTER_FRAMEWORK's objects, one per role of the
	// framework: all must be allowed; none at all is decided by
	// permissive. Object is ignored for that action.
	Roles []string
	// ChildCommand, for LaunchNestedContainer(Session), says the launch
	// carries a command: then it also needs the *_as_user ACL for the
	// command's user, ChildUser (nil: a command without a user, the
	// object ANY), as LocalNestedContainerObjectApprover does.
	ChildCommand bool
	ChildUser    *string
}

// Authorizer answers authorization requests (Mesos's Authorizer).
//
// Implementations are safe for concurrent use and do not keep ctx; an
// error means the request could not be decided (Mesos answers it as a
// failure, never as an approval).
type Authorizer interface {
	Authorized(ctx context.Context, req Request) (bool, error)
}

// Local is Mesos's LocalAuthorizer over parsed ACLs. It is immutable.
type Local struct {
	acls *ACLs
	// roleRules are the role actions' lists split as Mesos's
	// createHierarchicalRoleACLs does.
	roleRules map[string][]Rule
}

var _ Authorizer = (*Local)(nil)

// NewLocal returns the LocalAuthorizer of acls (already validated by
// ParseACLs).
func NewLocal(acls *ACLs) *Local {
	l := &Local{acls: acls, roleRules: map[string][]Rule{}}
	for _, info := range actionInfo {
		if info.roles {
			l.roleRules[info.list] = hierarchicalRules(acls.Lists[info.list])
		}
	}
	return l
}

// Authorized implements Authorizer.
func (l *Local) Authorized(_ context.Context, req Request) (bool, error) {
	info, ok := actionInfo[req.Action]
	if !ok {
		// Mesos: an UNKNOWN action "is not defined and therefore not
		// authorized".
		return false, nil
	}
	subject := Entity{Type: Any}
	if req.Subject != nil {
		subject = Entity{Type: Some, Values: []string{*req.Subject}}
	}
	permissive := l.acls.Permissive
	if req.Action == RegisterFramework {
		for _, role := range req.Roles {
			if !approvedHierarchical(l.roleRules[info.list], subject, role, permissive) {
				return false, nil
			}
		}
		if len(req.Roles) == 0 {
			return permissive, nil
		}
		return true, nil
	}
	object := Entity{Type: Any}
	if req.Object != nil && !info.anyObject {
		object = Entity{Type: Some, Values: []string{*req.Object}}
	}
	if info.roles {
		if req.Object == nil {
			return approvedHierarchical(l.roleRules[info.list], subject, "", permissive), nil
		}
		return approvedHierarchical(l.roleRules[info.list], subject, *req.Object, permissive), nil
	}
	ok = approved(l.acls.Lists[info.list], subject, object, permissive)
	if ok && req.ChildCommand && (req.Action == LaunchNestedContainer || req.Action == LaunchNestedContainerSession) {
		list := "launch_nested_containers_as_user"
		if req.Action == LaunchNestedContainerSession {
			list = "launch_nested_container_sessions_as_user"
		}
		child := Entity{Type: Any}
		if req.ChildUser != nil {
			child = Entity{Type: Some, Values: []string{*req.ChildUser}}
		}
		ok = approved(l.acls.Lists[list], subject, child, permissive)
	}
	return ok, nil
}

// approved is LocalAuthorizerObjectApprover::approved: the first ACL
// whose subjects and objects match decides.
func approved(rules []Rule, subject, object Entity, permissive bool) bool {
	for _, r := range rules {
		if matches(subject, r.Principals) && matches(object, r.Objects) {
			return allows(subject, r.Principals) && allows(object, r.Objects)
		}
	}
	return permissive
}

// approvedHierarchical is LocalHierarchicalRoleApprover::approved for one
// role ("" with no role: the object ANY).
func approvedHierarchical(rules []Rule, subject Entity, role string, permissive bool) bool {
	object := Entity{Type: Any}
	if role != "" {
		object = Entity{Type: Some, Values: []string{role}}
	}
	anyACL := Entity{Type: Any}
	for _, r := range rules {
		if !recursive(r) {
			if matches(subject, r.Principals) && matches(object, r.Objects) {
				return allows(subject, r.Principals) && allows(object, r.Objects)
			}
			continue
		}
		if object.Type == Some && strings.HasPrefix(role, strings.TrimSuffix(r.Objects.Values[0], "%")) {
			if matches(subject, r.Principals) && matches(object, anyACL) {
				return allows(subject, r.Principals) && allows(object, anyACL)
			}
		}
	}
	return permissive
}

func recursive(r Rule) bool {
	return len(r.Objects.Values) == 1 && strings.HasSuffix(r.Objects.Values[0], "/%")
}

// hierarchicalRules splits role ACLs as createHierarchicalRoleACLs does:
// each "a/%" value becomes an ACL of its own, the other values stay
// together after them.
func hierarchicalRules(rules []Rule) []Rule {
	var out []Rule
	for _, r := range rules {
		if r.Objects.Type != Some {
			out = append(out, r)
			continue
		}
		var plain []string
		for _, v := range r.Objects.Values {
			if strings.HasSuffix(v, "/%") {
				out = append(out, Rule{Principals: r.Principals, Objects: Entity{Type: Some, Values: []string{v}}})
			} else {
				plain = append(plain, v)
			}
		}
		if len(plain) > 0 {
			out = append(out, Rule{Principals: r.Principals, Objects: Entity{Type: Some, Values: plain}})
		}
	}
	return out
}

// matches is Mesos's match matrix: a NONE request matches only NONE; ANY
// matches ANY and NONE; SOME matches ANY, NONE, and SOME holding all its
// values.
func matches(req, acl Entity) bool {
	switch req.Type {
	case None:
		return acl.Type == None
	case Any:
		return acl.Type == Any || acl.Type == None
	case Some:
		if acl.Type == Any || acl.Type == None {
			return true
		}
		return subset(req.Values, acl.Values)
	}
	return false
}

// allows is Mesos's allow matrix: NONE only by NONE, ANY only by ANY, SOME
// by ANY or by SOME holding all its values.
func allows(req, acl Entity) bool {
	switch req.Type {
	case None:
		return acl.Type == None
	case Any:
		return acl.Type == Any
	case Some:
		switch acl.Type {
		case Any:
			return true
		case None:
			return false
		}
		return subset(req.Values, acl.Values)
	}
	return false
}

func subset(vs, of []string) bool {
	for _, v := range vs {
		found := false
		for _, w := range of {
			if v == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Ptr returns &s, for Request's optional fields.
func Ptr(s string) *string { return &s }
