package hierarchical_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/hierarchical"
	"github.com/meso-project/meso/pkg/resources"
	"google.golang.org/protobuf/proto"
)

func TestNewDefaultsAndErrors(t *testing.T) {
	var f allocator.Factory = hierarchical.New // matches the factory type
	if _, err := f(allocator.Options{}); err != nil {
		t.Fatalf("zero options: %v", err)
	}
	for _, o := range []allocator.Options{
		{RoleSorter: "fair"},
		{FrameworkSorter: "x"},
		{AllocationInterval: -time.Second},
		{Weights: map[string]float64{"a": 0}},
		{Weights: map[string]float64{"a": math.NaN()}},
	} {
		if _, err := f(o); !errors.Is(err, hierarchical.ErrInvalidOptions) {
			t.Errorf("New(%+v) = %v, want ErrInvalidOptions", o, err)
		}
	}
	if got := hierarchical.DefaultMinAllocatable(); !cmp.Equal(got, []map[string]float64{{"cpus": 0.01}, {"mem": 32}}) {
		t.Errorf("DefaultMinAllocatable = %v", got)
	}
}

func TestWholeAgentOfferedOnceWithAllocationInfo(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024;disk:100;ports:[31000-32000]"), nil)
	a.AddFramework("f1", active(fwInfo("f1", []string{"*"})), nil)

	als := a.Allocate(t0)
	if len(als) != 1 {
		t.Fatalf("got %d allocations, want 1:\n%s", len(als), str(als))
	}
	al := als[0]
	if al.FrameworkID != "f1" || al.AgentID != "s1" || al.Role != "*" {
		t.Errorf("allocation %s", key(al))
	}
	want := res(t, "cpus:4;mem:1024;disk:100;ports:[31000-32000]").Allocate("*")
	if !al.Resources.Equal(want) {
		t.Errorf("resources %s, want %s", al.Resources, want)
	}
	checkAllocationInfo(t, als)
	if again := a.Allocate(t0.Add(time.Second)); len(again) != 0 {
		t.Errorf("offered twice:\n%s", str(again))
	}
	// Recovered without a filter: offered again.
	recoverAll(a, als, nil, t0)
	if again := a.Allocate(t0.Add(time.Second)); len(again) != 1 {
		t.Errorf("after recover got %d allocations", len(again))
	}
}

// Two roles, one framework each, ten identical agents: DRF alternates within
// one cycle, and as tasks finish and new ones start the shares stay within
// one agent of each other.
func TestDRFConvergesToEqualShares(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	const n = 10
	for i := range n {
		id := fmt.Sprintf("s%d", i)
		var used map[string]resources.Resources
		if i < 8 { // framework A already runs on eight agents
			used = map[string]resources.Resources{"A": res(t, "cpus:1;mem:512").Allocate("a")}
		}
		a.AddAgent(id, agentWith(t, id, "cpus:1;mem:512"), used)
	}
	a.AddFramework("A", active(fwInfo("A", []string{"a"})), nil)
	a.AddFramework("B", active(fwInfo("B", []string{"b"})), nil)

	held := map[string][]allocator.Allocation{}
	for i := range 8 {
		held["A"] = append(held["A"], allocator.Allocation{FrameworkID: "A", AgentID: fmt.Sprintf("s%d", i), Role: "a",
			Resources: res(t, "cpus:1;mem:512").Allocate("a")})
	}
	now := t0
	for cycle := range 30 {
		now = now.Add(time.Second)
		als := a.Allocate(now)
		checkAllocationInfo(t, als)
		for _, al := range als {
			held[al.FrameworkID] = append(held[al.FrameworkID], al)
		}
		if cycle >= 4 { // B catches up by two agents a cycle
			sa, sb := a.DominantShare("a"), a.DominantShare("b")
			if math.Abs(sa-sb) > 1.0/n+1e-9 {
				t.Fatalf("cycle %d: shares a=%.2f b=%.2f", cycle, sa, sb)
			}
		}
		// Every framework finishes its oldest task.
		for _, fw := range []string{"A", "B"} {
			if len(held[fw]) > 0 {
				al := held[fw][0]
				held[fw] = held[fw][1:]
				a.RecoverResources(fw, al.AgentID, al.Resources, nil, now)
			}
		}
	}
	if len(held["A"]) < 3 || len(held["B"]) < 3 {
		t.Errorf("held A=%d B=%d", len(held["A"]), len(held["B"]))
	}
}

