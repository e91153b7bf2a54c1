package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/typepb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
)

// oldMarshalJSON is MarshalJSON as it was before the per-type plans and the
// parallel encoding of big lists.
func oldMarshalJSON(m proto.Message, v0 bool) ([]byte, error) {
	rm := m.ProtoReflect()
	if err := oldCheckRequired(rm); err != nil {
		return nil, err
	}
	return oldEncoder{v0: v0}.appendMessage(nil, rm), nil
}

// oldMarshalProtobuf is Marshal(Protobuf, m) as it was.
func oldMarshalProtobuf(m proto.Message) ([]byte, error) {
	if err := oldCheckRequired(m.ProtoReflect()); err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("codec: marshal %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return b, nil
}

// oldCheckRequired is checkRequired as it was: one sequential check,
// declared reading every message through protoreflect.
func oldCheckRequired(m protoreflect.Message) error {
	if proto.CheckInitialized(m.Interface()) == nil && declared(m) {
		return nil
	}
	var missing []string
	walkRequired(m, "", &missing)
	if len(missing) == 0 {
		return nil
	}
	if len(missing) > maxMissingReported {
		missing = append(missing[:maxMissingReported], "...")
	}
	return fmt.Errorf("%w: %s", ErrMissingRequired, strings.Join(missing, ", "))
}

// oldEncoder is the encoder MarshalJSON had before it planned per message
// type and encoded big lists in parallel: the reference the new one must
// match byte for byte. It writes the Mesos JSON dialect; v0 selects the names of v0-only
// enum values (see MarshalJSONV0).
type oldEncoder struct{ v0 bool }

// known reports whether JSON shows v, a value of fd's kind: false for a
// number a closed enum does not declare.
func (e oldEncoder) known(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	if fd.Kind() != protoreflect.EnumKind || !fd.Enum().IsClosed() {
		return true
	}
	_, ok := enumValueName(fd.Enum(), v.Enum(), e.v0)
	return ok
}

func (e oldEncoder) appendMessage(b []byte, m protoreflect.Message) []byte {
	b = append(b, '{')
	first := true
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		var v protoreflect.Value
		switch {
		case fd.IsList():
			if (!m.Has(fd) || !e.anyKnown(fd, m.Get(fd).List())) && !alwaysArrays[fd.FullName()] {
				continue
			}
		case fd.IsMap():
			if !m.Has(fd) || !e.anyKnownValue(fd, m.Get(fd).Map()) {
				continue
			}
		case m.Has(fd) && e.known(fd, m.Get(fd)):
		case emitsDefault(fd):
			v = fd.Default() // unset, or an undeclared enum number
		default:
			continue
		}
		if !v.IsValid() {
			v = m.Get(fd) // the default for an unset scalar field
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, string(fd.Name()))
		b = append(b, ':')
		switch {
		case fd.IsList():
			b = e.appendList(b, fd, v.List())
		case fd.IsMap():
			b = e.appendMap(b, fd, v.Map())
		default:
			b = e.appendValue(b, fd, v)
		}
	}
	return append(b, '}')
}

// anyKnown reports whether l holds an element JSON shows.
func (e oldEncoder) anyKnown(fd protoreflect.FieldDescriptor, l protoreflect.List) bool {
	for i := range l.Len() {
		if e.known(fd, l.Get(i)) {
			return true
		}
	}
	return false
}

// anyKnownValue reports whether m holds an entry JSON shows.
func (e oldEncoder) anyKnownValue(fd protoreflect.FieldDescriptor, m protoreflect.Map) bool {
	found := false
	m.Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
		found = e.known(fd.MapValue(), v)
		return !found
	})
	return found
}

func (e oldEncoder) appendList(b []byte, fd protoreflect.FieldDescriptor, l protoreflect.List) []byte {
	b = append(b, '[')
	first := true
	for i := range l.Len() {
		if !e.known(fd, l.Get(i)) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = e.appendValue(b, fd, l.Get(i))
	}
	return append(b, ']')
}

func (e oldEncoder) appendMap(b []byte, fd protoreflect.FieldDescriptor, m protoreflect.Map) []byte {
	type entry struct {
		key string
		val protoreflect.Value
	}
	entries := make([]entry, 0, m.Len())
	m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		if e.known(fd.MapValue(), v) {
			entries = append(entries, entry{k.String(), v})
		}
		return true
	})
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	b = append(b, '{')
	for i, x := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, x.key)
		b = append(b, ':')
		b = e.appendValue(b, fd.MapValue(), x.val)
	}
	return append(b, '}')
}

