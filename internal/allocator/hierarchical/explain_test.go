package hierarchical_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/hierarchical"
	"github.com/meso-project/meso/pkg/explain"
	"github.com/meso-project/meso/pkg/resources"
	"google.golang.org/protobuf/proto"
)

// agentReasons explains fw and returns the reason codes of one agent.
func agentReasons(t *testing.T, a *hierarchical.Allocator, fw, agentID string, now time.Time) []allocator.AgentReason {
	t.Helper()
	ex, ok := a.Explain(fw, now)
	if !ok {
		t.Fatalf("Explain(%s): unknown framework", fw)
	}
	for _, ag := range ex.Agents {
		if ag.AgentID == agentID {
			return ag.Reasons
		}
	}
	t.Fatalf("Explain(%s): no agent %s in %+v", fw, agentID, ex.Agents)
	return nil
}

func codes(rs []allocator.AgentReason) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Code)
	}
	return out
}

// wantReason asserts the agent's reasons for fw are exactly codes.
func wantReason(t *testing.T, a *hierarchical.Allocator, fw, agentID string, now time.Time, want ...string) []allocator.AgentReason {
	t.Helper()
	rs := agentReasons(t, a, fw, agentID, now)
	if want == nil {
		want = []string{}
	}
	if diff := cmp.Diff(want, codes(rs)); diff != "" {
		t.Fatalf("reasons of %s on %s (-want +got):\n%s\n%+v", fw, agentID, diff, rs)
	}
	return rs
}

// wantOffers asserts what Allocate offers, as fw@agent/role keys.
func wantOffers(t *testing.T, a *hierarchical.Allocator, now time.Time, want ...string) []allocator.Allocation {
	t.Helper()
	als := a.Allocate(now)
	if want == nil {
		want = []string{}
	}
	if diff := cmp.Diff(want, keys(als)); diff != "" {
		t.Fatalf("offers (-want +got):\n%s", diff)
	}
	return als
}

