package hierarchical

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// Refused-offer filters (Mesos's RefusedOfferFilter), spec §1.10.
//
// A filter is keyed (framework, role, agent), i.e. (slot, agent), and holds
// the refused resources and an expiry. While it lives, an offer of
// candidate resources from the agent to the slot is withheld iff the
// candidate is a subset of the refused resources.
//
// Layout: each agent with filters has dense per-slot arrays, the refused
// set of the slot's filter there (an ID into the allocator's interned
// refused sets, 0 for none) and its expiry, plus a map for the rare slots
// holding more than one filter on the agent. Each slot keeps two bitsets
// over agents: "has" marks the agents it has filters on, "verified" those
// on which its filters were checked to cover what the agent offers now.
//
// Available resources only shrink between growth events, and a subset stays
// a subset when the candidate shrinks, so a verified bit stays true until
// the agent's available resources grow, the filter expires or is removed,
// or the framework's capabilities change. When an agent grows (tasks ended,
// an offer was declined), the next cycle checks its filters again in one
// pass over the agent's arrays (reverify): against the agent's whole
// available resources (a filter that covers them covers whatever part any
// framework would be offered), and once per distinct refused set on the
// agent rather than once per framework (frameworks that declined the same
// offer share one). A filter that does not cover everything stays
// unverified and is checked exactly when the cycle reaches its framework.
// A cycle skips every agent on which all eligible slots are verified, with
// one AND of bitsets per eligible slot.

const (
	defaultRefuse = 5 * time.Second      // Filters.refuse_seconds default
	maxRefuse     = 365 * 24 * time.Hour // Mesos caps filters at 365 days
)

// refuseTimeout validates refuse_seconds as Mesos does: 0 means no filter,
// negative or NaN the default 5 s, more than 365 days is capped.
func refuseTimeout(secs float64) time.Duration {
	switch {
	case math.IsNaN(secs) || secs < 0:
		return defaultRefuse
	case secs >= maxRefuse.Seconds():
		return maxRefuse
	}
	return time.Duration(secs * float64(time.Second))
}

// filterRef is one filter: its interned refused set and its expiry.
type filterRef struct {
	rs  uint32
	exp int64 // unix ns
}

// agentFilters are the filters on one agent, by slot.
type agentFilters struct {
	rs  []uint32 // by slot: refused set of the slot's filter; 0 = none
	exp []int64  // by slot: its expiry
	// extra holds further filters of slots that have more than one.
	extra     map[int32][]filterRef
	count     int // filters on the agent
	minExpiry int64
}

// refs returns the filters of slot si on the agent.
func (af *agentFilters) refs(si int32) []filterRef {
	if af == nil || int(si) >= len(af.rs) || af.rs[si] == 0 {
		return nil
	}
	return append([]filterRef{{af.rs[si], af.exp[si]}}, af.extra[si]...)
}

// slotFilters says which agents a slot has filters on, and on which of
// them they were verified to cover what the agent offers.
type slotFilters struct {
	has, verified bitset
	count         int // filters of the slot
}

// refusedSet is the resources a filter refused, by entry kind.
type refusedSet struct {
	parts []refPart
}

type refPart struct {
	key string
	typ mesospb.Value_Type
	amt amount
}

// refusedEntry is an interned refused set, shared by every filter that
// refused the same resources, with the memo of one subset test.
type refusedEntry struct {
	set  *refusedSet
	key  string
	refs int
	// memoGen and memo cache set.contains against the candidate of the
	// pass numbered memoGen (Allocator.memoGen).
	memoGen uint32
	memo    bool
}

func (rs *refusedSet) add(key string, typ mesospb.Value_Type, amt amount) {
	for i := range rs.parts {
		if rs.parts[i].key == key {
			rs.parts[i].amt = addAmount(typ, rs.parts[i].amt, amt)
			return
		}
	}
	rs.parts = append(rs.parts, refPart{key, typ, amt})
}

func (rs *refusedSet) canonical() string {
	slices.SortFunc(rs.parts, func(x, y refPart) int { return strings.Compare(x.key, y.key) })
	var b strings.Builder
	for _, p := range rs.parts {
		fmt.Fprintf(&b, "%q=%d%v%q;", p.key, p.amt.scalar, p.amt.ranges, p.amt.items)
	}
	return b.String()
}