func TestWeightsRespected(t *testing.T) {
	a := newAllocator(t, allocator.Options{Weights: map[string]float64{"a": 2}})
	for i := range 30 {
		id := fmt.Sprintf("s%02d", i)
		a.AddAgent(id, agentWith(t, id, "cpus:1;mem:100"), nil)
	}
	a.AddFramework("A", active(fwInfo("A", []string{"a"})), nil)
	a.AddFramework("B", active(fwInfo("B", []string{"b"})), nil)
	got := countBy(a.Allocate(t0), func(al allocator.Allocation) string { return al.Role })
	if diff := cmp.Diff(map[string]int{"a": 20, "b": 10}, got); diff != "" {
		t.Errorf("allocations per role (-want +got):\n%s", diff)
	}
	// Weights set later apply to later cycles.
	b := newAllocator(t, allocator.Options{})
	b.UpdateWeights(map[string]float64{"b": 3})
	for i := range 40 {
		id := fmt.Sprintf("s%02d", i)
		b.AddAgent(id, agentWith(t, id, "cpus:1;mem:100"), nil)
	}
	b.AddFramework("A", active(fwInfo("A", []string{"a"})), nil)
	b.AddFramework("B", active(fwInfo("B", []string{"b"})), nil)
	got = countBy(b.Allocate(t0), func(al allocator.Allocation) string { return al.Role })
	if diff := cmp.Diff(map[string]int{"a": 10, "b": 30}, got); diff != "" {
		t.Errorf("after UpdateWeights (-want +got):\n%s", diff)
	}
}

func TestFrameworksOfOneRoleShare(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	for i := range 9 {
		id := fmt.Sprintf("s%d", i)
		a.AddAgent(id, agentWith(t, id, "cpus:2;mem:1024"), nil)
	}
	for _, id := range []string{"f1", "f2", "f3"} {
		a.AddFramework(id, active(fwInfo(id, []string{"web"})), nil)
	}
	got := countBy(a.Allocate(t0), func(al allocator.Allocation) string { return al.FrameworkID })
	if diff := cmp.Diff(map[string]int{"f1": 3, "f2": 3, "f3": 3}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRefuseSeconds(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		name    string
		filters *mesospb.Filters
		// withheld at now+notAt, offered at now+offeredAt.
		notAt, offeredAt time.Duration
	}{
		{"nil filters: no filter", nil, -1, time.Millisecond},
		{"zero: no filter", refuse(0), -1, time.Millisecond},
		{"10s", refuse(10), 9999 * time.Millisecond, 10 * time.Second},
		{"default 5s", &mesospb.Filters{}, 4 * time.Second, 5 * time.Second},
		{"below interval lasts an interval", refuse(0.2), 999 * time.Millisecond, time.Second},
		{"negative: 5s", refuse(-3), 4 * time.Second, 5 * time.Second},
		{"NaN: 5s", refuse(math.NaN()), 4 * time.Second, 5 * time.Second},
		{"capped at 365 days", refuse(1e12), 364 * day, 365 * day},
		{"infinite capped", refuse(math.Inf(1)), 364 * day, 365 * day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAllocator(t, allocator.Options{})
			a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
			a.AddFramework("f1", active(fwInfo("f1", []string{"*"})), nil)
			als := a.Allocate(t0)
			if len(als) != 1 {
				t.Fatalf("first cycle: %d allocations", len(als))
			}
			recoverAll(a, als, tc.filters, t0)
			if tc.notAt >= 0 {
				if got := a.Allocate(t0.Add(tc.notAt)); len(got) != 0 {
					t.Fatalf("re-offered at +%v:\n%s", tc.notAt, str(got))
				}
			}
			if got := a.Allocate(t0.Add(tc.offeredAt)); len(got) != 1 {
				t.Fatalf("not re-offered at +%v", tc.offeredAt)
			}
		})
	}
}

