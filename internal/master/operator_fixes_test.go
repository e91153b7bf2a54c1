package master

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
)

// /slaves keeps allocation_info in used_resources_full and
// offered_resources_full; the legacy maps are unallocated sums.
func TestSlavesFullResourcesKeepAllocationInfo(t *testing.T) {
	h := startMaster(t, nil)
	agent := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(roleFramework("eng", "", false), codec.JSON)
	o := sched.next(schedulerpb.Event_OFFERS).GetOffers().GetOffers()[0]
	launchOn(t, sched, agent, o, simpleTask("t", o.AgentId))
	sched.next(schedulerpb.Event_OFFERS) // the rest, outstanding
	slave := h.getJSON("/slaves")["slaves"].([]any)[0].(map[string]any)
	for _, key := range []string{"used_resources_full", "offered_resources_full"} {
		full := slave[key].([]any)
		if len(full) == 0 {
			t.Fatalf("%s empty", key)
		}
		for _, r := range full {
			ai, _ := r.(map[string]any)["allocation_info"].(map[string]any)
			if ai["role"] != "eng" {
				t.Errorf("%s: %v has no allocation_info for eng", key, r)
			}
		}
	}
	if used := slave["used_resources"].(map[string]any); used["cpus"] != 0.5 {
		t.Errorf("used_resources %v", used)
	}
	if offered := slave["offered_resources"].(map[string]any); offered["cpus"] != 1.5 {
		t.Errorf("offered_resources %v", offered)
	}
}

// POST /quota rescinds all offers agent by agent until the guarantee is
// covered and as many agents as the role has frameworks were visited.
func TestSetQuotaRescindsByAgent(t *testing.T) {
	h := startMaster(t, nil)
	a1 := h.registerAgent("cpus:2;mem:1024")
	a2 := h.registerAgent("cpus:2;mem:1024")
	sched := h.subscribe(roleFramework("eng", "", false), codec.JSON)
	for n := 0; n < 2; {
		n += len(sched.waitEvent(schedulerpb.Event_OFFERS).GetOffers().GetOffers())
	}
	first := min(a1.id, a2.id)
	before := len(h.alloc.recoveries())
	if code, body := h.do(http.MethodPost, "/quota",
		`{"role":"eng","guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}`); code != 200 {
		t.Fatalf("POST /quota: %d %s", code, body)
	}
	sched.waitEvent(schedulerpb.Event_RESCIND)
	recs := h.alloc.recoveries()[before:]
	if len(recs) != 1 || recs[0].agent != first {
		t.Fatalf("recovered %+v, want only the offer on %s", recs, first)
	}
}