// appendValue writes one singular value of fd's kind.
func (e oldEncoder) appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32)
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64)
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"')
	case protoreflect.EnumKind:
		if name, ok := enumValueName(fd.Enum(), v.Enum(), e.v0); ok {
			return appendString(b, string(name))
		}
		// An open (proto3) enum may hold an undeclared number; closed ones
		// never get here (see known).
		return strconv.AppendInt(b, int64(v.Enum()), 10)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return e.appendMessage(b, v.Message())
	}
	panic(fmt.Sprintf("codec: unknown field kind %v", fd.Kind()))
}

// syntheticGetState is a master's GET_STATE answer with tasks tasks, ten
// per agent, one executor per task and ten frameworks, in the shapes the
// master builds (resources with reservations, ranges and sets, statuses
// with container statuses, labels) plus what the dialect treats specially:
// unset fields with defaults, closed enums holding undeclared numbers, maps,
// NaN and infinite floats, bytes, strings needing escapes.
func syntheticGetState(tasks int) *masterpb.Response {
	const perAgent, frameworks = 10, 10
	agents := (tasks + perAgent - 1) / perAgent
	labels := func(k, v string) *mesospb.Labels {
		return &mesospb.Labels{Labels: []*mesospb.Label{{Key: proto.String(k), Value: proto.String(v)}, {Key: proto.String("empty")}}}
	}
	res := func(i int) []*mesospb.Resource {
		return []*mesospb.Resource{
			{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(), Scalar: scalar(0.1 * float64(i%7+1)),
				AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("*")}},
			{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(), Scalar: scalar(32),
				Reservations: []*mesospb.Resource_ReservationInfo{{
					Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("dev/" + strconv.Itoa(i%3)),
					Principal: proto.String("ops"), Labels: labels("reserved-by", "me\u2028"),
				}}},
			{Name: proto.String("ports"), Type: mesospb.Value_RANGES.Enum(), Ranges: &mesospb.Value_Ranges{Range: []*mesospb.Value_Range{
				{Begin: proto.Uint64(31000 + uint64(i%100)), End: proto.Uint64(31000 + uint64(i%100))},
				{Begin: proto.Uint64(32000), End: proto.Uint64(math.MaxUint64)},
			}}},
			{Name: proto.String("zones"), Type: mesospb.Value_SET.Enum(), Set: &mesospb.Value_Set{Item: []string{"a", "b\"c"}}},
		}
	}
	fid := func(i int) *mesospb.FrameworkID {
		return &mesospb.FrameworkID{Value: proto.String(fmt.Sprintf("framework-%02d", i%frameworks))}
	}
	aid := func(i int) *mesospb.AgentID {
		return &mesospb.AgentID{Value: proto.String(fmt.Sprintf("agent-%06d", i))}
	}
	task := func(i int) *mesospb.Task {
		a := i / perAgent
		tid := &mesospb.TaskID{Value: proto.String(fmt.Sprintf("task-%06d-%02d", a, i%perAgent))}
		status := &mesospb.TaskStatus{
			TaskId: tid, State: mesospb.TaskState_TASK_RUNNING.Enum(), Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
			AgentId: aid(a), ExecutorId: &mesospb.ExecutorID{Value: tid.Value}, Timestamp: proto.Float64(1.7e9 + float64(i)/3),
			Uuid: []byte{byte(i), byte(i >> 8), 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
			ContainerStatus: &mesospb.ContainerStatus{
				ContainerId:  &mesospb.ContainerID{Value: proto.String(fmt.Sprintf("c%06d%02d-0000-0000-0000-000000000000", a, i%perAgent))},
				NetworkInfos: []*mesospb.NetworkInfo{{IpAddresses: []*mesospb.NetworkInfo_IPAddress{{IpAddress: proto.String("10.0.0.1")}}, Labels: labels("net", "x")}},
			},
		}
		t := &mesospb.Task{
			Name: proto.String("sleep\n" + strconv.Itoa(i)), TaskId: tid, FrameworkId: fid(i), ExecutorId: status.ExecutorId, AgentId: aid(a),
			State: mesospb.TaskState_TASK_RUNNING.Enum(), Resources: res(i), Statuses: []*mesospb.TaskStatus{status},
			StatusUpdateState: mesospb.TaskState_TASK_RUNNING.Enum(), StatusUpdateUuid: status.Uuid,
			User: proto.String("root"), Labels: labels("task", strconv.Itoa(i)),
		}
		switch i % 5 {
		case 1:
			// Closed enums holding undeclared numbers: a singular field
			// skipped, a reason too.
			t.StatusUpdateState = mesospb.TaskState(999).Enum()
			status.Reason = mesospb.TaskStatus_Reason(1234).Enum()
			status.Message = proto.String("bad <thing> & \x01\xff")
		case 2:
			t.Limits = map[string]*mesospb.Value_Scalar{"cpus": scalar(math.Inf(1)), "mem": scalar(math.NaN()), "disk": scalar(-math.Inf(1)), "gpus": scalar(1e21)}
			status.Data = []byte("\x00\x01binary")
			status.Healthy = proto.Bool(false)
		case 3:
			t.Statuses = append(t.Statuses, &mesospb.TaskStatus{TaskId: tid, State: mesospb.TaskState_TASK_STAGING.Enum(), Timestamp: proto.Float64(math.NaN())})
			t.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Hostname: proto.String("h")}
		}
		return t
	}
	gs := &masterpb.Response_GetState{
		GetTasks:      &masterpb.Response_GetTasks{},
		GetExecutors:  &masterpb.Response_GetExecutors{},
		GetFrameworks: &masterpb.Response_GetFrameworks{},
		GetAgents:     &masterpb.Response_GetAgents{},
	}
	for i := range tasks {
		t := task(i)
		if i%50 == 49 {
			t.State = mesospb.TaskState_TASK_FINISHED.Enum()
			gs.GetTasks.CompletedTasks = append(gs.GetTasks.CompletedTasks, t)
		} else {
			gs.GetTasks.Tasks = append(gs.GetTasks.Tasks, t)
		}
		gs.GetExecutors.Executors = append(gs.GetExecutors.Executors, &masterpb.Response_GetExecutors_Executor{
			AgentId: t.AgentId,
			ExecutorInfo: &mesospb.ExecutorInfo{
				Type: mesospb.ExecutorInfo_CUSTOM.Enum(), ExecutorId: t.ExecutorId, FrameworkId: t.FrameworkId,
				Command:   &mesospb.CommandInfo{Value: proto.String("exec ./executor"), Environment: &mesospb.Environment{}}, // shell: its default
				Resources: res(i)[:2], Data: []byte{byte(i)},
			},
		})
	}
	for i := range frameworks {
		info := &mesospb.FrameworkInfo{
			Id: fid(i), Name: proto.String(fmt.Sprintf("fw-%02d", i)), User: proto.String("root"), Roles: []string{"*", "dev/0"},
			Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}, {Type: mesospb.FrameworkInfo_Capability_Type(77).Enum()}},
			Labels:       labels("fw", "y"),
		} // failover_timeout and checkpoint: their defaults
		gs.GetFrameworks.Frameworks = append(gs.GetFrameworks.Frameworks, &masterpb.Response_GetFrameworks_Framework{
			FrameworkInfo: info, Active: proto.Bool(true), Connected: proto.Bool(i%2 == 0), Recovered: proto.Bool(false),
			RegisteredTime: &mesospb.TimeInfo{Nanoseconds: proto.Int64(int64(i) * 1e9)},
		})
	}
	for i := range agents {
		gs.GetAgents.Agents = append(gs.GetAgents.Agents, &masterpb.Response_GetAgents_Agent{
			AgentInfo: &mesospb.AgentInfo{
				Id: aid(i), Hostname: proto.String("10.0.0.1"), Port: proto.Int32(int32(10000 + i)), Resources: res(i),
				Attributes: []*mesospb.Attribute{{Name: proto.String("rack"), Type: mesospb.Value_TEXT.Enum(), Text: &mesospb.Value_Text{Value: proto.String("r1")}}},
			},
			Active: proto.Bool(true), Version: proto.String("1.11.0"), Pid: proto.String("slave(1)@10.0.0.1:" + strconv.Itoa(10000+i)),
			TotalResources: res(i), AllocatedResources: res(i + 1),
			Capabilities: []*mesospb.AgentInfo_Capability{{Type: mesospb.AgentInfo_Capability_MULTI_ROLE.Enum()}, {Type: mesospb.AgentInfo_Capability_Type(99).Enum()}},
		})
	}
	return &masterpb.Response{Type: masterpb.Response_GET_STATE.Enum(), GetState: gs}
}

