package cli

import (
	"bytes"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// TestPrintCheckStatus: mesos-execute prints a status update's check_status
// with Mesos's operator<< for CheckStatusInfo ("COMMAND exit code 0",
// "HTTP status code 200", "TCP connection success"; the type alone before
// the first result), not as a protobuf text dump.
func TestPrintCheckStatus(t *testing.T) {
	for _, tc := range []struct {
		cs   *mesospb.CheckStatusInfo
		want string
	}{
		{&mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_COMMAND.Enum(),
			Command: &mesospb.CheckStatusInfo_Command{ExitCode: proto.Int32(0)}}, "COMMAND exit code 0"},
		{&mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_COMMAND.Enum(),
			Command: &mesospb.CheckStatusInfo_Command{}}, "COMMAND"},
		{&mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_HTTP.Enum(),
			Http: &mesospb.CheckStatusInfo_Http{StatusCode: proto.Uint32(503)}}, "HTTP status code 503"},
		{&mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_TCP.Enum(),
			Tcp: &mesospb.CheckStatusInfo_Tcp{Succeeded: proto.Bool(true)}}, "TCP connection success"},
		{&mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_TCP.Enum(),
			Tcp: &mesospb.CheckStatusInfo_Tcp{Succeeded: proto.Bool(false)}}, "TCP connection failure"},
		{&mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_TCP.Enum()}, ""},
		{&mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_UNKNOWN.Enum()}, "UNKNOWN"},
	} {
		var b bytes.Buffer
		x := &execution{out: &printer{w: &b}}
		x.printStatus(&mesospb.TaskStatus{
			TaskId:      &mesospb.TaskID{Value: proto.String("t")},
			State:       mesospb.TaskState_TASK_RUNNING.Enum(),
			CheckStatus: tc.cs,
		})
		want := "Received status update TASK_RUNNING for task 't'\n  check status: " + tc.want + "\n"
		if got := b.String(); got != want {
			t.Errorf("printStatus(%v) = %q, want %q", tc.cs, got, want)
		}
	}
}

// TestFrameworkInfoPartitionAware: mesos-execute subscribes PARTITION_AWARE
// unless --partition_aware=false, after the capabilities it always has.
func TestFrameworkInfoPartitionAware(t *testing.T) {
	for _, aware := range []bool{true, false} {
		cfg := NewExecuteConfig()
		cfg.PartitionAware = aware
		x := &execution{cfg: cfg}
		var got []mesospb.FrameworkInfo_Capability_Type
		for _, c := range x.frameworkInfo().GetCapabilities() {
			got = append(got, c.GetType())
		}
		want := []mesospb.FrameworkInfo_Capability_Type{
			mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT,
			mesospb.FrameworkInfo_Capability_TASK_KILLING_STATE,
			mesospb.FrameworkInfo_Capability_REVOCABLE_RESOURCES,
		}
		if aware {
			want = append(want, mesospb.FrameworkInfo_Capability_PARTITION_AWARE)
		}
		if !slices.Equal(got, want) {
			t.Errorf("PartitionAware %t: capabilities %v, want %v", aware, got, want)
		}
	}
}
