package hierarchical_test

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/hierarchical"
	"github.com/meso-project/meso/pkg/resources"
	"pgregory.net/rapid"
)

// model mirrors what the master would know: agent totals and what each
// framework holds on each agent (offers it has not given back).
type model struct {
	a          *hierarchical.Allocator
	now        time.Time
	next       int
	agents     map[string]resources.Resources // unallocated totals
	frameworks map[string][]string            // roles
	suppressed map[string]map[string]bool
	held       map[[2]string]resources.Resources // {fw, agent} -> allocated form
	gpuAware   map[string]bool
	filters    map[[3]string][]modelFilter // {fw, role, agent}
	limits     map[string]map[string]float64
}

type modelFilter struct {
	refused resources.Resources
	expires time.Time
}

// consumed is a top-level role's quota consumption in the model: its
// reservations on agents' totals plus the unreserved non-revocable scalars
// it holds.
func (m *model) consumed(role string) map[string]float64 {
	out := map[string]float64{}
	for _, total := range m.agents {
		for name, v := range total.ReservedBy(role).Quantities() {
			out[name] += v
		}
	}
	for _, h := range m.held {
		for name, v := range h.AllocatedTo(role).Unallocate().Unreserved().Quantities() {
			out[name] += v
		}
	}
	return out
}

func (m *model) free(agentID string) resources.Resources {
	used := resources.Resources{}
	for k, r := range m.held {
		if k[1] == agentID {
			used = used.Add(r.Unallocate())
		}
	}
	return m.agents[agentID].Subtract(used)
}

func (m *model) pickAgent(t *rapid.T) string {
	ids := sortedKeys(m.agents)
	if len(ids) == 0 {
		t.Skip("no agents")
	}
	return rapid.SampledFrom(ids).Draw(t, "agent")
}

