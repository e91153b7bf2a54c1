package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
)

// Dynamic reservations through ACCEPT and the operator API for weights
// and quota, end to end on a local cluster with the real allocator.

// reserved returns cpus and mem dynamically reserved for role by principal
// in the pre-refinement format (role + reservation), as a framework
// without RESERVATION_REFINEMENT sends them.
func reserved(role, principal string, cpus, mem float64) []*mesospb.Resource {
	res := []*mesospb.Resource{scalar("cpus", cpus), scalar("mem", mem)}
	for _, r := range res {
		r.Role = proto.String(role)
		r.Reservation = &mesospb.Resource_ReservationInfo{Principal: proto.String(principal)}
	}
	return res
}

// getJSON GETs url and decodes the JSON body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// slaveReservations returns the first agent's reserved_resources from the
// master's /master/state.
func slaveReservations(t *testing.T, masterAddr string) map[string]map[string]any {
	t.Helper()
	var state struct {
		Slaves []struct {
			Reserved map[string]map[string]any `json:"reserved_resources"`
		} `json:"slaves"`
	}
	getJSON(t, "http://"+masterAddr+"/master/state", &state)
	if len(state.Slaves) != 1 {
		t.Fatalf("%d agents in /master/state", len(state.Slaves))
	}
	return state.Slaves[0].Reserved
}

// reservedCPUs sums the cpus of an offer reserved to role (pre-refinement
// format).
func reservedCPUs(o *mesospb.Offer, role string) float64 {
	var sum float64
	for _, r := range o.GetResources() {
		if r.GetName() == "cpus" && r.GetRole() == role && r.Reservation != nil {
			sum += r.GetScalar().GetValue()
		}
	}
	return sum
}

func TestReserveLaunchUnreserveThroughAccept(t *testing.T) {
	c := cluster(t, nil)
	info := roleFramework("reserver", "eng")
	info.Principal = proto.String("ops")
	s := subscribe(t, c.MasterAddr, codec.JSON, info)
	offer := s.next(schedulerpb.Event_OFFERS, 15*time.Second).GetOffers().GetOffers()[0]

	// RESERVE, then LAUNCH on the reserved resources, in one ACCEPT.
	s.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{offer.GetId()},
			Operations: []*mesospb.Offer_Operation{
				{Type: mesospb.Offer_Operation_RESERVE.Enum(),
					Reserve: &mesospb.Offer_Operation_Reserve{Resources: reserved("eng", "ops", 1, 256)}},
				{Type: mesospb.Offer_Operation_LAUNCH.Enum(),
					Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{{
						Name:      proto.String("on-reserved"),
						TaskId:    &mesospb.TaskID{Value: proto.String("on-reserved")},
						AgentId:   offer.GetAgentId(),
						Resources: reserved("eng", "ops", 0.5, 64),
						Command:   &mesospb.CommandInfo{Value: proto.String("true")},
					}}}},
			},
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
		},
	})
	// Follow the task to TASK_FINISHED while keeping track of the offers
	// that arrive meanwhile (they hold the rest of the reservation).
	outstanding := map[string]*mesospb.Offer{}
	finished := false
	deadline := time.After(60 * time.Second)
	reservedOffered := func() float64 {
		var sum float64
		for _, o := range outstanding {
			sum += reservedCPUs(o, "eng")
		}
		return sum
	}
	for !finished || reservedOffered() < 1 {
		var ev *schedulerpb.Event
		select {
		case ev = <-s.events:
		case <-deadline:
			t.Fatalf("finished %v, reserved cpus offered %v", finished, reservedOffered())
		}
		switch ev.GetType() {
		case schedulerpb.Event_OFFERS:
			for _, o := range ev.GetOffers().GetOffers() {
				outstanding[o.GetId().GetValue()] = o
			}
		case schedulerpb.Event_RESCIND:
			delete(outstanding, ev.GetRescind().GetOfferId().GetValue())
		case schedulerpb.Event_UPDATE:
			st := ev.GetUpdate().GetStatus()
			s.ack(st)
			switch st.GetState() {
			case mesospb.TaskState_TASK_FINISHED:
				finished = true
			case mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING:
			default:
				t.Fatalf("task on reserved resources: %v %s", st.GetState(), st.GetMessage())
			}
		}
	}

	// The master and the agent both show the reservation.
	if eng := slaveReservations(t, c.MasterAddr)["eng"]; eng["cpus"] != 1.0 || eng["mem"] != 256.0 {
		t.Fatalf("master reserved_resources %v", slaveReservations(t, c.MasterAddr))
	}
	var agentState struct {
		Reserved map[string]map[string]any `json:"reserved_resources"`
	}
	getJSON(t, "http://"+c.AgentAddrs[0]+"/state", &agentState)
	if eng := agentState.Reserved["eng"]; eng["cpus"] != 1.0 || eng["mem"] != 256.0 {
		t.Fatalf("agent reserved_resources %v", agentState.Reserved)
	}

	// The offers carry the reservation in the framework's (pre-refinement)
	// format; give it back with UNRESERVE through all of them.
	var ids []*mesospb.OfferID
	for _, o := range outstanding {
		ids = append(ids, o.GetId())
	}
	s.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: ids,
			Operations: []*mesospb.Offer_Operation{{Type: mesospb.Offer_Operation_UNRESERVE.Enum(),
				Unreserve: &mesospb.Offer_Operation_Unreserve{Resources: reserved("eng", "ops", 1, 256)}}},
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
		},
	})
	if r := slaveReservations(t, c.MasterAddr); len(r) != 0 {
		t.Fatalf("reserved_resources after UNRESERVE: %v", r)
	}
	getJSON(t, "http://"+c.AgentAddrs[0]+"/state", &agentState)
	until := time.Now().Add(10 * time.Second)
	for len(agentState.Reserved) != 0 {
		if time.Now().After(until) {
			t.Fatalf("agent still reserves %v", agentState.Reserved)
		}
		time.Sleep(20 * time.Millisecond)
		agentState.Reserved = nil
		getJSON(t, "http://"+c.AgentAddrs[0]+"/state", &agentState)
	}
}

