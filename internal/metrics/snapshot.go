// Package metrics is meso's one metrics registry: the values behind
// /metrics/snapshot (by Mesos's names, as libprocess's MetricsProcess
// serves them) and Prometheus's /metrics.
//
// It holds no global state. The master and the agent each build a
// [Snapshot] on demand from their own counters (on their actor loop, or
// from a copy taken there) and hand it to [WriteJSON] or [WritePrometheus].
// Helpers mirror libprocess's metric kinds: [Timer] (process::metrics::Timer
// with its time series statistics), [AddSystem] (libprocess's System
// process: system/*) and [ParseTimeout] (the snapshot's ?timeout=).
package metrics

import (
	"maps"
	"slices"
)

// Kind tells how a metric behaves; Prometheus types it so.
type Kind uint8

const (
	// Gauge is a value that goes up and down (libprocess's PullGauge and
	// PushGauge).
	Gauge Kind = iota
	// Counter only grows while the process lives (libprocess's Counter).
	Counter
)

// Snapshot is a set of metric values by Mesos name, each with its Kind.
// The zero value is empty and ready to use. A Snapshot is not safe for
// concurrent use.
type Snapshot struct {
	values   map[string]float64
	counters map[string]struct{}
}

// NewSnapshot returns an empty snapshot with room for n metrics.
func NewSnapshot(n int) *Snapshot {
	return &Snapshot{values: make(map[string]float64, n)}
}

// Gauge sets the gauge name to v.
func (s *Snapshot) Gauge(name string, v float64) {
	if s.values == nil {
		s.values = map[string]float64{}
	}
	s.values[name] = v
	delete(s.counters, name)
}

// Counter sets the counter name to v.
func (s *Snapshot) Counter(name string, v float64) {
	if s.values == nil {
		s.values = map[string]float64{}
	}
	if s.counters == nil {
		s.counters = map[string]struct{}{}
	}
	s.values[name] = v
	s.counters[name] = struct{}{}
}

// Gauges sets every value of m as a gauge, e.g. metrics reported by
// another component as a plain map.
func (s *Snapshot) Gauges(m map[string]float64) {
	for k, v := range m {
		s.Gauge(k, v)
	}
}

// Merge copies every metric of o into s, with its kind.
func (s *Snapshot) Merge(o *Snapshot) {
	for k, v := range o.values {
		if o.Kind(k) == Counter {
			s.Counter(k, v)
		} else {
			s.Gauge(k, v)
		}
	}
}

// Value returns the value of name and whether it is present.
func (s *Snapshot) Value(name string) (float64, bool) {
	v, ok := s.values[name]
	return v, ok
}

// Kind returns how name behaves (Gauge when absent).
func (s *Snapshot) Kind(name string) Kind {
	if _, ok := s.counters[name]; ok {
		return Counter
	}
	return Gauge
}

// Len returns the number of metrics.
func (s *Snapshot) Len() int { return len(s.values) }

// Values returns a copy of the values by name, the JSON object of
// /metrics/snapshot.
func (s *Snapshot) Values() map[string]float64 {
	out := maps.Clone(s.values)
	if out == nil {
		out = map[string]float64{}
	}
	return out
}

// Names returns the metric names in order, as libprocess's snapshot (a
// std::map) lists them.
func (s *Snapshot) Names() []string {
	return slices.Sorted(maps.Keys(s.values))
}
