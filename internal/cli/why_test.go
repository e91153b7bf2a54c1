package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meso-project/meso/pkg/explain"
	"github.com/meso-project/meso/pkg/operator"
)

// explainer serves pkg/explain's contract with fixed answers.
func explainer(t *testing.T) *operator.Client {
	t.Helper()
	now := float64(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).Unix())
	fw := explain.Framework{FrameworkID: "F-1", Name: "web", Active: true,
		Roles: []explain.Role{{Role: "dev", Suppressed: false, Weight: 2, DominantShare: 0.25, Rank: 2, Roles: 3,
			FrameworkShare: 0.25, FrameworkRank: 1, Frameworks: 1,
			Quota: &explain.Quota{Limits: map[string]float64{"cpus": 1}, Consumed: map[string]float64{"cpus": 1}, LimitReached: []string{"cpus"}}}},
		Agents: []explain.Agent{
			{AgentID: "S0", Hostname: "a1", Free: "cpus:2; mem:1024", Reasons: []explain.Reason{{Code: explain.OfferFiltered}}},
			{AgentID: "S1", Hostname: "a2", Free: "cpus:1; mem:512"},
		},
		Filters: []explain.Filter{{AgentID: "S0", Hostname: "a1", Role: "dev", Resources: "cpus:2; mem:1024", Until: now + 90}},
		Reasons: []explain.Reason{
			{Code: explain.QuotaLimitReached, Message: "role dev has reached its quota limit of cpus:1", Role: "dev"},
			{Code: explain.OfferFiltered, Message: "web declined agent a1 (S0) for role dev with a filter until 12:01:30", AgentID: "S0", Role: "dev"},
		}}
	tk := explain.Task{TaskID: "t1", FrameworkID: "F-1", Name: "t1", State: "TASK_STAGING", AgentID: "S0", Hostname: "a1",
		ExecutorID: "t1", LastUpdate: &explain.Update{State: "TASK_STAGING", Timestamp: now - 30},
		Reasons: []explain.Reason{{Code: explain.TaskStaging, Message: "sent to agent a1 (S0) 30s ago; its executor has not started it yet"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.URL.Path == explain.FrameworkPath && (q.Get("framework") == "web" || q.Get("framework") == "F-1"):
			json.NewEncoder(w).Encode(fw)
		case r.URL.Path == explain.FrameworkPath && q.Get("framework") == "twins":
			http.Error(w, "several frameworks are named twins: F-2, F-3", http.StatusConflict)
		case r.URL.Path == explain.TaskPath && q.Get("task") == "t1":
			json.NewEncoder(w).Encode(tk)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := operator.New(operator.Config{Master: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ops(t *testing.T, jsonOut bool) (*Ops, *bytes.Buffer) {
	var out bytes.Buffer
	return &Ops{Client: explainer(t), Out: &out, Err: &out, JSON: jsonOut,
		Now: func() time.Time { return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) }}, &out
}

func TestWhyFramework(t *testing.T) {
	o, out := ops(t, false)
	if err := o.WhyFramework(t.Context(), "web"); err != nil {
		t.Fatal(err)
	}
	want := `Framework web (F-1), active

Why:
  QUOTA_LIMIT_REACHED: role dev has reached its quota limit of cpus:1
  OFFER_FILTERED: web declined agent a1 (S0) for role dev with a filter until 12:01:30

Roles:
ROLE  SUPPRESSED  WEIGHT  SHARE   RANK  FRAMEWORK RANK  QUOTA
dev   false       2       0.2500  2/3   1/1             guarantees -, limits cpus:1, consumed cpus:1; limit reached: cpus

Offer filters:
AGENT  HOSTNAME  ROLE  RESOURCES         UNTIL
S0     a1        dev   cpus:2; mem:1024  in 1m30s

Agents:
AGENT  HOSTNAME  FREE              WHY NOT OFFERED
S0     a1        cpus:2; mem:1024  OFFER_FILTERED
S1     a2        cpus:1; mem:512   -
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("meso why framework (-want +got):\n%s", diff)
	}
}

func TestWhyTask(t *testing.T) {
	o, out := ops(t, false)
	if err := o.WhyTask(t.Context(), "t1", ""); err != nil {
		t.Fatal(err)
	}
	want := `Task t1 (t1) of framework F-1: TASK_STAGING

Why:
  TASK_STAGING: sent to agent a1 (S0) 30s ago; its executor has not started it yet

Agent:        S0 (a1)
Executor:     t1
Last update:  TASK_STAGING (30s ago)
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("meso why task (-want +got):\n%s", diff)
	}
}

func TestWhyJSONAndErrors(t *testing.T) {
	o, out := ops(t, true)
	if err := o.WhyFramework(t.Context(), "F-1"); err != nil {
		t.Fatal(err)
	}
	var fw explain.Framework
	if err := json.Unmarshal(out.Bytes(), &fw); err != nil || fw.Name != "web" || len(fw.Reasons) != 2 {
		t.Errorf("--json: %v %+v", err, fw)
	}
	for _, c := range []struct{ name, want string }{
		{"twins", "pass a framework ID"},
		{"nobody", "No framework \"nobody\""},
	} {
		if err := o.WhyFramework(t.Context(), c.name); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("why framework %s: %v, want it to say %q", c.name, err, c.want)
		}
	}
}
