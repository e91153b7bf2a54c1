package containerizer

import (
	"context"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer/launch"
)

// Isolator is what every isolator implements: the name it has on
// --isolation (Mesos's names: "cgroups/mem", "namespaces/pid", ...). An
// isolator takes part in a phase by implementing that phase's interface.
//
// Contract for all phases: the containerizer calls the phases of one
// container in order (Prepare, then Isolate, then any number of Update,
// Usage, Status and Check while Watch runs, then Cleanup), and calls for
// different containers concurrently. Isolators keep as little per-container
// state as they can: what the containerizer knows comes with every call
// (Container), and a cgroup path follows from the container ID. State an
// isolator must keep is owned by one goroutine of its own (no maps behind
// mutexes); such an isolator implements io.Closer.
type Isolator interface {
	Name() string
}

// Container is what the containerizer tells isolators about a container in
// the phases after Prepare.
type Container struct {
	ID string
	// Pid is the container's first process in the agent's pid namespace (0
	// in a Cleanup of a launch that failed before it had a process).
	Pid int
	// Dir is the sandbox.
	Dir string
	// CommandTask says the container runs one command task (through the
	// command executor), Mesos's "container config has a task_info".
	CommandTask bool
}

// Preparer is called before the container's first process exists. It may
// refuse the container (an error fails the launch with the error's text) and
// may ask the launcher for namespaces, mounts or environment.
type Preparer interface {
	Prepare(ctx context.Context, cfg ContainerConfig) (*LaunchInfo, error)
}

// Isolater is called once the first process exists but has not run anything
// yet (the launch helper holds it): it places pid under the isolator's
// control (its cgroups). Children inherit the placement.
type Isolater interface {
	Isolate(ctx context.Context, c Container) error
}

// Updater sets the container's resources: requests (executor + tasks) and
// limits (by resource name). It is called at launch, once isolated, and
// whenever tasks join or leave the container.
type Updater interface {
	Update(ctx context.Context, c Container, requests []*mesospb.Resource, limits map[string]float64) error
}

// Watcher reports a resource limit the container reached. Watch blocks until
// the container hits a limit (it returns the limitation) or ctx is done (it
// returns ctx's error); the containerizer destroys a container whose watch
// returned a limitation.
type Watcher interface {
	Watch(ctx context.Context, c Container) (*Limitation, error)
}

// LimitChecker answers, without waiting, whether the container has already
// hit a limit that its Watch will report (the kernel's OOM kill counter, for
// one). The containerizer asks before it reports a container's status so that
// the agent learns about a limitation no later than about the process it
// killed. It returns nil when no limit was hit.
type LimitChecker interface {
	Check(ctx context.Context, c Container) (*Limitation, error)
}

// Usager measures the container (Mesos's ResourceStatistics fields the
// isolator owns); the containerizer merges the answers of every Usager.
type Usager interface {
	Usage(ctx context.Context, c Container) (*mesospb.ResourceStatistics, error)
}

// Statuser adds to the container's status (ContainerStatus fields such as
// cgroup_info).
type Statuser interface {
	Status(ctx context.Context, c Container) (*mesospb.ContainerStatus, error)
}

// Cleaner releases what the isolator holds for the container once every
// process of it is gone. It must succeed for a container it never prepared
// (a launch that failed early) and be idempotent.
type Cleaner interface {
	Cleanup(ctx context.Context, c Container) error
}

// Recoverer is told, when the containerizer starts, which containers exist
// (none yet: meso does not recover containers across agent restarts) and
// cleans up after the others, such as cgroups an earlier agent left behind.
type Recoverer interface {
	Recover(ctx context.Context, live []string) error
}

// NestedPreparer is Prepare for a nested container that shares its root's
// isolation. The containerizer calls only these for such containers (no
// other phase but Join): a nested container shares its root container's
// isolation, as Mesos's isolators do by default (share_cgroups), so most
// isolators have nothing to do for it. A nested container with
// share_cgroups=false gets every phase, as a top-level container does, its
// Container.ID "<parent>.<child>".
// An isolator that must act for nested containers too (resolving secrets
// into their environment) implements it.
type NestedPreparer interface {
	PrepareNested(ctx context.Context, cfg ContainerConfig) (*LaunchInfo, error)
}

// Joiner places a nested container's first process, held by the launch
// helper, in its root container's isolation (cgroups): root is the root
// container, pid the nested container's process.
type Joiner interface {
	Join(ctx context.Context, root Container, pid int) error
}

// LaunchInfo is what isolators ask of the launcher (a part of Mesos's
// ContainerLaunchInfo).
type LaunchInfo struct {
	// CloneFlags are namespaces to create for the container
	// (syscall.CLONE_NEWPID, CLONE_NEWNS); only the linux launcher can.
	CloneFlags uintptr
	// Mounts are made by the launch helper inside the container's mount
	// namespace, in order, before the command runs.
	Mounts []Mount
	// Env entries ("KEY=VALUE") are added to the container's environment.
	Env []string
}

// Mount is one mount(2) call made in the container by the launch helper: a
// propagation change (Target "/", Flags MS_SLAVE|MS_REC) or a filesystem
// (Source "proc", Target "/proc", FSType "proc").
type Mount = launch.Mount

// merge adds o's requests to li.
func (li *LaunchInfo) merge(o *LaunchInfo) {
	if o == nil {
		return
	}
	li.CloneFlags |= o.CloneFlags
	li.Mounts = append(li.Mounts, o.Mounts...)
	li.Env = append(li.Env, o.Env...)
}
