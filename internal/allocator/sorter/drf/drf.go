// Package drf builds the Dominant Resource Fairness sorter (Mesos's
// DRFSorter, --role_sorter=drf / --framework_sorter=drf).
//
// A client's share is the largest fraction, over the scalar resource kinds of
// the pool, of the pool it holds (allocated/total), divided by its weight.
// Clients with the lowest share are served first; ties go to the client that
// has been picked for allocation fewer times, then to the smaller path. In a
// hierarchy, each level is ordered this way with internal nodes holding the
// aggregate of their subtree.
package drf

import (
	"github.com/meso-project/meso/internal/allocator/quantity"
	"github.com/meso-project/meso/internal/allocator/sorter"
)

// New returns an empty DRF sorter over pool. Dimensions that are non-zero in
// excluded do not count towards shares.
func New(pool *sorter.Pool, excluded quantity.Vec) *sorter.Tree {
	return sorter.NewTree(pool, nil, excluded)
}
