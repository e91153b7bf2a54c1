package resources

import (
	"slices"

	"github.com/meso-project/meso/api/v1/mesospb"
	"google.golang.org/protobuf/proto"
)

// Resources is a list of resources. Values returned by this package are
// normalised (see the package comment); any slice is accepted as input.
type Resources []*mesospb.Resource

func clone(r *mesospb.Resource) *mesospb.Resource {
	return proto.Clone(r).(*mesospb.Resource)
}

// canonical returns a normalised copy of r: a new Resource holding its own
// value (scalar rounded, ranges coalesced, set items unique) and sharing
// r's other sub-messages (role, reservations, disk...), which this package
// never edits in place. Sums build one per kind, so this is what summing
// many resources costs; a deep copy (proto.Clone) was most of it.
// Every field of mesospb.Resource must be copied
// (TestCanonicalCopiesEveryField).
func canonical(r *mesospb.Resource) *mesospb.Resource {
	c := shallow(r)
	c.Scalar, c.Ranges, c.Set = nil, nil, nil
	// The value is the copy's own, normalised.
	switch {
	case r.GetType() == mesospb.Value_SCALAR && r.Scalar != nil:
		c.Scalar = &mesospb.Value_Scalar{Value: proto.Float64(Round(r.Scalar.GetValue()))}
	case r.Scalar != nil:
		c.Scalar = proto.CloneOf(r.Scalar)
	}
	switch {
	case r.GetType() == mesospb.Value_RANGES && r.Ranges != nil:
		c.Ranges = toRanges(intervals(r.Ranges))
	case r.Ranges != nil:
		c.Ranges = proto.CloneOf(r.Ranges)
	}
	switch {
	case r.GetType() == mesospb.Value_SET && r.Set != nil:
		c.Set = &mesospb.Value_Set{Item: uniqueItems(r.Set.Item)}
	case r.Set != nil:
		c.Set = proto.CloneOf(r.Set)
	}
	return c
}

// shallow returns a new Resource sharing every field of r (and a copy of
// its unknown fields): a copy whose fields may be set without touching r,
// as long as no sub-message is edited in place, which this package never
// does. Every field of mesospb.Resource must be copied
// (TestCanonicalCopiesEveryField).
func shallow(r *mesospb.Resource) *mesospb.Resource {
	c := &mesospb.Resource{
		ProviderId:     r.ProviderId,
		Name:           r.Name,
		Type:           r.Type,
		Scalar:         r.Scalar,
		Ranges:         r.Ranges,
		Set:            r.Set,
		Role:           r.Role,
		AllocationInfo: r.AllocationInfo,
		Reservation:    r.Reservation,
		// Clipped: an append to the copy's list must not write into r's.
		Reservations: slices.Clip(r.Reservations),
		Disk:         r.Disk,
		Revocable:    r.Revocable,
		Shared:       r.Shared,
	}
	if u := r.ProtoReflect().GetUnknown(); len(u) > 0 {
		c.ProtoReflect().SetUnknown(slices.Clone(u))
	}
	return c
}

// isEmpty reports whether r carries no quantity (Mesos drops such resources).
func isEmpty(r *mesospb.Resource) bool {
	switch r.GetType() {
	case mesospb.Value_SCALAR:
		return !(Round(r.GetScalar().GetValue()) > 0)
	case mesospb.Value_RANGES:
		return len(intervals(r.GetRanges())) == 0
	case mesospb.Value_SET:
		return len(r.GetSet().GetItem()) == 0
	}
	return false
}

// indivisible reports whether r can only be handled whole: shared resources,
// persistent volumes and MOUNT/BLOCK/RAW disks (Mesos refuses to merge or
// split them).
func indivisible(r *mesospb.Resource) bool {
	if r.Shared != nil {
		return true
	}
	d := r.GetDisk()
	if d == nil {
		return false
	}
	if d.Persistence != nil {
		return true
	}
	switch d.GetSource().GetType() {
	case mesospb.Resource_DiskInfo_Source_MOUNT, mesospb.Resource_DiskInfo_Source_BLOCK, mesospb.Resource_DiskInfo_Source_RAW:
		return true
	}
	return false
}

