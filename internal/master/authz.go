package master

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/resources"
)

// Authorization (--acls, Config.Authorizer): Mesos's master asks its
// authorizer before registering a framework, launching a task, tearing a
// framework down, reserving, changing weights or quota, marking agents
// gone, reading flags, logs and metrics, and filters what the read
// endpoints show (view_frameworks, view_tasks, view_executors, view_roles).
// Without an authorizer everything is allowed, as Mesos without --acls.
//
// The subject of an HTTP request is its authenticated principal
// (httpapi.Principal; none without authentication, which only ACLs with
// principals ANY allow); the subject of a scheduler call is the
// framework's principal. The LocalAuthorizer is synchronous and cheap,
// so the checks that need the master's state run on the actor loop.
//
// One deliberate difference: Mesos authorizes /metrics/snapshot
// (get_endpoints) but answers GET_METRICS, the same numbers, to anyone;
// meso asks get_endpoints "/metrics/snapshot" for both (master and agent).

// allowed asks the configured authorizer; none allows everything, and an
// authorizer error denies (Mesos fails the request).
func (m *Master) allowed(ctx context.Context, req authz.Request) bool {
	return authz.Allowed(ctx, m.cfg.Authorizer, m.log, req)
}

// guard wraps h with an object-less check of action (GET_ENDPOINT_WITH_PATH
// takes the endpoint as its object).
func (m *Master) guard(action authz.Action, object string, h http.HandlerFunc) http.HandlerFunc {
	return authz.Guard(m.cfg.Authorizer, m.log, action, object, h)
}

// authorizeCall decides an operator call (or the legacy endpoint doing the
// same) on the actor, as the Master::Http handlers do before acting: nil
// when allowed, else an ErrForbidden (403 with an empty body).
func (s *state) authorizeCall(ctx context.Context, subject *string, call *masterpb.Call) error {
	m := s.m
	if m.cfg.Authorizer == nil {
		return nil
	}
	ok := func(action authz.Action, object *string) bool {
		return m.allowed(ctx, authz.Request{Action: action, Subject: subject, Object: object})
	}
	denied := rejectf(ErrForbidden, "")
	switch call.GetType() {
	case masterpb.Call_GET_FLAGS:
		if !ok(authz.ViewFlags, nil) {
			return denied
		}
	case masterpb.Call_GET_METRICS:
		if !ok(authz.GetEndpointWithPath, authz.Ptr("/metrics/snapshot")) {
			return denied
		}
	case masterpb.Call_SET_LOGGING_LEVEL:
		if !ok(authz.SetLogLevel, nil) {
			return denied
		}
	case masterpb.Call_MARK_AGENT_GONE:
		if !ok(authz.MarkAgentGone, nil) {
			return denied
		}
	case masterpb.Call_DEACTIVATE_AGENT:
		if !ok(authz.DeactivateAgent, nil) {
			return denied
		}
	case masterpb.Call_REACTIVATE_AGENT:
		if !ok(authz.ReactivateAgent, nil) {
			return denied
		}
	case masterpb.Call_DRAIN_AGENT:
		if !ok(authz.DrainAgent, nil) {
			return denied
		}
	case masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE:
		if !ok(authz.UpdateMaintenanceSchedule, nil) {
			return denied
		}
	case masterpb.Call_GET_MAINTENANCE_SCHEDULE:
		if !ok(authz.GetMaintenanceSchedule, nil) {
			return denied
		}
	case masterpb.Call_GET_MAINTENANCE_STATUS:
		if !ok(authz.GetMaintenanceStatus, nil) {
			return denied
		}
	case masterpb.Call_START_MAINTENANCE:
		if !ok(authz.StartMaintenance, nil) {
			return denied
		}
	case masterpb.Call_STOP_MAINTENANCE:
		if !ok(authz.StopMaintenance, nil) {
			return denied
		}
	case masterpb.Call_TEARDOWN:
		// TEARDOWN_FRAMEWORK's object is the framework's principal
		// (LocalAuthorizerObjectApprover); an unknown framework is left to
		// the call, which answers 400 as Mesos does.
		if f := s.frameworks[call.GetTeardown().GetFrameworkId().GetValue()]; f != nil {
			if !ok(authz.TeardownFramework, authz.Ptr(f.info.GetPrincipal())) {
				return denied
			}
		}
	case masterpb.Call_UPDATE_WEIGHTS:
		for _, wi := range call.GetUpdateWeights().GetWeightInfos() {
			if !ok(authz.UpdateWeight, authz.Ptr(wi.GetRole())) {
				return denied
			}
		}
	case masterpb.Call_UPDATE_QUOTA:
		for _, qc := range call.GetUpdateQuota().GetQuotaConfigs() {
			if !ok(authz.UpdateQuota, authz.Ptr(qc.GetRole())) {
				return denied
			}
		}
	case masterpb.Call_SET_QUOTA:
		if !ok(authz.UpdateQuota, authz.Ptr(call.GetSetQuota().GetQuotaRequest().GetRole())) {
			return denied
		}
	case masterpb.Call_REMOVE_QUOTA:
		if !ok(authz.UpdateQuota, authz.Ptr(call.GetRemoveQuota().GetRole())) {
			return denied
		}
	case masterpb.Call_RESERVE_RESOURCES:
		for _, r := range call.GetReserveResources().GetResources() {
			if !ok(authz.ReserveResources, authz.Ptr(reservationRole(r))) {
				return denied
			}
		}
	case masterpb.Call_UNRESERVE_RESOURCES:
		for _, r := range call.GetUnreserveResources().GetResources() {
			if !ok(authz.UnreserveResources, reservationPrincipal(r)) {
				return denied
			}
		}
	}
	return nil
}

