package codec

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// TestTouch: Touch reads any message without changing it or failing: set
// and unset fields, nil elements in lists, deep trees, a typed nil, a
// message that is not a generated one.
func TestTouch(t *testing.T) {
	task := &mesospb.Task{
		Name:   proto.String("t"),
		TaskId: &mesospb.TaskID{Value: proto.String("id")},
		State:  mesospb.TaskState_TASK_RUNNING.Enum(),
		Resources: []*mesospb.Resource{
			{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(1)}},
			nil,
		},
		Statuses: []*mesospb.TaskStatus{{
			TaskId: &mesospb.TaskID{Value: proto.String("id")},
			State:  mesospb.TaskState_TASK_RUNNING.Enum(),
			Uuid:   []byte{1, 2, 3},
			Data:   []byte{},
			ContainerStatus: &mesospb.ContainerStatus{NetworkInfos: []*mesospb.NetworkInfo{{
				IpAddresses: []*mesospb.NetworkInfo_IPAddress{{IpAddress: proto.String("10.0.0.1")}, nil},
			}}},
		}},
		Labels: &mesospb.Labels{},
	}
	before := proto.Clone(task)
	for _, m := range []proto.Message{
		task,
		&mesospb.Task{},
		(*mesospb.Task)(nil),
		dynamicpb.NewMessage(task.ProtoReflect().Descriptor()),
	} {
		Touch(m)
	}
	if !proto.Equal(task, before) {
		t.Errorf("Touch changed the message: %v, was %v", task, before)
	}
}
