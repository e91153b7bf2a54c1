package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
)

// Operator reservations end to end: POST /reserve rescinds the offer that
// holds the resources, the agent checkpoints the reservation, a revived
// framework of the role is offered it; UNRESERVE_RESOURCES gives it back.
func TestOperatorReserveUnreserve(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.JSON, roleFramework("reserver", "eng"))
	offer := s.next(schedulerpb.Event_OFFERS, 15*time.Second).GetOffers().GetOffers()[0]
	agentID := offer.GetAgentId().GetValue()

	const engRes = `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"eng","reservation":{"principal":"ops"}},` +
		`{"name":"mem","type":"SCALAR","scalar":{"value":256},"role":"eng","reservation":{"principal":"ops"}}]`
	form := url.Values{"slaveId": {agentID}, "resources": {engRes}}
	resp, err := http.Post("http://"+c.MasterAddr+"/master/reserve", "application/x-www-form-urlencoded",
		strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /master/reserve: %s %s", resp.Status, body)
	}
	if id := s.next(schedulerpb.Event_RESCIND, 15*time.Second).GetRescind().GetOfferId().GetValue(); id != offer.GetId().GetValue() {
		t.Fatalf("rescinded %s, want %s", id, offer.GetId().GetValue())
	}
	agentReserved := func() map[string]any {
		var st struct {
			Reserved map[string]map[string]any `json:"reserved_resources"`
		}
		getJSON(t, "http://"+c.AgentAddrs[0]+"/state", &st)
		return st.Reserved["eng"]
	}
	deadline := time.Now().Add(15 * time.Second)
	for r := agentReserved(); r["cpus"] != 1.0; r = agentReserved() {
		if time.Now().After(deadline) {
			t.Fatalf("agent reservations %v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := slaveReservations(t, c.MasterAddr)["eng"]; r["cpus"] != 1.0 || r["mem"] != 256.0 {
		t.Fatalf("master reservations %v", r)
	}

	// The rescind came with a filter; REVIVE clears it and the reserved
	// resources are offered to the role.
	s.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()})
	if got := reservedCPUs(s.next(schedulerpb.Event_OFFERS, 15*time.Second).GetOffers().GetOffers()[0], "eng"); got != 1 {
		t.Fatalf("offered %v reserved cpus, want 1", got)
	}

	// More than the agent has: 409.
	big := url.Values{"slaveId": {agentID}, "resources": {strings.Replace(engRes, `"value":1}`, `"value":100}`, 1)}}
	resp, err = http.Post("http://"+c.MasterAddr+"/reserve", "application/x-www-form-urlencoded", strings.NewReader(big.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "does not contain") {
		t.Fatalf("reserve too much: %s %s", resp.Status, body)
	}

	// UNRESERVE_RESOURCES rescinds the offer holding the reservation.
	code, out := operatorCall(t, c.MasterAddr, `{"type":"UNRESERVE_RESOURCES","unreserve_resources":{"agent_id":{"value":"`+
		agentID+`"},"resources":`+engRes+`}}`)
	if code != http.StatusAccepted {
		t.Fatalf("UNRESERVE_RESOURCES: %d %s", code, out)
	}
	deadline = time.Now().Add(15 * time.Second)
	for r := agentReserved(); r != nil; r = agentReserved() {
		if time.Now().After(deadline) {
			t.Fatalf("agent still reserves %v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := slaveReservations(t, c.MasterAddr); len(r) != 0 {
		t.Fatalf("master reservations after UNRESERVE_RESOURCES %v", r)
	}
}