// reservationRole is RESERVE_RESOURCES's object: the role of the
// resource's last reservation, or its pre-refinement role.
func reservationRole(r *mesospb.Resource) string {
	if rs := r.GetReservations(); len(rs) > 0 {
		return rs[len(rs)-1].GetRole()
	}
	return r.GetRole()
}

// reservationPrincipal is UNRESERVE_RESOURCES's object: the principal of
// the resource's last reservation (or of its pre-refinement one); nil —
// any object — for a reservation without a principal, as Mesos's
// pushUnreserveActionObjects.
func reservationPrincipal(r *mesospb.Resource) *string {
	if rs := r.GetReservations(); len(rs) > 0 {
		if p := rs[len(rs)-1].Principal; p != nil {
			return authz.Ptr(*p)
		}
		return nil
	}
	if p := r.GetReservation().Principal; p != nil {
		return authz.Ptr(*p)
	}
	return nil
}

// authorizedOp runs fn on the actor after authorizeCall allows call.
func (m *Master) authorizedOp(r *http.Request, call *masterpb.Call, fn func() opResult) func() opResult {
	subject := authz.HTTPSubject(r)
	ctx := r.Context()
	var view *viewer
	if strings.HasPrefix(call.GetType().String(), "GET_") {
		// Only reads are filtered: a change must never run with a
		// filtered view of the books.
		view = m.viewerFor(r)
	}
	return func() (res opResult) {
		if err := m.st.authorizeCall(ctx, subject, call); err != nil {
			return opResult{err: err}
		}
		m.st.viewing(view, func() { res = fn() })
		return res
	}
}

// frameworkAllowed is REGISTER_FRAMEWORK for a SUBSCRIBE (with the
// framework's principal as subject and its roles as objects).
func (s *state) frameworkAllowed(info *mesospb.FrameworkInfo) bool {
	return s.m.allowed(context.Background(), authz.Request{
		Action:  authz.RegisterFramework,
		Subject: authz.FrameworkSubject(info),
		Roles:   authz.FrameworkRoles(info),
	})
}

// taskAllowed is RUN_TASK for a task a framework launches.
func (s *state) taskAllowed(f *framework, t *mesospb.TaskInfo) bool {
	return s.m.allowed(context.Background(), authz.Request{
		Action:  authz.RunTask,
		Subject: authz.FrameworkSubject(f.info),
		Object:  authz.Ptr(authz.RunTaskUser(t, f.info)),
	})
}

// taskGroupDenied is the error of a LAUNCH_GROUP whose tasks are not all
// authorized (Master::_accept: the last refused task names it, and Mesos's
// message lacks the space after "to"); "" when all are allowed.
func (s *state) taskGroupDenied(f *framework, tasks []*mesospb.TaskInfo) string {
	msg := ""
	for _, t := range tasks {
		if !s.taskAllowed(f, t) {
			msg = "Task '" + t.GetTaskId().GetValue() + "' is not authorized to" + authz.DeniedLaunch(t, f.info)[len("Not authorized to "):]
		}
	}
	return msg
}

// viewer filters what one reader sees, as Mesos's read-only handlers do
// with their ObjectApprovers: frameworks by view_frameworks (object: the
// framework's user), tasks by view_tasks (the task's user, else the
// framework's), executors by view_executors (the executor's user, else the
// framework's), flags by view_flags. A nil viewer sees everything.
type viewer struct {
	m       *Master
	ctx     context.Context
	subject *string
}