// equivMessages are messages of the existing tests, testdata and the
// synthetic GET_STATE, small and large.
func equivMessages(t testing.TB) []proto.Message {
	msgs := []proto.Message{
		testMasterInfo(), &mesospb.MasterInfo_Capability{Type: quotaV2.Enum()}, subscribeCall(),
		&mesospb.CapabilityInfo{Capabilities: []mesospb.CapabilityInfo_Capability{mesospb.CapabilityInfo_CHOWN, 1038, mesospb.CapabilityInfo_KILL}},
		&mesospb.FrameworkInfo{Name: proto.String("n"), User: proto.String("u")},
		&mesospb.CommandInfo{Value: proto.String("sleep 10")},
		&masterpb.Response{Type: masterpb.Response_GET_STATE.Enum(),
			GetState: &masterpb.Response_GetState{GetTasks: &masterpb.Response_GetTasks{}, GetAgents: &masterpb.Response_GetAgents{}}},
		&agentpb.Response{Type: agentpb.Response_GET_STATE.Enum(), GetState: &agentpb.Response_GetState{
			GetTasks: &agentpb.Response_GetTasks{}, GetExecutors: &agentpb.Response_GetExecutors{}, GetFrameworks: &agentpb.Response_GetFrameworks{}}},
		syntheticGetState(0), syntheticGetState(7), syntheticGetState(1000), syntheticGetState(3001),
		// proto3: fields without presence, open enums, oneofs, maps.
		wrapperspb.Double(math.Copysign(0, -1)), wrapperspb.Double(0), wrapperspb.Bytes([]byte{}), wrapperspb.Bytes([]byte{0}),
		wrapperspb.Float(float32(math.Inf(-1))), wrapperspb.UInt64(math.MaxUint64), wrapperspb.Int32(-1), wrapperspb.Bool(false),
		&typepb.Type{Name: "t", Fields: []*typepb.Field{
			{Kind: typepb.Field_TYPE_BOOL, Cardinality: 7, Number: -3, Packed: true, JsonName: "x\u2029"},
			{Options: []*typepb.Option{{Name: "o", Value: &anypb.Any{TypeUrl: "u", Value: []byte("\xff")}}}},
		}, Oneofs: []string{"", "a"}, Syntax: typepb.Syntax(9)},
		func() proto.Message {
			s, _ := structpb.NewStruct(map[string]any{"a": 1.5, "b": []any{"x", nil, true}, "c": map[string]any{"d": math.NaN()}})
			return s
		}(),
	}
	// A GET_STATE whose big list sits behind the Response alone, and one
	// in a GET_TASKS answer.
	big := syntheticGetState(1500)
	msgs = append(msgs,
		&masterpb.Response{Type: masterpb.Response_GET_TASKS.Enum(), GetTasks: big.GetState.GetTasks},
		&masterpb.Response{Type: masterpb.Response_GET_EXECUTORS.Enum(), GetExecutors: big.GetState.GetExecutors},
		big.GetState, big.GetState.GetAgents)
	for _, newMsg := range fuzzMessages {
		m := newMsg()
		if err := UnmarshalJSON([]byte(`{}`), m); err == nil {
			msgs = append(msgs, m)
		}
	}
	// The fuzz corpora's inputs, decoded as protobuf into every fuzzed type.
	files, _ := filepath.Glob("testdata/fuzz/*/*")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			s, ok := strings.CutPrefix(line, "[]byte(")
			if !ok {
				continue
			}
			v, err := strconv.Unquote(strings.TrimSuffix(s, ")"))
			if err != nil {
				continue
			}
			for _, newMsg := range fuzzMessages {
				m := newMsg()
				if (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal([]byte(v), m) == nil {
					msgs = append(msgs, m)
				}
				m = newMsg()
				if UnmarshalJSON([]byte(v), m) == nil {
					msgs = append(msgs, m)
				}
			}
		}
	}
	return msgs
}