func TestFilterIsPerAgentAndRoleAndBrokenByMoreResources(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"),
		map[string]resources.Resources{"B": res(t, "cpus:2;mem:512").Allocate("*")})
	a.AddAgent("s2", agentWith(t, "s2", "cpus:4;mem:1024"), nil)
	a.AddFramework("A", active(fwInfo("A", []string{"*"})), nil)
	a.AddFramework("B", allocator.Framework{Info: fwInfo("B", []string{"*"})}, // inactive
		map[string]resources.Resources{"s1": res(t, "cpus:2;mem:512").Allocate("*")})

	als := a.Allocate(t0)
	if diff := cmp.Diff([]string{"A@s1/*", "A@s2/*"}, keys(als)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	for _, al := range als {
		if al.AgentID == "s1" && !al.Resources.Equal(res(t, "cpus:2;mem:512").Allocate("*")) {
			t.Fatalf("s1 offered %s beyond what is free", al.Resources)
		}
	}
	// A declines s1 for a minute, s2 without filter.
	for _, al := range als {
		f := refuse(60)
		if al.AgentID == "s2" {
			f = nil
		}
		a.RecoverResources("A", al.AgentID, al.Resources, f, t0)
	}
	if diff := cmp.Diff([]string{"A@s2/*"}, keys(a.Allocate(t0.Add(time.Second)))); diff != "" {
		t.Fatalf("s1 should stay filtered (-want +got):\n%s", diff)
	}
	// B's task ends on s1: more is free than A declined, so the filter no
	// longer covers the candidate.
	a.RecoverResources("B", "s1", res(t, "cpus:2;mem:512").Allocate("*"), nil, t0.Add(2*time.Second))
	got := a.Allocate(t0.Add(3 * time.Second))
	if diff := cmp.Diff([]string{"A@s1/*"}, keys(got)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if !got[0].Resources.Equal(res(t, "cpus:4;mem:1024").Allocate("*")) {
		t.Errorf("offered %s", got[0].Resources)
	}
}

func TestSuppressAndRevive(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
	a.AddFramework("f", active(fwInfo("f", []string{"x", "y"})), nil)
	a.SuppressOffers("f", []string{"x"})
	als := a.Allocate(t0)
	if diff := cmp.Diff([]string{"f@s1/y"}, keys(als)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	recoverAll(a, als, refuse(3600), t0) // y declines for an hour
	a.SuppressOffers("f", nil)           // all roles
	if got := a.Allocate(t0.Add(time.Second)); len(got) != 0 {
		t.Fatalf("suppressed framework offered:\n%s", str(got))
	}
	a.ReviveOffers("f", []string{"y"}, t0.Add(2*time.Second)) // clears y's filter
	if diff := cmp.Diff([]string{"f@s1/y"}, keys(a.Allocate(t0.Add(2*time.Second)))); diff != "" {
		t.Fatalf("after revive (-want +got):\n%s", diff)
	}

	// Suppressed roles passed at subscription, then un-suppressed by
	// UpdateFramework, which also clears filters.
	b := newAllocator(t, allocator.Options{})
	b.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
	fi := fwInfo("g", []string{"*"})
	b.AddFramework("g", allocator.Framework{Info: fi, Active: true, SuppressedRoles: []string{"*"}}, nil)
	if got := b.Allocate(t0); len(got) != 0 {
		t.Fatalf("suppressed at subscription, offered:\n%s", str(got))
	}
	b.UpdateFramework("g", active(fi))
	als = b.Allocate(t0)
	if len(als) != 1 {
		t.Fatalf("after unsuppress: %d allocations", len(als))
	}
	recoverAll(b, als, refuse(3600), t0)
	b.UpdateFramework("g", allocator.Framework{Info: fi, Active: true, SuppressedRoles: []string{"*"}})
	b.UpdateFramework("g", active(fi))
	if got := b.Allocate(t0.Add(time.Second)); len(got) != 1 {
		t.Fatalf("unsuppress via UpdateFramework should clear filters; got %d", len(got))
	}
}

func TestReviveClearsFilters(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
	a.AddFramework("f", active(fwInfo("f", []string{"*"})), nil)
	recoverAll(a, a.Allocate(t0), refuse(3600), t0)
	if got := a.Allocate(t0.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("filtered agent offered")
	}
	a.ReviveOffers("f", nil, t0.Add(time.Minute))
	if got := a.Allocate(t0.Add(time.Minute)); len(got) != 1 {
		t.Fatalf("revive did not clear the filter")
	}
}

func TestReservedOnlyToTheirRole(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		a := newAllocator(t, allocator.Options{Seed: seed})
		a.AddAgent("s1", agentWith(t, "s1", "cpus(a):2;mem(a):512;cpus:2;mem:512"), nil)
		a.AddAgent("s2", agentWith(t, "s2", "cpus(a):1;mem(a):256"), nil)
		a.AddFramework("A", active(fwInfo("A", []string{"a/sub"})), nil) // a descendant of a
		a.AddFramework("B", active(fwInfo("B", []string{"b"})), nil)
		a.AddFramework("C", active(fwInfo("C", []string{"c"})), nil)
		als := a.Allocate(t0)
		checkAllocationInfo(t, als)
		var toA resources.Resources
		for _, al := range als {
			if al.Role != "a/sub" && !al.Resources.Reserved().Empty() {
				t.Fatalf("seed %d: reserved resources to %s: %s", seed, key(al), al.Resources)
			}
			if al.Role == "a/sub" {
				toA = toA.Add(al.Resources)
			}
		}
		if !toA.Unallocate().Contains(res(t, "cpus(a):3;mem(a):768")) {
			t.Fatalf("seed %d: role a/sub got %s, want all a's reservations", seed, toA)
		}
	}
}

func TestGPUAgentWithheld(t *testing.T) {
	for _, tc := range []struct {
		name      string
		filterGPU bool
		caps      []mesospb.FrameworkInfo_Capability_Type
		want      int
	}{
		{"no capability", true, nil, 0},
		{"GPU_RESOURCES", true, []mesospb.FrameworkInfo_Capability_Type{mesospb.FrameworkInfo_Capability_GPU_RESOURCES}, 1},
		{"filter off", false, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := hierarchical.NewAllocator(allocator.Options{DisableGPUFilter: !tc.filterGPU, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			a.AddAgent("gpu", agentWith(t, "gpu", "cpus:4;mem:1024;gpus:2"), nil)
			a.AddFramework("f", active(fwInfo("f", []string{"*"}, tc.caps...)), nil)
			if got := a.Allocate(t0); len(got) != tc.want {
				t.Errorf("got %d allocations, want %d", len(got), tc.want)
			}
		})
	}
}

func TestAgentCapabilityRules(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	legacy := agentWith(t, "old", "cpus:4;mem:1024")
	legacy.Capabilities = nil
	a.AddAgent("old", legacy, nil)
	a.AddFramework("multi", active(fwInfo("multi", []string{"x", "y"})), nil)
	a.AddFramework("deep", active(fwInfo("deep", []string{"eng/web"})), nil)
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatalf("agent without MULTI_ROLE/HIERARCHICAL_ROLE offered:\n%s", str(got))
	}
	a.AddFramework("plain", active(fwInfo("plain", []string{"z"})), nil)
	if diff := cmp.Diff([]string{"plain@old/z"}, keys(a.Allocate(t0))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMinAllocatable(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	// Only 0.005 cpus and 16 MB free: below cpus:0.01|mem:32.
	a.AddAgent("s1", agentWith(t, "s1", "cpus:1.005;mem:1040"),
		map[string]resources.Resources{"X": res(t, "cpus:1;mem:1024").Allocate("*")})
	a.AddFramework("f", active(fwInfo("f", []string{"*"})), nil)
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatalf("offered below the minimum:\n%s", str(got))
	}
	// Per-role override from offer_filters.
	fi := fwInfo("f", []string{"*"})
	fi.OfferFilters = map[string]*mesospb.OfferFilters{"*": {
		MinAllocatableResources: &mesospb.OfferFilters_MinAllocatableResources{
			Quantities: []*mesospb.OfferFilters_ResourceQuantities{
				{Quantities: map[string]*mesospb.Value_Scalar{"mem": {Value: proto.Float64(8)}}},
			},
		},
	}}
	a.UpdateFramework("f", active(fi))
	if got := a.Allocate(t0); len(got) != 1 {
		t.Fatalf("override mem:8 should allow the offer; got %d", len(got))
	}

	// Master option: cpus:2 only.
	b := newAllocator(t, allocator.Options{MinAllocatable: []map[string]float64{{"cpus": 2}}})
	b.AddAgent("s1", agentWith(t, "s1", "cpus:1;mem:4096"), nil)
	b.AddFramework("f", active(fwInfo("f", []string{"*"})), nil)
	if got := b.Allocate(t0); len(got) != 0 {
		t.Fatalf("offered below cpus:2")
	}
}

func TestInactiveAgentsAndFrameworks(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
	a.AddFramework("f", active(fwInfo("f", []string{"*"})), nil)
	a.DeactivateAgent("s1")
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatal("deactivated agent offered")
	}
	a.ActivateAgent("s1")
	a.DeactivateFramework("f")
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatal("deactivated framework offered")
	}
	a.ActivateFramework("f")
	if got := a.Allocate(t0); len(got) != 1 {
		t.Fatal("reactivated framework not offered")
	}
	// Unknown IDs are ignored.
	a.RecoverResources("nope", "s1", res(t, "cpus:1").Allocate("*"), nil, t0)
	a.RecoverResources("f", "nope", res(t, "cpus:1").Allocate("*"), nil, t0)
	a.SuppressOffers("nope", nil)
	a.ReviveOffers("nope", nil, t0)
	a.RemoveAgent("nope")
	a.RemoveFramework("nope")
	a.ActivateFramework("nope")
	a.UpdateAllocation("nope", "s1", nil, nil)
}

