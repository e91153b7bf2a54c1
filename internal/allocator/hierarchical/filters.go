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
// Layout: per slot, dense per-agent arrays. kind[agent] names a shared
// (expiry, refused resources) record, so the millions of filters of a
// cluster where every framework declined every agent cost four bytes each;
// "has" marks agents with a filter, "verified" agents on which the filter was
// checked to match the agent's current candidate. Available resources only
// shrink between growth events, and a subset stays a subset when the
// candidate shrinks, so a verified bit stays true until the agent's
// available resources grow (the cycle then clears the agent's bits and the
// next visit re-checks exactly), the filter expires or is removed, or the
// framework's capabilities change. A cycle skips every agent on which all
// eligible slots are verified, with one AND of bitsets per eligible slot.

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

type slotFilters struct {
	has, verified bitset
	kind          []uint32 // by agent; 0 = none
	// extra holds further filters of agents that have more than one.
	extra     map[int32][]uint32
	minExpiry int64
	count     int
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

// contains reports whether rs holds all of o.
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

type filterKind struct {
	key     string
	expiry  int64
	refused *refusedSet
	refs    int
}

func (a *Allocator) internKind(expiry int64, rs *refusedSet) uint32 {
	key := fmt.Sprintf("%d|%s", expiry, rs.canonical())
	if k, ok := a.kindIndex[key]; ok {
		a.kinds[k].refs++
		return k
	}
	var k uint32
	if n := len(a.freeKinds); n > 0 {
		k = a.freeKinds[n-1]
		a.freeKinds = a.freeKinds[:n-1]
	} else {
		k = uint32(len(a.kinds))
		a.kinds = append(a.kinds, filterKind{})
	}
	a.kinds[k] = filterKind{key: key, expiry: expiry, refused: rs, refs: 1}
	a.kindIndex[key] = k
	return k
}

func (a *Allocator) unrefKind(k uint32) {
	fk := &a.kinds[k]
	fk.refs--
	if fk.refs == 0 {
		delete(a.kindIndex, fk.key)
		*fk = filterKind{}
		a.freeKinds = append(a.freeKinds, k)
	}
}

// addFilter installs a filter for (slot, agent). A filter that an existing
// one dominates (refuses at least as much for at least as long) is not
// added; existing ones the new filter dominates are replaced.
func (a *Allocator) addFilter(s *slot, ai int32, expiry int64, rs *refusedSet) {
	k := a.internKind(expiry, rs)
	a.addFilterKind(s, ai, k)
}

func (a *Allocator) addFilterKind(s *slot, ai int32, k uint32) {
	sf := s.filters
	if sf == nil {
		sf = &slotFilters{minExpiry: math.MaxInt64}
		s.filters = sf
		a.filterSlots[s.idx] = struct{}{}
	}
	for len(sf.kind) <= int(ai) {
		sf.kind = append(sf.kind, 0)
	}
	nk := &a.kinds[k]
	if old := sf.kind[ai]; old != 0 {
		kinds := append([]uint32{old}, sf.extra[ai]...)
		kept := kinds[:0]
		for _, ok := range kinds {
			o := &a.kinds[ok]
			if o.expiry >= nk.expiry && o.refused.containsSet(nk.refused) {
				a.unrefKind(k) // dominated: nothing to add
				return
			}
			if nk.expiry >= o.expiry && nk.refused.containsSet(o.refused) {
				a.unrefKind(ok)
				sf.count--
				continue
			}
			kept = append(kept, ok)
		}
		kept = append(kept, k)
		sf.kind[ai] = kept[0]
		if len(kept) > 1 {
			if sf.extra == nil {
				sf.extra = make(map[int32][]uint32)
			}
			sf.extra[ai] = slices.Clone(kept[1:])
		} else if sf.extra != nil {
			delete(sf.extra, ai)
		}
	} else {
		sf.kind[ai] = k
	}
	sf.count++
	sf.has.set(ai)
	// The new filter has not been checked against the agent yet.
	sf.verified.clear(ai)
	sf.minExpiry = min(sf.minExpiry, nk.expiry)
	a.nextExpiry = min(a.nextExpiry, nk.expiry)
}

// filterKinds calls f for each filter kind on (slot, agent).
func (sf *slotFilters) kindsAt(ai int32) (uint32, []uint32) {
	if int(ai) >= len(sf.kind) {
		return 0, nil
	}
	return sf.kind[ai], sf.extra[ai]
}

// dropAt removes every filter of the slot on the agent.
func (a *Allocator) dropAt(s *slot, ai int32) {
	sf := s.filters
	k, extra := sf.kindsAt(ai)
	if k == 0 {
		return
	}
	a.unrefKind(k)
	sf.count--
	for _, x := range extra {
		a.unrefKind(x)
		sf.count--
	}
	if extra != nil {
		delete(sf.extra, ai)
	}
	sf.kind[ai] = 0
	sf.has.clear(ai)
	sf.verified.clear(ai)
	if sf.count == 0 {
		a.clearSlotFilters(s)
	}
}

// clearSlotFilters removes every filter of a slot (REVIVE, role left,
// framework deactivated or removed).
func (a *Allocator) clearSlotFilters(s *slot) {
	sf := s.filters
	if sf == nil {
		return
	}
	s.filters = nil
	delete(a.filterSlots, s.idx)
	sf.has.each(func(ai int32) {
		a.unrefKind(sf.kind[ai])
		for _, x := range sf.extra[ai] {
			a.unrefKind(x)
		}
	})
}

// dropAgentFilters removes every filter for an agent (agent removed).
func (a *Allocator) dropAgentFilters(ai int32) {
	for si := range a.filterSlots {
		s := a.slots[si]
		if s.filters.has.has(ai) {
			a.dropAt(s, ai)
		}
	}
}

// prepareFilters runs at the start of a cycle: agents whose resources grew
// lose their verified bits, and expired filters are dropped.
func (a *Allocator) prepareFilters(now int64) {
	if len(a.grown) > 0 {
		for si := range a.filterSlots {
			v := a.slots[si].filters.verified
			for _, ai := range a.grown {
				v.clear(ai)
			}
		}
		for _, ai := range a.grown {
			if ag := a.agents[ai]; ag != nil {
				ag.grown = false
			}
		}
		a.grown = a.grown[:0]
	}
	if now < a.nextExpiry {
		return
	}
	a.nextExpiry = math.MaxInt64
	for si := range a.filterSlots {
		s := a.slots[si]
		sf := s.filters
		if now >= sf.minExpiry {
			sf.minExpiry = math.MaxInt64
			var expired []int32
			sf.has.each(func(ai int32) {
				k, extra := sf.kindsAt(ai)
				for _, x := range append([]uint32{k}, extra...) {
					if e := a.kinds[x].expiry; e > now {
						sf.minExpiry = min(sf.minExpiry, e)
					} else {
						expired = append(expired, ai)
						break
					}
				}
			})
			for _, ai := range expired {
				a.expireAt(s, ai, now)
			}
			if s.filters == nil {
				continue
			}
		}
		a.nextExpiry = min(a.nextExpiry, s.filters.minExpiry)
	}
}

// expireAt drops the expired filters of (slot, agent), keeping live ones
// (which must be re-verified).
func (a *Allocator) expireAt(s *slot, ai int32, now int64) {
	sf := s.filters
	k, extra := sf.kindsAt(ai)
	var live []uint32
	for _, x := range append([]uint32{k}, extra...) {
		if a.kinds[x].expiry > now {
			live = append(live, x)
			a.kinds[x].refs++ // dropAt releases one reference each
		}
	}
	a.dropAt(s, ai)
	for _, x := range live {
		if s.filters == nil {
			s.filters = &slotFilters{minExpiry: math.MaxInt64}
			a.filterSlots[s.idx] = struct{}{}
		}
		a.addFilterKind(s, ai, x)
	}
}

// filtered reports whether a live filter of (slot, agent) covers the
// candidate take, checking exactly; a match is remembered in the verified
// bit when remember is set (the candidate was not shrunk by quota).
func (a *Allocator) filtered(s *slot, ag *agent, take []amount, remember bool) bool {
	sf := s.filters
	if sf == nil || !sf.has.has(ag.idx) {
		return false
	}
	if sf.verified.has(ag.idx) {
		return true
	}
	k, extra := sf.kindsAt(ag.idx)
	match := a.kinds[k].refused.contains(ag, take)
	for _, x := range extra {
		if match {
			break
		}
		match = a.kinds[x].refused.contains(ag, take)
	}
	if match && remember {
		sf.verified.set(ag.idx)
	}
	return match
}

// filteredAt is filtered for Explain: read-only, exact, and blind to
// filters expired at nowNs (which Allocate's prepareFilters drops before
// it checks). It returns the latest expiry among the matching filters.
func (a *Allocator) filteredAt(s *slot, ag *agent, take []amount, nowNs int64) (int64, bool) {
	sf := s.filters
	if sf == nil || !sf.has.has(ag.idx) {
		return 0, false
	}
	k, extra := sf.kindsAt(ag.idx)
	var until int64
	match := false
	for _, x := range append([]uint32{k}, extra...) {
		fk := &a.kinds[x]
		if x == 0 || fk.expiry <= nowNs {
			continue
		}
		if fk.refused.contains(ag, take) {
			match = true
			until = max(until, fk.expiry)
		}
	}
	return until, match
}
