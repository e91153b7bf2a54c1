package hierarchical

import (
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/quantity"
	"github.com/meso-project/meso/pkg/resources"
)

// agent is the allocator's view of an agent.
type agent struct {
	id     string
	idx    int32
	info   *mesospb.AgentInfo
	active bool

	multiRole, hierarchicalRole bool
	hasGPU                      bool
	// simple agents have only unreserved, non-revocable, non-shared
	// resources: every role and framework sees the same candidate.
	simple bool

	entries []*entry
	total   quantity.Vec
	// held is what each framework holds here (offered or in use), by
	// framework index, including ghosts (frameworks not added yet).
	held  map[int32]*holding
	grown bool // available grew since the last cycle
	// filters are the refused-offer filters on the agent (nil: none).
	filters *agentFilters
}

// holding is what one framework holds on one agent: amounts of entries by
// allocation role.
type holding struct {
	parts []heldPart
}

type heldPart struct {
	role string
	e    int
	amt  amount
}

func (ag *agent) empty() bool {
	for _, e := range ag.entries {
		if !e.empty() {
			return false
		}
	}
	return true
}

func (ag *agent) entryIndex(key string) int {
	for i, e := range ag.entries {
		if e.key == key {
			return i
		}
	}
	return -1
}

// buildEntries turns a total into entries, merging resources of one kind.
func (a *Allocator) buildEntries(total resources.Resources) []*entry {
	var out []*entry
	for _, r := range total {
		if r == nil {
			continue
		}
		key, plain := kindKey(r)
		amt := amountOf(r)
		if amt.isEmpty(r.GetType()) {
			continue
		}
		var e *entry
		for _, x := range out {
			if x.key == key {
				e = x
				break
			}
		}
		if e == nil {
			e = newEntry(r, key, plain, a.dims)
			out = append(out, e)
		}
		t := addAmount(e.typ, amount{scalar: e.total, ranges: e.totalRanges, items: e.totalItems}, amt)
		e.total, e.totalRanges, e.totalItems = t.scalar, t.ranges, t.items
		e.setAvail(t)
	}
	return out
}

func (a *Allocator) markGrown(ag *agent) {
	if !ag.grown {
		ag.grown = true
		a.grown = append(a.grown, ag.idx)
	}
}

// setTotals installs entries and updates the pool, the reservation usage
// and the free headroom (sign +1 on install, -1 on removal).
func (a *Allocator) applyTotals(ag *agent, sign int64) {
	var q quantity.Vec
	for _, e := range ag.entries {
		if e.dim < 0 {
			continue
		}
		q[e.dim] += e.total
		if e.resRole != "" {
			a.usageOf(e.resRole).reserved[e.dim] += sign * e.total
		}
		if e.unreservedScalar() {
			a.freeUnreserved[e.dim] += sign * e.avail
		}
	}
	if sign > 0 {
		a.pool.Total.Add(&q)
		ag.total = q
	} else {
		a.pool.Total.Sub(&q)
	}
	a.pool.Gen++
}

func (a *Allocator) installEntries(ag *agent, total resources.Resources) {
	ag.entries = a.buildEntries(total)
	ag.simple, ag.hasGPU = true, false
	for _, e := range ag.entries {
		if e.resRole != "" || e.revocable || e.shared || e.refined {
			ag.simple = false
		}
		if e.name == "gpus" && e.total > 0 {
			ag.hasGPU = true
		}
	}
	a.applyTotals(ag, 1)
}