func (m *model) pickFramework(t *rapid.T) string {
	ids := sortedKeys(m.frameworks)
	if len(ids) == 0 {
		t.Skip("no frameworks")
	}
	return rapid.SampledFrom(ids).Draw(t, "framework")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var roleNames = []string{"*", "a", "b"}

func TestPropertyNeverMoreThanFree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sorterKind := rapid.SampledFrom([]string{"drf", "random"}).Draw(t, "sorter")
		a, err := hierarchical.NewAllocator(allocator.Options{
			Seed: rapid.Int64().Draw(t, "seed"), RoleSorter: sorterKind, FrameworkSorter: sorterKind,
		})
		if err != nil {
			t.Fatal(err)
		}
		m := &model{
			a: a, now: t0,
			agents:     map[string]resources.Resources{},
			frameworks: map[string][]string{},
			suppressed: map[string]map[string]bool{},
			held:       map[[2]string]resources.Resources{},
			gpuAware:   map[string]bool{},
			filters:    map[[3]string][]modelFilter{},
			limits:     map[string]map[string]float64{},
		}
		t.Repeat(map[string]func(*rapid.T){
			"addAgent": func(t *rapid.T) {
				id := fmt.Sprintf("s%d", m.next)
				m.next++
				text := fmt.Sprintf("cpus:%d;mem:%d;ports:[%d-%d]",
					rapid.IntRange(1, 8).Draw(t, "cpus"), rapid.IntRange(1, 8).Draw(t, "mem")*128,
					31000, 31000+rapid.IntRange(0, 20).Draw(t, "ports"))
				if role := rapid.SampledFrom([]string{"", "a", "b"}).Draw(t, "reserved"); role != "" {
					text += fmt.Sprintf(";cpus(%s):1;mem(%s):64", role, role)
				}
				if rapid.Bool().Draw(t, "gpu") {
					text += ";gpus:1"
				}
				ag := agentWith(t, id, text)
				m.agents[id] = ag.Total
				m.a.AddAgent(id, ag, nil)
			},
			"removeAgent": func(t *rapid.T) {
				id := m.pickAgent(t)
				m.a.RemoveAgent(id)
				delete(m.agents, id)
				for k := range m.held {
					if k[1] == id {
						delete(m.held, k)
					}
				}
			},
			"addFramework": func(t *rapid.T) {
				id := fmt.Sprintf("f%d", m.next)
				m.next++
				roles := rapid.SliceOfNDistinct(rapid.SampledFrom(roleNames), 1, 3, rapid.ID[string]).Draw(t, "roles")
				var caps []mesospb.FrameworkInfo_Capability_Type
				if rapid.Bool().Draw(t, "gpuAware") {
					caps = append(caps, mesospb.FrameworkInfo_Capability_GPU_RESOURCES)
					m.gpuAware[id] = true
				}
				m.frameworks[id] = roles
				m.suppressed[id] = map[string]bool{}
				m.a.AddFramework(id, active(fwInfo(id, roles, caps...)), nil)
			},
			"removeFramework": func(t *rapid.T) {
				id := m.pickFramework(t)
				m.a.RemoveFramework(id)
				delete(m.frameworks, id)
				for k := range m.held {
					if k[0] == id {
						delete(m.held, k)
					}
				}
			},
			"suppress": func(t *rapid.T) {
				id := m.pickFramework(t)
				role := rapid.SampledFrom(m.frameworks[id]).Draw(t, "role")
				m.a.SuppressOffers(id, []string{role})
				m.suppressed[id][role] = true
			},
			"revive": func(t *rapid.T) {
				id := m.pickFramework(t)
				m.a.ReviveOffers(id, nil, m.now)
				m.suppressed[id] = map[string]bool{}
				for k := range m.filters {
					if k[0] == id {
						delete(m.filters, k)
					}
				}
			},
			"quota": func(t *rapid.T) {
				role := rapid.SampledFrom([]string{"a", "b"}).Draw(t, "quotaRole")
				lim := map[string]float64{
					"cpus": float64(rapid.IntRange(0, 10).Draw(t, "limitCpus")),
					"mem":  float64(rapid.IntRange(0, 10).Draw(t, "limitMem") * 128),
				}
				g := map[string]float64{"cpus": float64(rapid.IntRange(0, int(lim["cpus"])).Draw(t, "guaranteeCpus"))}
				m.a.UpdateQuota(role, allocator.Quota{Guarantees: g, Limits: lim})
				m.limits[role] = lim
			},
			"recover": func(t *rapid.T) {
				if len(m.held) == 0 {
					t.Skip("nothing held")
				}
				var ks [][2]string
				for k := range m.held {
					ks = append(ks, k)
				}
				slices.SortFunc(ks, func(x, y [2]string) int {
					return cmp.Or(cmp.Compare(x[0], y[0]), cmp.Compare(x[1], y[1]))
				})
				k := rapid.SampledFrom(ks).Draw(t, "held")
				held := m.held[k]
				// Give back a random subset of the held entries, or all.
				part := resources.Resources{}
				for i, r := range held {
					if rapid.Bool().Draw(t, fmt.Sprintf("entry%d", i)) {
						part = part.Add(resources.Resources{r})
					}
				}
				if part.Empty() {
					part = held
				}
				var f *mesospb.Filters
				if secs := rapid.SampledFrom([]float64{-1, 0, 1, 5, 100}).Draw(t, "refuse"); secs >= 0 {
					f = refuse(secs)
				}
				m.a.RecoverResources(k[0], k[1], part, f, m.now)
				if secs := f.GetRefuseSeconds(); f != nil && secs > 0 {
					d := max(time.Duration(secs*float64(time.Second)), time.Second)
					for _, role := range m.frameworks[k[0]] {
						if p := part.AllocatedTo(role); !p.Empty() {
							fk := [3]string{k[0], role, k[1]}
							m.filters[fk] = append(m.filters[fk], modelFilter{p.Unallocate(), m.now.Add(d)})
						}
					}
				}
				if rest := held.Subtract(part); rest.Empty() {
					delete(m.held, k)
				} else {
					m.held[k] = rest
				}
			},
			"allocate": func(t *rapid.T) {
				m.now = m.now.Add(time.Duration(rapid.IntRange(0, 3000).Draw(t, "ms")) * time.Millisecond)
				seen := map[string]bool{}
				before := map[string]map[string]float64{}
				for role := range m.limits {
					before[role] = m.consumed(role)
				}
				// What Explain blames on an agent, Allocate does not offer.
				blamed := map[[2]string][]allocator.AgentReason{}
				wanted := map[string]string{} // agent -> a framework Explain would offer it to
				for _, id := range sortedKeys(m.frameworks) {
					ex, ok := m.a.Explain(id, m.now)
					if !ok {
						t.Fatalf("Explain(%s): unknown", id)
					}
					for _, ae := range ex.Agents {
						if len(ae.Reasons) > 0 {
							blamed[[2]string{id, ae.AgentID}] = ae.Reasons
						} else if _, ok := wanted[ae.AgentID]; !ok {
							wanted[ae.AgentID] = id
						}
					}
				}
				if err := m.a.CheckVerified(m.now); err != nil {
					t.Fatal(err)
				}
				als := m.a.Allocate(m.now)
				offered := map[string]bool{}
				for _, al := range als {
					offered[al.AgentID] = true
					if rs := blamed[[2]string{al.FrameworkID, al.AgentID}]; rs != nil {
						t.Fatalf("%s: offered %s although Explain said %+v", key(al), al.Resources, rs)
					}
				}
				// Liveness: Explain checks filters exactly, blind to the
				// verified bits Allocate skips by. Without quota (whose
				// headroom and limits move within a cycle), an agent some
				// framework has no reason to be refused is offered to
				// someone in the cycle.
				if len(m.limits) == 0 {
					for _, ag := range sortedKeys(wanted) {
						if !offered[ag] {
							t.Fatalf("agent %s not offered although Explain says %s would get it", ag, wanted[ag])
						}
					}
				}
				defer func() {
					// Quota limits: a role above a limit was not offered
					// more of it (consumption counts offered + allocated).
					for role, lim := range m.limits {
						after := m.consumed(role)
						for name, l := range lim {
							if after[name] > before[role][name]+1e-9 && after[name] > l+1e-9 {
								t.Fatalf("role %s: %s consumption %v exceeds limit %v (was %v)", role, name, after[name], l, before[role][name])
							}
						}
					}
				}()
				for _, al := range als {
					for _, flt := range m.filters[[3]string{al.FrameworkID, al.Role, al.AgentID}] {
						if m.now.Before(flt.expires) && flt.refused.Contains(al.Resources.Unallocate()) {
							t.Fatalf("%s: offered %s inside a filter refusing %s until %v", key(al), al.Resources, flt.refused, flt.expires)
						}
					}
					k := key(al)
					if seen[k] {
						t.Fatalf("%s allocated twice in one cycle", k)
					}
					seen[k] = true
					roles, ok := m.frameworks[al.FrameworkID]
					if !ok || !slices.Contains(roles, al.Role) {
						t.Fatalf("%s: unknown framework or role", k)
					}
					if m.suppressed[al.FrameworkID][al.Role] {
						t.Fatalf("%s: role is suppressed", k)
					}
					if al.Resources.Empty() {
						t.Fatalf("%s: empty allocation", k)
					}
					for _, r := range al.Resources {
						if r.GetAllocationInfo().GetRole() != al.Role {
							t.Fatalf("%s: resource allocated to %q", k, r.GetAllocationInfo().GetRole())
						}
						if resources.IsReserved(r) && resources.ReservationRole(r) != al.Role {
							t.Fatalf("%s: got a reservation for %q", k, resources.ReservationRole(r))
						}
						if r.GetName() == "gpus" && !m.gpuAware[al.FrameworkID] {
							t.Fatalf("%s: gpus to a framework without GPU_RESOURCES", k)
						}
					}
					free := m.free(al.AgentID)
					if !free.Contains(al.Resources.Unallocate()) {
						t.Fatalf("%s: offered %s, free only %s", k, al.Resources, free)
					}
					hk := [2]string{al.FrameworkID, al.AgentID}
					m.held[hk] = m.held[hk].Add(al.Resources)
				}
			},
		})
	})
}
