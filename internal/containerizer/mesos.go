//go:build unix

package containerizer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer/ioswitchboard"
	"github.com/meso-project/meso/internal/users"
	"github.com/meso-project/meso/pkg/resources"
)

// Config configures a Mesos containerizer.
type Config struct {
	Logger *slog.Logger
	// Launcher is required.
	Launcher Launcher
	// Isolators run in this order (cleanup in reverse); the composition root
	// builds them from --isolation in Mesos's table order.
	Isolators []Isolator
	// Helper is the argv of the launch helper (package launch), e.g.
	// {"/usr/bin/meso", "launch"}. Without it isolators see a process that
	// is already running, and namespaces cannot be set up.
	Helper []string
	// CFSQuota mirrors --cgroups_enable_cfs: usage then reports the cpus
	// request as cpus_limit, as Mesos does.
	CFSQuota bool
}

// unkillableWait is how long a destroy whose launcher could not kill every
// process still waits for the container's first process.
var unkillableWait = 10 * time.Second

// LaunchError is a launch that failed; Err is the cause, in the words Mesos
// puts after "Failed to launch container: ".
type LaunchError struct {
	ID  string
	Err error
}

func (e *LaunchError) Error() string {
	return "containerizer: launching container " + e.ID + ": " + e.Err.Error()
}

// Unwrap makes errors.Is(err, ErrLaunch) hold, and reaches the cause.
func (e *LaunchError) Unwrap() []error { return []error{ErrLaunch, e.Err} }

// Mesos is Mesos's "mesos" containerizer: a launcher and isolators. It is an
// actor: the table of containers is owned by one goroutine (loop); the work
// of a launch runs in the caller's goroutine and that of a destroy in a
// goroutine of its own, both reaching the table through the actor.
type Mesos struct {
	cfg Config
	log *slog.Logger

	mailbox   chan func()
	stop      chan struct{} // closed by Close
	stopped   chan struct{} // closed when the loop has ended
	closeOnce sync.Once

	// Owned by the loop.
	containers    map[string]*container
	destroyErrors uint64
}

var (
	_ Containerizer      = (*Mesos)(nil)
	_ MetricsReporter    = (*Mesos)(nil)
	_ InContainerFetcher = (*Mesos)(nil)
	_ Nester             = (*Mesos)(nil)
)

// FetchesInContainer is true with a launch helper: it runs the fetch.
func (m *Mesos) FetchesInContainer() bool { return len(m.cfg.Helper) > 0 }

type containerState int

const (
	preparing containerState = iota
	isolating
	running
	destroying
	terminated
)

func (s containerState) String() string {
	return [...]string{"PREPARING", "ISOLATING", "RUNNING", "DESTROYING", "TERMINATED"}[s]
}

// container is one container. Fields other than id, cfg, done and term are
// owned by the loop; term is written once, before done is closed, and read
// only after.
type container struct {
	id  string
	cfg ContainerConfig

	state    containerState
	proc     *Process
	requests []*mesospb.Resource
	limits   map[string]float64
	// destroyRequested is set by a Destroy that arrived during the launch;
	// the launch notices it and destroys instead of releasing.
	destroyRequested bool
	grace            time.Duration
	destroyed        bool
	limitation       *Limitation
	cancelWatch      context.CancelFunc
	// parent is a nested container's parent; children are the nested
	// containers known (live or ended) under this one.
	parent   *container
	children map[string]*container
	// sb is the IO switchboard of a container with a tty or of the DEBUG
	// class; nil otherwise.
	sb *ioswitchboard.Switchboard
	// workDir is where a DEBUG container's processes run (its parent's
	// sandbox); empty: its own sandbox.
	workDir string

	done chan struct{}
	term Termination
}

