package master

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/hierarchical"
	"github.com/meso-project/meso/internal/registry"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/codec"
)

// mesosMasterMetrics are the fixed names a Mesos 1.11.0 master registers
// (src/master/metrics.cpp Metrics, src/master/allocator/mesos/metrics.cpp,
// src/master/registrar.cpp, libprocess's System process) and
// docs/monitoring.md documents. Names with a role, a framework, a state
// or a reason in them are checked separately.
var mesosMasterMetrics = func() []string {
	names := []string{
		"master/uptime_secs", "master/elected",
		"master/slaves_connected", "master/slaves_disconnected", "master/slaves_active",
		"master/slaves_inactive", "master/slaves_unreachable",
		"master/frameworks_connected", "master/frameworks_disconnected",
		"master/frameworks_active", "master/frameworks_inactive",
		"master/outstanding_offers", "master/operator_event_stream_subscribers",
		"master/tasks_staging", "master/tasks_starting", "master/tasks_running",
		"master/tasks_unreachable", "master/tasks_killing", "master/tasks_finished",
		"master/tasks_failed", "master/tasks_killed", "master/tasks_lost", "master/tasks_error",
		"master/tasks_dropped", "master/tasks_gone", "master/tasks_gone_by_operator",
		"master/dropped_messages", "master/http_cache_hits",
		"master/messages_register_framework", "master/messages_reregister_framework",
		"master/messages_unregister_framework", "master/messages_deactivate_framework",
		"master/messages_kill_task", "master/messages_status_update_acknowledgement",
		"master/messages_operation_status_update_acknowledgement",
		"master/messages_resource_request", "master/messages_launch_tasks",
		"master/messages_decline_offers", "master/messages_revive_offers",
		"master/messages_suppress_offers", "master/messages_reconcile_operations",
		"master/messages_reconcile_tasks", "master/messages_framework_to_executor",
		"master/messages_executor_to_framework",
		"master/messages_register_slave", "master/messages_reregister_slave",
		"master/messages_unregister_slave", "master/messages_status_update",
		"master/messages_operation_status_update", "master/messages_exited_executor",
		"master/messages_update_slave", "master/messages_authenticate",
		"master/valid_framework_to_executor_messages", "master/invalid_framework_to_executor_messages",
		"master/valid_executor_to_framework_messages", "master/invalid_executor_to_framework_messages",
		"master/valid_status_updates", "master/invalid_status_updates",
		"master/valid_status_update_acknowledgements", "master/invalid_status_update_acknowledgements",
		"master/valid_operation_status_updates", "master/invalid_operation_status_updates",
		"master/valid_operation_status_update_acknowledgements",
		"master/invalid_operation_status_update_acknowledgements",
		"master/recovery_slave_removals",
		"master/event_queue_messages", "master/event_queue_dispatches", "master/event_queue_http_requests",
		"master/slave_registrations", "master/slave_reregistrations", "master/slave_removals",
		"master/slave_removals/reason_unhealthy", "master/slave_removals/reason_unregistered",
		"master/slave_removals/reason_registered",
		"master/slave_shutdowns_scheduled", "master/slave_shutdowns_completed",
		"master/slave_shutdowns_canceled",
		"master/slave_unreachable_scheduled", "master/slave_unreachable_completed",
		"master/slave_unreachable_canceled",

		"allocator/mesos/event_queue_dispatches", "allocator/event_queue_dispatches",
		"allocator/mesos/allocation_runs",

		"registrar/queued_operations", "registrar/registry_size_bytes",
		"registrar/state_fetch_ms",
		"registrar/log/recovered", "registrar/log/ensemble_size",

		"system/cpus_total", "system/load_1min", "system/load_5min", "system/load_15min",
		"system/mem_total_bytes", "system/mem_free_bytes",
	}
	for _, r := range []string{"cpus", "gpus", "mem", "disk"} {
		for _, s := range []string{"_total", "_used", "_percent", "_revocable_total", "_revocable_used", "_revocable_percent"} {
			names = append(names, "master/"+r+s)
		}
	}
	for _, r := range []string{"cpus", "mem", "disk"} {
		names = append(names, "allocator/mesos/resources/"+r+"/total", "allocator/mesos/resources/"+r+"/offered_or_allocated")
	}
	names = append(names, timerKeys("allocator/mesos/allocation_run_ms")...)
	names = append(names, timerKeys("allocator/mesos/allocation_run_latency_ms")...)
	names = append(names, timerKeys("registrar/state_store_ms")...)
	states := []string{"total", "pending", "recovering", "unreachable", "finished", "failed", "error", "dropped", "gone_by_operator"}
	for _, op := range []string{"", "reserve/", "unreserve/", "create/", "destroy/", "grow_volume/", "shrink_volume/", "create_disk/", "destroy_disk/"} {
		for _, s := range states {
			names = append(names, "master/operations/"+op+s)
		}
	}
	return names
}()

func timerKeys(name string) []string {
	out := []string{name}
	for _, k := range []string{"count", "max", "min", "p50", "p90", "p95", "p99", "p999", "p9999"} {
		out = append(out, name+"/"+k)
	}
	return out
}

