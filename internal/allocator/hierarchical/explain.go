package hierarchical

import (
	"fmt"
	"slices"
	"time"

	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/quantity"
	"github.com/meso-project/meso/pkg/explain"
	"github.com/meso-project/meso/pkg/resources"
)

var _ allocator.Explainer = (*Allocator)(nil)

// Explain reports, read-only, how the next allocation cycle at now would
// treat the framework (see allocator.Explainer). Each agent is put through
// the checks Allocate itself makes (check, roleAtLimits,
// stage1Unsatisfied: the same code), role by role: an agent has no
// reasons when stage 1 or stage 2 would offer the framework some of it in
// some role, provided other frameworks served before it in the cycle
// leave it there. Filters expired at now are ignored, as the cycle would
// drop them. With the random role or framework sorter no rank is given
// (drawing an order would consume the sorter's random stream).
func (a *Allocator) Explain(frameworkID string, now time.Time) (allocator.Explanation, bool) {
	f := a.lookupFramework(frameworkID)
	if f == nil || !f.known {
		return allocator.Explanation{}, false
	}
	nowNs := now.UnixNano()
	out := allocator.Explanation{Active: f.active}
	roles := make([]string, 0, len(f.roles))
	for r := range f.roles {
		roles = append(roles, r)
	}
	slices.Sort(roles)

	var roleOrder []int
	if a.roleSorterKind == "drf" {
		roleOrder = a.roleSorter.AppendSorted(nil)
	}
	for _, name := range roles {
		out.Roles = append(out.Roles, a.explainRole(f, name, roleOrder))
	}

	// Filters, by agent ID then role.
	for _, name := range roles {
		si, ok := f.slots[name]
		if !ok || a.slots[si].filters == nil {
			continue
		}
		a.slots[si].filters.has.each(func(ai int32) {
			ag := a.agents[ai]
			if ag == nil {
				return
			}
			for _, flt := range ag.filters.refs(si) {
				if flt.exp <= nowNs {
					continue
				}
				out.Filters = append(out.Filters, allocator.FilterExplanation{
					AgentID: ag.id, Role: name, Resources: refusedResources(ag, a.refused[flt.rs].set),
					Until: time.Unix(0, flt.exp).UTC(),
				})
			}
		})
	}
	slices.SortStableFunc(out.Filters, func(x, y allocator.FilterExplanation) int {
		if c := cmpString(x.AgentID, y.AgentID); c != 0 {
			return c
		}
		if c := cmpString(x.Role, y.Role); c != 0 {
			return c
		}
		return x.Until.Compare(y.Until)
	})

	required, _ := a.requiredHeadroom()
	for _, ag := range a.agents {
		if ag == nil {
			continue
		}
		out.Agents = append(out.Agents, a.explainAgent(f, ag, roles, &required, nowNs))
	}
	slices.SortFunc(out.Agents, func(x, y allocator.AgentExplanation) int { return cmpString(x.AgentID, y.AgentID) })
	return out, true
}

func cmpString(x, y string) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func (a *Allocator) explainRole(f *framework, name string, roleOrder []int) allocator.RoleExplanation {
	re := allocator.RoleExplanation{Role: name, Suppressed: f.suppressed[name], Weight: 1,
		DominantShare: a.DominantShare(name), FrameworkShare: a.FrameworkShare(name, f.id)}
	if w, ok := a.weights[name]; ok {
		re.Weight = w
	}
	r := a.roles[name]
	if r == nil {
		return re
	}
	if roleOrder != nil {
		re.Roles = len(roleOrder)
		if i := slices.Index(roleOrder, int(r.idx)); i >= 0 {
			re.Rank = i + 1
		}
	}
	if a.fwSorterKind == "drf" {
		order := r.sorter.AppendSorted(nil)
		re.Frameworks = len(order)
		if si, ok := f.slots[name]; ok {
			if i := slices.Index(order, int(si)); i >= 0 {
				re.FrameworkRank = i + 1
			}
		}
	}
	if q := a.quotas[topRole(name)]; q != nil {
		qe := &allocator.QuotaExplanation{}
		c := a.usageOf(name).consumed()
		for d := 0; d < a.dims.Len(); d++ {
			dn := a.dims.Name(d)
			if q.guarantees[d] > 0 {
				if qe.Guarantees == nil {
					qe.Guarantees = map[string]float64{}
				}
				qe.Guarantees[dn] = quantity.ToFloat(q.guarantees[d])
			}
			if q.hasLimit[d] {
				if qe.Limits == nil {
					qe.Limits = map[string]float64{}
				}
				qe.Limits[dn] = quantity.ToFloat(q.limits[d])
				if c[d] >= q.limits[d] {
					qe.LimitReached = append(qe.LimitReached, dn)
				}
			}
			if c[d] > 0 {
				if qe.Consumed == nil {
					qe.Consumed = map[string]float64{}
				}
				qe.Consumed[dn] = quantity.ToFloat(c[d])
			}
		}
		slices.Sort(qe.LimitReached)
		re.Quota = qe
	}
	return re
}

