package hierarchical_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/meso-project/meso/internal/allocator"
)

// TestMetrics follows Mesos's DominantShareMetrics and quota metrics tests:
// shares move with offers, filters count while they last, quota gauges
// appear with the quota.
func TestMetrics(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAllocator(t, allocator.Options{})
	a.AddAgent("a1", agentWith(t, "a1", "cpus:1;mem:1024;disk:100"), nil)
	a.AddFramework("f1", active(fwInfo("f1", []string{"roleA"})), nil)
	als := a.Allocate(now)
	if len(als) != 1 {
		t.Fatalf("allocations: %s", str(als))
	}
	approx := cmpopts.EquateApprox(0, 1e-9)
	want := map[string]float64{
		"allocator/mesos/resources/cpus/total":                1,
		"allocator/mesos/resources/mem/total":                 1024,
		"allocator/mesos/resources/disk/total":                100,
		"allocator/mesos/resources/cpus/offered_or_allocated": 1,
		"allocator/mesos/resources/mem/offered_or_allocated":  1024,
		"allocator/mesos/resources/disk/offered_or_allocated": 100,
		"allocator/mesos/roles/roleA/shares/dominant":         1,
		"allocator/mesos/offer_filters/roles/roleA/active":    0,
		// What a role consumes is reported with or without a quota
		// (Mesos's updateConsumed), for the names it holds.
		"allocator/mesos/quota/roles/roleA/resources/cpus/consumed": 1,
		"allocator/mesos/quota/roles/roleA/resources/mem/consumed":  1024,
		"allocator/mesos/quota/roles/roleA/resources/disk/consumed": 100,
	}
	if diff := cmp.Diff(want, a.Metrics(now), approx); diff != "" {
		t.Errorf("after the offer (-want +got):\n%s", diff)
	}

	// Declined with a 10s filter: nothing held, one filter until it expires.
	recoverAll(a, als, refuse(10), now)
	want["allocator/mesos/resources/cpus/offered_or_allocated"] = 0
	want["allocator/mesos/resources/mem/offered_or_allocated"] = 0
	want["allocator/mesos/resources/disk/offered_or_allocated"] = 0
	want["allocator/mesos/roles/roleA/shares/dominant"] = 0
	want["allocator/mesos/offer_filters/roles/roleA/active"] = 1
	for _, r := range []string{"cpus", "mem", "disk"} {
		delete(want, "allocator/mesos/quota/roles/roleA/resources/"+r+"/consumed")
	}
	if diff := cmp.Diff(want, a.Metrics(now.Add(time.Second)), approx); diff != "" {
		t.Errorf("after the decline (-want +got):\n%s", diff)
	}
	if got := a.Metrics(now.Add(time.Minute))["allocator/mesos/offer_filters/roles/roleA/active"]; got != 0 {
		t.Errorf("expired filters counted: %v", got)
	}

	// A quota and a nested role: guarantee, limit, offered_or_allocated
	// for the names the quota lists; the parent role's filter gauge.
	a.UpdateQuota("roleA", allocator.Quota{Guarantees: map[string]float64{"cpus": 0.5}, Limits: map[string]float64{"mem": 512}})
	a.AddFramework("f2", active(fwInfo("f2", []string{"eng/web"})), nil)
	got := a.Metrics(now.Add(time.Minute))
	for name, v := range map[string]float64{
		"allocator/mesos/quota/roles/roleA/resources/cpus/guarantee":            0.5,
		"allocator/mesos/quota/roles/roleA/resources/mem/limit":                 512,
		"allocator/mesos/quota/roles/roleA/resources/cpus/offered_or_allocated": 0,
		"allocator/mesos/quota/roles/roleA/resources/mem/offered_or_allocated":  0,
		"allocator/mesos/roles/eng/web/shares/dominant":                         0,
		"allocator/mesos/offer_filters/roles/eng/active":                        0,
		"allocator/mesos/offer_filters/roles/eng/web/active":                    0,
	} {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, v)
		}
	}
	if _, ok := got["allocator/mesos/quota/roles/roleA/resources/disk/guarantee"]; ok {
		t.Error("quota gauges for a name the quota does not list")
	}
}