// sameKind reports whether a and b differ at most in their values: Mesos's
// addable/subtractable test for divisible resources.
func sameKind(a, b *mesospb.Resource) bool {
	if a.GetName() != b.GetName() || a.GetType() != b.GetType() {
		return false
	}
	if (a.Shared != nil) != (b.Shared != nil) || (a.Revocable != nil) != (b.Revocable != nil) {
		return false
	}
	if !same(a.AllocationInfo, b.AllocationInfo) ||
		!same(a.Disk, b.Disk) || !same(a.ProviderId, b.ProviderId) {
		return false
	}
	if len(a.Reservations) != len(b.Reservations) {
		return false
	}
	for i := range a.Reservations {
		if !same(a.Reservations[i], b.Reservations[i]) {
			return false
		}
	}
	// Pre-refinement fields, so that uniformly pre-refinement input still
	// merges correctly.
	return a.GetRole() == b.GetRole() && same(a.Reservation, b.Reservation)
}

// same is proto.Equal(a, b), answered at once when both are the same
// message (or both nil): resources summed by the thousand share these
// (a master interns its tasks' resources; canonical copies share them
// with their originals), and proto.Equal, which reads both through
// reflection, was most of a sum's time.
func same[M interface {
	*T
	proto.Message
}, T any](a, b M) bool {
	return a == b || proto.Equal(a, b)
}

// sameValue reports whether a and b (of the same type) carry equal values.
func sameValue(a, b *mesospb.Resource) bool {
	switch a.GetType() {
	case mesospb.Value_SCALAR:
		return Round(a.GetScalar().GetValue()) == Round(b.GetScalar().GetValue())
	case mesospb.Value_RANGES:
		x, y := intervals(a.GetRanges()), intervals(b.GetRanges())
		return containsIntervals(x, y) && containsIntervals(y, x)
	case mesospb.Value_SET:
		x, y := a.GetSet().GetItem(), b.GetSet().GetItem()
		return containsItems(x, y) && containsItems(y, x)
	}
	return proto.Equal(a, b)
}

func identical(a, b *mesospb.Resource) bool { return sameKind(a, b) && sameValue(a, b) }

// mergeInto adds b to a, resources of the same kind, in place: a is the
// caller's own copy (made by canonical), so a sum of many resources clones
// each kind once rather than once per addition.
func mergeInto(a, b *mesospb.Resource) {
	out := a
	switch a.GetType() {
	case mesospb.Value_SCALAR:
		setScalar(out, addScalar(a.GetScalar().GetValue(), b.GetScalar().GetValue()))
	case mesospb.Value_RANGES:
		out.Ranges = toRanges(unionIntervals(intervals(a.GetRanges()), intervals(b.GetRanges())))
	case mesospb.Value_SET:
		out.Set = &mesospb.Value_Set{Item: uniqueItems(a.GetSet().GetItem(), b.GetSet().GetItem())}
	}
}

// setScalar sets the value of a, a canonical copy (whose Scalar is its
// own: canonical), in place: a sum of thousands of tasks' resources made
// two objects per task otherwise.
func setScalar(a *mesospb.Resource, v float64) {
	if a.Scalar == nil || a.Scalar.Value == nil {
		a.Scalar = &mesospb.Value_Scalar{Value: proto.Float64(v)}
		return
	}
	*a.Scalar.Value = v
}

// subtractFrom takes b from a, resources of the same kind, in place (a is the
// caller's own copy, as for mergeInto).
func subtractFrom(a, b *mesospb.Resource) {
	out := a
	switch a.GetType() {
	case mesospb.Value_SCALAR:
		setScalar(out, subScalar(a.GetScalar().GetValue(), b.GetScalar().GetValue()))
	case mesospb.Value_RANGES:
		out.Ranges = toRanges(subtractIntervals(intervals(a.GetRanges()), intervals(b.GetRanges())))
	case mesospb.Value_SET:
		out.Set = &mesospb.Value_Set{Item: subtractItems(a.GetSet().GetItem(), b.GetSet().GetItem())}
	}
}

