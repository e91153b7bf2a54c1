//go:build unix

package containerizer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/meso-project/meso/internal/containerizer/launch"
)

// PosixOptions configures a Posix containerizer.
type PosixOptions struct {
	Logger *slog.Logger
	// Isolators run around every launch (in order) and cleanup (in reverse).
	Isolators []Isolator
	// LaunchHelper is the argv of the launch helper (package launch), e.g.
	// {"/usr/bin/meso", "launch"}. When set, each container's first process
	// is the helper, held until the isolators have isolated its pid and
	// only then replaced by the real command. Without it the command starts
	// at once and isolators see a process that is already running.
	LaunchHelper []string
}

// Posix is the plain POSIX containerizer: every container is one process
// (and its descendants) in its own process group. It mirrors Mesos's posix
// launcher: no resource isolation, and processes that leave the group and
// reparent away from the tree (double-fork plus setsid) escape a destroy —
// a cgroups-based launcher closes that hole.
type Posix struct {
	log       *slog.Logger
	isolators []Isolator
	helper    []string

	// mu guards containers; the containerizer is called from the agent actor
	// and from its per-container wait goroutines.
	mu         sync.Mutex
	containers map[string]*posixContainer
}

var _ Containerizer = (*Posix)(nil)

type posixContainer struct {
	id   string
	pid  int // also the process group id
	done chan struct{}
	// term is written once before done is closed.
	term Termination

	mu        sync.Mutex
	destroyed bool
}

// NewPosix returns a Posix containerizer.
func NewPosix(opts PosixOptions) *Posix {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Posix{log: log, isolators: opts.Isolators, helper: opts.LaunchHelper,
		containers: make(map[string]*posixContainer)}
}

// Launch starts cfg.Command in a new process group.
func (p *Posix) Launch(ctx context.Context, cfg ContainerConfig) error {
	if cfg.ID == "" || len(cfg.Command) == 0 {
		return fmt.Errorf("%w: container %q: an ID and a command are required", ErrLaunch, cfg.ID)
	}
	p.mu.Lock()
	if _, ok := p.containers[cfg.ID]; ok {
		p.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrExists, cfg.ID)
	}
	// Reserve the ID while launching.
	c := &posixContainer{id: cfg.ID, done: make(chan struct{})}
	p.containers[cfg.ID] = c
	p.mu.Unlock()

	pid, cmd, release, err := p.start(ctx, cfg)
	if err != nil {
		p.mu.Lock()
		delete(p.containers, cfg.ID)
		p.mu.Unlock()
		p.cleanup(ctx, cfg.ID)
		return err
	}
	p.mu.Lock()
	c.pid = pid
	p.mu.Unlock()
	p.log.Debug("container launched", "container_id", cfg.ID, "pid", pid)
	go p.reap(c, cmd)

	for _, iso := range p.isolators {
		if err := iso.Isolate(ctx, cfg.ID, pid); err != nil {
			release(false)
			_ = p.Destroy(ctx, cfg.ID, 0)
			return fmt.Errorf("%w: container %s: isolator %s: %w", ErrLaunch, cfg.ID, iso.Name(), err)
		}
	}
	if err := release(true); err != nil {
		_ = p.Destroy(ctx, cfg.ID, 0)
		return fmt.Errorf("%w: container %s: releasing the launch helper: %w", ErrLaunch, cfg.ID, err)
	}
	return nil
}

// start starts the container's first process. With a launch helper the
// process is held until release(true) is called; release(false) makes it
// exit without running the command. Without a helper release does nothing.
func (p *Posix) start(ctx context.Context, cfg ContainerConfig) (pid int, cmd *exec.Cmd, release func(ok bool) error, err error) {
	fail := func(err error) (int, *exec.Cmd, func(bool) error, error) { return 0, nil, nil, err }
	for _, iso := range p.isolators {
		if err := iso.Prepare(ctx, cfg); err != nil {
			return fail(fmt.Errorf("%w: container %s: isolator %s: %w", ErrLaunch, cfg.ID, iso.Name(), err))
		}
	}
	stdout, err := openOutput(cfg.Stdout)
	if err != nil {
		return fail(fmt.Errorf("%w: container %s: %w", ErrLaunch, cfg.ID, err))
	}
	defer stdout.Close()
	stderr, err := openOutput(cfg.Stderr)
	if err != nil {
		return fail(fmt.Errorf("%w: container %s: %w", ErrLaunch, cfg.ID, err))
	}
	defer stderr.Close()

	argv := cfg.Command
	release = func(bool) error { return nil }
	var held *os.File // the helper's end of the release pipe
	if len(p.helper) > 0 {
		r, w, err := os.Pipe()
		if err != nil {
			return fail(fmt.Errorf("%w: container %s: release pipe: %w", ErrLaunch, cfg.ID, err))
		}
		held = r
		argv = launch.Wrap(p.helper, argv)
		release = func(ok bool) error {
			defer w.Close()
			if !ok {
				return nil
			}
			_, err := w.Write([]byte{launch.Release})
			return err
		}
		defer r.Close()
	}

	// Not exec.CommandContext: the container outlives the request context.
	cmd = exec.Command(argv[0], argv[1:]...)
	cmd.Env = cfg.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = cfg.Dir
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	attr := &syscall.SysProcAttr{Setpgid: true}
	if cfg.User != "" && os.Geteuid() == 0 {
		cred, err := credential(cfg.User)
		if err != nil {
			return fail(fmt.Errorf("%w: container %s: %w", ErrLaunch, cfg.ID, err))
		}
		attr.Credential = cred
	}
	cmd.SysProcAttr = attr
	if held != nil {
		cmd.ExtraFiles = []*os.File{held} // fd 3 = launch.ReleaseFD
	}
	if err := cmd.Start(); err != nil {
		_ = release(false)
		return fail(fmt.Errorf("%w: container %s: %w", ErrLaunch, cfg.ID, err))
	}
	return cmd.Process.Pid, cmd, release, nil
}

