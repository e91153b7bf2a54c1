package checks

import (
	"errors"
	"fmt"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/commonvalidation"
)

// ValidateHealthCheck checks a HealthCheck as Mesos's
// common::validation::validateHealthCheck does, with its messages.
func ValidateHealthCheck(hc *mesospb.HealthCheck) error {
	if hc.Type == nil {
		return errors.New("HealthCheck must specify 'type'")
	}
	switch hc.GetType() {
	case mesospb.HealthCheck_COMMAND:
		if hc.Command == nil {
			return errors.New("Expecting 'command' to be set for COMMAND health check")
		}
		if hc.GetCommand().Value == nil {
			return fmt.Errorf("Command health check must contain %s", commandKind(hc.GetCommand()))
		}
		if err := commonvalidation.Environment(hc.GetCommand().GetEnvironment()); err != nil {
			return fmt.Errorf("Health check's `CommandInfo` is invalid: %w", err)
		}
	case mesospb.HealthCheck_HTTP:
		if hc.Http == nil {
			return errors.New("Expecting 'http' to be set for HTTP health check")
		}
		h := hc.GetHttp()
		if h.Scheme != nil && h.GetScheme() != "http" && h.GetScheme() != "https" {
			return fmt.Errorf("Unsupported HTTP health check scheme: '%s'", h.GetScheme())
		}
		if h.Path != nil && !strings.HasPrefix(h.GetPath(), "/") {
			return fmt.Errorf("The path '%s' of HTTP health check must start with '/'", h.GetPath())
		}
	case mesospb.HealthCheck_TCP:
		if hc.Tcp == nil {
			return errors.New("Expecting 'tcp' to be set for TCP health check")
		}
	default:
		return fmt.Errorf("'%s' is not a valid health check type", typeName(mesospb.HealthCheck_Type_name, int32(hc.GetType())))
	}
	if hc.DelaySeconds != nil && hc.GetDelaySeconds() < 0 {
		return errors.New("Expecting 'delay_seconds' to be non-negative")
	}
	if hc.GracePeriodSeconds != nil && hc.GetGracePeriodSeconds() < 0 {
		return errors.New("Expecting 'grace_period_seconds' to be non-negative")
	}
	if hc.IntervalSeconds != nil && hc.GetIntervalSeconds() < 0 {
		return errors.New("Expecting 'interval_seconds' to be non-negative")
	}
	if hc.TimeoutSeconds != nil && hc.GetTimeoutSeconds() < 0 {
		return errors.New("Expecting 'timeout_seconds' to be non-negative")
	}
	return nil
}

// ValidateCheckInfo checks a CheckInfo as Mesos's
// common::validation::validateCheckInfo does, with its messages.
func ValidateCheckInfo(ci *mesospb.CheckInfo) error {
	if ci.Type == nil {
		return errors.New("CheckInfo must specify 'type'")
	}
	switch ci.GetType() {
	case mesospb.CheckInfo_COMMAND:
		if ci.Command == nil {
			return errors.New("Expecting 'command' to be set for COMMAND check")
		}
		cmd := ci.GetCommand().GetCommand()
		if cmd.Value == nil {
			return fmt.Errorf("Command check must contain %s", commandKind(cmd))
		}
		if err := commonvalidation.Environment(cmd.GetEnvironment()); err != nil {
			return fmt.Errorf("Check's `CommandInfo` is invalid: %w", err)
		}
	case mesospb.CheckInfo_HTTP:
		if ci.Http == nil {
			return errors.New("Expecting 'http' to be set for HTTP check")
		}
		if p := ci.GetHttp().Path; p != nil && !strings.HasPrefix(*p, "/") {
			return fmt.Errorf("The path '%s' of HTTP check must start with '/'", *p)
		}
	case mesospb.CheckInfo_TCP:
		if ci.Tcp == nil {
			return errors.New("Expecting 'tcp' to be set for TCP check")
		}
	default:
		return fmt.Errorf("'%s' is not a valid check type", typeName(mesospb.CheckInfo_Type_name, int32(ci.GetType())))
	}
	if ci.DelaySeconds != nil && ci.GetDelaySeconds() < 0 {
		return errors.New("Expecting 'delay_seconds' to be non-negative")
	}
	if ci.IntervalSeconds != nil && ci.GetIntervalSeconds() < 0 {
		return errors.New("Expecting 'interval_seconds' to be non-negative")
	}
	if ci.TimeoutSeconds != nil && ci.GetTimeoutSeconds() < 0 {
		return errors.New("Expecting 'timeout_seconds' to be non-negative")
	}
	return nil
}

// ValidateCheckStatusInfo checks a CheckStatusInfo as Mesos's
// common::validation::validateCheckStatusInfo does (the agent applies it to
// executors' status updates).
func ValidateCheckStatusInfo(cs *mesospb.CheckStatusInfo) error {
	if cs.Type == nil {
		return errors.New("CheckStatusInfo must specify 'type'")
	}
	switch cs.GetType() {
	case mesospb.CheckInfo_COMMAND:
		if cs.Command == nil {
			return errors.New("Expecting 'command' to be set for COMMAND check's status")
		}
	case mesospb.CheckInfo_HTTP:
		if cs.Http == nil {
			return errors.New("Expecting 'http' to be set for HTTP check's status")
		}
	case mesospb.CheckInfo_TCP:
		if cs.Tcp == nil {
			return errors.New("Expecting 'tcp' to be set for TCP check's status")
		}
	default:
		return fmt.Errorf("'%s' is not a valid check's status type", typeName(mesospb.CheckInfo_Type_name, int32(cs.GetType())))
	}
	return nil
}

func commandKind(c *mesospb.CommandInfo) string {
	if c.GetShell() {
		return "'shell command'"
	}
	return "'executable path'"
}

// typeName is protobuf's Type_Name: the enum's name, or its number when it
// has none.
func typeName(names map[int32]string, v int32) string {
	if n, ok := names[v]; ok {
		return n
	}
	return fmt.Sprint(v)
}
