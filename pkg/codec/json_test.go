package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/meso-project/meso/api/v1/agentpb" // its field names are in alwaysArrays
	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
)

var statusUUID = []byte{0xfb, 0xff, 0xbf, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d}

func scalar(v float64) *mesospb.Value_Scalar { return &mesospb.Value_Scalar{Value: proto.Float64(v)} }

func TestUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  proto.Message
	}{
		{
			name:  "scheduler SUBSCRIBE call",
			input: `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"foo","name":"Example HTTP Framework","roles":["test"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`,
			want:  subscribeCall(),
		},
		{
			name:  "SUBSCRIBED event",
			input: `{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"12220-3440-12532-2345"},"heartbeat_interval_seconds":15}}`,
			want: &schedulerpb.Event{
				Type: schedulerpb.Event_SUBSCRIBED.Enum(),
				Subscribed: &schedulerpb.Event_Subscribed{
					FrameworkId:              &mesospb.FrameworkID{Value: proto.String("12220-3440-12532-2345")},
					HeartbeatIntervalSeconds: proto.Float64(15),
				},
			},
		},
		{
			name: "task status with base64 uuid",
			input: `{"task_id":{"value":"my-task"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR",
				"uuid":"+/+/AQIDBAUGBwgJCgsMDQ==","timestamp":1.5e9,"healthy":"true"}`,
			want: &mesospb.TaskStatus{
				TaskId:    &mesospb.TaskID{Value: proto.String("my-task")},
				State:     mesospb.TaskState_TASK_RUNNING.Enum(),
				Source:    mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
				Uuid:      statusUUID,
				Timestamp: proto.Float64(1.5e9),
				Healthy:   proto.Bool(true),
			},
		},
		{
			name:  "scalar resource",
			input: `{"name":"cpus","type":"SCALAR","scalar":{"value":1}}`,
			want:  &mesospb.Resource{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: scalar(1)},
		},
		{
			name:  "range resource with 64-bit bounds",
			input: `{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":"32000"},{"begin":18446744073709551615,"end":18446744073709551615}]}}`,
			want: &mesospb.Resource{
				Name: proto.String("ports"),
				Type: mesospb.Value_RANGES.Enum(),
				Ranges: &mesospb.Value_Ranges{Range: []*mesospb.Value_Range{
					{Begin: proto.Uint64(31000), End: proto.Uint64(32000)},
					{Begin: proto.Uint64(math.MaxUint64), End: proto.Uint64(math.MaxUint64)},
				}},
			},
		},
		{
			name:  "quota limits: objects and bare values",
			input: `{"role":"dev","guarantees":{"cpus":{"value":1}},"limits":{"cpus":{"value":"Infinity"},"mem":512,"disk":"2048.5","gpus":null}}`,
			want: &quotapb.QuotaConfig{
				Role:       proto.String("dev"),
				Guarantees: map[string]*mesospb.Value_Scalar{"cpus": scalar(1)},
				Limits: map[string]*mesospb.Value_Scalar{
					"cpus": scalar(math.Inf(1)),
					"mem":  scalar(512),
					"disk": scalar(2048.5),
				},
			},
		},
		{
			name:  "command without shell stays unset on input",
			input: `{"value":"sleep 10"}`,
			want:  &mesospb.CommandInfo{Value: proto.String("sleep 10")},
		},
		{
			name:  "nulls and unknown keys",
			input: `{"user":"u","name":"n","hostname":null,"roles":null,"no_such_field":{"x":[1,2,3]},"capabilities":[]}`,
			want:  &mesospb.FrameworkInfo{User: proto.String("u"), Name: proto.String("n")},
		},
		{
			name:  "unknown enum names are dropped in optional and repeated fields",
			input: `{"task_id":{"value":"t"},"state":"TASK_RUNNING","source":"SOURCE_NOWHERE","reason":"REASON_GC_ERROR"}`,
			want: &mesospb.TaskStatus{
				TaskId: &mesospb.TaskID{Value: proto.String("t")},
				State:  mesospb.TaskState_TASK_RUNNING.Enum(),
				Reason: mesospb.TaskStatus_REASON_GC_ERROR.Enum(),
			},
		},
		{
			name:  "repeated enum drops unknown names",
			input: `{"targets":["TARGET_TYPE_FILE","TARGET_TYPE_NOPE","TARGET_TYPE_FIELD"]}`,
			want: &descriptorpb.FieldOptions{Targets: []descriptorpb.FieldOptions_OptionTargetType{
				descriptorpb.FieldOptions_TARGET_TYPE_FILE, descriptorpb.FieldOptions_TARGET_TYPE_FIELD,
			}},
		},
		{
			name:  "enum given by number",
			input: `{"task_id":{"value":"t"},"state":1}`,
			want:  &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: mesospb.TaskState_TASK_RUNNING.Enum()},
		},
		{
			name:  "descriptorpb required fields",
			input: `{"name":[{"name_part":"foo","is_extension":false}],"positive_int_value":"18446744073709551615","negative_int_value":-9223372036854775808,"double_value":"-Infinity","string_value":"AQI"}`,
			want: &descriptorpb.UninterpretedOption{
				Name:             []*descriptorpb.UninterpretedOption_NamePart{{NamePart: proto.String("foo"), IsExtension: proto.Bool(false)}},
				PositiveIntValue: proto.Uint64(math.MaxUint64),
				NegativeIntValue: proto.Int64(math.MinInt64),
				DoubleValue:      proto.Float64(math.Inf(-1)),
				StringValue:      []byte{1, 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.want.ProtoReflect().New().Interface()
			if err := UnmarshalJSON([]byte(tt.input), got); err != nil {
				t.Fatalf("UnmarshalJSON: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnmarshalJSONScalars covers the lenient scalar forms field by field.
func TestUnmarshalJSONScalars(t *testing.T) {
	tests := []struct {
		input string
		want  proto.Message
	}{
		{`{"nanoseconds":1234567890123456789}`, &mesospb.TimeInfo{Nanoseconds: proto.Int64(1234567890123456789)}},
		{`{"nanoseconds":"1234567890123456789"}`, &mesospb.TimeInfo{Nanoseconds: proto.Int64(1234567890123456789)}},
		{`{"nanoseconds":"-9223372036854775808"}`, &mesospb.TimeInfo{Nanoseconds: proto.Int64(math.MinInt64)}},
		{`{"nanoseconds":5.0}`, &mesospb.TimeInfo{Nanoseconds: proto.Int64(5)}},
		{`{"nanoseconds":1e3}`, &mesospb.TimeInfo{Nanoseconds: proto.Int64(1000)}},
		{`{"nanoseconds":"-2.0"}`, &mesospb.TimeInfo{Nanoseconds: proto.Int64(-2)}},
		{`{"value":1.5}`, scalar(1.5)},
		{`{"value":"1.5"}`, scalar(1.5)},
		{`{"value":"Infinity"}`, scalar(math.Inf(1))},
		{`{"value":"-Infinity"}`, scalar(math.Inf(-1))},
		{`{"value":-0.001}`, scalar(-0.001)},
		{`{"value":1e308}`, scalar(1e308)},
		{`{"user":"u","name":"n","checkpoint":"false","failover_timeout":"3600"}`, &mesospb.FrameworkInfo{
			User: proto.String("u"), Name: proto.String("n"), Checkpoint: proto.Bool(false), FailoverTimeout: proto.Float64(3600),
		}},
		{`{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"-_-_AQIDBAUGBwgJCgsMDQ"}`, &mesospb.TaskStatus{
			TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: mesospb.TaskState_TASK_RUNNING.Enum(), Uuid: statusUUID,
		}},
		{`{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":""}`, &mesospb.TaskStatus{
			TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: mesospb.TaskState_TASK_RUNNING.Enum(), Uuid: []byte{},
		}},
		{`{"name":"x","type":2}`, &mesospb.Resource{Name: proto.String("x"), Type: mesospb.Value_SET.Enum()}},
		{`{"value":"h\u00e9\n\"\u2028"}`, &mesospb.TaskID{Value: proto.String("hé\n\"\u2028")}},
	}
	for _, tt := range tests {
		got := tt.want.ProtoReflect().New().Interface()
		if err := UnmarshalJSON([]byte(tt.input), got); err != nil {
			t.Errorf("UnmarshalJSON(%s): %v", tt.input, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
			t.Errorf("UnmarshalJSON(%s) mismatch (-want +got):\n%s", tt.input, diff)
		}
	}

	// NaN needs its own comparison.
	var s mesospb.Value_Scalar
	if err := UnmarshalJSON([]byte(`{"value":"NaN"}`), &s); err != nil || !math.IsNaN(s.GetValue()) {
		t.Errorf(`UnmarshalJSON({"value":"NaN"}) = %v, value %v; want NaN`, err, s.GetValue())
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	deep := strings.Repeat(`{"parent":`, MaxJSONDepth) + `{"value":"x"}` + strings.Repeat(`}`, MaxJSONDepth)
	tests := []struct {
		name    string
		input   string
		msg     proto.Message
		wantErr error
		want    string // substring of the error text
	}{
		{"empty", ``, &mesospb.TaskID{}, ErrInvalidJSON, "empty document"},
		{"not json", `{"value":`, &mesospb.TaskID{}, ErrInvalidJSON, "unexpected EOF"},
		{"syntax", `{value:1}`, &mesospb.TaskID{}, ErrInvalidJSON, "invalid character"},
		{"trailing data", `{"value":"a"} {}`, &mesospb.TaskID{}, ErrInvalidJSON, "after the top-level value"},
		{"top-level array", `[]`, &mesospb.TaskID{}, ErrInvalidJSON, "expected an object, got an array"},
		{"top-level null", `null`, &mesospb.TaskID{}, ErrInvalidJSON, "expected an object, got null"},
		{"too deep", deep, &mesospb.ContainerID{}, ErrInvalidJSON, "nesting deeper than"},
		{"too deep arrays", strings.Repeat("[", 10000), &mesospb.ContainerID{}, ErrInvalidJSON, "nesting deeper than"},
		{"string for int", `{"nanoseconds":"ten"}`, &mesospb.TimeInfo{}, ErrInvalidJSON, `nanoseconds: "ten" is not an integer`},
		{"fraction for int", `{"nanoseconds":1.5}`, &mesospb.TimeInfo{}, ErrInvalidJSON, `"1.5" is not an integer`},
		{"int64 overflow", `{"nanoseconds":9223372036854775808}`, &mesospb.TimeInfo{}, ErrInvalidJSON, "out of range"},
		{"int64 float overflow", `{"nanoseconds":9.3e18}`, &mesospb.TimeInfo{}, ErrInvalidJSON, "out of range"},
		{"uint32 overflow", `{"id":"m","ip":4294967296,"port":5050}`, &mesospb.MasterInfo{}, ErrInvalidJSON, "ip: \"4294967296\" is out of range"},
		{"negative uint", `{"begin":-1,"end":2}`, &mesospb.Value_Range{}, ErrInvalidJSON, "begin: \"-1\" is out of range"},
		{"bool for int", `{"nanoseconds":true}`, &mesospb.TimeInfo{}, ErrInvalidJSON, "expected an integer, got true"},
		{"number for string", `{"value":5}`, &mesospb.TaskID{}, ErrInvalidJSON, `value: expected a string, got number "5"`},
		{"bad double", `{"value":"lots"}`, &mesospb.Value_Scalar{}, ErrInvalidJSON, `"lots" is not a number`},
		{"double overflow", `{"value":1e400}`, &mesospb.Value_Scalar{}, ErrInvalidJSON, "out of range"},
		{"bad bool", `{"user":"u","name":"n","checkpoint":"yes"}`, &mesospb.FrameworkInfo{}, ErrInvalidJSON, `checkpoint: expected a bool, got string "yes"`},
		{"bad base64", `{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"!!"}`, &mesospb.TaskStatus{}, ErrInvalidJSON, "uuid: invalid base64"},
		{"object for repeated", `{"user":"u","name":"n","roles":"a"}`, &mesospb.FrameworkInfo{}, ErrInvalidJSON, `roles: expected an array, got string "a"`},
		{"null element", `{"user":"u","name":"n","roles":["a",null]}`, &mesospb.FrameworkInfo{}, ErrInvalidJSON, "roles[1]: null array element"},
		{"nested path", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","capabilities":[{"type":7}, {"type":[]}]}}}`, &schedulerpb.Call{}, ErrInvalidJSON, "subscribe.framework_info.capabilities[1].type: expected an enum name, got an array"},
		{"unknown enum in required field", `{"name":"cpus","type":"SCALARS"}`, &mesospb.Resource{}, ErrInvalidJSON, `type: unknown mesos.v1.Value.Type value string "SCALARS"`},
		{"undeclared enum number in required field", `{"name":"cpus","type":48}`, &mesospb.Resource{}, ErrInvalidJSON, `type: unknown mesos.v1.Value.Type value number "48"`},
		{"map value type", `{"role":"r","limits":{"cpus":true}}`, &quotapb.QuotaConfig{}, ErrInvalidJSON, `limits["cpus"]: expected a number, got true`},
		{"map not object", `{"role":"r","limits":[]}`, &quotapb.QuotaConfig{}, ErrInvalidJSON, `limits: expected an object, got an array`},
		{"missing required", `{"type":"SCALAR"}`, &mesospb.Resource{}, ErrMissingRequired, "missing required fields: name"},
		{"missing nested required", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"capabilities":[{}]}}}`, &schedulerpb.Call{}, ErrMissingRequired,
			"missing required fields: subscribe.framework_info.user, subscribe.framework_info.name"},
		{"missing required in map value", `{"role":"r","limits":{"cpus":{}}}`, &quotapb.QuotaConfig{}, ErrMissingRequired, `limits["cpus"].value`},
		{"missing required in list", `{"name":[{"name_part":"x"}]}`, &descriptorpb.UninterpretedOption{}, ErrMissingRequired, "name[0].is_extension"},
		{"huge number", `{"nanoseconds":` + strings.Repeat("9", 1000) + `}`, &mesospb.TimeInfo{}, ErrInvalidJSON, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := UnmarshalJSON([]byte(tt.input), tt.msg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("UnmarshalJSON() = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("UnmarshalJSON() error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestUnmarshalJSONResets(t *testing.T) {
	m := &mesospb.TaskID{Value: proto.String("old")}
	if err := UnmarshalJSON([]byte(`{"value":"new"}`), m); err != nil {
		t.Fatal(err)
	}
	fi := &mesospb.FrameworkInfo{User: proto.String("u"), Name: proto.String("n"), Hostname: proto.String("h")}
	if err := UnmarshalJSON([]byte(`{"user":"u2","name":"n2"}`), fi); err != nil {
		t.Fatal(err)
	}
	if fi.Hostname != nil {
		t.Errorf("UnmarshalJSON kept hostname %q from before", fi.GetHostname())
	}
}

// TestMarshalJSONBytes pins the exact bytes for a few messages: for the
// encoder, key order, compactness and number formats are the contract.
func TestMarshalJSONBytes(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
		want string
	}{
		{
			name: "defaults written, deprecated default not, declaration order",
			msg:  &mesospb.FrameworkInfo{Name: proto.String("n"), User: proto.String("u")},
			want: `{"user":"u","name":"n","failover_timeout":0,"checkpoint":false}`,
		},
		{
			name: "command shell default",
			msg:  &mesospb.CommandInfo{Value: proto.String("sleep 10")},
			want: `{"shell":true,"value":"sleep 10"}`,
		},
		{
			name: "resource: enums, nested message, no deprecated role",
			msg:  &mesospb.Resource{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: scalar(0.5)},
			want: `{"name":"cpus","type":"SCALAR","scalar":{"value":0.5}}`,
		},
		{
			name: "deprecated field written when set",
			msg:  &mesospb.Resource{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(), Role: proto.String("*"), Scalar: scalar(128)},
			want: `{"name":"mem","type":"SCALAR","scalar":{"value":128},"role":"*"}`,
		},
		{
			name: "64-bit integers exact",
			msg: &mesospb.Value_Ranges{Range: []*mesospb.Value_Range{
				{Begin: proto.Uint64(1), End: proto.Uint64(math.MaxUint64)},
			}},
			want: `{"range":[{"begin":1,"end":18446744073709551615}]}`,
		},
		{
			name: "negative int64",
			msg:  &mesospb.TimeInfo{Nanoseconds: proto.Int64(math.MinInt64)},
			want: `{"nanoseconds":-9223372036854775808}`,
		},
		{
			name: "bytes base64, strings escaped",
			msg: &mesospb.TaskStatus{
				TaskId: &mesospb.TaskID{Value: proto.String("a\"b\\c\n\x01<\u2028\xff")},
				State:  mesospb.TaskState_TASK_FAILED.Enum(),
				Uuid:   statusUUID,
			},
			want: `{"task_id":{"value":"a\"b\\c\n\u0001<\u2028\ufffd"},"state":"TASK_FAILED","uuid":"+/+/AQIDBAUGBwgJCgsMDQ=="}`,
		},
		{
			name: "quota: infinity, sorted map keys",
			msg: &quotapb.QuotaConfig{
				Role:   proto.String("dev"),
				Limits: map[string]*mesospb.Value_Scalar{"mem": scalar(1e21), "cpus": scalar(math.Inf(1)), "disk": scalar(math.NaN()), "gpus": scalar(math.Inf(-1))},
			},
			want: `{"role":"dev","limits":{"cpus":{"value":"Infinity"},"disk":{"value":"NaN"},"gpus":{"value":"-Infinity"},"mem":{"value":1e+21}}}`,
		},
		{
			name: "empty repeated omitted, empty message written",
			msg:  &schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum(), Revive: &schedulerpb.Call_Revive{Roles: []string{}}},
			want: `{"type":"REVIVE","revive":{}}`,
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

// TestJSONRoundTrip checks that the dialect reads back what it writes, for
// messages that exercise every field kind.
func TestJSONRoundTrip(t *testing.T) {
	msgs := []proto.Message{
		subscribeCall(),
		&descriptorpb.FileDescriptorProto{
			Name:    proto.String("x.proto"),
			Options: &descriptorpb.FileOptions{JavaPackage: proto.String("p"), OptimizeFor: descriptorpb.FileOptions_CODE_SIZE.Enum()},
			MessageType: []*descriptorpb.DescriptorProto{{
				Name: proto.String("M"),
				Field: []*descriptorpb.FieldDescriptorProto{{
					Name: proto.String("f"), Number: proto.Int32(-5), Type: descriptorpb.FieldDescriptorProto_TYPE_SFIXED64.Enum(),
					Options: &descriptorpb.FieldOptions{Targets: []descriptorpb.FieldOptions_OptionTargetType{descriptorpb.FieldOptions_TARGET_TYPE_FILE}},
				}},
				Options: &descriptorpb.MessageOptions{UninterpretedOption: []*descriptorpb.UninterpretedOption{{
					Name:        []*descriptorpb.UninterpretedOption_NamePart{{NamePart: proto.String("n"), IsExtension: proto.Bool(true)}},
					DoubleValue: proto.Float64(math.Inf(1)), StringValue: []byte("\x00\xff"),
				}}},
			}},
		},
		&quotapb.QuotaConfig{Role: proto.String("r"), Limits: map[string]*mesospb.Value_Scalar{"cpus": scalar(math.NaN()), "": scalar(-0.0)}},
	}
	for _, m := range msgs {
		data, err := MarshalJSON(m)
		if err != nil {
			t.Fatalf("MarshalJSON(%v): %v", m, err)
		}
		got := m.ProtoReflect().New().Interface()
		if err := UnmarshalJSON(data, got); err != nil {
			t.Fatalf("UnmarshalJSON(%s): %v", data, err)
		}
		want := withDefaults(m)
		if diff := cmp.Diff(want, got, protocmp.Transform(), cmpopts.EquateNaNs()); diff != "" {
			t.Errorf("round trip of %s mismatch (-want +got):\n%s", data, diff)
		}
	}
}

// FuzzUnmarshalJSON decodes arbitrary JSON into several message types. It
// must never panic; when decoding succeeds, encoding the message and decoding
// the result must give the same message (with written-out defaults set).
func FuzzUnmarshalJSON(f *testing.F) {
	seeds := []string{
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"foo","name":"Example HTTP Framework","roles":["test"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`,
		`{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"x"},"heartbeat_interval_seconds":15}}`,
		`{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"+/+/AQIDBAUGBwgJCgsMDQ==","timestamp":"1e9"}`,
		`{"name":"cpus","type":"SCALAR","scalar":{"value":1}}`,
		`{"role":"r","limits":{"cpus":"Infinity","mem":{"value":5}}}`,
		`{"name":[{"name_part":"a","is_extension":"true"}],"positive_int_value":"18446744073709551615"}`,
		`{"message_type":[{"name":"M","field":[{"number":5.0,"label":"LABEL_REQUIRED","default_value":"x"}]}]}`,
		`{"value":"NaN"}`,
		`[[[[`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		m := fuzzMessages[int(which)%len(fuzzMessages)]()
		if err := UnmarshalJSON(data, m); err != nil {
			return
		}
		enc, err := MarshalJSON(m)
		if err != nil {
			t.Fatalf("MarshalJSON after successful decode: %v", err)
		}
		if !json.Valid(enc) {
			t.Fatalf("MarshalJSON produced invalid JSON: %s", enc)
		}
		m2 := m.ProtoReflect().New().Interface()
		if err := UnmarshalJSON(enc, m2); err != nil {
			t.Fatalf("UnmarshalJSON(%s) of own output: %v", enc, err)
		}
		if want := withDefaults(m); !proto.Equal(want, m2) {
			t.Fatalf("round trip mismatch:\ninput  %s\noutput %s\n%s", data, enc,
				cmp.Diff(want, m2, protocmp.Transform(), cmpopts.EquateNaNs()))
		}
		enc2, err := MarshalJSON(m2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzUnmarshalProtobuf decodes arbitrary bytes. It must never panic; when
// decoding succeeds, the message survives both encodings.
func FuzzUnmarshalProtobuf(f *testing.F) {
	for i, newMsg := range fuzzMessages {
		m := newMsg()
		if err := UnmarshalJSON([]byte(`{}`), m); err == nil {
			b, _ := proto.Marshal(m)
			f.Add(uint8(i), b)
		}
	}
	for i, m := range []proto.Message{subscribeCall(), &mesospb.Resource{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: scalar(1)}} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		m := fuzzMessages[int(which)%len(fuzzMessages)]()
		if err := Unmarshal(Protobuf, data, m); err != nil {
			return
		}
		b, err := Marshal(Protobuf, m)
		if err != nil {
			t.Fatalf("Marshal after successful decode: %v", err)
		}
		m2 := m.ProtoReflect().New().Interface()
		if err := Unmarshal(Protobuf, b, m2); err != nil {
			t.Fatalf("Unmarshal of own output: %v", err)
		}
		if !proto.Equal(m, m2) {
			t.Fatalf("protobuf round trip mismatch:\n%s", cmp.Diff(m, m2, protocmp.Transform(), cmpopts.EquateNaNs()))
		}
		enc, err := MarshalJSON(m)
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		if !json.Valid(enc) {
			t.Fatalf("MarshalJSON produced invalid JSON: %s", enc)
		}
		m3 := m.ProtoReflect().New().Interface()
		if err := UnmarshalJSON(enc, m3); err != nil {
			t.Fatalf("UnmarshalJSON(%s): %v", enc, err)
		}
	})
}

var fuzzMessages = []func() proto.Message{
	func() proto.Message { return &schedulerpb.Call{} },
	// The other v1 calls a client can send: the executor, operator (master)
	// and agent APIs'.
	func() proto.Message { return &executorpb.Call{} },
	func() proto.Message { return &masterpb.Call{} },
	func() proto.Message { return &agentpb.Call{} },
	func() proto.Message { return &schedulerpb.Event{} },
	func() proto.Message { return &mesospb.TaskStatus{} },
	func() proto.Message { return &mesospb.Resource{} },
	func() proto.Message { return &quotapb.QuotaConfig{} },
	func() proto.Message { return &descriptorpb.UninterpretedOption{} },
	func() proto.Message { return &descriptorpb.FileDescriptorProto{} },
	func() proto.Message { return &mesospb.Value_Scalar{} },
	func() proto.Message { return &mesospb.TaskInfo{} },
}

// TestAlwaysArrays: the state reads' lists are [] when empty, as Mesos
// writes them field by field, and every name in alwaysArrays is a real
// repeated field (a rename in the protos would otherwise go unnoticed).
func TestAlwaysArrays(t *testing.T) {
	got, err := MarshalJSON(&masterpb.Response{
		Type:     masterpb.Response_GET_STATE.Enum(),
		GetState: &masterpb.Response_GetState{GetTasks: &masterpb.Response_GetTasks{}, GetAgents: &masterpb.Response_GetAgents{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "GET_STATE", "get_state": map[string]any{
		"get_tasks":  map[string]any{"tasks": []any{}, "unreachable_tasks": []any{}, "completed_tasks": []any{}},
		"get_agents": map[string]any{"agents": []any{}, "recovered_agents": []any{}},
	}}
	var gotMap map[string]any
	if err := json.Unmarshal(got, &gotMap); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, gotMap); diff != "" {
		t.Errorf("%s (-want +got):\n%s", got, diff)
	}
	for name := range alwaysArrays {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fd, ok := d.(protoreflect.FieldDescriptor); !ok || !fd.IsList() {
			t.Errorf("%s is not a repeated field", name)
		}
	}
}