// parallelMins are thresholds at which big lists are split: tiny ones
// split every list of the test messages.
var parallelMins = []int{1, 2, 5, minParallel}

func checkJSONEquivalent(t testing.TB, m proto.Message) {
	t.Helper()
	for _, v0 := range []bool{false, true} {
		want, wantErr := oldMarshalJSON(m, v0)
		for _, pmin := range parallelMins {
			got, err := marshalJSON(m, v0, pmin, true)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("%s (v0 %v, min %d): error %v, the old encoder %v", m.ProtoReflect().Descriptor().FullName(), v0, pmin, err, wantErr)
			}
			if !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Fatalf("%s (v0 %v, min %d): differs from the old encoder at byte %d of %d/%d:\nnew %q\nold %q",
					m.ProtoReflect().Descriptor().FullName(), v0, pmin, i, len(got), len(want),
					got[max(0, i-80):min(len(got), i+80)], want[max(0, i-80):min(len(want), i+80)])
			}
		}
	}
}

// hasMapEntries reports whether m holds a map with more than one entry,
// whose protobuf encoding's order is random.
func hasMapEntries(m protoreflect.Message) bool {
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			found = v.Map().Len() > 1
			if !found && isMessage(fd.MapValue()) {
				v.Map().Range(func(_ protoreflect.MapKey, e protoreflect.Value) bool {
					found = hasMapEntries(e.Message())
					return !found
				})
			}
		case fd.IsList() && isMessage(fd):
			for i := range v.List().Len() {
				if found = hasMapEntries(v.List().Get(i).Message()); found {
					break
				}
			}
		case isMessage(fd):
			found = hasMapEntries(v.Message())
		}
		return !found
	})
	return found
}

