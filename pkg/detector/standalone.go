package detector

import (
	"context"
	"sync"
)

// Standalone is a detector whose leader is given, not discovered (Mesos's
// StandaloneMasterDetector). The leader can be changed with Appoint, which
// wakes every waiting Detect call.
type Standalone struct {
	mu      sync.Mutex
	leader  *Leader
	changed chan struct{} // closed and replaced on every Appoint
	closed  bool
}

var _ Detector = (*Standalone)(nil)

// NewStandalone returns a detector reporting leader (nil: no leader yet).
func NewStandalone(leader *Leader) *Standalone {
	return &Standalone{leader: leader, changed: make(chan struct{})}
}

// Appoint sets the current leader (nil: none) and wakes waiting callers.
func (s *Standalone) Appoint(leader *Leader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.leader = leader
	close(s.changed)
	s.changed = make(chan struct{})
}

// Detect implements [Detector].
func (s *Standalone) Detect(ctx context.Context, previous *Leader) (*Leader, error) {
	for {
		s.mu.Lock()
		closed, cur, changed := s.closed, s.leader, s.changed
		s.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if !Same(cur, previous) {
			return cur, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// Close wakes waiting callers with [ErrClosed]. It is idempotent.
func (s *Standalone) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.changed)
	}
	return nil
}

// Watch returns a channel that receives the current leader as soon as one is
// known and then every change (nil: the leader was lost). The channel is
// closed when ctx ends or the detector fails or is closed. Leaders that
// change faster than the receiver reads may be skipped, never reordered.
func Watch(ctx context.Context, d Detector) <-chan *Leader {
	ch := make(chan *Leader)
	go func() {
		defer close(ch)
		var prev *Leader
		for {
			l, err := d.Detect(ctx, prev)
			if err != nil {
				return
			}
			select {
			case ch <- l:
			case <-ctx.Done():
				return
			}
			prev = l
		}
	}()
	return ch
}
