package resources

import (
	"math"
	"slices"

	"github.com/meso-project/meso/api/v1/mesospb"
	"google.golang.org/protobuf/proto"
)

// Mesos keeps scalar resource values as fixed point with 3 decimal digits
// (Value::Scalar arithmetic goes through llround(value * 1000)).
const fixedScale = 1000

// fixedLimit is where float64 stops having sub-unit precision; beyond it
// rounding is meaningless (and x*1000 may overflow).
const fixedLimit = 1e15

// Round returns v rounded to Mesos's 3-decimal scalar precision.
func Round(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) >= fixedLimit {
		return v
	}
	return math.Round(v*fixedScale) / fixedScale
}

// AddScalar returns a + b in Mesos's fixed-point scalar arithmetic, as
// Add sums scalar resources.
func AddScalar(a, b float64) float64 { return addScalar(a, b) }

func addScalar(a, b float64) float64 {
	if math.Abs(a) >= fixedLimit || math.Abs(b) >= fixedLimit {
		return a + b
	}
	return (math.Round(a*fixedScale) + math.Round(b*fixedScale)) / fixedScale
}

func subScalar(a, b float64) float64 { return addScalar(a, -b) }

// interval is an inclusive range of uint64 values.
type interval struct{ lo, hi uint64 }

// intervals returns the ranges sorted and coalesced; inverted ranges
// (begin > end), which Validate rejects, are ignored.
func intervals(rs *mesospb.Value_Ranges) []interval {
	var out []interval
	for _, r := range rs.GetRange() {
		if r.GetBegin() <= r.GetEnd() {
			out = append(out, interval{r.GetBegin(), r.GetEnd()})
		}
	}
	return coalesce(out)
}

func coalesce(in []interval) []interval {
	if len(in) == 0 {
		return nil
	}
	in = slices.Clone(in)
	slices.SortFunc(in, func(a, b interval) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := []interval{in[0]}
	for _, iv := range in[1:] {
		last := &out[len(out)-1]
		if last.hi == math.MaxUint64 || iv.lo <= last.hi+1 {
			last.hi = max(last.hi, iv.hi)
			continue
		}
		out = append(out, iv)
	}
	return out
}

func unionIntervals(a, b []interval) []interval {
	return coalesce(append(slices.Clone(a), b...))
}

// subtractIntervals returns a \ b; both must be coalesced.
func subtractIntervals(a, b []interval) []interval {
	var out []interval
	for _, iv := range a {
		cur := []interval{iv}
		for _, s := range b {
			var next []interval
			for _, c := range cur {
				if s.hi < c.lo || s.lo > c.hi {
					next = append(next, c)
					continue
				}
				if s.lo > c.lo {
					next = append(next, interval{c.lo, s.lo - 1})
				}
				if s.hi < c.hi {
					next = append(next, interval{s.hi + 1, c.hi})
				}
			}
			cur = next
		}
		out = append(out, cur...)
	}
	return out
}

// containsIntervals reports whether b ⊆ a; both must be coalesced.
func containsIntervals(a, b []interval) bool {
	for _, s := range b {
		found := false
		for _, iv := range a {
			if iv.lo <= s.lo && s.hi <= iv.hi {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func countIntervals(ivs []interval) float64 {
	var n float64
	for _, iv := range ivs {
		n += float64(iv.hi-iv.lo) + 1
	}
	return n
}

func toRanges(ivs []interval) *mesospb.Value_Ranges {
	out := &mesospb.Value_Ranges{}
	for _, iv := range ivs {
		out.Range = append(out.Range, &mesospb.Value_Range{Begin: proto.Uint64(iv.lo), End: proto.Uint64(iv.hi)})
	}
	return out
}

// uniqueItems returns items without duplicates, keeping first occurrences.
func uniqueItems(items ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, list := range items {
		for _, it := range list {
			if !seen[it] {
				seen[it] = true
				out = append(out, it)
			}
		}
	}
	return out
}

func subtractItems(a, b []string) []string {
	drop := map[string]bool{}
	for _, it := range b {
		drop[it] = true
	}
	var out []string
	for _, it := range a {
		if !drop[it] {
			out = append(out, it)
		}
	}
	return out
}

func containsItems(a, b []string) bool {
	have := map[string]bool{}
	for _, it := range a {
		have[it] = true
	}
	for _, it := range b {
		if !have[it] {
			return false
		}
	}
	return true
}
