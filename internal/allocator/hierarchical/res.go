package hierarchical

import (
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator/sorter"
	"github.com/meso-project/meso/pkg/resources"
)

// Small resource helpers on top of pkg/resources that only the allocator
// needs.

// allocatableTo returns the resources a role may be offered: unreserved ones
// and those reserved to the role or one of its ancestors (Mesos's
// Resources::allocatableTo). Input is in unallocated form.
func allocatableTo(rs resources.Resources, role string) resources.Resources {
	return rs.Filter(func(r *mesospb.Resource) bool {
		if !resources.IsReserved(r) {
			return true
		}
		owner := resources.ReservationRole(r)
		return owner == role || strings.HasPrefix(role, owner+"/")
	})
}

// stripIncapable drops resources the framework cannot receive: revocable ones
// without REVOCABLE_RESOURCES, refined reservations without
// RESERVATION_REFINEMENT, shared ones without SHARED_RESOURCES (Mesos's
// stripIncapableResources).
func stripIncapable(rs resources.Resources, fw *framework) resources.Resources {
	if fw.revocable && fw.refinement && fw.shared {
		return rs
	}
	return rs.Filter(func(r *mesospb.Resource) bool {
		return (fw.revocable || r.Revocable == nil) &&
			(fw.refinement || !resources.IsRefined(r)) &&
			(fw.shared || r.Shared == nil)
	})
}

// byAllocationRole splits allocated resources by their AllocationInfo role.
func byAllocationRole(rs resources.Resources) map[string]resources.Resources {
	out := make(map[string]resources.Resources, 1)
	for _, r := range rs {
		if r == nil {
			continue
		}
		role := r.GetAllocationInfo().GetRole()
		out[role] = append(out[role], r)
	}
	return out
}

// scalarQuantities sums the scalar resources by name: what the sorters see.
func scalarQuantities(rs resources.Resources) sorter.Quantities {
	q := make(sorter.Quantities, 4)
	for _, r := range rs {
		if r.GetType() == mesospb.Value_SCALAR {
			if v := r.GetScalar().GetValue(); v > 0 {
				q[r.GetName()] += v
			}
		}
	}
	return q
}

// meetsMinimum reports whether rs reaches at least one of the alternative
// minimum quantities (Mesos's allocatable(): Resources::contains of any
// ResourceQuantities). Ranges and sets count by element. An empty list of
// alternatives, or an empty alternative, accepts any non-empty resources.
func meetsMinimum(rs resources.Resources, alternatives []map[string]float64) bool {
	if rs.Empty() {
		return false
	}
	if len(alternatives) == 0 {
		return true
	}
	var have map[string]float64
	for _, alt := range alternatives {
		if len(alt) == 0 {
			return true
		}
		if have == nil {
			have = rs.Quantities()
		}
		ok := true
		for name, min := range alt {
			if have[name] < min-1e-9 {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// allocateMissing gives resources without AllocationInfo the role role, so
// that accounting works for callers that forgot to set it.
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
