package hierarchical_test

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/hierarchical"
)

func mustAllocator(t *rapid.T, opts allocator.Options) *hierarchical.Allocator {
	a, err := hierarchical.NewAllocator(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestPropertyWeightsOrderDRF: with identical unit agents and frameworks that
// keep everything they are offered, every agent goes to the role with the
// least weighted share, so when the cluster is used up no role holds more
// than one agent beyond what its weight entitles it to compared with any
// other role: (alloc_i - 1) / w_i <= alloc_j / w_j.
func TestPropertyWeightsOrderDRF(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nRoles := rapid.IntRange(2, 5).Draw(t, "roles")
		nAgents := rapid.IntRange(nRoles, 40).Draw(t, "agents")
		weights := map[string]float64{}
		var roles []string
		for i := range nRoles {
			r := fmt.Sprintf("r%d", i)
			roles = append(roles, r)
			weights[r] = float64(rapid.IntRange(1, 4).Draw(t, "weight_"+r))
		}
		a := mustAllocator(t, allocator.Options{Seed: rapid.Int64().Draw(t, "seed"), Weights: weights})
		for i := range nAgents {
			id := fmt.Sprintf("s%d", i)
			a.AddAgent(id, agentWith(t, id, "cpus:1;mem:64"), nil)
		}
		for _, r := range roles {
			a.AddFramework("f-"+r, active(fwInfo("f-"+r, []string{r})), nil)
		}
		held := map[string]int{}
		now := time.Unix(1000, 0)
		for cycle := 0; cycle < nAgents+1; cycle++ {
			for _, al := range a.Allocate(now) {
				held[al.Role]++
			}
			now = now.Add(time.Second)
		}
		total := 0
		for _, n := range held {
			total += n
		}
		if total != nAgents {
			t.Fatalf("%d of %d agents allocated: %v", total, nAgents, held)
		}
		for _, i := range roles {
			for _, j := range roles {
				if i == j || held[i] == 0 {
					continue
				}
				if float64(held[i]-1)/weights[i] > float64(held[j])/weights[j]+1e-9 {
					t.Fatalf("role %s (weight %v) holds %d agents while %s (weight %v) holds %d: weights %v, held %v",
						i, weights[i], held[i], j, weights[j], held[j], weights, held)
				}
			}
		}
	})
}

// TestPropertyQuotaGuaranteesMet: when the cluster has room for every
// guarantee, one allocation cycle gives each role with a guarantee and an
// active framework at least its guarantee, however many greedy roles
// without quota compete for the same agents.
func TestPropertyQuotaGuaranteesMet(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nAgents := rapid.IntRange(1, 12).Draw(t, "agents")
		cpusPerAgent := rapid.IntRange(1, 8).Draw(t, "cpusPerAgent")
		totalCPUs := nAgents * cpusPerAgent
		a := mustAllocator(t, allocator.Options{Seed: rapid.Int64().Draw(t, "seed")})
		for i := range nAgents {
			id := fmt.Sprintf("s%d", i)
			a.AddAgent(id, agentWith(t, id, fmt.Sprintf("cpus:%d;mem:%d", cpusPerAgent, cpusPerAgent*1024)), nil)
		}
		guarantees := map[string]int{}
		left := totalCPUs
		for i := range rapid.IntRange(1, 4).Draw(t, "quotaRoles") {
			r := fmt.Sprintf("q%d", i)
			g := rapid.IntRange(0, left).Draw(t, "guarantee_"+r)
			left -= g
			guarantees[r] = g
			a.UpdateQuota(r, allocator.Quota{Guarantees: map[string]float64{"cpus": float64(g)}})
			a.AddFramework("f-"+r, active(fwInfo("f-"+r, []string{r})), nil)
		}
		for i := range rapid.IntRange(0, 3).Draw(t, "greedyRoles") {
			r := fmt.Sprintf("g%d", i)
			a.AddFramework("f-"+r, active(fwInfo("f-"+r, []string{r})), nil)
		}
		got := map[string]float64{}
		for _, al := range a.Allocate(time.Unix(1000, 0)) {
			got[al.Role] += al.Resources.Scalar("cpus")
		}
		for r, g := range guarantees {
			if got[r] < float64(g)-1e-9 {
				t.Fatalf("role %s with a guarantee of %d cpus got %v (cluster %d cpus, guarantees %v, allocated %v)",
					r, g, got[r], totalCPUs, guarantees, got)
			}
		}
	})
}