// masterMetricsMeso lacks, with the reason.
var masterMetricsExcluded = map[string]string{
	"registrar/log/recovered":     "the replicated log: meso's registry is in bbolt, ZooKeeper or memory",
	"registrar/log/ensemble_size": "the replicated log: meso's registry is in bbolt, ZooKeeper or memory",
}

// masterMetricsMesoOnly are names meso adds that Mesos 1.11.0 does not
// have; kept for the tools that read them.
var masterMetricsMesoOnly = []string{
	"master/invalid_scheduler_calls", // every scheduler call that failed validation
	"master/frameworks_removed",      // frameworks torn down or timed out
}

// perFrameworkMetrics are the FrameworkMetrics names after
// master/frameworks/<encoded name>/<id>/, for a framework in role "web".
func perFrameworkMetrics() []string {
	out := []string{"subscribed", "calls", "events", "operations",
		"offers/sent", "offers/accepted", "offers/declined", "offers/rescinded", "roles/web/suppressed"}
	for _, c := range []string{"subscribe", "teardown", "accept", "decline", "accept_inverse_offers",
		"decline_inverse_offers", "revive", "kill", "shutdown", "acknowledge",
		"acknowledge_operation_status", "reconcile", "reconcile_operations", "message", "request",
		"suppress", "update_framework"} {
		out = append(out, "calls/"+c)
	}
	for _, e := range []string{"subscribed", "offers", "inverse_offers", "rescind", "rescind_inverse_offer",
		"update", "update_operation_status", "message", "failure", "error", "heartbeat"} {
		out = append(out, "events/"+e)
	}
	for _, s := range []string{"task_staging", "task_starting", "task_running", "task_killing", "task_unreachable", "task_unknown"} {
		out = append(out, "tasks/active/"+s)
	}
	for _, s := range []string{"task_finished", "task_failed", "task_killed", "task_lost", "task_error",
		"task_dropped", "task_gone", "task_gone_by_operator"} {
		out = append(out, "tasks/terminal/"+s)
	}
	for _, o := range []string{"launch", "launch_group", "reserve", "unreserve", "create", "destroy",
		"grow_volume", "shrink_volume", "create_disk", "destroy_disk"} {
		out = append(out, "operations/"+o)
	}
	return out
}

// startMetricsMaster is a master with the real allocator and registrar,
// whose metrics are all present.
func startMetricsMaster(t *testing.T) *harness {
	t.Helper()
	alloc, err := hierarchical.New(allocator.Options{AllocationInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistrar(t, registry.NewMemoryStore())
	return startMaster(t, func(c *Config) {
		c.Allocator = alloc
		c.Registrar = reg
	})
}

func snapshotMetrics(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for k, v := range h.getJSON("/metrics/snapshot") {
		f, ok := v.(float64)
		if !ok {
			t.Fatalf("%s = %v, not a number", k, v)
		}
		out[k] = f
	}
	return out
}

// TestMasterMetricNames holds meso to Mesos 1.11.0's master metric names:
// every name is present unless excluded with a reason, including the
// per-framework, per-role and per-reason ones once a framework, a role
// and a lost task exist; and no name is unknown to Mesos unless listed as
// meso's own.
func TestMasterMetricNames(t *testing.T) {
	h := startMetricsMaster(t)
	h.registerAgent("cpus:2;mem:1024;disk:1000")
	h.registerAgent("cpus:2;mem:1024;disk:1000") // two registry writes: state_store_ms statistics
	info := fwInfo("metrics test/1")
	info.Role = proto.String("web")
	sched := h.subscribe(info, codec.JSON)
	offers := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()
	// A decline with a filter (offer_filters/roles/web/active) and an
	// ACCEPT of an unknown offer (master/task_lost/source_master/
	// reason_invalid_offers).
	sched.mustCall(&schedulerpb.Call{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)},
		Type:        schedulerpb.Call_DECLINE.Enum(),
		Decline: &schedulerpb.Call_Decline{OfferIds: []*mesospb.OfferID{offers[0].Id},
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(3600)}},
	})
	sched.mustCall(&schedulerpb.Call{
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)},
		Type:        schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{{Value: proto.String("no-such-offer")}},
			Operations: []*mesospb.Offer_Operation{{
				Type:   mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{simpleTask("t", offers[0].AgentId)}},
			}},
		},
	})
	sched.next(schedulerpb.Event_UPDATE)

	prefix := "master/frameworks/metrics%20test%2F1/" + sched.id + "/"
	want := slices.Clone(mesosMasterMetrics)
	for _, n := range perFrameworkMetrics() {
		want = append(want, prefix+n)
	}
	want = append(want,
		"master/task_lost/source_master/reason_invalid_offers",
		"allocator/mesos/roles/web/shares/dominant",
		"allocator/mesos/offer_filters/roles/web/active",
	)

	var snap map[string]float64
	// The timers' statistics need two allocation runs and two registry
	// writes.
	testutil.Eventually(t, 5*time.Second, func() bool {
		snap = snapshotMetrics(t, h)
		_, a := snap["allocator/mesos/allocation_run_ms/count"]
		_, r := snap["registrar/state_store_ms/count"]
		return a && r
	}, "timer statistics in /metrics/snapshot")

	for _, name := range want {
		if _, ok := snap[name]; ok {
			if why, excluded := masterMetricsExcluded[name]; excluded {
				t.Errorf("%s is present but excluded (%s): drop the exclusion", name, why)
			}
			continue
		}
		if _, excluded := masterMetricsExcluded[name]; !excluded {
			t.Errorf("/metrics/snapshot has no %s", name)
		}
	}
	known := map[string]bool{}
	for _, n := range want {
		known[n] = true
	}
	for _, n := range masterMetricsMesoOnly {
		known[n] = true
	}
	for name := range snap {
		if !known[name] && !strings.HasPrefix(name, "allocator/mesos/quota/roles/web/resources/") {
			t.Errorf("%s is not a Mesos 1.11.0 metric (nor listed as meso's own)", name)
		}
	}

	for name, v := range map[string]float64{
		"master/task_lost/source_master/reason_invalid_offers": 1,
		"master/messages_register_framework":                   1,
		"master/messages_register_slave":                       2,
		"master/messages_decline_offers":                       1,
		prefix + "subscribed":                                  1,
		prefix + "calls/subscribe":                             1,
		prefix + "calls/decline":                               1,
		prefix + "calls/accept":                                1,
		prefix + "calls":                                       3,
		prefix + "events/subscribed":                           1,
		prefix + "offers/declined":                             1,
		prefix + "operations/launch":                           1,
		prefix + "roles/web/suppressed":                        0,
		"allocator/mesos/offer_filters/roles/web/active":       1,
		"allocator/mesos/resources/cpus/total":                 4,
		"master/operator_event_stream_subscribers":             0,
	} {
		if got := snap[name]; got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	if snap[prefix+"events/heartbeat"] < 1 || snap[prefix+"offers/sent"] < 1 {
		t.Errorf("heartbeat %v, offers sent %v: want the first HEARTBEAT and OFFERS counted",
			snap[prefix+"events/heartbeat"], snap[prefix+"offers/sent"])
	}
	if snap["allocator/mesos/allocation_runs"] < 2 {
		t.Errorf("allocation_runs = %v", snap["allocator/mesos/allocation_runs"])
	}
}

