package master

import (
	"maps"
	"reflect"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/resources"
)

// Every read in this package's tests compares what it shares with other
// reads with what it would make anew (checkReadCaches).
func init() { checkReadCaches = true }

// TestReadCachesFollowChanges changes each input of an agent's shared
// view (agentViewKey) and a framework's shared task list (liveTasks) the
// way the loop changes it, and checks that the next read sees the change.
func TestReadCachesFollowChanges(t *testing.T) {
	s := scaleMaster(t, 3).st
	a := s.sortedAgents()[0]
	var f *framework
	var tasks []*mesospb.Task
	for fid := range a.tasks {
		f = s.frameworks[fid]
		tasks = slices.Collect(maps.Values(f.tasks))
		break
	}
	if f == nil || len(tasks) < 2 {
		t.Fatalf("the fixture's first agent has no framework with two tasks (%d frameworks)", len(a.tasks))
	}
	check := func(after string) {
		t.Helper()
		if got, want := s.viewAgentOnly(a), s.makeAgentView(a); !reflect.DeepEqual(got, want) {
			t.Errorf("after %s, the agent's view is\n%+v\nwant\n%+v", after, got, want)
		}
		if got, want := s.liveTasks(f), slices.Collect(maps.Values(f.tasks)); !sameTasks(got, want) {
			t.Errorf("after %s, the framework's live tasks are %d, want %d", after, len(got), len(want))
		}
	}
	check("nothing")
	orderBefore := s.sortedAgents()

	e := &mesospb.ExecutorInfo{
		ExecutorId: &mesospb.ExecutorID{Value: proto.String("e1")},
		Resources:  mustParse(t, "cpus:0.1;mem:32"),
	}
	s.addExecutor(f, a, e)
	check("an executor was added")
	if len(s.viewAgentOnly(a).usedByExecutor) == 0 {
		t.Error("the view does not count the new executor's resources")
	}
	s.removeExecutor(a.id, f.id, "e1")
	check("the executor was removed")

	c := copyTask(tasks[0])
	c.State = mesospb.TaskState_TASK_FINISHED.Enum()
	s.replaceTask(tasks[0], c)
	check("a task was replaced")
	s.removeTask(tasks[1], false)
	check("a task was removed")

	s.deactivated[a.id] = true
	check("the agent was deactivated")
	a.active = false
	check("the agent went inactive")
	a.total = mustParse(t, "cpus:3;mem:1024")
	check("the agent's total changed")

	b := s.sortedAgents()[1]
	s.removeAgent(b, false, "test")
	if got := s.sortedAgents(); len(got) != len(orderBefore)-1 || slices.Contains(got, b) {
		t.Errorf("after an agent was removed, sortedAgents has %d agents (removed one there: %v)", len(got), slices.Contains(got, b))
	}
}

func mustParse(t *testing.T, text string) resources.Resources {
	t.Helper()
	rs, err := resources.Parse(text, "*")
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
