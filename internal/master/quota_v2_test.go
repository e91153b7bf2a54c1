package master

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// Mesos 1.11.0 advertises AGENT_UPDATE, AGENT_DRAINING and QUOTA_V2, but
// declares QUOTA_V2 (3) only in its v0 proto. Its v1 APIs (GET_MASTER,
// SUBSCRIBED) evolve the v0 MasterInfo into v1, where 3 is an unknown
// field: the protobuf carries it, the JSON shows {}. A Mesos 1.11 JSON
// client fails to decode the name "QUOTA_V2" (issue 9). /state is written
// from v0 and names it.

// v1Capabilities is master_info.capabilities as Mesos 1.11.0 writes it in
// v1 JSON.
var v1Capabilities = []any{
	map[string]any{"type": "AGENT_UPDATE"},
	map[string]any{"type": "AGENT_DRAINING"},
	map[string]any{},
}

func wantV1Capabilities() []*mesospb.MasterInfo_Capability {
	return []*mesospb.MasterInfo_Capability{
		{Type: mesospb.MasterInfo_Capability_AGENT_UPDATE.Enum()},
		{Type: mesospb.MasterInfo_Capability_AGENT_DRAINING.Enum()},
		{Type: mesospb.MasterInfo_Capability_Type(3).Enum()},
	}
}

func TestGetMasterCapabilitiesAsMesos1110(t *testing.T) {
	h := startMaster(t, nil)

	code, body := h.operator(`{"type":"GET_MASTER"}`, "application/json")
	if code != http.StatusOK {
		t.Fatalf("GET_MASTER: %d %s", code, body)
	}
	if strings.Contains(body, "QUOTA_V2") {
		t.Errorf("GET_MASTER JSON names QUOTA_V2, which Mesos 1.11.0's v1 proto does not declare: %s", body)
	}
	var resp struct {
		GetMaster struct {
			MasterInfo struct {
				Capabilities []any `json:"capabilities"`
			} `json:"master_info"`
		} `json:"get_master"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v1Capabilities, resp.GetMaster.MasterInfo.Capabilities); diff != "" {
		t.Errorf("GET_MASTER JSON capabilities (-want +got):\n%s", diff)
	}

	// The protobuf encoding carries the number.
	code, body = h.operator(`{"type":"GET_MASTER"}`, string(codec.Protobuf))
	if code != http.StatusOK {
		t.Fatalf("GET_MASTER protobuf: %d %s", code, body)
	}
	var pb masterpb.Response
	if err := codec.Unmarshal(codec.Protobuf, []byte(body), &pb); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantV1Capabilities(), pb.GetGetMaster().GetMasterInfo().GetCapabilities(), protocmp.Transform()); diff != "" {
		t.Errorf("GET_MASTER protobuf capabilities (-want +got):\n%s", diff)
	}

	// /state is written from the v0 MasterInfo.
	st := h.getJSON("/state")
	if diff := cmp.Diff([]any{"AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"}, st["capabilities"]); diff != "" {
		t.Errorf("/state capabilities (-want +got):\n%s", diff)
	}
}

func TestSubscribedCapabilitiesAsMesos1110(t *testing.T) {
	h := startMaster(t, nil)

	req, _ := http.NewRequest(http.MethodPost, h.url("/api/v1/scheduler"), strings.NewReader(
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE: %d", resp.StatusCode)
	}
	rec, err := recordio.NewReader(resp.Body, 1<<24).ReadRecord()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(rec), "QUOTA_V2") {
		t.Errorf("SUBSCRIBED JSON names QUOTA_V2, which Mesos 1.11.0's v1 proto does not declare: %s", rec)
	}
	var ev struct {
		Type       string `json:"type"`
		Subscribed struct {
			MasterInfo struct {
				Capabilities []any `json:"capabilities"`
			} `json:"master_info"`
		} `json:"subscribed"`
	}
	if err := json.Unmarshal(rec, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "SUBSCRIBED" {
		t.Fatalf("first event %s", rec)
	}
	if diff := cmp.Diff(v1Capabilities, ev.Subscribed.MasterInfo.Capabilities); diff != "" {
		t.Errorf("SUBSCRIBED capabilities (-want +got):\n%s", diff)
	}
}