func checkProtobufEquivalent(t testing.TB, m proto.Message) {
	t.Helper()
	want, wantErr := oldMarshalProtobuf(m)
	for _, pmin := range parallelMins {
		got, err := marshalProtobuf(m, pmin)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("%s (min %d): error %v, proto.Marshal %v", m.ProtoReflect().Descriptor().FullName(), pmin, err, wantErr)
		}
		if err != nil {
			continue
		}
		// Go's marshal writes maps in random order: byte identity only
		// without them, equality after decoding always.
		if !hasMapEntries(m.ProtoReflect()) && !bytes.Equal(got, want) {
			t.Fatalf("%s (min %d): %d bytes differ from proto.Marshal's %d", m.ProtoReflect().Descriptor().FullName(), pmin, len(got), len(want))
		}
		back := m.ProtoReflect().New().Interface()
		if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(got, back); err != nil {
			t.Fatalf("%s (min %d): decode: %v", m.ProtoReflect().Descriptor().FullName(), pmin, err)
		}
		if !proto.Equal(m, back) {
			diff := cmp.Diff(m, back, protocmp.Transform(), cmpopts.EquateNaNs())
			t.Fatalf("%s (min %d): decoded differs (-in +out):\n%s", m.ProtoReflect().Descriptor().FullName(), pmin, diff)
		}
	}
}

// TestMarshalEquivalent: the JSON encoder writes, byte for byte, what the
// old one wrote, and the protobuf encoding is proto.Marshal's, for the
// tests' messages, the fuzz corpora and synthetic GET_STATEs, whether or
// not big lists are encoded in parallel.
func TestMarshalEquivalent(t *testing.T) {
	for i, m := range equivMessages(t) {
		t.Run(fmt.Sprintf("%d_%s", i, m.ProtoReflect().Descriptor().Name()), func(t *testing.T) {
			checkJSONEquivalent(t, m)
			checkProtobufEquivalent(t, m)
		})
	}
}

// TestMarshalMissingRequiredInBigList: a required field missing deep in a
// list encoded in parallel is reported with the same text as before.
func TestMarshalMissingRequiredInBigList(t *testing.T) {
	for _, at := range []int{0, 3, 1900} {
		m := syntheticGetState(2000)
		m.GetState.GetTasks.Tasks[at].TaskId = nil
		m.GetState.GetExecutors.Executors[at].ExecutorInfo.Command.Value = proto.String("x") // still complete
		m.GetState.GetAgents.Agents[at/10].AgentInfo.Resources[0].Type = mesospb.Value_Type(42).Enum()
		_, want := oldMarshalProtobuf(m)
		if want == nil || !strings.Contains(want.Error(), fmt.Sprintf("get_state.get_tasks.tasks[%d].task_id", at)) {
			t.Fatalf("old check: %v", want)
		}
		for _, pmin := range parallelMins {
			if _, err := marshalProtobuf(m, pmin); fmt.Sprint(err) != want.Error() {
				t.Errorf("protobuf, min %d: %v, want %v", pmin, err, want)
			}
			if _, err := marshalJSON(m, false, pmin, true); fmt.Sprint(err) != want.Error() {
				t.Errorf("JSON, min %d: %v, want %v", pmin, err, want)
			}
		}
	}
}