// contains reports whether a holds at least b.
func contains(a, b *mesospb.Resource) bool {
	if !sameKind(a, b) {
		return false
	}
	if indivisible(a) {
		return sameValue(a, b)
	}
	switch a.GetType() {
	case mesospb.Value_SCALAR:
		return Round(b.GetScalar().GetValue()) <= Round(a.GetScalar().GetValue())
	case mesospb.Value_RANGES:
		return containsIntervals(intervals(a.GetRanges()), intervals(b.GetRanges()))
	case mesospb.Value_SET:
		return containsItems(a.GetSet().GetItem(), b.GetSet().GetItem())
	}
	return false
}

// addOne adds r to the normalised rs, which it may modify in place: callers
// own rs and its elements (every element of a list built by addOne is
// canonical's copy).
func (rs Resources) addOne(r *mesospb.Resource) Resources {
	if r == nil || isEmpty(r) {
		return rs
	}
	if !indivisible(r) {
		for _, x := range rs {
			if sameKind(x, r) {
				mergeInto(x, r)
				return rs
			}
		}
	}
	return append(rs, canonical(r))
}

// subOne subtracts r from the normalised rs, which it may modify in place
// (as addOne).
func (rs Resources) subOne(r *mesospb.Resource) Resources {
	if r == nil || isEmpty(r) {
		return rs
	}
	for i, x := range rs {
		if !sameKind(x, r) {
			continue
		}
		if indivisible(x) {
			if !sameValue(x, r) {
				continue
			}
			return append(rs[:i:i], rs[i+1:]...)
		}
		subtractFrom(x, r)
		if isEmpty(x) {
			return append(rs[:i:i], rs[i+1:]...)
		}
		return rs
	}
	return rs
}

// normalise returns a normalised copy of rs.
func (rs Resources) normalise() Resources {
	out := Resources{}
	for _, r := range rs {
		out = out.addOne(r)
	}
	return out
}

// Add returns rs + other.
func (rs Resources) Add(other Resources) Resources {
	out := rs.normalise()
	for _, r := range other {
		out = out.addOne(r)
	}
	return out
}

// Subtract returns rs - other: scalars are decreased (and dropped at or below
// zero), ranges and sets lose the elements of other. Resources of other that
// rs does not hold are ignored, as in Mesos.
func (rs Resources) Subtract(other Resources) Resources {
	out := rs.normalise()
	for _, r := range other.normalise() {
		out = out.subOne(r)
	}
	return out
}

