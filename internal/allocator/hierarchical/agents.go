package hierarchical

import (
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/pkg/resources"
)

// agent is the allocator's view of an agent.
type agent struct {
	id   string
	idx  int // position in Allocator.agentOrder
	info *mesospb.AgentInfo
	// total is everything the agent has, in unallocated form.
	total resources.Resources
	// alloc is what each framework holds here (offered or in use), in
	// allocated form. It includes frameworks the allocator does not know
	// (yet): their resources are not free either.
	alloc map[string]resources.Resources
	// allocated is the sum of alloc in unallocated form; free is
	// total - allocated.
	allocated resources.Resources
	active    bool

	hasGPU, multiRole, hierarchicalRole bool
}

func (ag *agent) available() resources.Resources {
	return ag.total.Subtract(ag.allocated)
}

// setHeld replaces what framework fwID holds on the agent (nil frees it).
func (ag *agent) setHeld(fwID string, res resources.Resources) {
	if prev, ok := ag.alloc[fwID]; ok {
		ag.allocated = ag.allocated.Subtract(prev.Unallocate())
		delete(ag.alloc, fwID)
	}
	if !res.Empty() {
		ag.alloc[fwID] = res.Add(nil)
		ag.allocated = ag.allocated.Add(res.Unallocate())
	}
}

func (ag *agent) setTotal(total resources.Resources) {
	ag.total = total.Unallocate()
	ag.hasGPU = ag.total.Scalar("gpus") > 0
}

// AddAgent adds an agent; adding a known agent replaces it. used maps
// framework IDs to the resources they hold there; resources of frameworks
// not yet added are kept off the free pool but counted in the sorters only
// once the framework is added (as in Mesos).
func (a *Allocator) AddAgent(id string, ag allocator.Agent, used map[string]resources.Resources) {
	if _, ok := a.agents[id]; ok {
		a.RemoveAgent(id)
	}
	s := &agent{
		id:     id,
		idx:    len(a.agentOrder),
		info:   ag.Info,
		alloc:  make(map[string]resources.Resources),
		active: true,
	}
	s.setTotal(ag.Total)
	for _, c := range ag.Capabilities {
		switch c {
		case mesospb.AgentInfo_Capability_MULTI_ROLE:
			s.multiRole = true
		case mesospb.AgentInfo_Capability_HIERARCHICAL_ROLE:
			s.hierarchicalRole = true
		}
	}
	a.agents[id] = s
	a.agentOrder = append(a.agentOrder, s)
	a.addTotal(scalarQuantities(s.total))

	for fwID, res := range used {
		role := "*"
		f, known := a.frameworks[fwID]
		if known {
			role = f.soleRole()
		}
		res = allocateMissing(res, role)
		s.setHeld(fwID, s.alloc[fwID].Add(res))
		if known && !res.Empty() {
			f.agents[id] = struct{}{}
			a.trackAllocated(fwID, res)
		}
	}
}

func (a *Allocator) addTotal(q map[string]float64) {
	a.total.Add(q)
	a.roleSorter.AddTotal(q)
	for _, r := range a.roles {
		r.sorter.AddTotal(q)
	}
}

func (a *Allocator) removeTotal(q map[string]float64) {
	a.total.Sub(q)
	a.roleSorter.RemoveTotal(q)
	for _, r := range a.roles {
		r.sorter.RemoveTotal(q)
	}
}

// RemoveAgent forgets an agent, everything allocated on it and every offer
// filter for it.
func (a *Allocator) RemoveAgent(id string) {
	s, ok := a.agents[id]
	if !ok {
		return
	}
	for fwID, held := range s.alloc {
		if f, known := a.frameworks[fwID]; known {
			a.untrackAllocated(fwID, held)
			delete(f.agents, id)
		}
	}
	a.removeTotal(scalarQuantities(s.total))
	for _, f := range a.frameworks {
		for _, byAgent := range f.filters {
			delete(byAgent, id)
		}
	}
	last := a.agentOrder[len(a.agentOrder)-1]
	a.agentOrder[s.idx] = last
	last.idx = s.idx
	a.agentOrder = a.agentOrder[:len(a.agentOrder)-1]
	delete(a.agents, id)
}

// ActivateAgent resumes offers of the agent.
func (a *Allocator) ActivateAgent(id string) {
	if s, ok := a.agents[id]; ok {
		s.active = true
	}
}

// DeactivateAgent stops offers of the agent; what it holds stays allocated.
func (a *Allocator) DeactivateAgent(id string) {
	if s, ok := a.agents[id]; ok {
		s.active = false
	}
}

// UpdateAgentTotal replaces an agent's total resources.
func (a *Allocator) UpdateAgentTotal(id string, total resources.Resources) {
	s, ok := a.agents[id]
	if !ok {
		return
	}
	a.removeTotal(scalarQuantities(s.total))
	s.setTotal(total)
	a.addTotal(scalarQuantities(s.total))
}

// UpdateAllocation replaces from with to in what the framework holds on the
// agent (both in allocated form) and, like Mesos's updateAllocation, applies
// the same conversion to the agent's total so that total and allocations
// stay in the same form (a later UpdateAgentTotal with the same total is
// harmless).
func (a *Allocator) UpdateAllocation(frameworkID, agentID string, from, to resources.Resources) {
	s, ok := a.agents[agentID]
	if !ok {
		return
	}
	f, known := a.frameworks[frameworkID]
	role := "*"
	if known {
		role = f.soleRole()
	}
	from, to = allocateMissing(from, role), allocateMissing(to, role)
	held := s.alloc[frameworkID]
	remaining := held.Subtract(from)
	removed := held.Subtract(remaining) // the part of from actually held
	s.setHeld(frameworkID, remaining.Add(to))
	if known {
		a.untrackAllocated(frameworkID, removed)
		if !to.Empty() {
			f.agents[agentID] = struct{}{}
			a.trackAllocated(frameworkID, to)
		}
		if len(s.alloc[frameworkID]) == 0 {
			delete(f.agents, agentID)
		}
	}
	a.UpdateAgentTotal(agentID, s.total.Subtract(removed.Unallocate()).Add(to.Unallocate()))
}

// RecoverResources returns resources a framework held on an agent and, with
// filters, installs a refused-offer filter (spec §1.10). Resources the
// framework does not hold are ignored. Resources of a framework unknown to
// the allocator are still freed on the agent.
func (a *Allocator) RecoverResources(frameworkID, agentID string, res resources.Resources, filters *mesospb.Filters, now time.Time) {
	s, ok := a.agents[agentID]
	if !ok || res.Empty() {
		return
	}
	f, known := a.frameworks[frameworkID]
	role := "*"
	if known {
		role = f.soleRole()
	}
	res = allocateMissing(res, role)
	held := s.alloc[frameworkID]
	remaining := held.Subtract(res)
	removed := held.Subtract(remaining)
	s.setHeld(frameworkID, remaining)
	if !known {
		return
	}
	a.untrackAllocated(frameworkID, removed)
	if len(s.alloc[frameworkID]) == 0 {
		delete(f.agents, agentID)
	}
	if filters == nil {
		return
	}
	timeout := refuseTimeout(filters.GetRefuseSeconds())
	if timeout == 0 {
		return
	}
	timeout = max(timeout, a.interval)
	for r, part := range byAllocationRole(res) {
		f.addFilter(r, agentID, offerFilter{
			refused: resources.Resources(part).Unallocate(),
			expires: now.Add(timeout),
		})
	}
}
