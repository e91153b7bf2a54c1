package hierarchical

import (
	"slices"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator/quantity"
	"github.com/meso-project/meso/pkg/resources"
	"google.golang.org/protobuf/proto"
)

// An agent's resources are kept as entries: one per kind of resource (name,
// type, reservation stack, disk, revocable, shared, provider: everything but
// the value), holding the total and the available amount. Scalars are
// fixed-point int64, ranges interval lists, sets string lists. Protobuf
// Resources are built only for the allocations actually made.

type entry struct {
	key  string
	tmpl *mesospb.Resource // unallocated, value cleared
	typ  mesospb.Value_Type
	name string
	dim  int // scalar dimension, or -1
	// resRole is the reservation role ("" when unreserved).
	resRole                    string
	revocable, shared, refined bool
	indivisible, plain         bool
	total                      int64
	totalRanges                []interval
	totalItems                 []string
	avail                      int64
	ranges                     []interval
	items                      []string
}

func (e *entry) empty() bool {
	switch e.typ {
	case mesospb.Value_SCALAR:
		return e.avail <= 0
	case mesospb.Value_RANGES:
		return len(e.ranges) == 0
	default:
		return len(e.items) == 0
	}
}

// countOf is the quantity Mesos's ResourceQuantities gives an amount: the
// scalar, or the number of range or set elements (fixed point).
func countOf(typ mesospb.Value_Type, a amount) int64 {
	switch typ {
	case mesospb.Value_SCALAR:
		return max(a.scalar, 0)
	case mesospb.Value_RANGES:
		return countIntervals(a.ranges) * quantity.Scale
	default:
		return int64(len(a.items)) * quantity.Scale
	}
}

// unreservedScalar reports whether the entry counts towards quota headroom:
// unreserved, non-revocable scalar.
func (e *entry) unreservedScalar() bool {
	return e.typ == mesospb.Value_SCALAR && e.resRole == "" && !e.revocable && e.dim >= 0
}

// kindKey identifies a resource's kind. Plain resources (no reservation,
// disk, revocable, shared or provider) get a cheap key; others a
// deterministic encoding of the value-less, allocation-less message.
func kindKey(r *mesospb.Resource) (key string, plain bool) {
	if len(r.Reservations) == 0 && r.Reservation == nil && r.Disk == nil && r.Revocable == nil &&
		r.Shared == nil && r.ProviderId == nil && (r.Role == nil || r.GetRole() == "*") {
		return r.GetName() + "\x00" + r.GetType().String(), true
	}
	c := &mesospb.Resource{
		Name: r.Name, Type: r.Type, Role: r.Role, Reservation: r.Reservation,
		Reservations: r.Reservations, Disk: r.Disk, Revocable: r.Revocable, Shared: r.Shared,
		ProviderId: r.ProviderId,
	}
	if c.GetRole() == "*" {
		c.Role = nil
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	return r.GetName() + "\x00" + r.GetType().String() + "\x00" + string(b), false
}

func newEntry(r *mesospb.Resource, key string, plain bool, dims *quantity.Dims) *entry {
	e := &entry{key: key, typ: r.GetType(), name: r.GetName(), dim: -1, plain: plain}
	if plain {
		e.tmpl = &mesospb.Resource{Name: r.Name, Type: r.Type}
	} else {
		t := proto.Clone(r).(*mesospb.Resource)
		t.Scalar, t.Ranges, t.Set, t.AllocationInfo = nil, nil, nil, nil
		e.tmpl = t
	}
	if e.typ == mesospb.Value_SCALAR {
		e.dim = dims.Intern(e.name)
	}
	if resources.IsReserved(r) {
		e.resRole = resources.ReservationRole(r)
	}
	e.revocable = r.Revocable != nil
	e.shared = r.Shared != nil
	e.refined = resources.IsRefined(r)
	if d := r.GetDisk(); r.Shared != nil || d.GetPersistence() != nil {
		e.indivisible = true
	} else if d != nil {
		switch d.GetSource().GetType() {
		case mesospb.Resource_DiskInfo_Source_MOUNT, mesospb.Resource_DiskInfo_Source_BLOCK, mesospb.Resource_DiskInfo_Source_RAW:
			e.indivisible = true
		}
	}
	return e
}

// amount is a quantity of one entry's kind.
type amount struct {
	scalar int64
	ranges []interval
	items  []string
}

func amountOf(r *mesospb.Resource) amount {
	switch r.GetType() {
	case mesospb.Value_SCALAR:
		return amount{scalar: quantity.FromFloat(r.GetScalar().GetValue())}
	case mesospb.Value_RANGES:
		return amount{ranges: toIntervals(r.GetRanges())}
	default:
		return amount{items: uniq(r.GetSet().GetItem())}
	}
}

func (a amount) isEmpty(typ mesospb.Value_Type) bool {
	switch typ {
	case mesospb.Value_SCALAR:
		return a.scalar <= 0
	case mesospb.Value_RANGES:
		return len(a.ranges) == 0
	default:
		return len(a.items) == 0
	}
}

func addAmount(typ mesospb.Value_Type, x, y amount) amount {
	switch typ {
	case mesospb.Value_SCALAR:
		return amount{scalar: x.scalar + y.scalar}
	case mesospb.Value_RANGES:
		return amount{ranges: unionIntervals(x.ranges, y.ranges)}
	default:
		return amount{items: uniq(append(slices.Clone(x.items), y.items...))}
	}
}

// subAmount returns x - y floored at empty.
func subAmount(typ mesospb.Value_Type, x, y amount) amount {
	switch typ {
	case mesospb.Value_SCALAR:
		return amount{scalar: max(x.scalar-y.scalar, 0)}
	case mesospb.Value_RANGES:
		return amount{ranges: subtractIntervals(x.ranges, y.ranges)}
	default:
		return amount{items: subtractItems(x.items, y.items)}
	}
}

// minAmount returns the part of y that x holds (x ∩ y).
func minAmount(typ mesospb.Value_Type, x, y amount) amount {
	switch typ {
	case mesospb.Value_SCALAR:
		return amount{scalar: max(min(x.scalar, y.scalar), 0)}
	case mesospb.Value_RANGES:
		return amount{ranges: subtractIntervals(y.ranges, subtractIntervals(y.ranges, x.ranges))}
	default:
		return amount{items: subtractItems(y.items, subtractItems(y.items, x.items))}
	}
}

func containsAmount(typ mesospb.Value_Type, x, y amount) bool {
	switch typ {
	case mesospb.Value_SCALAR:
		return x.scalar >= y.scalar
	case mesospb.Value_RANGES:
		return len(subtractIntervals(y.ranges, x.ranges)) == 0
	default:
		return len(subtractItems(y.items, x.items)) == 0
	}
}

func (e *entry) availAmount() amount {
	return amount{scalar: e.avail, ranges: e.ranges, items: e.items}
}

func (e *entry) setAvail(a amount) {
	e.avail, e.ranges, e.items = a.scalar, a.ranges, a.items
}

// materialize builds the protobuf resource for amount a of the entry,
// allocated to role (or unallocated when role is "").
func (e *entry) materialize(a amount, role *string) *mesospb.Resource {
	var r *mesospb.Resource
	if e.plain {
		r = &mesospb.Resource{Name: e.tmpl.Name, Type: e.tmpl.Type}
	} else {
		r = proto.Clone(e.tmpl).(*mesospb.Resource)
	}
	switch e.typ {
	case mesospb.Value_SCALAR:
		v := quantity.ToFloat(a.scalar)
		r.Scalar = &mesospb.Value_Scalar{Value: &v}
	case mesospb.Value_RANGES:
		r.Ranges = fromIntervals(a.ranges)
	default:
		r.Set = &mesospb.Value_Set{Item: slices.Clone(a.items)}
	}
	if role != nil {
		r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: role}
	}
	return r
}

