package random_test

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/meso-project/meso/internal/allocator/sorter/random"
)

func TestWeightedOrder(t *testing.T) {
	s := random.New(rand.New(rand.NewPCG(1, 2)))
	s.Add("heavy")
	s.Add("light")
	s.Add("off")
	s.Deactivate("off")
	s.UpdateWeight("heavy", 3)
	first := 0
	const n = 4000
	for range n {
		order := s.Sort()
		if len(order) != 2 {
			t.Fatalf("order %v", order)
		}
		if order[0] == "heavy" {
			first++
		}
	}
	// P(heavy first) = 3/(3+1).
	if p := float64(first) / n; p < 0.72 || p > 0.78 {
		t.Errorf("heavy first %.3f of the time, want ~0.75", p)
	}
}

func TestRepeatable(t *testing.T) {
	run := func() [][]string {
		s := random.New(rand.New(rand.NewPCG(9, 9)))
		for _, c := range []string{"a", "b", "c", "d"} {
			s.Add(c)
		}
		var out [][]string
		for range 5 {
			out = append(out, s.Sort())
		}
		return out
	}
	if diff := cmp.Diff(run(), run()); diff != "" {
		t.Errorf("(-first +second):\n%s", diff)
	}
}