// viewerFor is the viewer of an HTTP request; nil without an authorizer.
func (m *Master) viewerFor(r *http.Request) *viewer {
	if m.cfg.Authorizer == nil {
		return nil
	}
	return &viewer{m: m, ctx: r.Context(), subject: authz.HTTPSubject(r)}
}

func (v *viewer) ok(action authz.Action, object *string) bool {
	return v == nil || v.m.allowed(v.ctx, authz.Request{Action: action, Subject: v.subject, Object: object})
}

func (v *viewer) framework(f *framework) bool {
	return v == nil || v.ok(authz.ViewFramework, authz.Ptr(f.info.GetUser()))
}

func (v *viewer) task(f *framework, t *mesospb.Task) bool {
	return v == nil || v.ok(authz.ViewTask, authz.Ptr(authz.TaskUser(t, f.info)))
}

func (v *viewer) executor(f *framework, e *mesospb.ExecutorInfo) bool {
	return v == nil || v.ok(authz.ViewExecutor, authz.Ptr(authz.ExecutorUser(e, f.info)))
}

func (v *viewer) flags() bool { return v == nil || v.ok(authz.ViewFlags, nil) }

// viewing runs fn on the actor with s.view set to v, so that the models
// it builds are filtered for v's reader.
func (s *state) viewing(v *viewer, fn func()) {
	s.view = v
	defer func() { s.view = nil }()
	fn()
}

// visibleTasks are the tasks of ts that s.view may see.
func (s *state) visibleTasks(f *framework, ts []*mesospb.Task) []*mesospb.Task {
	if s.view == nil {
		return ts
	}
	if !s.view.framework(f) {
		return nil // Mesos skips the tasks of frameworks the reader may not view
	}
	var out []*mesospb.Task
	for _, t := range ts {
		if s.view.task(f, t) {
			out = append(out, t)
		}
	}
	return out
}

// eventVisible is Mesos's operator-stream Subscriber::send filtering: task
// events need view_frameworks and view_tasks, framework events
// view_frameworks; other events are sent to every subscriber.
func (s *state) eventVisible(v *viewer, ev *masterpb.Event) bool {
	switch ev.GetType() {
	case masterpb.Event_TASK_ADDED:
		t := ev.GetTaskAdded().GetTask()
		f := s.findFramework(t.GetFrameworkId().GetValue())
		return f != nil && v.framework(f) && v.task(f, t)
	case masterpb.Event_TASK_UPDATED:
		up := ev.GetTaskUpdated()
		f := s.findFramework(up.GetFrameworkId().GetValue())
		if f == nil || !v.framework(f) {
			return false
		}
		if t := s.findTask(f, up.GetStatus().GetTaskId().GetValue()); t != nil {
			return v.task(f, t)
		}
		return v.ok(authz.ViewTask, authz.Ptr(f.info.GetUser()))
	case masterpb.Event_FRAMEWORK_ADDED:
		return v.ok(authz.ViewFramework, authz.Ptr(ev.GetFrameworkAdded().GetFramework().GetFrameworkInfo().GetUser()))
	case masterpb.Event_FRAMEWORK_UPDATED:
		return v.ok(authz.ViewFramework, authz.Ptr(ev.GetFrameworkUpdated().GetFramework().GetFrameworkInfo().GetUser()))
	case masterpb.Event_FRAMEWORK_REMOVED:
		return v.ok(authz.ViewFramework, authz.Ptr(ev.GetFrameworkRemoved().GetFrameworkInfo().GetUser()))
	}
	return true
}

// findFramework is a registered or completed framework by ID.
func (s *state) findFramework(id string) *framework {
	if f := s.frameworks[id]; f != nil {
		return f
	}
	for _, f := range s.completedFrameworks {
		if f.id == id {
			return f
		}
	}
	return nil
}

// findTask is a framework's task by ID, live, unreachable or completed.
func (s *state) findTask(f *framework, id string) *mesospb.Task {
	if t := f.tasks[id]; t != nil {
		return t
	}
	for _, ts := range [][]*mesospb.Task{f.unreachableTasks, f.completedTasks} {
		for _, t := range ts {
			if t.GetTaskId().GetValue() == id {
				return t
			}
		}
	}
	return nil
}

// role is view_roles (the weights, /roles and GET_ROLES).
func (v *viewer) role(name string) bool { return v == nil || v.ok(authz.ViewRole, authz.Ptr(name)) }

// quota is get_quotas (the quota of /quota and GET_QUOTA).
func (v *viewer) quota(role string) bool { return v == nil || v.ok(authz.GetQuota, authz.Ptr(role)) }

