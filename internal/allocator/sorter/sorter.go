// Package sorter defines the Sorter: the component of the hierarchical
// allocator that decides in which order clients (roles, or the frameworks of
// one role) are offered resources. It mirrors Mesos's allocator Sorter
// (src/master/allocator/sorter/sorter.hpp) in a quantity-only form: the
// allocator keeps the per-agent resources itself and tells the sorter only
// the scalar quantities that change hands, which is all a fair-sharing policy
// needs.
//
// Clients are dense integers chosen by the caller (the allocator's role and
// framework-slot indices) so that sorting never hashes strings; each client
// also has a path, used for tie-breaking and, in a hierarchical sorter, to
// place it in the role tree: "eng/web" is a child of "eng". An internal node's
// allocation aggregates its subtree, and sorting happens level by level, so
// siblings compete with each other and a subtree competes as a whole with its
// parent's siblings (Mesos's hierarchical DRF). A path that is both a client
// and a parent ("eng" with frameworks, and "eng/web") gets a virtual leaf
// under its internal node, as in Mesos.
//
// Implementations: drf (Dominant Resource Fairness, the default) and random
// (weighted random order), both built on Tree.
package sorter

import "github.com/meso-project/meso/internal/allocator/quantity"

// Pool is the total the shares are computed against (the whole cluster's
// scalar quantities). Sorters keep a pointer to one shared Pool; whoever
// changes Total must bump Gen so that sorters know to recompute shares.
type Pool struct {
	Total quantity.Vec
	Gen   uint64
}

// Sorter orders clients for allocation.
//
// Contract:
//   - Add of a known client and calls naming an unknown client are no-ops.
//   - A client is added active. Deactivated clients keep their allocation
//     (it still counts in their ancestors' shares) but are not sorted.
//   - Weights are kept per path and survive Remove/Add, so a weight can be set
//     before the client exists. Non-positive weights are ignored; the default
//     is 1.
//   - AppendSorted appends the active clients to dst, the one to serve first
//     first. The result is a snapshot: later changes do not alter it.
//
// Implementations are deterministic given their construction parameters, use
// no goroutines or clocks and are not safe for concurrent use.
type Sorter interface {
	Add(client int, path string)
	Remove(client int)
	Contains(client int) bool
	Activate(client int)
	Deactivate(client int)
	IsActive(client int) bool
	// ActiveCount is the number of active clients.
	ActiveCount() int

	UpdateWeight(path string, weight float64)

	// Allocated and Unallocated move quantities to and from a client.
	Allocated(client int, q *quantity.Vec)
	Unallocated(client int, q *quantity.Vec)
	// Allocation is the client's own allocation.
	Allocation(client int) quantity.Vec

	AppendSorted(dst []int) []int
}
