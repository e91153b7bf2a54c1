package httpapi

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/finite"
	"github.com/meso-project/meso/internal/pb/agentapipb"
)

// callMessages are the calls DecodeCall decodes: the v1 scheduler,
// executor, operator (master) and agent APIs', and our agent protocol's.
var callMessages = []func() proto.Message{
	func() proto.Message { return &schedulerpb.Call{} },
	func() proto.Message { return &executorpb.Call{} },
	func() proto.Message { return &masterpb.Call{} },
	func() proto.Message { return &agentpb.Call{} },
	func() proto.Message { return &agentapipb.Call{} },
}

// FuzzDecodeCall sends DecodeCall any body, as JSON and as protobuf, for
// every call type. It must never panic; it answers a 4xx *Error or a call
// with no non-finite value where none is allowed.
func FuzzDecodeCall(f *testing.F) {
	for _, s := range []string{
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","failover_timeout":"NaN"}}}`,
		`{"type":"ACCEPT","accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"limits":{"cpus":"Infinity"}}]}}]}}`,
		`{"type":"UPDATE","update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"AAAA","timestamp":"1e9"}}}`,
		`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"r","limits":{"cpus":"Infinity"}}]}}`,
		`{"type":"GET_HEALTH"}`, `{"type":1}`, `[]`, `{"a":`, ``,
	} {
		for i := range callMessages {
			f.Add(uint8(i), false, []byte(s))
		}
	}
	for i, m := range []proto.Message{
		&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()},
		&executorpb.Call{Type: executorpb.Call_MESSAGE.Enum()},
		&masterpb.Call{Type: masterpb.Call_GET_STATE.Enum()},
		&agentpb.Call{Type: agentpb.Call_GET_STATE.Enum()},
	} {
		b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), true, b)
	}
	f.Fuzz(func(t *testing.T, which uint8, protobuf bool, body []byte) {
		m := callMessages[int(which)%len(callMessages)]()
		req := httptest.NewRequest(http.MethodPost, "/api/v1", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if protobuf {
			req.Header.Set("Content-Type", "application/x-protobuf")
		}
		_, err := DecodeCall(req, m)
		if err != nil {
			var he *Error
			if !errors.As(err, &he) || he.Status < 400 || he.Status >= 500 {
				t.Fatalf("DecodeCall error %v is not a 4xx *Error", err)
			}
			return
		}
		if err := finite.Check(m); err != nil {
			t.Fatalf("DecodeCall accepted a non-finite value: %v", err)
		}
	})
}
