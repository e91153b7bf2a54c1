// Package containerizer starts, watches and destroys the containers that
// executors run in. It mirrors the role of Mesos's containerizer: the agent
// hands it a ContainerConfig (argv, environment, sandbox, user, resources)
// and later asks it to wait for or destroy the container; it knows nothing of
// frameworks, tasks or the agent (the dependency rules forbid importing
// internal/agent).
//
// A Containerizer is the agent-facing interface. Posix is the plain
// implementation (Mesos's "posix" launcher with no isolation): each
// container is one process started in its own process group, and a destroy
// signals the whole group and every descendant still found under the leader.
// Isolators (cgroups cpu/mem, ...) plug in later through the Isolator hook
// interface; Posix runs the ones it is given around each launch and destroy.
package containerizer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// Sentinel errors; wrapped with the container ID.
var (
	// ErrExists is returned by Launch for an ID already in use.
	ErrExists = errors.New("containerizer: container already exists")
	// ErrUnknown is returned for an ID the containerizer does not know (never
	// launched, or already destroyed and forgotten).
	ErrUnknown = errors.New("containerizer: unknown container")
	// ErrLaunch is returned when the process could not be started.
	ErrLaunch = errors.New("containerizer: launch failed")
)

// ContainerConfig describes one container to launch.
type ContainerConfig struct {
	// ID is the container's ID (a UUID chosen by the agent); unique among live
	// containers.
	ID string
	// Command is the argv of the container's first process; Command[0] is
	// looked up in PATH when it holds no slash.
	Command []string
	// Env is the complete environment, "KEY=VALUE" entries (the agent merges
	// its own environment and the executor variables; nothing is inherited
	// implicitly).
	Env []string
	// Dir is the working directory (the sandbox).
	Dir string
	// Stdout and Stderr are files the process's output is appended to
	// (created when missing). Empty means /dev/null.
	Stdout, Stderr string
	// User, when non-empty and the containerizer runs as root, is the user
	// the process runs as. Empty means the agent's own user.
	User string
	// Resources are the container's resources (executor + tasks); isolators
	// use them to set limits. The posix launcher itself ignores them.
	Resources []*mesospb.Resource
}

// Termination says how a container ended.
type Termination struct {
	// Status is the raw wait(2) status, as Mesos reports it in
	// ExitedExecutorMessage / scheduler FAILURE events (exit code << 8, or
	// the signal number).
	Status int
	// ExitCode is the exit code, or -1 when the process was signalled.
	ExitCode int
	// Signal is the terminating signal, or 0.
	Signal int
	// Destroyed is true when the container ended because Destroy was called.
	Destroyed bool
	// Message describes the termination, e.g. "exited with status 1".
	Message string
}

// Containerizer launches and tears down containers.
//
// Contract: every method is safe for concurrent use. Launch returns once the
// container's first process has started (or failed to start); it never
// blocks on the process. Wait blocks until the container has ended and may be
// called any number of times, concurrently; after the end it keeps returning
// the same Termination until the container is forgotten (a Wait after Destroy
// has returned still answers). Destroy is idempotent: it kills every process
// of the container (SIGTERM to the whole tree, SIGKILL to what is left after
// grace; grace 0 kills at once), returns once the container's first process
// has been reaped, and is a no-op for a container that already ended, apart
// from killing stragglers.
type Containerizer interface {
	Launch(ctx context.Context, cfg ContainerConfig) error
	Wait(ctx context.Context, id string) (Termination, error)
	Destroy(ctx context.Context, id string, grace time.Duration) error
	// Containers lists the IDs of the live containers.
	Containers() []string
}

// Isolator is the hook set an isolator implements (cgroups, rlimits, ...).
// Prepare runs before the process starts, Isolate right after it started
// (with its pid), Cleanup after it ended and all its processes are gone.
// Each call is made once per container, from one goroutine at a time.
type Isolator interface {
	Name() string
	Prepare(ctx context.Context, cfg ContainerConfig) error
	Isolate(ctx context.Context, id string, pid int) error
	Cleanup(ctx context.Context, id string) error
}

func describe(t Termination) string {
	if t.Signal != 0 {
		return fmt.Sprintf("terminated by signal %d", t.Signal)
	}
	return fmt.Sprintf("exited with status %d", t.ExitCode)
}
