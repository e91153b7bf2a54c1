package hierarchical

import (
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/pkg/resources"
	"google.golang.org/protobuf/proto"
)

var benchT0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func mustParse(tb testing.TB, text string) resources.Resources {
	tb.Helper()
	r, err := resources.Parse(text, "*")
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func benchAgent(tb testing.TB, id string, total resources.Resources) allocator.Agent {
	return allocator.Agent{
		Info:  &mesospb.AgentInfo{Hostname: proto.String(id), Id: &mesospb.AgentID{Value: proto.String(id)}},
		Total: total,
		Capabilities: []mesospb.AgentInfo_Capability_Type{
			mesospb.AgentInfo_Capability_MULTI_ROLE, mesospb.AgentInfo_Capability_HIERARCHICAL_ROLE,
		},
	}
}

func benchFramework(id, role string) allocator.Framework {
	return allocator.Framework{Active: true, Info: &mesospb.FrameworkInfo{
		User: proto.String("u"), Name: proto.String(id), Role: proto.String(role),
		Id: &mesospb.FrameworkID{Value: proto.String(id)},
	}}
}

// declineCluster builds Mesos's DeclineOffers shape: agents with
// cpus:24;mem:4096;disk:4096;ports:[31000-32000], 16 cpus (and some mem,
// disk and 16 ports) used by a task of framework i%frameworks; frameworks
// in role "*".
func declineCluster(tb testing.TB, agents, frameworks int) *Allocator {
	a, err := NewAllocator(allocator.Options{Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range frameworks {
		id := fmt.Sprintf("f%05d", i)
		a.AddFramework(id, benchFramework(id, "*"), nil)
	}
	total := mustParse(tb, "cpus:24;mem:4096;disk:4096;ports:[31000-32000]")
	used := mustParse(tb, "cpus:16;mem:2014;disk:1024;ports:[31000-31015]").Allocate("*")
	for i := range agents {
		id := fmt.Sprintf("a%06d", i)
		a.AddAgent(id, benchAgent(tb, id, total),
			map[string]resources.Resources{fmt.Sprintf("f%05d", i%frameworks): used})
	}
	return a
}

// declineEverything puts the allocator in the state reached once every
// framework has been offered every agent and declined it with a long filter
// (refuse_seconds capped at 365 days): each (framework, agent) has a filter
// refusing the agent's whole available resources, checked to match.
//
// Reaching it through the API takes agents x frameworks offers and
// declines (40 million at 20k x 2k), minutes of setup, so the filters are
// installed directly; TestDeclineEverythingMatchesDeclining checks that the
// direct state behaves like the one reached by declining.
func declineEverything(a *Allocator, now time.Time) {
	declineAll(a, now, false)
}

// declineAll is declineEverything; with whole, each filter refuses the
// agent's whole total instead of what is available (the frameworks declined
// the agent while it was idle), so that it still covers the agent when a
// task there ends.
func declineAll(a *Allocator, now time.Time, whole bool) {
	expiry := now.Add(maxRefuse).UnixNano()
	ids := map[string]uint32{}
	for _, si := range a.eligible {
		s := a.slots[si]
		for ai, ag := range a.agents {
			if ag == nil {
				continue
			}
			rs := &refusedSet{}
			for _, e := range ag.entries {
				switch {
				case whole:
					rs.add(e.key, e.typ, amount{scalar: e.total, ranges: e.totalRanges, items: e.totalItems})
				case !e.empty():
					rs.add(e.key, e.typ, e.availAmount())
				}
			}
			c := rs.canonical()
			id, ok := ids[c]
			if !ok {
				id = a.internRefused(rs)
				ids[c] = id
			} else {
				a.refused[id].refs++
			}
			// Each framework declined each agent at its own time.
			a.addFilterRef(s, int32(ai), filterRef{id, expiry + int64(ai)<<20 + int64(si)})
			s.filters.verified.set(int32(ai))
		}
	}
}

func BenchmarkDeclineOffers(b *testing.B) {
	for _, size := range []struct{ agents, frameworks int }{
		{1000, 100}, {5000, 500}, {10000, 1000}, {20000, 2000},
	} {
		b.Run(fmt.Sprintf("agents=%d,frameworks=%d", size.agents, size.frameworks), func(b *testing.B) {
			a := declineCluster(b, size.agents, size.frameworks)
			before := heapInUse()
			declineEverything(a, benchT0)
			perFilter := float64(heapInUse()-before) / float64(size.agents*size.frameworks)
			now := benchT0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(time.Second)
				if als := a.Allocate(now); len(als) != 0 {
					b.Fatalf("%d offers after everything was declined", len(als))
				}
			}
			b.ReportMetric(perFilter, "heapB/filter")
		})
	}
}

// BenchmarkColdFilterCheck is the first cycle after every framework
// declined everything: no filter has been checked against the agents yet,
// so the cycle applies the subset rule (spec §1.10) to every (framework,
// agent) pair and remembers the result. BenchmarkDeclineOffers measures the
// cycles after it.
func BenchmarkColdFilterCheck(b *testing.B) {
	for _, size := range []struct{ agents, frameworks int }{
		{1000, 100}, {10000, 1000},
	} {
		b.Run(fmt.Sprintf("agents=%d,frameworks=%d", size.agents, size.frameworks), func(b *testing.B) {
			a := declineCluster(b, size.agents, size.frameworks)
			declineEverything(a, benchT0)
			now := benchT0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				// Every agent grew (each decline gives its offer back).
				for _, ag := range a.agents {
					a.markGrown(ag)
				}
				now = now.Add(time.Second)
				b.StartTimer()
				if als := a.Allocate(now); len(als) != 0 {
					b.Fatalf("%d offers after everything was declined", len(als))
				}
			}
		})
	}
}

// BenchmarkChurn is an allocation cycle in a busy cluster at 10k agents x
// 1k frameworks: every framework has declined every agent with a long
// filter (while the agents were idle), and in every cycle the tasks on 10%
// of the agents end, so those agents' free resources grow and every
// framework's filter on them must be checked again (spec §1.10) before the
// cycle may skip them. One op is the cycle with the 1,000 task ends before
// it (RecoverResources); the tasks start again outside the timer.
func BenchmarkChurn(b *testing.B) {
	const agents, frameworks, window = 10000, 1000, 1000
	a := declineCluster(b, agents, frameworks)
	declineAll(a, benchT0, true)
	used := mustParse(b, "cpus:16;mem:2014;disk:1024;ports:[31000-31015]").Allocate("*")
	owner := func(ai int) *framework { return a.frameworks[a.fwIndex[fmt.Sprintf("f%05d", ai%frameworks)]] }
	now := benchT0
	next := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		// The tasks of the previous window start again.
		prev := (next + agents - window) % agents
		for ai := prev; ai < prev+window; ai++ {
			ag, f := a.agents[ai], owner(ai)
			if ag.held[f.idx] == nil {
				a.allocateTo(ag, f, a.slots[f.slots["*"]], takeOf(ag, used), nil)
			}
		}
		a.cycle = a.cycle[:0]
		now = now.Add(time.Second)
		b.StartTimer()
		for ai := next; ai < next+window; ai++ {
			a.RecoverResources(owner(ai).id, a.agents[ai].id, used, nil, now)
		}
		if als := a.Allocate(now); len(als) != 0 {
			b.Fatalf("%d offers: the filters cover the agents", len(als))
		}
		next = (next + window) % agents
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// BenchmarkChurnDeclining is BenchmarkChurn where the frameworks had
// declined only what the agents had free then, so an agent whose task ends
// is offered again: to one framework per cycle, which declines it with a
// long filter, until every framework has (Mesos's DeclineOffers shape,
// reached through churn). One op is the task ends of 10% of the agents,
// the cycle, and the declines of every offer it made; the number of offers
// a cycle makes grows as more agents are passed from framework to
// framework (offers/op).
func BenchmarkChurnDeclining(b *testing.B) {
	const agents, frameworks, window = 10000, 1000, 1000
	a := declineCluster(b, agents, frameworks)
	declineEverything(a, benchT0)
	used := mustParse(b, "cpus:16;mem:2014;disk:1024;ports:[31000-31015]").Allocate("*")
	owner := func(ai int) *framework { return a.frameworks[a.fwIndex[fmt.Sprintf("f%05d", ai%frameworks)]] }
	now := benchT0
	next, offers := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(time.Second)
		for ai := next; ai < next+window; ai++ {
			a.RecoverResources(owner(ai).id, a.agents[ai].id, used, nil, now)
		}
		als := a.Allocate(now)
		offers += len(als)
		for _, al := range als {
			a.RecoverResources(al.FrameworkID, al.AgentID, al.Resources, refuseForever(), now)
		}
		next = (next + window) % agents
	}
	b.ReportMetric(float64(offers)/float64(b.N), "offers/op")
}

// takeOf is res as amounts of ag's entries.
func takeOf(ag *agent, res resources.Resources) []amount {
	take := make([]amount, len(ag.entries))
	for _, r := range res {
		key, _ := kindKey(r)
		if i := ag.entryIndex(key); i >= 0 {
			take[i] = addAmount(ag.entries[i].typ, take[i], amountOf(r))
		}
	}
	return take
}

// BenchmarkSuppressed is the DeclineOffers state at 10k x 1k with 99% of
// the frameworks suppressed; the "unsuppressed" sibling is the same cluster
// with none suppressed, for the ratio.
func BenchmarkSuppressed(b *testing.B) {
	for _, suppress := range []bool{true, false} {
		name := "agents=10000,frameworks=1000"
		if !suppress {
			name += ",unsuppressed"
		}
		b.Run(name, func(b *testing.B) {
			a := declineCluster(b, 10000, 1000)
			declineEverything(a, benchT0)
			if suppress {
				for i := range 1000 {
					if i%100 != 0 {
						a.SuppressOffers(fmt.Sprintf("f%05d", i), nil)
					}
				}
			}
			now := benchT0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(time.Second)
				if als := a.Allocate(now); len(als) != 0 {
					b.Fatalf("%d offers", len(als))
				}
			}
		})
	}
}

