// Package gc is the agent's garbage collector of old sandbox and checkpoint
// (meta) directories, Mesos's GarbageCollector (src/slave/gc.cpp).
//
// The agent does not delete a finished executor's or framework's directories
// at once: it schedules them for removal --gc_delay (one week) after they
// were last modified, so that operators and frameworks can still read the
// sandbox. A framework or executor that comes back in the meantime
// unschedules its directories again. When the disk fills up, the schedule is
// shortened: every --disk_watch_interval the GC measures how full the work
// directory's filesystem is and removes at once (prunes) every path older
// than the maximum allowed age, see Age.
//
// # Concurrency
//
// A GC is an actor: New starts one goroutine that owns the schedule (a map of
// paths and a heap of removal times driven by a single timer) and Close stops
// it. Every method is safe for concurrent use; they send a closure to the
// actor and return once it has run (Unschedule may then wait for a removal
// in progress). Removals never run on the actor or on the caller's goroutine: the
// actor hands every path that is due to one removal goroutine at a time, so
// paths that fall due together (or while another removal is running) are
// removed as one batch, one path after the other, like the single executor
// Mesos dispatches its rmdirs to. The optional disk watcher is a third
// goroutine that only measures the disk and calls Prune. Metrics and
// MaxAllowedAge read atomics and never wait for the actor.
//
// All timing uses the time package (time.Now, time.Timer), so tests drive it
// with testing/synctest.
package gc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Mesos's defaults (src/slave/constants.hpp) for the flags this package
// serves.
const (
	// DefaultDelay is --gc_delay's default, GC_DELAY: one week.
	DefaultDelay = 7 * 24 * time.Hour
	// DefaultDiskHeadroom is --gc_disk_headroom's default, GC_DISK_HEADROOM.
	DefaultDiskHeadroom = 0.1
	// DefaultDiskWatchInterval is --disk_watch_interval's default,
	// DISK_WATCH_INTERVAL: one minute.
	DefaultDiskWatchInterval = time.Minute
)

// Metric names, as Mesos's agent publishes them on /metrics/snapshot.
const (
	MetricPathRemovalsSucceeded = "gc/path_removals_succeeded"
	MetricPathRemovalsFailed    = "gc/path_removals_failed"
	MetricPathRemovalsPending   = "gc/path_removals_pending"
)

// Sentinel errors.
var (
	// ErrUnscheduled is the result of a scheduled removal that was cancelled
	// by Unschedule or replaced by a later Schedule of the same path (Mesos
	// discards the removal's future in both cases).
	ErrUnscheduled = errors.New("gc: path unscheduled")
	// ErrClosed is returned, or is the result of a removal, once Close has
	// been called.
	ErrClosed = errors.New("gc: garbage collector closed")
	// ErrRemove wraps the cause of a failed removal.
	ErrRemove = errors.New("gc: failed to remove path")
	// ErrInvalidHeadroom matches the error of ValidateHeadroom (and New)
	// with errors.Is.
	ErrInvalidHeadroom = errors.New("gc: invalid gc_disk_headroom")
)

// Log attribute keys of this package, beside the house keys.
const (
	keyPath  = "path"
	keyDelay = "delay"
	keyError = "error"
)

// Config configures a GC. Only cmd/meso fills it from flags.
type Config struct {
	// WorkDir is the agent's --work_dir. The disk watcher measures the
	// filesystem it is on, and mount points under it found inside a path
	// being removed are unmounted first (Mesos MESOS-8830: a persistent
	// volume left mounted in a sandbox must not be wiped). Empty disables
	// both; an agent always sets it.
	WorkDir string
	// Delay is --gc_delay: how long after its last modification Collect
	// removes a path, and the age Age scales down. Zero means DefaultDelay.
	Delay time.Duration
	// DiskHeadroom is --gc_disk_headroom, in [0, 1]; New rejects other
	// values with ValidateHeadroom's error. Zero is a valid headroom, not
	// "unset": pass DefaultDiskHeadroom for Mesos's default.
	DiskHeadroom float64
	// DiskWatchInterval is --disk_watch_interval: the pause between two disk
	// usage checks, the first one an interval after New (as in Mesos). Zero
	// means DefaultDiskWatchInterval; a negative value disables the watcher.
	DiskWatchInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	// DiskUsage returns the used fraction, in [0, 1], of the filesystem
	// holding path. Nil means Usage (statfs). Tests replace it.
	DiskUsage func(path string) (float64, error)
	// Remove removes path and everything below it. It must return an error
	// matching fs.ErrNotExist when path does not exist (such a path is
	// skipped, neither a success nor a failure). Nil means the default,
	// os.Lstat then os.RemoveAll. Tests replace it.
	Remove func(path string) error
}