func TestRemoveFrameworkAndAgentFreeResources(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
	a.AddFramework("A", active(fwInfo("A", []string{"a"})), nil)
	if got := a.Allocate(t0); len(got) != 1 {
		t.Fatal("no offer to A")
	}
	a.AddFramework("B", active(fwInfo("B", []string{"b"})), nil)
	if got := a.Allocate(t0); len(got) != 0 {
		t.Fatal("held resources offered again")
	}
	a.RemoveFramework("A")
	if diff := cmp.Diff([]string{"B@s1/b"}, keys(a.Allocate(t0))); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b"}, a.Roles()); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	a.RemoveAgent("s1")
	if a.DominantShare("b") != 0 {
		t.Errorf("share after agent removal = %v", a.DominantShare("b"))
	}
	a.AddAgent("s2", agentWith(t, "s2", "cpus:1;mem:128"), nil)
	if diff := cmp.Diff([]string{"B@s2/b"}, keys(a.Allocate(t0))); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// Resources reported in use by a framework the allocator does not know yet
// are not free; when the framework is added they count towards its share
// exactly once.
func TestUsedBeforeFrameworkAdded(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	used := map[string]resources.Resources{"A": res(t, "cpus:3;mem:768").Allocate("a")}
	a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), used)
	a.AddFramework("B", active(fwInfo("B", []string{"b"})), nil)
	als := a.Allocate(t0)
	if len(als) != 1 || !als[0].Resources.Equal(res(t, "cpus:1;mem:256").Allocate("b")) {
		t.Fatalf("got:\n%s", str(als))
	}
	a.AddFramework("A", active(fwInfo("A", []string{"a"})), map[string]resources.Resources{"s1": used["A"]})
	if got, want := a.DominantShare("a"), 0.75; math.Abs(got-want) > 1e-9 {
		t.Errorf("share of a = %v, want %v", got, want)
	}
	a.RecoverResources("A", "s1", used["A"], nil, t0)
	if got := a.DominantShare("a"); got != 0 {
		t.Errorf("share of a after recover = %v", got)
	}
	if got := a.Allocate(t0); len(got) != 1 || !got[0].Resources.Equal(res(t, "cpus:3;mem:768").Allocate("a")) {
		t.Fatalf("after recover got:\n%s", str(got))
	}
}