// BenchmarkAddAgents adds 10k agents, each carrying resources used by one
// of 1000 frameworks; one op adds all of them to a fresh allocator.
func BenchmarkAddAgents(b *testing.B) {
	b.Run("agents=10000", func(b *testing.B) {
		const n, frameworks = 10000, 1000
		total := mustParse(b, "cpus:24;mem:4096;disk:4096;ports:[31000-32000]")
		used := mustParse(b, "cpus:16;mem:2014;disk:1024;ports:[31000-31015]").Allocate("*")
		ids := make([]string, n)
		infos := make([]allocator.Agent, n)
		useds := make([]map[string]resources.Resources, n)
		for i := range n {
			ids[i] = fmt.Sprintf("a%06d", i)
			infos[i] = benchAgent(b, ids[i], total)
			useds[i] = map[string]resources.Resources{fmt.Sprintf("f%05d", i%frameworks): used}
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			a, _ := NewAllocator(allocator.Options{Seed: 1})
			for j := range frameworks {
				id := fmt.Sprintf("f%05d", j)
				a.AddFramework(id, benchFramework(id, "*"), nil)
			}
			b.StartTimer()
			for j := range n {
				a.AddAgent(ids[j], infos[j], useds[j])
			}
		}
	})
}

// BenchmarkQuota is Mesos's LargeAndSmallQuota at its largest size: 2500
// roles with quota cpus:1;mem:1024;disk:1024 and 500 with
// cpus:4;mem:4096;disk:4096 (guarantees = limits), one framework each, 3000
// agents of cpus:2;mem:2048;disk:2048. One op is one cycle from the
// unallocated state (everything is recovered outside the timer).
func BenchmarkQuota(b *testing.B) {
	b.Run("roles=3000,agents=3000", func(b *testing.B) {
		a, _ := NewAllocator(allocator.Options{Seed: 1})
		quota := func(cpus float64) allocator.Quota {
			q := map[string]float64{"cpus": cpus, "mem": cpus * 1024, "disk": cpus * 1024}
			return allocator.Quota{Guarantees: q, Limits: q}
		}
		for i := range 3000 {
			roleName := fmt.Sprintf("small%04d", i)
			cpus := 1.0
			if i >= 2500 {
				roleName, cpus = fmt.Sprintf("large%04d", i), 4
			}
			id := "fw-" + roleName
			a.AddFramework(id, benchFramework(id, roleName), nil)
			a.UpdateQuota(roleName, quota(cpus))
		}
		total := mustParse(b, "cpus:2;mem:2048;disk:2048")
		for i := range 3000 {
			id := fmt.Sprintf("a%06d", i)
			a.AddAgent(id, benchAgent(b, id, total), nil)
		}
		now := benchT0
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			now = now.Add(time.Second)
			als := a.Allocate(now)
			b.StopTimer()
			if len(als) < 3000 {
				b.Fatalf("only %d allocations", len(als))
			}
			for _, al := range als {
				a.RecoverResources(al.FrameworkID, al.AgentID, al.Resources, nil, now)
			}
			b.StartTimer()
		}
	})
}

