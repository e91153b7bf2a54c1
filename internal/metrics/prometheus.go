package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// PrometheusPrefix starts every Prometheus name meso exports.
const PrometheusPrefix = "mesos_"

// PrometheusName is the Prometheus name of a Mesos metric: "mesos_"
// followed by the Mesos name with every character other than an ASCII
// letter, digit or '_' replaced by '_' ("master/tasks_running" is
// mesos_master_tasks_running, "allocator/mesos/allocation_run_ms/p99" is
// mesos_allocator_mesos_allocation_run_ms_p99). This is the plain
// flattening generic /metrics/snapshot exporters apply; Mesos itself has no
// Prometheus endpoint.
func PrometheusName(name string) string {
	b := make([]byte, 0, len(PrometheusPrefix)+len(name))
	b = append(b, PrometheusPrefix...)
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
			b = append(b, c)
		default:
			b = append(b, '_')
		}
	}
	return string(b)
}

// ServePrometheus answers a Prometheus scrape with snap in the exposition
// format the scraper negotiates (the text format by default), each metric
// with a HELP line naming its Mesos name and a TYPE line (counter or
// gauge). When two Mesos names flatten to the same Prometheus name, the
// first in name order is exported and the others are left out, so the
// output stays valid.
func ServePrometheus(w http.ResponseWriter, r *http.Request, snap *Snapshot) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(snapshotCollector{snap})
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(w, r)
}

// snapshotCollector exports a Snapshot as const metrics. It describes
// nothing up front (an "unchecked" collector): its names change with the
// snapshot.
type snapshotCollector struct{ snap *Snapshot }

func (snapshotCollector) Describe(chan<- *prometheus.Desc) {}

func (c snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	seen := make(map[string]bool, c.snap.Len())
	for _, name := range c.snap.Names() {
		pn := PrometheusName(name)
		if seen[pn] {
			continue
		}
		seen[pn] = true
		v, _ := c.snap.Value(name)
		typ := prometheus.GaugeValue
		if c.snap.Kind(name) == Counter {
			typ = prometheus.CounterValue
		}
		desc := prometheus.NewDesc(pn, "Mesos metric "+name+".", nil, nil)
		m, err := prometheus.NewConstMetric(desc, typ, v)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(desc, err)
			continue
		}
		ch <- m
	}
}