// A RESERVE on offered resources converts them in place; the agent's total
// follows, so after recovery only role a may use the reservation.
func TestUpdateAllocationReserve(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
	a.AddFramework("A", active(fwInfo("A", []string{"a"})), nil)
	als := a.Allocate(t0)
	if len(als) != 1 {
		t.Fatal("no offer")
	}
	from := res(t, "cpus:2;mem:512").Allocate("a")
	to := reserved(t, "cpus:2;mem:512", "a").Allocate("a")
	a.UpdateAllocation("A", "s1", from, to)
	held := als[0].Resources.Subtract(from).Add(to)
	a.RecoverResources("A", "s1", held, nil, t0)
	a.DeactivateFramework("A")
	a.AddFramework("B", active(fwInfo("B", []string{"b"})), nil)
	got := a.Allocate(t0)
	if len(got) != 1 || !got[0].Resources.Equal(res(t, "cpus:2;mem:512").Allocate("b")) {
		t.Fatalf("B got:\n%s", str(got))
	}
	a.ActivateFramework("A")
	got = a.Allocate(t0)
	if len(got) != 1 || !got[0].Resources.Unallocate().Equal(reserved(t, "cpus:2;mem:512", "a")) {
		t.Fatalf("A got:\n%s", str(got))
	}
}

