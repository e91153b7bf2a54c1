package webui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/meso-project/meso/internal/webui/webuitest"
	"github.com/meso-project/meso/pkg/explain"
)

// These tests drive the page in a headless Chromium against a stub master
// (a fixed SUBSCRIBED state, /roles and the explainer): they check the
// pages that a real cluster cannot easily show on demand. The e2e tests
// (internal/e2e/webui_test.go) run the page against a real cluster.

// page is the UI in a headless Chromium.
type page struct{ *webuitest.Browser }

func openBrowser(t *testing.T) *page { return &page{webuitest.Start(t, 30*time.Second)} }

// stubMaster serves the UI, a SUBSCRIBE stream with one agent and one
// framework (fw-1), /roles, and the explainer for fw-1 (404 otherwise).
func stubMaster(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	ui := Handler()
	mux.Handle("/", ui)
	mux.HandleFunc("POST /api/v1", func(w http.ResponseWriter, r *http.Request) {
		ev := `{"type":"SUBSCRIBED","subscribed":{"heartbeat_interval_seconds":15,"get_state":{
		  "get_agents":{"agents":[{"agent_info":{"hostname":"agent-a","port":5051,"id":{"value":"a-1"},
		    "attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}}]},"active":true,"pid":"slave(1)@127.0.0.1:1",
		    "total_resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":4}},{"name":"mem","type":"SCALAR","scalar":{"value":4096}}]}]},
		  "get_frameworks":{"frameworks":[{"framework_info":{"id":{"value":"fw-1"},"name":"sleepy","user":"root","roles":["eng"]},
		    "active":true,"connected":true}]},
		  "get_tasks":{"tasks":[{"name":"t1","task_id":{"value":"t1"},"framework_id":{"value":"fw-1"},"agent_id":{"value":"a-1"},
		    "state":"TASK_RUNNING","resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}]}}}}`
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "%d\n%s", len(ev), ev)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /roles", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"roles":[{"name":"eng","weight":2,"frameworks":["fw-1"],"allocated":{"cpus":1},"offered":{},"reserved":{},
		  "quota":{"role":"eng","guarantee":{},"limit":{"cpus":1},"consumed":{"cpus":1}}}]}`)
	})
	mux.HandleFunc("GET "+explain.FrameworkPath, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("framework") != "fw-1" {
			http.Error(w, "No framework matches", http.StatusNotFound)
			return
		}
		x := explain.Framework{FrameworkID: "fw-1", Name: "sleepy", Active: true,
			Roles: []explain.Role{{Role: "eng", Suppressed: true, Weight: 2, DominantShare: 0.25, Rank: 1, Roles: 1, FrameworkRank: 1, Frameworks: 1,
				Quota: &explain.Quota{Limits: map[string]float64{"cpus": 1}, Consumed: map[string]float64{"cpus": 1}, LimitReached: []string{"cpus"}}}},
			Agents:  []explain.Agent{{AgentID: "a-1", Hostname: "agent-a", Free: "cpus:3; mem:4096", Reasons: []explain.Reason{{Code: explain.OfferFiltered, Message: "declined <b>for</b> 5s", AgentID: "a-1", Role: "eng"}}}},
			Filters: []explain.Filter{{AgentID: "a-1", Hostname: "agent-a", Role: "eng", Resources: "cpus:3", Until: float64(time.Now().Unix() + 5)}},
			Reasons: []explain.Reason{{Code: explain.RoleSuppressed, Message: "role eng is suppressed: REVIVE to get offers", Role: "eng"}},
		}
		_ = json.NewEncoder(w).Encode(x)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv
}

func TestPageExplainer(t *testing.T) {
	srv := stubMaster(t)
	p := openBrowser(t)
	var explainText, name string
	p.Run(t, "opening a framework",
		chromedp.Navigate(srv.URL+"/#/frameworks/fw-1"),
		chromedp.WaitVisible(`#explain tr[data-suppressed="true"]`, chromedp.ByQuery),
		chromedp.Text(`#explain`, &explainText, chromedp.ByQuery),
		chromedp.WaitVisible(`#fw-info dl`, chromedp.ByQuery),
		chromedp.Text(`#fw-name`, &name, chromedp.ByQuery))
	for _, want := range []string{"ROLE_SUPPRESSED", "role eng is suppressed", "suppressed", "limit reached: cpus",
		"OFFER_FILTERED", "declined <b>for</b> 5s", "agent-a", "cpus:3"} {
		if !strings.Contains(explainText, want) {
			t.Errorf("the explanation does not show %q:\n%s", want, explainText)
		}
	}
	if name != "sleepy" {
		t.Errorf("framework name %q, want sleepy", name)
	}
	if errs := p.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	// Each page renders from the stream's state without errors.
	for _, tt := range []struct{ hash, sel, want string }{
		{"#/", `#ov-res tr[data-resource="cpus"]`, "4"},
		{"#/frameworks", `#fw-list tr[data-framework-id="fw-1"]`, "sleepy"},
		{"#/agents", `#ag-list tr[data-agent-id="a-1"]`, "agent-a"},
		{"#/agents/a-1", `#ag-attrs`, "r1"},
		{"#/tasks", `#tk-list tr[data-task-id="t1"]`, "TASK_RUNNING"},
		{"#/roles", `#roles-table tr[data-role="eng"]`, "cpus:1"},
	} {
		var got string
		p.Run(t, "opening "+tt.hash, chromedp.Evaluate(fmt.Sprintf("location.hash = %q", tt.hash), nil),
			chromedp.WaitVisible(tt.sel, chromedp.ByQuery), chromedp.Text(tt.sel, &got, chromedp.ByQuery))
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s: %s shows %q, want %q", tt.hash, tt.sel, got, tt.want)
		}
	}
	// An unknown framework: a clear message, not an error page.
	var msg string
	p.Run(t, "opening an unknown framework", chromedp.Evaluate(`location.hash = '#/frameworks/fw-2'`, nil),
		chromedp.WaitVisible(`#explain [data-explain="404"]`, chromedp.ByQuery),
		chromedp.Text(`#explain`, &msg, chromedp.ByQuery))
	if !strings.Contains(msg, "No framework matches") {
		t.Errorf("404 message %q does not say the master's answer", msg)
	}
}

// On a standby (307 from /api/v1), the page moves to the leader through
// /master/redirect and keeps its page.
func TestPageFollowsLeader(t *testing.T) {
	leader := stubMaster(t)
	host := strings.TrimPrefix(leader.URL, "http://")
	mux := http.NewServeMux()
	mux.Handle("/", Handler())
	mux.HandleFunc("/api/v1", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "//"+host+"/api/v1", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/master/redirect", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "//"+host)
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	standby := httptest.NewServer(mux)
	t.Cleanup(func() { standby.CloseClientConnections(); standby.Close() })
	p := openBrowser(t)
	var url string
	p.Run(t, "opening the standby",
		chromedp.Navigate(standby.URL+"/#/roles"),
		chromedp.WaitVisible(`body[data-live="true"]`, chromedp.ByQuery),
		chromedp.Location(&url))
	if want := leader.URL + "/#/roles"; url != want {
		t.Errorf("the page is at %s, want %s", url, want)
	}
}