// AddAgent adds an agent; adding a known agent replaces it. used maps
// framework IDs to the resources they hold there; resources of frameworks
// not yet added are kept off the free pool but counted in the sorters only
// once the framework is added (as in Mesos).
func (a *Allocator) AddAgent(id string, ag allocator.Agent, used map[string]resources.Resources) {
	if _, ok := a.agentIndex[id]; ok {
		a.RemoveAgent(id)
	}
	s := &agent{id: id, info: ag.Info, active: true, held: make(map[int32]*holding, len(used))}
	for _, c := range ag.Capabilities {
		switch c {
		case mesospb.AgentInfo_Capability_MULTI_ROLE:
			s.multiRole = true
		case mesospb.AgentInfo_Capability_HIERARCHICAL_ROLE:
			s.hierarchicalRole = true
		}
	}
	if n := len(a.freeAgents); n > 0 {
		s.idx = a.freeAgents[n-1]
		a.freeAgents = a.freeAgents[:n-1]
		a.agents[s.idx] = s
	} else {
		s.idx = int32(len(a.agents))
		a.agents = append(a.agents, s)
	}
	a.agentIndex[id] = s.idx
	a.activeAgent.set(s.idx)
	a.installEntries(s, ag.Total)
	for fwID, res := range used {
		a.holdResources(s, a.frameworkFor(fwID), res)
	}
}

// holdResources records that f holds res (allocated form; resources
// without AllocationInfo get the framework's sole role) on the agent.
func (a *Allocator) holdResources(ag *agent, f *framework, res resources.Resources) {
	var q = map[string]*quantity.Vec{}
	for _, r := range res {
		if r == nil {
			continue
		}
		roleName := f.soleRole()
		if r.AllocationInfo != nil {
			roleName = r.GetAllocationInfo().GetRole()
		}
		key, _ := kindKey(r)
		ei := ag.entryIndex(key)
		if ei < 0 {
			continue // not part of the agent's total: ignore
		}
		amt := amountOf(r)
		a.hold(ag, f, roleName, ei, amt)
		if e := ag.entries[ei]; e.dim >= 0 {
			v := q[roleName]
			if v == nil {
				v = &quantity.Vec{}
				q[roleName] = v
			}
			v[e.dim] += amt.scalar
		}
	}
	for roleName, v := range q {
		a.account(f, roleName, v, true)
	}
}

// hold moves amt of entry ei from available to f's holding in role. It does
// not touch the sorters (callers account whole allocations at once).
func (a *Allocator) hold(ag *agent, f *framework, roleName string, ei int, amt amount) {
	e := ag.entries[ei]
	if amt.isEmpty(e.typ) {
		return
	}
	before := e.avail
	e.setAvail(subAmount(e.typ, e.availAmount(), amt))
	if e.unreservedScalar() {
		a.freeUnreserved[e.dim] -= before - e.avail
		a.usageOf(roleName).alloc[e.dim] += amt.scalar
	}
	h := ag.held[f.idx]
	if h == nil {
		h = &holding{}
		ag.held[f.idx] = h
		f.agents[ag.idx] = struct{}{}
	}
	for i := range h.parts {
		p := &h.parts[i]
		if p.role == roleName && p.e == ei {
			p.amt = addAmount(e.typ, p.amt, amt)
			return
		}
	}
	h.parts = append(h.parts, heldPart{role: roleName, e: ei, amt: amt})
}

// release returns up to amt of f's holding of entry ei in role to the
// available pool and reports what was released. Sorters are not touched.
func (a *Allocator) release(ag *agent, f *framework, roleName string, ei int, amt amount) amount {
	h := ag.held[f.idx]
	if h == nil {
		return amount{}
	}
	e := ag.entries[ei]
	for i := range h.parts {
		p := &h.parts[i]
		if p.role != roleName || p.e != ei {
			continue
		}
		got := minAmount(e.typ, p.amt, amt)
		if got.isEmpty(e.typ) {
			return amount{}
		}
		p.amt = subAmount(e.typ, p.amt, got)
		if p.amt.isEmpty(e.typ) {
			h.parts = append(h.parts[:i], h.parts[i+1:]...)
			if len(h.parts) == 0 {
				delete(ag.held, f.idx)
				delete(f.agents, ag.idx)
			}
		}
		before := e.avail
		e.setAvail(addAmount(e.typ, e.availAmount(), got))
		if e.unreservedScalar() {
			a.freeUnreserved[e.dim] += e.avail - before
			a.usageOf(roleName).alloc[e.dim] -= got.scalar
		}
		a.markGrown(ag)
		return got
	}
	return amount{}
}