func TestMasterMetricsSnapshotQuery(t *testing.T) {
	h := startMaster(t, nil)
	for _, tt := range []struct {
		query, body string
		code        int
	}{
		{"?timeout=abc", "Invalid timeout 'abc': Failed to convert '' to number.\n", 400},
		{"?timeout=10", "Invalid timeout '10': Invalid duration '10'.\n", 400},
		{"?timeout=5secs", "", 200},
	} {
		code, _, body := h.get("/metrics/snapshot" + tt.query)
		if code != tt.code || (tt.body != "" && body != tt.body) {
			t.Errorf("GET /metrics/snapshot%s = %d %q, want %d %q", tt.query, code, body, tt.code, tt.body)
		}
	}
	code, ctype, body := h.get("/metrics/snapshot?jsonp=cb")
	if code != 200 || ctype != "text/javascript" || !strings.HasPrefix(body, "cb({") || !strings.Contains(body, `"master/elected":1`) {
		t.Errorf("jsonp: %d %s %.80s", code, ctype, body)
	}
}

func TestMasterPrometheus(t *testing.T) {
	h := startMaster(t, nil)
	h.registerAgent("cpus:1;mem:128")
	resp, err := http.Get(h.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	type fam struct {
		Type dto.MetricType
		Help string
	}
	got := map[string]fam{}
	for _, n := range []string{"mesos_master_elected", "mesos_master_slave_registrations", "mesos_master_messages_register_slave", "mesos_system_cpus_total"} {
		if f := fams[n]; f != nil {
			got[n] = fam{f.GetType(), f.GetHelp()}
		}
	}
	want := map[string]fam{
		"mesos_master_elected":                 {dto.MetricType_GAUGE, "Mesos metric master/elected."},
		"mesos_master_slave_registrations":     {dto.MetricType_COUNTER, "Mesos metric master/slave_registrations."},
		"mesos_master_messages_register_slave": {dto.MetricType_COUNTER, "Mesos metric master/messages_register_slave."},
		"mesos_system_cpus_total":              {dto.MetricType_GAUGE, "Mesos metric system/cpus_total."},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("families (-want +got):\n%s", diff)
	}
	if v := fams["mesos_master_slave_registrations"].GetMetric()[0].GetCounter().GetValue(); v != 1 {
		t.Errorf("slave_registrations = %v, want 1", v)
	}
	// /metrics does not take over the rest of the metrics process.
	if code, _, _ := h.get("/metrics/other"); code != 404 {
		t.Errorf("/metrics/other: %d, want 404", code)
	}
}
