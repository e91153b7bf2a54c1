package agent

import (
	"slices"
	"testing"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/tlsconfig"
	"github.com/meso-project/meso/pkg/tlsconfig/tlstest"
)

// TestExecutorEnvCarriesTLS: an agent whose TLS came from its Config (not
// its process environment, as in `meso local` or tests) still gives its
// executors the LIBPROCESS_SSL_* they need to reach it over TLS, as Mesos
// executors inherit them from the agent.
func TestExecutorEnvCarriesTLS(t *testing.T) {
	pki := tlstest.New(t, "agent")
	tc, err := tlsconfig.FromEnv(tlstest.Lookup(pki.Env(nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: Config{TLS: tc}, info: &mesospb.AgentInfo{}, ip: "127.0.0.1", port: 5051}
	ex := &executor{id: "e", fw: &framework{id: "f", info: &mesospb.FrameworkInfo{}}, info: &mesospb.ExecutorInfo{}}
	env := a.executorEnv(ex)
	for _, want := range []string{
		"LIBPROCESS_SSL_ENABLED=true",
		"LIBPROCESS_SSL_CERT_FILE=" + pki.CertFile,
		"LIBPROCESS_SSL_KEY_FILE=" + pki.KeyFile,
		"LIBPROCESS_SSL_CA_FILE=" + pki.CAFile,
		"LIBPROCESS_SSL_REQUIRE_CERT=true",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("executor environment lacks %s", want)
		}
	}
}
