//go:build linux

// Package launcher holds the launchers of the Mesos containerizer, by the
// names Mesos gives them on --launcher: "posix" (process groups and trees)
// and "linux" (a cgroup per container, and namespaces).
package launcher

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/meso-project/meso/internal/containerizer"
)

// Posix is Mesos's posix launcher: each container's first process starts a
// session of its own, and a destroy kills that session, its process group
// and the process tree. It needs no privileges and offers no namespaces.
type Posix struct{}

var _ containerizer.Launcher = (*Posix)(nil)

// NewPosix returns the posix launcher.
func NewPosix() *Posix { return &Posix{} }

// Name is "posix".
func (*Posix) Name() string { return "posix" }

// Fork starts the held process in a new session.
func (*Posix) Fork(_ context.Context, id string, spec containerizer.ForkSpec) (*containerizer.Process, error) {
	if spec.Launch.CloneFlags != 0 || len(spec.Launch.Mounts) > 0 {
		return nil, errors.New("namespaces and mounts need the linux launcher (--launcher=linux)")
	}
	p, err := containerizer.StartHeld(spec, &syscall.SysProcAttr{Setsid: true})
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	return p, nil
}

// Signal signals every process of the container.
func (*Posix) Signal(_ string, pid int, sig syscall.Signal) error {
	for _, p := range tree(pid) {
		_ = syscall.Kill(p, sig) // ESRCH: already gone
	}
	return nil
}

// Destroy kills every process of the container and waits until none is
// left.
func (*Posix) Destroy(ctx context.Context, id string, pid int) error {
	if pid <= 0 {
		return nil
	}
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		left := tree(pid)
		if len(left) == 0 {
			return nil
		}
		for _, p := range left {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container %s: %d processes left: %w", id, len(left), ctx.Err())
		case <-time.After(delay):
		}
	}
}

// Recover finds nothing: the posix launcher keeps no record of its
// containers outside the agent.
func (*Posix) Recover(context.Context) ([]string, error) { return nil, nil }