// Each reason appears when its cause is there, Allocate then offers
// nothing on the agent, and once the cause is gone the reason disappears
// and Allocate offers.
func TestExplainReasons(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, a *hierarchical.Allocator) // leaves framework F blocked on agent s1
		code  string
		fix   func(t *testing.T, a *hierarchical.Allocator)
		want  string // the offer after the fix
	}{{
		name: "suppressed",
		setup: func(t *testing.T, a *hierarchical.Allocator) {
			a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
			a.AddFramework("F", allocator.Framework{Info: fwInfo("f", []string{"web"}), Active: true, SuppressedRoles: []string{"web"}}, nil)
		},
		code: explain.RoleSuppressed,
		fix:  func(t *testing.T, a *hierarchical.Allocator) { a.ReviveOffers("F", nil, t0) },
		want: "F@s1/web",
	}, {
		name: "inactive framework",
		setup: func(t *testing.T, a *hierarchical.Allocator) {
			a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
			a.AddFramework("F", allocator.Framework{Info: fwInfo("f", []string{"*"})}, nil)
		},
		code: explain.FrameworkInactive,
		fix:  func(t *testing.T, a *hierarchical.Allocator) { a.ActivateFramework("F") },
		want: "F@s1/*",
	}, {
		name: "agent deactivated",
		setup: func(t *testing.T, a *hierarchical.Allocator) {
			a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
			a.DeactivateAgent("s1")
			a.AddFramework("F", active(fwInfo("f", []string{"*"})), nil)
		},
		code: explain.AgentDeactivated,
		fix:  func(t *testing.T, a *hierarchical.Allocator) { a.ActivateAgent("s1") },
		want: "F@s1/*",
	}, {
		name: "gpu withheld",
		setup: func(t *testing.T, a *hierarchical.Allocator) {
			a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024;gpus:1"), nil)
			a.AddFramework("F", active(fwInfo("f", []string{"*"})), nil)
		},
		code: explain.GPUWithheld,
		fix: func(t *testing.T, a *hierarchical.Allocator) {
			a.UpdateFramework("F", active(fwInfo("f", []string{"*"}, mesospb.FrameworkInfo_Capability_GPU_RESOURCES)))
		},
		want: "F@s1/*",
	}, {
		name: "below min allocatable",
		setup: func(t *testing.T, a *hierarchical.Allocator) {
			a.AddAgent("s1", agentWith(t, "s1", "cpus:0.005;mem:16"), nil)
			a.AddFramework("F", active(fwInfo("f", []string{"*"})), nil)
		},
		code: explain.BelowMinAllocatable,
		fix:  func(t *testing.T, a *hierarchical.Allocator) { a.UpdateAgentTotal("s1", res(t, "cpus:1;mem:16")) },
		want: "F@s1/*",
	}, {
		name: "reserved for other roles",
		setup: func(t *testing.T, a *hierarchical.Allocator) {
			a.AddAgent("s1", agentWith(t, "s1", "cpus(db):4;mem(db):1024"), nil)
			a.AddFramework("F", active(fwInfo("f", []string{"web"})), nil)
		},
		code: explain.ReservedForOthers,
		fix: func(t *testing.T, a *hierarchical.Allocator) {
			a.UpdateFramework("F", active(fwInfo("f", []string{"db"})))
		},
		want: "F@s1/db",
	}, {
		name: "held back for quota guarantees",
		setup: func(t *testing.T, a *hierarchical.Allocator) {
			a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
			a.UpdateQuota("db", allocator.Quota{Guarantees: map[string]float64{"cpus": 4, "mem": 1024}})
			a.AddFramework("F", active(fwInfo("f", []string{"web"})), nil)
		},
		code: explain.QuotaHeldBack,
		fix:  func(t *testing.T, a *hierarchical.Allocator) { a.UpdateQuota("db", allocator.Quota{}) },
		want: "F@s1/web",
	}, {
		name: "quota limit reached",
		setup: func(t *testing.T, a *hierarchical.Allocator) {
			a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
			a.UpdateQuota("web", allocator.Quota{Limits: map[string]float64{"cpus": 1, "mem": 256}})
			a.AddFramework("F", active(fwInfo("f", []string{"web"})), nil)
			wantOffers(t, a, t0, "F@s1/web") // cpus:1;mem:256, the limit
		},
		code: explain.QuotaLimitReached,
		fix: func(t *testing.T, a *hierarchical.Allocator) {
			a.UpdateQuota("web", allocator.Quota{Limits: map[string]float64{"cpus": 2, "mem": 512}})
		},
		want: "F@s1/web",
	}, {
		name: "allocated to others",
		setup: func(t *testing.T, a *hierarchical.Allocator) {
			a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
			a.AddFramework("G", active(fwInfo("g", []string{"*"})), nil)
			wantOffers(t, a, t0, "G@s1/*")
			a.AddFramework("F", active(fwInfo("f", []string{"*"})), nil)
		},
		code: explain.AllocatedToOthers,
		fix:  func(t *testing.T, a *hierarchical.Allocator) { a.RemoveFramework("G") },
		want: "F@s1/*",
	}, {
		name: "agent incapable",
		setup: func(t *testing.T, a *hierarchical.Allocator) {
			ag := agentWith(t, "s1", "cpus:4;mem:1024")
			ag.Capabilities = nil
			a.AddAgent("s1", ag, nil)
			a.AddFramework("F", active(fwInfo("f", []string{"a", "b"})), nil)
		},
		code: explain.AgentIncapable,
		fix: func(t *testing.T, a *hierarchical.Allocator) {
			a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
		},
		want: "F@s1/a",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAllocator(t, allocator.Options{})
			tt.setup(t, a)
			now := t0.Add(time.Second)
			rs := agentReasons(t, a, "F", "s1", now)
			if !slices.Contains(codes(rs), tt.code) {
				t.Fatalf("reasons %v, want %s", codes(rs), tt.code)
			}
			if tt.code != explain.AllocatedToOthers {
				wantOffers(t, a, now)
			} else {
				for _, al := range a.Allocate(now) {
					if al.FrameworkID == "F" {
						t.Fatalf("F offered %s despite %s", key(al), tt.code)
					}
				}
			}
			tt.fix(t, a)
			now = now.Add(time.Second)
			wantReason(t, a, "F", "s1", now)
			als := a.Allocate(now)
			if !slices.Contains(keys(als), tt.want) {
				t.Fatalf("after the fix: offers %v, want %s", keys(als), tt.want)
			}
		})
	}
}

// A declined offer with refuse_seconds filters the agent until then; the
// filter is listed with its resources and expiry; once expired the reason
// goes and the agent is offered again.
func TestExplainOfferFiltered(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
	a.AddFramework("F", active(fwInfo("f", []string{"*"})), nil)
	als := wantOffers(t, a, t0, "F@s1/*")
	recoverAll(a, als, refuse(10), t0)

	now := t0.Add(time.Second)
	rs := wantReason(t, a, "F", "s1", now, explain.OfferFiltered)
	until := t0.Add(10 * time.Second)
	if !rs[0].Until.Equal(until) || rs[0].Role != "*" {
		t.Errorf("reason %+v, want role * until %v", rs[0], until)
	}
	ex, _ := a.Explain("F", now)
	if len(ex.Filters) != 1 || ex.Filters[0].AgentID != "s1" || !ex.Filters[0].Until.Equal(until) ||
		ex.Filters[0].Resources.String() != "cpus:4; mem:1024" {
		t.Errorf("filters %+v", ex.Filters)
	}
	wantOffers(t, a, now)

	later := t0.Add(11 * time.Second)
	wantReason(t, a, "F", "s1", later)
	if ex, _ := a.Explain("F", later); len(ex.Filters) != 0 {
		t.Errorf("expired filters listed: %+v", ex.Filters)
	}
	wantOffers(t, a, later, "F@s1/*")
}