// Contains reports whether rs holds every resource in other.
func (rs Resources) Contains(other Resources) bool {
	remaining := rs.normalise()
	for _, r := range other.normalise() {
		found := false
		for _, x := range remaining {
			if contains(x, r) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
		remaining = remaining.subOne(r)
	}
	return true
}

// Equal reports whether rs and other hold the same resources, regardless of
// order and of how they are split into entries (Mesos: mutual containment).
func (rs Resources) Equal(other Resources) bool {
	return rs.Contains(other) && other.Contains(rs)
}

// Empty reports whether rs holds no resource quantity.
func (rs Resources) Empty() bool {
	for _, r := range rs {
		if r != nil && !isEmpty(r) {
			return false
		}
	}
	return true
}

// Scalar returns the sum of the scalar values of resources named name.
func (rs Resources) Scalar(name string) float64 {
	var sum float64
	for _, r := range rs {
		if r.GetName() == name && r.GetType() == mesospb.Value_SCALAR {
			sum = addScalar(sum, r.GetScalar().GetValue())
		}
	}
	return sum
}

// Quantities returns the total quantity per resource name: scalar sums, and
// the number of elements for ranges and sets (as Mesos's ResourceQuantities).
func (rs Resources) Quantities() map[string]float64 {
	out := map[string]float64{}
	for _, r := range rs.normalise() {
		switch r.GetType() {
		case mesospb.Value_SCALAR:
			out[r.GetName()] = addScalar(out[r.GetName()], r.GetScalar().GetValue())
		case mesospb.Value_RANGES:
			out[r.GetName()] += countIntervals(intervals(r.GetRanges()))
		case mesospb.Value_SET:
			out[r.GetName()] += float64(len(r.GetSet().GetItem()))
		}
	}
	return out
}

// Filter returns copies of the resources for which keep returns true.
func (rs Resources) Filter(keep func(*mesospb.Resource) bool) Resources {
	out := Resources{}
	for _, r := range rs {
		if r != nil && keep(r) {
			out = out.addOne(r)
		}
	}
	return out
}

// ReservationRole returns the role r is reserved for (the last entry of the
// reservation stack, or the pre-refinement role field), or "" if r is
// unreserved.
func ReservationRole(r *mesospb.Resource) string {
	if n := len(r.GetReservations()); n > 0 {
		return r.Reservations[n-1].GetRole()
	}
	if role := r.GetRole(); role != "*" {
		return role
	}
	return ""
}

// IsReserved reports whether r is reserved (statically or dynamically).
func IsReserved(r *mesospb.Resource) bool {
	return len(r.GetReservations()) > 0 || r.GetRole() != "*"
}

// IsDynamicallyReserved reports whether r's current reservation is dynamic.
func IsDynamicallyReserved(r *mesospb.Resource) bool {
	if n := len(r.GetReservations()); n > 0 {
		return r.Reservations[n-1].GetType() == mesospb.Resource_ReservationInfo_DYNAMIC
	}
	return r.GetReservation() != nil
}

// IsRefined reports whether r has refined reservations (a stack deeper than
// one), which frameworks without RESERVATION_REFINEMENT never see.
func IsRefined(r *mesospb.Resource) bool { return len(r.GetReservations()) > 1 }

// Unreserved returns the unreserved resources.
func (rs Resources) Unreserved() Resources {
	return rs.Filter(func(r *mesospb.Resource) bool { return !IsReserved(r) })
}

// Reserved returns the resources reserved for any role.
func (rs Resources) Reserved() Resources { return rs.Filter(IsReserved) }

// ReservedBy returns the resources whose current reservation is for role.
func (rs Resources) ReservedBy(role string) Resources {
	return rs.Filter(func(r *mesospb.Resource) bool { return IsReserved(r) && ReservationRole(r) == role })
}

// Revocable returns the revocable resources.
func (rs Resources) Revocable() Resources {
	return rs.Filter(func(r *mesospb.Resource) bool { return r.Revocable != nil })
}

// NonRevocable returns the resources that are not revocable.
func (rs Resources) NonRevocable() Resources {
	return rs.Filter(func(r *mesospb.Resource) bool { return r.Revocable == nil })
}

// AllocatedTo returns the resources allocated to role.
func (rs Resources) AllocatedTo(role string) Resources {
	return rs.Filter(func(r *mesospb.Resource) bool {
		return r.AllocationInfo != nil && r.AllocationInfo.GetRole() == role
	})
}

// Allocate returns a copy of rs with every resource's AllocationInfo set to
// role.
func (rs Resources) Allocate(role string) Resources {
	out := Resources{}
	for _, r := range rs {
		if r == nil {
			continue
		}
		c := canonical(r) // a copy of its own, cheaper than clone
		c.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(role)}
		out = out.addOne(c)
	}
	return out
}

// Unallocate returns a copy of rs with AllocationInfo cleared.
func (rs Resources) Unallocate() Resources {
	out := Resources{}
	for _, r := range rs {
		if r == nil {
			continue
		}
		c := canonical(r) // a copy of its own, cheaper than clone
		c.AllocationInfo = nil
		out = out.addOne(c)
	}
	return out
}
