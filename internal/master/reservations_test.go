package master

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/resources"
)

// scalar builds a scalar resource.
func scalar(name string, v float64) *mesospb.Resource {
	return &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_SCALAR.Enum(),
		Scalar: &mesospb.Value_Scalar{Value: proto.Float64(v)}}
}

// reservedFor returns cpus and mem dynamically reserved for role by
// principal, in the refinement format or the pre-refinement one.
func reservedFor(role, principal string, refinement bool, cpus, mem float64) []*mesospb.Resource {
	out := []*mesospb.Resource{scalar("cpus", cpus), scalar("mem", mem)}
	for _, r := range out {
		if refinement {
			r.Reservations = []*mesospb.Resource_ReservationInfo{{
				Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role), Principal: proto.String(principal)}}
		} else {
			r.Role = proto.String(role)
			r.Reservation = &mesospb.Resource_ReservationInfo{Principal: proto.String(principal)}
		}
	}
	return out
}

func reserveOp(rs []*mesospb.Resource) *mesospb.Offer_Operation {
	return &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum(),
		Reserve: &mesospb.Offer_Operation_Reserve{Resources: rs}}
}

func unreserveOp(rs []*mesospb.Resource) *mesospb.Offer_Operation {
	return &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_UNRESERVE.Enum(),
		Unreserve: &mesospb.Offer_Operation_Unreserve{Resources: rs}}
}

func launchOp(tasks ...*mesospb.TaskInfo) *mesospb.Offer_Operation {
	return &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH.Enum(),
		Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks}}
}

func (s *scheduler) accept(o *mesospb.Offer, ops ...*mesospb.Offer_Operation) {
	s.h.t.Helper()
	s.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), Accept: &schedulerpb.Call_Accept{
		OfferIds: []*mesospb.OfferID{o.Id}, Operations: ops,
		Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)}}})
}

func roleFramework(role, principal string, refinement bool) *mesospb.FrameworkInfo {
	fi := fwInfo("reserver")
	if refinement {
		fi = fwInfo("reserver", mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT)
	}
	fi.Role = proto.String(role)
	if principal != "" {
		fi.Principal = proto.String(principal)
	}
	return fi
}