// New starts a Mesos containerizer. Its owner calls Recover next, before
// any Launch, with the containers it knows of (none on a fresh agent), so
// that what an earlier run of the agent left behind is adopted or
// destroyed.
func New(ctx context.Context, cfg Config) (*Mesos, error) {
	if cfg.Launcher == nil {
		return nil, errors.New("containerizer: a launcher is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mesos{
		cfg:        cfg,
		log:        log,
		mailbox:    make(chan func(), 64),
		stop:       make(chan struct{}),
		stopped:    make(chan struct{}),
		containers: make(map[string]*container),
	}
	go m.loop()
	return m, nil
}

// Recover adopts the containers an earlier run of the agent launched
// (Mesos's MesosContainerizer::recover): each one whose first process is
// still alive runs on, watched again by the isolators; one whose process is
// gone ends at once (its Wait reports an unknown exit status) and is
// cleaned up. Containers the launcher finds that are not in states are
// orphans and destroyed; so is whatever isolators hold for them.
func (m *Mesos) Recover(ctx context.Context, states []Recovered) error {
	known, err := m.cfg.Launcher.Recover(ctx)
	if err != nil {
		return fmt.Errorf("containerizer: recovering the %s launcher: %w", m.cfg.Launcher.Name(), err)
	}
	want := make(map[string]bool, len(states))
	ids := make([]string, 0, len(states))
	for _, st := range states {
		want[st.ID] = true
		ids = append(ids, st.ID)
	}
	for _, id := range known {
		if want[id] {
			continue
		}
		m.log.Info("destroying an orphan container left by an earlier agent", "container_id", id)
		if err := m.cfg.Launcher.Destroy(ctx, id, 0); err != nil {
			return fmt.Errorf("containerizer: destroying orphan container %s: %w", id, err)
		}
		m.cleanup(ctx, Container{ID: id})
	}
	for _, iso := range m.cfg.Isolators {
		if r, ok := iso.(Recoverer); ok {
			if err := r.Recover(ctx, ids); err != nil {
				return fmt.Errorf("containerizer: recovering isolator %s: %w", iso.Name(), err)
			}
		}
	}
	for _, st := range states {
		cfg := ContainerConfig{ID: st.ID, Dir: st.Dir, Resources: st.Resources, Limits: st.Limits}
		if st.CommandTask {
			cfg.TaskInfo = &mesospb.TaskInfo{}
		}
		c := &container{id: st.ID, cfg: cfg, state: running, requests: st.Resources, limits: st.Limits,
			done: make(chan struct{})}
		proc, err := AdoptProcess(st.Pid)
		if err != nil {
			m.log.Info("a recovered container's process is gone", "container_id", st.ID, "pid", st.Pid, "err", err)
			proc = exitedProcess()
		}
		c.proc = proc
		var exists bool
		if err := m.call(ctx, func() {
			if _, exists = m.containers[st.ID]; exists {
				return
			}
			m.containers[st.ID] = c
			wctx, cancel := context.WithCancel(context.Background())
			c.cancelWatch = cancel
			if proc.Pid() > 0 {
				for _, iso := range m.cfg.Isolators {
					if w, ok := iso.(Watcher); ok {
						go m.watch(wctx, c, iso.Name(), w)
					}
				}
			}
		}); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("%w: %s", ErrExists, st.ID)
		}
		go func() {
			<-proc.Done()
			m.post(func() { m.reaped(c) })
		}()
		m.log.Info("recovered container", "container_id", st.ID, "pid", proc.Pid())
	}
	return nil
}

func (m *Mesos) loop() {
	defer close(m.stopped)
	for {
		select {
		case f := <-m.mailbox:
			f()
		case <-m.stop:
			for _, c := range m.containers {
				if c.cancelWatch != nil {
					c.cancelWatch()
				}
			}
			return
		}
	}
}

// Close stops the containerizer. Containers keep running.
func (m *Mesos) Close() error {
	var errs []error
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.stopped
		for _, iso := range m.cfg.Isolators {
			if c, ok := iso.(io.Closer); ok {
				errs = append(errs, c.Close())
			}
		}
	})
	<-m.stopped
	return errors.Join(errs...)
}

// post runs f on the loop without waiting; false once stopped.
func (m *Mesos) post(f func()) bool {
	select {
	case m.mailbox <- f:
		return true
	case <-m.stop:
		return false
	}
}

// call runs f on the loop and waits for it.
func (m *Mesos) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case m.mailbox <- func() { f(); close(done) }:
	case <-m.stop:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-m.stopped:
		select {
		case <-done:
			return nil
		default:
			return ErrStopped
		}
	}
}

// do is call without a caller's context: the launch and destroy paths use
// it once the container exists, so that a cancelled request cannot leave a
// process behind.
func (m *Mesos) do(f func()) error { return m.call(context.Background(), f) }

