package httpapi

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
)

// largeBody is one ~size-byte body of TestDecodeCallLargeBodyMemory.
type largeBody struct {
	mt     string // Content-Type
	body   []byte
	refuse bool // denotes more than the decode budget: a 400
}

// largeBodies are ~size-byte scheduler calls, JSON and protobuf, of the
// shapes a hostile or careless client can send: one huge string or bytes
// field, a mass of fields the Call does not have, a huge array of small
// messages (the protobuf one: empty offer IDs, 2 bytes each), and
// an array of larger messages that the decode budget lets through.
func largeBodies(t testing.TB, size int) map[string]largeBody {
	const offerID = "offer-0123456789abcdef0123456789"
	subscribe := &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{
		FrameworkInfo: &mesospb.FrameworkInfo{User: proto.String("u"), Name: proto.String(strings.Repeat("n", size))}}}
	message := &schedulerpb.Call{Type: schedulerpb.Call_MESSAGE.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
		Message: &schedulerpb.Call_Message{AgentId: &mesospb.AgentID{Value: proto.String("a")},
			ExecutorId: &mesospb.ExecutorID{Value: proto.String("e")}, Data: make([]byte, size*3/4)}}
	decline := &schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
		Decline: &schedulerpb.Call_Decline{}}
	for range size / 36 {
		decline.Decline.OfferIds = append(decline.Decline.OfferIds, &mesospb.OfferID{Value: proto.String(offerID)})
	}
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var unknownJSON strings.Builder
	unknownJSON.WriteString(`{"type":"REVIVE","junk":{`)
	for i := 0; unknownJSON.Len() < size; i++ {
		if i > 0 {
			unknownJSON.WriteByte(',')
		}
		unknownJSON.WriteString(`"k`)
		unknownJSON.WriteString(strings.Repeat("x", i%17))
		unknownJSON.WriteString(`":[1,"two",{"three":null}]`)
	}
	unknownJSON.WriteString(`}}`)
	unknownPB := marshal(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()})
	for len(unknownPB) < size {
		unknownPB = protowire.AppendTag(unknownPB, 1000, protowire.VarintType)
		unknownPB = protowire.AppendVarint(unknownPB, 1)
	}
	var declineJSON strings.Builder
	declineJSON.WriteString(`{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[`)
	for i := 0; declineJSON.Len() < size; i++ {
		if i > 0 {
			declineJSON.WriteByte(',')
		}
		declineJSON.WriteString(`{"value":"` + offerID + `"}`)
	}
	declineJSON.WriteString(`]}}`)
	// An array of messages the budget allows: offer IDs of 400 bytes.
	long := &schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String("f")},
		Decline: &schedulerpb.Call_Decline{}}
	for range size / 404 {
		long.Decline.OfferIds = append(long.Decline.OfferIds, &mesospb.OfferID{Value: proto.String(strings.Repeat("o", 400))})
	}
	longJSON, err := codec.MarshalJSON(long)
	if err != nil {
		t.Fatal(err)
	}
	var empty []byte // DECLINE of empty offer IDs: 0a 00 0a 00 ...
	for len(empty) < size {
		empty = protowire.AppendTag(empty, 1, protowire.BytesType)
		empty = protowire.AppendVarint(empty, 0)
	}
	emptyIDs := protowire.AppendTag(nil, 1, protowire.VarintType)
	emptyIDs = protowire.AppendVarint(emptyIDs, uint64(schedulerpb.Call_DECLINE))
	emptyIDs = protowire.AppendTag(emptyIDs, 5, protowire.BytesType)
	emptyIDs = protowire.AppendBytes(emptyIDs, empty)

	const j, pb = "application/json", "application/x-protobuf"
	return map[string]largeBody{
		"JSON string field": {mt: j, body: []byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"` + strings.Repeat("n", size) + `"}}}`)},
		"JSON bytes field": {mt: j, body: []byte(`{"type":"MESSAGE","framework_id":{"value":"f"},"message":{"agent_id":{"value":"a"},"executor_id":{"value":"e"},"data":"` +
			base64Zeros(size*3/4) + `"}}`)},
		"JSON unknown keys":        {mt: j, body: []byte(unknownJSON.String())},
		"JSON message array":       {mt: j, body: []byte(declineJSON.String()), refuse: true},
		"protobuf string field":    {mt: pb, body: marshal(subscribe)},
		"protobuf bytes field":     {mt: pb, body: marshal(message)},
		"protobuf unknown fields":  {mt: pb, body: unknownPB, refuse: true},
		"protobuf message array":   {mt: pb, body: marshal(decline), refuse: true},
		"protobuf empty offer IDs": {mt: pb, body: emptyIDs, refuse: true},
		"JSON long offer IDs":      {mt: j, body: longJSON},
		"protobuf long offer IDs":  {mt: pb, body: marshal(long)},
	}
}

func base64Zeros(n int) string { return strings.Repeat("AAAA", n/3) }

// TestDecodeCallLargeBodyMemory is the 60 MB body on the whole
// request path: reading the body and decoding it allocates at most 3 bytes
// per byte of body, the body itself included (6.2 and 6.9 before, with a
// generic tree of the document built twice), or the body is refused with
// a 400 having allocated no more. Bodies denoting more than 2 bytes of
// message per byte (arrays of small messages, masses of unknown protobuf
// fields, which Go's protobuf runtime keeps by appending) are refused by
// the decode budget before they are decoded. pkg/codec's
// TestUnmarshalJSONLargeBodyMemory measures the decoder alone.
func TestDecodeCallLargeBodyMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 60 MB bodies")
	}
	size := 60 << 20
	if raceEnabled {
		size = 4 << 20
	}
	for name, lb := range largeBodies(t, size) {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/scheduler", bytes.NewReader(lb.body))
			req.Header.Set("Content-Type", lb.mt)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			call := &schedulerpb.Call{}
			_, err := DecodeCall(req, call)
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(call)
			per := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(lb.body))
			t.Logf("%s: %d bytes of body, %.2f bytes allocated per byte (body included), error: %v", name, len(lb.body), per, err)
			if raceEnabled && lb.refuse {
				// 4 MB bodies are within the budget's 64 MiB allowance.
				t.Skip("under -race the bodies are too small to exceed the decode budget")
			}
			var he *Error
			switch {
			case lb.refuse && (!errors.As(err, &he) || he.Status != http.StatusBadRequest ||
				!strings.Contains(he.Message, "over budget") || !strings.Contains(he.Message, "send fewer items per call")):
				t.Errorf("DecodeCall = %v, want a 400 over budget", err)
			case !lb.refuse && err != nil:
				t.Fatal(err)
			}
			if per > 3 {
				t.Errorf("reading and decoding allocated %.2f bytes per byte of body, want <= 3", per)
			}
		})
	}
}
