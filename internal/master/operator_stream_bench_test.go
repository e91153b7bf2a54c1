package master

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
)

// BenchmarkOperatorEvents is what one task update costs the master's loop
// for the operator event stream, by number of subscribers: nothing is
// built without subscribers; with them, one TASK_UPDATED (the task's
// status cloned once) is queued on every stream. The streams are drained
// as their writers would.
func BenchmarkOperatorEvents(b *testing.B) {
	for _, n := range []int{0, 1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			m, err := New(Config{Allocator: newFakeAllocator()})
			if err != nil {
				b.Fatal(err)
			}
			s := m.st
			for range n {
				s.subscribers = append(s.subscribers, &opSubscriber{out: newOutbox[*masterpb.Event](&m.gate)})
			}
			task := &mesospb.Task{
				Name: proto.String("t"), TaskId: &mesospb.TaskID{Value: proto.String("t")},
				FrameworkId: &mesospb.FrameworkID{Value: proto.String("fw")}, AgentId: &mesospb.AgentID{Value: proto.String("a")},
				State: mesospb.TaskState_TASK_RUNNING.Enum(), Resources: cpuMem(0.5, 64),
			}
			st := &mesospb.TaskStatus{TaskId: task.TaskId, State: mesospb.TaskState_TASK_RUNNING.Enum(),
				Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(), Uuid: make([]byte, 16), Timestamp: proto.Float64(1)}
			i := 0
			for b.Loop() {
				s.publishTaskUpdated(task, st)
				if i++; i%1000 == 0 {
					for _, sub := range s.subscribers {
						sub.out.take()
					}
				}
			}
		})
	}
}
