package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
)

// estimate is the estimator's sum for data decoded as md, unbounded.
func estimate(mt MediaType, data []byte, md protoreflect.MessageDescriptor) int64 {
	e := estimator{limit: math.MaxInt64}
	if mt == JSON {
		e.jsonMessage(&scanner{data: data}, md)
	} else {
		e.protoMessage(data, md, 0)
	}
	return e.sum
}

// declineCall is a DECLINE of n offer IDs whose value is value.
func declineCall(n int, value string) *schedulerpb.Call {
	ids := make([]*mesospb.OfferID, n)
	for i := range ids {
		ids[i] = &mesospb.OfferID{Value: proto.String(value)}
	}
	return &schedulerpb.Call{
		Type:        schedulerpb.Call_DECLINE.Enum(),
		FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
		Decline:     &schedulerpb.Call_Decline{OfferIds: ids},
	}
}

// emptyOfferIDs is the hostile protobuf body: a DECLINE of n
// empty offer IDs, 2 bytes each ("0a 00"). Decoded, they miss their
// required value; the budget refuses them before that is found.
func emptyOfferIDs(n int) []byte {
	inner := make([]byte, 0, 2*n)
	for range n {
		inner = protowire.AppendTag(inner, 1, protowire.BytesType)
		inner = protowire.AppendVarint(inner, 0)
	}
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(schedulerpb.Call_DECLINE))
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	return protowire.AppendBytes(b, inner)
}

// acceptCall is an ordinary large call: an ACCEPT launching n tasks of a
// few resources, a command, labels and limits, as a framework sends it.
func acceptCall(n int) *schedulerpb.Call {
	scalar := func(name string, v float64) *mesospb.Resource {
		return &mesospb.Resource{
			Name:           proto.String(name),
			Type:           mesospb.Value_SCALAR.Enum(),
			Scalar:         &mesospb.Value_Scalar{Value: proto.Float64(v)},
			AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("web")},
		}
	}
	var tasks []*mesospb.TaskInfo
	for i := range n {
		tasks = append(tasks, &mesospb.TaskInfo{
			Name:      proto.String(fmt.Sprintf("web-frontend-%d", i)),
			TaskId:    &mesospb.TaskID{Value: proto.String(fmt.Sprintf("web-frontend.%08d-1f0c-11ee-be56-0242ac120002", i))},
			AgentId:   &mesospb.AgentID{Value: proto.String("3b6c1a2e-7a3c-4f5e-9d1b-2c3d4e5f6a7b-S12")},
			Resources: []*mesospb.Resource{scalar("cpus", 0.5), scalar("mem", 256), scalar("disk", 1024)},
			Command: &mesospb.CommandInfo{
				Value: proto.String("exec ./frontend --port=$PORT0 --log-level=info --config=/etc/frontend/config.yaml"),
				Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{
					{Name: proto.String("ENVIRONMENT"), Value: proto.String("production")},
				}},
			},
			Labels: &mesospb.Labels{Labels: []*mesospb.Label{
				{Key: proto.String("team"), Value: proto.String("frontend")},
				{Key: proto.String("version"), Value: proto.String("1.2.3")},
			}},
			Limits: map[string]*mesospb.Value_Scalar{"cpus": {Value: proto.Float64(1)}},
		})
	}
	return &schedulerpb.Call{
		Type:        schedulerpb.Call_ACCEPT.Enum(),
		FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{{Value: proto.String("o")}},
			Operations: []*mesospb.Offer_Operation{{
				Type:   mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks},
			}},
		},
	}
}