// BenchmarkAllocate measures a busy cycle: 1000 free agents, 100
// frameworks in 10 roles, every agent offered every cycle (offers are
// recovered outside the timer). Memory per op grows with the offers made.
func BenchmarkAllocate(b *testing.B) {
	a, _ := NewAllocator(allocator.Options{Seed: 1})
	total := mustParse(b, "cpus:16;mem:65536;disk:100000;ports:[31000-32000]")
	for i := range 1000 {
		id := fmt.Sprintf("s%04d", i)
		a.AddAgent(id, benchAgent(b, id, total), nil)
	}
	for i := range 100 {
		id := fmt.Sprintf("f%03d", i)
		a.AddFramework(id, benchFramework(id, fmt.Sprintf("role%d", i%10)), nil)
	}
	now := benchT0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Second)
		als := a.Allocate(now)
		b.StopTimer()
		if len(als) != 1000 {
			b.Fatalf("%d allocations", len(als))
		}
		for _, al := range als {
			a.RecoverResources(al.FrameworkID, al.AgentID, al.Resources, nil, now)
		}
		b.StartTimer()
	}
}

var _ = math.MaxInt64

func refuseForever() *mesospb.Filters {
	return &mesospb.Filters{RefuseSeconds: proto.Float64(math.MaxInt32)}
}