// Launch prepares, forks, isolates and releases the container.
func (m *Mesos) Launch(ctx context.Context, cfg ContainerConfig) error {
	if cfg.ID == "" {
		return &LaunchError{ID: cfg.ID, Err: errors.New("an ID is required")}
	}
	if err := checkContainerInfo(cfg.ContainerInfo); err != nil {
		if errors.Is(err, ErrNotSupported) {
			return fmt.Errorf("%w: container %s: %w", ErrNotSupported, cfg.ID, err)
		}
		return &LaunchError{ID: cfg.ID, Err: err}
	}
	c := &container{id: cfg.ID, cfg: cfg, state: preparing, requests: cfg.Resources, limits: cfg.Limits,
		done: make(chan struct{})}
	var exists bool
	var refused error
	if err := m.call(ctx, func() {
		// An ended nested container's ID may be used again (Mesos forgot
		// it, keeping only its termination); a top-level one's only once
		// Destroy forgot it.
		old := m.containers[cfg.ID]
		if exists = old != nil && (old.state != terminated || old.parent == nil); exists {
			return
		}
		if refused = m.adopt(c); refused != nil {
			return
		}
		if old != nil {
			m.forget(old)
		}
		m.containers[cfg.ID] = c
	}); err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("%w: %s", ErrExists, cfg.ID)
	}
	if refused != nil {
		return &LaunchError{ID: cfg.ID, Err: refused}
	}
	if len(cfg.Command) == 0 {
		return m.failBeforeFork(c, errors.New("no command to run"))
	}
	cfg = c.cfg // a nested container's sandbox, output and user
	nested := c.parent != nil
	// shared: a nested container in its root's isolation (Mesos's default
	// share_cgroups); one with share_cgroups=false goes through every
	// isolator phase as a top-level container does, and gets cgroups of
	// its own below its parent's.
	shared := nested && !ownCgroups(cfg)
	log := m.log.With("container_id", cfg.ID)
	if nested {
		if err := makeSandbox(cfg.Dir, cfg.User); err != nil {
			return m.failBeforeFork(c, err)
		}
	}

	var li LaunchInfo
	for _, iso := range m.cfg.Isolators {
		var info *LaunchInfo
		var err error
		if p, ok := iso.(NestedPreparer); ok && shared {
			info, err = p.PrepareNested(ctx, cfg)
		} else if p, ok := iso.(Preparer); ok && !shared {
			info, err = p.Prepare(ctx, cfg)
		}
		if err != nil {
			return m.failBeforeFork(c, err)
		}
		li.merge(info)
	}

	spec := ForkSpec{
		Command: cfg.Command, Env: cfg.Env, Dir: c.workDirOrSandbox(), Stdout: cfg.Stdout, Stderr: cfg.Stderr,
		User: cfg.User, Launch: li, Helper: m.cfg.Helper, Fetch: cfg.Fetch,
	}
	if err := m.switchboard(c, &spec); err != nil {
		return m.failBeforeFork(c, err)
	}
	proc, err := m.cfg.Launcher.Fork(ctx, cfg.ID, spec)
	if c.sb != nil {
		c.sb.Started()
	}
	if err != nil {
		return m.failBeforeFork(c, fmt.Errorf("failed to fork: %w", err))
	}
	var abort bool
	if err := m.do(func() {
		c.proc = proc
		abort = c.destroyRequested
		if !abort {
			c.state = isolating
		}
	}); err != nil {
		proc.Abort()
		_ = m.cfg.Launcher.Destroy(context.Background(), cfg.ID, proc.Pid())
		return err
	}
	go func() {
		<-proc.Done()
		m.post(func() { m.reaped(c) })
	}()
	if abort {
		return m.failAfterFork(c, errors.New("the container was destroyed during its launch"))
	}
	log.Debug("container forked", "pid", proc.Pid())
	if cfg.OnForked != nil {
		if err := cfg.OnForked(proc.Pid()); err != nil {
			return m.failAfterFork(c, fmt.Errorf("failed to checkpoint the pid: %w", err))
		}
	}

	for _, iso := range m.cfg.Isolators {
		if j, ok := iso.(Joiner); ok && shared {
			if err := j.Join(ctx, c.root().ref(c.root().pid()), proc.Pid()); err != nil {
				return m.failAfterFork(c, fmt.Errorf("failed to isolate with %s: %w", iso.Name(), err))
			}
		} else if i, ok := iso.(Isolater); ok && !shared {
			if err := i.Isolate(ctx, c.ref(proc.Pid())); err != nil {
				return m.failAfterFork(c, fmt.Errorf("failed to isolate with %s: %w", iso.Name(), err))
			}
		}
	}
	var requests []*mesospb.Resource
	var limits map[string]float64
	if err := m.do(func() { requests, limits = c.requests, c.limits }); err != nil {
		return m.failAfterFork(c, err)
	}
	for _, iso := range m.cfg.Isolators {
		if u, ok := iso.(Updater); ok && !shared {
			if err := u.Update(ctx, c.ref(proc.Pid()), requests, limits); err != nil {
				return m.failAfterFork(c, fmt.Errorf("failed to update %s: %w", iso.Name(), err))
			}
		}
	}

	if err := m.do(func() {
		abort = c.destroyRequested || c.state != isolating
		if abort {
			return
		}
		c.state = running
		wctx, cancel := context.WithCancel(context.Background())
		c.cancelWatch = cancel
		for _, iso := range m.cfg.Isolators {
			if w, ok := iso.(Watcher); ok && !shared {
				go m.watch(wctx, c, iso.Name(), w)
			}
		}
		// Without a launch helper the command runs from the fork on: it
		// may have ended already, and its reaped (on the loop before
		// this) found the container still isolating.
		select {
		case <-proc.Done():
			m.reaped(c)
		default:
		}
	}); err != nil {
		return m.failAfterFork(c, err)
	}
	if abort {
		return m.failAfterFork(c, errors.New("the container was destroyed during its launch"))
	}
	if err := proc.Release(); err != nil {
		return m.failAfterFork(c, err)
	}
	// The fetch runs in the released helper, inside the container (it
	// counts against the container's limits; a destroy kills it).
	if err := proc.WaitFetched(ctx); err != nil {
		return m.failAfterFork(c, err)
	}
	log.Debug("container running", "pid", proc.Pid())
	return nil
}

