// Package secret is Mesos's environment_secret isolator, which every Mesos
// agent runs: environment variables of type SECRET in the executor's
// command get their values from the secret resolver. meso's resolver is
// Mesos's default one: it resolves secrets given by value and cannot
// resolve references.
package secret

import (
	"context"
	"errors"
	"fmt"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/commonvalidation"
	"github.com/meso-project/meso/internal/containerizer"
)

// EnvironmentSecret is the environment_secret isolator.
type EnvironmentSecret struct{}

var (
	_ containerizer.Preparer       = EnvironmentSecret{}
	_ containerizer.NestedPreparer = EnvironmentSecret{}
)

// PrepareNested resolves a nested container's secrets as Prepare does.
func (e EnvironmentSecret) PrepareNested(ctx context.Context, cfg containerizer.ContainerConfig) (*containerizer.LaunchInfo, error) {
	return e.Prepare(ctx, cfg)
}

// Name is "environment_secret".
func (EnvironmentSecret) Name() string { return "environment_secret" }

// Prepare resolves the command's SECRET variables into the container's
// environment; a secret it cannot resolve fails the launch, with Mesos's
// messages.
func (EnvironmentSecret) Prepare(_ context.Context, cfg containerizer.ContainerConfig) (*containerizer.LaunchInfo, error) {
	var env []string
	for _, v := range cfg.CommandInfo.GetEnvironment().GetVariables() {
		if v.GetType() != mesospb.Environment_Variable_SECRET {
			continue
		}
		if err := commonvalidation.Secret(v.GetSecret()); err != nil {
			return nil, fmt.Errorf("Invalid secret specified in environment '%s': %w", v.GetName(), err)
		}
		value, err := resolve(v.GetSecret())
		if err != nil {
			return nil, err
		}
		env = append(env, v.GetName()+"="+string(value))
	}
	if env == nil {
		return nil, nil
	}
	return &containerizer.LaunchInfo{Env: env}, nil
}

// resolve is Mesos's default secret resolver.
func resolve(s *mesospb.Secret) ([]byte, error) {
	if s.Reference != nil {
		return nil, errors.New("Default secret resolver cannot resolve references")
	}
	if s.Value == nil {
		return nil, errors.New("Secret has no value")
	}
	return s.GetValue().GetData(), nil
}
