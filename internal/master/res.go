package master

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/resources"
)

// Thin adapters over pkg/resources and small helpers, kept in one place so
// the rest of the package reads in Mesos's terms.

func addRes(a resources.Resources, b []*mesospb.Resource) resources.Resources {
	return a.Add(b)
}

// sumRes is the sum of every resource of the lists, normalised once. Use it
// instead of addRes in a loop, which normalises (clones) the whole running
// sum again on each call: over an agent's or a framework's tasks that is
// quadratic, and at 200,000 tasks it was most of /state's time.
func sumRes(lists ...[]*mesospb.Resource) resources.Resources {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	all := make(resources.Resources, 0, n)
	for _, l := range lists {
		all = append(all, l...)
	}
	return resources.Resources(nil).Add(all)
}

func subRes(a resources.Resources, b []*mesospb.Resource) resources.Resources {
	return a.Subtract(b)
}

func cloneResources(rs []*mesospb.Resource) resources.Resources {
	out := make(resources.Resources, 0, len(rs))
	for _, r := range rs {
		out = append(out, proto.Clone(r).(*mesospb.Resource))
	}
	return out
}

func resString(rs []*mesospb.Resource) string { return resources.Resources(rs).String() }

// unallocated strips allocation_info (for /state resource maps).
func unallocated(rs []*mesospb.Resource) resources.Resources {
	return resources.Resources(rs).Unallocate()
}

// It sums by name whatever the allocation_info, reservations or other
// metadata, so it may be given resources as they are (unallocated(rs) is
// not needed) and unsummed lists (an agent's tasks' resources one after
// the other): the result is the same, without the cloning.
func legacyMap(rs []*mesospb.Resource) map[string]any {
	return resources.Resources(rs).LegacyMap()
}

func unreserved(rs []*mesospb.Resource) resources.Resources {
	return resources.Resources(rs).Unreserved()
}

// reservations groups reserved resources by their current (innermost)
// reservation role.
func reservations(rs []*mesospb.Resource) map[string]resources.Resources {
	out := map[string]resources.Resources{}
	for _, r := range rs {
		st := r.GetReservations()
		if len(st) == 0 {
			continue
		}
		role := st[len(st)-1].GetRole()
		out[role] = append(out[role], proto.Clone(r).(*mesospb.Resource))
	}
	return out
}

func scalarOf(rs []*mesospb.Resource, name string) float64 {
	return resources.Resources(rs).Scalar(name)
}

// upgradeOwnResources is upgradeResources for resources the caller owns
// (a task an agent reported in the call being handled): those already in
// the post-refinement format, with allocation_info where role asks for
// it, are kept as they are instead of being copied and normalised, as
// Mesos's upgradeResources leaves them. This is the common case, and
// re-registering 40,000 agents with 10 tasks each copied 800,000
// resources on the loop.
func upgradeOwnResources(rs []*mesospb.Resource, role string) (resources.Resources, error) {
	for _, r := range rs {
		if r == nil || r.Role != nil || r.Reservation != nil || role != "" && r.AllocationInfo == nil {
			return upgradeResources(rs, role)
		}
	}
	if err := resources.Validate(rs); err != nil {
		return nil, err
	}
	return rs, nil
}

// upgradeResources converts resources a client sent (possibly in the
// pre-refinement format) to the internal format and, when role is not
// empty, sets allocation_info where it is missing.
func upgradeResources(rs []*mesospb.Resource, role string) (resources.Resources, error) {
	if err := resources.Validate(rs); err != nil {
		return nil, err
	}
	out := resources.Resources(rs).FromPreRefinement()
	if role != "" {
		for _, r := range out {
			if r.AllocationInfo == nil {
				r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(role)}
			}
		}
	}
	return out, nil
}

// toPreRefinement renders resources for frameworks without the
// RESERVATION_REFINEMENT capability.
func toPreRefinement(rs []*mesospb.Resource) []*mesospb.Resource {
	out, err := resources.Resources(rs).ToPreRefinement()
	if err != nil {
		return rs
	}
	return out
}

// endpointFormat is the *_full format: reservations plus the compatible
// role/reservation fields.
func endpointFormat(rs []*mesospb.Resource) []*mesospb.Resource {
	return resources.Resources(rs).ToEndpointFormat()
}