func TestGetRoles(t *testing.T) {
	h := startMaster(t, nil)
	h.registerAgent("cpus:2;mem:1024;disk:100;foo:5")
	sched := h.subscribe(roleFramework("eng", "", false), codec.JSON)
	sched.next(schedulerpb.Event_OFFERS)
	code, body := h.operator(`{"type":"GET_ROLES"}`, "application/json")
	var resp struct {
		GetRoles struct {
			Roles []struct {
				Name       string
				Weight     float64
				Frameworks []struct{ Value string }
				Resources  []struct {
					Name   string
					Type   string
					Scalar struct{ Value float64 }
				}
			}
		} `json:"get_roles"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 200 {
		t.Fatalf("GET_ROLES: %d %s", code, body)
	}
	roles := resp.GetRoles.Roles
	if len(roles) != 1 || roles[0].Name != "eng" || roles[0].Weight != 1 ||
		len(roles[0].Frameworks) != 1 || roles[0].Frameworks[0].Value != sched.id {
		t.Fatalf("GET_ROLES %s", body)
	}
	got := map[string]float64{}
	for _, r := range roles[0].Resources {
		if r.Type != "SCALAR" {
			t.Errorf("resource %+v not SCALAR", r)
		}
		got[r.Name] = r.Scalar.Value
	}
	if len(got) != 3 || got["cpus"] != 2 || got["mem"] != 1024 || got["disk"] != 100 {
		t.Fatalf("GET_ROLES resources %v (only cpus, mem, disk, gpus)", got)
	}
}

func TestUpdateQuotaFixes(t *testing.T) {
	h := startMaster(t, nil)
	h.registerAgent("cpus:4;mem:4096")
	update := func(configs ...string) (int, string) {
		return h.operator(`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[`+strings.Join(configs, ",")+`]}}`, "")
	}
	// Guarantees not within limits: maps as stout prints them.
	code, body := update(`{"role":"eng","guarantees":{"cpus":{"value":2},"mem":{"value":10}},"limits":{"cpus":{"value":1}}}`)
	want := "Invalid QuotaConfig: 'QuotaConfig.guarantees' { cpus: 2, mem: 10 } is not contained within the 'QuotaConfig.limits' { cpus: 1 }"
	if code != 400 || !strings.Contains(body, want) {
		t.Errorf("guarantees above limits: %d %q, want %q", code, body, want)
	}
	if got := stoutMap(quantities{}); got != "{  }" {
		t.Errorf("empty map %q", got)
	}
	// Duplicate roles collapse, last wins, before the overcommit check.
	if code, body := update(`{"role":"eng","guarantees":{"cpus":{"value":4}}}`, `{"role":"eng","guarantees":{"cpus":{"value":1}}}`); code != 200 {
		t.Fatalf("duplicate roles: %d %s", code, body)
	}
	// Zero guarantees are dropped, zero limits kept; all-empty deletes.
	if code, body := update(`{"role":"eng","guarantees":{"cpus":{"value":0},"mem":{"value":10}},"limits":{"disk":{"value":0},"mem":{"value":20}}}`,
		`{"role":"ops","guarantees":{"cpus":{"value":0}}}`); code != 200 {
		t.Fatalf("zero guarantees: %d %s", code, body)
	}
	_, body = h.operator(`{"type":"GET_QUOTA"}`, "application/json")
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
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	cs := resp.GetQuota.Status.Configs
	if len(cs) != 1 || cs[0].Role != "eng" || len(cs[0].Guarantees) != 1 || cs[0].Guarantees["mem"].Value != 10 ||
		len(cs[0].Limits) != 2 {
		t.Fatalf("GET_QUOTA %s", body)
	}
	h.alloc.mu.Lock()
	_, cpus := h.alloc.quotas["eng"].Guarantees["cpus"]
	ops := h.alloc.quotas["ops"]
	h.alloc.mu.Unlock()
	if cpus || ops.Guarantees != nil || ops.Limits != nil {
		t.Errorf("allocator quotas: eng has cpus guarantee %v, ops %+v", cpus, ops)
	}
}

func TestGetWeightsEmpty(t *testing.T) {
	h := startMaster(t, nil)
	code, body := h.operator(`{"type":"GET_WEIGHTS"}`, "application/json")
	if code != 200 || strings.Contains(body, "get_weights") || !strings.Contains(body, `"GET_WEIGHTS"`) {
		t.Fatalf("GET_WEIGHTS: %d %s", code, body)
	}
}

// elected_time is when the master started leading, not its start time.
func TestElectedTime(t *testing.T) {
	var calls atomic.Int64
	base := time.Unix(1_700_000_000, 0)
	h := startMaster(t, func(c *Config) {
		c.Now = func() time.Time { return base.Add(time.Duration(calls.Add(1)) * time.Second) }
	})
	st := h.getJSON("/state")
	start, elected := st["start_time"].(float64), st["elected_time"].(float64)
	if !(elected > start) {
		t.Fatalf("start_time %v elected_time %v", start, elected)
	}
	code, body := h.operator(`{"type":"GET_MASTER"}`, "application/json")
	var resp struct {
		GetMaster struct {
			StartTime   float64 `json:"start_time"`
			ElectedTime float64 `json:"elected_time"`
		} `json:"get_master"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || code != 200 {
		t.Fatalf("GET_MASTER: %d %s", code, body)
	}
	if resp.GetMaster.StartTime != start || resp.GetMaster.ElectedTime != elected {
		t.Fatalf("GET_MASTER %s, want start %v elected %v", body, start, elected)
	}
}
