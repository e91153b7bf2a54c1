package agent

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
)

// TestValidateExecutorUpdateCheckStatus: an executor's update with a
// malformed check_status is refused with Mesos's message.
func TestValidateExecutorUpdateCheckStatus(t *testing.T) {
	update := func(cs *mesospb.CheckStatusInfo) *executorpb.Call {
		return &executorpb.Call{
			Type:        executorpb.Call_UPDATE.Enum(),
			ExecutorId:  &mesospb.ExecutorID{Value: proto.String("e")},
			FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
			Update: &executorpb.Call_Update{Status: &mesospb.TaskStatus{
				TaskId:      &mesospb.TaskID{Value: proto.String("t")},
				State:       mesospb.TaskState_TASK_RUNNING.Enum(),
				Source:      mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
				Uuid:        make([]byte, 16),
				CheckStatus: cs,
			}},
		}
	}
	for _, tc := range []struct {
		cs   *mesospb.CheckStatusInfo
		want string
	}{
		{nil, ""},
		{&mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_HTTP.Enum(), Http: &mesospb.CheckStatusInfo_Http{}}, ""},
		{&mesospb.CheckStatusInfo{}, "CheckStatusInfo must specify 'type'"},
		{&mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_TCP.Enum()}, "Expecting 'tcp' to be set for TCP check's status"},
		{&mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_UNKNOWN.Enum()}, "'UNKNOWN' is not a valid check's status type"},
	} {
		if got := validateExecutorCall(update(tc.cs)); got != tc.want {
			t.Errorf("validateExecutorCall(check_status %v) = %q, want %q", tc.cs, got, tc.want)
		}
	}
}
