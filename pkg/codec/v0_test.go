package codec

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
)

// quotaV2 is v0's MasterInfo.Capability.QUOTA_V2, which Mesos 1.11.0's v1
// proto does not declare.
const quotaV2 = mesospb.MasterInfo_Capability_Type(3)

func testMasterInfo() *mesospb.MasterInfo {
	return &mesospb.MasterInfo{
		Id:   proto.String("m"),
		Ip:   proto.Uint32(16777343),
		Port: proto.Uint32(5050),
		Capabilities: []*mesospb.MasterInfo_Capability{
			{Type: mesospb.MasterInfo_Capability_AGENT_UPDATE.Enum()},
			{Type: mesospb.MasterInfo_Capability_AGENT_DRAINING.Enum()},
			{Type: quotaV2.Enum()},
		},
	}
}

// TestMarshalJSONUndeclaredEnum: a number a closed enum does not declare is
// written as Mesos writes it. Mesos's C++ protobuf keeps such a number
// (e.g. v0's QUOTA_V2 evolved into a v1 MasterInfo) in the unknown fields,
// so stout's JSON::Protobuf, which lists only known set fields, leaves it
// out: a capability becomes {}, a repeated element is dropped, a field with
// an explicit default shows the default.
func TestMarshalJSONUndeclaredEnum(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
		want string
	}{
		{
			name: "MasterInfo capabilities: QUOTA_V2 is {}",
			msg:  testMasterInfo(),
			want: `{"id":"m","ip":16777343,"port":5050,"capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"},{}]}`,
		},
		{
			name: "capability alone",
			msg:  &mesospb.MasterInfo_Capability{Type: quotaV2.Enum()},
			want: `{}`,
		},
		{
			name: "repeated enum drops the element",
			msg: &mesospb.CapabilityInfo{Capabilities: []mesospb.CapabilityInfo_Capability{
				mesospb.CapabilityInfo_CHOWN, 1038, mesospb.CapabilityInfo_KILL}},
			want: `{"capabilities":["CHOWN","KILL"]}`,
		},
		{
			name: "repeated enum with no declared element is omitted",
			msg:  &mesospb.CapabilityInfo{Capabilities: []mesospb.CapabilityInfo_Capability{1038, 1040}},
			want: `{}`,
		},
		{
			name: "field with a default shows the default",
			msg: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("busybox"),
				Network: mesospb.ContainerInfo_DockerInfo_Network(42).Enum()},
			want: `{"image":"busybox","network":"HOST","privileged":false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MarshalJSON(tt.msg)
			if err != nil {
				t.Fatalf("MarshalJSON: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("MarshalJSON mismatch (-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Errorf("MarshalJSON produced invalid JSON: %s", got)
			}
		})
	}
}

// TestUndeclaredEnumInRequiredField: Mesos cannot hold a required enum with
// an undeclared number (the parse leaves the field unset), so it is missing.
func TestUndeclaredEnumInRequiredField(t *testing.T) {
	r := &mesospb.Resource{Name: proto.String("cpus"), Type: mesospb.Value_Type(48).Enum(), Scalar: scalar(1)}
	if _, err := MarshalJSON(r); !errors.Is(err, ErrMissingRequired) {
		t.Errorf("MarshalJSON = %v, want %v", err, ErrMissingRequired)
	}
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal(Protobuf, b, &mesospb.Resource{}); !errors.Is(err, ErrMissingRequired) {
		t.Errorf("Unmarshal(Protobuf) = %v, want %v", err, ErrMissingRequired)
	}
}

// TestQuotaV2OnTheWire: the protobuf encoding carries the raw number, as
// Mesos's v1 messages carry it in their unknown fields.
func TestQuotaV2OnTheWire(t *testing.T) {
	b, err := Marshal(Protobuf, testMasterInfo())
	if err != nil {
		t.Fatal(err)
	}
	var got mesospb.MasterInfo
	if err := Unmarshal(Protobuf, b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testMasterInfo(), &got, protocmp.Transform()); diff != "" {
		t.Errorf("protobuf round trip (-want +got):\n%s", diff)
	}
}

// TestV0Dialect: the ZooKeeper json.info_ znode is written by Mesos from
// its v0 MasterInfo, where QUOTA_V2 is declared.
func TestV0Dialect(t *testing.T) {
	const znode = `{"id":"m","ip":16777343,"port":5050,"capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"},{"type":"QUOTA_V2"}]}`
	got, err := MarshalJSONV0(testMasterInfo())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(znode, string(got)); diff != "" {
		t.Errorf("MarshalJSONV0 (-want +got):\n%s", diff)
	}

	var v0 mesospb.MasterInfo
	if err := UnmarshalJSONV0([]byte(znode), &v0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testMasterInfo(), &v0, protocmp.Transform()); diff != "" {
		t.Errorf("UnmarshalJSONV0 (-want +got):\n%s", diff)
	}

	// The v1 dialect does not know the name: dropped, as Mesos drops an
	// unknown name in an optional field.
	var v1 mesospb.MasterInfo
	if err := UnmarshalJSON([]byte(znode), &v1); err != nil {
		t.Fatal(err)
	}
	want := testMasterInfo()
	want.Capabilities[2].Type = nil
	if diff := cmp.Diff(want, &v1, protocmp.Transform()); diff != "" {
		t.Errorf("UnmarshalJSON (-want +got):\n%s", diff)
	}
	// Nor the number.
	var c mesospb.MasterInfo_Capability
	if err := UnmarshalJSON([]byte(`{"type":3}`), &c); err != nil || c.Type != nil {
		t.Errorf(`UnmarshalJSON({"type":3}) = %v, type %v; want type unset`, err, c.Type)
	}

	for _, tt := range []struct {
		e    mesospb.MasterInfo_Capability_Type
		want string
	}{
		{mesospb.MasterInfo_Capability_AGENT_DRAINING, "AGENT_DRAINING"},
		{quotaV2, "QUOTA_V2"},
		{mesospb.MasterInfo_Capability_Type(99), "99"},
	} {
		if got := EnumNameV0(tt.e); got != tt.want {
			t.Errorf("EnumNameV0(%d) = %q, want %q", tt.e, got, tt.want)
		}
	}
}

// TestUndeclaredEnumDeepInRequiredField: the same deep inside a large
// answer (a task's status in GET_STATE), and a required field missing
// there, are found on both encodings' paths.
func TestUndeclaredEnumDeepInRequiredField(t *testing.T) {
	task := func(st mesospb.TaskState) *masterpb.Response {
		tid := &mesospb.TaskID{Value: proto.String("t")}
		return &masterpb.Response{Type: masterpb.Response_GET_STATE.Enum(), GetState: &masterpb.Response_GetState{
			GetTasks: &masterpb.Response_GetTasks{Tasks: []*mesospb.Task{{
				Name: proto.String("t"), TaskId: tid,
				FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")}, AgentId: &mesospb.AgentID{Value: proto.String("a")},
				State:    mesospb.TaskState_TASK_RUNNING.Enum(),
				Statuses: []*mesospb.TaskStatus{{TaskId: tid, State: st.Enum()}},
			}}},
		}}
	}
	if _, err := Marshal(Protobuf, task(mesospb.TaskState_TASK_RUNNING)); err != nil {
		t.Errorf("Marshal(Protobuf) of a complete answer = %v", err)
	}
	bad := task(mesospb.TaskState(99))
	for _, mt := range []MediaType{Protobuf, JSON} {
		if _, err := Marshal(mt, bad); !errors.Is(err, ErrMissingRequired) {
			t.Errorf("Marshal(%s) with an undeclared state = %v, want %v", mt, err, ErrMissingRequired)
		}
	}
	missing := task(mesospb.TaskState_TASK_RUNNING)
	missing.GetGetState().GetGetTasks().GetTasks()[0].GetStatuses()[0].TaskId = nil
	if _, err := Marshal(Protobuf, missing); !errors.Is(err, ErrMissingRequired) ||
		!strings.Contains(err.Error(), "get_state.get_tasks.tasks[0].statuses[0].task_id") {
		t.Errorf("Marshal(Protobuf) without a status's task_id = %v", err)
	}
}
