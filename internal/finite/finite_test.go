package finite

import (
	"errors"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
)

func scalar(v float64) *mesospb.Value_Scalar { return &mesospb.Value_Scalar{Value: proto.Float64(v)} }

func TestCheck(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name string
		msg  proto.Message
		want string // "" for no error
	}{
		{"nil", nil, ""},
		{"finite", &mesospb.FrameworkInfo{FailoverTimeout: proto.Float64(1e9)}, ""},
		{"NaN", &mesospb.FrameworkInfo{FailoverTimeout: proto.Float64(nan)},
			"Invalid value of 'failover_timeout': NaN not supported"},
		{"infinity", &mesospb.FrameworkInfo{FailoverTimeout: proto.Float64(inf)},
			"Invalid value of 'failover_timeout': Infinite values not supported"},
		{"nested list", &schedulerpb.Call{Accept: &schedulerpb.Call_Accept{Operations: []*mesospb.Offer_Operation{
			{}, {Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{{Resources: []*mesospb.Resource{{Scalar: scalar(nan)}}}}}},
		}}}, "Invalid value of 'accept.operations[1].launch.task_infos[0].resources[0].scalar.value': NaN not supported"},
		{"task limit unlimited", &mesospb.TaskInfo{Limits: map[string]*mesospb.Value_Scalar{"cpus": scalar(inf)}}, ""},
		{"task limit NaN", &mesospb.TaskInfo{Limits: map[string]*mesospb.Value_Scalar{"cpus": scalar(nan)}},
			`Invalid value of 'limits["cpus"].value': NaN not supported`},
		{"task limit -Infinity", &mesospb.TaskInfo{Limits: map[string]*mesospb.Value_Scalar{"mem": scalar(math.Inf(-1))}},
			`Invalid value of 'limits["mem"].value': Infinite values not supported`},
		{"container limit unlimited", &agentpb.Call{LaunchContainer: &agentpb.Call_LaunchContainer{
			Limits: map[string]*mesospb.Value_Scalar{"mem": scalar(inf)}}}, ""},
		{"quota limit infinite", &quotapb.QuotaConfig{Limits: map[string]*mesospb.Value_Scalar{"cpus": scalar(inf)}},
			`Invalid value of 'limits["cpus"].value': Infinite values not supported`},
		{"refuse_seconds clamped by the allocator", &mesospb.Filters{RefuseSeconds: proto.Float64(inf)}, ""},
		{"repeated double", &mesospb.Value_Scalar{Value: proto.Float64(1)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.msg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrNotFinite) {
				t.Fatalf("Check() = %v, want %q wrapping ErrNotFinite", err, tt.want)
			}
		})
	}
}

// TestCheckDeep: a non-finite value deep in a list of messages, behind
// fields that hold no float themselves, is found (allFinite's plan keeps
// the paths that can hold one), and a message of the same types without
// one passes.
func TestCheckDeep(t *testing.T) {
	task := func(ts float64) *mesospb.Task {
		return &mesospb.Task{
			TaskId: &mesospb.TaskID{Value: proto.String("t")},
			Labels: &mesospb.Labels{Labels: []*mesospb.Label{{Key: proto.String("k")}}},
			Statuses: []*mesospb.TaskStatus{
				{State: mesospb.TaskState_TASK_STARTING.Enum(), Timestamp: proto.Float64(1)},
				{State: mesospb.TaskState_TASK_RUNNING.Enum(), Timestamp: proto.Float64(ts),
					ContainerStatus: &mesospb.ContainerStatus{ContainerId: &mesospb.ContainerID{Value: proto.String("c")}}},
			},
		}
	}
	if err := Check(task(2)); err != nil {
		t.Errorf("Check(finite task) = %v", err)
	}
	err := Check(task(math.NaN()))
	if !errors.Is(err, ErrNotFinite) || err.Error() != "Invalid value of 'statuses[1].timestamp': NaN not supported" {
		t.Errorf("Check(task with a NaN timestamp) = %v", err)
	}
}
