package registry

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemoryStore keeps the registry in memory (--registry=in_memory, and
// tests): nothing survives the process. Handles made with Reopen share the
// data as masters share a ZooKeeper path, fencing included, so failover can
// be tested without ZooKeeper.
type MemoryStore struct {
	data *memoryData

	mu     sync.Mutex
	epoch  uint64 // the data's epoch this handle recovered at; 0 before
	closed bool
}

var _ Store = (*MemoryStore)(nil)

type memoryData struct {
	mu      sync.Mutex
	epoch   uint64 // bumped by every Recover
	records map[Key][]byte
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{data: &memoryData{records: map[Key][]byte{}}}
}

// Reopen returns another handle on the same data, as if a second master
// opened the store: its Recover fences this one.
func (s *MemoryStore) Reopen() *MemoryStore { return &MemoryStore{data: s.data} }

// Recover implements Store.
func (s *MemoryStore) Recover(ctx context.Context) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	d := s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	d.epoch++
	s.epoch = d.epoch
	out := make([]Entry, 0, len(d.records))
	for k, v := range d.records {
		out = append(out, Entry{Key: k, Value: slices.Clone(v)})
	}
	return out, nil
}

// Write implements Store.
func (s *MemoryStore) Write(ctx context.Context, changes []Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, c := range changes {
		if err := c.Key.Valid(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.epoch == 0:
		return ErrNotRecovered
	}
	d := s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.epoch != s.epoch {
		return fmt.Errorf("%w (in-memory epoch %d, now %d)", ErrFenced, s.epoch, d.epoch)
	}
	for _, c := range changes {
		if c.Value == nil {
			delete(d.records, c.Key)
		} else {
			d.records[c.Key] = slices.Clone(c.Value)
		}
	}
	return nil
}

// Close implements Store.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
