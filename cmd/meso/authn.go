package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/flags"
)

// masterAuthnFlags are the master's authentication flags, with Mesos's
// names and defaults (docs/configuration/master.md).
type masterAuthnFlags struct {
	frameworks, agents, httpReadonly, httpReadwrite, httpFrameworks bool
	authenticators, httpAuthenticators, httpFrameworkAuthenticators string
	credentials                                                     flags.Path
}

func (f *masterAuthnFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.frameworks, "authenticate_frameworks", false,
		"only authenticated frameworks may register; meso's frameworks all speak HTTP, so this\n"+
			"authenticates /api/v1/scheduler with --credentials like --authenticate_http_frameworks")
	fs.BoolVar(&f.agents, "authenticate_agents", false,
		"only agents that authenticate with a principal of --credentials (their --credential) may register")
	fs.BoolVar(&f.httpReadonly, "authenticate_http_readonly", false,
		"authenticate the read-only endpoints (realm mesos-master-readonly: /state, /metrics/snapshot, /files, ...)")
	fs.BoolVar(&f.httpReadwrite, "authenticate_http_readwrite", false,
		"authenticate the endpoints that can change state (realm mesos-master-readwrite: /api/v1, /teardown, ...)")
	fs.BoolVar(&f.httpFrameworks, "authenticate_http_frameworks", false,
		"authenticate HTTP frameworks (realm mesos-master-scheduler: /api/v1/scheduler); needs --http_framework_authenticators")
	fs.StringVar(&f.authenticators, "authenticators", "crammd5",
		"authenticator of frameworks and agents on the agent protocol: crammd5 (the built-in one, over --credentials)")
	fs.StringVar(&f.httpAuthenticators, "http_authenticators", "basic", "HTTP authenticators of the operator endpoints: basic")
	fs.StringVar(&f.httpFrameworkAuthenticators, "http_framework_authenticators", "",
		"HTTP authenticators of the scheduler endpoint: basic")
	fs.Var(&f.credentials, "credentials",
		"path (or file:// URL) of a JSON file of credentials: {\"credentials\":[{\"principal\":\"p\",\"secret\":\"s\"}]}")
}

// realms checks the flags as Mesos's master does at startup (same
// messages) and builds the authenticators of each realm.
func (f *masterAuthnFlags) realms(logger *slog.Logger) (authn.Realms, error) {
	var creds []authn.Credential
	if f.credentials.Value != "" {
		c, err := authn.ReadCredentials(f.credentials.Value, "--credentials")
		if err != nil {
			return nil, err
		}
		warnOpenPermissions(logger, f.credentials.Value, "credentials")
		creds = c
	}
	if f.authenticators != "crammd5" {
		return nil, fmt.Errorf("Authenticator '%s' not found. Check the spelling (compare to 'crammd5') or verify that the authenticator was loaded successfully (see --modules)", f.authenticators)
	}
	rs := authn.Realms{}
	if f.frameworks || f.agents {
		// Mesos's CRAM-MD5 authenticator fails to initialize without
		// credentials, which is fatal with either flag.
		if creds == nil {
			return nil, fmt.Errorf("Failed to start master with authentication enabled: Failed to initialize authenticator 'crammd5': No credentials provided")
		}
	}
	if f.agents {
		rs[authn.RealmMasterAgent] = authn.NewBasic(authn.RealmMasterAgent, creds)
	}
	add := func(on bool, realm, names string) error {
		if !on {
			return nil
		}
		a, err := authn.Build(realm, names, creds, nil)
		if err != nil {
			return err
		}
		rs[realm] = a
		return nil
	}
	if err := add(f.httpReadonly, authn.RealmMasterReadOnly, f.httpAuthenticators); err != nil {
		return nil, err
	}
	if err := add(f.httpReadwrite, authn.RealmMasterReadWrite, f.httpAuthenticators); err != nil {
		return nil, err
	}
	if f.httpFrameworks && f.httpFrameworkAuthenticators == "" {
		return nil, fmt.Errorf("Missing `--http_framework_authenticators` flag. This must be used in conjunction with `--authenticate_http_frameworks`")
	}
	names := f.httpFrameworkAuthenticators
	if names == "" {
		names = authn.BasicName
	}
	if err := add(f.httpFrameworks || f.frameworks, authn.RealmMasterScheduler, names); err != nil {
		return nil, err
	}
	return rs, nil
}