func openOutput(path string) (*os.File, error) {
	if path == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

// credential resolves name to the uid, gid and supplementary groups to run as.
func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("looking up user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: gid %q: %w", name, u.Gid, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}

// reap waits for the container's first process, kills whatever is left of
// its process group (the container ends with its first process, as in
// Mesos, where the containerizer destroys the container when the executor
// exits), runs the isolators' cleanup and publishes the termination.
func (p *Posix) reap(c *posixContainer, cmd *exec.Cmd) {
	err := cmd.Wait()
	var t Termination
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		t.Status = int(ws)
		t.ExitCode = -1
		switch {
		case ws.Exited():
			t.ExitCode = ws.ExitStatus()
		case ws.Signaled():
			t.Signal = int(ws.Signal())
		}
	} else if err != nil {
		t.ExitCode = -1
		t.Message = err.Error()
	}
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	c.mu.Lock()
	t.Destroyed = c.destroyed
	c.mu.Unlock()
	if t.Message == "" {
		t.Message = describe(t)
	}
	p.cleanup(context.Background(), c.id)
	c.term = t
	close(c.done)
	p.log.Debug("container ended", "container_id", c.id, "status", t.Status, "destroyed", t.Destroyed)
}

func (p *Posix) cleanup(ctx context.Context, id string) {
	for i := len(p.isolators) - 1; i >= 0; i-- {
		if err := p.isolators[i].Cleanup(ctx, id); err != nil {
			p.log.Warn("isolator cleanup failed", "container_id", id, "isolator", p.isolators[i].Name(), "err", err)
		}
	}
}

func (p *Posix) get(id string) (*posixContainer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.containers[id]
	if !ok || c.pid == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	return c, nil
}

// Wait blocks until the container ended or ctx is done.
func (p *Posix) Wait(ctx context.Context, id string) (Termination, error) {
	c, err := p.get(id)
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

// Destroy sends SIGTERM to the container's process group and to every
// descendant of its first process, waits up to grace for the first process
// to end, then sends SIGKILL the same way and waits for it to be reaped. The
// container is forgotten afterwards (a Wait that started earlier still gets
// the termination; later calls return ErrUnknown).
func (p *Posix) Destroy(ctx context.Context, id string, grace time.Duration) error {
	c, err := p.get(id)
	if err != nil {
		return err
	}
	select {
	case <-c.done:
	default:
		c.mu.Lock()
		c.destroyed = true
		c.mu.Unlock()
		if grace > 0 {
			signalTree(c.pid, syscall.SIGTERM)
			t := time.NewTimer(grace)
			select {
			case <-c.done:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		signalTree(c.pid, syscall.SIGKILL)
		select {
		case <-c.done:
		case <-ctx.Done():
			return fmt.Errorf("containerizer: destroying %s: %w", id, ctx.Err())
		}
	}
	p.mu.Lock()
	if p.containers[id] == c {
		delete(p.containers, id)
	}
	p.mu.Unlock()
	return nil
}

// Containers lists the containers whose first process is still running.
func (p *Posix) Containers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id, c := range p.containers {
		if c.pid == 0 {
			continue
		}
		select {
		case <-c.done:
		default:
			ids = append(ids, id)
		}
	}
	return ids
}

// signalTree signals the process group led by pid and every descendant of
// pid (found through /proc where available) that may have moved to another
// process group.
func signalTree(pid int, sig syscall.Signal) {
	for _, d := range descendants(pid) {
		_ = syscall.Kill(d, sig) // ESRCH: already gone
	}
	_ = syscall.Kill(-pid, sig)
}