func TestReserveLaunchUnreserve(t *testing.T) {
	for _, refinement := range []bool{false, true} {
		t.Run(map[bool]string{false: "pre-refinement", true: "refinement"}[refinement], func(t *testing.T) {
			h := startMaster(t, nil)
			agent := h.registerAgent("cpus:2;mem:1024")
			sched := h.subscribe(roleFramework("eng", "p", refinement), codec.JSON)
			o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]

			// RESERVE then LAUNCH on what was just reserved, in one ACCEPT.
			task := simpleTask("t", o.AgentId)
			task.Resources = reservedFor("eng", "p", refinement, 0.5, 128)
			sched.accept(o, reserveOp(reservedFor("eng", "p", refinement, 1, 512)), launchOp(task))

			cp := agent.next(agentapipb.Event_CHECKPOINT_RESOURCES).GetCheckpointResources().GetResources()
			total := resources.Resources(cp)
			if got := total.ReservedBy("eng").Quantities(); got["cpus"] != 1 || got["mem"] != 512 {
				t.Fatalf("checkpointed reservations %v (total %v)", got, total)
			}
			if got := total.Unreserved().Quantities(); got["cpus"] != 1 || got["mem"] != 512 {
				t.Fatalf("checkpointed unreserved %v", got)
			}
			run := agent.next(agentapipb.Event_RUN_TASK).GetRunTask().GetTask()
			if rs := resources.Resources(run.GetResources()); rs.ReservedBy("eng").Quantities()["cpus"] != 0.5 {
				t.Fatalf("task resources %v", rs)
			}
			h.alloc.mu.Lock()
			conversions := len(h.alloc.conversions)
			h.alloc.mu.Unlock()
			if conversions != 1 {
				t.Errorf("UpdateAllocation called %d times, want 1", conversions)
			}

			// /state and /slaves show the reservation, /roles too.
			slave := h.getJSON("/master/state")["slaves"].([]any)[0].(map[string]any)
			res := slave["reserved_resources"].(map[string]any)["eng"].(map[string]any)
			if res["cpus"] != 1.0 || res["mem"] != 512.0 || slave["unreserved_resources"].(map[string]any)["cpus"] != 1.0 {
				t.Fatalf("slave reserved %v unreserved %v", slave["reserved_resources"], slave["unreserved_resources"])
			}
			full := h.getJSON("/master/slaves")["slaves"].([]any)[0].(map[string]any)["reserved_resources_full"].(map[string]any)["eng"].([]any)
			if len(full) != 2 || full[0].(map[string]any)["role"] != "eng" || full[0].(map[string]any)["reservations"] == nil {
				t.Fatalf("reserved_resources_full %v", full)
			}
			var eng map[string]any
			for _, r := range h.getJSON("/roles")["roles"].([]any) {
				if r.(map[string]any)["name"] == "eng" {
					eng = r.(map[string]any)
				}
			}
			if eng == nil || eng["reserved"].(map[string]any)["cpus"] != 1.0 || eng["allocated"].(map[string]any)["cpus"] != 0.5 {
				t.Fatalf("/roles eng %v", eng)
			}

			// The rest comes back as an offer, reserved part in the
			// framework's format.
			next := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
			var offeredReserved float64
			for _, r := range next.GetResources() {
				if r.GetName() != "cpus" {
					continue
				}
				switch {
				case refinement && len(r.GetReservations()) == 1:
					if r.Role != nil || r.Reservation != nil || r.GetReservations()[0].GetRole() != "eng" {
						t.Errorf("refinement format %v", r)
					}
					offeredReserved += r.GetScalar().GetValue()
				case !refinement && r.GetRole() == "eng":
					if len(r.GetReservations()) != 0 || r.GetReservation().GetPrincipal() != "p" {
						t.Errorf("pre-refinement format %v", r)
					}
					offeredReserved += r.GetScalar().GetValue()
				}
			}
			if offeredReserved != 0.5 {
				t.Fatalf("offered reserved cpus %v in %v", offeredReserved, next.GetResources())
			}

			// The task finishes; then everything reserved is unreserved.
			agent.statusUpdate(sched.id, "t", mesospb.TaskState_TASK_FINISHED, bytes.Repeat([]byte{0x41}, 16))
			sched.waitEvent(schedulerpb.Event_UPDATE)
			// Gather outstanding offers until they hold the whole agent,
			// then unreserve through all of them at once.
			outstanding := []*mesospb.Offer{next}
			for sum := scalarOf(next.GetResources(), "cpus"); sum < 2; {
				for _, of := range sched.waitEvent(schedulerpb.Event_OFFERS).GetOffers().GetOffers() {
					outstanding = append(outstanding, of)
					sum += scalarOf(of.GetResources(), "cpus")
				}
			}
			var ids []*mesospb.OfferID
			for _, of := range outstanding {
				ids = append(ids, of.Id)
			}
			sched.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_ACCEPT.Enum(), Accept: &schedulerpb.Call_Accept{
				OfferIds: ids, Operations: []*mesospb.Offer_Operation{unreserveOp(reservedFor("eng", "p", refinement, 1, 512))}}})
			cp = agent.next(agentapipb.Event_CHECKPOINT_RESOURCES).GetCheckpointResources().GetResources()
			if rs := resources.Resources(cp); len(rs.Reserved()) != 0 || rs.Quantities()["cpus"] != 2 {
				t.Fatalf("after UNRESERVE the agent has %v", rs)
			}
			slave = h.getJSON("/master/state")["slaves"].([]any)[0].(map[string]any)
			if len(slave["reserved_resources"].(map[string]any)) != 0 {
				t.Fatalf("reserved after UNRESERVE: %v", slave["reserved_resources"])
			}
		})
	}
}

