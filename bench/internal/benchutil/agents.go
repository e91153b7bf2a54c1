package benchutil

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
)

// The agent protocol's media type and stream header, as internal/agent
// uses them.
const (
	ContentTypeProtobuf = "application/x-protobuf"
	StreamIDHeader      = "Mesos-Stream-Id"
)

// AgentCapabilities are internal/agent's, which simulated agents report.
var AgentCapabilities = []mesospb.AgentInfo_Capability_Type{
	mesospb.AgentInfo_Capability_MULTI_ROLE,
	mesospb.AgentInfo_Capability_HIERARCHICAL_ROLE,
	mesospb.AgentInfo_Capability_RESERVATION_REFINEMENT,
	mesospb.AgentInfo_Capability_TASK_RESOURCE_LIMITS,
}

// Pong answers a master's PING for the agent id on the stream streamID: a
// PONG call POSTed to url (the master's /master/internal/agent) with do.
func Pong(ctx context.Context, do func(*http.Request) (*http.Response, error), url, streamID string, id *mesospb.AgentID) error {
	body, err := proto.Marshal(&agentapipb.Call{Type: agentapipb.Call_PONG.Enum(), AgentId: id})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ContentTypeProtobuf)
	req.Header.Set("Accept", ContentTypeProtobuf)
	req.Header.Set(StreamIDHeader, streamID)
	resp, err := do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return resp.Body.Close()
}
