package agent

import (
	"context"
	"net/http"
	"time"

	"github.com/meso-project/meso/internal/agent/fetcher"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/httpapi"
	mx "github.com/meso-project/meso/internal/metrics"
)

// This file serves the agent's metrics (Mesos's src/slave/metrics.cpp
// plus the containerizer's, the garbage collector's and libprocess's
// system/*) at /metrics/snapshot, with ?timeout= and ?jsonp=, and for
// Prometheus at /metrics. The values are read on the agent's loop
// (metricsSnapshot, http.go); the containerizer's off it.

// agentCounters are the names of metricsSnapshot that are counters (the
// rest are gauges).
var agentCounters = map[string]bool{
	"slave/tasks_finished": true, "slave/tasks_failed": true, "slave/tasks_killed": true,
	"slave/tasks_lost": true, "slave/tasks_gone": true, "slave/tasks_dropped": true,
	"slave/tasks_error": true, "slave/executors_terminated": true, "slave/executors_preempted": true,
	"slave/valid_status_updates": true, "slave/invalid_status_updates": true,
	"slave/valid_framework_messages": true, "slave/invalid_framework_messages": true,
	"slave/executor_messages": true, "slave/registrations": true, "slave/reregistrations": true,
	"slave/recovery_errors": true, "slave/container_launch_errors": true,
	"gc/path_removals_succeeded": true, "gc/path_removals_failed": true,
	"containerizer/mesos/container_destroy_errors": true,
	fetcher.MetricTaskFetchesSucceeded:             true, fetcher.MetricTaskFetchesFailed: true,
}

// takeSnapshot reads the agent's metrics. With a timeout, a loop that
// does not answer in time leaves its metrics out (libprocess leaves out
// the gauges that did not answer) and the containerizer gets what is left
// of it.
// /metrics/snapshot, /metrics and GET_METRICS all read it.
func (a *Agent) takeSnapshot(parent context.Context, timeout time.Duration, hasTimeout bool) (*mx.Snapshot, error) {
	ctx := parent
	if hasTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	snap := mx.NewSnapshot(128)
	var values map[string]float64
	if err := a.call(ctx, func() { values = a.metricsSnapshot() }); err != nil {
		if !hasTimeout || ctx.Err() == nil || parent.Err() != nil {
			return nil, err
		}
	}
	if mr, ok := a.cz.(containerizer.MetricsReporter); ok {
		if cm, err := mr.Metrics(ctx); err == nil {
			addKinds(snap, cm)
		}
	}
	if cache := a.fetchCache.Load(); cache != nil {
		if fm, err := cache.Metrics(ctx); err == nil {
			addKinds(snap, fm)
		}
	}
	addKinds(snap, values)
	mx.AddSystem(snap)
	return snap, nil
}

func addKinds(snap *mx.Snapshot, values map[string]float64) {
	for name, v := range values {
		if agentCounters[name] {
			snap.Counter(name, v)
		} else {
			snap.Gauge(name, v)
		}
	}
}

// serveMetrics is /metrics/snapshot.
func (a *Agent) serveMetrics(w http.ResponseWriter, r *http.Request) {
	timeout, hasTimeout, err := mx.ParseTimeout(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	snap, err := a.takeSnapshot(r.Context(), timeout, hasTimeout)
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running"))
		return
	}
	mx.WriteJSON(w, r, snap)
}

// servePrometheus is /metrics, the same metrics for Prometheus (an
// addition: Mesos has no such endpoint).
func (a *Agent) servePrometheus(w http.ResponseWriter, r *http.Request) {
	snap, err := a.takeSnapshot(r.Context(), 0, false)
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running"))
		return
	}
	mx.ServePrometheus(w, r, snap)
}