// Roles report suppression, weight, shares and DRF ranks, and quota.
func TestExplainRoles(t *testing.T) {
	a := newAllocator(t, allocator.Options{Weights: map[string]float64{"b": 2}})
	a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
	a.AddAgent("s2", agentWith(t, "s2", "cpus:4;mem:1024"), nil)
	a.UpdateQuota("b", allocator.Quota{Limits: map[string]float64{"cpus": 4}})
	a.AddFramework("A", active(fwInfo("a", []string{"a"})), map[string]resources.Resources{"s1": res(t, "cpus:4;mem:1024")})
	a.AddFramework("B", active(fwInfo("b", []string{"b"})), map[string]resources.Resources{"s2": res(t, "cpus:4;mem:1024")})
	a.AddFramework("C", active(fwInfo("c", []string{"b"})), nil)

	ex, ok := a.Explain("C", t0)
	if !ok || !ex.Active {
		t.Fatalf("Explain(C) = %+v, %v", ex, ok)
	}
	want := []allocator.RoleExplanation{{
		Role: "b", Weight: 2, DominantShare: 0.25, Rank: 1, Roles: 2,
		FrameworkShare: 0, FrameworkRank: 1, Frameworks: 2,
		Quota: &allocator.QuotaExplanation{Limits: map[string]float64{"cpus": 4}, Consumed: map[string]float64{"cpus": 4, "mem": 1024}, LimitReached: []string{"cpus"}},
	}}
	if diff := cmp.Diff(want, ex.Roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if _, ok := a.Explain("nope", t0); ok {
		t.Error("Explain of an unknown framework: ok")
	}
}

// Explain changes nothing: two allocators driven alike, one explained
// after every step, make the same offers; and it is deterministic.
func TestExplainReadOnly(t *testing.T) {
	run := func(explainToo bool) ([]string, []allocator.Explanation) {
		a := newAllocator(t, allocator.Options{})
		var out []string
		var exs []allocator.Explanation
		step := func(now time.Time) {
			if explainToo {
				for _, fw := range []string{"A", "B"} {
					ex, _ := a.Explain(fw, now)
					again, _ := a.Explain(fw, now)
					if diff := cmp.Diff(ex, again, cmp.Comparer(proto.Equal)); diff != "" {
						t.Fatalf("Explain not deterministic:\n%s", diff)
					}
					exs = append(exs, ex)
				}
			}
			als := a.Allocate(now)
			out = append(out, str(als))
			recoverAll(a, als, refuse(2), now)
		}
		for i := range 4 {
			a.AddAgent(string(rune('p'+i)), agentWith(t, string(rune('p'+i)), "cpus:2;mem:512;gpus:1"), nil)
		}
		a.AddAgent("z", agentWith(t, "z", "cpus:2;mem:512"), nil)
		a.AddFramework("A", active(fwInfo("a", []string{"x", "y"}, mesospb.FrameworkInfo_Capability_GPU_RESOURCES)), nil)
		a.AddFramework("B", active(fwInfo("b", []string{"y"})), nil)
		a.UpdateQuota("x", allocator.Quota{Guarantees: map[string]float64{"cpus": 1}})
		for i := range 6 {
			step(t0.Add(time.Duration(i) * time.Second))
		}
		return out, exs
	}
	plain, _ := run(false)
	explained, exs := run(true)
	if diff := cmp.Diff(plain, explained); diff != "" {
		t.Errorf("Explain changed what Allocate does (-plain +explained):\n%s", diff)
	}
	if len(exs) == 0 {
		t.Fatal("no explanations")
	}
}

// A role's own quota guarantee is no reason: stage 1 offers it what the
// guarantee holds back from others, and Explain says so.
func TestExplainOwnGuarantee(t *testing.T) {
	a := newAllocator(t, allocator.Options{})
	a.AddAgent("s1", agentWith(t, "s1", "cpus:4;mem:1024"), nil)
	a.UpdateQuota("db", allocator.Quota{Guarantees: map[string]float64{"cpus": 4, "mem": 1024}})
	a.AddFramework("D", active(fwInfo("d", []string{"db"})), nil)
	a.AddFramework("F", active(fwInfo("f", []string{"web"})), nil)
	wantReason(t, a, "D", "s1", t0)
	wantReason(t, a, "F", "s1", t0, explain.QuotaHeldBack)
	wantOffers(t, a, t0, "D@s1/db")
}