func TestReserveValidation(t *testing.T) {
	drops := &dropLog{msgs: make(chan string, 10)}
	h := startMaster(t, func(c *Config) { c.Logger = slog.New(drops) })
	agent := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(roleFramework("eng", "p", true), codec.JSON)
	for _, tc := range []struct {
		name string
		op   *mesospb.Offer_Operation
		msg  string
	}{
		{"other role", reserveOp(reservedFor("ops", "p", true, 1, 32)),
			"A reserve operation was attempted for a resource with role 'ops', but the resource was allocated to role 'eng'"},
		{"other principal", reserveOp(reservedFor("eng", "q", true, 1, 32)),
			"A reserve operation was attempted by authenticated principal 'p', which does not match a reserved resource in the request with principal 'q'"},
		{"not reserved", reserveOp(cpuMem(1, 32)), "is not dynamically reserved"},
		{"more than offered", reserveOp(reservedFor("eng", "p", true, 3, 32)), "does not contain"},
		{"unreserve what is not reserved", unreserveOp(reservedFor("eng", "p", true, 1, 32)), "does not contain"},
		{"source", &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_RESERVE.Enum(), Reserve: &mesospb.Offer_Operation_Reserve{
			Resources: reservedFor("eng", "p", true, 1, 32), Source: cpuMem(1, 32)}},
			"Reservation updates are not yet implemented for the scheduler API."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := sched.waitEvent(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
			sched.accept(o, tc.op)
			if msg := drops.wait(t); !strings.Contains(msg, tc.msg) {
				t.Fatalf("drop message %q, want %q", msg, tc.msg)
			}
			if len(agent.events) != 0 {
				t.Fatalf("agent got %v", <-agent.events)
			}
			slave := h.getJSON("/state")["slaves"].([]any)[0].(map[string]any)
			if len(slave["reserved_resources"].(map[string]any)) != 0 {
				t.Fatalf("reserved after an invalid operation: %v", slave["reserved_resources"])
			}
		})
	}
	// An operation asking for feedback gets OPERATION_ERROR: the agent has
	// no RESOURCE_PROVIDER capability.
	o := sched.waitEvent(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	op := reserveOp(reservedFor("eng", "p", true, 1, 32))
	op.Id = &mesospb.OperationID{Value: proto.String("op1")}
	sched.accept(o, op)
	st := sched.waitEvent(schedulerpb.Event_UPDATE_OPERATION_STATUS).GetUpdateOperationStatus().GetStatus()
	if st.GetState() != mesospb.OperationState_OPERATION_ERROR || st.GetOperationId().GetValue() != "op1" ||
		!strings.Contains(st.GetMessage(), "RESOURCE_PROVIDER") {
		t.Fatalf("operation status %v", st)
	}
}

// dropLog is a slog handler that captures the "error" attribute of the
// master's "dropping ... operation" records.
type dropLog struct {
	msgs chan string
}

func (d *dropLog) Enabled(context.Context, slog.Level) bool { return true }
func (d *dropLog) WithAttrs([]slog.Attr) slog.Handler       { return d }
func (d *dropLog) WithGroup(string) slog.Handler            { return d }
func (d *dropLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, "dropping ") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" {
			select {
			case d.msgs <- a.Value.String():
			default:
			}
		}
		return true
	})
	return nil
}

func (d *dropLog) wait(t *testing.T) string {
	t.Helper()
	select {
	case msg := <-d.msgs:
		return msg
	case <-time.After(5 * time.Second):
		t.Fatal("no operation dropped")
		return ""
	}
}

// operator posts a JSON operator call and returns status and body.
func (h *harness) operator(body string, accept string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url("/api/v1"), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) do(method, path, body string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.url(path), strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOperatorWeights(t *testing.T) {
	h := startMaster(t, func(c *Config) { c.Weights = map[string]float64{"eng": 2} })
	code, body := h.operator(`{"type":"GET_WEIGHTS"}`, "application/json")
	if code != 200 || !strings.Contains(body, `"weight_infos":[{"weight":2,"role":"eng"}]`) && !strings.Contains(body, `"role":"eng"`) {
		t.Fatalf("GET_WEIGHTS: %d %s", code, body)
	}
	for _, tc := range []struct {
		body string
		code int
		msg  string
	}{
		{`{"type":"UPDATE_WEIGHTS"}`, 400, "Failed to validate master::Call: Expecting 'update_weights' to be present"},
		{`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"ops","weight":0}]}}`, 400, "Weights must be positive"},
		{`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"/x","weight":1}]}}`, 400, "Invalid role '/x'"},
		{`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"ops","weight":3}]}}`, 200, ""},
	} {
		if code, body := h.operator(tc.body, ""); code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %q, want %d %q", tc.body, code, body, tc.code, tc.msg)
		}
	}
	h.alloc.mu.Lock()
	if h.alloc.weights["ops"] != 3 {
		t.Errorf("allocator weights %v", h.alloc.weights)
	}
	h.alloc.mu.Unlock()

	// Legacy /weights.
	if code, body := h.do(http.MethodPut, "/weights", `[{"role":"web","weight":1.5}]`); code != 200 {
		t.Fatalf("PUT /weights: %d %s", code, body)
	}
	if code, body := h.do(http.MethodPut, "/weights", `[{"role":"web","weight":-1}]`); code != 400 || !strings.Contains(body, "Weights must be positive") {
		t.Fatalf("PUT /weights negative: %d %s", code, body)
	}
	if code, _ := h.do(http.MethodPost, "/weights", `[]`); code != 405 {
		t.Fatalf("POST /weights: %d", code)
	}
	code, body = h.do(http.MethodGet, "/master/weights", "")
	var ws []map[string]any
	if err := json.Unmarshal([]byte(body), &ws); err != nil || code != 200 || len(ws) != 3 {
		t.Fatalf("GET /weights: %d %s", code, body)
	}
	want := map[string]float64{"eng": 2, "ops": 3, "web": 1.5}
	for _, w := range ws {
		if want[w["role"].(string)] != w["weight"] {
			t.Errorf("weight %v", w)
		}
	}
	var web map[string]any
	for _, r := range h.getJSON("/roles")["roles"].([]any) {
		if r.(map[string]any)["name"] == "web" {
			web = r.(map[string]any)
		}
	}
	if web == nil || web["weight"] != 1.5 {
		t.Fatalf("/roles web %v", web)
	}
}

