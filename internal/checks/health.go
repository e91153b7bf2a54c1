package checks

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// HealthStatus is one report of a HealthChecker (Mesos's TaskHealthStatus).
type HealthStatus struct {
	Healthy bool
	// ConsecutiveFailures counts the failures in a row, this one included
	// (0 when Healthy).
	ConsecutiveFailures uint32
	// KillTask is set once ConsecutiveFailures reaches the health check's
	// consecutive_failures: the executor kills the task.
	KillTask bool
}

// HealthChecker runs a task's health check (Mesos's checks::HealthChecker).
type HealthChecker struct {
	loop
	maxFailures uint32
	grace       time.Duration
	started     time.Time
	cb          func(context.Context, HealthStatus)

	// Owned by the loop's goroutine.
	initializing bool
	failures     uint32
}

// NewHealthChecker validates hc (ValidateHealthCheck) and starts checking:
// the first attempt runs after delay_seconds, the grace period counts from
// now. report is called from the checker's goroutine, one call at a time:
//
//   - healthy:true for the first success, and for the first success after
//     failures;
//   - healthy:false for each failure, except failures within
//     grace_period_seconds of the start before any success, which are ignored;
//     KillTask is set once consecutive_failures failures happened in a row.
//
// report must not block beyond ctx, which ends when Stop is called, and must
// not call Stop. The checker keeps running after a KillTask report: the
// caller pauses or stops it when it kills the task.
func NewHealthChecker(hc *mesospb.HealthCheck, cfg Config, report func(ctx context.Context, status HealthStatus)) (*HealthChecker, error) {
	if err := ValidateHealthCheck(hc); err != nil {
		return nil, err
	}
	h := &HealthChecker{
		maxFailures:  hc.GetConsecutiveFailures(),
		grace:        seconds(hc.GetGracePeriodSeconds()),
		started:      time.Now(),
		cb:           report,
		initializing: true,
	}
	h.loop = loop{
		name:   hc.GetType().String() + " health check",
		taskID: cfg.TaskID,
		log:    discardLogger(cfg.Logger),
		sched: schedule{
			delay:    seconds(hc.GetDelaySeconds()),
			interval: seconds(hc.GetIntervalSeconds()),
			timeout:  seconds(hc.GetTimeoutSeconds()),
		},
	}
	switch hc.GetType() {
	case mesospb.HealthCheck_COMMAND:
		if cfg.Runner == nil {
			return nil, ErrNoRunner
		}
		h.what = what(mesospb.CheckInfo_COMMAND)
		h.probe = commandProbe(cfg.Runner, hc.GetCommand())
	case mesospb.HealthCheck_HTTP:
		h.what = what(mesospb.CheckInfo_HTTP)
		scheme := "http"
		if hc.GetHttp().Scheme != nil {
			scheme = hc.GetHttp().GetScheme()
		}
		h.probe = httpProbe(target{scheme: scheme, host: hostFor(hc.GetHttp().GetProtocol()), port: hc.GetHttp().GetPort(), path: hc.GetHttp().GetPath()})
	case mesospb.HealthCheck_TCP:
		h.what = what(mesospb.CheckInfo_TCP)
		h.probe = tcpProbe(target{host: hostFor(hc.GetTcp().GetProtocol()), port: hc.GetTcp().GetPort()})
	default:
		return nil, fmt.Errorf("'%s' is not a valid health check type", hc.GetType())
	}
	h.deliver = h.result
	h.start()
	return h, nil
}

func hostFor(p mesospb.NetworkInfo_Protocol) string {
	if p == mesospb.NetworkInfo_IPv6 {
		return ipv6Host
	}
	return ipv4Host
}

func (h *HealthChecker) result(ctx context.Context, res *mesospb.CheckStatusInfo, err error) {
	if err == nil {
		err = Healthy(res)
	}
	if err != nil {
		h.log.Warn(h.name+" failed", "task_id", h.taskID, "error", err)
		h.failure(ctx)
		return
	}
	h.success(ctx)
}

func (h *HealthChecker) failure(ctx context.Context) {
	if h.initializing && h.grace > 0 && time.Since(h.started) <= h.grace {
		h.log.Info("Ignoring failure of "+h.name+": still in grace period", "task_id", h.taskID)
		return
	}
	h.failures++
	h.log.Warn(fmt.Sprintf("%s failed %d times consecutively", h.name, h.failures), "task_id", h.taskID)
	h.cb(ctx, HealthStatus{ConsecutiveFailures: h.failures, KillTask: h.failures >= h.maxFailures})
}

func (h *HealthChecker) success(ctx context.Context) {
	if h.initializing || h.failures > 0 {
		h.cb(ctx, HealthStatus{Healthy: true})
		h.initializing = false
	}
	h.failures = 0
}

// ToCheckInfo is the CheckInfo a health check runs as (Mesos's toCheckInfo):
// for callers that run the attempts themselves.
func ToCheckInfo(hc *mesospb.HealthCheck) *mesospb.CheckInfo {
	ci := &mesospb.CheckInfo{
		DelaySeconds:    proto.Float64(hc.GetDelaySeconds()),
		IntervalSeconds: proto.Float64(hc.GetIntervalSeconds()),
		TimeoutSeconds:  proto.Float64(hc.GetTimeoutSeconds()),
	}
	switch hc.GetType() {
	case mesospb.HealthCheck_COMMAND:
		ci.Type = mesospb.CheckInfo_COMMAND.Enum()
		ci.Command = &mesospb.CheckInfo_Command{Command: hc.GetCommand()}
	case mesospb.HealthCheck_HTTP:
		ci.Type = mesospb.CheckInfo_HTTP.Enum()
		ci.Http = &mesospb.CheckInfo_Http{Port: proto.Uint32(hc.GetHttp().GetPort()), Path: proto.String(hc.GetHttp().GetPath())}
	case mesospb.HealthCheck_TCP:
		ci.Type = mesospb.CheckInfo_TCP.Enum()
		ci.Tcp = &mesospb.CheckInfo_Tcp{Port: proto.Uint32(hc.GetTcp().GetPort())}
	default:
		ci.Type = mesospb.CheckInfo_UNKNOWN.Enum()
	}
	return ci
}