// releaseAll frees everything f holds on the agent.
func (a *Allocator) releaseAll(ag *agent, f *framework) {
	h := ag.held[f.idx]
	if h == nil {
		return
	}
	a.accountHolding(ag, f, h, false)
	parts := append([]heldPart(nil), h.parts...)
	for _, p := range parts {
		a.release(ag, f, p.role, p.e, p.amt)
	}
	if f.known {
		a.refresh(f)
	}
}

// accountHolding adds or removes a whole holding in the sorters.
func (a *Allocator) accountHolding(ag *agent, f *framework, h *holding, add bool) {
	if !f.known {
		return
	}
	q := map[string]*quantity.Vec{}
	for _, p := range h.parts {
		v := q[p.role]
		if v == nil {
			v = &quantity.Vec{}
			q[p.role] = v
		}
		if e := ag.entries[p.e]; e.dim >= 0 {
			v[e.dim] += p.amt.scalar
		}
	}
	for roleName, v := range q {
		a.account(f, roleName, v, add)
	}
}

// RemoveAgent forgets an agent, everything allocated on it and every offer
// filter for it.
func (a *Allocator) RemoveAgent(id string) {
	ai, ok := a.agentIndex[id]
	if !ok {
		return
	}
	ag := a.agents[ai]
	for fi := range ag.held {
		a.releaseAll(ag, a.frameworks[fi])
	}
	a.applyTotals(ag, -1)
	a.dropAgentFilters(ai)
	a.activeAgent.clear(ai)
	delete(a.agentIndex, id)
	a.agents[ai] = nil
	a.freeAgents = append(a.freeAgents, ai)
}

// ActivateAgent resumes offers of the agent.
func (a *Allocator) ActivateAgent(id string) {
	if ai, ok := a.agentIndex[id]; ok {
		a.agents[ai].active = true
		a.activeAgent.set(ai)
	}
}

// DeactivateAgent stops offers of the agent; what it holds stays allocated.
func (a *Allocator) DeactivateAgent(id string) {
	if ai, ok := a.agentIndex[id]; ok {
		a.agents[ai].active = false
		a.activeAgent.clear(ai)
	}
}

// heldResources materializes what f holds on the agent (allocated form).
func (ag *agent) heldResources(f *framework) resources.Resources {
	h := ag.held[f.idx]
	if h == nil {
		return nil
	}
	out := make(resources.Resources, 0, len(h.parts))
	for _, p := range h.parts {
		r := p.role
		out = append(out, ag.entries[p.e].materialize(p.amt, &r))
	}
	return out
}

// rebuild replaces the agent's total, re-applying what every framework
// holds (with f's holding replaced by fHeld when f is not nil).
func (a *Allocator) rebuild(ag *agent, total resources.Resources, f *framework, fHeld resources.Resources) {
	type hr struct {
		f   *framework
		res resources.Resources
	}
	var holds []hr
	for fi := range ag.held {
		fw := a.frameworks[fi]
		res := ag.heldResources(fw)
		if fw == f {
			res = fHeld
		}
		holds = append(holds, hr{fw, res})
	}
	if f != nil && ag.held[f.idx] == nil && !fHeld.Empty() {
		holds = append(holds, hr{f, fHeld})
	}
	for fi := range ag.held {
		a.releaseAll(ag, a.frameworks[fi])
	}
	a.applyTotals(ag, -1)
	a.installEntries(ag, total.Unallocate())
	for _, h := range holds {
		a.holdResources(ag, h.f, h.res)
		if h.f.known {
			a.refresh(h.f)
		}
	}
	a.markGrown(ag)
}

// UpdateAgentTotal replaces an agent's total resources.
func (a *Allocator) UpdateAgentTotal(id string, total resources.Resources) {
	if ai, ok := a.agentIndex[id]; ok {
		a.rebuild(a.agents[ai], total, nil, nil)
	}
}