func TestOperatorQuota(t *testing.T) {
	h := startMaster(t, nil)
	h.registerAgent("cpus:4;mem:4096")
	quota := func(force bool, role string, guarantees, limits string) string {
		f := ""
		if force {
			f = `"force":true,`
		}
		return `{"type":"UPDATE_QUOTA","update_quota":{` + f + `"quota_configs":[{"role":"` + role + `","guarantees":{` + guarantees + `},"limits":{` + limits + `}}]}}`
	}
	for _, tc := range []struct {
		name, body string
		code       int
		msg        string
	}{
		{"missing payload", `{"type":"UPDATE_QUOTA"}`, 400, "Expecting 'update_quota' to be present"},
		{"nested", quota(false, "a/b", "", ""), 400, "Updating quota on nested role 'a/b' is not supported yet"},
		{"negative", quota(false, "eng", `"cpus":{"value":-1}`, ""), 400, "Negative values not supported"},
		{"guarantee above limit", quota(false, "eng", `"cpus":{"value":2}`, `"cpus":{"value":1}`), 400, "is not contained within the 'QuotaConfig.limits'"},
		{"overcommit", quota(false, "eng", `"cpus":{"value":8}`, ""), 400, "exceed cluster capacity"},
		{"ok", quota(false, "eng", `"cpus":{"value":1}`, `"cpus":{"value":2},"mem":{"value":1024}`), 200, ""},
		{"forced overcommit", quota(true, "big", `"cpus":{"value":8}`, ""), 200, ""},
	} {
		if code, body := h.operator(tc.body, ""); code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, body, tc.code, tc.msg)
		}
	}
	h.alloc.mu.Lock()
	if q := h.alloc.quotas["eng"]; q.Guarantees["cpus"] != 1 || q.Limits["mem"] != 1024 {
		t.Errorf("allocator quota %v", q)
	}
	h.alloc.mu.Unlock()

	code, body := h.operator(`{"type":"GET_QUOTA"}`, "application/json")
	var resp struct {
		GetQuota struct {
			Status struct {
				Configs []struct {
					Role       string
					Guarantees map[string]struct{ Value float64 }
					Limits     map[string]struct{ Value float64 }
				}
			}
		} `json:"get_quota"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 200 {
		t.Fatalf("GET_QUOTA: %d %s", code, body)
	}
	if cs := resp.GetQuota.Status.Configs; len(cs) != 2 || cs[1].Role != "eng" || cs[1].Limits["cpus"].Value != 2 ||
		cs[0].Role != "big" || cs[0].Guarantees["cpus"].Value != 8 {
		t.Fatalf("GET_QUOTA configs %+v (%s)", cs, body)
	}

	// Removing with an empty config; the legacy endpoints.
	if code, body := h.operator(`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"big"}]}}`, ""); code != 200 {
		t.Fatalf("remove via UPDATE_QUOTA: %d %s", code, body)
	}
	if code, body := h.do(http.MethodPost, "/quota", `{"role":"ops","guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}`); code != 200 {
		t.Fatalf("POST /quota: %d %s", code, body)
	}
	if code, body := h.do(http.MethodPost, "/quota", `{"role":"ops","guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}`); code != 400 || !strings.Contains(body, "already has quota") {
		t.Fatalf("POST /quota again: %d %s", code, body)
	}
	if code, body := h.do(http.MethodPost, "/quota", `{"role":"x","guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":100}}]}`); code != 409 {
		t.Fatalf("POST /quota overcommit: %d %s", code, body)
	}
	code, body = h.do(http.MethodGet, "/quota", "")
	if code != 200 || !strings.Contains(body, `"role":"ops"`) || !strings.Contains(body, `"role":"eng"`) || strings.Contains(body, `"role":"big"`) {
		t.Fatalf("GET /quota: %d %s", code, body)
	}
	if code, body := h.do(http.MethodDelete, "/quota/ops", ""); code != 200 {
		t.Fatalf("DELETE /quota/ops: %d %s", code, body)
	}
	if code, body := h.do(http.MethodDelete, "/master/quota/ops", ""); code != 400 || !strings.Contains(body, "Role 'ops' has no quota set") {
		t.Fatalf("DELETE /master/quota/ops again: %d %s", code, body)
	}
	var eng map[string]any
	for _, r := range h.getJSON("/roles")["roles"].([]any) {
		if r.(map[string]any)["name"] == "eng" {
			eng = r.(map[string]any)
		}
	}
	if q := eng["quota"].(map[string]any); q["role"] != "eng" || q["limit"].(map[string]any)["mem"] != 1024.0 || q["consumed"] == nil {
		t.Fatalf("/roles quota %v", q)
	}
}