func mustMarshal(t testing.TB, mt MediaType, m proto.Message) []byte {
	t.Helper()
	b, err := Marshal(mt, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnmarshalBudget: a body denoting more message than the budget is
// refused, in either encoding, with a *BudgetError; the same count of
// items under the budget decodes; ordinary large calls decode.
func TestUnmarshalBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes large bodies")
	}
	many := 1 << 20 // 136 bytes of message or more each: > 64 MiB
	def := Budget{} // DefaultBudget
	if raceEnabled {
		// The same shapes, 16 times smaller: the race detector slows
		// decoding tenfold.
		many /= 16
		def = Budget{Allowance: DefaultBudget.Allowance / 16, PerByte: DefaultBudget.PerByte}
	}
	tests := []struct {
		name   string
		mt     MediaType
		body   []byte
		budget Budget
		refuse bool
	}{
		{"protobuf: empty offer IDs over budget", Protobuf, emptyOfferIDs(many), def, true},
		{"protobuf: offer IDs over budget", Protobuf, mustMarshal(t, Protobuf, declineCall(many, "")), def, true},
		{"protobuf: offer IDs under a larger budget", Protobuf, mustMarshal(t, Protobuf, declineCall(many, "")), Budget{Allowance: 1 << 30}, false},
		{"protobuf: offer IDs without a budget", Protobuf, mustMarshal(t, Protobuf, declineCall(many, "")), NoBudget, false},
		{"protobuf: fewer offer IDs under budget", Protobuf, mustMarshal(t, Protobuf, declineCall(many/8, "")), def, false},
		{"JSON: offer IDs over budget", JSON, mustMarshal(t, JSON, declineCall(many, "")), def, true},
		{"JSON: offer IDs under a larger budget", JSON, mustMarshal(t, JSON, declineCall(many, "")), Budget{Allowance: 1 << 30}, false},
		{"JSON: fewer offer IDs under budget", JSON, mustMarshal(t, JSON, declineCall(many/8, "")), def, false},
	}
	if !raceEnabled { // ordinary calls within DefaultBudget's allowance
		tests = append(tests, []struct {
			name   string
			mt     MediaType
			body   []byte
			budget Budget
			refuse bool
		}{
			{"protobuf: ACCEPT of 5 MB", Protobuf, mustMarshal(t, Protobuf, acceptCall(13500)), Budget{}, false},
			{"JSON: ACCEPT of 5 MB", JSON, mustMarshal(t, JSON, acceptCall(6500)), Budget{}, false},
		}...)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			call := &schedulerpb.Call{}
			err := UnmarshalOptions{Budget: tc.budget}.Unmarshal(tc.mt, tc.body, call)
			est := estimate(tc.mt, tc.body, call.ProtoReflect().Descriptor())
			t.Logf("%d bytes of body, estimated %d bytes of message (%.1f per byte); limit %d", len(tc.body), est,
				float64(est)/float64(len(tc.body)), tc.budget.Limit(len(tc.body)))
			var be *BudgetError
			if !tc.refuse {
				if err != nil {
					t.Fatalf("Unmarshal: %v", err)
				}
				return
			}
			if !errors.As(err, &be) || !errors.Is(err, ErrOverBudget) {
				t.Fatalf("Unmarshal = %v, want a *BudgetError", err)
			}
			if be.Limit != tc.budget.Limit(len(tc.body)) || be.BodySize != len(tc.body) || be.Message != "mesos.v1.scheduler.Call" {
				t.Errorf("BudgetError = %+v", be)
			}
			if !strings.Contains(err.Error(), "send fewer items per call") {
				t.Errorf("error %q does not say what to do", err)
			}
			if proto.Size(call) != 0 {
				t.Errorf("a refused body left %d bytes of message", proto.Size(call))
			}
		})
	}
	// Ordinary large bodies: one huge field.
	if raceEnabled {
		return // 60 MB bodies take minutes under the race detector
	}
	for _, mt := range []MediaType{JSON, Protobuf} {
		for name, m := range map[string]*schedulerpb.Call{
			"MESSAGE with 45 MB of data": {
				Type:        schedulerpb.Call_MESSAGE.Enum(),
				FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
				Message: &schedulerpb.Call_Message{AgentId: &mesospb.AgentID{Value: proto.String("a")},
					ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")}, Data: make([]byte, 45<<20)},
			},
			"SUBSCRIBE with a 60 MB name": {
				Type: schedulerpb.Call_SUBSCRIBE.Enum(),
				Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: &mesospb.FrameworkInfo{
					User: proto.String("u"), Name: proto.String(strings.Repeat("n", 60<<20))}},
			},
		} {
			t.Run(fmt.Sprintf("%s: %s", mt, name), func(t *testing.T) {
				body := mustMarshal(t, mt, m)
				got := &schedulerpb.Call{}
				if err := Unmarshal(mt, body, got); err != nil {
					t.Fatalf("Unmarshal: %v", err)
				}
				t.Logf("%d bytes of body, estimated %d bytes of message", len(body), estimate(mt, body, got.ProtoReflect().Descriptor()))
				if want := withDefaults(m); mt == JSON && !proto.Equal(got, want) || mt == Protobuf && !proto.Equal(got, m) {
					t.Error("decoded message differs")
				}
			})
		}
	}
}