// agentRegistrationDenied is register_agents for an agent's REGISTER or
// REREGISTER (subject: the agent's authenticated principal): Mesos's
// message, or "" when allowed. As Mesos's ActionObject::agentRegistration,
// an agent's static reservations are also authorized, as reserve_resources
// of each reservation role it advertises: an agent may not offer resources
// reserved for roles its principal may not reserve for. Mesos drops the
// registration silently and the agent retries; meso's agent protocol
// answers 403 with the message, and the agent retries the same way.
func (m *Master) agentRegistrationDenied(r *http.Request, call *agentapipb.Call) string {
	subject := authz.HTTPSubject(r)
	info := call.GetRegister().GetAgentInfo()
	if call.GetType() == agentapipb.Call_REREGISTER {
		info = call.GetReregister().GetAgentInfo()
	}
	if m.staticReservationsAllowed(r, subject, info.GetResources()) &&
		m.allowed(r.Context(), authz.Request{Action: authz.RegisterAgent, Subject: subject}) {
		return ""
	}
	verb, who := "register", "without a principal"
	if call.GetType() == agentapipb.Call_REREGISTER {
		verb = "reregister"
	}
	if subject != nil {
		who = "with principal '" + *subject + "'"
	}
	return "Not authorized to " + verb + " agent providing resources '" +
		resources.Resources(info.GetResources()).String() + "' " + who
}

// staticReservationsAllowed is reserve_resources for every reservation
// role among an agent's resources (each role once, as Mesos).
func (m *Master) staticReservationsAllowed(r *http.Request, subject *string, rs []*mesospb.Resource) bool {
	seen := map[string]bool{}
	for _, res := range rs {
		if len(res.GetReservations()) == 0 && (res.Role == nil || res.GetRole() == "*") {
			continue // unreserved
		}
		role := reservationRole(res)
		if seen[role] {
			continue
		}
		seen[role] = true
		if !m.allowed(r.Context(), authz.Request{Action: authz.ReserveResources, Subject: subject, Object: authz.Ptr(role)}) {
			return false
		}
	}
	return true
}

// reservationDenied authorizes a framework's RESERVE or UNRESERVE offer
// operation (Master::_accept, after validation): "" when allowed, else
// Mesos's message for the dropped operation, "Principal '<p>' no
// authorized to perform action RESERVE_RESOURCES on object {...}" (sic).
func (s *state) reservationDenied(f *framework, typ mesospb.Offer_Operation_Type, rs []*mesospb.Resource) string {
	if s.m.cfg.Authorizer == nil {
		return ""
	}
	subject := authz.FrameworkSubject(f.info)
	deny := func(action authz.Action, value *string, r *mesospb.Resource) string {
		if s.m.allowed(context.Background(), authz.Request{Action: action, Subject: subject, Object: value}) {
			return ""
		}
		what := "on ANY object"
		if value != nil {
			v, _ := json.Marshal(*value)
			what = "on object {\"value\":" + string(v) + ",\"resource\":" + string(protoJSON(r)) + "}"
		}
		return "Principal '" + f.info.GetPrincipal() + "' no authorized to perform action " + action.String() + " " + what
	}
	seen := map[string]bool{}
	for _, r := range rs {
		switch typ {
		case mesospb.Offer_Operation_RESERVE:
			role := reservationRole(r)
			if role == "" {
				role = "*"
			}
			if seen[role] {
				continue
			}
			seen[role] = true
			if msg := deny(authz.ReserveResources, authz.Ptr(role), r); msg != "" {
				return msg
			}
		case mesospb.Offer_Operation_UNRESERVE:
			if msg := deny(authz.UnreserveResources, reservationPrincipal(r), r); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// resource is view_roles for one resource (ObjectApprovers::approved for
// a Resource): a reserved resource needs its (most refined) reservation's
// role, an unreserved one is always shown.
func (v *viewer) resource(r *mesospb.Resource) bool {
	if v == nil {
		return true
	}
	if rs := r.GetReservations(); len(rs) > 0 {
		return v.role(rs[len(rs)-1].GetRole())
	}
	if role := r.GetRole(); role != "" && role != "*" {
		return v.role(role)
	}
	return true
}

// visibleResources are the resources of rs that s.view may see.
func (s *state) visibleResources(rs []*mesospb.Resource) []*mesospb.Resource {
	if s.view == nil {
		return rs
	}
	var out []*mesospb.Resource
	for _, r := range rs {
		if s.view.resource(r) {
			out = append(out, r)
		}
	}
	return out
}
