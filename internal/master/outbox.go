package master

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"
)

// outbox is a FIFO of events from the actor loop to one stream writer
// goroutine. The loop never blocks on a slow client: it appends and moves
// on; the writer drains in order. close ends the stream after the queued
// events have been written.
//
// Once bounded (bound), the events queued and not yet taken may not
// exceed a number of encoded bytes: the push that would exceed it drops
// the queue, ends the stream and aborts the writer's blocked write, so a
// client that stops reading is disconnected instead of growing the master
// (it can subscribe again).
//
// Every event is stamped with the registry operations queued when it was
// pushed, and the writer gets it only once those are durable (see
// durability): whatever the loop decided after a registry change reaches
// nobody before the change is on disk.
//
// Its lock guards the hand-off between exactly two goroutines, never
// master state.
type outbox[T proto.Message] struct {
	gate   *durability
	mu     sync.Mutex
	items  []stamped[T]
	closed bool
	signal chan struct{} // capacity 1: "something changed"

	limit      int          // bytes; 0: unbounded
	size       int          // encoded bytes of items
	log        *slog.Logger // for the overflow
	overflowed bool
	abort      func() // aborts the writer's blocked write; set by setAbort
}

type stamped[T any] struct {
	v    T
	seq  uint64 // registry operations queued before v
	size int    // encoded bytes, when bounded
}

func newOutbox[T proto.Message](gate *durability) *outbox[T] {
	return &outbox[T]{gate: gate, signal: make(chan struct{}, 1)}
}

// bound limits the queue to limit encoded bytes (see outbox); log gets the
// reason when the stream is cut. Call it before the first push.
func (o *outbox[T]) bound(limit int, log *slog.Logger) *outbox[T] {
	o.limit, o.log = limit, log
	return o
}

// setAbort registers how to abort the writer's blocked write (e.g.
// httpapi.Stream.Abort); if the queue already overflowed, it runs now.
func (o *outbox[T]) setAbort(abort func()) {
	o.mu.Lock()
	o.abort = abort
	over := o.overflowed
	o.mu.Unlock()
	if over {
		abort()
	}
}

// push queues v; it reports false when the outbox is closed. Only the loop
// pushes.
func (o *outbox[T]) push(v T) bool {
	seq := o.gate.mark()
	size := 0
	if o.limit > 0 {
		size = proto.Size(v)
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	if o.limit > 0 && len(o.items) > 0 && o.size+size > o.limit {
		// The client is too far behind: drop what it has not read and
		// end its stream.
		queued, bytes := len(o.items), o.size
		o.items, o.size = nil, 0
		o.closed, o.overflowed = true, true
		abort := o.abort
		o.mu.Unlock()
		if o.log != nil {
			o.log.Warn("disconnecting an event stream whose client fell too far behind",
				"queued_events", queued, "queued_bytes", bytes, "limit_bytes", o.limit)
		}
		if abort != nil {
			abort()
		}
		o.notify()
		return false
	}
	o.items = append(o.items, stamped[T]{v, seq, size})
	o.size += size
	o.mu.Unlock()
	if seq <= o.gate.durable.Load() {
		o.notify()
	} else {
		o.gate.wait(o)
	}
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

// take returns the queued items whose registry writes are durable, and
// whether the outbox is closed with nothing left to deliver.
func (o *outbox[T]) take() ([]T, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	durable := o.gate.durable.Load()
	n := 0
	for n < len(o.items) && o.items[n].seq <= durable {
		n++
	}
	out := make([]T, n)
	for i := range n {
		out[i] = o.items[i].v
		o.size -= o.items[i].size
	}
	o.items = o.items[n:]
	if len(o.items) > 0 {
		o.gate.wait(o)
		if o.items[0].seq <= o.gate.durable.Load() {
			o.notify() // it became durable meanwhile
		}
	}
	return out, o.closed && len(o.items) == 0
}

// durability is the master's "durable before visible" gate, in the shape
// of etcd-io/raft's Ready: the loop counts the registry operations it
// queues (persist), and what it produces after them — stream events in
// outboxes, answers to HTTP requests — is held until the registry writer
// reports those operations durable (advance). Without a Registrar nothing
// is ever queued and nothing is held.
type durability struct {
	queued  atomic.Uint64 // operations queued; written by the loop only
	durable atomic.Uint64 // operations durable (queued ones, in order)

	mu      sync.Mutex
	waiting map[notifier]struct{}
}

type notifier interface{ notify() }

// mark is the stamp for what the loop produces now.
func (d *durability) mark() uint64 { return d.queued.Load() }

// held reports whether what the loop produces now must wait.
func (d *durability) held() bool { return d.queued.Load() > d.durable.Load() }

// wait asks for n to be notified at the next advance.
func (d *durability) wait(n notifier) {
	d.mu.Lock()
	if d.waiting == nil {
		d.waiting = map[notifier]struct{}{}
	}
	d.waiting[n] = struct{}{}
	d.mu.Unlock()
}

// advance records that the first `to` operations are durable and wakes
// the outboxes that held items.
func (d *durability) advance(to uint64) {
	d.durable.Store(to)
	d.mu.Lock()
	waiting := d.waiting
	d.waiting = nil
	d.mu.Unlock()
	for n := range waiting {
		n.notify()
	}
}
