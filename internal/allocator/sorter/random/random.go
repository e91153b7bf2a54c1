// Package random builds the weighted random sorter (Mesos's RandomSorter,
// --role_sorter=random / --framework_sorter=random): every sort returns the
// active clients in a fresh random order in which, among siblings, a client
// of weight w is w times as likely as one of weight 1 to come first.
// Allocations do not influence the order.
package random

import (
	"math/rand/v2"

	"github.com/meso-project/meso/internal/allocator/quantity"
	"github.com/meso-project/meso/internal/allocator/sorter"
)

// New returns an empty random sorter drawing from rng (a seeded source makes
// the orders repeatable).
func New(pool *sorter.Pool, rng *rand.Rand) *sorter.Tree {
	return sorter.NewTree(pool, rng, quantity.Vec{})
}
