package validation

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/pkg/codec"
)

// FuzzCall feeds Call whatever a client can send to /api/v1, decoded as
// protobuf and as JSON: validation answers or refuses, it never panics.
func FuzzCall(f *testing.F) {
	f.Add([]byte(`{"type":"GET_HEALTH"}`))
	f.Add([]byte(`{"type":"READ_FILE","read_file":{"path":"/x","offset":1}}`))
	f.Add([]byte(`{"type":"LAUNCH_NESTED_CONTAINER","launch_nested_container":{"container_id":{"value":"a","parent":{"value":"b"}}}}`))
	f.Add([]byte(`{"type":"KILL_NESTED_CONTAINER","kill_nested_container":{"container_id":{"value":""}}}`))
	b, _ := proto.Marshal(&agentpb.Call{Type: agentpb.Call_SET_LOGGING_LEVEL.Enum()})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		call := &agentpb.Call{}
		if proto.Unmarshal(data, call) == nil {
			_ = Call(call)
		}
		call = &agentpb.Call{}
		if codec.UnmarshalJSON(data, call) == nil {
			_ = Call(call)
		}
	})
}