// FuzzMarshalJSONEquivalent decodes arbitrary bytes as protobuf into
// several message types and holds both encoders to the old ones.
func FuzzMarshalJSONEquivalent(f *testing.F) {
	for i, m := range []proto.Message{subscribeCall(), testMasterInfo(), syntheticGetState(3)} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	types := append(slices.Clone(fuzzMessages),
		func() proto.Message { return &typepb.Type{} },
		func() proto.Message { return &structpb.Struct{} },
		func() proto.Message { return &wrapperspb.DoubleValue{} },
		func() proto.Message { return &masterpb.Response{} },
		func() proto.Message { return &agentpb.Response{} },
		func() proto.Message { return &mesospb.MasterInfo{} })
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		m := types[int(which)%len(types)]()
		if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(data, m); err != nil {
			return
		}
		checkJSONEquivalent(t, m)
		checkProtobufEquivalent(t, m)
	})
}

// BenchmarkMarshalGetState encodes a 20,000-task GET_STATE (about a
// master's of 2,000 agents) with the old encoders and the current ones.
func BenchmarkMarshalGetState(b *testing.B) {
	m := syntheticGetState(20000)
	for _, enc := range []struct {
		name string
		f    func() ([]byte, error)
	}{
		{"old/json", func() ([]byte, error) { return oldMarshalJSON(m, false) }},
		{"old/protobuf", func() ([]byte, error) { return oldMarshalProtobuf(m) }},
		{"json", func() ([]byte, error) { return MarshalJSON(m) }},
		{"protobuf", func() ([]byte, error) { return Marshal(Protobuf, m) }},
	} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				out, err := enc.f()
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.SetBytes(int64(n))
		})
	}
}

var _ = base64.StdEncoding

