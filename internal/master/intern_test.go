package master

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/resources"
)

// TestReadmitSharesCommonParts: tasks taken from re-registering agents are
// unchanged in content, and share their framework's and agent's IDs and
// their plain resources.
func TestReadmitSharesCommonParts(t *testing.T) {
	calls := []*mesospb.Task{}
	m := scaleMaster(t, 0)
	for i := range 3 {
		rr := scaleReregister(t, i)
		for _, task := range rr.Tasks {
			c := proto.CloneOf(task)
			c.AgentId = rr.AgentInfo.Id
			calls = append(calls, c)
		}
		readmit(t, m, rr)
	}
	s := m.st
	var tasks []*mesospb.Task
	for _, c := range calls {
		f := s.frameworks[c.GetFrameworkId().GetValue()]
		got := f.tasks[c.GetTaskId().GetValue()]
		if diff := cmp.Diff(c, got, protocmp.Transform()); diff != "" {
			t.Fatalf("task %s changed (-reported +kept):\n%s", c.GetTaskId().GetValue(), diff)
		}
		if got.FrameworkId != f.info.Id {
			t.Errorf("task %s does not share its framework's ID", c.GetTaskId().GetValue())
		}
		if a := s.agents[got.GetAgentId().GetValue()]; got.AgentId != a.info.Id || got.Statuses[0].AgentId != a.info.Id {
			t.Errorf("task %s does not share its agent's ID", c.GetTaskId().GetValue())
		}
		if got.Statuses[0].TaskId != got.TaskId {
			t.Errorf("task %s's status does not share its ID", c.GetTaskId().GetValue())
		}
		tasks = append(tasks, got)
	}
	for i := range tasks[0].Resources {
		if tasks[0].Resources[i] != tasks[len(tasks)-1].Resources[i] {
			t.Errorf("resource %d is not shared: %v", i, tasks[0].Resources[i])
		}
	}
	// A resource that is not a plain scalar is kept as it is.
	ports, _ := resources.Parse("ports:[1-2]", "*")
	if got := s.intern.resource(ports[0]); got != ports[0] {
		t.Errorf("ranges interned: %v", got)
	}
}
