package hierarchical

import (
	"math"
	"math/bits"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/quantity"
)

// cycleAlloc is one allocation decided in the current cycle: amounts of
// the agent's entries for a slot. Protobuf resources are built from it only
// at the end of the cycle.
type cycleAlloc struct {
	slot  int32
	agent int32
	take  []amount
}

// Allocate runs one allocation cycle at time now (Mesos's
// __generateOffers); see the package documentation for the walkthrough.
func (a *Allocator) Allocate(now time.Time) []allocator.Allocation {
	a.prepareFilters(now.UnixNano())
	a.cycle = a.cycle[:0]
	cands := a.candidateAgents()
	if len(cands) == 0 {
		return nil
	}
	required, anyGuarantee := a.requiredHeadroom()
	a.rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	var index map[[2]int32]int
	if anyGuarantee {
		for _, ai := range cands {
			a.visit(a.agents[ai], true, &required, nil)
		}
		if len(a.cycle) > 0 {
			index = make(map[[2]int32]int, len(a.cycle))
			for i, c := range a.cycle {
				index[[2]int32{c.slot, c.agent}] = i
			}
		}
		// Reshuffle to spread the effect of the first stage, as Mesos does.
		a.rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	}
	for _, ai := range cands {
		a.visit(a.agents[ai], false, &required, index)
	}
	if len(a.cycle) == 0 {
		return nil
	}
	out := make([]allocator.Allocation, 0, len(a.cycle))
	for _, c := range a.cycle {
		s := a.slots[c.slot]
		ag := a.agents[c.agent]
		roleName := s.role.name
		res := make([]*mesospb.Resource, 0, len(c.take))
		for i, t := range c.take {
			if e := ag.entries[i]; !t.isEmpty(e.typ) {
				res = append(res, e.materialize(t, &roleName))
			}
		}
		out = append(out, allocator.Allocation{
			FrameworkID: a.frameworks[s.fw].id,
			AgentID:     ag.id,
			Role:        roleName,
			Resources:   res,
		})
	}
	clear(a.cycle) // drop references to amounts
	a.cycle = a.cycle[:0]
	return out
}

// requiredHeadroom sums the roles' unsatisfied quota guarantees: the
// unreserved resources held back for them, and whether any role has a
// guarantee at all.
func (a *Allocator) requiredHeadroom() (quantity.Vec, bool) {
	var required quantity.Vec
	anyGuarantee := false
	for top, q := range a.quotas {
		if !q.anyGuarantee {
			continue
		}
		anyGuarantee = true
		c := a.usageOf(top).consumed()
		g := q.guarantees
		g.SubFloor(&c)
		required.Add(&g)
	}
	return required, anyGuarantee
}

// candidateAgents lists the active agents where some eligible slot is not
// known to be filtered: the agents worth visiting. One AND over bitsets per
// eligible slot skips agents every eligible framework has declined.
func (a *Allocator) candidateAgents() []int32 {
	out := a.candBuf[:0]
	if len(a.eligible) == 0 {
		a.candBuf = out
		return out
	}
	and := a.andBuf[:0]
	for i, si := range a.eligible {
		sf := a.slots[si].filters
		if sf == nil {
			and = and[:0]
			break
		}
		if i == 0 {
			and = append(and, sf.verified...)
			continue
		}
		v := sf.verified
		if len(v) < len(and) {
			and = and[:len(v)]
		}
		for w := range and {
			and[w] &= v[w]
		}
	}
	a.andBuf = and
	for w, word := range a.activeAgent {
		if w < len(and) {
			word &^= and[w]
		}
		for word != 0 {
			t := bits.TrailingZeros64(word)
			out = append(out, int32(w<<6|t))
			word &= word - 1
		}
	}
	a.candBuf = out
	return out
}

// roleQuota returns the quota governing a role (its top-level role's).
func (a *Allocator) roleQuota(r *role) *quotaState {
	if len(a.quotas) == 0 {
		return nil
	}
	if r.quotaGen != a.quotaGen {
		r.quota, r.quotaGen = a.quotas[topRole(r.name)], a.quotaGen
	}
	return r.quota
}

