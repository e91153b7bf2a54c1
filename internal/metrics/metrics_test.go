package metrics

import (
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func TestTimerKeys(t *testing.T) {
	tm := NewTimer(time.Hour)
	s := NewSnapshot(0)
	tm.AddTo(s, "x_ms")
	if s.Len() != 0 {
		t.Fatalf("a timer without samples reports %v, want nothing (libprocess's value() fails)", s.Values())
	}
	tm.Record(5*time.Millisecond, t0)
	tm.AddTo(s, "x_ms")
	if diff := cmp.Diff(map[string]float64{"x_ms": 5}, s.Values()); diff != "" {
		t.Fatalf("one sample: only the last value (-want +got):\n%s", diff)
	}
	for i := 1; i <= 100; i++ {
		tm.Record(time.Duration(i)*time.Millisecond, t0.Add(time.Duration(i)*time.Second))
	}
	s = NewSnapshot(0)
	tm.AddTo(s, "x_ms")
	// Samples: 5 (at t0), then 1..100. Sorted: 1,2,3,4,5,5,6,...,100.
	want := map[string]float64{
		"x_ms": 100, "x_ms/count": 101, "x_ms/min": 1, "x_ms/max": 100,
		"x_ms/p50": 50, "x_ms/p90": 90, "x_ms/p95": 95, "x_ms/p99": 99,
		"x_ms/p999": 99.9, "x_ms/p9999": 99.99,
	}
	if diff := cmp.Diff(want, s.Values(), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("statistics (-want +got):\n%s", diff)
	}
	if got := TimerKeys("x_ms"); len(got) != len(want) {
		t.Errorf("TimerKeys = %v, want the %d keys of a full snapshot", got, len(want))
	}
}

func TestTimerWindowAndCapacity(t *testing.T) {
	tm := NewTimer(time.Minute)
	for i := range 10 {
		tm.Record(time.Millisecond, t0.Add(time.Duration(i)*time.Second))
	}
	tm.Record(2*time.Millisecond, t0.Add(time.Hour))
	if st, ok := tm.Statistics(); ok {
		t.Fatalf("after the window only the newest sample remains; got statistics %+v", st)
	}

	tm = NewTimer(time.Hour)
	for i := range 5 * TimeSeriesCapacity {
		tm.Record(time.Duration(i)*time.Microsecond, t0.Add(time.Duration(i)*time.Millisecond))
	}
	st, ok := tm.Statistics()
	if !ok || st.Count != TimeSeriesCapacity {
		t.Fatalf("count = %d (%v), want the capacity %d", st.Count, ok, TimeSeriesCapacity)
	}
	if last := float64(5*TimeSeriesCapacity-1) / 1000; st.Max != last {
		t.Errorf("max = %v, want the newest sample %v kept", st.Max, last)
	}
	if st.Min != 0 {
		t.Errorf("min = %v, want the oldest sample kept (sparsify keeps the first)", st.Min)
	}
	// Same time: replaced, not added.
	tm = NewTimer(time.Hour)
	tm.Record(time.Millisecond, t0)
	tm.Record(3*time.Millisecond, t0)
	if _, ok := tm.Statistics(); ok {
		t.Error("two samples at the same time count as two; libprocess keeps one per time")
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"5secs", 5 * time.Second, ""},
		{"1.5ms", 1500 * time.Microsecond, ""},
		{"2weeks", 14 * 24 * time.Hour, ""},
		{"10", 0, "Invalid duration '10'"},
		{"", 0, "Invalid duration ''"},
		{"5s", 0, "Unknown duration unit 's'; supported units are 'ns', 'us', 'ms', 'secs', 'mins', 'hrs', 'days', and 'weeks'"},
		{"-1secs", 0, "Failed to convert '' to number"},
		{"1.2.3secs", 0, "Failed to convert '1.2.3' to number"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseDuration(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseTimeout(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/metrics/snapshot?timeout=abc", nil)
	_, _, err := ParseTimeout(r)
	if err == nil || !strings.HasSuffix(err.Error(), "Invalid timeout 'abc': Failed to convert '' to number.\n") {
		t.Errorf("ParseTimeout(abc) = %v", err)
	}
	r = httptest.NewRequest(http.MethodGet, "/metrics/snapshot?timeout=2secs", nil)
	if d, ok, err := ParseTimeout(r); d != 2*time.Second || !ok || err != nil {
		t.Errorf("ParseTimeout(2secs) = %v, %v, %v", d, ok, err)
	}
	r = httptest.NewRequest(http.MethodGet, "/metrics/snapshot", nil)
	if _, ok, err := ParseTimeout(r); ok || err != nil {
		t.Errorf("ParseTimeout() = %v, %v; want absent", ok, err)
	}
}

func TestAddSystem(t *testing.T) {
	root := t.TempDir()
	write := func(p, body string) {
		t.Helper()
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sys/devices/system/cpu/online", "0-3,6\n")
	write("proc/loadavg", "0.50 0.25 0.10 1/100 4242\n")
	write("proc/meminfo", "MemTotal:       2048 kB\nMemFree:        1024 kB\nMemAvailable:   1500 kB\n")
	old := procRoot
	procRoot = root + "/"
	t.Cleanup(func() { procRoot = old })
	s := NewSnapshot(0)
	AddSystem(s)
	want := map[string]float64{
		SystemCPUsTotal: 5, SystemLoad1Min: 0.5, SystemLoad5Min: 0.25, SystemLoad15Min: 0.1,
		SystemMemTotalBytes: 2048 * 1024, SystemMemFreeBytes: 1024 * 1024,
	}
	if diff := cmp.Diff(want, s.Values()); diff != "" {
		t.Errorf("system metrics (-want +got):\n%s", diff)
	}
	// Unreadable load and memory are left out, as libprocess's failed
	// gauges are.
	procRoot = t.TempDir() + "/"
	s = NewSnapshot(0)
	AddSystem(s)
	if _, ok := s.Value(SystemLoad1Min); ok || s.Len() != 1 {
		t.Errorf("without /proc: %v, want only %s", s.Values(), SystemCPUsTotal)
	}
}

func TestPrometheusName(t *testing.T) {
	for in, want := range map[string]string{
		"master/tasks_running":                          "mesos_master_tasks_running",
		"allocator/mesos/allocation_run_ms/p99":         "mesos_allocator_mesos_allocation_run_ms_p99",
		"master/frameworks/my%20fw/id-0001/calls":       "mesos_master_frameworks_my_20fw_id_0001_calls",
		"allocator/mesos/roles/eng.web/shares/dominant": "mesos_allocator_mesos_roles_eng_web_shares_dominant",
	} {
		if got := PrometheusName(in); got != want {
			t.Errorf("PrometheusName(%q) = %q, want %q", in, got, want)
		}
		if !model.LegacyValidation.IsValidMetricName(PrometheusName(in)) {
			t.Errorf("PrometheusName(%q) = %q is not a valid Prometheus name", in, PrometheusName(in))
		}
	}
}

func TestServePrometheus(t *testing.T) {
	s := NewSnapshot(0)
	s.Gauge("master/tasks_running", 3)
	s.Counter("master/tasks_finished", 7)
	s.Gauge("master/frameworks/a b/x/subscribed", 1)
	s.Gauge("master/frameworks/a_b/x/subscribed", 0) // flattens to the same name
	s.Gauge("master/uptime_secs", 1.25)
	rec := httptest.NewRecorder()
	ServePrometheus(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil), s)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	if !strings.Contains(body, "# HELP mesos_master_tasks_running Mesos metric master/tasks_running.") {
		t.Errorf("no HELP line for tasks_running:\n%s", body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("output is not valid Prometheus text: %v\n%s", err, body)
	}
	type fam struct {
		Type  dto.MetricType
		Value float64
	}
	got := map[string]fam{}
	for name, f := range fams {
		m := f.GetMetric()[0]
		v := m.GetGauge().GetValue()
		if f.GetType() == dto.MetricType_COUNTER {
			v = m.GetCounter().GetValue()
		}
		got[name] = fam{f.GetType(), v}
	}
	want := map[string]fam{
		"mesos_master_tasks_running":               {dto.MetricType_GAUGE, 3},
		"mesos_master_tasks_finished":              {dto.MetricType_COUNTER, 7},
		"mesos_master_frameworks_a_b_x_subscribed": {dto.MetricType_GAUGE, 1},
		"mesos_master_uptime_secs":                 {dto.MetricType_GAUGE, 1.25},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("families (-want +got):\n%s", diff)
	}
}

func TestSnapshotKinds(t *testing.T) {
	s := &Snapshot{}
	s.Counter("c", 1)
	s.Gauges(map[string]float64{"g": 2, "c": 3})
	if s.Kind("c") != Gauge || s.Kind("g") != Gauge {
		t.Error("Gauges must turn names into gauges")
	}
	o := NewSnapshot(1)
	o.Counter("d", math.Pi)
	s.Merge(o)
	if v, _ := s.Value("d"); s.Kind("d") != Counter || v != math.Pi {
		t.Error("Merge must keep kinds and values")
	}
	if diff := cmp.Diff([]string{"c", "d", "g"}, s.Names()); diff != "" {
		t.Error(diff)
	}
}
