package metrics

import (
	"math"
	"slices"
	"sort"
	"time"
)

// TimeSeriesCapacity is how many samples a Timer keeps at most
// (libprocess's TIME_SERIES_CAPACITY).
const TimeSeriesCapacity = 1000

// Timer is libprocess's process::metrics::Timer<Milliseconds> with a
// window: it remembers the last duration recorded and a time series of
// recent ones, from which a snapshot reports Mesos's statistics keys.
//
// As in libprocess, the series drops samples older than the window (always
// keeping the newest) and, past TimeSeriesCapacity samples, thins its older
// half by removing every other sample (TimeSeries::sparsify), so recent
// samples stay fine-grained. Recording is O(capacity) at worst, snapshots
// O(capacity log capacity).
//
// Timer is pure: callers pass the time in. It is not safe for concurrent
// use; its owner (an actor loop) records and reads it.
type Timer struct {
	window   time.Duration
	capacity int

	last    float64 // milliseconds
	hasLast bool
	series  []sample // ordered by time, distinct times
	// next is the index of the next sample sparsify removes; -1 when unset
	// (libprocess's TimeSeries::index).
	next int
}

type sample struct {
	at time.Time
	v  float64
}

// NewTimer returns a timer whose series covers window (Mesos's allocator
// timers use one hour).
func NewTimer(window time.Duration) *Timer {
	return &Timer{window: window, capacity: TimeSeriesCapacity, next: -1}
}

// Record notes one duration d, measured at now.
func (t *Timer) Record(d time.Duration, now time.Time) {
	ms := float64(d) / float64(time.Millisecond)
	t.last, t.hasLast = ms, true
	t.set(ms, now)
}

// Last returns the last duration recorded, in milliseconds.
func (t *Timer) Last() (float64, bool) { return t.last, t.hasLast }

// set is TimeSeries::set: a sample at an existing time replaces it; an
// out-of-order sample resets the sparsification index.
func (t *Timer) set(v float64, now time.Time) {
	i := sort.Search(len(t.series), func(i int) bool { return !t.series[i].at.Before(now) })
	switch {
	case i < len(t.series) && t.series[i].at.Equal(now):
		t.series[i].v = v
	case i == len(t.series):
		t.series = append(t.series, sample{now, v})
	default:
		t.next = -1
		t.series = slices.Insert(t.series, i, sample{now, v})
	}
	t.truncate(now)
	t.sparsify()
}

// truncate drops samples older than the window, keeping at least one.
func (t *Timer) truncate(now time.Time) {
	expired := now.Add(-t.window)
	upper := sort.Search(len(t.series), func(i int) bool { return t.series[i].at.After(expired) })
	if len(t.series) <= 1 || upper == len(t.series) || upper == 0 {
		return
	}
	if t.next >= 0 && upper < t.next {
		t.next -= upper
	} else {
		t.next = -1
	}
	t.series = append(t.series[:0], t.series[upper:]...)
}

// sparsify removes every other sample of the older half until the series
// fits its capacity.
func (t *Timer) sparsify() {
	for len(t.series) > t.capacity {
		if t.next < 0 || t.next > len(t.series)/2 {
			t.next = 1
		}
		t.series = slices.Delete(t.series, t.next, t.next+1)
		t.next++
	}
}

// Statistics summarises a series as libprocess's Statistics<double>.
type Statistics struct {
	Count                                     int
	Min, Max, P50, P90, P95, P99, P999, P9999 float64
}

// Statistics returns the series' statistics; false with fewer than two
// samples, where libprocess reports none.
func (t *Timer) Statistics() (Statistics, bool) {
	if len(t.series) < 2 {
		return Statistics{}, false
	}
	vs := make([]float64, len(t.series))
	for i, s := range t.series {
		vs[i] = s.v
	}
	slices.Sort(vs)
	return Statistics{
		Count: len(vs),
		Min:   vs[0],
		Max:   vs[len(vs)-1],
		P50:   percentile(vs, 0.5),
		P90:   percentile(vs, 0.9),
		P95:   percentile(vs, 0.95),
		P99:   percentile(vs, 0.99),
		P999:  percentile(vs, 0.999),
		P9999: percentile(vs, 0.9999),
	}, true
}

// percentile interpolates linearly between the two closest ranks, as
// libprocess's Statistics::percentile does.
func percentile(sorted []float64, p float64) float64 {
	pos := p * float64(len(sorted)-1)
	i := int(math.Floor(pos))
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (sorted[i+1]-sorted[i])*(pos-float64(i))
}

// AddTo adds the timer to s under name (which carries the unit, e.g.
// "allocator/mesos/allocation_run_ms"), as libprocess's snapshot does: the
// last value as name once there is one, and name/count, /max, /min, /p50,
// /p90, /p95, /p99, /p999 and /p9999 once the series has two samples.
func (t *Timer) AddTo(s *Snapshot, name string) {
	if t.hasLast {
		s.Gauge(name, t.last)
	}
	st, ok := t.Statistics()
	if !ok {
		return
	}
	s.Gauge(name+"/count", float64(st.Count))
	s.Gauge(name+"/max", st.Max)
	s.Gauge(name+"/min", st.Min)
	s.Gauge(name+"/p50", st.P50)
	s.Gauge(name+"/p90", st.P90)
	s.Gauge(name+"/p95", st.P95)
	s.Gauge(name+"/p99", st.P99)
	s.Gauge(name+"/p999", st.P999)
	s.Gauge(name+"/p9999", st.P9999)
}

// TimerKeys lists the keys AddTo adds for name once it has two samples.
func TimerKeys(name string) []string {
	out := []string{name}
	for _, k := range []string{"count", "max", "min", "p50", "p90", "p95", "p99", "p999", "p9999"} {
		out = append(out, name+"/"+k)
	}
	return out
}