func reserved(t testing.TB, text, role string) resources.Resources {
	t.Helper()
	r := res(t, text)
	out := make(resources.Resources, 0, len(r))
	for _, x := range r {
		x = proto.Clone(x).(*mesospb.Resource)
		x.Reservations = []*mesospb.Resource_ReservationInfo{{
			Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role),
		}}
		out = append(out, x)
	}
	return out
}

func TestRevocableAndRefinedStripped(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	total := res(t, "cpus:2;mem:512")
	rev := res(t, "cpus:8")
	rev[0].Revocable = &mesospb.Resource_RevocableInfo{}
	a.AddAgent("s1", allocator.Agent{Total: total.Add(rev), Capabilities: allAgentCaps}, nil)
	a.AddFramework("plain", active(fwInfo("plain", []string{"*"})), nil)
	got := a.Allocate(t0)
	if len(got) != 1 || !got[0].Resources.Revocable().Empty() {
		t.Fatalf("revocable offered to a framework without REVOCABLE_RESOURCES:\n%s", str(got))
	}
	a.AddFramework("rev", active(fwInfo("rev", []string{"*"}, mesospb.FrameworkInfo_Capability_REVOCABLE_RESOURCES)), nil)
	got = a.Allocate(t0)
	if diff := cmp.Diff([]string{"rev@s1/*"}, keys(got)); diff != "" || !got[0].Resources.Unallocate().Equal(rev) {
		t.Fatalf("revocable framework got:\n%s", str(got))
	}
}

func TestSameSeedSameAllocations(t *testing.T) {
	for _, sorter := range []string{"drf", "random"} {
		run := func() []string {
			a := newAllocator(t, allocator.Options{Seed: 7, RoleSorter: sorter, FrameworkSorter: sorter})
			for i := range 20 {
				id := fmt.Sprintf("s%d", i)
				a.AddAgent(id, agentWith(t, id, "cpus:1;mem:256"), nil)
			}
			for i := range 6 {
				id := fmt.Sprintf("f%d", i)
				a.AddFramework(id, active(fwInfo(id, []string{fmt.Sprintf("r%d", i%3)})), nil)
			}
			var out []string
			for _, al := range a.Allocate(t0) {
				out = append(out, key(al))
			}
			return out
		}
		first := run()
		if len(first) != 20 {
			t.Fatalf("%s: %d allocations", sorter, len(first))
		}
		if diff := cmp.Diff(first, run()); diff != "" {
			t.Errorf("%s: not repeatable (-first +second):\n%s", sorter, diff)
		}
		roles := map[string]bool{}
		for _, k := range first {
			roles[k[len(k)-2:]] = true
		}
		if len(roles) != 3 || !slices.Equal(slices.Sorted(func(yield func(string) bool) {
			for r := range roles {
				if !yield(r) {
					return
				}
			}
		}), []string{"r0", "r1", "r2"}) {
			t.Errorf("%s: roles served %v", sorter, roles)
		}
	}
}
