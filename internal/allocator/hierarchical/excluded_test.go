package hierarchical_test

import (
	"math"
	"testing"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/pkg/resources"
)

// TestFairSharingExcludedResourceNames: a resource named in
// --fair_sharing_excluded_resource_names does not count towards DRF shares.
func TestFairSharingExcludedResourceNames(t *testing.T) {
	for _, tc := range []struct {
		excluded []string
		want     float64
	}{
		{nil, 1},                  // all 4 of 4 gpus dominate
		{[]string{"gpus"}, 0.125}, // then 1 of 8 cpus does
	} {
		a := newAllocator(t, allocator.Options{FairSharingExcludedResourceNames: tc.excluded})
		a.AddAgent("s1", agentWith(t, "s1", "cpus:8;mem:800;gpus:4"), nil)
		used := res(t, "cpus:1;mem:10;gpus:4").Allocate("g")
		a.AddFramework("f1", active(fwInfo("f1", []string{"g"}, mesospb.FrameworkInfo_Capability_GPU_RESOURCES)),
			map[string]resources.Resources{"s1": used})
		if got := a.DominantShare("g"); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("excluded %v: share of g = %v, want %v", tc.excluded, got, tc.want)
		}
	}
}
