// Package master is meso's Mesos master: it admits agents, subscribes
// frameworks, turns the allocator's decisions into offers, launches tasks
// on agents, relays status updates and keeps the task books that /state
// shows. It speaks Mesos's v1 scheduler API to frameworks and meso's own
// agent protocol (internal/pb/agentapipb) to agents.
//
// # Walkthrough
//
// One goroutine owns everything. Serve starts the actor loop (loop in
// master.go) and an HTTP server. All state — frameworks, agents, offers,
// tasks — lives in a *state that only the loop touches. HTTP handlers and
// timers never read it directly: they hand the loop a closure (Master.do,
// Master.post) and wait for it to run. Per-connection outboxes
// (outbox.go) carry events the other way: the loop appends an event and
// moves on, the connection's writer goroutine drains it onto the RecordIO
// stream. A slow client can therefore never stall the master.
//
// A request's life, following Mesos's master.cpp:
//
//  1. scheduler_api.go: POST /api/v1/scheduler (and /master/api/v1/scheduler)
//     is checked in Mesos's order — leadership (leader.go), method, content
//     type, body, Call validation (validation.SchedulerCall), Accept for
//     SUBSCRIBE, stream-ID rules, then on the loop: "Framework cannot be
//     found" (400), "Framework is not subscribed" (403), stream ID (400), and
//     dispatch; 202 for everything but SUBSCRIBE (200 stream) and
//     UPDATE_FRAMEWORK (200), 501 for UNKNOWN.
//  2. frameworks.go: SUBSCRIBE validates FrameworkInfo; a new framework gets
//     `<masterId>-<nnnn>`; a re-subscription with a known ID replaces the old
//     stream (which gets ERROR "Framework failed over"), drops outstanding
//     offers and keeps tasks. SUBSCRIBED (heartbeat_interval_seconds,
//     master_info) and a first HEARTBEAT go out; the stream writer adds a
//     HEARTBEAT every HeartbeatInterval. When the stream ends the framework
//     is deactivated, its offers go back, and after failover_timeout
//     (default 0: at once) it is removed: SHUTDOWN_FRAMEWORK to its agents,
//     tasks killed, moved to completed_frameworks.
//  3. offers.go: every AllocationInterval, and right after events Mesos
//     allocates for (framework added or revived, agent added, resources
//     recovered without a filter), the loop calls Allocator.Allocate. Each
//     Allocation becomes one Offer `<masterId>-O<n>`; a framework gets one
//     OFFERS event per cycle. Offers carry allocation_info only for
//     MULTI_ROLE frameworks (MESOS-8237) and use the pre-refinement
//     reservation format unless the framework has RESERVATION_REFINEMENT.
//  4. tasks.go: ACCEPT validates the offers (TASK_DROPPED/TASK_LOST with
//     REASON_INVALID_OFFERS if they are unknown, used, of another framework,
//     role or agent), upgrades and tags the operations' resources, validates
//     each task (package validation; TASK_ERROR with REASON_TASK_INVALID),
//     records it in TASK_STAGING and sends RUN_TASK / RUN_TASK_GROUP to the
//     agent. Whatever is left is declined with the call's filters.
//     RESERVE and UNRESERVE (operations.go) are applied in order to the
//     pooled offer resources, so a later LAUNCH can use what an earlier
//     RESERVE produced; each changes the agent's total (sent to the agent as
//     CHECKPOINT_RESOURCES) and what the framework holds in the allocator
//     (UpdateAllocation). Invalid operations are dropped (OPERATION_ERROR
//     when the framework set an `id`).
//     KILL, ACKNOWLEDGE (forwarded as ACKNOWLEDGE_UPDATE; a terminal task is
//     removed once its last update is acknowledged), RECONCILE (spec §1.12),
//     MESSAGE and SHUTDOWN live here too.
//  5. agents.go: agents POST REGISTER/REREGISTER to /master/internal/agent
//     and keep the response open as their event stream; other calls are
//     separate POSTs with the Mesos-Stream-Id header. A REGISTER from the
//     pid of a registered agent is that agent retrying when its stream is
//     still up (it gets its ID again), else a restarted agent that lost its
//     state: the old agent is removed at once (its tasks TASK_LOST,
//     "a new agent registered at the same address") and the new one gets a
//     new ID (Master::_registerSlave). REREGISTER from an agent unknown to
//     this master is how a new leader rebuilds its books:
//     frameworks (marked recovered until their scheduler subscribes),
//     executors and tasks come from the agent's report. STATUS_UPDATE
//     records the task's latest state and forwards the update (with its
//     uuid) to a connected scheduler; for a disconnected one it is dropped
//     and the agent retries. The loop pings every agent each
//     AgentPingTimeout; after MaxAgentPingTimeouts misses (or a lost stream
//     that does not come back) the agent is unreachable: its tasks become
//     TASK_UNREACHABLE (partition-aware) or TASK_LOST and go to the
//     unreachable books, then offers are rescinded and every framework gets
//     a FAILURE event (removeAgent, in Mesos's order). A lost stream alone
//     removes only the frameworks that do not checkpoint from the agent
//     (their tasks TASK_LOST). An unreachable agent that re-registers brings
//     its tasks back, with a REASON_AGENT_REREGISTERED update to each
//     connected framework.
//  6. state_json.go: /state, /frameworks, /slaves, /tasks, /state-summary,
//     /flags, /version, /metrics/snapshot, built on the loop as plain maps in
//     the shape of Mesos's readonly_handler.cpp; roles.go: /roles and the
//     per-role breakdown (allocated, offered, reserved, consumed quota).
//  7. operator_api.go: the v1 operator API on /api/v1 (GET_HEALTH,
//     GET_FLAGS, GET_VERSION, GET_MASTER, GET_ROLES, GET_WEIGHTS,
//     UPDATE_WEIGHTS, GET_QUOTA, UPDATE_QUOTA, SET_QUOTA, REMOVE_QUOTA,
//     RESERVE_RESOURCES, UNRESERVE_RESOURCES, TEARDOWN, SUBSCRIBE; 501 naming
//     the call for DRAIN_AGENT, maintenance and volumes) and the
//     legacy /weights, /quota, /reserve and /unreserve endpoints. Weights
//     and quota changes are answered once the registry holds them.
//     operator_agents.go: DEACTIVATE_AGENT (registered, recovered or
//     unreachable agents; durable, kept across re-registration and
//     failover; offers rescinded, none made), REACTIVATE_AGENT, and
//     MARK_AGENT_GONE: written to the registry, then the agent is told to
//     SHUTDOWN and removed through removeAgent (TASK_GONE_BY_OPERATOR for
//     partition-aware frameworks, TASK_LOST otherwise), an unreachable
//     agent's tasks end the same way, and a gone agent that re-registers
//     is told to shut down.
//     files.go: LIST_FILES, READ_FILE and /files/{browse,read,download,
//     debug} over Config.LogFile, attached at /master/log.
//     operator_reserve.go: an operator (UN)RESERVE is validated without a
//     framework, the agent's offers are rescinded (5 s filter) one by one
//     until they cover it, and it is applied to what the agent has
//     available — 202, or 409 when it does not fit — changing the agent's
//     total (UpdateAgentTotal, CHECKPOINT_RESOURCES).
//     operator_read.go: GET_STATE, GET_AGENTS, GET_FRAMEWORKS,
//     GET_EXECUTORS, GET_TASKS, GET_OPERATIONS (always empty: no operation
//     feedback) and GET_METRICS (the /metrics/snapshot values), built on
//     the loop from the same books as /state, as Mesos's ReadOnlyHandler
//     builds them; GET/SET_LOGGING_LEVEL keep glog's verbosity and move
//     Config.LogLevel, reverting after the given duration.
//     operator_stream.go: SUBSCRIBE, the operator event stream — SUBSCRIBED
//     with the whole state, then TASK_*, FRAMEWORK_* and AGENT_* events
//     published from the places the books change (publish*), through
//     per-stream outboxes, so durable before visible like every other
//     stream.
//
// Leadership and the registry (leader.go, recovery.go, registry.go):
// Serve starts the loop at once (a standby answers /metrics/snapshot with
// master/elected 0, /health, and 307 to the leader it detects for the
// APIs), enters the election through Config.Contender (none: it leads
// alone), and once elected reads the registry (Config.Registrar): the
// registry's agents become "recovered" — expected back within
// AgentReregisterTimeout, after which they are marked unreachable unless
// more than RecoveryAgentRemovalLimit of them are missing (then the
// master stops) — and its unreachable and gone agents, the operator's
// agent deactivations, weights and quota are restored. Only then does it serve (ready). A master that loses its
// leadership stops (ErrLostLeadership), as Mesos's exits.
//
// Durable before visible: every change the registry holds — admitting an
// agent, re-admitting one that was unreachable or unknown, marking one
// unreachable or gone, (de)activating or removing one, weights, quota — is queued with persist and
// takes effect in its continuation, once the registry writer reports it
// durable. On top of that, every stream event and every HTTP answer the
// loop produces is stamped with the registry operations queued so far and
// held until they are durable (durability in outbox.go): the shape of
// etcd-io/raft's Ready — persist, then send. A failed write stops the
// master (ErrRegistry), as Mesos's aborts.
//
// Errors: state methods return the core errors of errors.go (ErrInvalid,
// ErrForbidden, ...) with Mesos's messages; the serve* handlers map them to
// status codes (toHTTP) — the only place status codes are chosen.
//
// Known differences from Mesos are listed in the package's README-style
// comments where they occur; the main ones: offer operations other than
// LAUNCH, LAUNCH_GROUP, RESERVE and UNRESERVE are dropped (their resources
// declined), no authentication or
// authorization without --acls (authz.go), no inverse offers, no operation feedback, and tasks an
// agent no longer reports when it reconnects are answered with
// TASK_LOST/TASK_DROPPED by the master instead of being reconciled through
// the agent.
package master
