package hierarchical_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/meso-project/meso/internal/allocator"
)

// BenchmarkAllocate measures one full cycle over 1000 free agents for 100
// frameworks in 10 roles; everything is given back between cycles (outside
// the timer), so every cycle offers every agent.
func BenchmarkAllocate(b *testing.B) {
	a := newAllocator(b, allocator.Options{})
	for i := range 1000 {
		id := fmt.Sprintf("s%04d", i)
		a.AddAgent(id, agentWith(b, id, "cpus:16;mem:65536;disk:100000;ports:[31000-32000]"), nil)
	}
	for i := range 100 {
		id := fmt.Sprintf("f%03d", i)
		a.AddFramework(id, active(fwInfo(id, []string{fmt.Sprintf("role%d", i%10)})), nil)
	}
	now := t0
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(time.Second)
		als := a.Allocate(now)
		b.StopTimer()
		if len(als) != 1000 {
			b.Fatalf("%d allocations", len(als))
		}
		recoverAll(a, als, nil, now)
		b.StartTimer()
	}
}
