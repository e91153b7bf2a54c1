// Package random implements the weighted random sorter
// (Mesos's RandomSorter, --role_sorter=random / --framework_sorter=random):
// every Sort returns the active clients in a fresh random order in which a
// client of weight w is w times as likely as a client of weight 1 to come
// before any given other client. Allocations do not influence the order.
package random

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/meso-project/meso/internal/allocator/sorter"
)

// Sorter is a weighted random sorter. The zero value is not usable; call New.
type Sorter struct {
	rng     *rand.Rand
	clients map[string]*client
	weights map[string]float64
	total   sorter.Quantities
}

type client struct {
	active bool
	alloc  sorter.Quantities
}

var _ sorter.Sorter = (*Sorter)(nil)

// New returns an empty random sorter drawing from rng (a seeded source makes
// the orders repeatable).
func New(rng *rand.Rand) *Sorter {
	return &Sorter{
		rng:     rng,
		clients: make(map[string]*client),
		weights: make(map[string]float64),
		total:   make(sorter.Quantities),
	}
}

func (s *Sorter) Add(name string) {
	if _, ok := s.clients[name]; !ok {
		s.clients[name] = &client{active: true, alloc: make(sorter.Quantities)}
	}
}

func (s *Sorter) Remove(name string)           { delete(s.clients, name) }
func (s *Sorter) Contains(name string) bool    { _, ok := s.clients[name]; return ok }
func (s *Sorter) Count() int                   { return len(s.clients) }
func (s *Sorter) Activate(name string)         { s.setActive(name, true) }
func (s *Sorter) Deactivate(name string)       { s.setActive(name, false) }
func (s *Sorter) AddTotal(q sorter.Quantities) { s.total.Add(q) }
func (s *Sorter) RemoveTotal(q sorter.Quantities) {
	s.total.Sub(q)
}

func (s *Sorter) setActive(name string, active bool) {
	if c, ok := s.clients[name]; ok {
		c.active = active
	}
}

func (s *Sorter) IsActive(name string) bool {
	c, ok := s.clients[name]
	return ok && c.active
}

func (s *Sorter) UpdateWeight(name string, weight float64) {
	if weight > 0 {
		s.weights[name] = weight
	}
}

func (s *Sorter) Allocated(name string, q sorter.Quantities) {
	if c, ok := s.clients[name]; ok {
		c.alloc.Add(q)
	}
}

func (s *Sorter) Unallocated(name string, q sorter.Quantities) {
	if c, ok := s.clients[name]; ok {
		c.alloc.Sub(q)
	}
}

func (s *Sorter) Allocation(name string) sorter.Quantities {
	if c, ok := s.clients[name]; ok {
		return c.alloc
	}
	return nil
}

// Sort draws a weighted random permutation (Efraimidis–Spirakis: each client
// gets the key U^(1/w) for a uniform U, largest key first). Clients are
// visited in name order so that a seeded rng gives a repeatable order.
func (s *Sorter) Sort() []string {
	names := make([]string, 0, len(s.clients))
	for name, c := range s.clients {
		if c.active {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	keys := make(map[string]float64, len(names))
	for _, name := range names {
		w := 1.0
		if v, ok := s.weights[name]; ok {
			w = v
		}
		keys[name] = math.Pow(s.rng.Float64(), 1/w)
	}
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(keys[b], keys[a]) })
	return names
}
