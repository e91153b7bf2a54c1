package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/cli"
	"github.com/meso-project/meso/internal/local"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A cluster with every authentication on — agents authenticate to the
// master with their credential, executors to the agent with their tokens,
// frameworks and operators with basic credentials: `meso execute
// --principal --secret` runs a command task (command executor) and a task
// group (default executor, whose nested containers are launched with its
// token), and is refused without the secret.
func TestSecureClusterExecute(t *testing.T) {
	creds := []authn.Credential{{Principal: "fw", Secret: "fw-pw"}, {Principal: "agent", Secret: "agent-pw"}}
	key := []byte("executor-signing-key")
	c := cluster(t, func(cfg *local.Config) {
		cfg.Master.Authenticators = authn.Realms{}
		for _, r := range []string{authn.RealmMasterReadOnly, authn.RealmMasterReadWrite, authn.RealmMasterScheduler, authn.RealmMasterAgent} {
			cfg.Master.Authenticators[r] = authn.NewBasic(r, creds)
		}
		cfg.Agent.Credential = &creds[1]
		cfg.Agent.ExecutorSecretKey = key
		cfg.Agent.Authenticators = authn.Realms{}
		for _, r := range []string{authn.RealmAgentReadOnly, authn.RealmAgentReadWrite, authn.RealmAgentExecutor} {
			cfg.Agent.Authenticators[r] = authn.Combined{authn.NewBasic(r, creds), authn.NewJWT(r, key)}
		}
	})
	// The master's /state needs credentials.
	resp, err := http.Get("http://" + c.MasterAddr + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/master/state without credentials: %d", resp.StatusCode)
	}

	run := func(cfg cli.ExecuteConfig) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		var out lockedBuffer
		code := cli.Execute(ctx, cfg, &out)
		return code, out.String()
	}
	base := func() cli.ExecuteConfig {
		cfg := cli.NewExecuteConfig()
		cfg.Master = c.MasterAddr
		cfg.User = currentUser()
		cfg.Principal, cfg.Secret, cfg.HasSecret = "fw", "fw-pw", true
		return cfg
	}

	cmd := base()
	cmd.Name, cmd.Command = "hello", "echo hello"
	if code, out := run(cmd); code != 0 || !strings.Contains(out, "TASK_FINISHED") {
		t.Errorf("meso execute --principal --secret (command task): exit %d\n%s", code, out)
	}

	group := base()
	group.TaskGroup = `{"tasks":[{"name":"a","task_id":{"value":"a"},"agent_id":{"value":""},
		"command":{"value":"true"},
		"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.1}},{"name":"mem","type":"SCALAR","scalar":{"value":32}}]}]}`
	if code, out := run(group); code != 0 || !strings.Contains(out, "TASK_FINISHED") {
		t.Errorf("meso execute --task_group with credentials (default executor): exit %d\n%s", code, out)
	}

	refused := base()
	refused.Name, refused.Command = "nope", "true"
	refused.Secret = "wrong"
	if code, out := run(refused); code == 0 {
		t.Errorf("meso execute with a wrong secret succeeded:\n%s", out)
	}
}