// hooks are the platform parts tests replace without going through Config.
type hooks struct {
	// mounts lists the mount points of the agent's mount namespace in
	// mount order (/proc/self/mountinfo).
	mounts func() ([]string, error)
	// unmount unmounts target.
	unmount func(target string) error
	// batch, when set, is called by the removal goroutine with the paths of
	// each batch before removing them.
	batch func(paths []string)
}

// GC is the garbage collector. Create it with New; Close stops it.
type GC struct {
	workDir  string
	delay    time.Duration
	headroom float64
	interval time.Duration
	log      *slog.Logger
	usage    func(string) (float64, error)
	remove   func(string) error
	hooks    hooks

	mailbox   chan func()
	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	loopDone  chan struct{}
	watcher   sync.WaitGroup
	closeOnce sync.Once

	// Written by the actor (maxAge by the watcher), read by anyone.
	succeeded atomic.Int64
	failed    atomic.Int64
	pending   atomic.Int64
	maxAge    atomic.Int64 // time.Duration

	// Owned by the actor.
	entries  map[string]*entry
	queue    deadlines
	timer    *time.Timer
	waiting  []*entry // marked removing, not yet handed to the removal goroutine
	inflight []*entry // being removed by the removal goroutine; nil when idle
	done     chan []error
}

var _ io.Closer = (*GC)(nil)

// entry is one scheduled path.
type entry struct {
	path     string
	deadline time.Time
	index    int // in queue; -1 once removing
	result   chan<- error
	removing bool
	// unschedules wait for the running removal (Mesos answers false once
	// it finishes, or fails with it).
	unschedules []chan<- unscheduled
	// reschedules are Schedule calls made while the path was being removed;
	// Mesos runs them once the removal is done.
	reschedules []reschedule
}

type unscheduled struct {
	ok  bool
	err error
}

type reschedule struct {
	delay  time.Duration
	result chan<- error
}

// New validates cfg, starts the GC's actor and, when cfg.WorkDir is set and
// the interval is not negative, its disk watcher. Close stops them.
func New(cfg Config) (*GC, error) {
	return newGC(cfg, platformHooks())
}

