// Package agent is the meso agent (Mesos's mesos-agent): it offers a
// machine's resources to the master, runs executors in containers, relays
// tasks to them, and makes their status updates reach the scheduler.
//
// # Shape
//
// One actor goroutine (Agent.loop) owns all state: frameworks, their
// executors and tasks, the status update manager and the link state. HTTP
// handlers, the master link and timers never touch it directly; they send
// closures to the actor's mailbox (Agent.post / Agent.call) and wait for the
// reply where they need one. Slow work — container destroys, waiting for a
// container to end, posting calls to the master — runs on goroutines that
// report back through the mailbox.
//
// Files by concern:
//
//	agent.go          Config, New, Serve, the actor loop, teardown
//	resources.go      --resources parsing plus auto-detection (spec §7.1)
//	master.go         the master link: REGISTER/REREGISTER stream, backoff,
//	                  ping watchdog, event dispatch, the ordered call sender
//	frameworks.go     framework / executor / task records and their lifecycle
//	executors.go      RUN_TASK, launching executors, KILL_TASK, shutdowns, exits
//	containers.go     sizing containers to their tasks; executor updates
//	                  completed with the container's status, in order
//	monitor.go        /monitor/statistics and /containers
//	executor_api.go   the v1 executor HTTP API (/api/v1/executor)
//	operator_api.go   the v1 agent operator API (/api/v1): Mesos's request
//	                  checks (calls validated by package validation), the
//	                  reads (state, tasks, executors, frameworks, containers,
//	                  flags, version, metrics), LIST_FILES/READ_FILE, the
//	                  logging level
//	container_api.go  the container calls of that API: nested containers,
//	                  sessions, attach input/output, standalone containers
//	status_updates.go status updates: agent-generated, from executors, acks,
//	                  retries (the pure core is package statusupdate)
//	checkpoints.go    what is checkpointed and when (formats: package checkpoint)
//	recover.go        recovery from the checkpoints on restart
//	gc.go             what the garbage collector removes (package gc)
//	http.go           /state, /flags, /version, /health, /metrics/snapshot
//
// # Registration (master.go)
//
// Serve starts runMasterLink, which follows the leading master through a
// pkg/detector Detector (made from Config.Master — host:port, a libprocess
// PID, http://, zk:// or file:// — or given as Config.Detector). Once a
// leader is known, after a random delay in [0, backoff] it POSTs a protobuf
// REGISTER call (REREGISTER with the agent's ID, frameworks, executors and
// tasks once it has one) to http://<leader>/master/internal/agent and reads
// the RecordIO stream of agentapi Events it answers with. The first event is
// REGISTERED/REREGISTERED (agent ID, MasterInfo, ping timeout). PING events
// are answered with a PONG call directly by the link; everything else goes
// to the actor. When the stream breaks, or no event arrives within the ping
// timeout, the link reports the disconnection and tries the same leader
// again; the backoff doubles up to a minute while attempts fail and resets
// after a successful registration. When the detector names another leader
// (or none), the stream is dropped at once, events still read from it are
// discarded (a stream's events reach the actor only while its master leads,
// and carry the stream's generation), and the agent re-registers with the
// new leader after a delay in [0, factor] — or, with no leader, waits, as
// Mesos's Slave::detected does. Listening on every address, the agent
// advertises the IP its route to the current leader leaves from. Every other
// call (STATUS_UPDATE, EXECUTOR_EXITED, EXECUTOR_MESSAGE, PONG) is its own
// POST to the master of the live stream carrying the Mesos-Stream-Id, sent in
// order by one sender goroutine; calls made while disconnected, or queued
// for a stream that ended, are dropped (status updates are re-sent after
// re-registration). A detector that fails ends Serve with an error (Mesos's
// agent exits).
//
// # Running a task (executors.go)
//
// RUN_TASK names a custom executor (TaskInfo.executor) or a command; for a
// command the agent synthesizes the command executor's ExecutorInfo as Mesos
// does (executor ID = task ID, name "Command Executor (Task: ..) (Command:
// sh -c '..')", resources = 0.1 cpus + 32 MB) whose command is
// Config.ExecutorCommand. A new executor gets a container ID (UUID) and a
// sandbox <work_dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<cid>
// (package paths), and is launched through the containerizer, off the
// actor, with the MESOS_* environment (spec §2.2), stdout/stderr in the
// sandbox and the executor's allocated resources (its own plus its tasks').
// A container that cannot start ends the executor's tasks TASK_FAILED:
// REASON_CONTAINER_LAUNCH_FAILED "Failed to launch container: ...", or,
// for a DOCKER ContainerInfo no containerizer takes, REASON_EXECUTOR_TERMINATED
// "Abnormal executor termination: unknown container", as Mesos does. Its
// tasks wait in a queue until it SUBSCRIBEs; then it gets SUBSCRIBED and a
// LAUNCH per queued task, once the container has grown to hold them (and
// likewise for tasks that join a running executor). An executor that does
// not subscribe within
// ExecutorRegistrationTimeout is destroyed, its tasks TASK_FAILED with
// REASON_EXECUTOR_REGISTRATION_TIMEOUT. When an executor's container ends,
// its unfinished tasks become TASK_FAILED (REASON_EXECUTOR_TERMINATED) and the
// master gets EXECUTOR_EXITED; a container destroyed for a resource limit
// ends them TASK_FAILED with the limitation's reason, message and
// limited resources instead.
//
// RUN_TASK_GROUP goes to its executor as one LAUNCH_GROUP. An ExecutorInfo
// of type DEFAULT (no command: the master checks that) is run as Mesos runs
// mesos-default-executor: with Config.DefaultExecutorCommand (`meso
// default-executor --launcher_dir=...`, package executors/defaultexec) as
// the framework's user, with the same MESOS_* environment as any executor.
// The agent keeps the ExecutorInfo as the framework gave it (what the
// master, /state and SUBSCRIBED show) and generates the command only to
// launch it. Without DefaultExecutorCommand such groups fail TASK_FAILED
// (REASON_CONTAINER_LAUNCH_FAILED). Further groups for the same executor
// join it; its container grows and shrinks with its tasks, like any
// executor's. The default executor runs each task in a container nested
// under its own, through the operator API; the updates it sends name that
// container in container_status, and the agent completes them with that
// container's status.
//
// # Status updates (status_updates.go, package statusupdate)
//
// An executor's updates are handled one at a time, in order: each is
// completed with the container's status (container_id, executor_pid,
// network_infos), and a terminal one waits for the container to shrink. A
// terminal update from an executor whose container hit a resource limit is
// dropped for the limitation, which is what Mesos's agent, notified of an
// OOM before the executor's report, tells the framework.
//
// Updates from executors (UPDATE calls) and from the agent (fresh uuid,
// SOURCE_AGENT) go through the status update manager: per task an ordered
// stream whose head alone is in flight, re-sent with backoff until the
// master forwards the scheduler's ACKNOWLEDGE_UPDATE. The executor gets
// ACKNOWLEDGED as soon as the agent holds the update. An acknowledged
// terminal update completes the task; a terminated executor without tasks is
// completed, and a framework without executors is removed.
//
// # Checkpoints and recovery (checkpoints.go, recover.go, package checkpoint)
//
// For frameworks with FrameworkInfo.checkpoint the agent writes, under
// <work_dir>/meta in Mesos's layout, the agent info and boot id, each
// framework's and executor's info, each run's forked pid and markers, each
// task's task.info and its status update stream (task.updates: UPDATE and
// ACK records, appended and fsynced before the update is forwarded or the
// acknowledgement acted on). An executor's launch writes run in its launch
// goroutine before the container starts.
//
// Serve recovers before it registers (Mesos's Slave::recover): with the same
// boot id the agent keeps its ID, rebuilds those frameworks, executors and
// tasks, puts unacknowledged updates back in the status update manager, and
// has the containerizer adopt the executors' containers (Recover; orphans
// are destroyed). It then waits up to --executor_reregistration_timeout for
// the executors to re-subscribe (less once all are back); the others are
// destroyed, their tasks TASK_LOST / TASK_GONE with
// REASON_EXECUTOR_REREGISTRATION_TIMEOUT. After a reboot (another boot id)
// it registers as a new agent. --recover=cleanup shuts the recovered
// executors down, checkpoints their tasks' end and exits without
// registering; the next agent delivers those updates.
//
// # Garbage collection (gc.go, package gc)
//
// A removed executor's run and a removed framework's directories, sandbox
// and checkpoints, are removed --gc_delay later (sooner as the disk fills,
// --gc_disk_headroom); so are the directories of earlier agents.
//
// # Fetching (executors.go, package fetcher)
//
// An executor's CommandInfo.URIs are fetched into its sandbox as part of
// its launch (fetchAndLaunch), as Mesos's containerizer fetches between
// isolating a container and running its command. The agent's fetcher.Cache
// (Mesos's FetcherProcess, made by Serve, which clears --fetcher_cache_dir
// first) plans each fetch: a URI with cache: true is downloaded once per
// user into <fetcher_cache_dir>[/<user>] and copied or extracted from
// there; concurrent fetches of it wait for the one download; the least
// recently used files nobody is fetching are evicted to stay within
// --fetcher_cache_size; a URI the cache cannot serve (size unknown, too
// big, its download failed) is fetched straight into the sandbox. The plan
// goes to the containerizer (ContainerConfig.Fetch) and the launch helper
// runs it inside the container, in its cgroups and as its user, before the
// executor (a containerizer without a helper: the agent runs it itself,
// then gives the files to the user). The fetcher's lines go to the
// sandbox's stderr. A failed fetch fails the launch: TASK_FAILED,
// REASON_CONTAINER_LAUNCH_FAILED, "Failed to launch container: Failed to
// fetch all URIs for container '<id>': Failed to fetch '<uri>': <cause>".
// The cache counts fetches and its space for the containerizer/fetcher/*
// metrics.
//
// Where meso differs from Mesos 1.11: mesos-fetcher runs as a child of the
// agent, outside the container's cgroups (only at the same point of the
// launch); here the fetch is the container's own. A file larger than the
// whole cache is not cached (Mesos evicts everything and overflows).
//
// # Nested and standalone containers (container_api.go)
//
// The operator API's container calls run off the actor, on the
// containerizer's Nester side, with Mesos's answers (Http::launchContainer
// and its siblings): LAUNCH_NESTED_CONTAINER (and LAUNCH_CONTAINER with a
// parent) starts a container under a running one — 200, 202 when the ID
// runs already, 400 with the launch failure ("Parent container X does not
// exist") or "The provided ContainerInfo is not supported"; WAIT answers
// exit_status (and state, reason, message, limitation for a container a
// limit ended), 404 "Container X cannot be found"; KILL signals the first
// process (SIGKILL by default), 404 "Container 'X' cannot be found (or is
// already killed)"; REMOVE forgets an ended one and its sandbox, 500
// "Nested container has not terminated yet" / "Unknown root container".
// LAUNCH_CONTAINER without a parent starts a standalone container with the
// sandbox <work_dir>/containers/<id>; the agent books it (a.standalone)
// and forgets it once it ended, as Mesos forgets top-level containers
// (WAITs sent before the end get its termination, later ones a 404).
//
// ATTACH_CONTAINER_OUTPUT streams ProcessIO records (RecordIO with
// Message-Content-Type; a HEARTBEAT every 30 s) of a container with an IO
// switchboard (a tty, or a session); ATTACH_CONTAINER_INPUT reads a
// streaming request of ProcessIO records into its stdin (one client at a
// time, 409 otherwise). Both need an executor's container or one nested in
// it (404 otherwise), and a switchboard (500 "I/O switchboard server was
// disabled for this container" otherwise). LAUNCH_NESTED_CONTAINER_SESSION
// launches a DEBUG container and answers with its output; the container is
// destroyed when the output ends or the client goes away. GET_CONTAINERS'
// show_nested and show_standalone add those containers. Nested containers
// are not recovered across agent restarts: when the agent stops it
// destroys every nested and standalone container (the linux launcher's
// recovery destroys any it finds left over).
package agent
