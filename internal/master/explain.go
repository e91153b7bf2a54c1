package master

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/explain"
	"github.com/meso-project/meso/pkg/taskstate"
)

// The explainer (pkg/explain): GET /master/explain/framework and
// /master/explain/task, a meso extension. The allocator says, read-only,
// how its next cycle would treat each agent (allocator.Explainer); the
// master adds what only it knows (connection, outstanding offers,
// hostnames, operator-deactivated agents, tasks and their updates) and
// sums it up in Reasons, most important first.

// agentReasonsShown caps the per-agent reasons of one kind (code and
// role) repeated at the top level; the rest are counted in one more.
const agentReasonsShown = 5

// serveExplain serves a read endpoint whose builder may fail with an
// *httpapi.Error (400, 404, 409); like serveRead otherwise: standby
// masters redirect, and the answer is built on the actor for the reader.
func (m *Master) serveExplain(build func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			httpapi.WriteError(w, httpapi.MethodNotAllowed(r.Method, http.MethodGet))
			return
		}
		if !m.gateLeader(w, r) {
			return
		}
		var v any
		var berr error
		view := m.viewerFor(r)
		if err := m.do(r.Context(), func() { m.st.viewing(view, func() { v, berr = build(r) }) }); err != nil {
			writeStopped(w, err)
			return
		}
		if nf, ok := berr.(notFound); ok {
			httpapi.WriteJSON(w, r, http.StatusNotFound, nf.body)
			return
		}
		if berr != nil {
			httpapi.WriteError(w, berr)
			return
		}
		httpapi.WriteJSON(w, r, http.StatusOK, v)
	}
}

// notFound is a 404 answered with a JSON body.
type notFound struct{ body any }

func (notFound) Error() string { return "not found" }

// lookupFramework finds a registered framework the reader may view by ID,
// else by name (409 when several have it).
func (s *state) lookupFrameworkParam(key string) (*framework, error) {
	if f := s.frameworks[key]; f != nil && s.view.framework(f) {
		return f, nil
	}
	var named []*framework
	for _, f := range s.sortedFrameworks() {
		if f.info.GetName() == key && s.view.framework(f) {
			named = append(named, f)
		}
	}
	switch len(named) {
	case 0:
		return nil, httpapi.Errorf(http.StatusNotFound, "no framework with ID or name %q", key)
	case 1:
		return named[0], nil
	}
	ids := make([]string, len(named))
	for i, f := range named {
		ids[i] = f.id
	}
	return nil, httpapi.Errorf(http.StatusConflict, "%d frameworks are named %q: %s; give an ID", len(named), key, strings.Join(ids, ", "))
}

// hostOf names an agent as "ID (hostname)".
func (s *state) hostOf(id string) string {
	if a := s.agents[id]; a != nil && a.info.GetHostname() != "" {
		return a.info.GetHostname()
	}
	return ""
}

func (s *state) agentName(id string) string {
	if h := s.hostOf(id); h != "" {
		return id + " (" + h + ")"
	}
	return id
}

