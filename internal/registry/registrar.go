package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/flags"
	"github.com/meso-project/meso/internal/pb/registrypb"
	"google.golang.org/protobuf/proto"
)

// Errors of the Registrar (besides ErrRejected, ErrNotRecovered and
// ErrClosed).
var (
	// ErrAborted is wrapped by every error after a store failure: the
	// write in progress failed or timed out, so the registrar fails that
	// batch, every queued operation and every later one. Mesos's registrar
	// aborts the same way and its master exits; the master should too, and
	// let the next leader recover the registry.
	ErrAborted = errors.New("registry: registrar aborted")

	// ErrRecovery is wrapped by the error of a failed Recover, which every
	// later Apply also returns.
	ErrRecovery = errors.New("registry: recovery failed")
)

// timeoutError is a store call that did not finish in time; its text is
// Mesos's ("Failed to perform store within 20secs").
type timeoutError struct {
	what string
	d    time.Duration
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("Failed to perform %s within %s", e.what, flags.FormatDuration(e.d))
}

func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Registrar keeps the registry: it recovers it from a Store, applies
// operations to it in order, and answers each operation once the write that
// holds it is durable. It mirrors Mesos's registrar:
//
//   - Recover fetches the registry and then stores the recovering master's
//     MasterInfo; only then are operations applied. Apply before Recover
//     fails; Apply during Recover waits for it.
//   - Operations are applied in the order Apply receives them. While a write
//     is in progress, new operations queue; when it completes, every queued
//     operation is applied in one batch and written in one Store.Write.
//     Each operation's answer (changed or not, or rejected) is given only
//     once its batch is durable; a batch that changes nothing is not
//     written.
//   - A failed or timed-out write (Config.StoreTimeout) aborts the
//     registrar: that batch, every queued operation and every later one
//     fail with ErrAborted. The master should exit (Mesos's does).
//
// Registry returns the last durable registry. All methods are safe for
// concurrent use; the registrar's state is owned by one goroutine.
type Registrar struct {
	cfg   Config
	store Store
	log   *slog.Logger

	mailbox chan func() // unbuffered: a func sent is a func run
	quit    chan struct{}
	done    chan struct{}
	ctx     context.Context // cancelled by Close; store calls derive from it
	cancel  context.CancelFunc
	once    sync.Once
	calls   sync.WaitGroup // store calls in progress

	current    atomic.Pointer[registrypb.Registry]
	queued     atomic.Int64
	fetchTimer *timer
	storeTimer *timer

	// Owned by the loop goroutine.
	phase      phase
	recoverErr error            // why recovery failed (phaseFailed)
	abortErr   error            // set once a write failed: every operation fails with it
	waiters    []chan recovered // Recover calls waiting for the recovery
	waiting    []*pending       // applied during recovery, queued once it succeeds
	queue      []*pending       // waiting for the next batch
	inflight   []*pending       // the batch being written
	recoverOp  *pending         // the operation storing the MasterInfo, until done
	st         *state
	gen        uint64             // identifies the store call in progress
	callTimer  *time.Timer        // its timeout
	dirty      map[Kind][]changed // what the batch in flight changed
	started    time.Time          // when its write started
}

type phase int

const (
	phaseNew phase = iota
	phaseRecovering
	phaseRecovered
	phaseFailed
)

type recovered struct {
	reg *registrypb.Registry
	err error
}

type pendingState int

const (
	stateQueued pendingState = iota
	stateInflight
	stateAnswered
)

type pending struct {
	op      Operation
	done    chan result // buffered; answered exactly once
	state   pendingState
	mutated bool
	err     error
}

type result struct {
	mutated bool
	err     error
}

// New returns a registrar over store, which it uses but does not close.
// It fails only for an invalid Config (Strict). Call Recover next, and
// Close when done.
func New(store Store, cfg Config) (*Registrar, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registrar{
		cfg:        cfg,
		store:      store,
		log:        cfg.Logger,
		mailbox:    make(chan func()),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
		ctx:        ctx,
		cancel:     cancel,
		fetchTimer: &timer{name: MetricStateFetchMS},
		storeTimer: &timer{name: MetricStateStoreMS, window: 24 * time.Hour},
	}
	go r.loop()
	return r, nil
}

// Config returns the registrar's configuration, defaults filled in.
func (r *Registrar) Config() Config { return r.cfg }

