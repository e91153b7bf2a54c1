package hierarchical

import (
	"testing"
	"time"
)

// Declining through the API until nothing is offered reaches the state
// declineEverything builds directly: no offers, and a cycle that allocates
// nothing on the heap.
func TestDeclineEverythingMatchesDeclining(t *testing.T) {
	real := declineCluster(t, 40, 8)
	now := benchT0
	for round := 0; ; round++ {
		now = now.Add(time.Second)
		als := real.Allocate(now)
		if len(als) == 0 {
			break
		}
		if round > 100 {
			t.Fatal("still offering after 100 rounds")
		}
		for _, al := range als {
			real.RecoverResources(al.FrameworkID, al.AgentID, al.Resources, refuseForever(), now)
		}
	}
	direct := declineCluster(t, 40, 8)
	declineEverything(direct, benchT0)
	for _, a := range []*Allocator{real, direct} {
		if got := len(a.candidateAgents()); got != 0 {
			t.Errorf("%d candidate agents after everything was declined", got)
		}
		now = now.Add(time.Second)
		allocs := testing.AllocsPerRun(10, func() {
			now = now.Add(time.Second)
			if als := a.Allocate(now); len(als) != 0 {
				t.Fatalf("%d offers", len(als))
			}
		})
		if allocs != 0 {
			t.Errorf("steady-state cycle allocated %v times", allocs)
		}
	}
	// Recovering a used task on one agent (growth) breaks the filters there
	// only: exactly that agent is offered, to the first framework in order.
	used := real.agents[3].heldResources(real.frameworks[3])
	real.RecoverResources(real.frameworks[3].id, real.agents[3].id, used, nil, now)
	als := real.Allocate(now.Add(time.Second))
	if len(als) != 1 || als[0].AgentID != real.agents[3].id {
		t.Fatalf("after growth got %v", als)
	}
}