func newGC(cfg Config, h hooks) (*GC, error) {
	if err := ValidateHeadroom(cfg.DiskHeadroom); err != nil {
		return nil, err
	}
	if cfg.Delay <= 0 {
		cfg.Delay = DefaultDelay
	}
	if cfg.DiskWatchInterval == 0 {
		cfg.DiskWatchInterval = DefaultDiskWatchInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DiskUsage == nil {
		cfg.DiskUsage = Usage
	}
	if cfg.Remove == nil {
		cfg.Remove = removePath
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &GC{
		workDir:  cfg.WorkDir,
		delay:    cfg.Delay,
		headroom: cfg.DiskHeadroom,
		interval: cfg.DiskWatchInterval,
		log:      cfg.Logger.With("component", "gc"),
		usage:    cfg.DiskUsage,
		remove:   cfg.Remove,
		hooks:    h,
		mailbox:  make(chan func()),
		ctx:      ctx,
		cancel:   cancel,
		loopDone: make(chan struct{}),
		entries:  make(map[string]*entry),
		timer:    time.NewTimer(time.Hour),
		done:     make(chan []error, 1),
	}
	g.timer.Stop()
	// Mesos starts executorDirectoryMaxAllowedAge at age(0).
	g.maxAge.Store(int64(Age(g.delay, g.headroom, 0)))
	go g.loop()
	if g.workDir != "" && g.interval > 0 {
		g.watcher.Add(1)
		go g.watchDisk()
	}
	return g, nil
}

// Close stops the disk watcher and the actor and waits for them. A removal
// in progress finishes the path it is removing; the rest of its batch is not
// attempted. Every removal still pending reports ErrClosed, as do blocked
// Unschedule calls. Later calls fail with ErrClosed (Prune does nothing);
// Metrics keeps answering. Close is idempotent and always returns nil.
func (g *GC) Close() error {
	g.closeOnce.Do(g.cancel)
	<-g.loopDone
	g.watcher.Wait()
	return nil
}

// Schedule removes path, recursively, once delay has elapsed from now. A
// negative or zero delay removes it as soon as possible. Scheduling a path
// that is already scheduled replaces its removal time (the earlier call's
// result is ErrUnscheduled); scheduling a path that is being removed
// schedules it again once that removal has succeeded (when the removal
// fails, this call's result is that failure), as in Mesos.
//
// When Schedule returns, the path is scheduled (and counted as pending).
// The returned channel receives exactly one value and need not be read:
// nil once the path is removed (or was found already gone), an error
// matching ErrRemove when removing it failed, ErrUnscheduled or ErrClosed.
// The path is cleaned (filepath.Clean) and is the key for Unschedule.
func (g *GC) Schedule(delay time.Duration, path string) <-chan error {
	result := make(chan error, 1)
	path = filepath.Clean(path)
	if !g.do(func() { g.schedule(delay, path, result) }) {
		result <- ErrClosed
	}
	return result
}

// Collect schedules path for removal Config.Delay after its last
// modification time, as Mesos's Slave::garbageCollect does: the delay is
// gc_delay - (now - mtime), so a path untouched for longer than gc_delay is
// removed at once. Callers that want the full delay update the modification
// time first (Mesos calls os::utime before removing an executor or a
// framework). It fails, scheduling nothing, when the path cannot be stat'ed.
func (g *GC) Collect(path string) (<-chan error, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("gc: find the modification time of %q: %w", path, err)
	}
	return g.Schedule(g.delay-time.Since(info.ModTime()), path), nil
}

// Unschedule cancels the removal of path. It reports true when the removal
// was pending and is now cancelled, and false when the path was not
// scheduled. When the path is being removed the removal cannot be stopped:
// Unschedule waits for it and reports false, or the removal's error (Mesos
// fails the unschedule with it). It returns ctx.Err() if ctx ends first
// (the unscheduling itself is not undone) and ErrClosed after Close.
func (g *GC) Unschedule(ctx context.Context, path string) (bool, error) {
	reply := make(chan unscheduled, 1)
	path = filepath.Clean(path)
	select {
	case g.mailbox <- func() { g.unschedule(path, reply) }:
	case <-g.ctx.Done():
		return false, ErrClosed
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case r := <-reply:
		return r.ok, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Prune removes at once every scheduled path whose removal is due within
// the next `within` (Mesos's GarbageCollector::prune: remaining time <=
// within, the remaining time of an overdue path being zero). The disk
// watcher calls Prune(Delay - Age(usage)): since Collect schedules a path
// Delay after its modification time, that removes every path modified at
// least Age(usage) ago. Prune returns once the removals are handed to the
// removal goroutine, not when they are done.
func (g *GC) Prune(within time.Duration) {
	g.do(func() { g.prune(within) })
}

// Metrics returns the GC's metrics under Mesos's names: removals that
// succeeded and failed since New (a path found already gone counts as
// neither, as in Mesos), and paths scheduled or being removed.
func (g *GC) Metrics() map[string]float64 {
	return map[string]float64{
		MetricPathRemovalsSucceeded: float64(g.succeeded.Load()),
		MetricPathRemovalsFailed:    float64(g.failed.Load()),
		MetricPathRemovalsPending:   float64(g.pending.Load()),
	}
}

// MaxAllowedAge is the maximum age of a directory after the last disk
// usage check, Age(Delay, DiskHeadroom, usage), or Age(..., 0) before the
// first one. The agent publishes it in seconds as
// slave/executor_directory_max_allowed_age_secs.
func (g *GC) MaxAllowedAge() time.Duration {
	return time.Duration(g.maxAge.Load())
}

// do runs f on the actor and waits for it to finish, so that what a method
// did is visible (in Metrics too) when it returns; it reports false after
// Close.
func (g *GC) do(f func()) bool {
	done := make(chan struct{})
	select {
	case g.mailbox <- func() { f(); close(done) }:
		<-done
		return true
	case <-g.ctx.Done():
		return false
	}
}

// loop is the actor.
func (g *GC) loop() {
	defer close(g.loopDone)
	for {
		select {
		case f := <-g.mailbox:
			f()
		case <-g.timer.C:
			g.startRemoval(time.Now())
		case errs := <-g.done:
			g.finish(errs)
		case <-g.ctx.Done():
			g.shutdown()
			return
		}
	}
}

func (g *GC) schedule(delay time.Duration, path string, result chan<- error) {
	if e := g.entries[path]; e != nil {
		if e.removing {
			g.log.Info("path is being removed; scheduling it again once removed", keyPath, path, keyDelay, delay)
			e.reschedules = append(e.reschedules, reschedule{delay, result})
			return
		}
		g.drop(e)
		e.result <- ErrUnscheduled
	}
	g.log.Info("scheduling path for gc", keyPath, path, keyDelay, delay)
	e := &entry{path: path, deadline: time.Now().Add(delay), result: result}
	g.entries[path] = e
	g.queue.push(e)
	g.pending.Store(int64(len(g.entries)))
	g.resetTimer()
}

func (g *GC) unschedule(path string, reply chan<- unscheduled) {
	e := g.entries[path]
	if e == nil {
		reply <- unscheduled{}
		return
	}
	if e.removing {
		e.unschedules = append(e.unschedules, reply)
		return
	}
	g.log.Info("unscheduling path from gc", keyPath, path)
	g.drop(e)
	e.result <- ErrUnscheduled
	g.resetTimer()
	reply <- unscheduled{ok: true}
}

// drop forgets a scheduled entry that is not being removed.
func (g *GC) drop(e *entry) {
	g.queue.remove(e)
	delete(g.entries, e.path)
	g.pending.Store(int64(len(g.entries)))
}

func (g *GC) prune(within time.Duration) {
	if within < 0 {
		return // no remaining time is negative
	}
	n := g.startRemoval(time.Now().Add(within))
	if n > 0 {
		g.log.Info("pruning paths due within the given time", "within", within, "paths", n)
	}
}

// startRemoval hands every scheduled path due by t to the removal
// goroutine and returns how many there were.
func (g *GC) startRemoval(t time.Time) int {
	n := 0
	for len(g.queue) > 0 && !g.queue[0].deadline.After(t) {
		e := g.queue.pop()
		e.removing = true
		g.waiting = append(g.waiting, e)
		n++
	}
	g.kick()
	g.resetTimer()
	return n
}

// kick starts the removal goroutine on every waiting path unless it is
// already running; the paths that fall due meanwhile make the next batch.
func (g *GC) kick() {
	if g.inflight != nil || len(g.waiting) == 0 || g.ctx.Err() != nil {
		return
	}
	g.inflight, g.waiting = g.waiting, nil
	paths := make([]string, len(g.inflight))
	for i, e := range g.inflight {
		paths[i] = e.path
	}
	go func() { g.done <- g.removeBatch(paths) }()
}

// finish records the outcome of the batch in flight; errs is aligned with it.
func (g *GC) finish(errs []error) {
	batch := g.inflight
	g.inflight = nil
	type outcome struct {
		e   *entry
		err error
	}
	var again []outcome
	for i, e := range batch {
		err := errs[i]
		switch {
		case err == nil:
			g.log.Info("deleted path", keyPath, e.path)
			g.succeeded.Add(1)
		case err == errSkipped:
			g.log.Info("skipped path which does not exist", keyPath, e.path)
			err = nil
		case errors.Is(err, ErrClosed):
		default:
			g.log.Warn("failed to delete path", keyPath, e.path, keyError, err)
			g.failed.Add(1)
			err = fmt.Errorf("%w %q: %w", ErrRemove, e.path, err)
		}
		delete(g.entries, e.path)
		e.result <- err
		for _, u := range e.unschedules {
			u <- unscheduled{err: err}
		}
		if len(e.reschedules) > 0 {
			again = append(again, outcome{e, err})
		}
	}
	// Schedule calls made during a removal run after it, in order, so the
	// last one wins; a failed removal fails them instead.
	for _, o := range again {
		for _, r := range o.e.reschedules {
			switch {
			case o.err != nil:
				r.result <- o.err
			case g.ctx.Err() != nil:
				r.result <- ErrClosed
			default:
				g.schedule(r.delay, o.e.path, r.result)
			}
		}
	}
	g.pending.Store(int64(len(g.entries)))
	g.kick()
	g.resetTimer()
}

// resetTimer points the timer at the earliest removal time.
func (g *GC) resetTimer() {
	if len(g.queue) == 0 {
		g.timer.Stop()
		return
	}
	g.timer.Reset(time.Until(g.queue[0].deadline))
}

// shutdown ends the actor: it waits for the batch in flight and fails
// everything still scheduled with ErrClosed.
func (g *GC) shutdown() {
	if g.inflight != nil {
		g.finish(<-g.done)
	}
	g.timer.Stop()
	for _, e := range g.entries {
		e.result <- ErrClosed
		for _, u := range e.unschedules {
			u <- unscheduled{err: ErrClosed}
		}
		for _, r := range e.reschedules {
			r.result <- ErrClosed
		}
	}
	clear(g.entries)
	g.queue = nil
	g.waiting = nil
	g.pending.Store(0)
}