// agentAuthnFlags are the agent's authentication flags
// (docs/configuration/agent.md).
type agentAuthnFlags struct {
	httpReadonly, httpReadwrite, httpExecutors bool
	httpAuthenticators, authenticatee          string
	httpCredentials, credential, jwtSecretKey  flags.Path
}

func (f *agentAuthnFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.httpReadonly, "authenticate_http_readonly", false,
		"authenticate the read-only endpoints (realm mesos-agent-readonly: /state, /containers, /files, ...)")
	fs.BoolVar(&f.httpReadwrite, "authenticate_http_readwrite", false,
		"authenticate the endpoints that can change state (realm mesos-agent-readwrite: /api/v1)")
	fs.BoolVar(&f.httpExecutors, "authenticate_http_executors", false,
		"authenticate executors on /api/v1/executor with per-executor tokens signed with --jwt_secret_key\n"+
			"(MESOS_EXECUTOR_AUTHENTICATION_TOKEN); the other realms then also accept those tokens")
	fs.StringVar(&f.httpAuthenticators, "http_authenticators", "",
		"HTTP authenticators: basic, jwt (default: basic; basic,jwt with --authenticate_http_executors)")
	fs.Var(&f.httpCredentials, "http_credentials",
		"path (or file:// URL) of the JSON credentials of HTTP clients: {\"credentials\":[{\"principal\":\"p\",\"secret\":\"s\"}]}")
	fs.Var(&f.credential, "credential",
		"path (or file:// URL) of this agent's own credential to the master: {\"principal\":\"p\",\"secret\":\"s\"}")
	fs.StringVar(&f.authenticatee, "authenticatee", "crammd5",
		"how the agent authenticates to the master with --credential: crammd5 (the built-in one)")
	fs.Var(&f.jwtSecretKey, "jwt_secret_key", "path of the file holding the key that signs and checks executor tokens (HS256)")
}

// agentAuthn is what the agent's authentication flags resolve to.
type agentAuthn struct {
	realms     authn.Realms
	credential *authn.Credential
	jwtKey     []byte
}

// resolve checks the flags as Mesos's agent does (same messages).
func (f *agentAuthnFlags) resolve(logger *slog.Logger) (agentAuthn, error) {
	var out agentAuthn
	if f.authenticatee != "crammd5" {
		return out, fmt.Errorf("Authenticatee '%s' not found. Check the spelling (compare to 'crammd5') or verify that the authenticatee was loaded successfully (see --modules)", f.authenticatee)
	}
	if f.credential.Value != "" {
		c, err := authn.ReadCredential(f.credential.Value, "--credential")
		if err != nil {
			return out, err
		}
		warnOpenPermissions(logger, f.credential.Value, "credential")
		out.credential = &c
		logger.Info("agent using credential", "principal", c.Principal)
	}
	var creds []authn.Credential
	if f.httpCredentials.Value != "" {
		c, err := authn.ReadCredentials(f.httpCredentials.Value, "--http_credentials")
		if err != nil {
			return out, err
		}
		warnOpenPermissions(logger, f.httpCredentials.Value, "credentials")
		creds = c
	}
	names := f.httpAuthenticators
	if names == "" {
		names = authn.BasicName
		if f.httpExecutors {
			names = authn.BasicName + "," + authn.JWTName
		}
	}
	if f.jwtSecretKey.Value != "" {
		key, err := authn.ReadSecretKey(f.jwtSecretKey.Value)
		if err != nil {
			return out, err
		}
		warnOpenPermissions(logger, f.jwtSecretKey.Value, "executor secret key")
		out.jwtKey = key
	}
	rs := authn.Realms{}
	if f.httpExecutors {
		if out.jwtKey == nil {
			return out, fmt.Errorf("--jwt_secret_key must be specified when --authenticate_http_executors is set to true")
		}
	}
	for _, r := range []struct {
		on    bool
		realm string
	}{
		{f.httpExecutors, authn.RealmAgentExecutor},
		{f.httpReadonly, authn.RealmAgentReadOnly},
		{f.httpReadwrite, authn.RealmAgentReadWrite},
	} {
		if !r.on {
			continue
		}
		a, err := authn.Build(r.realm, names, creds, out.jwtKey)
		if err != nil {
			return out, err
		}
		rs[r.realm] = a
	}
	out.realms = rs
	return out, nil
}