// utcClock writes t as "12:03:05 UTC", with the date in front unless it is
// within a day of now.
func utcClock(t, now time.Time) string {
	if d := t.Sub(now); d > 24*time.Hour || d < -24*time.Hour {
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return t.UTC().Format("15:04:05 UTC")
}

func (s *state) explainFramework(r *http.Request) (any, error) {
	key, ok := httpapi.QueryValue(r.URL.Query(), "framework")
	if !ok || key == "" {
		return nil, httpapi.Errorf(http.StatusBadRequest, "missing parameter 'framework' (a framework ID or name)")
	}
	f, err := s.lookupFrameworkParam(key)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := explain.Framework{
		FrameworkID: f.id, Name: f.info.GetName(), Active: f.active,
		Roles: []explain.Role{}, Agents: []explain.Agent{}, Offers: []explain.Offer{},
		Filters: []explain.Filter{}, Reasons: []explain.Reason{},
	}
	var ex allocator.Explanation
	if e, ok := s.alloc().(allocator.Explainer); ok {
		ex, _ = e.Explain(f.id, now)
	}
	for _, re := range ex.Roles {
		role := explain.Role{
			Role: re.Role, Suppressed: re.Suppressed || f.suppressed[re.Role], Weight: re.Weight,
			DominantShare: re.DominantShare, Rank: re.Rank, Roles: re.Roles,
			FrameworkShare: re.FrameworkShare, FrameworkRank: re.FrameworkRank, Frameworks: re.Frameworks,
		}
		if q := re.Quota; q != nil && s.view.quota(re.Role) {
			role.Quota = &explain.Quota{Guarantees: q.Guarantees, Limits: q.Limits, Consumed: q.Consumed, LimitReached: q.LimitReached}
		}
		out.Roles = append(out.Roles, role)
	}
	if len(ex.Roles) == 0 { // an allocator without Explainer: the master's view
		roles := slices.Clone(frameworkRoles(f.info))
		slices.Sort(roles)
		for _, r := range roles {
			out.Roles = append(out.Roles, explain.Role{Role: r, Suppressed: f.suppressed[r], Weight: cmp.Or(s.weights[r], 1)})
		}
	}

	offers := make([]*offer, 0, len(f.offers))
	offersOn := map[string]int{}
	for _, o := range f.offers {
		offers = append(offers, o)
		offersOn[o.agentID]++
	}
	slices.SortFunc(offers, func(a, b *offer) int { return cmp.Or(a.since.Compare(b.since), cmp.Compare(a.id, b.id)) })
	for _, o := range offers {
		out.Offers = append(out.Offers, explain.Offer{
			OfferID: o.id, AgentID: o.agentID, Hostname: s.hostOf(o.agentID), Role: o.role,
			Resources: o.resources.String(), Since: secs(o.since),
		})
	}
	for _, fe := range ex.Filters {
		out.Filters = append(out.Filters, explain.Filter{
			AgentID: fe.AgentID, Hostname: s.hostOf(fe.AgentID), Role: fe.Role,
			Resources: fe.Resources.String(), Until: secs(fe.Until),
		})
	}

	// Top-level reasons, most important first.
	add := func(code, role, agentID, msg string) {
		out.Reasons = append(out.Reasons, explain.Reason{Code: code, Role: role, AgentID: agentID, Message: msg})
	}
	if !f.active {
		if f.connected() {
			add(explain.FrameworkInactive, "", "", "the framework is deactivated: it gets no offers until it subscribes again")
		} else {
			add(explain.FrameworkInactive, "", "", "the scheduler is disconnected: it gets no offers until it subscribes again")
		}
	}
	if len(s.agents) == 0 {
		add(explain.NoAgents, "", "", "no agent is registered: start an agent (meso agent --master=...) or check that agents reach this master")
	}
	for _, role := range out.Roles {
		if role.Suppressed {
			add(explain.RoleSuppressed, role.Role, "", fmt.Sprintf("offers for role '%s' are suppressed: the framework called SUPPRESS; it must REVIVE", role.Role))
		}
	}
	if len(offers) > 0 {
		add(explain.OffersOutstanding, "", "", fmt.Sprintf("the framework holds %d outstanding offer(s) it has not answered; their resources are offered to no one else until it accepts or declines them", len(offers)))
	}
	for _, role := range out.Roles {
		if role.Quota != nil && len(role.Quota.LimitReached) > 0 {
			add(explain.QuotaLimitReached, role.Role, "", fmt.Sprintf("role '%s' has reached its quota limit of %s: it is offered no more until its tasks free resources or an operator raises the limit", role.Role, strings.Join(role.Quota.LimitReached, ", ")))
		}
	}

	type group struct{ code, role string }
	perGroup := map[group][]explain.Reason{}
	var groups []group
	for _, ae := range ex.Agents {
		a := s.agents[ae.AgentID]
		agent := explain.Agent{AgentID: ae.AgentID, Hostname: s.hostOf(ae.AgentID), Free: ae.Free.String(), Reasons: []explain.Reason{}}
		for _, ar := range ae.Reasons {
			reason := s.agentReason(f, a, ae, ar, offersOn[ae.AgentID])
			agent.Reasons = append(agent.Reasons, reason)
			switch reason.Code {
			case explain.FrameworkInactive, explain.RoleSuppressed:
				continue // said once above
			case explain.QuotaLimitReached:
				if slices.ContainsFunc(out.Reasons, func(r explain.Reason) bool { return r.Code == reason.Code && r.Role == reason.Role }) {
					continue
				}
			}
			g := group{reason.Code, reason.Role}
			if _, seen := perGroup[g]; !seen {
				groups = append(groups, g)
			}
			perGroup[g] = append(perGroup[g], reason)
		}
		out.Agents = append(out.Agents, agent)
	}
	rank := map[string]int{}
	for i, c := range []string{explain.OffersOutstanding, explain.OfferFiltered, explain.QuotaLimitReached, explain.GPUWithheld,
		explain.AgentDeactivated, explain.AgentIncapable, explain.BelowMinAllocatable, explain.QuotaHeldBack,
		explain.ReservedForOthers, explain.AllocatedToOthers} {
		rank[c] = i
	}
	slices.SortStableFunc(groups, func(a, b group) int { return cmp.Compare(rank[a.code], rank[b.code]) })
	for _, g := range groups {
		rs := perGroup[g]
		shown := rs[:min(len(rs), agentReasonsShown)]
		out.Reasons = append(out.Reasons, shown...)
		if n := len(rs) - len(shown); n > 0 {
			add(g.code, g.role, "", fmt.Sprintf("and %d more agent(s) for the same reason (%s)", n, g.code))
		}
	}

	// The DRF order, when the framework is not first.
	for _, role := range out.Roles {
		if role.Suppressed || !f.active {
			continue
		}
		if role.Rank > 1 {
			add(explain.DRFOrder, role.Role, "", fmt.Sprintf("role '%s' is %d of %d in the DRF order (weighted dominant share %.3g, weight %g): roles with lower shares are offered first; an operator can raise its weight", role.Role, role.Rank, role.Roles, role.DominantShare, role.Weight))
		}
		if role.FrameworkRank > 1 {
			add(explain.DRFOrder, role.Role, "", fmt.Sprintf("within role '%s' the framework is %d of %d (dominant share %.3g): frameworks of the role with lower shares are offered first", role.Role, role.FrameworkRank, role.Frameworks, role.FrameworkShare))
		}
	}
	return out, nil
}

// agentReason turns an allocator's reason into the wire form, with what
// the master knows about the agent.
func (s *state) agentReason(f *framework, a *agent, ae allocator.AgentExplanation, ar allocator.AgentReason, offers int) explain.Reason {
	name := s.agentName(ae.AgentID)
	r := explain.Reason{Code: ar.Code, Role: ar.Role, AgentID: ae.AgentID}
	switch ar.Code {
	case explain.AgentDeactivated:
		switch {
		case s.deactivated[ae.AgentID]:
			r.Message = fmt.Sprintf("agent %s is deactivated by an operator: REACTIVATE_AGENT puts it back in service", name)
		case a != nil && !a.connected():
			r.Message = fmt.Sprintf("agent %s is disconnected: it is offered again once it reconnects", name)
		default:
			r.Message = fmt.Sprintf("agent %s is deactivated: it is not offered to anyone", name)
		}
	case explain.AllocatedToOthers:
		if offers > 0 {
			r.Code = explain.OffersOutstanding
			r.Message = fmt.Sprintf("agent %s: what is not in use sits in %d offer(s) the framework holds; accept or decline them", name, offers)
		} else if ae.Held {
			r.Message = fmt.Sprintf("nothing is free on agent %s: its resources are in use by this framework's tasks or offered to or used by others", name)
		} else {
			r.Message = fmt.Sprintf("nothing is free on agent %s: its resources are offered to or used by other frameworks", name)
		}
	case explain.FrameworkInactive:
		r.Message = "the framework is not active"
	case explain.RoleSuppressed:
		r.Message = fmt.Sprintf("offers for role '%s' are suppressed", ar.Role)
	case explain.OfferFiltered:
		r.Message = fmt.Sprintf("agent %s is filtered for role '%s' until %s (declined with refuse_seconds); REVIVE clears filters", name, ar.Role, utcClock(ar.Until, s.now()))
	case explain.GPUWithheld:
		r.Message = fmt.Sprintf("agent %s has GPUs and the framework lacks the GPU_RESOURCES capability: GPU agents are kept for GPU-aware frameworks (--filter_gpu_resources); subscribe with GPU_RESOURCES to be offered it", name)
	case explain.AgentIncapable:
		r.Message = fmt.Sprintf("agent %s cannot be offered to role '%s': %s", name, ar.Role, ar.Detail)
	case explain.BelowMinAllocatable:
		r.Message = fmt.Sprintf("what agent %s has free for role '%s' is below the minimum allocatable resources (--min_allocatable_resources or the framework's offer_filters): %s", name, ar.Role, ar.Detail)
	case explain.QuotaHeldBack:
		r.Message = fmt.Sprintf("agent %s: its free unreserved resources are held back for other roles' quota guarantees", name)
	case explain.ReservedForOthers:
		r.Message = fmt.Sprintf("agent %s: what is free is reserved for roles the framework is not subscribed to (%s)", name, ar.Detail)
	case explain.QuotaLimitReached:
		r.Message = fmt.Sprintf("agent %s: role '%s' has reached its quota limit", name, ar.Role)
	default:
		r.Message = fmt.Sprintf("agent %s: %s %s", name, ar.Code, ar.Detail)
	}
	return r
}

func (s *state) explainTask(r *http.Request) (any, error) {
	q := r.URL.Query()
	id, ok := httpapi.QueryValue(q, "task")
	if !ok || id == "" {
		return nil, httpapi.Errorf(http.StatusBadRequest, "missing parameter 'task' (a task ID)")
	}
	var fws []*framework
	if key, ok := httpapi.QueryValue(q, "framework"); ok && key != "" {
		f, err := s.lookupFrameworkParam(key)
		if err != nil {
			// A completed framework, by ID.
			cf := s.findFramework(key)
			if cf == nil || !s.view.framework(cf) {
				return nil, err
			}
			f = cf
		}
		fws = []*framework{f}
	} else {
		fws = append(s.sortedFrameworks(), s.completedFrameworks...)
	}
	type hit struct {
		f *framework
		t *mesospb.Task
	}
	var hits []hit
	for _, f := range fws {
		if !s.view.framework(f) {
			continue
		}
		if t := s.latestTask(f, id); t != nil && s.view.task(f, t) {
			hits = append(hits, hit{f, t})
		}
	}
	switch len(hits) {
	case 0:
		body := explain.Task{TaskID: id, Reasons: []explain.Reason{}}
		msg := fmt.Sprintf("the master knows no task %q: the framework has not launched it (or it ended long ago and was forgotten)", id)
		if len(fws) == 1 {
			body.FrameworkID = fws[0].id
			msg = fmt.Sprintf("framework %s has no task %q: it has not launched it (or it ended long ago and was forgotten)", fws[0].id, id)
		}
		body.Reasons = append(body.Reasons, explain.Reason{Code: explain.TaskNotLaunched, Message: msg})
		return nil, notFound{body}
	case 1:
	default:
		ids := make([]string, len(hits))
		for i, h := range hits {
			ids[i] = h.f.id
		}
		return nil, httpapi.Errorf(http.StatusConflict, "%d frameworks have a task %q: %s; add framework=<ID>", len(hits), id, strings.Join(ids, ", "))
	}
	f, t := hits[0].f, hits[0].t
	agentID := t.GetAgentId().GetValue()
	out := explain.Task{
		TaskID: id, FrameworkID: f.id, Name: t.GetName(), State: t.GetState().String(),
		AgentID: agentID, Hostname: s.hostOf(agentID), ExecutorID: t.GetExecutorId().GetValue(),
		Reasons: []explain.Reason{},
	}
	if n := len(t.GetStatuses()); n > 0 {
		st := t.GetStatuses()[n-1]
		out.ContainerID = st.GetContainerStatus().GetContainerId().GetValue()
		out.LastUpdate = &explain.Update{State: st.GetState().String(), Message: st.GetMessage(), Timestamp: st.GetTimestamp()}
		if st.Source != nil {
			out.LastUpdate.Source = st.GetSource().String()
		}
		if st.Reason != nil {
			out.LastUpdate.Reason = st.GetReason().String()
		}
	}
	add := func(code, msg string) {
		out.Reasons = append(out.Reasons, explain.Reason{Code: code, AgentID: agentID, Message: msg})
	}
	where := s.agentName(agentID)
	_, unreachable := s.unreachable[agentID]
	switch st := t.GetState(); {
	case taskstate.IsTerminal(st):
		msg := fmt.Sprintf("the task ended: %s", st)
		if u := out.LastUpdate; u != nil {
			if u.Reason != "" {
				msg += " (" + u.Reason + ")"
			}
			if u.Message != "" {
				msg += ": " + u.Message
			}
		}
		add(explain.TaskTerminal, msg)
	case st == mesospb.TaskState_TASK_UNREACHABLE || st == mesospb.TaskState_TASK_LOST || unreachable:
		add(explain.TaskUnreachable, fmt.Sprintf("agent %s is unreachable: the task's fate is unknown until the agent comes back", where))
	case st == mesospb.TaskState_TASK_STAGING:
		add(explain.TaskStaging, fmt.Sprintf("staging on agent %s: sent to the agent, whose executor has not started it yet (fetching URIs, pulling an image or launching the container); see the agent's sandbox for progress", where))
	case st == mesospb.TaskState_TASK_STARTING:
		add(explain.TaskStaging, fmt.Sprintf("starting on agent %s: the executor is launching it", where))
	default:
		if a := s.agents[agentID]; a != nil && !a.connected() {
			add(explain.TaskUnreachable, fmt.Sprintf("agent %s is disconnected: the task's updates wait until it reconnects", where))
		}
	}
	return out, nil
}

// latestTask is a framework's task by ID: live, else unreachable, else
// the most recent completed one.
func (s *state) latestTask(f *framework, id string) *mesospb.Task {
	if t := f.tasks[id]; t != nil {
		return t
	}
	for _, ts := range [][]*mesospb.Task{f.unreachableTasks, f.completedTasks} {
		for i := len(ts) - 1; i >= 0; i-- {
			if ts[i].GetTaskId().GetValue() == id {
				return ts[i]
			}
		}
	}
	return nil
}
