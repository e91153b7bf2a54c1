package master

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// BenchmarkMetricsSnapshot measures a snapshot of a master with 1,000
// frameworks: the part on the loop (sample) and the naming off it.
func BenchmarkMetricsSnapshot(b *testing.B) {
	m, err := New(Config{Allocator: newFakeAllocator()})
	if err != nil {
		b.Fatal(err)
	}
	s := m.st
	for i := range 1000 {
		info := fwInfo(fmt.Sprintf("fw %d", i))
		info.Id = &mesospb.FrameworkID{Value: proto.String(fmt.Sprintf("fw-%04d", i))}
		s.newFramework(info)
	}
	b.Run("sample", func(b *testing.B) {
		for b.Loop() {
			s.sampleMetrics()
		}
	})
	b.Run("name", func(b *testing.B) {
		for b.Loop() {
			if n := s.sampleMetrics().snapshot().Len(); n < 60000 {
				b.Fatalf("%d metrics", n)
			}
		}
	})
}