// warnOpenPermissions logs Mesos's warning for a secret file that others
// may read.
func warnOpenPermissions(logger *slog.Logger, path, what string) {
	st, err := os.Stat(authn.FilePath(path))
	if err != nil {
		return
	}
	if st.Mode().Perm()&0o007 != 0 {
		logger.Warn("permissions on "+what+" file are too open; it is recommended that your "+what+" file is NOT accessible by others",
			"path", authn.FilePath(path))
	}
}

// localAuthnFlags are `meso local`'s authentication flags: the master's,
// and the agent's that the master does not have. Flags both have
// (--authenticate_http_readonly, --authenticate_http_readwrite,
// --http_authenticators) apply to the master and to every agent.
type localAuthnFlags struct {
	master masterAuthnFlags
	agent  agentAuthnFlags
}

func (f *localAuthnFlags) register(fs *flag.FlagSet) {
	f.master.register(fs)
	fs.BoolVar(&f.agent.httpExecutors, "authenticate_http_executors", false,
		"authenticate executors on the agents' /api/v1/executor with per-executor tokens signed with --jwt_secret_key")
	fs.Var(&f.agent.httpCredentials, "http_credentials",
		"the agents' HTTP credentials (default: --credentials)")
	fs.Var(&f.agent.credential, "credential",
		"the agents' own credential to the master (needed with --authenticate_agents): {\"principal\":\"p\",\"secret\":\"s\"}")
	fs.StringVar(&f.agent.authenticatee, "authenticatee", "crammd5",
		"how the agents authenticate to the master with --credential: crammd5 (the built-in one)")
	fs.Var(&f.agent.jwtSecretKey, "jwt_secret_key", "path of the file holding the key that signs and checks executor tokens (HS256)")
}

// resolve checks the flags as `meso master` and `meso agent` do and
// returns the master's realms and what the agents use. explicit reports
// whether a flag was given (on the command line or in the environment).
func (f *localAuthnFlags) resolve(logger *slog.Logger, explicit func(name string) bool) (authn.Realms, agentAuthn, error) {
	realms, err := f.master.realms(logger)
	if err != nil {
		return nil, agentAuthn{}, err
	}
	a := f.agent
	a.httpReadonly, a.httpReadwrite = f.master.httpReadonly, f.master.httpReadwrite
	if explicit("http_authenticators") {
		a.httpAuthenticators = f.master.httpAuthenticators
	}
	if a.httpCredentials.Value == "" {
		a.httpCredentials = f.master.credentials
	}
	if f.master.agents && a.credential.Value == "" {
		return nil, agentAuthn{}, fmt.Errorf("--authenticate_agents needs --credential: the file of the agents' own credential, one of --credentials ({\"principal\":\"p\",\"secret\":\"s\"})")
	}
	auth, err := a.resolve(logger)
	if err != nil {
		return nil, agentAuthn{}, err
	}
	return realms, auth, nil
}
