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
//  6. With a fetch (ContainerConfig.Fetch), the released helper first runs
//     it, inside the container (its cgroups count it; a limitation or a
//     Destroy ends it), and Launch waits for its report: a failed fetch
//     fails the launch (the cause wraps ErrFetch) and the command never
//     runs. Mesos's FETCHING state, between isolation and exec.
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
package containerizer
