package master

import "sync"

// outbox is an unbounded FIFO of events from the actor loop to one stream
// writer goroutine. The loop never blocks on a slow client: it appends and
// moves on; the writer drains in order. close ends the stream after the
// queued events have been written.
//
// This is the only lock in the package: it guards the hand-off between
// exactly two goroutines, never master state.
type outbox[T any] struct {
	mu     sync.Mutex
	items  []T
	closed bool
	signal chan struct{} // capacity 1: "something changed"
}

func newOutbox[T any]() *outbox[T] {
	return &outbox[T]{signal: make(chan struct{}, 1)}
}

// push queues v; it reports false when the outbox is closed.
func (o *outbox[T]) push(v T) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	o.items = append(o.items, v)
	o.mu.Unlock()
	o.notify()
	return true
}

// close marks the end of the stream; queued items are still delivered.
func (o *outbox[T]) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.notify()
}

func (o *outbox[T]) notify() {
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

// take returns everything queued and whether the outbox is closed.
func (o *outbox[T]) take() ([]T, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	items := o.items
	o.items = nil
	return items, o.closed
}
