package registry

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/meso-project/meso/internal/testutil/zkserver"
	"google.golang.org/protobuf/proto"
)

// countingStore counts writes and the records they carry.
type countingStore struct {
	Store
	writes, records atomic.Int64
}

func (c *countingStore) Write(ctx context.Context, changes []Entry) error {
	c.writes.Add(1)
	c.records.Add(int64(len(changes)))
	return c.Store.Write(ctx, changes)
}

// benchAgents is how many admitted agents the registry holds while the
// benchmarks write.
const benchAgents = 1000

// BenchmarkRegistrar measures registry writes with 1,000 admitted agents,
// each operation an UpdateAgent of one of them (a new hostname: always a
// change, one ~150-byte record):
//
//   - serial: one Apply at a time; ns/op is the write latency as the
//     master sees it (apply, write, durable, answer).
//   - concurrent: 64 goroutines Apply at once; the registrar batches what
//     queues during a write, so ns/op is the inverse of the throughput
//     (ops/s reports it) and ops/write the mean batch size.
//
// store_p50_ms and store_p99_ms are the registrar's own state_store_ms
// statistics (the Store.Write calls alone).
//
//	go test -run '^$' -bench BenchmarkRegistrar -benchtime 3s ./internal/registry
func BenchmarkRegistrar(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) Store
	}{
		{"memory", func(b *testing.B) Store { return NewMemoryStore() }},
		{"bolt", func(b *testing.B) Store {
			s, err := OpenBoltStore(filepath.Join(b.TempDir(), BoltFileName), 0)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"zookeeper", func(b *testing.B) Store {
			c := zkserver.Start(b)
			s, err := NewZKStore(zkConnect(b, c), zkPath(), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
	}
	for _, st := range stores {
		b.Run(st.name+"/serial", func(b *testing.B) {
			r, cs := benchRegistrar(b, st.open(b))
			var n atomic.Int64
			b.ResetTimer()
			for b.Loop() {
				benchUpdate(b, r, &n)
			}
			benchReport(b, r, cs)
		})
		b.Run(st.name+"/concurrent", func(b *testing.B) {
			r, cs := benchRegistrar(b, st.open(b))
			var n atomic.Int64
			b.SetParallelism(32) // 64 goroutines on 2 CPUs
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					benchUpdate(b, r, &n)
				}
			})
			benchReport(b, r, cs)
		})
	}
}

// benchRegistrar returns a recovered registrar on store holding benchAgents
// admitted agents, with the write counters reset.
func benchRegistrar(b *testing.B, store Store) (*Registrar, *countingStore) {
	b.Helper()
	cs := &countingStore{Store: store}
	r := newRegistrar(b, cs, Config{})
	ops := make([]Operation, 0, 100)
	for i := range benchAgents {
		ops = append(ops, &AdmitAgent{Info: agentInfo(fmt.Sprintf("agent-%04d", i))})
		if len(ops) == cap(ops) {
			if _, err := r.ApplyAll(context.Background(), ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	cs.writes.Store(0)
	cs.records.Store(0)
	return r, cs
}

func benchUpdate(b *testing.B, r *Registrar, n *atomic.Int64) {
	i := n.Add(1)
	info := agentInfo(fmt.Sprintf("agent-%04d", i%benchAgents))
	info.Hostname = proto.String(fmt.Sprintf("host-%d.example.com", i))
	mutated, err := r.Apply(context.Background(), &UpdateAgent{Info: info})
	if err != nil || !mutated {
		b.Errorf("UpdateAgent = %v, %v", mutated, err)
	}
}

func benchReport(b *testing.B, r *Registrar, cs *countingStore) {
	elapsed := b.Elapsed()
	b.StopTimer()
	if w := cs.writes.Load(); w > 0 {
		b.ReportMetric(float64(b.N)/float64(w), "ops/write")
	}
	if elapsed > 0 {
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	}
	m := r.Metrics()
	b.ReportMetric(m[MetricStateStoreMS+"/p50"], "store_p50_ms")
	b.ReportMetric(m[MetricStateStoreMS+"/p99"], "store_p99_ms")
	if m[MetricRegistrySizeBytes] < benchAgents*100 {
		b.Errorf("registry of %v bytes: the agents are missing", m[MetricRegistrySizeBytes])
	}
}
