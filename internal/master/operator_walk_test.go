package master

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meso-project/meso/api/v1/maintenancepb"
	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/pkg/codec"
)

// postOperator posts call to /api/v1 in mt (Accept mt too) and returns the
// status and, for an answer that is not a 2xx, its body. A 2xx body is not
// read: SUBSCRIBE's is an endless stream.
func (h *harness) postOperator(mt codec.MediaType, call *masterpb.Call) (int, string) {
	h.t.Helper()
	body, err := codec.Marshal(mt, call)
	if err != nil {
		h.t.Fatalf("%s: %v", call.GetType(), err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url("/api/v1"), bytes.NewReader(body))
	req.Header.Set("Content-Type", string(mt))
	req.Header.Set("Accept", string(mt))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// walkNotImplemented are the calls the master answers 501 (UNKNOWN as
// Mesos does; the others until maintenance, draining and volumes exist).
var walkNotImplemented = []masterpb.Call_Type{
	masterpb.Call_UNKNOWN,
	masterpb.Call_GET_MAINTENANCE_STATUS, masterpb.Call_GET_MAINTENANCE_SCHEDULE,
	masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE, masterpb.Call_START_MAINTENANCE, masterpb.Call_STOP_MAINTENANCE,
	masterpb.Call_CREATE_VOLUMES, masterpb.Call_DESTROY_VOLUMES, masterpb.Call_GROW_VOLUME, masterpb.Call_SHRINK_VOLUME,
	masterpb.Call_DRAIN_AGENT,
}

// walkIDs are what the walk's calls name: goneAgent is marked gone (the
// last call), agent is reserved on, deactivated and reactivated.
type walkIDs struct{ agent, goneAgent, framework string }

func agentID(id string) *mesospb.AgentID { return &mesospb.AgentID{Value: proto.String(id)} }

// walkCall is a minimally valid call of type typ against the walk's
// cluster. A type it does not know gets its sub-message (the field named
// as the type, in lower case) set empty, so that a new call type is
// walked too — and fails the walk, naming itself, until it gets a body.
func walkCall(typ masterpb.Call_Type, ids walkIDs) *masterpb.Call {
	eng := func(name string, v float64) *mesospb.Resource {
		return &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_SCALAR.Enum(),
			Scalar: &mesospb.Value_Scalar{Value: proto.Float64(v)},
			Reservations: []*mesospb.Resource_ReservationInfo{{
				Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("eng")}}}
	}
	disk := &mesospb.Resource{Name: proto.String("disk"), Type: mesospb.Value_SCALAR.Enum(),
		Scalar: &mesospb.Value_Scalar{Value: proto.Float64(1)}}
	c := &masterpb.Call{Type: typ.Enum()}
	switch typ {
	case masterpb.Call_GET_METRICS:
		c.GetMetrics = &masterpb.Call_GetMetrics{}
	case masterpb.Call_SET_LOGGING_LEVEL:
		c.SetLoggingLevel = &masterpb.Call_SetLoggingLevel{Level: proto.Uint32(0),
			Duration: &mesospb.DurationInfo{Nanoseconds: proto.Int64(1e9)}}
	case masterpb.Call_LIST_FILES:
		c.ListFiles = &masterpb.Call_ListFiles{Path: proto.String("/master/log")}
	case masterpb.Call_READ_FILE:
		c.ReadFile = &masterpb.Call_ReadFile{Path: proto.String("/master/log"), Offset: proto.Uint64(0)}
	case masterpb.Call_UPDATE_WEIGHTS:
		c.UpdateWeights = &masterpb.Call_UpdateWeights{WeightInfos: []*mesospb.WeightInfo{
			{Role: proto.String("eng"), Weight: proto.Float64(2)}}}
	case masterpb.Call_RESERVE_RESOURCES:
		c.ReserveResources = &masterpb.Call_ReserveResources{AgentId: agentID(ids.agent),
			Resources: []*mesospb.Resource{eng("cpus", 1)}}
	case masterpb.Call_UNRESERVE_RESOURCES:
		c.UnreserveResources = &masterpb.Call_UnreserveResources{AgentId: agentID(ids.agent),
			Resources: []*mesospb.Resource{eng("cpus", 1)}}
	case masterpb.Call_CREATE_VOLUMES:
		c.CreateVolumes = &masterpb.Call_CreateVolumes{AgentId: agentID(ids.agent)}
	case masterpb.Call_DESTROY_VOLUMES:
		c.DestroyVolumes = &masterpb.Call_DestroyVolumes{AgentId: agentID(ids.agent)}
	case masterpb.Call_GROW_VOLUME:
		c.GrowVolume = &masterpb.Call_GrowVolume{AgentId: agentID(ids.agent), Volume: disk, Addition: disk}
	case masterpb.Call_SHRINK_VOLUME:
		c.ShrinkVolume = &masterpb.Call_ShrinkVolume{AgentId: agentID(ids.agent), Volume: disk,
			Subtract: &mesospb.Value_Scalar{Value: proto.Float64(1)}}
	case masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE:
		c.UpdateMaintenanceSchedule = &masterpb.Call_UpdateMaintenanceSchedule{Schedule: &maintenancepb.Schedule{}}
	case masterpb.Call_START_MAINTENANCE:
		c.StartMaintenance = &masterpb.Call_StartMaintenance{}
	case masterpb.Call_STOP_MAINTENANCE:
		c.StopMaintenance = &masterpb.Call_StopMaintenance{}
	case masterpb.Call_DRAIN_AGENT:
		c.DrainAgent = &masterpb.Call_DrainAgent{AgentId: agentID(ids.agent)}
	case masterpb.Call_DEACTIVATE_AGENT:
		c.DeactivateAgent = &masterpb.Call_DeactivateAgent{AgentId: agentID(ids.agent)}
	case masterpb.Call_REACTIVATE_AGENT:
		c.ReactivateAgent = &masterpb.Call_ReactivateAgent{AgentId: agentID(ids.agent)}
	case masterpb.Call_UPDATE_QUOTA:
		c.UpdateQuota = &masterpb.Call_UpdateQuota{QuotaConfigs: []*quotapb.QuotaConfig{{Role: proto.String("a"),
			Limits: map[string]*mesospb.Value_Scalar{"cpus": {Value: proto.Float64(1)}}}}}
	case masterpb.Call_SET_QUOTA:
		c.SetQuota = &masterpb.Call_SetQuota{QuotaRequest: &quotapb.QuotaRequest{Role: proto.String("b"),
			Guarantee: []*mesospb.Resource{{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(),
				Scalar: &mesospb.Value_Scalar{Value: proto.Float64(1)}}}}}
	case masterpb.Call_REMOVE_QUOTA:
		c.RemoveQuota = &masterpb.Call_RemoveQuota{Role: proto.String("b")}
	case masterpb.Call_TEARDOWN:
		c.Teardown = &masterpb.Call_Teardown{FrameworkId: &mesospb.FrameworkID{Value: proto.String(ids.framework)}}
	case masterpb.Call_MARK_AGENT_GONE:
		c.MarkAgentGone = &masterpb.Call_MarkAgentGone{AgentId: agentID(ids.goneAgent)}
	default:
		m := c.ProtoReflect()
		if fd := m.Descriptor().Fields().ByName(protoreflect.Name(strings.ToLower(typ.String()))); fd != nil && fd.Message() != nil {
			m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
		}
	}
	return c
}

// The acceptance walk: every Call.Type of master.proto, read from the
// enum's descriptor so that a new type is walked as soon as it exists, is
// sent with a minimally valid body in JSON and in protobuf to a real
// master over loopback. The unimplemented ones (walkNotImplemented) must be
// exactly 501 with a message naming the call; every other must be answered
// with a 2xx (so also not 501). Each encoding walks its own cluster, in the
// enum's declaration order (RESERVE before UNRESERVE, DEACTIVATE before
// REACTIVATE, SET_QUOTA before REMOVE_QUOTA, MARK_AGENT_GONE last).
//
// agent.proto's calls are walked beside the agent's v1 operator API
// (internal/agent TestOperatorCallTypes).
func TestOperatorCallWalk(t *testing.T) {
	for _, mt := range []codec.MediaType{codec.JSON, codec.Protobuf} {
		t.Run(string(mt), func(t *testing.T) {
			logFile := filepath.Join(t.TempDir(), "mesos-master.INFO")
			if err := os.WriteFile(logFile, []byte("master log\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			h := startMaster(t, func(c *Config) { c.LogFile = logFile })
			gone := h.registerAgent("cpus:2;mem:1024")
			agent := h.registerAgent("cpus:2;mem:1024")
			sched := h.subscribe(roleFramework("eng", "", false), mt)
			ids := walkIDs{agent: agent.id, goneAgent: gone.id, framework: sched.id}

			values := masterpb.Call_UNKNOWN.Descriptor().Values()
			for i := range values.Len() {
				typ := masterpb.Call_Type(values.Get(i).Number())
				code, body := h.postOperator(mt, walkCall(typ, ids))
				if slices.Contains(walkNotImplemented, typ) {
					if code != http.StatusNotImplemented {
						t.Errorf("%s: %d %s, want 501", typ, code, body)
					} else if typ != masterpb.Call_UNKNOWN && !strings.Contains(body, typ.String()+" is not implemented") {
						t.Errorf("%s: 501 %q does not name the call", typ, body)
					}
					continue
				}
				if code/100 != 2 {
					t.Errorf("%s: %d %s, want it answered (2xx)", typ, code, body)
				}
			}
		})
	}
}
