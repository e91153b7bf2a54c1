package agent

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/codec"
)

var agentTestCreds = []authn.Credential{{Principal: "ops", Secret: "ops-pw"}}

// withAuthn turns every realm of the agent on, with basic and JWT
// authenticators as --authenticate_http_executors makes them.
func withAuthn(key []byte) func(*Config) {
	return func(c *Config) {
		c.ExecutorSecretKey = key
		c.Authenticators = authn.Realms{}
		for _, r := range []string{authn.RealmAgentExecutor, authn.RealmAgentReadOnly, authn.RealmAgentReadWrite} {
			c.Authenticators[r] = authn.Combined{authn.NewBasic(r, agentTestCreds), authn.NewJWT(r, key)}
		}
	}
}

func doWithAuth(t *testing.T, req *http.Request, auth string) (int, string, http.Header) {
	t.Helper()
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// The forged-update repro: with executor authentication, the
// executor (given its token in MESOS_EXECUTOR_AUTHENTICATION_TOKEN) runs
// its task, while an UPDATE without a token is 401 and one with another
// container's token is 403 — the framework never hears the forged
// TASK_FINISHED.
func TestForgedExecutorUpdateRefused(t *testing.T) {
	key := []byte("jwt-secret")
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "normal", withAuthn(key))
	runTask(m, commandTask("t1", "sleep"))
	m.ack("t1", m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING))

	forged := execCall(executorpb.Call_UPDATE, "t1")
	u := uuid.New()
	forged.Update = &executorpb.Call_Update{Status: &mesospb.TaskStatus{
		TaskId: &mesospb.TaskID{Value: proto.String("t1")}, State: mesospb.TaskState_TASK_FINISHED.Enum(),
		Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(), Uuid: u[:], Message: proto.String("forged")}}
	body, _ := codec.Marshal(codec.JSON, forged)
	post := func(auth string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ta.addr+"/api/v1/executor", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", string(codec.JSON))
		return doWithAuth(t, req, auth)
	}
	code, text, hdr := post("")
	if code != http.StatusUnauthorized || hdr.Get("WWW-Authenticate") != `Basic realm="mesos-agent-executor", Bearer realm="mesos-agent-executor"` {
		t.Errorf("forged UPDATE without a token: %d %q %s", code, hdr.Get("WWW-Authenticate"), text)
	}
	other := authn.SignJWT(authn.ExecutorClaims(testFrameworkID, "t1", "another-container"), key)
	if code, text, _ := post("Bearer " + other); code != http.StatusForbidden || !strings.Contains(text, "does not contain a 'cid' claim with the correct active ContainerID") {
		t.Errorf("forged UPDATE with another container's token: %d %s", code, text)
	}
	wrongKey := authn.SignJWT(authn.ExecutorClaims(testFrameworkID, "t1", "x"), []byte("guess"))
	if code, text, _ := post("Bearer " + wrongKey); code != http.StatusUnauthorized {
		t.Errorf("forged UPDATE with a token of another key: %d %s", code, text)
	}
	// An operator's basic credentials are not an executor's claims: 403.
	ops := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:ops-pw"))
	if code, text, _ := post(ops); code != http.StatusForbidden || !strings.Contains(text, "'fid' claim") {
		t.Errorf("forged UPDATE with operator credentials: %d %s", code, text)
	}
	time.Sleep(300 * time.Millisecond)
	for _, st := range m.updates("t1") {
		if st.GetState() == mesospb.TaskState_TASK_FINISHED {
			t.Errorf("the framework received the forged update: %v", st)
		}
	}
}

// With every agent realm authenticated, every registered route but
// /health and /version answers 401 without credentials; an executor's
// token may launch nested containers only under its own container.
func TestAgentAuthenticationEveryRoute(t *testing.T) {
	key := []byte("jwt-secret")
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "noregister", withAuthn(key))
	routes := ta.Handler().(*httpapi.Router).Routes()
	if len(routes) < 15 {
		t.Fatalf("only %d routes: %v", len(routes), routes)
	}
	open := map[string]bool{"/slave(1)/health": true, "/slave(1)/version": true, "/version/": true}
	for _, route := range routes {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req, _ := http.NewRequest(method, "http://"+ta.addr+route, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			code, body, hdr := doWithAuth(t, req, "")
			if open[route] {
				if code == http.StatusUnauthorized {
					t.Errorf("%s %s: 401, but Mesos leaves it open", method, route)
				}
				continue
			}
			id, name, _ := strings.Cut(route[1:], "/")
			realm := AgentRealm(id, "/"+name)
			if code != http.StatusUnauthorized || body != "401 Unauthorized." ||
				!strings.HasPrefix(hdr.Get("WWW-Authenticate"), `Basic realm="`+realm+`"`) {
				t.Errorf("%s %s without credentials: %d %q %q, want 401 for realm %s", method, route, code, hdr.Get("WWW-Authenticate"), body, realm)
			}
		}
	}
	ops := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:ops-pw"))
	req, _ := http.NewRequest(http.MethodGet, "http://"+ta.addr+"/state", nil)
	if code, _, _ := doWithAuth(t, req, ops); code != http.StatusOK {
		t.Errorf("/state with credentials: %d", code)
	}

	// An executor token on the operator API.
	tok := "Bearer " + authn.SignJWT(authn.ExecutorClaims("f", "e", "mine"), key)
	call := func(c *agentpb.Call) (int, string) {
		b, _ := codec.Marshal(codec.JSON, c)
		req, _ := http.NewRequest(http.MethodPost, "http://"+ta.addr+"/api/v1", strings.NewReader(string(b)))
		req.Header.Set("Content-Type", string(codec.JSON))
		req.Header.Set("Accept", string(codec.JSON))
		code, body, _ := doWithAuth(t, req, tok)
		return code, body
	}
	cid := func(v string, parent *mesospb.ContainerID) *mesospb.ContainerID {
		return &mesospb.ContainerID{Value: proto.String(v), Parent: parent}
	}
	if code, body := call(&agentpb.Call{Type: agentpb.Call_GET_STATE.Enum()}); code != http.StatusForbidden {
		t.Errorf("GET_STATE with an executor token: %d %s", code, body)
	}
	if code, body := call(&agentpb.Call{Type: agentpb.Call_KILL_NESTED_CONTAINER.Enum(),
		KillNestedContainer: &agentpb.Call_KillNestedContainer{ContainerId: cid("n", cid("theirs", nil))}}); code != http.StatusForbidden {
		t.Errorf("KILL_NESTED_CONTAINER under another container with an executor token: %d %s", code, body)
	}
	// Under its own container the call gets past authentication (the
	// container does not exist: 404).
	if code, body := call(&agentpb.Call{Type: agentpb.Call_KILL_NESTED_CONTAINER.Enum(),
		KillNestedContainer: &agentpb.Call_KillNestedContainer{ContainerId: cid("n", cid("mine", nil))}}); code == http.StatusForbidden || code == http.StatusUnauthorized {
		t.Errorf("KILL_NESTED_CONTAINER under its own container: %d %s", code, body)
	}
}
