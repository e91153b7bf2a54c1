package e2e

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/taskstate"
)

// TestTaskGroupDefaultExecutor runs task groups through the whole stack: a
// scheduler's LAUNCH_GROUP with a DEFAULT executor, the master, the agent,
// the built-in default executor and the tasks' nested containers. A group
// whose tasks all succeed ends TASK_FINISHED; in a group where one task
// fails, the framework sees that TASK_FAILED and the others TASK_KILLED.
func TestTaskGroupDefaultExecutor(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.Protobuf, frameworkInfo("groups"))

	want := map[string]mesospb.TaskState{
		"ok-1": mesospb.TaskState_TASK_FINISHED, "ok-2": mesospb.TaskState_TASK_FINISHED, "ok-3": mesospb.TaskState_TASK_FINISHED,
		"bad": mesospb.TaskState_TASK_FAILED, "peer-1": mesospb.TaskState_TASK_KILLED, "peer-2": mesospb.TaskState_TASK_KILLED,
	}
	groups := [][]*mesospb.TaskInfo{
		{groupTask("ok-1", "echo one"), groupTask("ok-2", "echo two"), groupTask("ok-3", "sleep 0.2")},
		{groupTask("bad", "sleep 0.5; exit 2"), groupTask("peer-1", "sleep 60"), groupTask("peer-2", "sleep 60")},
	}
	for i, tasks := range groups {
		offer := s.next(schedulerpb.Event_OFFERS, 20*time.Second).GetOffers().GetOffers()[0]
		for _, task := range tasks {
			task.AgentId = offer.GetAgentId()
		}
		exRes := taskResources("*", 0.1, 32)
		exRes = append(exRes, scalar("disk", 32))
		exRes[2].AllocationInfo = exRes[0].AllocationInfo
		s.mustCall(&schedulerpb.Call{
			Type: schedulerpb.Call_ACCEPT.Enum(),
			Accept: &schedulerpb.Call_Accept{
				OfferIds: []*mesospb.OfferID{offer.GetId()},
				Operations: []*mesospb.Offer_Operation{{
					Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(),
					LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
						Executor: &mesospb.ExecutorInfo{
							ExecutorId:  &mesospb.ExecutorID{Value: proto.String("group-" + string(rune('a'+i)))},
							FrameworkId: s.fwID,
							Type:        mesospb.ExecutorInfo_DEFAULT.Enum(),
							Resources:   exRes,
						},
						TaskGroup: &mesospb.TaskGroupInfo{Tasks: tasks},
					},
				}},
				Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
			},
		})
	}

	got := map[string]*mesospb.TaskStatus{}
	for len(got) < len(want) {
		st := s.update(true, 30*time.Second)
		if taskstate.IsTerminal(st.GetState()) {
			got[st.GetTaskId().GetValue()] = st
		}
	}
	for id, state := range want {
		if got[id].GetState() != state {
			t.Errorf("%s ended %s (%s, %q), want %s", id, got[id].GetState(), got[id].GetSource(), got[id].GetMessage(), state)
		}
	}
	if msg := got["bad"].GetMessage(); msg != "Command exited with status 2" {
		t.Errorf("bad: message %q", msg)
	}
	for _, id := range []string{"peer-1", "peer-2"} {
		if msg := got[id].GetMessage(); msg != "Command terminated with signal Terminated" {
			t.Errorf("%s: message %q", id, msg)
		}
	}
}

// groupTask is a small command task of a task group.
func groupTask(id, command string) *mesospb.TaskInfo {
	return &mesospb.TaskInfo{
		Name:      proto.String(id),
		TaskId:    &mesospb.TaskID{Value: proto.String(id)},
		Resources: taskResources("*", 0.1, 32),
		Command:   &mesospb.CommandInfo{Value: proto.String(command)},
	}
}