// allocatableTo reports whether a role may be offered the entry: unreserved,
// or reserved to the role or one of its ancestors (Resources::allocatableTo).
func (e *entry) allocatableTo(role string) bool {
	if e.resRole == "" || e.resRole == role {
		return true
	}
	return strings.HasPrefix(role, e.resRole) && len(role) > len(e.resRole) && role[len(e.resRole)] == '/'
}

// interval is an inclusive range of values.
type interval struct{ lo, hi uint64 }

func toIntervals(rs *mesospb.Value_Ranges) []interval {
	var out []interval
	for _, r := range rs.GetRange() {
		if r.GetBegin() <= r.GetEnd() {
			out = append(out, interval{r.GetBegin(), r.GetEnd()})
		}
	}
	return coalesce(out)
}

func fromIntervals(ivs []interval) *mesospb.Value_Ranges {
	out := &mesospb.Value_Ranges{Range: make([]*mesospb.Value_Range, len(ivs))}
	for i, iv := range ivs {
		lo, hi := iv.lo, iv.hi
		out.Range[i] = &mesospb.Value_Range{Begin: &lo, End: &hi}
	}
	return out
}

func coalesce(in []interval) []interval {
	if len(in) <= 1 {
		return in
	}
	slices.SortFunc(in, func(a, b interval) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := in[:1]
	for _, iv := range in[1:] {
		last := &out[len(out)-1]
		if iv.lo <= last.hi || iv.lo-1 == last.hi {
			last.hi = max(last.hi, iv.hi)
		} else {
			out = append(out, iv)
		}
	}
	return out
}

func unionIntervals(a, b []interval) []interval {
	out := make([]interval, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	return coalesce(out)
}

// subtractIntervals returns a - b (both coalesced).
func subtractIntervals(a, b []interval) []interval {
	if len(b) == 0 {
		return a
	}
	var out []interval
	j := 0
	for _, iv := range a {
		lo, hi := iv.lo, iv.hi
		for j < len(b) && b[j].hi < lo {
			j++
		}
		k := j
		done := false
		for k < len(b) && b[k].lo <= hi {
			if b[k].lo > lo {
				out = append(out, interval{lo, b[k].lo - 1})
			}
			if b[k].hi >= hi {
				done = true
				break
			}
			lo = b[k].hi + 1
			k++
		}
		if !done {
			out = append(out, interval{lo, hi})
		}
	}
	return out
}

func countIntervals(ivs []interval) int64 {
	var n int64
	for _, iv := range ivs {
		n += int64(iv.hi-iv.lo) + 1
	}
	return n
}

func uniq(items []string) []string {
	out := slices.Clone(items)
	slices.Sort(out)
	return slices.Compact(out)
}

func subtractItems(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
