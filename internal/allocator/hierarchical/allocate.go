package hierarchical

import (
	"time"

	"github.com/meso-project/meso/internal/allocator"
)

// Allocate runs one allocation cycle at time now (Mesos's
// __generateOffers, stage 2 only: there is no quota yet).
//
// Active agents are visited in a seeded random order. On each agent, roles
// are visited in role-sorter order and, within a role, the frameworks in its
// framework-sorter order (suppressed and inactive frameworks are not
// sorted). A framework is offered everything on the agent its role may use
// (unreserved plus reserved to the role or an ancestor), minus what it
// cannot receive (revocable, refined, shared without the capability),
// unless: the agent has GPUs and the framework is not GPU_RESOURCES capable
// (with FilterGPUResources); the result is not allocatable (below every
// minimum alternative, the framework's offer_filters override the master's);
// or a refused-offer filter or the MULTI_ROLE / HIERARCHICAL_ROLE agent rules
// withhold it. Sorters are updated after every allocation, so the next agent
// sees the new shares. Each (framework, role, agent) gets at most one
// Allocation per cycle.
func (a *Allocator) Allocate(now time.Time) []allocator.Allocation {
	order := make([]*agent, 0, len(a.agentOrder))
	for _, ag := range a.agentOrder {
		if ag.active {
			order = append(order, ag)
		}
	}
	a.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })

	var out []allocator.Allocation
	for _, ag := range order {
		free := ag.available()
		if free.Empty() {
			continue
		}
		for _, roleName := range a.roleSorter.Sort() {
			if free.Empty() {
				break
			}
			r := a.roles[roleName]
			for _, fwID := range r.sorter.Sort() {
				f := a.frameworks[fwID]
				if f == nil {
					continue
				}
				candidate := allocatableTo(free, roleName)
				if candidate.Empty() {
					break // nothing left for the role
				}
				if a.filterGPU && ag.hasGPU && !f.gpuAware {
					continue
				}
				candidate = stripIncapable(candidate, f)
				if !meetsMinimum(candidate, a.minimumFor(f, roleName)) {
					continue
				}
				if a.isFiltered(f, roleName, ag, candidate, now) {
					continue
				}
				offered := candidate.Allocate(roleName)
				out = append(out, allocator.Allocation{
					FrameworkID: fwID,
					AgentID:     ag.id,
					Role:        roleName,
					Resources:   offered,
				})
				free = free.Subtract(candidate)
				ag.setHeld(fwID, ag.alloc[fwID].Add(offered))
				f.agents[ag.id] = struct{}{}
				a.trackAllocated(fwID, offered)
			}
		}
	}
	return out
}

// minimumFor is the list of minimum-quantity alternatives for a framework's
// role: its offer_filters override, else the master's.
func (a *Allocator) minimumFor(f *framework, role string) []map[string]float64 {
	if m, ok := f.minAllocatable[role]; ok {
		return m
	}
	return a.minAllocatable
}