func attributesMap(attrs []*mesospb.Attribute) map[string]any {
	return resources.AttributesLegacyMap(attrs)
}

func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	httpapi.WriteJSON(w, r, http.StatusOK, v)
}

func itoa(i int) string { return strconv.Itoa(i) }

// sortedAgents is every agent, by ID. The order is kept until an agent
// is added or removed (setAgent, removeAgent): every /state and GET_STATE walks the agents in it, and
// sorting 20,000 of them per read was a fifth of the read's time on the
// loop. Callers must not change the slice.
func (s *state) sortedAgents() []*agent {
	if s.agentOrder != nil {
		return s.agentOrder
	}
	out := make([]*agent, 0, len(s.agents))
	for _, a := range s.agents {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *agent) int { return cmp.Compare(a.id, b.id) })
	s.agentOrder = out
	return out
}

func (s *state) sortedFrameworks() []*framework {
	out := make([]*framework, 0, len(s.frameworks))
	for _, f := range s.frameworks {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *framework) int { return cmp.Compare(a.id, b.id) })
	return out
}

func sortedTasks(m map[string]*mesospb.Task) []*mesospb.Task {
	out := make([]*mesospb.Task, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *mesospb.Task) int {
		return cmp.Compare(a.GetTaskId().GetValue(), b.GetTaskId().GetValue())
	})
	return out
}

// summaryStates are the per-state task counts /state-summary writes.
var summaryStates = []mesospb.TaskState{
	mesospb.TaskState_TASK_STAGING, mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING,
	mesospb.TaskState_TASK_KILLING, mesospb.TaskState_TASK_FINISHED, mesospb.TaskState_TASK_KILLED,
	mesospb.TaskState_TASK_FAILED, mesospb.TaskState_TASK_LOST, mesospb.TaskState_TASK_ERROR,
	mesospb.TaskState_TASK_UNREACHABLE,
}

// stateSummary is /state-summary (ReadOnlyHandler::stateSummary): agents
// and registered frameworks with task counts by state and the
// agent<->framework mapping, both computed from the frameworks' active,
// unreachable and completed tasks.
func (s *state) stateSummary(*http.Request) any {
	fwCounts := map[string]map[mesospb.TaskState]int{}
	agentCounts := map[string]map[mesospb.TaskState]int{}
	fwAgents := map[string]map[string]bool{}
	agentFws := map[string]map[string]bool{}
	note := func(f *framework, t *mesospb.Task) {
		aid := t.GetAgentId().GetValue()
		if fwCounts[f.id] == nil {
			fwCounts[f.id], fwAgents[f.id] = map[mesospb.TaskState]int{}, map[string]bool{}
		}
		if agentCounts[aid] == nil {
			agentCounts[aid], agentFws[aid] = map[mesospb.TaskState]int{}, map[string]bool{}
		}
		fwCounts[f.id][t.GetState()]++
		agentCounts[aid][t.GetState()]++
		fwAgents[f.id][aid] = true
		agentFws[aid][f.id] = true
	}
	for _, f := range s.sortedFrameworks() {
		for _, t := range s.visibleTasks(f, sortedTasks(f.tasks)) {
			note(f, t)
		}
		for _, t := range s.visibleTasks(f, f.unreachableTasks) {
			note(f, t)
		}
		for _, t := range s.visibleTasks(f, f.completedTasks) {
			note(f, t)
		}
	}
	writeCounts := func(o object, counts map[mesospb.TaskState]int) {
		for _, st := range summaryStates {
			o[st.String()] = counts[st]
		}
	}
	slaves := []object{}
	for _, a := range s.sortedAgents() {
		o := s.agentJSON(a, false)
		writeCounts(o, agentCounts[a.id])
		o["framework_ids"] = sortedKeys(agentFws[a.id])
		slaves = append(slaves, o)
	}
	fws := []object{}
	for _, f := range s.sortedFrameworks() {
		if !s.view.framework(f) {
			continue
		}
		o := s.frameworkSummaryJSON(f)
		writeCounts(o, fwCounts[f.id])
		o["slave_ids"] = sortedKeys(fwAgents[f.id])
		fws = append(fws, o)
	}
	out := object{"hostname": s.info.GetHostname(), "slaves": slaves, "frameworks": fws}
	if s.cfg.Cluster != "" {
		out["cluster"] = s.cfg.Cluster
	}
	return out
}
