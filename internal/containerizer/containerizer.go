// Package containerizer starts, isolates, watches and destroys the containers
// that executors run in. It mirrors Mesos's "mesos" containerizer: the agent
// hands it a ContainerConfig (argv, environment, sandbox, user, resources,
// ContainerInfo) and later asks it to update, measure, wait for or destroy the
// container; it knows nothing of frameworks, tasks or the agent (the
// dependency rules forbid importing internal/agent).
//
// A container is made of two kinds of parts, as in Mesos:
//
//   - a Launcher starts the container's first process (held by the launch
//     helper until it is isolated) and tracks every process of the container
//     so that a destroy leaves none behind: "posix" by process group and
//     process tree, "linux" by a cgroup of its own, with namespaces;
//   - Isolators, picked by --isolation, each own one resource or facility
//     (cgroups/cpu, cgroups/mem, namespaces/pid, disk/du, ...). Every
//     isolator implements Isolator (a name) and any of the per-phase
//     interfaces Preparer, Isolater, Updater, Watcher, LimitChecker, Usager,
//     Statuser and Cleaner; the containerizer calls each phase on the
//     isolators that have it, in --isolation's order (cleanup in reverse).
//
// Mesos is the implementation: an actor that owns the table of containers in
// one goroutine. Launch, Destroy and Update run in the caller's goroutine
// (the agent calls them off its own loop) and in per-container goroutines;
// they only touch the table through the actor. See doc.go for the life of a
// container.
package containerizer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer/ioswitchboard"
)

// Sentinel errors; wrapped with the container ID.
var (
	// ErrExists is returned by Launch for an ID already in use.
	ErrExists = errors.New("containerizer: container already exists")
	// ErrUnknown is returned for an ID the containerizer does not know (never
	// launched, or destroyed and forgotten).
	ErrUnknown = errors.New("containerizer: unknown container")
	// ErrLaunch is returned when the container could not be started; the
	// message says why (Mesos reports it as "Failed to launch container: ...").
	ErrLaunch = errors.New("containerizer: launch failed")
	// ErrNotSupported is returned by Launch for a container this
	// containerizer cannot run at all (a DOCKER ContainerInfo: Mesos's
	// LaunchResult::NOT_SUPPORTED).
	ErrNotSupported = errors.New("containerizer: container not supported")
	// ErrStopped is returned once Close has been called.
	ErrStopped = errors.New("containerizer: stopped")
	// ErrNotTerminated is returned by Remove for a container that still
	// runs (Mesos's "Nested container has not terminated yet").
	ErrNotTerminated = errors.New("containerizer: container has not terminated yet")
	// ErrNoSwitchboard is returned by Attach for a container without an IO
	// switchboard (neither a tty nor a debug container), in Mesos's words.
	ErrNoSwitchboard = errors.New("I/O switchboard server was disabled for this container")
)

// Nested containers (Mesos's ContainerID with a parent) have IDs of the
// form "<parent>.<child>", Mesos's string form of a ContainerID: the values
// cannot hold a '.', so the parent follows from the ID.

// ParentID returns the ID of a nested container's parent, and false for a
// top-level container.
func ParentID(id string) (string, bool) {
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return "", false
	}
	return id[:i], true
}

// RootID returns the top-level container a container is nested in (itself
// for a top-level one).
func RootID(id string) string {
	if i := strings.IndexByte(id, '.'); i >= 0 {
		return id[:i]
	}
	return id
}

// IDProto is the ContainerID of an ID's string form, with its parents.
func IDProto(id string) *mesospb.ContainerID {
	var out *mesospb.ContainerID
	for _, v := range strings.Split(id, ".") {
		out = &mesospb.ContainerID{Value: proto.String(v), Parent: out}
	}
	return out
}

// SandboxPath is a container's sandbox given its root container's: Mesos's
// containerizer::paths::getSandboxPath, <root>/containers/<child> for each
// level of nesting.
func SandboxPath(rootSandbox, id string) string {
	parts := strings.Split(id, ".")
	p := rootSandbox
	for _, child := range parts[1:] {
		p = filepath.Join(p, "containers", child)
	}
	return p
}

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
	// Resources are the container's resource requests (executor + tasks);
	// isolators set their limits from them.
	Resources []*mesospb.Resource
	// Limits are resource limits above the requests (TaskInfo.limits, by
	// resource name; +Inf means unlimited). Nil when there are none.
	Limits map[string]float64
	// ContainerInfo is the executor's (or the command task's) container
	// description; nil for a plain command.
	ContainerInfo *mesospb.ContainerInfo
	// CommandInfo is the executor's command, as the framework (or, for a
	// command task, the agent) gave it; Command and Env are what runs.
	CommandInfo *mesospb.CommandInfo
	// TaskInfo is the task of a container that runs one command task
	// through the command executor; nil for other executors.
	TaskInfo *mesospb.TaskInfo
	// OnForked, when set, is called with the first process's pid once it
	// exists and before it runs anything (the agent checkpoints it there,
	// as Mesos's forked.pid); an error fails the launch.
	OnForked func(pid int) error
	// Debug marks a container of Mesos's DEBUG class (the container of a
	// LAUNCH_NESTED_CONTAINER_SESSION): it gets an IO switchboard, which
	// reads none of its output before the first client attaches. A
	// container with ContainerInfo.tty_info gets one too.
	Debug bool
}

