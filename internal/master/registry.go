package master

import (
	"context"
	"errors"
	"fmt"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/registrypb"
	"github.com/meso-project/meso/internal/registry"
)

// Registrar keeps the master's registry durable: admitted, unreachable and
// gone agents, weights and quota. internal/registry.Registrar implements
// it over an in-memory, bbolt or ZooKeeper store.
//
// Contract: Recover is called once, by the loop's recovery goroutine,
// after this master is elected; ApplyAll is called by one writer goroutine
// at a time, in the order the loop queued the operations. ApplyAll applies
// ops in order and returns once they are durable, with one outcome per op
// (whether it changed the registry, or the op's *registry.RejectedError).
// A non-nil error is a store failure: nothing of the batch may be assumed
// durable and the registrar is unusable; the master then stops, as Mesos's
// master aborts on "Failed to update registry".
type Registrar interface {
	Recover(ctx context.Context, info *mesospb.MasterInfo) (*registrypb.Registry, error)
	ApplyAll(ctx context.Context, ops []registry.Operation) ([]registry.Outcome, error)
}

// ErrRegistry wraps a failed registry read or write; Serve returns it.
var ErrRegistry = errors.New("master: registry failed")

// pendingOp is an operation queued for the writer with what to do, on the
// loop, once it is durable.
type pendingOp struct {
	op   registry.Operation
	then func(mutated bool, rejected error)
	seq  uint64 // its number among the operations queued (durability)
}

// heldReply is an answer to an HTTP request held until the registry
// operations queued before it are durable.
type heldReply struct {
	seq   uint64
	reply chan struct{}
}

// answer releases a request's reply: at once, or once every registry
// operation queued so far is durable (durable before visible: an HTTP
// answer computed after a registry change waits for it).
func (s *state) answer(reply chan struct{}) {
	if !s.m.gate.held() {
		close(reply)
		return
	}
	s.heldReplies = append(s.heldReplies, heldReply{seq: s.m.gate.mark(), reply: reply})
}

// advance records that the operations up to seq are durable: held
// stream events and replies go out.
func (s *state) advance(seq uint64) {
	s.m.gate.advance(seq)
	n := 0
	for n < len(s.heldReplies) && s.heldReplies[n].seq <= seq {
		close(s.heldReplies[n].reply)
		n++
	}
	s.heldReplies = s.heldReplies[n:]
}

// persist queues op for the registry and runs then on the loop once op is
// durable (mutated reports whether it changed the registry; rejected is
// the op's *registry.RejectedError, the registry unchanged). This is how
// "durable before visible" is kept: whatever a registry change makes
// visible — REGISTERED to an agent, a 200 to an operator, TASK_UNREACHABLE
// to frameworks — is done in then, never before. Operations become durable
// in the order they were queued.
//
// Without a Registrar (Config.Registrar nil: unit tests of the layers
// above) nothing is durable and then runs at once.
func (s *state) persist(op registry.Operation, then func(mutated bool, rejected error)) {
	if s.cfg.Registrar == nil {
		if then != nil {
			then(true, nil)
		}
		return
	}
	seq := s.m.gate.queued.Add(1)
	s.regQueue = append(s.regQueue, pendingOp{op: op, then: then, seq: seq})
	s.kickWriter()
}

// kickWriter hands the queued operations to the writer goroutine when it
// is idle: one batch in flight at a time keeps them in order.
func (s *state) kickWriter() {
	if s.regBusy || len(s.regQueue) == 0 || s.failed != nil {
		return
	}
	batch := s.regQueue
	s.regQueue = nil
	s.regBusy = true
	ops := make([]registry.Operation, len(batch))
	for i, p := range batch {
		ops[i] = p.op
	}
	reg, m := s.cfg.Registrar, s.m
	go func() {
		outcomes, err := reg.ApplyAll(m.ctx, ops)
		m.post(func() {
			s.regBusy = false
			if err != nil {
				if m.ctx.Err() == nil {
					s.failed = fmt.Errorf("%w: applying %d operation(s) starting with %s: %w", ErrRegistry, len(ops), ops[0].Name(), err)
					m.log.Error("registry write failed; the master stops", "err", err)
				}
				return
			}
			for i, p := range batch {
				var o registry.Outcome
				if i < len(outcomes) {
					o = outcomes[i]
				}
				if p.then != nil {
					p.then(o.Mutated, o.Err)
				}
			}
			s.advance(batch[len(batch)-1].seq)
			s.kickWriter()
		})
	}()
}
