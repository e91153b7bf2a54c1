// Package commonvalidation holds the checks Mesos's master, agent and
// executors share (Mesos's src/common/validation.cpp): a command's
// environment and its secrets, with Mesos's messages. The master's and the
// agent's validation packages, the health checks and the environment
// secret isolator all use it, so that one message never drifts from
// another.
package commonvalidation

import (
	"errors"
	"fmt"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// CommandInfo is validateCommandInfo: the command's environment.
func CommandInfo(c *mesospb.CommandInfo) error {
	return Environment(c.GetEnvironment())
}

// Environment is validateEnvironment: each variable's type matches what
// it holds, a secret is valid and holds no null byte.
func Environment(env *mesospb.Environment) error {
	for _, v := range env.GetVariables() {
		name := v.GetName()
		switch v.GetType() {
		case mesospb.Environment_Variable_SECRET:
			if v.Secret == nil {
				return fmt.Errorf("Environment variable '%s' of type 'SECRET' must have a secret set", name)
			}
			if v.Value != nil {
				return fmt.Errorf("Environment variable '%s' of type 'SECRET' must not have a value set", name)
			}
			if err := Secret(v.GetSecret()); err != nil {
				return fmt.Errorf("Environment variable '%s' specifies an invalid secret: %v", name, err)
			}
			if strings.IndexByte(string(v.GetSecret().GetValue().GetData()), 0) >= 0 {
				return fmt.Errorf("Environment variable '%s' specifies a secret containing null bytes, which is not allowed in the environment", name)
			}
		case mesospb.Environment_Variable_VALUE:
			if v.Value == nil {
				return fmt.Errorf("Environment variable '%s' of type 'VALUE' must have a value set", name)
			}
			if v.Secret != nil {
				return fmt.Errorf("Environment variable '%s' of type 'VALUE' must not have a secret set", name)
			}
		default:
			return errors.New("Environment variable of type 'UNKNOWN' is not allowed")
		}
	}
	return nil
}

// Secret is validateSecret: a REFERENCE secret has a reference and no
// value, a VALUE secret the other way round.
func Secret(s *mesospb.Secret) error {
	switch s.GetType() {
	case mesospb.Secret_REFERENCE:
		if s.Reference == nil {
			return errors.New("Secret of type REFERENCE must have the 'reference' field set")
		}
		if s.Value != nil {
			return fmt.Errorf("Secret '%s' of type REFERENCE must not have the 'value' field set", s.GetReference().GetName())
		}
	case mesospb.Secret_VALUE:
		if s.Value == nil {
			return errors.New("Secret of type VALUE must have the 'value' field set")
		}
		if s.Reference != nil {
			return errors.New("Secret of type VALUE must not have the 'reference' field set")
		}
	}
	return nil
}
