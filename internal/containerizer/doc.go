// # The life of a container
//
// Launch (in the caller's goroutine; the agent calls it off its loop):
//
//  1. The ContainerInfo is checked: DOCKER is not for this containerizer
//     (ErrNotSupported); an image or a named CNI network fail the launch
//     with Mesos's words.
//  2. The container enters the table, PREPARING. Every Preparer runs, in
//     order; their LaunchInfos (namespaces, mounts, environment) are merged.
//  3. The Launcher forks the launch helper (package launch), which holds
//     the process: it runs nothing yet. The linux launcher has put it in the
//     container's own cgroup already. ISOLATING.
//  4. Every Isolater places the pid (cgroups), every Updater sets the
//     resources. Children inherit all of it.
//  5. RUNNING: a goroutine per Watcher waits for a limitation, and the
//     helper is released: it makes the container's mounts, drops to the
//     task user and execs the command, which keeps the pid.
//
// A failure at any step cleans up what was done (Cleanup of every isolator,
// the process killed) and Launch returns a LaunchError with the cause. A
// Destroy that arrives during the launch is noticed between steps: the
// launch fails and the destroy completes.
//
// The container ends with its first process (as in Mesos, where the
// executor's exit destroys the container), with a limitation a Watcher
// reports (or a LimitChecker, asked when Status is read), or with Destroy.
// Destroying (in a goroutine of its own): SIGTERM to every process and a
// grace period when asked, then the launcher kills what is left (the linux
// launcher by cgroup, whatever reparented where), the first process is
// reaped, the isolators clean up in reverse order, and the Termination
// (exit status, and the limitation if any) is published to Wait.
//
// Ended containers stay in the table, answering Wait, until Destroy forgets
// them. The table is only ever touched by the actor's loop; the goroutines
// of launches, destroys, reapers and watchers send it closures.
//
// # Nested containers (Mesos's nested containers)
//
// A container whose ID is "<parent>.<child>" is nested (Mesos's ContainerID
// with a parent, in its string form). Launch checks, on the loop, that the
// parent runs ("Parent container X does not exist" / "is in 'DESTROYING'
// state"), and gives the child its sandbox <root sandbox>/containers/<child>
// (one containers/<child> per level), stdout and stderr there, the
// parent's user when it names none, and MESOS_SANDBOX (a DEBUG container
// inherits its parent's environment and runs in its parent's sandbox). A
// nested container shares its root container's isolation, as Mesos's
// isolators do by default (share_cgroups): only NestedPreparer and Joiner
// isolators take part in its launch (environment secrets; the cgroups
// isolator puts its process in the root's cgroups), none in its updates
// and watches. A nested container with LinuxInfo.share_cgroups=false goes
// through every phase as a top-level one does, sized to its own resources,
// and the cgroups isolator gives it <parent's>/mesos/<child>, Mesos's
// layout (its limits nest in its parent's). The launchers treat
// it as a container of its own, killable alone: the linux launcher gives
// it the freezer (or v2) cgroup <parent's>/mesos/<child>.
//
// Destroying a container destroys its nested containers first, and so
// does its first process's exit. An ended nested container stays in the
// table (Wait answers, as Mesos's checkpointed termination) through
// Destroy, until Remove (which also removes its sandbox) or until its
// parent ends; its ID may then be launched again. Kill signals a
// container's first process (Mesos's kill).
//
// # IO switchboard (package ioswitchboard)
//
// A container with ContainerInfo.tty_info, or of the DEBUG class
// (ContainerConfig.Debug: a LAUNCH_NESTED_CONTAINER_SESSION), gets an IO
// switchboard before its fork: pipes, or a pseudo terminal that becomes its
// controlling terminal. Its output still goes to the stdout and stderr
// files and to the clients that Attach; a DEBUG container's output is not
// read before the first client attaches. The switchboard lives in the
// agent's process and is closed when the container is forgotten.
package containerizer
