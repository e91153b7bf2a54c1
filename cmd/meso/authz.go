package main

import (
	"flag"
	"fmt"

	"github.com/meso-project/meso/internal/authz"
)

// authzFlags are Mesos's --acls and --authorizers, shared by the master
// and the agent.
type authzFlags struct {
	acls, authorizers string
	built             authz.Authorizer // set by build
}

// defaultAuthorizer is Mesos's DEFAULT_AUTHORIZER.
const defaultAuthorizer = "local"

func (f *authzFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.acls, "acls", "",
		"JSON ACLs (Mesos's acls.proto) for authorization, or a path to them: file:///path or /path;\n"+
			"without it nothing is authorized against ACLs (everything is allowed)")
	fs.StringVar(&f.authorizers, "authorizers", defaultAuthorizer,
		"authorizer implementation: only the default local one (the ACLs of --acls) exists")
}

// build creates the authorizer as Mesos's main does: exactly one
// authorizer name; "local" with --acls is the LocalAuthorizer, "local"
// without --acls is none; any other name would be a module, which meso
// does not load.
func (f *authzFlags) build() error {
	names := splitNonEmpty(f.authorizers, ",")
	switch {
	case len(names) == 0:
		return fmt.Errorf("No authorizer specified")
	case len(names) > 1:
		return fmt.Errorf("Multiple authorizers not supported")
	case names[0] != defaultAuthorizer:
		return fmt.Errorf("Could not create '%s' authorizer: no authorizer modules are supported (only '%s')",
			names[0], defaultAuthorizer)
	}
	if f.acls == "" {
		return nil
	}
	acls, err := authz.ParseFlag(f.acls)
	if err != nil {
		return fmt.Errorf("Could not create '%s' authorizer: %w", defaultAuthorizer, err)
	}
	f.built = authz.NewLocal(acls)
	return nil
}
