package registry

import (
	"context"
	"errors"
)

// Outcome is what became of one operation of ApplyAll: whether it changed
// the registry, or Err, the operation's *RejectedError (the registry is
// unchanged by it).
type Outcome struct {
	Mutated bool
	Err     error
}

// ApplyAll queues ops in order, in one step of the registrar's loop, so
// that they are consecutive in the queue (they share a batch, or follow each
// other in consecutive batches), and returns once every one of them is
// durable, with one Outcome per op. This is how a caller that must keep its
// operations in order (the master's writer) gets them applied without
// waiting for each write in turn. A rejected op is reported in its Outcome
// and does not stop the others. A non-nil error is that of a failed store
// (wrapping ErrAborted), of a registrar not recovered (ErrNotRecovered,
// ErrRecovery) or closed (ErrClosed), or ctx's (as for Apply, the
// operations not yet being written are withdrawn): then no outcome is
// returned and none of the ops may be assumed durable.
func (r *Registrar) ApplyAll(ctx context.Context, ops []Operation) ([]Outcome, error) {
	results := r.submit(ctx, ops)
	out := make([]Outcome, len(ops))
	for i, res := range results {
		if res.err != nil && !errors.Is(res.err, ErrRejected) {
			return nil, res.err
		}
		out[i] = Outcome{Mutated: res.mutated, Err: res.err}
	}
	return out, nil
}
