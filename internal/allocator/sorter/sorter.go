// Package sorter defines the Sorter: the component of the hierarchical
// allocator that decides in which order clients (roles, or the frameworks of
// one role) are offered resources. It mirrors Mesos's allocator Sorter
// (src/master/allocator/sorter/sorter.hpp) in a reduced, quantity-only form:
// the allocator keeps the per-agent resources itself and tells the sorter
// only the scalar quantities that change hands, which is all a fair-sharing
// policy needs.
//
// Implementations live in subpackages: drf (Dominant Resource Fairness, the
// default) and random (weighted random order).
//
// Role names: hierarchical roles ("eng/backend") are treated as flat,
// independent clients for now; the sorter does not aggregate a subtree's
// allocations into its parent as Mesos does.
package sorter

// Quantities maps a scalar resource name ("cpus", "mem", ...) to an amount.
// Non-scalar resources (ranges, sets) never appear in Quantities.
type Quantities map[string]float64

// Add adds q to qs in place (allocating qs if needed) and returns it.
func (qs Quantities) Add(q Quantities) Quantities {
	if qs == nil {
		qs = make(Quantities, len(q))
	}
	for name, v := range q {
		qs[name] += v
	}
	return qs
}

// Sub subtracts q from qs in place, dropping names that reach zero or
// below (floating point noise included), and returns qs.
func (qs Quantities) Sub(q Quantities) Quantities {
	for name, v := range q {
		n := qs[name] - v
		if n <= epsilon {
			delete(qs, name)
		} else {
			qs[name] = n
		}
	}
	return qs
}

// epsilon absorbs floating point error in repeated adds and subtracts
// (Mesos uses fixed-point arithmetic with three decimal digits).
const epsilon = 1e-9

// Sorter orders clients for allocation.
//
// Contract:
//   - Client names are unique; Add of a known client and calls naming an
//     unknown client are no-ops, so callers need not pre-check.
//   - A client is added active. Deactivated clients keep their allocation
//     (it still counts towards totals) but are omitted from Sort.
//   - Weights are kept per client name and survive Remove/Add, so a weight can
//     be set before the client exists (role weights set by an operator).
//     Non-positive weights are ignored. The default weight is 1.
//   - Allocated and Unallocated move scalar quantities to and from a client;
//     AddTotal and RemoveTotal maintain the pool shares are computed against
//     (the whole cluster's scalar quantities).
//   - Sort returns the active clients, the one to serve first at index 0.
//     The returned slice must not be modified; it stays valid after later
//     calls (implementations allocate a fresh slice when the order changes).
//
// Implementations are deterministic given their construction parameters, use
// no goroutines or clocks and are not safe for concurrent use.
type Sorter interface {
	Add(client string)
	Remove(client string)
	Contains(client string) bool
	// Count is the number of clients, active or not.
	Count() int

	Activate(client string)
	Deactivate(client string)
	IsActive(client string) bool

	UpdateWeight(client string, weight float64)

	Allocated(client string, q Quantities)
	Unallocated(client string, q Quantities)
	// Allocation is the client's current allocation; the caller must not
	// modify it.
	Allocation(client string) Quantities

	AddTotal(q Quantities)
	RemoveTotal(q Quantities)

	Sort() []string
}