// failBeforeFork undoes a launch that has no process yet.
func (m *Mesos) failBeforeFork(c *container, cause error) error {
	m.cleanup(context.Background(), c.ref(0))
	term := Termination{Status: -1, ExitCode: -1, Message: cause.Error()}
	if err := m.do(func() {
		term.Destroyed = c.destroyRequested
		c.state = terminated
		if m.containers[c.id] == c {
			m.forget(c)
		}
	}); err != nil {
		m.log.Debug("containerizer stopped during a failed launch", "container_id", c.id)
	}
	c.term = term
	close(c.done)
	return &LaunchError{ID: c.id, Err: cause}
}

// failAfterFork destroys a container whose launch failed once forked.
func (m *Mesos) failAfterFork(c *container, cause error) error {
	c.proc.Abort()
	if err := m.do(func() { m.startDestroy(c, 0) }); err != nil {
		// Stopped: kill it here.
		m.destroySeq(c, 0, nil)
	}
	<-c.done
	if err := m.do(func() {
		if m.containers[c.id] == c {
			m.forget(c)
		}
	}); err != nil {
		m.log.Debug("containerizer stopped during a failed launch", "container_id", c.id)
	}
	return &LaunchError{ID: c.id, Err: cause}
}

// watch waits for one isolator's limitation.
func (m *Mesos) watch(ctx context.Context, c *container, name string, w Watcher) {
	lim, err := w.Watch(ctx, c.ref(c.proc.Pid()))
	switch {
	case ctx.Err() != nil:
	case err != nil:
		m.log.Warn("watching a container failed", "container_id", c.id, "isolator", name, "err", err)
	case lim != nil:
		m.post(func() { m.limited(c, lim) })
	}
}

// limited destroys a container that hit a limit (on the loop).
func (m *Mesos) limited(c *container, lim *Limitation) {
	if c.state != running {
		return
	}
	m.log.Info("container reached a resource limit and will be destroyed", "container_id", c.id,
		"reason", lim.Reason.String())
	c.limitation = lim
	m.startDestroy(c, 0)
}

// reaped handles the end of the first process (on the loop): the container
// ends with it, as in Mesos.
func (m *Mesos) reaped(c *container) {
	if c.state == running {
		m.startDestroy(c, 0)
	}
}

// startDestroy moves c to DESTROYING and destroys it in a goroutine (on the
// loop).
func (m *Mesos) startDestroy(c *container, grace time.Duration) {
	if c.state == destroying || c.state == terminated {
		return
	}
	c.state = destroying
	cancel := c.cancelWatch
	go m.destroySeq(c, grace, cancel)
}