// Termination says how a container ended.
type Termination struct {
	// Status is the raw wait(2) status, as Mesos reports it in
	// ExitedExecutorMessage / scheduler FAILURE events (exit code << 8, or
	// the signal number). -1 when the first process never ran.
	Status int
	// ExitCode is the exit code, or -1 when the process was signalled.
	ExitCode int
	// Signal is the terminating signal, or 0.
	Signal int
	// Destroyed is true when the container ended because Destroy was called
	// (or a limitation was hit) rather than by its first process exiting.
	Destroyed bool
	// Message describes the exit, e.g. "exited with status 1".
	Message string
	// Limitation is set when the containerizer destroyed the container
	// because it hit a resource limit: its tasks end TASK_FAILED with the
	// limitation's reason and message (Mesos's ContainerTermination state,
	// reason, message and limited_resources).
	Limitation *Limitation
}

// Limitation is a resource limit a container reached (Mesos's
// ContainerLimitation): the memory isolator's OOM, the disk isolator's quota.
type Limitation struct {
	// Reason is REASON_CONTAINER_LIMITATION_MEMORY, ..._DISK, or
	// REASON_CONTAINER_LIMITATION.
	Reason mesospb.TaskStatus_Reason
	// Message is the text Mesos puts in the task's status message.
	Message string
	// Resources are what was exceeded (TaskStatus.limitation.resources).
	Resources []*mesospb.Resource
}

// Status is what Status reports about a live container.
type Status struct {
	// ContainerStatus holds container_id, executor_pid and what the
	// isolators add (cgroup_info, ...), to be merged into status updates.
	ContainerStatus *mesospb.ContainerStatus
	// Limitation is set when the container has hit a resource limit and is
	// being destroyed for it. The agent then reports the limitation instead
	// of the executor's own view of the ending (see Mesos.Status).
	Limitation *Limitation
}

// Containerizer launches and tears down containers.
//
// Contract: every method is safe for concurrent use, and blocks only on the
// container it names (never on another container's launch or destroy).
//
//   - Launch returns once the container's first process runs (nil) or the
//     launch failed (the container is then gone, nothing left behind). A
//     Destroy during Launch makes Launch fail with ErrLaunch.
//   - Wait blocks until the container ended. After the end it keeps
//     returning the same Termination until Destroy forgets the container.
//   - Destroy is idempotent: it kills every process of the container
//     (SIGTERM to all of them, SIGKILL to what is left after grace; grace 0
//     kills at once), waits for them to be gone and for the isolators to
//     clean up, and forgets the container. For a container that already
//     ended it only forgets it.
//   - Update sets the container's resources (and so its limits); Usage and
//     Status read a live container.
//   - Close stops the containerizer; containers keep running (the agent
//     destroys the ones that must not outlive it first).
type Containerizer interface {
	// Recover is called once, before any Launch, with the containers the
	// agent's checkpoints name (see Mesos.Recover).
	Recover(ctx context.Context, states []Recovered) error
	Launch(ctx context.Context, cfg ContainerConfig) error
	Wait(ctx context.Context, id string) (Termination, error)
	Destroy(ctx context.Context, id string, grace time.Duration) error
	Update(ctx context.Context, id string, resources []*mesospb.Resource, limits map[string]float64) error
	Usage(ctx context.Context, id string) (*mesospb.ResourceStatistics, error)
	Status(ctx context.Context, id string) (Status, error)
	// Containers lists the IDs of the containers that have not ended.
	Containers(ctx context.Context) ([]string, error)
	Close() error
}

// Nester is implemented by containerizers that run nested containers and
// standalone containers for the agent's operator API (Mesos's
// containerizer kill, remove and attach).
//
// A nested container (ID "<parent>.<child>") is launched with Launch while
// its parent runs; Launch fills its sandbox (<root sandbox>/containers/
// <child>...) and its stdout/stderr there, and its user from the parent's
// when unset. It shares its root container's isolation (cgroups) and is
// destroyed, before its parent, when the parent is. Once ended it stays
// known (Wait answers) until Remove, or until its parent ends; Destroy
// of a nested container does not forget it.
type Nester interface {
	// Kill sends sig to the container's first process (Mesos's kill): the
	// container ends when that process does. ErrUnknown for a container
	// that is not known or has ended. A container that has no process yet
	// is destroyed.
	Kill(ctx context.Context, id string, sig syscall.Signal) error
	// Remove forgets an ended container; for a nested one it also removes
	// its sandbox. ErrNotTerminated while it runs, ErrUnknown when its root
	// container is not known.
	Remove(ctx context.Context, id string) error
	// Attach returns the container's IO switchboard; ErrNoSwitchboard for
	// a container without one.
	Attach(ctx context.Context, id string) (*ioswitchboard.Switchboard, error)
}

// MetricsReporter is implemented by containerizers that publish metrics
// (the agent adds them to /metrics/snapshot).
type MetricsReporter interface {
	// Metrics returns Mesos-named metrics, e.g.
	// "containerizer/mesos/container_destroy_errors".
	Metrics(ctx context.Context) (map[string]float64, error)
}

func describe(t Termination) string {
	if t.Signal != 0 {
		return fmt.Sprintf("terminated by signal %d", t.Signal)
	}
	return fmt.Sprintf("exited with status %d", t.ExitCode)
}

// Recovered is a container an earlier run of the agent launched, as the
// agent's checkpoints describe it.
type Recovered struct {
	ID string
	// Pid is the container's first process (0: the agent died before it
	// checkpointed one).
	Pid       int
	Dir       string
	Resources []*mesospb.Resource
	Limits    map[string]float64
	// CommandTask: the container runs the command executor of one task.
	CommandTask bool
}
