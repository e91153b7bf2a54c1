// Package simulate drives a real meso master with simulated agents and
// synthetic frameworks, for capacity planning: "how many agents can one
// master drive at this churn?" It is what `meso simulate` runs.
//
// # Walkthrough
//
// [Run] starts (or connects to) a master, then:
//
//   - a fleet of simulated agents (agents.go) registers over the master's own
//     agent protocol (POST /master/internal/agent, protobuf Calls and a
//     RecordIO stream of Events, internal/pb/agentapipb). They run no
//     processes: a RUN_TASK becomes TASK_RUNNING at once and, after the task's
//     duration, TASK_FINISHED (TASK_KILLED on KILL_TASK). Their status updates
//     follow the real agent's status update manager: one update per task in
//     flight, the next sent once the head is acknowledged, the head re-sent
//     until it is. A command task's executor is the agent's own (the master
//     never books it); a framework's executor exits, with EXECUTOR_EXITED,
//     when its last task ends, so the master frees its resources.
//   - synthetic frameworks (frameworks.go) subscribe through pkg/scheduler (the
//     real v1 scheduler API) and launch the run's tasks: they accept a share
//     of their offers (declining the rest with refuse_seconds), pack tasks of
//     a configured size into each accepted offer, draw each task's duration
//     from a distribution (the task's command is `sleep <seconds>`, which the
//     simulated agent reads back; a real agent would run it), acknowledge
//     every update and suppress offers once their share is launched. An
//     optional probe framework launches one task at a time and measures the
//     offer → TASK_RUNNING latency on a busy cluster.
//   - a reporter (report.go) prints a progress line every second and a
//     [Summary] at the end: tasks/s, offer → TASK_RUNNING percentiles, the
//     allocator's cycle times from the master's /metrics/snapshot, and the
//     master's CPU seconds and peak RSS read from /proc/<pid> of the master
//     process (master.go starts it as a child: `meso master`, in-memory
//     registry, temporary work directory).
//
// Thousands of agents over real HTTP need two things the operating system
// rations: file descriptors (the run raises RLIMIT_NOFILE, or fails early
// saying how many it needs) and connections per client address (the master
// admits at most 1024 from one IP, internal/httpapi): on loopback every agent
// dials from its own source address in 127.0.0.0/8.
package simulate