// destroySeq kills every process of c, waits for the first one to be
// reaped, cleans the isolators up and publishes the termination.
func (m *Mesos) destroySeq(c *container, grace time.Duration, cancelWatch context.CancelFunc) {
	if cancelWatch != nil {
		cancelWatch()
	}
	ctx := context.Background()
	m.destroyChildren(c)
	proc := c.proc
	failed := false
	if grace > 0 {
		select {
		case <-proc.Done():
		default:
			if err := m.cfg.Launcher.Signal(c.id, proc.Pid(), syscall.SIGTERM); err != nil {
				m.log.Debug("signalling container", "container_id", c.id, "err", err)
			}
			t := time.NewTimer(grace)
			select {
			case <-proc.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	var term Termination
	if err := m.cfg.Launcher.Destroy(ctx, c.id, proc.Pid()); err != nil {
		m.log.Error("the launcher failed to destroy a container", "container_id", c.id, "err", err)
		failed = true
		// A process the kernel will not let die (stuck in the kernel)
		// keeps the first one too, maybe: do not wait for it forever. The
		// isolators keep what they hold; the destroy counts as failed.
		select {
		case <-proc.Done():
		case <-time.After(unkillableWait):
			term = Termination{Status: -1, ExitCode: -1, Destroyed: true,
				Message: "failed to kill the container's processes: " + err.Error()}
		}
	} else {
		<-proc.Done()
	}
	if term.Message == "" {
		if !m.cleanup(ctx, c.ref(proc.Pid())) {
			failed = true
		}
		e := proc.Exit()
		term = Termination{Status: e.Status, ExitCode: e.ExitCode, Signal: e.Signal}
		if e.Err != nil {
			term.Message = e.Err.Error()
		} else {
			term.Message = describe(term)
		}
	}
	published := m.do(func() {
		term.Destroyed = term.Destroyed || c.destroyed || c.destroyRequested || c.limitation != nil
		term.Limitation = c.limitation
		c.state = terminated
		if failed {
			m.destroyErrors++
		}
		// The nested containers' records go with their parent's end, as
		// Mesos removes their checkpointed terminations with the root
		// container's runtime directory.
		for _, child := range c.children {
			if m.containers[child.id] == child {
				m.forget(child)
			}
		}
	}) == nil
	if !published {
		term.Destroyed = true
	}
	c.term = term
	close(c.done)
	m.log.Debug("container terminated", "container_id", c.id, "status", term.Status, "destroyed", term.Destroyed)
}

// cleanup runs the isolators' Cleanup in reverse order; it reports whether
// all succeeded.
func (m *Mesos) cleanup(ctx context.Context, c Container) bool {
	ok := true
	for i := len(m.cfg.Isolators) - 1; i >= 0; i-- {
		iso := m.cfg.Isolators[i]
		if cl, isCleaner := iso.(Cleaner); isCleaner {
			if err := cl.Cleanup(ctx, c); err != nil {
				m.log.Warn("isolator cleanup failed", "container_id", c.ID, "isolator", iso.Name(), "err", err)
				ok = false
			}
		}
	}
	return ok
}

// ref is what isolators are told about c; pid is 0 before the fork.
func (c *container) ref(pid int) Container {
	return Container{ID: c.id, Pid: pid, Dir: c.cfg.Dir, CommandTask: c.cfg.TaskInfo != nil}
}

// lookup returns the container with id (on the loop).
func (m *Mesos) lookup(ctx context.Context, id string) (*container, error) {
	var c *container
	if err := m.call(ctx, func() { c = m.containers[id] }); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	return c, nil
}

// Wait blocks until the container ended or ctx is done.
func (m *Mesos) Wait(ctx context.Context, id string) (Termination, error) {
	c, err := m.lookup(ctx, id)
	if err != nil {
		return Termination{}, err
	}
	select {
	case <-c.done:
		return c.term, nil
	case <-ctx.Done():
		return Termination{}, ctx.Err()
	}
}

// Destroy destroys the container (see Containerizer) and forgets it.
func (m *Mesos) Destroy(ctx context.Context, id string, grace time.Duration) error {
	var c *container
	if err := m.call(ctx, func() {
		c = m.containers[id]
		if c == nil {
			return
		}
		switch c.state {
		case preparing, isolating:
			c.destroyRequested = true
			c.grace = grace
		case running:
			c.destroyed = true
			m.startDestroy(c, grace)
		}
	}); err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return fmt.Errorf("containerizer: destroying %s: %w", id, ctx.Err())
	}
	return m.call(ctx, func() {
		// An ended nested container stays known (Wait answers) until
		// Remove or its parent's end, as in Mesos.
		if m.containers[id] == c && c.parent == nil {
			m.forget(c)
		}
	})
}

// Update records the container's resources and applies them through the
// isolators. A container being destroyed is left alone, as in Mesos.
func (m *Mesos) Update(ctx context.Context, id string, requests []*mesospb.Resource, limits map[string]float64) error {
	var c *container
	var apply bool
	var ref Container
	if err := m.call(ctx, func() {
		if c = m.containers[id]; c == nil {
			return
		}
		if c.state == destroying || c.state == terminated {
			return
		}
		c.requests, c.limits = requests, limits
		apply = c.state == running
		if apply {
			ref = c.ref(c.proc.Pid())
		}
	}); err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	if !apply {
		return nil
	}
	for _, iso := range m.cfg.Isolators {
		if u, ok := iso.(Updater); ok {
			if err := u.Update(ctx, ref, requests, limits); err != nil {
				return fmt.Errorf("containerizer: updating %s of container %s: %w", iso.Name(), id, err)
			}
		}
	}
	return nil
}

// Usage merges the isolators' statistics and adds the limits from the
// container's resources (Mesos's MesosContainerizerProcess::_usage).
func (m *Mesos) Usage(ctx context.Context, id string) (*mesospb.ResourceStatistics, error) {
	var c *container
	var requests []*mesospb.Resource
	var limits map[string]float64
	var ref Container
	if err := m.call(ctx, func() {
		if c = m.containers[id]; c != nil {
			requests, limits = c.requests, c.limits
			if c.proc != nil {
				ref = c.ref(c.proc.Pid())
			}
		}
	}); err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	out := &mesospb.ResourceStatistics{}
	for _, iso := range m.cfg.Isolators {
		u, ok := iso.(Usager)
		if !ok {
			continue
		}
		st, err := u.Usage(ctx, ref)
		if err != nil {
			m.log.Debug("skipping an isolator's statistics", "container_id", id, "isolator", iso.Name(), "err", err)
			continue
		}
		proto.Merge(out, st)
	}
	out.Timestamp = proto.Float64(float64(time.Now().UnixNano()) / 1e9)
	setLimits(out, requests, limits, m.cfg.CFSQuota)
	return out, nil
}

// setLimits fills the limit fields of usage from the resources, as Mesos's
// containerizer does.
func setLimits(out *mesospb.ResourceStatistics, requests []*mesospb.Resource, limits map[string]float64, cfs bool) {
	q := resources.Resources(requests).Quantities()
	cpus, hasCPUs := q["cpus"]
	mem, hasMem := q["mem"]
	if hasCPUs {
		out.CpusSoftLimit = proto.Float64(cpus)
	}
	if l, ok := limits["cpus"]; ok {
		if math.IsInf(l, 1) {
			l = float64(runtime.NumCPU())
		}
		out.CpusLimit = proto.Float64(l)
	} else if cfs && hasCPUs {
		out.CpusLimit = proto.Float64(cpus)
	}
	if hasMem {
		out.MemSoftLimitBytes = proto.Uint64(megabytes(mem))
	}
	if l, ok := limits["mem"]; ok {
		if math.IsInf(l, 1) {
			out.MemLimitBytes = proto.Uint64(TotalMemory())
		} else {
			out.MemLimitBytes = proto.Uint64(megabytes(l))
		}
	} else if hasMem {
		out.MemLimitBytes = proto.Uint64(megabytes(mem))
	}
}

// megabytes converts a mem scalar (MB, fractional) to bytes, truncating to
// whole megabytes as Mesos's Megabytes(uint64) does for limits.
func megabytes(mb float64) uint64 { return uint64(mb) << 20 }

// Status reports the container's ID, its first process's pid and what the
// isolators add. It also asks the LimitChecker isolators whether the
// container has already hit a limit, and if so destroys it for that limit
// before answering: a task whose process the kernel's OOM killer ended is
// then reported as Mesos's agent usually reports it (TASK_FAILED with
// REASON_CONTAINER_LIMITATION_MEMORY), not by whichever of the executor and
// the OOM notification happens to be first.
func (m *Mesos) Status(ctx context.Context, id string) (Status, error) {
	var c *container
	var pid int
	var lim *Limitation
	var live bool
	var ref Container
	if err := m.call(ctx, func() {
		if c = m.containers[id]; c == nil {
			return
		}
		if c.proc != nil {
			pid = c.proc.Pid()
		}
		ref = c.ref(pid)
		lim = c.limitation
		live = c.state == running
	}); err != nil {
		return Status{}, err
	}
	if c == nil {
		return Status{}, fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	if lim == nil && live {
		for _, iso := range m.cfg.Isolators {
			lc, ok := iso.(LimitChecker)
			if !ok {
				continue
			}
			found, err := lc.Check(ctx, ref)
			if err != nil {
				m.log.Debug("checking a container's limits", "container_id", id, "isolator", iso.Name(), "err", err)
				continue
			}
			if found != nil {
				if err := m.call(ctx, func() { m.limited(c, found); lim = c.limitation }); err != nil {
					return Status{}, err
				}
				break
			}
		}
	}
	cs := &mesospb.ContainerStatus{ContainerId: IDProto(id)}
	if pid > 0 {
		cs.ExecutorPid = proto.Uint32(uint32(pid))
	}
	for _, iso := range m.cfg.Isolators {
		s, ok := iso.(Statuser)
		if !ok {
			continue
		}
		st, err := s.Status(ctx, ref)
		if err != nil {
			m.log.Debug("skipping an isolator's status", "container_id", id, "isolator", iso.Name(), "err", err)
			continue
		}
		proto.Merge(cs, st)
	}
	return Status{ContainerStatus: cs, Limitation: lim}, nil
}

// Containers lists the containers that have not ended.
func (m *Mesos) Containers(ctx context.Context) ([]string, error) {
	var ids []string
	err := m.call(ctx, func() {
		for id, c := range m.containers {
			if c.state != terminated {
				ids = append(ids, id)
			}
		}
	})
	slices.Sort(ids)
	return ids, err
}

// Metrics reports containerizer/mesos/container_destroy_errors.
func (m *Mesos) Metrics(ctx context.Context) (map[string]float64, error) {
	var n uint64
	if err := m.call(ctx, func() { n = m.destroyErrors }); err != nil {
		return nil, err
	}
	return map[string]float64{"containerizer/mesos/container_destroy_errors": float64(n)}, nil
}

// adopt ties a nested container to its parent, as Mesos's launch does
// (on the loop): the parent must be known and not ending; the nested
// container gets its sandbox under its root container's, its output there
// and, when it names none, its parent's user. Top-level containers pass.
func (m *Mesos) adopt(c *container) error {
	pid, ok := ParentID(c.id)
	if !ok {
		return nil
	}
	p := m.containers[pid]
	if p == nil || p.state == terminated {
		return fmt.Errorf("Parent container %s does not exist", pid)
	}
	if p.state == destroying {
		return fmt.Errorf("Parent container %s is in 'DESTROYING' state", pid)
	}
	if c.cfg.TaskInfo != nil {
		return errors.New("Nested containers may not supply a TaskInfo/ExecutorInfo")
	}
	if c.cfg.OnForked != nil {
		return errors.New("Nested containers may not be checkpointed")
	}
	root := p.root()
	if root.cfg.Dir == "" {
		return fmt.Errorf("Unexpected empty sandbox directory for root container %s", root.id)
	}
	c.cfg.Dir = SandboxPath(root.cfg.Dir, c.id)
	if c.cfg.Stdout == "" {
		c.cfg.Stdout = filepath.Join(c.cfg.Dir, "stdout")
	}
	if c.cfg.Stderr == "" {
		c.cfg.Stderr = filepath.Join(c.cfg.Dir, "stderr")
	}
	if c.cfg.User == "" {
		c.cfg.User = p.cfg.User
	}
	// The environment, as Mesos's _launch builds it: a DEBUG container
	// inherits its parent's (MESOS_SANDBOX included) and runs in the
	// parent's sandbox; others get MESOS_SANDBOX. The command's own
	// variables win.
	env := map[string]string{}
	var order []string
	set := func(kv string) {
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	if c.cfg.Debug {
		for _, kv := range p.cfg.Env {
			set(kv)
		}
		c.workDir = p.workDirOrSandbox()
	} else {
		set("MESOS_SANDBOX=" + c.cfg.Dir)
	}
	for _, kv := range c.cfg.Env {
		set(kv)
	}
	if _, ok := env["PATH"]; !ok {
		set("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	c.cfg.Env = c.cfg.Env[:0:0]
	for _, k := range order {
		c.cfg.Env = append(c.cfg.Env, k+"="+env[k])
	}
	c.parent = p
	if p.children == nil {
		p.children = make(map[string]*container)
	}
	p.children[c.id] = c
	return nil
}

// forget removes c from the table, with the records of its nested
// containers, and releases its switchboard (on the loop).
func (m *Mesos) forget(c *container) {
	for _, child := range c.children {
		if m.containers[child.id] == child {
			m.forget(child)
		}
	}
	delete(m.containers, c.id)
	if c.parent != nil && c.parent.children[c.id] == c {
		delete(c.parent.children, c.id)
	}
	if c.sb != nil {
		go c.sb.Close()
	}
}

// ownCgroups reports whether a nested container asked for cgroups of its
// own (LinuxInfo.share_cgroups=false).
func ownCgroups(cfg ContainerConfig) bool {
	li := cfg.ContainerInfo.GetLinuxInfo()
	return li != nil && li.ShareCgroups != nil && !li.GetShareCgroups()
}

// workDirOrSandbox is where c's processes run.
func (c *container) workDirOrSandbox() string {
	if c.workDir != "" {
		return c.workDir
	}
	return c.cfg.Dir
}

// root is the top-level container c is nested in (c itself when it is
// top-level).
func (c *container) root() *container {
	for c.parent != nil {
		c = c.parent
	}
	return c
}

// pid is the first process's pid, 0 before the fork (on the loop).
func (c *container) pid() int {
	if c.proc == nil {
		return 0
	}
	return c.proc.Pid()
}

// makeSandbox creates a nested container's sandbox, owned by its user.
func makeSandbox(dir, user string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("Failed to create sandbox directory: %w", err)
	}
	if user != "" && os.Geteuid() == 0 {
		cred, err := users.Credential(user)
		if err != nil {
			return err
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("Failed to chown sandbox directory: %w", err)
		}
	}
	return nil
}

// switchboard gives a container with a tty or of the DEBUG class its IO
// switchboard (Mesos's IOSwitchboard::requiresServer), whose ends become
// the container's stdio.
func (m *Mesos) switchboard(c *container, spec *ForkSpec) error {
	tty := c.cfg.ContainerInfo.GetTtyInfo()
	if tty == nil && !c.cfg.Debug {
		return nil
	}
	sc := ioswitchboard.Config{TTY: tty != nil, StdoutLog: c.cfg.Stdout, StderrLog: c.cfg.Stderr,
		WaitForConnection: c.cfg.Debug}
	if ws := tty.GetWindowSize(); ws != nil {
		sc.WindowSize = &ioswitchboard.WindowSize{Rows: uint16(ws.GetRows()), Columns: uint16(ws.GetColumns())}
	}
	if tty != nil && c.cfg.User != "" && os.Geteuid() == 0 {
		cred, err := users.Credential(c.cfg.User)
		if err != nil {
			return err
		}
		sc.Owner = &ioswitchboard.Owner{UID: int(cred.Uid), GID: int(cred.Gid)}
	}
	sb, err := ioswitchboard.New(sc)
	if err != nil {
		return fmt.Errorf("failed to prepare the IO switchboard: %w", err)
	}
	if err := m.do(func() { c.sb = sb }); err != nil {
		sb.Close()
		return err
	}
	stdio := sb.Stdio()
	spec.Stdio = &stdio
	spec.TTY = tty != nil
	return nil
}

// destroyChildren destroys c's live nested containers and waits for them
// (Mesos destroys a container's children before the container).
func (m *Mesos) destroyChildren(c *container) {
	var kids []*container
	if err := m.do(func() {
		for _, child := range c.children {
			switch child.state {
			case preparing, isolating:
				child.destroyRequested = true
			case running:
				child.destroyed = true
				m.startDestroy(child, 0)
			}
			kids = append(kids, child)
		}
	}); err != nil {
		return
	}
	for _, child := range kids {
		<-child.done
	}
}

// Kill sends sig to the container's first process (see Nester).
func (m *Mesos) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	var pid int
	var found bool
	if err := m.call(ctx, func() {
		c := m.containers[id]
		if c == nil || c.state == terminated {
			return
		}
		found = true
		switch {
		case c.state == preparing || c.state == isolating:
			// No process to signal yet: destroyed, as Mesos does.
			c.destroyRequested = true
		case c.proc != nil:
			pid = c.proc.Pid()
		}
	}); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	if pid <= 0 {
		return nil
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("containerizer: Unable to send signal to container: %w", err)
	}
	return nil
}

// Remove forgets an ended container (see Nester).
func (m *Mesos) Remove(ctx context.Context, id string) error {
	var err error
	var sandbox string
	if cerr := m.call(ctx, func() {
		c := m.containers[id]
		if c != nil && c.state != terminated {
			err = fmt.Errorf("%w: %s", ErrNotTerminated, id)
			return
		}
		if _, nested := ParentID(id); nested {
			root := m.containers[RootID(id)]
			if root == nil {
				err = fmt.Errorf("%w: unknown root container of %s", ErrUnknown, id)
				return
			}
			if root.cfg.Dir != "" {
				sandbox = SandboxPath(root.cfg.Dir, id)
			}
		} else if c == nil {
			err = fmt.Errorf("%w: %s", ErrUnknown, id)
			return
		}
		if c != nil {
			m.forget(c)
		}
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return err
	}
	if sandbox != "" {
		if err := os.RemoveAll(sandbox); err != nil {
			return fmt.Errorf("containerizer: Failed to remove the sandbox directory: %w", err)
		}
	}
	return nil
}

// Attach returns the container's IO switchboard (see Nester).
func (m *Mesos) Attach(ctx context.Context, id string) (*ioswitchboard.Switchboard, error) {
	c, err := m.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	var sb *ioswitchboard.Switchboard
	if err := m.call(ctx, func() { sb = c.sb }); err != nil {
		return nil, err
	}
	if sb == nil {
		return nil, ErrNoSwitchboard
	}
	return sb, nil
}
