package master

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/codec"
)

// A task that ended while its TASK_RUNNING was still unacknowledged: the
// agent re-sends TASK_RUNNING with latest_state TASK_FINISHED. The task is
// counted as finished then (Mesos's incrementTasksStates(newState, ...)),
// not as running, and not again when the TASK_FINISHED itself arrives.
// `meso simulate` found master/tasks_finished staying at 0.
func TestLatestStateCountsTheStateReached(t *testing.T) {
	h := startMetricsMaster(t)
	agent := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(fwInfo("latest"), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("t1", o.AgentId))

	update := func(state mesospb.TaskState, uuid string) {
		t.Helper()
		agent.mustCall(&agentapipb.Call{
			Type: agentapipb.Call_STATUS_UPDATE.Enum(),
			StatusUpdate: &agentapipb.Call_StatusUpdate{
				FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)},
				Status: &mesospb.TaskStatus{
					TaskId:    &mesospb.TaskID{Value: proto.String("t1")},
					State:     state.Enum(),
					Source:    mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
					Uuid:      []byte(uuid),
					Timestamp: proto.Float64(float64(time.Now().Unix())),
				},
				LatestState: mesospb.TaskState_TASK_FINISHED.Enum(),
			},
		})
		sched.waitEvent(schedulerpb.Event_UPDATE)
	}
	update(mesospb.TaskState_TASK_RUNNING, "u1")
	update(mesospb.TaskState_TASK_RUNNING, "u1") // the agent's retry
	update(mesospb.TaskState_TASK_FINISHED, "u2")

	var snap map[string]float64
	testutil.Eventually(t, 5*time.Second, func() bool {
		snap = snapshotMetrics(t, h)
		return snap["master/tasks_finished"] == 1
	}, "master/tasks_finished = 1")
	for name, want := range map[string]float64{
		"master/tasks_running":  0,
		"master/tasks_finished": 1,
		"master/cpus_used":      0,
	} {
		if got := snap[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