// explainAgent puts one agent through Allocate's checks for each of the
// framework's roles.
func (a *Allocator) explainAgent(f *framework, ag *agent, roles []string, required *quantity.Vec, nowNs int64) allocator.AgentExplanation {
	ae := allocator.AgentExplanation{AgentID: ag.id, Free: freeResources(ag)}
	_, ae.Held = ag.held[f.idx]
	reason := func(code, role, detail string) {
		ae.Reasons = append(ae.Reasons, allocator.AgentReason{Code: code, Role: role, Detail: detail})
	}
	switch {
	case !ag.active:
		reason(explain.AgentDeactivated, "", "")
		return ae
	case ag.empty():
		reason(explain.AllocatedToOthers, "", "nothing is free")
		return ae
	case !f.active:
		reason(explain.FrameworkInactive, "", "")
		return ae
	}
	take := make([]amount, len(ag.entries))
	var reasons []allocator.AgentReason
	for _, name := range roles {
		if f.suppressed[name] {
			reasons = append(reasons, allocator.AgentReason{Code: explain.RoleSuppressed, Role: name})
			continue
		}
		si, ok := f.slots[name]
		if !ok {
			continue
		}
		s := a.slots[si]
		r := s.role
		q := a.roleQuota(r)
		if unsat, ok := stage1Unsatisfied(r, q); ok {
			req := *required
			if v, _ := a.check(ag, r, q, s, true, &unsat, &req, take, nowNs); v == vOffer {
				return ae // stage 1 offers it
			}
		}
		ar := allocator.AgentReason{Role: name}
		if a.roleAtLimits(ag, r, q) {
			ar.Code = explain.QuotaLimitReached
			reasons = append(reasons, ar)
			continue
		}
		var none quantity.Vec
		v, _ := a.check(ag, r, q, s, false, &none, required, take, nowNs)
		switch v {
		case vOffer:
			return ae
		case vNothingForRole:
			ar.Code = explain.ReservedForOthers
			ar.Detail = fmt.Sprintf("free: %s", ae.Free)
		case vBelowMin:
			ar.Code = explain.BelowMinAllocatable
			ar.Detail = fmt.Sprintf("free for role: %s", a.takeResources(ag, take))
		case vGPUWithheld:
			ar.Code = explain.GPUWithheld
		case vIncapable:
			ar.Code = explain.AgentIncapable
			if f.multiRole && !ag.multiRole {
				ar.Detail = "the agent lacks the MULTI_ROLE capability"
			} else {
				ar.Detail = "the agent lacks the HIERARCHICAL_ROLE capability"
			}
		case vChoppedBelowMin:
			// Which cut made it too small: the role's limits alone, or
			// the headroom held for other roles' guarantees?
			a.allocatableTo(ag, r.name, take)
			if !ag.simple {
				stripIncapable(ag, f, take)
			}
			a.chop(ag, q, r.name, nil, &none, take)
			if !a.meetsMin(ag, take, f, r.name) {
				ar.Code = explain.QuotaLimitReached
			} else {
				ar.Code = explain.QuotaHeldBack
			}
		case vFiltered:
			until, _ := a.filteredAt(s, ag, take, nowNs)
			ar.Code = explain.OfferFiltered
			ar.Until = time.Unix(0, until).UTC()
			ar.Detail = fmt.Sprintf("refused: %s", a.takeResources(ag, take))
		default:
			continue
		}
		reasons = append(reasons, ar)
	}
	ae.Reasons = reasons
	return ae
}

// freeResources materializes an agent's available resources, unallocated.
func freeResources(ag *agent) resources.Resources {
	var out resources.Resources
	for _, e := range ag.entries {
		if !e.empty() {
			out = append(out, e.materialize(e.availAmount(), nil))
		}
	}
	return out
}

// takeResources materializes a candidate, unallocated.
func (a *Allocator) takeResources(ag *agent, take []amount) resources.Resources {
	var out resources.Resources
	for i, e := range ag.entries {
		if !take[i].isEmpty(e.typ) {
			out = append(out, e.materialize(take[i], nil))
		}
	}
	return out
}

// refusedResources materializes a filter's refused set on the agent.
func refusedResources(ag *agent, rs *refusedSet) resources.Resources {
	var out resources.Resources
	for _, p := range rs.parts {
		if i := ag.entryIndex(p.key); i >= 0 && !p.amt.isEmpty(p.typ) {
			out = append(out, ag.entries[i].materialize(p.amt, nil))
		}
	}
	return out
}
