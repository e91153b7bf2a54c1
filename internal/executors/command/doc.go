// Package command is meso's built-in command executor, what `meso executor`
// runs: the counterpart of Mesos's mesos-executor for tasks that carry a
// CommandInfo instead of an ExecutorInfo. It speaks the v1 executor API
// through pkg/executor (MESOS_HTTP_COMMAND_EXECUTOR=1 behaviour; there is no
// v0 mode).
//
// Life of the executor (spec §7.6, §7.8):
//
//   - SUBSCRIBED: remember the FrameworkInfo (for TASK_KILLING_STATE and the user).
//   - LAUNCH: TASK_STARTING; start the command — shell form `/bin/sh -c value`,
//     argv form exec `value` with `arguments` — in the sandbox, in its own
//     session and process group, with the executor's stdout/stderr (the
//     sandbox files), the executor's environment plus the CommandInfo's, as the
//     task's user when the executor runs as root and the user differs;
//     TASK_RUNNING. A second LAUNCH gets TASK_FAILED.
//   - exit of the command: TASK_FINISHED (status 0) or TASK_FAILED, message
//     "Command exited with status N" / "Command terminated with signal X";
//     TASK_KILLED when it was killed; TASK_FAILED with
//     REASON_MAX_COMPLETION_TIME_REACHED when max_completion_time ran out.
//     Whatever is left in the task's process group is then SIGKILLed, and
//     reaped: the executor makes itself a child subreaper so that the task's
//     orphans stay its children.
//   - KILL: TASK_KILLING if the framework has TASK_KILLING_STATE, SIGTERM to
//     the process group, SIGKILL after the grace period (the KILL event's kill
//     policy, else the TaskInfo's, else 3 s); a repeated KILL can only shorten it.
//   - SHUTDOWN: the same with the executor shutdown grace period less 2 s, or
//     exit at once when no task was launched.
//   - The executor exits (status 0) once the agent acknowledges the terminal
//     update, or with status 1 after 60 s without that acknowledgement.
//
// User switching: Mesos's agent usually starts the executor as the task's
// user already (--switch_user), and mesos-executor only changes user itself
// for tasks with a container image (--user). meso's executor changes to
// --user, else CommandInfo.user, else FrameworkInfo.user, whenever it runs as
// root and that user is not the current one; an agent running with
// --no-switch_user must pass --no-switch_user (or --switch_user=false) to
// keep tasks as root. Not implemented yet: --rootfs and the other
// container-image flags (ignored or refused).
//
// Checks (internal/checks), as mesos-executor runs them: the task's check and
// health check start when its process is forked. A check's new status is
// sent as a copy of the last update with check_status and
// REASON_TASK_CHECK_STATUS_UPDATED; every update of a task with a check
// carries a check_status (empty until the first result). A health report is
// sent as a copy of the last update with healthy and
// REASON_TASK_HEALTH_CHECK_STATUS_UPDATED; one with kill_task kills the task
// (its kill policy's grace, else 3 s), whose terminal TASK_KILLED then says
// healthy:false. Checking pauses when the kill starts or the task ends, and
// reports arriving after that are dropped. COMMAND checks are the executor's
// children, in the sandbox, with the executor's environment, as the task's
// user.
package command
