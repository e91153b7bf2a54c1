package sorter_test

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/meso-project/meso/internal/allocator/quantity"
	"github.com/meso-project/meso/internal/allocator/sorter"
	"github.com/meso-project/meso/internal/allocator/sorter/drf"
	"github.com/meso-project/meso/internal/allocator/sorter/random"
)

func vec(cpus, mem float64) *quantity.Vec {
	var v quantity.Vec
	v[quantity.CPUs] = quantity.FromFloat(cpus)
	v[quantity.Mem] = quantity.FromFloat(mem)
	return &v
}

func pool(cpus, mem float64) *sorter.Pool {
	return &sorter.Pool{Total: *vec(cpus, mem), Gen: 1}
}

func TestDRFSortByDominantShareAndWeight(t *testing.T) {
	s := drf.New(pool(10, 100), quantity.Vec{})
	for i, c := range []string{"a", "b", "c"} {
		s.Add(i, c)
	}
	s.Allocated(0, vec(1, 50)) // 0.5 (mem)
	s.Allocated(1, vec(3, 10)) // 0.3 (cpus)
	if diff := cmp.Diff([]int{2, 1, 0}, s.AppendSorted(nil)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	s.UpdateWeight("a", 2) // a: 0.25
	if diff := cmp.Diff([]int{2, 0, 1}, s.AppendSorted(nil)); diff != "" {
		t.Errorf("weighted (-want +got):\n%s", diff)
	}
	s.Deactivate(2)
	if diff := cmp.Diff([]int{0, 1}, s.AppendSorted(nil)); diff != "" {
		t.Errorf("inactive (-want +got):\n%s", diff)
	}
	s.Unallocated(1, vec(3, 10))
	if diff := cmp.Diff([]int{1, 0}, s.AppendSorted(nil)); diff != "" {
		t.Errorf("after unallocated (-want +got):\n%s", diff)
	}
	// Incremental moves agree with a full re-sort.
	for i := range 50 {
		s.Allocated(i%2, vec(0.1, float64(i%7)))
		inc := s.AppendSorted(nil)
		s.UpdateWeight("zzz", 1) // forces a full re-sort
		if full := s.AppendSorted(nil); !cmp.Equal(inc, full) {
			t.Fatalf("step %d: incremental %v, full %v", i, inc, full)
		}
	}
}

// Hierarchical roles: eng/web and eng/db compete inside eng, and eng as a
// whole (its subtree's allocation) competes with ops.
func TestDRFHierarchy(t *testing.T) {
	s := drf.New(pool(100, 1000), quantity.Vec{})
	s.Add(0, "eng/web")
	s.Add(1, "eng/db")
	s.Add(2, "ops")
	s.Add(3, "eng") // both a client and a parent: a virtual leaf
	s.Allocated(0, vec(30, 0))
	s.Allocated(2, vec(20, 0))
	// eng (0.3) > ops (0.2): ops first; inside eng: eng's own leaf and
	// eng/db (both 0, ties by path) before eng/web (0.3).
	if diff := cmp.Diff([]int{2, 3, 1, 0}, s.AppendSorted(nil)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	s.UpdateWeight("eng", 4) // eng's subtree share 0.3/4 < 0.2
	if got := s.AppendSorted(nil); got[len(got)-1] != 2 {
		t.Errorf("weighted eng should go first, got %v", got)
	}
	s.Remove(3)
	s.Remove(0)
	if diff := cmp.Diff([]int{1, 2}, s.AppendSorted(nil)); diff != "" {
		t.Errorf("after removals (-want +got):\n%s", diff)
	}
	if got := s.PathShare("eng"); got != 0 {
		t.Errorf("eng share after removing its allocation: %v", got)
	}
}

func TestRandomWeighted(t *testing.T) {
	s := random.New(pool(1, 1), rand.New(rand.NewPCG(1, 2)))
	s.Add(0, "heavy")
	s.Add(1, "light")
	s.UpdateWeight("heavy", 3)
	first := 0
	const n = 4000
	for range n {
		if s.AppendSorted(nil)[0] == 0 {
			first++
		}
	}
	// P(heavy first) = 3/4 for weights 3:1.
	if p := float64(first) / n; p < 0.70 || p > 0.80 {
		t.Errorf("heavy first %.2f of the time, want ~0.75", p)
	}
}