// BenchmarkMarshalSmall is the cost of the encoders on the small messages
// most calls answer with: the plans and the look for big lists must not
// make them slower.
func BenchmarkMarshalSmall(b *testing.B) {
	status := syntheticGetState(1).GetState.GetTasks.Tasks[0].Statuses[0]
	for _, c := range []struct {
		name string
		m    proto.Message
	}{{"subscribe", subscribeCall()}, {"status", status}} {
		for _, enc := range []struct {
			name string
			f    func() ([]byte, error)
		}{
			{"old/json", func() ([]byte, error) { return oldMarshalJSON(c.m, false) }},
			{"old/protobuf", func() ([]byte, error) { return oldMarshalProtobuf(c.m) }},
			{"json", func() ([]byte, error) { return MarshalJSON(c.m) }},
			{"protobuf", func() ([]byte, error) { return Marshal(Protobuf, c.m) }},
		} {
			b.Run(c.name+"/"+enc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := enc.f(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMarshalListSize compares, for GET_STATEs of a few sizes, the
// encoders with big lists split (at minParallel elements) and not: where
// splitting starts to pay is where minParallel belongs.
func BenchmarkMarshalListSize(b *testing.B) {
	for _, n := range []int{128, 512, 2048} {
		m := syntheticGetState(n)
		for _, par := range []struct {
			name string
			min  int
		}{{"parallel", 1}, {"sequential", math.MaxInt}} {
			b.Run(fmt.Sprintf("%d/json/%s", n, par.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := marshalJSON(m, false, par.min, true); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%d/protobuf/%s", n, par.name), func(b *testing.B) {
				for b.Loop() {
					if _, err := marshalProtobuf(m, par.min); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestMarshalJSONRequiredInExtension: a required field missing in an
// extension, which the encoder does not write, is still an error.
func TestMarshalJSONRequiredInExtension(t *testing.T) {
	xt := dynamicExtension(t)
	m := &descriptorpb.FieldOptions{}
	proto.SetExtension(m, xt, xt.New().Message().Interface()) // its required field unset
	_, want := oldMarshalJSON(m, false)
	if want == nil {
		t.Fatal("the old encoder accepted a missing required field in an extension")
	}
	if _, err := MarshalJSON(m); fmt.Sprint(err) != want.Error() {
		t.Errorf("MarshalJSON: %v, want %v", err, want)
	}
}

// dynamicExtension is an extension of FieldOptions holding a message with a
// required field.
func dynamicExtension(t *testing.T) protoreflect.ExtensionType {
	t.Helper()
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("codec_ext_test.proto"), Package: proto.String("codectest"), Syntax: proto.String("proto2"),
		Dependency: []string{"google/protobuf/descriptor.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Req"), Field: []*descriptorpb.FieldDescriptorProto{{
			Name: proto.String("x"), Number: proto.Int32(1),
			Label: descriptorpb.FieldDescriptorProto_LABEL_REQUIRED.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
		}}}},
		Extension: []*descriptorpb.FieldDescriptorProto{{
			Name: proto.String("req"), Number: proto.Int32(50000),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
			TypeName: proto.String(".codectest.Req"), Extendee: proto.String(".google.protobuf.FieldOptions"),
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return dynamicpb.NewExtensionType(fd.Extensions().Get(0))
}

// TestMarshalOneProc: with one processor nothing is split, and the
// encodings are the same.
func TestMarshalOneProc(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	m := syntheticGetState(700)
	checkJSONEquivalent(t, m)
	checkProtobufEquivalent(t, m)
}

// chunkRecorder records the writes it gets, copied (an Encoding reuses
// its buffers), and fails after failAfter bytes when that is positive.
type chunkRecorder struct {
	writes    int
	buf       bytes.Buffer
	failAfter int
}

func (r *chunkRecorder) Write(p []byte) (int, error) {
	if r.failAfter > 0 && r.buf.Len()+len(p) > r.failAfter {
		return 0, errors.New("client went away")
	}
	r.writes++
	return r.buf.Write(p)
}

// TestEncoding: an Encoding written is Marshal's bytes, with its length
// known up front for protobuf; a big answer is written in many writes
// (as it is encoded, not whole); a writer's error ends the writing.
func TestEncoding(t *testing.T) {
	for _, tasks := range []int{10, 3000} {
		m := syntheticGetState(tasks)
		for _, mt := range []MediaType{JSON, Protobuf} {
			want, err := Marshal(mt, m)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := NewEncoding(mt, m)
			if err != nil {
				t.Fatal(err)
			}
			if n := enc.Len(); n != -1 && n != len(want) || n == -1 && mt == Protobuf {
				t.Errorf("%s, %d tasks: Len %d for %d bytes", mt, tasks, n, len(want))
			}
			var rec chunkRecorder
			n, err := enc.WriteTo(&rec)
			if err != nil || n != int64(rec.buf.Len()) {
				t.Fatalf("%s, %d tasks: WriteTo = %d, %v; %d bytes written", mt, tasks, n, err, rec.buf.Len())
			}
			big := tasks >= minParallel && runtime.GOMAXPROCS(0) > 1
			if big && rec.writes < 3 {
				t.Errorf("%s, %d tasks: %d writes: not written as encoded", mt, tasks, rec.writes)
			}
			got := rec.buf.Bytes()
			if mt == Protobuf {
				// Protobuf writes map entries in no fixed order: compare
				// what the bytes decode to.
				back := &masterpb.Response{}
				if err := proto.Unmarshal(got, back); err != nil || !proto.Equal(back, m) || len(got) != len(want) {
					t.Errorf("%s, %d tasks: the writes do not decode to the message (%v)", mt, tasks, err)
				}
			} else if !bytes.Equal(got, want) {
				t.Errorf("%s, %d tasks: the writes differ from Marshal's bytes (%d and %d bytes)", mt, tasks, len(got), len(want))
			}
			if !big {
				continue
			}
			enc, err = NewEncoding(mt, m)
			if err != nil {
				t.Fatal(err)
			}
			failing := &chunkRecorder{failAfter: len(want) / 3}
			if _, err := enc.WriteTo(failing); err == nil || err.Error() != "client went away" {
				t.Errorf("%s: WriteTo to a failing writer = %v, want its error", mt, err)
			}
		}
	}
	if _, err := NewEncoding(MediaType("text/plain"), syntheticGetState(1)); err == nil {
		t.Error("NewEncoding of text/plain succeeded")
	}
}

// TestEncodingMissingRequired: a big message missing a required field is
// refused by NewEncoding, before anything is written, with Marshal's
// error.
func TestEncodingMissingRequired(t *testing.T) {
	m := syntheticGetState(2000)
	m.GetGetState().GetGetTasks().GetTasks()[1500].TaskId = nil
	for _, mt := range []MediaType{JSON, Protobuf} {
		_, want := Marshal(mt, m)
		if want == nil {
			t.Fatalf("%s: Marshal of a task without its ID succeeded", mt)
		}
		if _, err := NewEncoding(mt, m); err == nil || err.Error() != want.Error() {
			t.Errorf("%s: NewEncoding = %v, want %v", mt, err, want)
		}
	}
}

// TestMarshalNilMessages: a typed nil message, at the top or as a list's
// element, is written as the old encoder wrote it (an empty message, its
// defaults), never a panic. `meso weights get --json` marshalled a nil
// *Response_GetWeights.
func TestMarshalNilMessages(t *testing.T) {
	for _, m := range []proto.Message{
		(*masterpb.Response_GetWeights)(nil),
		(*mesospb.CommandInfo)(nil), // has a field with a default (shell)
		&masterpb.Response_GetWeights{WeightInfos: []*mesospb.WeightInfo{nil, {Role: proto.String("r")}}},
		&mesospb.Labels{Labels: make([]*mesospb.Label, 600)}, // the parallel encoder's size
	} {
		want, wantErr := oldMarshalJSON(m, false)
		got, err := MarshalJSON(m)
		if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
			t.Errorf("MarshalJSON(%T) = %s, %v; the old encoder: %s, %v", m, got, err, want, wantErr)
		}
		if _, err := Marshal(Protobuf, m); err != nil && wantErr == nil {
			t.Logf("Marshal(protobuf, %T): %v", m, err)
		}
	}
}

// TestEncodingUnchecked: NewEncodingUnchecked writes what NewEncoding
// writes for a complete message, small or big, and writes a message
// lacking a required field without it instead of failing.
func TestEncodingUnchecked(t *testing.T) {
	write := func(enc *Encoding) []byte {
		t.Helper()
		var rec chunkRecorder
		if _, err := enc.WriteTo(&rec); err != nil {
			t.Fatal(err)
		}
		return rec.buf.Bytes()
	}
	for _, tasks := range []int{10, 3000} {
		m := syntheticGetState(tasks)
		for _, mt := range []MediaType{JSON, Protobuf} {
			enc, err := NewEncodingUnchecked(mt, m)
			if err != nil {
				t.Fatal(err)
			}
			got := write(enc)
			if mt == JSON {
				if want, _ := Marshal(mt, m); !bytes.Equal(got, want) {
					t.Errorf("%s, %d tasks: the encoding differs from Marshal's", mt, tasks)
				}
			} else if back := (&masterpb.Response{}); proto.Unmarshal(got, back) != nil || !proto.Equal(back, m) {
				t.Errorf("%s, %d tasks: the encoding does not decode to the message", mt, tasks)
			}
			if n := enc.Len(); n >= 0 && n != len(got) {
				t.Errorf("%s, %d tasks: Len %d for %d bytes", mt, tasks, n, len(got))
			}
		}
		complete, err := MarshalJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		m.GetGetState().GetGetTasks().GetTasks()[tasks/2].TaskId = nil
		enc, err := NewEncodingUnchecked(Protobuf, m)
		if err != nil {
			t.Fatalf("protobuf, %d tasks, one without its ID: %v", tasks, err)
		}
		back := &masterpb.Response{}
		if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(write(enc), back); err != nil || !proto.Equal(back, m) {
			t.Errorf("protobuf, %d tasks, one without its ID: the encoding does not decode to the message (%v)", tasks, err)
		}
		if enc, err = NewEncodingUnchecked(JSON, m); err != nil {
			t.Fatalf("JSON, %d tasks, one without its ID: %v", tasks, err)
		}
		got := write(enc)
		if !json.Valid(got) || bytes.Count(got, []byte(`"task_id":`)) != bytes.Count(complete, []byte(`"task_id":`))-1 {
			t.Errorf("JSON, %d tasks, one without its ID: not the message without that ID: %.300s", tasks, got)
		}
	}
}