// atLimits reports whether, on a simple agent, a role's limits leave it
// nothing: every available resource is a scalar the role has reached its
// limit of.
func atLimits(ag *agent, q *quotaState, consumed *quantity.Vec) bool {
	for _, e := range ag.entries {
		if e.empty() {
			continue
		}
		if e.dim < 0 || !q.hasLimit[e.dim] || q.limits[e.dim] > consumed[e.dim] {
			return false
		}
	}
	return true
}

// visit offers one agent's available resources, role by role in role-sorter
// order and framework by framework in framework-sorter order (both sorted
// once for the agent, as Mesos does). stage1 serves only roles below their
// quota guarantees.
func (a *Allocator) visit(ag *agent, stage1 bool, required *quantity.Vec, index map[[2]int32]int) {
	if ag.empty() {
		return
	}
	take := a.takeBuf(ag)
	a.roleBuf = a.roleSorter.AppendSorted(a.roleBuf[:0])
	for _, rc := range a.roleBuf {
		if ag.empty() {
			break
		}
		r := a.roleList[rc]
		q := a.roleQuota(r)
		var unsatisfied quantity.Vec
		if stage1 {
			var ok bool
			if unsatisfied, ok = stage1Unsatisfied(r, q); !ok {
				continue
			}
		} else if a.roleAtLimits(ag, r, q) {
			continue
		}
		a.fwBuf = r.sorter.AppendSorted(a.fwBuf[:0])
	frameworks:
		for _, sc := range a.fwBuf {
			if stage1 && unsatisfied.IsZero() {
				break
			}
			s := a.slots[sc]
			if s.filters != nil && s.filters.verified.has(ag.idx) {
				continue // declined, and nothing grew since
			}
			v, guaranteed := a.check(ag, r, q, s, stage1, &unsatisfied, required, take, -1)
			switch v {
			case vNothingForRole:
				break frameworks // nothing left for the role
			case vOffer:
			default:
				continue
			}
			inc := a.allocateTo(ag, a.frameworks[s.fw], s, take, index)
			if stage1 {
				unsatisfied.SubFloor(&inc)
				required.SubFloor(&guaranteed)
			}
		}
	}
}

// takeBuf returns the scratch candidate buffer sized for the agent.
func (a *Allocator) takeBuf(ag *agent) []amount {
	if len(a.take) < len(ag.entries) {
		a.take = make([]amount, len(ag.entries))
	}
	return a.take[:len(ag.entries)]
}

// stage1Unsatisfied returns what is left of a role's quota guarantees, and
// whether the role takes part in stage 1 at all (a top-level role with
// unsatisfied guarantees).
func stage1Unsatisfied(r *role, q *quotaState) (quantity.Vec, bool) {
	if q == nil || !q.anyGuarantee || r.nested {
		return quantity.Vec{}, false
	}
	c := r.usage.consumed()
	unsatisfied := q.guarantees
	unsatisfied.SubFloor(&c)
	return unsatisfied, !unsatisfied.IsZero()
}

// roleAtLimits reports whether stage 2 skips the role on a simple agent
// because its quota limits leave it nothing there.
func (a *Allocator) roleAtLimits(ag *agent, r *role, q *quotaState) bool {
	if q != nil && q.anyLimit && ag.simple {
		c := r.usage.consumed()
		return atLimits(ag, q, &c)
	}
	return false
}

// verdict is what check decides for one slot on one agent.
type verdict uint8

const (
	vOffer            verdict = iota // take is offered
	vNothingForRole                  // nothing on the agent is allocatable to the role
	vBelowMin                        // what the role may be offered is below the minimum
	vGPUWithheld                     // GPU agent, framework without GPU_RESOURCES
	vIncapable                       // MULTI_ROLE or HIERARCHICAL_ROLE missing on the agent
	vChoppedBelowMin                 // below the minimum once cut by quota limits or headroom
	vStage1NoProgress                // stage 1: nothing towards the role's guarantees
	vFiltered                        // a refused-offer filter covers the candidate
)