// TestEstimateCoversAllocation holds the estimator's constants to what the
// decoders really allocate (runtime.MemStats.TotalAlloc, garbage
// included), for shapes of each kind of field: the estimate must be at
// least the allocation, and not wildly more (or the budget would refuse
// bodies that fit).
func TestEstimateCoversAllocation(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures allocation; the race detector's own allocations would count")
	}
	roles := make([]string, 200000)
	for i := range roles {
		roles[i] = fmt.Sprintf("role-%d", i)
	}
	var unknown []byte // 200000 unknown fields of 3 bytes
	for range 200000 {
		unknown = protowire.AppendTag(unknown, 1000, protowire.VarintType)
		unknown = protowire.AppendVarint(unknown, 1)
	}
	shapes := map[string]*schedulerpb.Call{
		"offer IDs":       declineCall(300000, "offer-0123456789abcdef0123456789"),
		"empty offer IDs": declineCall(300000, ""),
		"ACCEPT":          acceptCall(2000),
		"unknown fields":  {Type: schedulerpb.Call_REVIVE.Enum()},
		"roles": {Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{
			FrameworkInfo: &mesospb.FrameworkInfo{User: proto.String("u"), Name: proto.String("n"), Roles: roles}}},
	}
	for name, m := range shapes {
		for _, mt := range []MediaType{JSON, Protobuf} {
			t.Run(fmt.Sprintf("%s %s", mt, name), func(t *testing.T) {
				body := mustMarshal(t, mt, m)
				if name == "unknown fields" {
					if mt == JSON {
						t.Skip("JSON skips unknown keys")
					}
					body = append(body, unknown...)
				}
				got := &schedulerpb.Call{}
				est := estimate(mt, body, got.ProtoReflect().Descriptor())
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				if err := (UnmarshalOptions{Budget: NoBudget}).Unmarshal(mt, body, got); err != nil {
					t.Fatal(err)
				}
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(got)
				alloc := int64(after.TotalAlloc - before.TotalAlloc)
				t.Logf("%d bytes of body: allocated %d (%.2f per byte), estimated %d (%.2f of the allocation)",
					len(body), alloc, float64(alloc)/float64(len(body)), est, float64(est)/float64(alloc))
				if est < alloc*9/10 {
					t.Errorf("estimated %d bytes, below the %d allocated", est, alloc)
				}
				if est > 3*alloc {
					t.Errorf("estimated %d bytes, over 3 times the %d allocated", est, alloc)
				}
			})
		}
	}
}

// FuzzProtobufBudget feeds the protobuf estimator arbitrary bytes for
// every fuzzed message type: it must never panic, and without a budget
// Unmarshal must decode exactly as the protobuf runtime does (the
// estimator only refuses; nesting deeper than MaxProtobufDepth aside).
func FuzzProtobufBudget(f *testing.F) {
	for i, m := range []proto.Message{declineCall(3, "o"), acceptCall(2), &schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()}} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(0), emptyOfferIDs(100))
	f.Add(uint8(0), []byte{0x2a, 0x04, 0x0b, 0x0c, 0x00, 0x00}) // a group in a message field
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		newMsg := fuzzMessages[int(which)%len(fuzzMessages)]
		md := newMsg().ProtoReflect().Descriptor()
		if est := estimate(Protobuf, data, md); est < 0 {
			t.Fatalf("estimate %d < 0", est)
		}
		checkProtoBound(t, data, md)
		got, want := newMsg(), newMsg()
		gotErr := UnmarshalOptions{Budget: NoBudget}.Unmarshal(Protobuf, data, got)
		if errors.Is(gotErr, ErrInvalidProtobuf) {
			return
		}
		wantErr := proto.UnmarshalOptions{AllowPartial: true}.Unmarshal(data, want)
		if wantErr == nil {
			wantErr = checkRequired(want.ProtoReflect())
		}
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("Unmarshal(%x) = %v, proto.Unmarshal %v", data, gotErr, wantErr)
		}
		if gotErr == nil && !proto.Equal(got, want) {
			t.Fatalf("Unmarshal(%x) differs from proto.Unmarshal", data)
		}
		// A tiny budget refuses or decodes, never panics.
		err := UnmarshalOptions{Budget: Budget{Allowance: 1}}.Unmarshal(Protobuf, data, newMsg())
		var be *BudgetError
		if errors.As(err, &be) && be.Limit != 1 {
			t.Fatalf("BudgetError.Limit = %d, want 1", be.Limit)
		}
	})
}