// contains reports whether rs holds every resource the candidate has.
func (rs *refusedSet) contains(ag *agent, take []amount) bool {
	for i, e := range ag.entries {
		t := take[i]
		if t.isEmpty(e.typ) {
			continue
		}
		found := false
		for _, p := range rs.parts {
			if p.key == e.key {
				found = containsAmount(e.typ, p.amt, t)
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// containsSet reports whether rs holds all of o.
func (rs *refusedSet) containsSet(o *refusedSet) bool {
	for _, q := range o.parts {
		found := false
		for _, p := range rs.parts {
			if p.key == q.key {
				found = containsAmount(q.typ, p.amt, q.amt)
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// internRefused returns the ID of rs, interned, with one more reference.
func (a *Allocator) internRefused(rs *refusedSet) uint32 {
	key := rs.canonical()
	if id, ok := a.refusedIndex[key]; ok {
		a.refused[id].refs++
		return id
	}
	var id uint32
	if n := len(a.freeRefused); n > 0 {
		id = a.freeRefused[n-1]
		a.freeRefused = a.freeRefused[:n-1]
	} else {
		id = uint32(len(a.refused))
		a.refused = append(a.refused, refusedEntry{})
	}
	a.refused[id] = refusedEntry{set: rs, key: key, refs: 1}
	a.refusedIndex[key] = id
	return id
}

func (a *Allocator) unrefRefused(id uint32) {
	re := &a.refused[id]
	re.refs--
	if re.refs == 0 {
		delete(a.refusedIndex, re.key)
		*re = refusedEntry{}
		a.freeRefused = append(a.freeRefused, id)
	}
}

// addFilter installs a filter for (slot, agent). A filter that an existing
// one dominates (refuses at least as much for at least as long) is not
// added; existing ones the new filter dominates are replaced.
func (a *Allocator) addFilter(s *slot, ai int32, expiry int64, rs *refusedSet) {
	a.addFilterRef(s, ai, filterRef{a.internRefused(rs), expiry})
}

// addFilterRef installs f, whose reference to its refused set it takes.
func (a *Allocator) addFilterRef(s *slot, ai int32, f filterRef) {
	ag := a.agents[ai]
	si := s.idx
	af := ag.filters
	if af == nil {
		af = &agentFilters{minExpiry: math.MaxInt64}
		ag.filters = af
		a.filterAgents[ai] = struct{}{}
	}
	sf := s.filters
	if sf == nil {
		sf = &slotFilters{}
		s.filters = sf
		a.filterSlots[si] = struct{}{}
	}
	if n := int(si) + 1; len(af.rs) < n {
		af.rs = append(af.rs, make([]uint32, n-len(af.rs))...)
		af.exp = append(af.exp, make([]int64, n-len(af.exp))...)
	}
	nf := a.refused[f.rs].set
	if af.rs[si] != 0 {
		kept := make([]filterRef, 0, 2)
		for _, o := range af.refs(si) {
			os := a.refused[o.rs].set
			if o.exp >= f.exp && os.containsSet(nf) {
				a.unrefRefused(f.rs) // dominated: nothing to add
				return
			}
			if f.exp >= o.exp && nf.containsSet(os) {
				a.unrefRefused(o.rs)
				af.count--
				sf.count--
				continue
			}
			kept = append(kept, o)
		}
		kept = append(kept, f)
		af.rs[si], af.exp[si] = kept[0].rs, kept[0].exp
		if len(kept) > 1 {
			if af.extra == nil {
				af.extra = make(map[int32][]filterRef)
			}
			af.extra[si] = kept[1:]
		} else if af.extra != nil {
			delete(af.extra, si)
		}
	} else {
		af.rs[si], af.exp[si] = f.rs, f.exp
	}
	af.count++
	sf.count++
	sf.has.set(ai)
	// The new filter has not been checked against the agent yet.
	sf.verified.clear(ai)
	af.minExpiry = min(af.minExpiry, f.exp)
	a.nextExpiry = min(a.nextExpiry, f.exp)
}

// dropAt removes every filter of the slot on the agent.
func (a *Allocator) dropAt(s *slot, ai int32) {
	ag := a.agents[ai]
	af := ag.filters
	si := s.idx
	refs := af.refs(si)
	if len(refs) == 0 {
		return
	}
	for _, f := range refs {
		a.unrefRefused(f.rs)
	}
	af.count -= len(refs)
	af.rs[si], af.exp[si] = 0, 0
	if len(refs) > 1 {
		delete(af.extra, si)
	}
	if af.count == 0 {
		ag.filters = nil
		delete(a.filterAgents, ai)
	}
	sf := s.filters
	sf.count -= len(refs)
	sf.has.clear(ai)
	sf.verified.clear(ai)
	if sf.count == 0 {
		s.filters = nil
		delete(a.filterSlots, si)
	}
}

// clearSlotFilters removes every filter of a slot (REVIVE, role left,
// framework deactivated or removed).
func (a *Allocator) clearSlotFilters(s *slot) {
	sf := s.filters
	if sf == nil {
		return
	}
	for _, ai := range sf.agents() {
		a.dropAt(s, ai)
	}
}

// agents lists the agents the slot has filters on.
func (sf *slotFilters) agents() []int32 {
	var out []int32
	sf.has.each(func(ai int32) { out = append(out, ai) })
	return out
}

// dropAgentFilters removes every filter for an agent (agent removed).
func (a *Allocator) dropAgentFilters(ai int32) {
	if af := a.agents[ai].filters; af != nil {
		for si, id := range af.rs {
			if id != 0 {
				a.dropAt(a.slots[si], ai)
			}
		}
	}
}

// prepareFilters runs at the start of a cycle: expired filters are dropped
// and agents whose resources grew have their filters checked again.
func (a *Allocator) prepareFilters(now int64) {
	if now >= a.nextExpiry {
		a.nextExpiry = math.MaxInt64
		for ai := range a.filterAgents {
			ag := a.agents[ai]
			if now >= ag.filters.minExpiry {
				if a.expireAgent(ag, now) {
					a.markGrown(ag) // live filters there must be checked again
				}
			}
			if ag.filters != nil {
				a.nextExpiry = min(a.nextExpiry, ag.filters.minExpiry)
			}
		}
	}
	if len(a.grown) > 0 {
		a.reverifyGrown()
	}
}

// expireAgent drops the agent's filters that expired at now, recomputes its
// earliest expiry and reports whether a slot kept live filters beside an
// expired one (their verified bit was cleared).
func (a *Allocator) expireAgent(ag *agent, now int64) bool {
	af := ag.filters
	af.minExpiry = math.MaxInt64
	recheck := false
	for i, id := range af.rs {
		if id == 0 {
			continue
		}
		si := int32(i)
		var extra []filterRef
		if af.extra != nil {
			extra = af.extra[si]
		}
		if af.exp[si] > now && len(extra) == 0 { // the common case, without allocating
			af.minExpiry = min(af.minExpiry, af.exp[si])
			continue
		}
		refs := af.refs(si)
		live := refs[:0:0]
		for _, f := range refs {
			if f.exp > now {
				live = append(live, f)
				af.minExpiry = min(af.minExpiry, f.exp)
			} else {
				a.unrefRefused(f.rs)
			}
		}
		gone := len(refs) - len(live)
		if gone == 0 {
			continue
		}
		s := a.slots[si]
		af.count -= gone
		s.filters.count -= gone
		s.filters.verified.clear(ag.idx)
		if len(refs) > 1 {
			delete(af.extra, si)
		}
		if len(live) == 0 {
			af.rs[si], af.exp[si] = 0, 0
			s.filters.has.clear(ag.idx)
			if s.filters.count == 0 {
				s.filters = nil
				delete(a.filterSlots, si)
			}
			continue
		}
		recheck = true
		af.rs[si], af.exp[si] = live[0].rs, live[0].exp
		if len(live) > 1 {
			af.extra[si] = live[1:]
		}
	}
	if af.count == 0 {
		ag.filters = nil
		delete(a.filterAgents, ag.idx)
	}
	return recheck
}

// reverifyGrown checks the filters of the agents that grew against
// everything each has available now: the verified bit of each slot whose
// filters cover it is set, the others cleared. The subset test runs once
// per distinct refused set on an agent. Agents are taken 64 at a time (one
// word of the slots' bitsets), their bits gathered per slot in scratch
// words and each slot's word written once: the slots' bitsets are far
// apart in memory, the scratch words are not.
func (a *Allocator) reverifyGrown() {
	slices.Sort(a.grown)
	if len(a.verAcc) < len(a.slots) {
		a.verAcc = make([]uint64, len(a.slots))
		a.verMask = make([]uint64, len(a.slots))
	}
	acc, mask := a.verAcc, a.verMask
	touched := a.verTouched[:0]
	flush := func(w int) {
		for _, si := range touched {
			v := &a.slots[si].filters.verified
			for len(*v) <= w {
				*v = append(*v, 0)
			}
			(*v)[w] = (*v)[w]&^mask[si] | acc[si]
			acc[si], mask[si] = 0, 0
		}
		touched = touched[:0]
	}
	word := -1
	for _, ai := range a.grown {
		ag := a.agents[ai]
		if ag == nil {
			continue
		}
		ag.grown = false
		af := ag.filters
		if af == nil {
			continue
		}
		if w := int(ai >> 6); w != word {
			flush(word)
			word = w
		}
		take := a.takeBuf(ag)
		for i, e := range ag.entries {
			take[i] = e.availAmount()
		}
		a.memoGen++
		if a.memoGen == 0 { // wrapped: forget every memo
			for i := range a.refused {
				a.refused[i].memoGen = 0
			}
			a.memoGen = 1
		}
		bit := uint64(1) << (uint(ai) & 63)
		gen, refused := a.memoGen, a.refused
		// The hot loop (an agent x every framework that declined it):
		// covers inlined, the extra filters looked up only if any.
		for si, id := range af.rs {
			if id == 0 {
				continue
			}
			re := &refused[id]
			if re.memoGen != gen {
				re.memo, re.memoGen = re.set.contains(ag, take), gen
			}
			match := re.memo
			if !match && af.extra != nil {
				for _, f := range af.extra[int32(si)] {
					if match = a.covers(f.rs, ag, take); match {
						break
					}
				}
			}
			m := mask[si]
			if m == 0 {
				touched = append(touched, int32(si))
			}
			mask[si] = m | bit
			if match {
				acc[si] |= bit
			}
		}
	}
	flush(word)
	a.verTouched = touched
	a.grown = a.grown[:0]
}

// covers is refused set id's contains(ag, take), memoised for the pass.
func (a *Allocator) covers(id uint32, ag *agent, take []amount) bool {
	re := &a.refused[id]
	if re.memoGen != a.memoGen {
		re.memo, re.memoGen = re.set.contains(ag, take), a.memoGen
	}
	return re.memo
}

// filtered reports whether a live filter of (slot, agent) covers the
// candidate take, checking exactly; a match is remembered in the verified
// bit when remember is set (the candidate was not shrunk by quota).
func (a *Allocator) filtered(s *slot, ag *agent, take []amount, remember bool) bool {
	af := ag.filters
	si := s.idx
	if af == nil || int(si) >= len(af.rs) || af.rs[si] == 0 {
		return false
	}
	if s.filters.verified.has(ag.idx) {
		return true
	}
	match := a.refused[af.rs[si]].set.contains(ag, take)
	for _, f := range af.extra[si] {
		if match {
			break
		}
		match = a.refused[f.rs].set.contains(ag, take)
	}
	if match && remember {
		a.slots[si].filters.verified.set(ag.idx)
	}
	return match
}

// filteredAt is filtered for Explain: read-only, exact, and blind to
// filters expired at nowNs (which Allocate's prepareFilters drops before
// it checks). It returns the latest expiry among the matching filters.
func (a *Allocator) filteredAt(s *slot, ag *agent, take []amount, nowNs int64) (int64, bool) {
	var until int64
	match := false
	for _, f := range ag.filters.refs(s.idx) {
		if f.exp <= nowNs {
			continue
		}
		if a.refused[f.rs].set.contains(ag, take) {
			match = true
			until = max(until, f.exp)
		}
	}
	return until, match
}
