package scheduler_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/scheduler"
	"github.com/meso-project/meso/pkg/scheduler/schedulertest"
)

func TestAcknowledge(t *testing.T) {
	st := &mesospb.TaskStatus{
		TaskId:  &mesospb.TaskID{Value: proto.String("t")},
		State:   mesospb.TaskState_TASK_RUNNING.Enum(),
		AgentId: &mesospb.AgentID{Value: proto.String("a")},
	}
	if c := scheduler.Acknowledge(st); c != nil {
		t.Fatalf("Acknowledge(no uuid) = %v, want nil", c)
	}
	st.Uuid = []byte("0123456789abcdef")
	want := &schedulerpb.Call{
		Type: schedulerpb.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &schedulerpb.Call_Acknowledge{
			AgentId: &mesospb.AgentID{Value: proto.String("a")},
			TaskId:  &mesospb.TaskID{Value: proto.String("t")},
			Uuid:    []byte("0123456789abcdef"),
		},
	}
	if diff := cmp.Diff(want, scheduler.Acknowledge(st), protocmp.Transform()); diff != "" {
		t.Errorf("Acknowledge (-want +got):\n%s", diff)
	}
}

func TestLaunchTasks(t *testing.T) {
	offer := schedulertest.Offer("o1", "agent-1", "", 1, 128)
	task := &mesospb.TaskInfo{
		Name:    proto.String("t"),
		TaskId:  &mesospb.TaskID{Value: proto.String("t")},
		Command: &mesospb.CommandInfo{Value: proto.String("true")},
	}
	c := scheduler.LaunchTasks(offer, task)
	if task.AgentId != nil {
		t.Error("LaunchTasks modified the caller's task")
	}
	want := &schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{{Value: proto.String("o1")}},
			Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{{
					Name:    proto.String("t"),
					TaskId:  &mesospb.TaskID{Value: proto.String("t")},
					AgentId: &mesospb.AgentID{Value: proto.String("agent-1")},
					Command: &mesospb.CommandInfo{Value: proto.String("true")},
				}}},
			}},
		},
	}
	if diff := cmp.Diff(want, c, protocmp.Transform()); diff != "" {
		t.Errorf("LaunchTasks (-want +got):\n%s", diff)
	}
}

func TestBuilderTypes(t *testing.T) {
	id := &mesospb.OfferID{Value: proto.String("o")}
	for want, c := range map[schedulerpb.Call_Type]*schedulerpb.Call{
		schedulerpb.Call_DECLINE:   scheduler.Decline([]*mesospb.OfferID{id}, scheduler.RefuseFor(60)),
		schedulerpb.Call_REVIVE:    scheduler.Revive("a"),
		schedulerpb.Call_SUPPRESS:  scheduler.Suppress(),
		schedulerpb.Call_TEARDOWN:  scheduler.Teardown(),
		schedulerpb.Call_RECONCILE: scheduler.Reconcile(scheduler.ReconcileTask(&mesospb.TaskID{Value: proto.String("t")}, nil)),
		schedulerpb.Call_MESSAGE:   scheduler.Message(&mesospb.AgentID{Value: proto.String("a")}, &mesospb.ExecutorID{Value: proto.String("e")}, []byte("x")),
		schedulerpb.Call_SHUTDOWN:  scheduler.Shutdown(&mesospb.ExecutorID{Value: proto.String("e")}, &mesospb.AgentID{Value: proto.String("a")}),
		schedulerpb.Call_KILL:      scheduler.Kill(&mesospb.TaskID{Value: proto.String("t")}, nil),
	} {
		if c.GetType() != want {
			t.Errorf("builder for %s made %s", want, c.GetType())
		}
		if c.FrameworkId != nil {
			t.Errorf("%s: builder set framework_id", want)
		}
	}
}
