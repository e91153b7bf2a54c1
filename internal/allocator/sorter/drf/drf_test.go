package drf_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/meso-project/meso/internal/allocator/sorter"
	"github.com/meso-project/meso/internal/allocator/sorter/drf"
)

func TestSortByDominantShare(t *testing.T) {
	s := drf.New()
	s.AddTotal(sorter.Quantities{"cpus": 10, "mem": 100})
	for _, c := range []string{"a", "b", "c"} {
		s.Add(c)
	}
	s.Allocated("a", sorter.Quantities{"cpus": 1, "mem": 50}) // 0.5 (mem)
	s.Allocated("b", sorter.Quantities{"cpus": 3, "mem": 10}) // 0.3 (cpus)
	if diff := cmp.Diff([]string{"c", "b", "a"}, s.Sort()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Weight 2 halves a's share to 0.25.
	s.UpdateWeight("a", 2)
	if diff := cmp.Diff([]string{"c", "a", "b"}, s.Sort()); diff != "" {
		t.Errorf("weighted (-want +got):\n%s", diff)
	}
	s.Deactivate("c")
	if diff := cmp.Diff([]string{"a", "b"}, s.Sort()); diff != "" {
		t.Errorf("inactive (-want +got):\n%s", diff)
	}
	if s.IsActive("c") || !s.IsActive("a") {
		t.Error("IsActive")
	}
	s.Unallocated("b", sorter.Quantities{"cpus": 3, "mem": 10})
	if diff := cmp.Diff([]string{"b", "a"}, s.Sort()); diff != "" {
		t.Errorf("after unallocated (-want +got):\n%s", diff)
	}
	if got := s.Allocation("b"); len(got) != 0 {
		t.Errorf("allocation of b = %v, want empty", got)
	}
	s.Remove("b")
	if s.Contains("b") || s.Count() != 2 {
		t.Error("Remove")
	}
}

func TestTiesByAllocationCountThenName(t *testing.T) {
	s := drf.New()
	s.AddTotal(sorter.Quantities{"cpus": 10})
	s.Add("b")
	s.Add("a")
	if diff := cmp.Diff([]string{"a", "b"}, s.Sort()); diff != "" {
		t.Errorf("by name (-want +got):\n%s", diff)
	}
	// a was picked once (then gave it back): b has fewer allocations.
	s.Allocated("a", sorter.Quantities{"cpus": 1})
	s.Unallocated("a", sorter.Quantities{"cpus": 1})
	if diff := cmp.Diff([]string{"b", "a"}, s.Sort()); diff != "" {
		t.Errorf("by count (-want +got):\n%s", diff)
	}
}

func TestTotalChangesShares(t *testing.T) {
	s := drf.New("gpus")
	s.AddTotal(sorter.Quantities{"cpus": 4, "gpus": 1})
	s.Add("x")
	s.Add("y")
	s.Allocated("x", sorter.Quantities{"gpus": 1}) // excluded: share 0
	s.Allocated("y", sorter.Quantities{"cpus": 1}) // 0.25
	if diff := cmp.Diff([]string{"x", "y"}, s.Sort()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := s.Share("y"); got != 0.25 {
		t.Errorf("share y = %v", got)
	}
	s.RemoveTotal(sorter.Quantities{"cpus": 2})
	if got := s.Share("y"); got != 0.5 {
		t.Errorf("share y after shrink = %v", got)
	}
}

func TestWeightsBeforeAddAndInvalid(t *testing.T) {
	s := drf.New()
	s.AddTotal(sorter.Quantities{"cpus": 10})
	s.UpdateWeight("a", 4)
	s.UpdateWeight("a", -1) // ignored
	s.Add("a")
	s.Allocated("a", sorter.Quantities{"cpus": 4})
	if got := s.Share("a"); got != 0.1 {
		t.Errorf("share = %v, want 0.1", got)
	}
}