func TestOperatorQuotaLimitBelowConsumption(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:4;mem:4096")
	sched := h.subscribe(roleFramework("eng", "", false), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("t", o.AgentId))
	sched.next(schedulerpb.Event_OFFERS) // outstanding, role eng
	limit := `{"type":"UPDATE_QUOTA","update_quota":{%s"quota_configs":[{"role":"eng","limits":{"cpus":{"value":0.1}}}]}}`
	code, body := h.operator(strings.Replace(limit, "%s", "", 1), "")
	if code != 400 || !strings.Contains(body, "Role 'eng' is already consuming 'cpus:0.5; mem:64'") {
		t.Fatalf("limit below consumption: %d %s", code, body)
	}
	if code, body := h.operator(strings.Replace(limit, "%s", `"force":true,`, 1), ""); code != 200 {
		t.Fatalf("forced: %d %s", code, body)
	}
	// The outstanding offer pushed eng past its new limit: rescinded.
	sched.waitEvent(schedulerpb.Event_RESCIND)
}

func TestOperatorAPIBasics(t *testing.T) {
	h := startMaster(t, nil)
	for _, tc := range []struct {
		body, accept string
		code         int
		want         string
	}{
		{`{"type":"GET_HEALTH"}`, "application/json", 200, `"healthy":true`},
		{`{"type":"GET_VERSION"}`, "application/json", 200, `"version":"1.11.0"`},
		{`{"type":"GET_FLAGS"}`, "application/json", 200, `{"name":"port","value":"5050"}`},
		{`{"type":"GET_MASTER"}`, "application/json", 200, `"master_info"`},
		{`{"type":"GET_HEALTH"}`, "text/html", 406, "Expecting 'Accept' to allow"},
		{`{"type":"GET_MAINTENANCE_STATUS"}`, "", 501, "GET_MAINTENANCE_STATUS is not implemented"},
		{`{"type":"CREATE_VOLUMES","create_volumes":{"agent_id":{"value":"x"},"volumes":[]}}`, "", 501, "CREATE_VOLUMES is not implemented"},
		{`{"type":"UNKNOWN"}`, "", 501, "501 Not Implemented."},
		{`{"type":`, "", 400, "Failed to parse body into JSON"},
	} {
		if code, body := h.operator(tc.body, tc.accept); code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s (Accept %q): %d %s, want %d %q", tc.body, tc.accept, code, body, tc.code, tc.want)
		}
	}
	// Protobuf in and out, on the /master prefix.
	body, _ := proto.Marshal(&masterpb.Call{Type: masterpb.Call_GET_HEALTH.Enum()})
	req, _ := http.NewRequest(http.MethodPost, h.url("/master/api/v1"), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Accept", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := &masterpb.Response{}
	if err := proto.Unmarshal(b, out); err != nil || resp.StatusCode != 200 || !out.GetGetHealth().GetHealthy() ||
		resp.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("protobuf GET_HEALTH: %d %v %v", resp.StatusCode, out, err)
	}
}