// Recover reads the registry from the store (fencing out any master that
// recovered it before, see Store), stores info as the leading master's
// MasterInfo, and returns the registry as of then. Reading is bounded by
// Config.FetchTimeout and storing by Config.StoreTimeout. Recover happens
// once: later calls wait for and return the first one's outcome (their
// info is ignored). When ctx ends first, Recover returns ctx.Err() and the
// recovery carries on. Errors wrap ErrRecovery (and ErrAborted when the
// store failed while storing the MasterInfo), or are ErrClosed.
func (r *Registrar) Recover(ctx context.Context, info *mesospb.MasterInfo) (*registrypb.Registry, error) {
	reply := make(chan recovered, 1)
	info = clone(info)
	if !r.post(func() { r.recover(info, reply) }) {
		return nil, ErrClosed
	}
	select {
	case res := <-reply:
		return res.reg, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Apply applies op and returns, once the registry holding its result is
// durable, whether op changed the registry. A rejected operation returns
// a *RejectedError (errors.Is(err, ErrRejected)) and changes nothing. Other
// errors wrap ErrAborted (a store failure; the registrar is unusable),
// ErrRecovery or ErrNotRecovered, or are ErrClosed.
//
// When ctx ends while op still waits in the queue, op is withdrawn and
// Apply returns ctx.Err(): it was not applied. Once op's batch is being
// written, Apply waits for the write's outcome (bounded by
// Config.StoreTimeout) whatever ctx does.
func (r *Registrar) Apply(ctx context.Context, op Operation) (bool, error) {
	res := r.submit(ctx, []Operation{op})[0]
	return res.mutated, res.err
}

// submit queues ops together and waits for their answers; see Apply for
// what ctx does.
func (r *Registrar) submit(ctx context.Context, ops []Operation) []result {
	results := make([]result, len(ops))
	ps := make([]*pending, 0, len(ops))
	for i, op := range ops {
		if op == nil {
			for j := range results {
				results[j] = result{err: fmt.Errorf("registry: operation %d is nil", i)}
			}
			return results
		}
		ps = append(ps, &pending{op: op, done: make(chan result, 1)})
	}
	if !r.post(func() { r.enqueue(ps) }) {
		for i := range results {
			results[i] = result{err: ErrClosed}
		}
		return results
	}
	withdrawn := false
	for i, p := range ps {
		select {
		case results[i] = <-p.done:
			continue
		case <-ctx.Done():
		}
		if !withdrawn {
			withdrawn = true
			err := ctx.Err()
			r.post(func() { r.withdraw(ps, err) }) // after Close, the loop has answered them all
		}
		results[i] = <-p.done
	}
	return results
}

// Registry returns the last durable registry, nil before Recover has read
// it. It is shared: callers must not modify it (proto.Clone it first).
// Successive calls may return different registries; each is consistent.
func (r *Registrar) Registry() *registrypb.Registry { return r.current.Load() }

// GC prunes the unreachable and gone lists of the registry with
// PruneCandidates (Config.MaxAgentAge and MaxAgentCount, ages taken at now)
// and returns the Prune it applied, or nil when no entry qualified (nothing
// is written then). The master calls it every Config.GCInterval, as Mesos's
// master does, and drops the pruned agents from its own view.
func (r *Registrar) GC(ctx context.Context, now time.Time) (*Prune, error) {
	reg := r.Registry()
	if reg == nil {
		return nil, fmt.Errorf("%w: Attempted to garbage collect the registry before recovering", ErrNotRecovered)
	}
	op := PruneCandidates(reg, now, r.cfg.MaxAgentAge, r.cfg.MaxAgentCount)
	if op == nil {
		return nil, nil
	}
	if _, err := r.Apply(ctx, op); err != nil {
		return nil, err
	}
	return op, nil
}

// Metrics returns the registrar's metrics under Mesos's names:
// registrar/queued_operations, registrar/registry_size_bytes (once the
// registry is read), registrar/state_fetch_ms (once fetched), and
// registrar/state_store_ms with its statistics over the last day
// (registrar/state_store_ms/count, /min, /max, /p50, /p90, /p95, /p99, /p999,
// /p9999, from the second write on). Safe for concurrent use.
func (r *Registrar) Metrics() map[string]float64 {
	m := map[string]float64{MetricQueuedOperations: float64(r.queued.Load())}
	if reg := r.current.Load(); reg != nil {
		m[MetricRegistrySizeBytes] = float64(proto.Size(reg))
	}
	r.fetchTimer.snapshot(m)
	r.storeTimer.snapshot(m)
	return m
}

// Close stops the registrar: operations not yet answered fail with
// ErrClosed (one whose write is in progress may still have been applied),
// and so does every later call. It waits for a store call in progress to
// return, and does not close the store. It is idempotent.
func (r *Registrar) Close() error {
	r.once.Do(func() {
		close(r.quit)
		r.cancel()
	})
	<-r.done
	r.calls.Wait()
	return nil
}

// post runs f on the loop; it reports false once the loop has exited.
func (r *Registrar) post(f func()) bool {
	select {
	case r.mailbox <- f:
		return true
	case <-r.done:
		return false
	}
}

func (r *Registrar) loop() {
	defer close(r.done)
	for {
		select {
		case f := <-r.mailbox:
			f()
		case <-r.quit:
			r.shutdown()
			return
		}
	}
}

func (r *Registrar) shutdown() {
	if r.callTimer != nil {
		r.callTimer.Stop()
	}
	for _, w := range r.waiters {
		w <- recovered{err: ErrClosed}
	}
	r.waiters = nil
	for _, ps := range [][]*pending{r.waiting, r.queue, r.inflight} {
		for _, p := range ps {
			r.answer(p, false, ErrClosed)
		}
	}
	r.waiting, r.queue, r.inflight = nil, nil, nil
	r.queued.Store(0)
}

func (r *Registrar) answer(p *pending, mutated bool, err error) {
	if p.state == stateAnswered {
		return
	}
	p.state = stateAnswered
	p.done <- result{mutated: mutated, err: err}
}

// recover starts the recovery, or joins (or reports) the one that started.
func (r *Registrar) recover(info *mesospb.MasterInfo, reply chan recovered) {
	switch r.phase {
	case phaseRecovering:
		r.waiters = append(r.waiters, reply)
		return
	case phaseRecovered:
		reply <- recovered{reg: r.current.Load()}
		return
	case phaseFailed:
		reply <- recovered{err: r.recoverErr}
		return
	}
	r.phase = phaseRecovering
	r.waiters = append(r.waiters, reply)
	r.log.Info("registry: recovering registrar")
	r.gen++
	gen := r.gen
	r.call("fetch", r.cfg.FetchTimeout, gen, func(ctx context.Context) (func(), error) {
		start := time.Now()
		records, err := r.store.Recover(ctx)
		elapsed := time.Since(start)
		return func() { r.fetched(info, records, elapsed) }, err
	}, func(err error) { r.recoveryFailed(err) })
}

// call runs a store call off the loop, bounded by timeout: when it returns
// in time, its continuation (or onErr) runs on the loop; when the timeout
// fires first, onErr runs with a timeoutError and the late result is
// ignored.
func (r *Registrar) call(what string, timeout time.Duration, gen uint64, f func(context.Context) (func(), error), onErr func(error)) {
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	var settled atomic.Bool
	tm := time.AfterFunc(timeout, func() {
		r.post(func() {
			if settled.CompareAndSwap(false, true) && gen == r.gen {
				onErr(&timeoutError{what: what, d: timeout})
			}
		})
	})
	r.callTimer = tm
	r.calls.Add(1)
	go func() {
		defer r.calls.Done()
		defer cancel()
		next, err := f(ctx)
		tm.Stop()
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = &timeoutError{what: what, d: timeout} // the store saw the deadline first
		}
		r.post(func() {
			if !settled.CompareAndSwap(false, true) || gen != r.gen {
				return
			}
			if err != nil && r.ctx.Err() != nil {
				return // Close cancelled the call: shutdown answers ErrClosed
			}
			if err != nil {
				onErr(err)
				return
			}
			next()
		})
	}()
}

func (r *Registrar) recoveryFailed(err error) {
	r.phase = phaseFailed
	r.recoverErr = fmt.Errorf("%w: Failed to recover registrar: %w", ErrRecovery, err)
	r.log.Error("registry: recovery failed", "error", err)
	for _, w := range r.waiters {
		w <- recovered{err: r.recoverErr}
	}
	r.waiters = nil
	for _, p := range r.waiting {
		r.answer(p, false, r.recoverErr)
	}
	r.waiting = nil
}

// fetched continues the recovery once the store has been read: it decodes
// the registry and queues the operation that stores the MasterInfo.
func (r *Registrar) fetched(info *mesospb.MasterInfo, records []Entry, elapsed time.Duration) {
	st, err := loadState(records, r.log)
	if err != nil {
		r.recoveryFailed(err)
		return
	}
	r.fetchTimer.record(elapsed, time.Now())
	r.st = st
	reg := st.snapshot(nil, nil)
	r.current.Store(reg)
	r.log.Info("registry: fetched the registry", "bytes", proto.Size(reg), "records", len(records),
		"duration", elapsed)
	r.recoverOp = &pending{op: &recoverMaster{info: info}, done: make(chan result, 1)}
	r.queue = append([]*pending{r.recoverOp}, r.queue...)
	r.update()
}

// enqueue takes operations from Apply and ApplyAll.
func (r *Registrar) enqueue(ps []*pending) {
	for _, p := range ps {
		switch {
		case r.abortErr != nil:
			r.answer(p, false, r.abortErr)
		case r.phase == phaseNew:
			r.answer(p, false, fmt.Errorf("%w: Attempted to apply the operation before recovering", ErrNotRecovered))
		case r.phase == phaseFailed:
			r.answer(p, false, r.recoverErr)
		case r.phase == phaseRecovering:
			r.waiting = append(r.waiting, p)
		default:
			r.queue = append(r.queue, p)
		}
	}
	r.queued.Store(int64(len(r.queue)))
	r.update()
}

// withdraw drops the operations of ps that still wait; see Apply.
func (r *Registrar) withdraw(ps []*pending, err error) {
	drop := map[*pending]bool{}
	for _, p := range ps {
		if p.state == stateQueued {
			drop[p] = true
		}
	}
	if len(drop) == 0 {
		return
	}
	keep := func(list []*pending) []*pending {
		out := list[:0:0]
		for _, q := range list {
			if drop[q] {
				r.answer(q, false, err)
				continue
			}
			out = append(out, q)
		}
		return out
	}
	r.waiting = keep(r.waiting)
	r.queue = keep(r.queue)
	r.queued.Store(int64(len(r.queue)))
}

// update applies every queued operation as one batch and starts writing
// it, unless a write is in progress (its completion calls update again).
func (r *Registrar) update() {
	if len(r.inflight) > 0 || len(r.queue) == 0 || r.abortErr != nil {
		return
	}
	start := time.Now()
	batch := r.queue
	r.queue = nil
	r.queued.Store(0)
	t := newTxn(r.st, r.log)
	for _, p := range batch {
		p.state = stateInflight
		t.begin()
		mutated, err := p.op.apply(t)
		if err != nil {
			t.rollback()
			mutated = false
		}
		p.mutated, p.err = mutated, err
	}
	changes, kinds, err := t.changes()
	r.inflight = batch
	if err != nil {
		r.abort(fmt.Errorf("%w: Failed to update registry: %w", ErrAborted, err))
		return
	}
	r.log.Debug("registry: applied operations; updating the registry", "operations", len(batch),
		"changes", len(changes), "duration", time.Since(start))
	if len(changes) == 0 {
		r.finish()
		return
	}
	r.dirty = kinds
	r.gen++
	gen := r.gen
	r.started = time.Now()
	r.call("store", r.cfg.StoreTimeout, gen, func(ctx context.Context) (func(), error) {
		err := r.store.Write(ctx, changes)
		return func() { r.stored() }, err
	}, func(err error) {
		r.abort(fmt.Errorf("%w: Failed to update registry: %w", ErrAborted, err))
	})
}

// stored runs when the batch in flight is durable.
func (r *Registrar) stored() {
	elapsed := time.Since(r.started)
	r.storeTimer.record(elapsed, time.Now())
	r.current.Store(r.st.snapshot(r.current.Load(), r.dirty))
	r.log.Debug("registry: updated the registry", "duration", elapsed)
	r.finish()
}

// finish answers the batch in flight and starts the next one.
func (r *Registrar) finish() {
	batch := r.inflight
	r.inflight = nil
	for _, p := range batch {
		r.answer(p, p.mutated, p.err)
		if p == r.recoverOp {
			r.recovered(p.err)
		}
	}
	r.update()
}

// recovered completes the recovery once the MasterInfo is stored (or its
// operation was rejected).
func (r *Registrar) recovered(err error) {
	r.recoverOp = nil
	if err != nil {
		r.recoveryFailed(fmt.Errorf("Failed to persist MasterInfo: %w", err))
		return
	}
	r.phase = phaseRecovered
	reg := r.current.Load()
	r.log.Info("registry: recovered registrar", "agents", len(reg.GetSlaves().GetSlaves()),
		"unreachable", len(reg.GetUnreachable().GetSlaves()), "gone", len(reg.GetGone().GetSlaves()))
	for _, w := range r.waiters {
		w <- recovered{reg: reg}
	}
	r.waiters = nil
	r.queue = append(r.queue, r.waiting...)
	r.waiting = nil
	r.queued.Store(int64(len(r.queue)))
	r.update()
}

// abort fails the batch in flight and everything queued, and every later
// operation, with err.
func (r *Registrar) abort(err error) {
	r.abortErr = err
	r.log.Error("registry: registrar aborting", "error", err)
	r.gen++ // a late store result is ignored
	inflight := r.inflight
	r.inflight = nil
	for _, p := range inflight {
		r.answer(p, false, err)
		if p == r.recoverOp {
			r.recoverOp = nil
			r.recoveryFailed(fmt.Errorf("Failed to persist MasterInfo: %w", err))
		}
	}
	for _, ps := range [][]*pending{r.queue, r.waiting} {
		for _, p := range ps {
			r.answer(p, false, err)
		}
	}
	r.queue, r.waiting = nil, nil
	r.queued.Store(0)
}