// BenchmarkEstimate is the cost of the budget's pre-pass over a body
// (MB/s), for the shapes that cost it most: many small messages.
func BenchmarkEstimate(b *testing.B) {
	md := (&schedulerpb.Call{}).ProtoReflect().Descriptor()
	for _, bc := range []struct {
		name string
		mt   MediaType
		body []byte
	}{
		{"protobuf_ACCEPT", Protobuf, mustMarshal(b, Protobuf, acceptCall(13500))},
		{"JSON_ACCEPT", JSON, mustMarshal(b, JSON, acceptCall(6500))},
		{"protobuf_offer_IDs", Protobuf, mustMarshal(b, Protobuf, declineCall(1<<20, "offer-0123456789abcdef0123456789"))},
		{"JSON_offer_IDs", JSON, mustMarshal(b, JSON, declineCall(1<<20, "offer-0123456789abcdef0123456789"))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				estimate(bc.mt, bc.body, md)
			}
		})
	}
}

// TestUnmarshalProtobufDepth: a protobuf body nesting messages deeper than
// MaxProtobufDepth is refused (the estimator recurses with the nesting);
// one within it decodes.
func TestUnmarshalProtobufDepth(t *testing.T) {
	nested := func(depth int) []byte { // DescriptorProto.nested_type, depth levels
		var b []byte
		for range depth {
			b = protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), b)
		}
		return b
	}
	for _, tc := range []struct {
		depth int
		ok    bool
	}{{MaxProtobufDepth, true}, {MaxProtobufDepth + 1, false}, {5000, false}} {
		err := Unmarshal(Protobuf, nested(tc.depth), &descriptorpb.DescriptorProto{})
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrInvalidProtobuf) {
			t.Errorf("%d levels: Unmarshal = %v, want ok: %v", tc.depth, err, tc.ok)
		}
	}
}

// checkProtoBound: the estimate of data is within what protoBoundOf(md)
// promises for a body of its size, without the bound's 2× margin.
func checkProtoBound(t *testing.T, data []byte, md protoreflect.MessageDescriptor) {
	t.Helper()
	e := estimator{limit: math.MaxInt64}
	e.protoMessage(data, md, 0)
	b := protoBoundOf(md)
	if !e.tooDeep && e.sum > int64(len(data))*b.perByte/2 {
		t.Fatalf("%s: estimate %d of a %d-byte body exceeds the bound %d per byte", md.FullName(), e.sum, len(data), b.perByte/2)
	}
}

// TestProtoBound: the bodies that cost the estimator most per byte stay
// within the bound, for every message type the fuzzers decode.
func TestProtoBound(t *testing.T) {
	var bodies [][]byte
	for num := protowire.Number(1); num <= 40; num++ {
		var empty, unknown, varints, packed []byte
		for range 50 {
			empty = protowire.AppendBytes(protowire.AppendTag(empty, num, protowire.BytesType), nil)
			unknown = protowire.AppendVarint(protowire.AppendTag(unknown, num+1000, protowire.VarintType), 1)
			varints = protowire.AppendVarint(protowire.AppendTag(varints, num, protowire.VarintType), 1)
		}
		packed = protowire.AppendBytes(protowire.AppendTag(packed, num, protowire.BytesType), bytes.Repeat([]byte{1}, 200))
		bodies = append(bodies, empty, unknown, varints, packed)
	}
	bodies = append(bodies, emptyOfferIDs(1000), mustMarshal(t, Protobuf, acceptCall(50)), mustMarshal(t, Protobuf, declineCall(50, "o")))
	for _, newMsg := range fuzzMessages {
		md := newMsg().ProtoReflect().Descriptor()
		if b := protoBoundOf(md); b.perByte <= 0 {
			t.Fatalf("%s: bound %+v", md.FullName(), b)
		}
		for _, body := range bodies {
			checkProtoBound(t, body, md)
		}
	}
	// A small ordinary call is let through without the walk; a body as
	// large as the allowance is walked.
	md := (&schedulerpb.Call{}).ProtoReflect().Descriptor()
	if !protoBoundOf(md).fits(4<<10, DefaultBudget.Limit(4<<10)) {
		t.Errorf("a 4 KiB scheduler call is walked: bound %+v", protoBoundOf(md))
	}
	if protoBoundOf(md).fits(32<<20, DefaultBudget.Limit(32<<20)) {
		t.Errorf("a 32 MiB scheduler call is not walked")
	}
}