// check runs Allocate's checks for one slot on one agent, filling take
// with the candidate. It is shared by visit and Explain so that the two
// cannot disagree. With nowNs < 0 (visit) filter matches are remembered in
// the verified bits; with nowNs >= 0 (Explain) nothing is changed and
// filters expired at nowNs are ignored, as Allocate's prepareFilters
// would drop them.
func (a *Allocator) check(ag *agent, r *role, q *quotaState, s *slot, stage1 bool, unsatisfied, required *quantity.Vec, take []amount, nowNs int64) (verdict, quantity.Vec) {
	var guaranteed quantity.Vec
	f := a.frameworks[s.fw]
	if !a.allocatableTo(ag, r.name, take) {
		return vNothingForRole, guaranteed
	}
	if !a.meetsMin(ag, take, f, r.name) {
		return vBelowMin, guaranteed
	}
	if a.filterGPU && ag.hasGPU && !f.gpuAware {
		return vGPUWithheld, guaranteed
	}
	if (f.multiRole && !ag.multiRole) || (r.nested && !ag.hierarchicalRole) {
		return vIncapable, guaranteed
	}
	if !ag.simple {
		stripIncapable(ag, f, take)
	}
	var chopped bool
	if stage1 {
		var ok bool
		guaranteed, ok = a.chopStage1(ag, r.name, q, unsatisfied, required, take)
		if !ok {
			return vStage1NoProgress, guaranteed
		}
		chopped = true
	} else if q != nil && q.anyLimit || !required.IsZero() {
		chopped = a.chop(ag, q, r.name, nil, required, take)
	}
	if !a.meetsMin(ag, take, f, r.name) {
		return vChoppedBelowMin, guaranteed
	}
	if nowNs < 0 {
		if a.filtered(s, ag, take, !chopped) {
			return vFiltered, guaranteed
		}
	} else if _, ok := a.filteredAt(s, ag, take, nowNs); ok {
		return vFiltered, guaranteed
	}
	return vOffer, guaranteed
}

// allocatableTo fills take with the agent's available resources the role may
// be offered and reports whether there are any.
func (a *Allocator) allocatableTo(ag *agent, roleName string, take []amount) bool {
	any := false
	for i, e := range ag.entries {
		if e.empty() || (!ag.simple && !e.allocatableTo(roleName)) {
			take[i] = amount{}
			continue
		}
		take[i] = e.availAmount()
		any = true
	}
	return any
}

// stripIncapable drops what the framework cannot receive: revocable
// resources without REVOCABLE_RESOURCES, refined reservations without
// RESERVATION_REFINEMENT, shared resources without SHARED_RESOURCES
// (Mesos's stripIncapableResources).
func stripIncapable(ag *agent, f *framework, take []amount) {
	for i, e := range ag.entries {
		if (e.revocable && !f.revocable) || (e.refined && !f.refinement) || (e.shared && !f.shared) {
			take[i] = amount{}
		}
	}
}

// meetsMin reports whether take reaches one of the minimum alternatives
// (Mesos's allocatable(): the framework's offer_filters for the role, else
// the master's --min_allocatable_resources).
func (a *Allocator) meetsMin(ag *agent, take []amount, f *framework, roleName string) bool {
	alts := a.minAllocatable
	if f.minAllocatable != nil {
		if m, ok := f.minAllocatable[roleName]; ok {
			alts = m
		}
	}
	var have quantity.Vec
	any := false
	for i, e := range ag.entries {
		t := take[i]
		if t.isEmpty(e.typ) {
			continue
		}
		any = true
		if e.dim >= 0 {
			have[e.dim] += t.scalar
		}
	}
	if !any {
		return false
	}
	if len(alts) == 0 {
		return true
	}
	for _, alt := range alts {
		ok := true
		for j, d := range alt.dims {
			if have[d] < alt.need[j] {
				ok = false
				break
			}
		}
		for j := 0; ok && j < len(alt.names); j++ {
			var n int64
			for i, e := range ag.entries {
				if e.name == alt.names[j] {
					n += countOf(e.typ, take[i])
				}
			}
			ok = n >= alt.nneed[j]
		}
		if ok {
			return true
		}
	}
	return false
}

// budget is a per-dimension cap; math.MaxInt64 means none.
func noBudget() quantity.Vec {
	var b quantity.Vec
	for i := range b {
		b[i] = math.MaxInt64
	}
	return b
}