// UpdateAllocation replaces from with to in what the framework holds on the
// agent (both in allocated form) and, like Mesos's updateAllocation, applies
// the same conversion to the agent's total so that total and allocations
// stay in the same form (a later UpdateAgentTotal with the same total is
// harmless). This is how RESERVE/UNRESERVE/CREATE/DESTROY reach the
// allocator.
func (a *Allocator) UpdateAllocation(frameworkID, agentID string, from, to resources.Resources) {
	ai, ok := a.agentIndex[agentID]
	f := a.lookupFramework(frameworkID)
	if !ok || f == nil {
		return
	}
	ag := a.agents[ai]
	roleName := f.soleRole()
	from, to = allocateMissing(from, roleName), allocateMissing(to, roleName)
	held := ag.heldResources(f)
	remaining := held.Subtract(from)
	removed := held.Subtract(remaining) // the part of from actually held
	total := a.totalResources(ag).Subtract(removed.Unallocate()).Add(to.Unallocate())
	a.rebuild(ag, total, f, remaining.Add(to))
}

// totalResources materializes the agent's total (unallocated form).
func (a *Allocator) totalResources(ag *agent) resources.Resources {
	out := make(resources.Resources, 0, len(ag.entries))
	for _, e := range ag.entries {
		out = append(out, e.materialize(amount{scalar: e.total, ranges: e.totalRanges, items: e.totalItems}, nil))
	}
	return out
}

// allocateMissing gives resources without AllocationInfo the role role.
func allocateMissing(rs resources.Resources, role string) resources.Resources {
	missing := false
	for _, r := range rs {
		if r != nil && r.AllocationInfo == nil {
			missing = true
			break
		}
	}
	if !missing {
		return rs
	}
	withInfo := rs.Filter(func(r *mesospb.Resource) bool { return r.AllocationInfo != nil })
	without := rs.Filter(func(r *mesospb.Resource) bool { return r.AllocationInfo == nil })
	return withInfo.Add(without.Allocate(role))
}

// RecoverResources returns resources a framework held on an agent and, with
// filters, installs a refused-offer filter (spec §1.10). Resources the
// framework does not hold are ignored.
func (a *Allocator) RecoverResources(frameworkID, agentID string, res resources.Resources, filters *mesospb.Filters, now time.Time) {
	ai, ok := a.agentIndex[agentID]
	f := a.lookupFramework(frameworkID)
	if !ok || f == nil || res.Empty() {
		return
	}
	ag := a.agents[ai]
	type part struct {
		key string
		typ mesospb.Value_Type
		amt amount
	}
	refused := map[string][]part{}
	q := map[string]*quantity.Vec{}
	for _, r := range res {
		if r == nil {
			continue
		}
		roleName := f.soleRole()
		if r.AllocationInfo != nil {
			roleName = r.GetAllocationInfo().GetRole()
		}
		key, _ := kindKey(r)
		amt := amountOf(r)
		refused[roleName] = append(refused[roleName], part{key, r.GetType(), amt})
		ei := ag.entryIndex(key)
		if ei < 0 {
			continue
		}
		got := a.release(ag, f, roleName, ei, amt)
		if e := ag.entries[ei]; e.dim >= 0 && got.scalar > 0 {
			v := q[roleName]
			if v == nil {
				v = &quantity.Vec{}
				q[roleName] = v
			}
			v[e.dim] += got.scalar
		}
	}
	for roleName, v := range q {
		a.account(f, roleName, v, false)
	}
	if f.known {
		a.refresh(f)
	}
	if filters == nil || !f.known {
		return
	}
	timeout := refuseTimeout(filters.GetRefuseSeconds())
	if timeout == 0 {
		return
	}
	timeout = max(timeout, a.interval)
	expiry := now.Add(timeout).UnixNano()
	for roleName, parts := range refused {
		si, ok := f.slots[roleName]
		if !ok {
			continue
		}
		rs := &refusedSet{}
		for _, p := range parts {
			rs.add(p.key, p.typ, p.amt)
		}
		a.addFilter(a.slots[si], ai, expiry, rs)
	}
}
