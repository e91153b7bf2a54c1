package agent

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// mesosAgentMetrics are the names a Mesos 1.11.0 agent registers
// (src/slave/metrics.cpp, the Mesos containerizer's, the fetcher's, the
// garbage collector's, libprocess's System process) and
// docs/monitoring.md documents.
var mesosAgentMetrics = func() []string {
	names := []string{
		"slave/uptime_secs", "slave/registered", "slave/recovery_errors", "slave/recovery_time_secs",
		"slave/frameworks_active",
		"slave/tasks_staging", "slave/tasks_starting", "slave/tasks_running", "slave/tasks_killing",
		"slave/tasks_finished", "slave/tasks_failed", "slave/tasks_killed", "slave/tasks_lost", "slave/tasks_gone",
		"slave/executors_registering", "slave/executors_running", "slave/executors_terminating",
		"slave/executors_terminated", "slave/executors_preempted",
		"slave/valid_status_updates", "slave/invalid_status_updates",
		"slave/valid_framework_messages", "slave/invalid_framework_messages",
		"slave/executor_directory_max_allowed_age_secs", "slave/container_launch_errors",
		"containerizer/mesos/container_destroy_errors",
		"containerizer/fetcher/task_fetches_succeeded", "containerizer/fetcher/task_fetches_failed",
		"containerizer/fetcher/cache_size_total_bytes", "containerizer/fetcher/cache_size_used_bytes",
		"gc/path_removals_succeeded", "gc/path_removals_failed", "gc/path_removals_pending",
		"volume_gid_manager/volume_gids_total", "volume_gid_manager/volume_gids_free",
		"containerizer/mesos/disk/project_ids_free", "containerizer/mesos/disk/project_ids_total",
		"system/cpus_total", "system/load_1min", "system/load_5min", "system/load_15min",
		"system/mem_total_bytes", "system/mem_free_bytes",
	}
	for _, r := range []string{"cpus", "gpus", "mem", "disk"} {
		for _, s := range []string{"_total", "_used", "_percent", "_revocable_total", "_revocable_used", "_revocable_percent"} {
			names = append(names, "slave/"+r+s)
		}
	}
	for _, timer := range []string{"containerizer/docker/image_pull_ms", "containerizer/mesos/provisioner/docker_store/image_pull_ms"} {
		names = append(names, timer)
		for _, k := range []string{"count", "max", "min", "p50", "p90", "p95", "p99", "p999", "p9999"} {
			names = append(names, timer+"/"+k)
		}
	}
	return names
}()

// agentMetricsExcluded are Mesos agent metrics meso lacks, with the reason.
var agentMetricsExcluded = map[string]string{
	"volume_gid_manager/volume_gids_total":       "no volume gid manager (Mesos has it only with --volume_gid_range)",
	"volume_gid_manager/volume_gids_free":        "no volume gid manager (Mesos has it only with --volume_gid_range)",
	"containerizer/mesos/disk/project_ids_free":  "no XFS disk isolator (Mesos: disk/xfs only)",
	"containerizer/mesos/disk/project_ids_total": "no XFS disk isolator (Mesos: disk/xfs only)",
}

func init() {
	for _, timer := range []string{"containerizer/docker/image_pull_ms", "containerizer/mesos/provisioner/docker_store/image_pull_ms"} {
		why := "no Docker containerizer or image provisioner (Mesos: only with them)"
		agentMetricsExcluded[timer] = why
		for _, k := range []string{"count", "max", "min", "p50", "p90", "p95", "p99", "p999", "p9999"} {
			agentMetricsExcluded[timer+"/"+k] = why
		}
	}
}

// agentMetricsMesoOnly are names meso adds that Mesos 1.11.0 does not
// have; kept for the tools that read them (the e2e tests and
// bench/restart wait on status_updates_pending).
var agentMetricsMesoOnly = []string{
	"slave/tasks_dropped", "slave/tasks_error", "slave/executor_messages",
	"slave/registrations", "slave/reregistrations", "slave/status_updates_pending",
}

// TestAgentMetricNames holds a real agent to Mesos 1.11.0's agent metric
// names: every one present unless excluded with a reason, and none
// unknown to Mesos unless listed as meso's own.
func TestAgentMetricNames(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "normal", nil)
	var snap map[string]any
	// recovery_time_secs appears once recovery has ended.
	eventually(t, 10*time.Second, func() bool {
		snap = ta.getJSON(t, "/metrics/snapshot")
		return snap["slave/registered"] == 1.0 && snap["slave/recovery_time_secs"] != nil
	}, "agent registered and recovered in /metrics/snapshot")
	for _, name := range mesosAgentMetrics {
		_, ok := snap[name]
		why, excluded := agentMetricsExcluded[name]
		switch {
		case ok && excluded:
			t.Errorf("%s is present but excluded (%s): drop the exclusion", name, why)
		case !ok && !excluded:
			t.Errorf("/metrics/snapshot has no %s", name)
		}
	}
	known := map[string]bool{}
	for _, n := range mesosAgentMetrics {
		known[n] = true
	}
	for _, n := range agentMetricsMesoOnly {
		known[n] = true
	}
	for name := range snap {
		if !known[name] {
			t.Errorf("%s is not a Mesos 1.11.0 agent metric (nor listed as meso's own)", name)
		}
	}
	if snap["slave/cpus_total"] != 2.0 || snap["slave/mem_revocable_total"] != 0.0 {
		t.Errorf("cpus_total %v, mem_revocable_total %v", snap["slave/cpus_total"], snap["slave/mem_revocable_total"])
	}
}

func TestAgentMetricsQueryAndPrometheus(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "normal", nil)
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get("http://" + ta.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, _, body := get("/metrics/snapshot?timeout=1hour"); code != 400 ||
		body != "Invalid timeout '1hour': Unknown duration unit 'hour'; supported units are 'ns', 'us', 'ms', 'secs', 'mins', 'hrs', 'days', and 'weeks'.\n" {
		t.Errorf("bad timeout: %d %q", code, body)
	}
	if code, _, body := get("/metrics/snapshot?timeout=10secs"); code != 200 || !strings.Contains(body, `"slave/uptime_secs"`) {
		t.Errorf("timeout=10secs: %d %.100s", code, body)
	}
	if code, ctype, body := get("/metrics/snapshot?jsonp=cb"); code != 200 || ctype != "text/javascript" || !strings.HasPrefix(body, "cb({") {
		t.Errorf("jsonp: %d %s %.40s", code, ctype, body)
	}
	code, _, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	got := map[string]dto.MetricType{}
	for _, n := range []string{"mesos_slave_registered", "mesos_slave_tasks_finished", "mesos_gc_path_removals_succeeded", "mesos_system_mem_total_bytes"} {
		if f := fams[n]; f != nil {
			got[n] = f.GetType()
		}
	}
	want := map[string]dto.MetricType{
		"mesos_slave_registered":           dto.MetricType_GAUGE,
		"mesos_slave_tasks_finished":       dto.MetricType_COUNTER,
		"mesos_gc_path_removals_succeeded": dto.MetricType_COUNTER,
		"mesos_system_mem_total_bytes":     dto.MetricType_GAUGE,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("families (-want +got):\n%s", diff)
	}
	if code, _, _ := get("/slave(1)/metrics/snapshot"); code != 200 {
		t.Errorf("/slave(1)/metrics/snapshot: %d", code)
	}
}
