// Package checks runs Mesos 1.11's task health checks (HealthCheck) and
// general checks (CheckInfo) on behalf of an executor: the counterpart of
// Mesos's src/checks (CheckerProcess, Checker, HealthChecker).
//
// A check runs delay_seconds after it is started, then interval_seconds after
// each result; each attempt is bounded by timeout_seconds (0 = no bound).
// Three kinds of attempt exist:
//
//   - COMMAND: the CommandInfo is run by a CommandRunner (the command
//     executor runs it as its own child, LocalRunner; the default executor
//     runs it as a nested container through the agent API). The result is its
//     exit code.
//   - HTTP: GET scheme://127.0.0.1:port/path (or [::1] for IPv6 health
//     checks), following redirects and ignoring TLS validation as Mesos's
//     `curl -s -S -L -k` does. The result is the final status code.
//   - TCP: a TCP connect to 127.0.0.1:port (or [::1]). The result is whether
//     it succeeded.
//
// An attempt that cannot produce a result (timeout, connection refused for
// HTTP, a command killed by a signal) is a failure; an attempt that returns
// ErrUnavailable (a transient runner error) is ignored and retried at the
// next interval.
//
// A Checker (CheckInfo) reports a CheckStatusInfo each time it differs from
// the previous one; a failed attempt reports the empty CheckStatusInfo of the
// check's type. A HealthChecker (HealthCheck) interprets results — exit code
// 0, HTTP status in [200, 400), TCP connected — and reports healthy:true on
// the first success and on the first success after failures; each failure
// outside the grace period (grace_period_seconds from the start, until the
// first success) reports healthy:false with the count of consecutive
// failures, and KillTask once that count reaches consecutive_failures.
//
// Validation mirrors Mesos's common/validation.cpp: ValidateHealthCheck and
// ValidateCheckInfo return Mesos's messages; the master prefixes them with
// "Task uses invalid health check: " / "Task uses invalid check: ".
package checks
