package master

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/codec"
)

var testCreds = []authn.Credential{{Principal: "alice", Secret: "alice-pw"}, {Principal: "eve", Secret: "eve-pw"}, {Principal: "agent", Secret: "agent-pw"}}

func basicAuth(p, s string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(p+":"+s))
}

// allRealms is a master with every authentication flag on.
func allRealms(c *Config) {
	c.Authenticators = authn.Realms{}
	for _, r := range []string{authn.RealmMasterReadOnly, authn.RealmMasterReadWrite, authn.RealmMasterScheduler, authn.RealmMasterAgent} {
		c.Authenticators[r] = authn.NewBasic(r, testCreds)
	}
}

// With every realm authenticated, every registered route answers 401 with
// its realm's challenge and libprocess's body to a request without
// credentials — except those Mesos leaves open (/health, /redirect,
// /version) — and lets a request with credentials through.
func TestAuthenticationEveryRoute(t *testing.T) {
	h := startMaster(t, allRealms)
	routes := h.m.Handler().(*httpapi.Router).Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes: %v", len(routes), routes)
	}
	open := map[string]bool{"/master/health": true, "/master/redirect": true, "/version/": true}
	// Not following /redirect's 307 to the leader's "/" (the web UI,
	// which is not open).
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, route := range routes {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req, _ := http.NewRequest(method, h.url(route), strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if open[route] {
				if resp.StatusCode == http.StatusUnauthorized {
					t.Errorf("%s %s: 401, but Mesos leaves it open", method, route)
				}
				continue
			}
			id, name, _ := strings.Cut(route[1:], "/")
			realm := MasterRealm(id, "/"+name)
			if resp.StatusCode != http.StatusUnauthorized || string(body) != "401 Unauthorized." ||
				resp.Header.Get("WWW-Authenticate") != `Basic realm="`+realm+`"` {
				t.Errorf("%s %s without credentials: %d %q %q, want 401 for realm %s",
					method, route, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, realm)
			}
		}
	}
	// With credentials the read-only endpoints answer.
	for _, path := range []string{"/master/state", "/state", "/metrics/snapshot", "/master/flags"} {
		req, _ := http.NewRequest(http.MethodGet, h.url(path), nil)
		req.Header.Set("Authorization", basicAuth("alice", "alice-pw"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with credentials: %d", path, resp.StatusCode)
		}
	}
	// A wrong secret is 401 too.
	req, _ := http.NewRequest(http.MethodGet, h.url("/master/state"), nil)
	req.Header.Set("Authorization", basicAuth("alice", "eve-pw"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", resp.StatusCode)
	}
}

// The hijack repro: whoever reads /master/state learns a
// framework's ID; SUBSCRIBE with it (then TEARDOWN) must not take the
// framework over.
func TestHijackRefused(t *testing.T) {
	h := startMaster(t, allRealms)
	h.auth = basicAuth("alice", "alice-pw")
	info := fwInfo("alice-fw")
	info.Principal = proto.String("alice")
	alice := h.subscribe(info, codec.JSON)

	hijack := func(auth string, principal *string) (int, string) {
		t.Helper()
		h.auth = auth
		defer func() { h.auth = "" }()
		fi := fwInfo("evil")
		fi.Id = &mesospb.FrameworkID{Value: proto.String(alice.id)}
		fi.Principal = principal
		call := &schedulerpb.Call{
			Type:        schedulerpb.Call_SUBSCRIBE.Enum(),
			FrameworkId: fi.Id,
			Subscribe:   &schedulerpb.Call_Subscribe{FrameworkInfo: fi},
		}
		resp, body := h.post("/api/v1/scheduler", codec.JSON, call, http.Header{"Accept": {string(codec.JSON)}})
		return resp.StatusCode, body
	}
	// No credentials: 401.
	if code, body := hijack("", nil); code != http.StatusUnauthorized {
		t.Errorf("unauthenticated SUBSCRIBE with alice's ID: %d %s", code, body)
	}
	// eve claiming alice's principal: 400 with Mesos's message.
	code, body := hijack(basicAuth("eve", "eve-pw"), proto.String("alice"))
	if code != http.StatusBadRequest || !strings.Contains(body, "Authenticated principal 'eve' does not match principal 'alice' set in `FrameworkInfo`") {
		t.Errorf("eve as alice: %d %s", code, body)
	}
	// eve as herself, or with no principal: the subscription is refused
	// (the principal may not change) and alice keeps her framework.
	for _, p := range []*string{proto.String("eve"), nil} {
		code, body := hijack(basicAuth("eve", "eve-pw"), p)
		if code != http.StatusOK || !strings.Contains(body, "Changing framework's principal is not allowed.") {
			t.Errorf("eve (principal %v) re-subscribing alice's framework: %d %s", p, code, body)
		}
	}
	// eve cannot TEARDOWN it either, even knowing the stream ID.
	h.auth = basicAuth("eve", "eve-pw")
	teardown := &schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String(alice.id)}}
	resp, tbody := h.post("/api/v1/scheduler", codec.JSON, teardown, http.Header{"Mesos-Stream-Id": {alice.streamID}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(tbody, "does not match principal 'alice'") {
		t.Errorf("eve's TEARDOWN: %d %s", resp.StatusCode, tbody)
	}
	// The operator endpoint needs credentials too.
	h.auth = ""
	resp, tbody = h.post("/master/teardown", codec.JSON, teardown, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unauthenticated /teardown: %d %s", resp.StatusCode, tbody)
	}
	// alice's stream is untouched and her calls work.
	h.auth = basicAuth("alice", "alice-pw")
	if code, body := alice.call(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()}); code != http.StatusAccepted {
		t.Errorf("alice's REVIVE after the attempts: %d %s", code, body)
	}
	select {
	case ev := <-alice.events:
		if ev.GetType() != schedulerpb.Event_HEARTBEAT {
			t.Errorf("alice got %v", ev)
		}
	default:
	}
}

