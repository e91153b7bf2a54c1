// Package drf implements Dominant Resource Fairness ordering
// (Mesos's DRFSorter, --role_sorter=drf / --framework_sorter=drf).
//
// A client's share is the largest fraction, over the scalar resource kinds of
// the pool, of the pool it holds (allocated/total), divided by its weight.
// Clients with the lowest share are served first; ties go to the client that
// has been picked for allocation fewer times, then to the smaller name.
//
// The order is cached and recomputed only after a change that can affect it,
// so repeated Sort calls between allocations are cheap.
package drf

import (
	"cmp"
	"slices"

	"github.com/meso-project/meso/internal/allocator/sorter"
)

// Sorter is a DRF sorter. The zero value is not usable; call New.
type Sorter struct {
	clients  map[string]*client
	weights  map[string]float64
	total    sorter.Quantities
	excluded map[string]bool

	dirty  bool
	sorted []string
}

type client struct {
	name   string
	active bool
	alloc  sorter.Quantities
	// count is the number of times the client received an allocation; like
	// Mesos it only grows (it equalises picks among equal shares).
	count uint64
}

var _ sorter.Sorter = (*Sorter)(nil)

// New returns an empty DRF sorter. Resource names in excluded do not count
// towards shares (--fair_sharing_excluded_resource_names).
func New(excluded ...string) *Sorter {
	s := &Sorter{
		clients: make(map[string]*client),
		weights: make(map[string]float64),
		total:   make(sorter.Quantities),
	}
	if len(excluded) > 0 {
		s.excluded = make(map[string]bool, len(excluded))
		for _, n := range excluded {
			s.excluded[n] = true
		}
	}
	return s
}

func (s *Sorter) Add(name string) {
	if _, ok := s.clients[name]; ok {
		return
	}
	s.clients[name] = &client{name: name, active: true, alloc: make(sorter.Quantities)}
	s.dirty = true
}

func (s *Sorter) Remove(name string) {
	if _, ok := s.clients[name]; ok {
		delete(s.clients, name)
		s.dirty = true
	}
}

func (s *Sorter) Contains(name string) bool { _, ok := s.clients[name]; return ok }
func (s *Sorter) Count() int                { return len(s.clients) }

func (s *Sorter) Activate(name string)   { s.setActive(name, true) }
func (s *Sorter) Deactivate(name string) { s.setActive(name, false) }

func (s *Sorter) setActive(name string, active bool) {
	if c, ok := s.clients[name]; ok && c.active != active {
		c.active = active
		s.dirty = true
	}
}

func (s *Sorter) IsActive(name string) bool {
	c, ok := s.clients[name]
	return ok && c.active
}

func (s *Sorter) UpdateWeight(name string, weight float64) {
	if !(weight > 0) { // also rejects NaN
		return
	}
	if weight == 1 {
		delete(s.weights, name)
	} else {
		s.weights[name] = weight
	}
	s.dirty = true
}

func (s *Sorter) weight(name string) float64 {
	if w, ok := s.weights[name]; ok {
		return w
	}
	return 1
}

func (s *Sorter) Allocated(name string, q sorter.Quantities) {
	c, ok := s.clients[name]
	if !ok {
		return
	}
	c.alloc.Add(q)
	c.count++
	s.dirty = true
}

func (s *Sorter) Unallocated(name string, q sorter.Quantities) {
	c, ok := s.clients[name]
	if !ok {
		return
	}
	c.alloc.Sub(q)
	s.dirty = true
}

func (s *Sorter) Allocation(name string) sorter.Quantities {
	if c, ok := s.clients[name]; ok {
		return c.alloc
	}
	return nil
}

func (s *Sorter) AddTotal(q sorter.Quantities) {
	s.total.Add(q)
	s.dirty = true
}

func (s *Sorter) RemoveTotal(q sorter.Quantities) {
	s.total.Sub(q)
	s.dirty = true
}

// Share is the client's weighted dominant share (0 for unknown clients).
func (s *Sorter) Share(name string) float64 {
	c, ok := s.clients[name]
	if !ok {
		return 0
	}
	return s.share(c)
}

func (s *Sorter) share(c *client) float64 {
	var share float64
	for res, total := range s.total {
		if total <= 0 || s.excluded[res] {
			continue
		}
		if f := c.alloc[res] / total; f > share {
			share = f
		}
	}
	return share / s.weight(c.name)
}

func (s *Sorter) Sort() []string {
	if !s.dirty && s.sorted != nil {
		return s.sorted
	}
	type entry struct {
		share float64
		count uint64
		name  string
	}
	entries := make([]entry, 0, len(s.clients))
	for _, c := range s.clients {
		if c.active {
			entries = append(entries, entry{s.share(c), c.count, c.name})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.share != b.share {
			return cmp.Compare(a.share, b.share)
		}
		if a.count != b.count {
			return cmp.Compare(a.count, b.count)
		}
		return cmp.Compare(a.name, b.name)
	})
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.name
	}
	s.sorted, s.dirty = out, false
	return out
}