// capBudget applies the role's limits and the quota headroom to b.
// extra is consumption to count beyond what the role holds.
func (a *Allocator) capBudget(b *quantity.Vec, q *quotaState, roleName string, extra *quantity.Vec, required *quantity.Vec) {
	if q != nil && q.anyLimit {
		c := a.usageOf(roleName).consumed()
		if extra != nil {
			c.Add(extra)
		}
		for d := range b {
			if q.hasLimit[d] {
				b[d] = min(b[d], max(q.limits[d]-c[d], 0))
			}
		}
	}
	if !required.IsZero() {
		for d := range b {
			b[d] = min(b[d], max(a.freeUnreserved[d]-required[d], 0))
		}
	}
}

// shrink cuts the unreserved non-revocable scalars of take down to budget
// b (indivisible resources go whole or not at all), reporting whether
// anything was cut.
func shrink(ag *agent, take []amount, b *quantity.Vec) bool {
	cut := false
	for i, e := range ag.entries {
		if !e.unreservedScalar() || take[i].scalar <= 0 {
			continue
		}
		t := min(take[i].scalar, b[e.dim])
		if e.indivisible && t < take[i].scalar {
			t = 0
		}
		if t != take[i].scalar {
			cut = true
			take[i] = amount{scalar: t}
		}
		b[e.dim] -= t
	}
	return cut
}

// chop applies stage-2 quota rules: unreserved scalars are cut to the
// role's limits and to the headroom surplus; reservations, non-scalars and
// revocable resources are offered whole.
func (a *Allocator) chop(ag *agent, q *quotaState, roleName string, extra *quantity.Vec, required *quantity.Vec, take []amount) bool {
	b := noBudget()
	a.capBudget(&b, q, roleName, extra, required)
	return shrink(ag, take, &b)
}

// chopStage1 applies stage-1 rules (Mesos's first stage): the role gets
// unreserved scalars towards its unsatisfied guarantees unconditionally,
// more up to its limits and the headroom surplus, plus its own
// reservations, non-scalars and revocable resources, but only if it makes
// progress towards its guarantees. It returns the guaranteed part.
func (a *Allocator) chopStage1(ag *agent, roleName string, q *quotaState, unsatisfied, required *quantity.Vec, take []amount) (quantity.Vec, bool) {
	var guaranteed quantity.Vec
	g := *unsatisfied
	extra := make([]int64, len(ag.entries))
	for i, e := range ag.entries {
		if e.unreservedScalar() {
			t := min(take[i].scalar, g[e.dim])
			if e.indivisible && t < take[i].scalar {
				t = 0
			}
			g[e.dim] -= t
			guaranteed[e.dim] += t
			extra[i] = take[i].scalar - t
			take[i] = amount{scalar: t}
		} else if e.resRole != "" && e.resRole != roleName {
			take[i] = amount{} // ancestors' reservations wait for stage 2
		}
	}
	if guaranteed.IsZero() {
		return guaranteed, false
	}
	b := noBudget()
	a.capBudget(&b, q, roleName, &guaranteed, required)
	for i, e := range ag.entries {
		if !e.unreservedScalar() || extra[i] <= 0 {
			continue
		}
		t := min(extra[i], b[e.dim])
		if e.indivisible {
			t = 0 // the guaranteed part already decided
		}
		b[e.dim] -= t
		take[i].scalar += t
	}
	return guaranteed, true
}

// allocateTo gives take to the slot: the resources move from available to
// the framework's holding, both sorters learn the new shares, and the
// decision is recorded for the end of the cycle. It returns the scalars
// allocated.
func (a *Allocator) allocateTo(ag *agent, f *framework, s *slot, take []amount, index map[[2]int32]int) quantity.Vec {
	var q, unres quantity.Vec
	roleName := s.role.name
	for i, t := range take {
		e := ag.entries[i]
		if t.isEmpty(e.typ) {
			continue
		}
		a.hold(ag, f, roleName, i, t)
		if e.dim >= 0 {
			q[e.dim] += t.scalar
			if e.unreservedScalar() {
				unres[e.dim] += t.scalar
			}
		}
	}
	a.account(f, roleName, &q, true)
	if i, ok := index[[2]int32{s.idx, ag.idx}]; ok {
		c := &a.cycle[i]
		for j, t := range take {
			c.take[j] = addAmount(ag.entries[j].typ, c.take[j], t)
		}
	} else {
		a.cycle = append(a.cycle, cycleAlloc{slot: s.idx, agent: ag.idx, take: append([]amount(nil), take...)})
	}
	return unres
}