// operatorCall POSTs a JSON operator call to /api/v1, as curl would, and
// returns the status and body.
func operatorCall(t *testing.T, masterAddr, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+masterAddr+"/api/v1", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitForAgent waits until the master has registered the agent.
func waitForAgent(t *testing.T, masterAddr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var state struct {
			Slaves []any `json:"slaves"`
		}
		getJSON(t, "http://"+masterAddr+"/master/state", &state)
		if len(state.Slaves) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not register")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOperatorWeightsAndQuota(t *testing.T) {
	c := cluster(t, nil)
	waitForAgent(t, c.MasterAddr)

	if code, body := operatorCall(t, c.MasterAddr,
		`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"eng","weight":2.5}]}}`); code != http.StatusOK {
		t.Fatalf("UPDATE_WEIGHTS: %d %s", code, body)
	}
	code, body := operatorCall(t, c.MasterAddr, `{"type":"GET_WEIGHTS"}`)
	var weights struct {
		Type       string `json:"type"`
		GetWeights struct {
			WeightInfos []struct {
				Role   string  `json:"role"`
				Weight float64 `json:"weight"`
			} `json:"weight_infos"`
		} `json:"get_weights"`
	}
	if err := json.Unmarshal([]byte(body), &weights); err != nil || code != http.StatusOK || weights.Type != "GET_WEIGHTS" {
		t.Fatalf("GET_WEIGHTS: %d %s", code, body)
	}
	if ws := weights.GetWeights.WeightInfos; len(ws) != 1 || ws[0].Role != "eng" || ws[0].Weight != 2.5 {
		t.Fatalf("GET_WEIGHTS: %s", body)
	}
	if code, body := operatorCall(t, c.MasterAddr,
		`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"eng","weight":-1}]}}`); code != http.StatusBadRequest {
		t.Fatalf("negative weight: %d %s", code, body)
	}

	if code, body := operatorCall(t, c.MasterAddr, `{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[
		{"role":"eng","guarantees":{"cpus":{"value":1}},"limits":{"cpus":{"value":2},"mem":{"value":2048}}}]}}`); code != http.StatusOK {
		t.Fatalf("UPDATE_QUOTA: %d %s", code, body)
	}
	code, body = operatorCall(t, c.MasterAddr, `{"type":"GET_QUOTA"}`)
	var quota struct {
		GetQuota struct {
			Status struct {
				Configs []struct {
					Role       string                        `json:"role"`
					Guarantees map[string]map[string]float64 `json:"guarantees"`
					Limits     map[string]map[string]float64 `json:"limits"`
				} `json:"configs"`
			} `json:"status"`
		} `json:"get_quota"`
	}
	if err := json.Unmarshal([]byte(body), &quota); err != nil || code != http.StatusOK {
		t.Fatalf("GET_QUOTA: %d %s", code, body)
	}
	cs := quota.GetQuota.Status.Configs
	if len(cs) != 1 || cs[0].Role != "eng" || cs[0].Guarantees["cpus"]["value"] != 1 || cs[0].Limits["mem"]["value"] != 2048 {
		t.Fatalf("GET_QUOTA: %s", body)
	}

	// A framework in the role is offered no more than the limit allows.
	s := subscribe(t, c.MasterAddr, codec.JSON, roleFramework("limited", "eng"))
	o := s.next(schedulerpb.Event_OFFERS, 15*time.Second).GetOffers().GetOffers()[0]
	var cpus float64
	for _, r := range o.GetResources() {
		if r.GetName() == "cpus" {
			cpus += r.GetScalar().GetValue()
		}
	}
	if cpus > 2 {
		t.Fatalf("offered %v cpus to a role limited to 2", cpus)
	}

	// The legacy endpoints and /roles agree.
	var legacy []struct {
		Role   string  `json:"role"`
		Weight float64 `json:"weight"`
	}
	getJSON(t, "http://"+c.MasterAddr+"/weights", &legacy)
	if len(legacy) != 1 || legacy[0].Role != "eng" || legacy[0].Weight != 2.5 {
		t.Fatalf("/weights %v", legacy)
	}
	var roles struct {
		Roles []struct {
			Name   string  `json:"name"`
			Weight float64 `json:"weight"`
			Quota  struct {
				Limit map[string]float64 `json:"limit"`
			} `json:"quota"`
			Frameworks []string `json:"frameworks"`
		} `json:"roles"`
	}
	getJSON(t, "http://"+c.MasterAddr+"/master/roles", &roles)
	if len(roles.Roles) != 1 || roles.Roles[0].Name != "eng" || roles.Roles[0].Weight != 2.5 ||
		roles.Roles[0].Quota.Limit["cpus"] != 2 || len(roles.Roles[0].Frameworks) != 1 {
		t.Fatalf("/roles %+v", roles)
	}
}
