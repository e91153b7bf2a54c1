package hierarchical

import (
	"strings"
	"time"

	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/quantity"
	"github.com/meso-project/meso/internal/allocator/sorter"
)

var _ allocator.MetricsReporter = (*Allocator)(nil)

// Metrics reports the allocator's gauges by Mesos name (see
// allocator.MetricsReporter), computed on demand as Mesos's pull gauges
// are: nothing is kept up to date for them between calls.
//
//   - resources/<r>/total is the sum of the agents' totals and
//     resources/<r>/offered_or_allocated what is offered or in use, for
//     cpus, mem and disk (Mesos's _resources_total and
//     _resources_offered_or_allocated).
//   - roles/<role>/shares/dominant is each role-sorter client's DRF share
//     (0 with the random sorter, which has no shares).
//   - offer_filters/roles/<role>/active counts the unexpired refused-offer
//     filters of the role's frameworks, one per (framework, agent) filter
//     (_offer_filters_active); ancestors of tracked roles are reported
//     too, as Mesos's role tree has a node for them.
//   - quota/roles/<role>/resources/<r>/guarantee and /limit are the quota
//     set; /offered_or_allocated is what the role holds, for the names its
//     quota lists; /consumed is what counts against it (reservations plus
//     unreserved allocations), for the names with a non-zero amount.
func (a *Allocator) Metrics(now time.Time) map[string]float64 {
	out := make(map[string]float64, 8+4*len(a.roles))
	for _, name := range []string{"cpus", "mem", "disk"} {
		var total, used float64
		if d := a.dims.Lookup(name); d >= 0 {
			total = quantity.ToFloat(a.pool.Total[d])
			used = quantity.ToFloat(a.offeredOrAllocated(d))
		}
		out["allocator/mesos/resources/"+name+"/total"] = total
		out["allocator/mesos/resources/"+name+"/offered_or_allocated"] = used
	}

	nowNs := now.UnixNano()
	filters := make(map[string]int, len(a.roles))
	for si := range a.filterSlots {
		s := a.slots[si]
		if s == nil || s.filters == nil {
			continue
		}
		filters[s.role.name] += a.activeFilters(s, nowNs)
	}
	for name := range a.roles {
		out["allocator/mesos/roles/"+name+"/shares/dominant"] = a.DominantShare(name)
		out["allocator/mesos/offer_filters/roles/"+name+"/active"] = float64(filters[name])
		for p := name; strings.IndexByte(p, '/') >= 0; {
			p = p[:strings.LastIndexByte(p, '/')]
			if _, ok := a.roles[p]; !ok {
				out["allocator/mesos/offer_filters/roles/"+p+"/active"] = 0
			}
		}
	}

	for role, q := range a.quotas {
		prefix := "allocator/mesos/quota/roles/" + role + "/resources/"
		var held quantity.Vec
		if r := a.roles[role]; r != nil {
			if t, ok := a.roleSorter.(*sorter.Tree); ok {
				held = t.Allocation(int(r.idx))
			}
		}
		for d := 0; d < a.dims.Len(); d++ {
			name := a.dims.Name(d)
			listed := false
			if q.guarantees[d] > 0 {
				out[prefix+name+"/guarantee"] = quantity.ToFloat(q.guarantees[d])
				listed = true
			}
			if q.hasLimit[d] {
				out[prefix+name+"/limit"] = quantity.ToFloat(q.limits[d])
				listed = true
			}
			if listed {
				out[prefix+name+"/offered_or_allocated"] = quantity.ToFloat(held[d])
			}
		}
	}
	for role, u := range a.usage {
		c := u.consumed()
		for d := 0; d < a.dims.Len(); d++ {
			if c[d] > 0 {
				out["allocator/mesos/quota/roles/"+role+"/resources/"+a.dims.Name(d)+"/consumed"] = quantity.ToFloat(c[d])
			}
		}
	}
	return out
}

// offeredOrAllocated sums what the agents' entries of scalar dimension d
// have handed out.
func (a *Allocator) offeredOrAllocated(d int) int64 {
	var sum int64
	for _, ag := range a.agents {
		if ag == nil {
			continue
		}
		for _, e := range ag.entries {
			if e.dim == d {
				sum += e.total - e.avail
			}
		}
	}
	return sum
}

// activeFilters counts the slot's filters that have not expired at nowNs.
func (a *Allocator) activeFilters(s *slot, nowNs int64) int {
	n := 0
	s.filters.has.each(func(ai int32) {
		for _, f := range a.agents[ai].filters.refs(s.idx) {
			if f.exp > nowNs {
				n++
			}
		}
	})
	return n
}
