package registry

import (
	"math"
	"slices"
	"sync"
	"time"
)

// The registrar's metrics, under Mesos's names (docs/monitoring.md).
const (
	MetricQueuedOperations  = "registrar/queued_operations"   // operations waiting for the next write
	MetricRegistrySizeBytes = "registrar/registry_size_bytes" // size of the encoded registry; absent before recovery
	MetricStateFetchMS      = "registrar/state_fetch_ms"      // duration of the last fetch (Recover), in ms
	MetricStateStoreMS      = "registrar/state_store_ms"      // duration of the last write, in ms
)

// timer is a libprocess metrics::Timer in milliseconds: the last value and,
// when it has a window, statistics over the values of that window, kept as
// libprocess's TimeSeries keeps them (at most timeSeriesCapacity values; when
// there are more, every other value of the older half is dropped, so old
// values thin out while recent ones stay dense). It is safe for concurrent
// use.
type timer struct {
	name   string
	window time.Duration // 0: no statistics

	mu     sync.Mutex
	last   float64
	has    bool
	times  []time.Time
	values []float64
	next   int // next sparsification candidate; 0 when unset
}

const timeSeriesCapacity = 1000

func (t *timer) record(d time.Duration, now time.Time) {
	ms := float64(d) / float64(time.Millisecond)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last, t.has = ms, true
	if t.window <= 0 {
		return
	}
	t.times = append(t.times, now)
	t.values = append(t.values, ms)
	// Truncate values that fell out of the window, keeping at least one.
	expired := now.Add(-t.window)
	n := 0
	for n < len(t.times)-1 && !t.times[n].After(expired) {
		n++
	}
	if n > 0 {
		t.times, t.values = t.times[n:], t.values[n:]
		if t.next > n {
			t.next -= n
		} else {
			t.next = 0
		}
	}
	// Sparsify: drop every other value up to the halfway point until the
	// series fits its capacity.
	for len(t.values) > timeSeriesCapacity {
		if t.next == 0 || t.next > len(t.values)/2 {
			t.next = 1
		}
		t.times = slices.Delete(t.times, t.next, t.next+1)
		t.values = slices.Delete(t.values, t.next, t.next+1)
		t.next++
	}
}

// snapshot adds the timer's keys to m: its name with the last value, and,
// once the window holds two values, name/count, /min, /max, /p50, /p90,
// /p95, /p99, /p999 and /p9999 (libprocess's snapshot keys; percentiles
// interpolate linearly between the sorted values).
func (t *timer) snapshot(m map[string]float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.has {
		m[t.name] = t.last
	}
	if len(t.values) < 2 {
		return
	}
	v := slices.Clone(t.values)
	slices.Sort(v)
	m[t.name+"/count"] = float64(len(v))
	m[t.name+"/min"] = v[0]
	m[t.name+"/max"] = v[len(v)-1]
	for _, p := range []struct {
		suffix string
		q      float64
	}{{"/p50", 0.5}, {"/p90", 0.9}, {"/p95", 0.95}, {"/p99", 0.99}, {"/p999", 0.999}, {"/p9999", 0.9999}} {
		m[t.name+p.suffix] = percentile(v, p.q)
	}
}

func percentile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(math.Floor(pos))
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (sorted[i+1]-sorted[i])*(pos-float64(i))
}