// A token principal (claims, no value) is refused on the scheduler API
// with Mesos's 403.
func TestSchedulerClaimsOnlyPrincipal(t *testing.T) {
	key := []byte("k")
	h := startMaster(t, func(c *Config) {
		c.Authenticators = authn.Realms{authn.RealmMasterScheduler: authn.NewJWT(authn.RealmMasterScheduler, key)}
	})
	h.auth = "Bearer " + authn.SignJWT(authn.ExecutorClaims("f", "e", "c"), key)
	call := &schedulerpb.Call{Type: schedulerpb.Call_SUBSCRIBE.Enum(), Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: fwInfo("x")}}
	resp, body := h.post("/api/v1/scheduler", codec.JSON, call, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "principals have a value") {
		t.Errorf("token principal: %d %s", resp.StatusCode, body)
	}
}

// --authenticate_agents: the agent protocol takes only agents with a
// credential of --credentials.
func TestAgentsAuthenticate(t *testing.T) {
	h := startMaster(t, func(c *Config) {
		c.Authenticators = authn.Realms{authn.RealmMasterAgent: authn.NewBasic(authn.RealmMasterAgent, testCreds)}
	})
	for _, auth := range []string{"", basicAuth("agent", "wrong")} {
		req, _ := http.NewRequest(http.MethodPost, h.url("/master/internal/agent"), strings.NewReader(""))
		req.Header.Set("Content-Type", string(codec.Protobuf))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Basic realm="mesos-master-agent"` {
			t.Errorf("agent protocol with %q: %d %q", auth, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	h.auth = basicAuth("agent", "agent-pw")
	if a := h.registerAgent("cpus:1;mem:128"); a.id == "" {
		t.Error("an agent with its credential did not register")
	}
	// The other realms stay open.
	h.auth = ""
	if code, _, _ := h.get("/master/state"); code != http.StatusOK {
		t.Errorf("/master/state: %d", code)
	}
}
