// Package defaultexec is meso's built-in default executor, what `meso
// default-executor` runs: the counterpart of Mesos 1.11's
// mesos-default-executor, which runs task groups (LAUNCH_GROUP with an
// ExecutorInfo of type DEFAULT). It speaks the v1 executor API through
// pkg/executor and drives the agent's v1 operator API for its tasks'
// containers.
//
// Life of the executor (Mesos's src/launcher/default_executor.cpp):
//
//   - SUBSCRIBED: remember the FrameworkInfo and the executor's own
//     ContainerID; after a re-subscription, wait again on every container.
//   - LAUNCH_GROUP: per task, TASK_STARTING, then LAUNCH_CONTAINER with
//     ContainerID{value: <uuid>, parent: <executor's container>}, the task's
//     command, container, resources and limits, MESOS_CONTAINER_IP and
//     MESOS_ALLOCATION_ROLE in its environment, and a SANDBOX_PATH volume of
//     the parent's sandbox for each disk volume of the task. For each task
//     the agent launched: the max_completion_time timer, the link
//     tasks/<task id> → <sandbox>/containers/<container id>, TASK_RUNNING.
//     A refused launch leaves the agent's answer for the task's terminal
//     update. Then WAIT_NESTED_CONTAINER on each. A later LAUNCH_GROUP adds
//     its tasks to the running executor.
//   - A wait's answer: TASK_FINISHED (exit status 0), TASK_FAILED, TASK_KILLED
//     after a kill, TASK_FAILED with REASON_MAX_COMPLETION_TIME_REACHED;
//     the message "Command exited with status N" / "Command terminated with
//     signal X"; the agent's state, reason, message (appended after ": ") and
//     limitation win. 404 means a failed launch (its error) or "Unable to
//     retrieve command's termination information". When a task ends
//     TASK_FAILED or TASK_KILLED, the other tasks of its group are killed
//     (Mesos's restart policy for a task group); they end TASK_KILLED.
//   - KILL: the event's kill policy, else the task's, else 3 s: TASK_KILLING
//     when the framework has TASK_KILLING_STATE, KILL_NESTED_CONTAINER with
//     SIGTERM, SIGKILL when the grace period ran out (retried every second).
//   - SHUTDOWN: every container is killed with a 3 s grace period.
//   - The executor exits (status 0) when no container is left and every
//     update is acknowledged, or 60 s after the last container ended.
//
// Every status update carries the task's container ID in container_status
// (the agent completes it with that container's status).
//
// The operator API is at the agent MESOS_SLAVE_PID names (/slave(1)/api/v1),
// with the executor's authentication token if it has one. An agent that
// answers LAUNCH_CONTAINER 501 (Not Implemented) is asked with
// LAUNCH_NESTED_CONTAINER instead.
//
// Checks and health checks (package internal/checks) start when the task's
// container is launched and stop when it is being killed or has ended. A
// check's new status goes out as a copy of the task's last update with
// check_status and REASON_TASK_CHECK_STATUS_UPDATED; a health report with
// healthy and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED; when the health
// checker says so the task is killed, and every later terminal update says
// healthy:false. COMMAND checks run in containers nested under the task's
// ("check-<uuid>", LAUNCH_NESTED_CONTAINER_SESSION, WAIT_NESTED_CONTAINER,
// REMOVE_NESTED_CONTAINER before the next attempt); HTTP and TCP checks
// reach the task on 127.0.0.1, the network the tasks share. Unlike Mesos's,
// the checks are not paused while the agent is unreachable (the executor
// driver does not report disconnections); their attempts then fail as
// unavailable and are dropped.
package defaultexec
