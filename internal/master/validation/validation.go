// Package validation holds the master's pure checks of what schedulers send:
// IDs, roles, FrameworkInfo, scheduler Calls, TaskInfo, task groups and
// executors. It mirrors src/master/validation.cpp of Apache Mesos, including
// the order of the checks and the error messages, because schedulers see
// those messages in ERROR events, 400 bodies and TASK_ERROR updates.
//
// Everything here is a function of its arguments: no clocks, no I/O, no
// master state. The master passes what a check needs to know about its
// state (existing task IDs, executors on the agent, offered resources) in a
// TaskContext.
package validation

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
)

// nameMax is NAME_MAX, the longest ID Mesos accepts.
const nameMax = 255

// ID checks a client-supplied ID (TaskID, ExecutorID, FrameworkID,
// AgentID): non-empty, at most 255 characters, not "." or "..", no control
// characters and no path separators (spec §0.4).
func ID(id string) error {
	if id == "" {
		return errors.New("ID must not be empty")
	}
	if len(id) > nameMax {
		return fmt.Errorf("ID must not be greater than %d characters", nameMax)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("'%s' is disallowed", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return fmt.Errorf("'%s' contains invalid characters", id)
		}
	}
	return nil
}

// Role checks a role name as Mesos's roles::validate does.
func Role(role string) error {
	if role == "*" {
		return nil
	}
	if strings.HasPrefix(role, "/") {
		return fmt.Errorf("Role '%s' cannot start with a slash", role)
	}
	if strings.HasSuffix(role, "/") {
		return fmt.Errorf("Role '%s' cannot end with a slash", role)
	}
	if strings.Contains(role, "//") {
		return fmt.Errorf("Role '%s' cannot contain two adjacent slashes", role)
	}
	if role == "" {
		return errors.New("Role names cannot be the empty string")
	}
	for _, c := range strings.Split(role, "/") {
		switch {
		case c == ".":
			return fmt.Errorf("Role '%s' cannot include '.' as a component", role)
		case c == "..":
			return fmt.Errorf("Role '%s' cannot include '..' as a component", role)
		case c == "*":
			return fmt.Errorf("Role '%s' cannot include '*' as a component", role)
		case strings.HasPrefix(c, "-"):
			return fmt.Errorf("Role component '%s' is invalid because it starts with a dash", c)
		case strings.ContainsAny(c, "\x08\x0b\x0c\n\r\t "):
			return fmt.Errorf("Role component '%s' is invalid because it contains backspace or whitespace", c)
		}
	}
	return nil
}

func hasCapability(fi *mesospb.FrameworkInfo, c mesospb.FrameworkInfo_Capability_Type) bool {
	for _, x := range fi.GetCapabilities() {
		if x.GetType() == c {
			return true
		}
	}
	return false
}

// Roles returns the framework's roles: `roles` for MULTI_ROLE frameworks,
// else the single `role` ("*" by default).
func Roles(fi *mesospb.FrameworkInfo) []string {
	if hasCapability(fi, mesospb.FrameworkInfo_Capability_MULTI_ROLE) {
		return fi.GetRoles()
	}
	return []string{fi.GetRole()}
}

// FrameworkInfo checks roles, the framework ID, offer filters and the
// failover timeout, in Mesos's order.
func FrameworkInfo(fi *mesospb.FrameworkInfo) error {
	multiRole := hasCapability(fi, mesospb.FrameworkInfo_Capability_MULTI_ROLE)
	if multiRole {
		if fi.Role != nil {
			return errors.New("'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable")
		}
		seen := map[string]bool{}
		var dups []string
		for _, r := range fi.GetRoles() {
			if seen[r] && !slices.Contains(dups, r) {
				dups = append(dups, r)
			}
			seen[r] = true
		}
		if len(dups) > 0 {
			return fmt.Errorf("'FrameworkInfo.roles' contains duplicate items: { %s }", strings.Join(dups, ", "))
		}
		for _, r := range fi.GetRoles() {
			if err := Role(r); err != nil {
				return fmt.Errorf("'FrameworkInfo.roles' contains invalid role: %v", err)
			}
		}
	} else {
		if len(fi.GetRoles()) > 0 {
			return errors.New("'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable")
		}
		if err := Role(fi.GetRole()); err != nil {
			return fmt.Errorf("'FrameworkInfo.role' is not a valid role: %v", err)
		}
	}
	if id := fi.GetId().GetValue(); id != "" {
		if err := ID(id); err != nil {
			return err
		}
	}
	for role, of := range fi.GetOfferFilters() {
		for _, q := range of.GetMinAllocatableResources().GetQuantities() {
			for name, v := range q.GetQuantities() {
				if v.GetValue() < 0 || math.IsNaN(v.GetValue()) {
					return fmt.Errorf("Invalid offer filters for role '%s': negative or NaN quantity of '%s'", role, name)
				}
			}
		}
	}
	// Duration::create: only values out of int64 nanoseconds are refused;
	// negative timeouts are valid (the framework is removed at once).
	t := fi.GetFailoverTimeout()
	if t*1e9 > math.MaxInt64 || t*1e9 < math.MinInt64 {
		return fmt.Errorf("The framework failover_timeout (%v) is invalid", t)
	}
	return nil
}

// FrameworkUpdate checks that a re-subscription or UPDATE_FRAMEWORK does
// not change the immutable fields (principal, user, checkpoint).
func FrameworkUpdate(old, updated *mesospb.FrameworkInfo) error {
	if (old.Principal == nil) != (updated.Principal == nil) || old.GetPrincipal() != updated.GetPrincipal() {
		return errors.New("Changing framework's principal is not allowed.")
	}
	if old.GetUser() != updated.GetUser() {
		return fmt.Errorf("Updating 'FrameworkInfo.user' is unsupported; attempted to update from '%s' to '%s'", old.GetUser(), updated.GetUser())
	}
	if old.GetCheckpoint() != updated.GetCheckpoint() {
		return fmt.Errorf("Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from '%t' to '%t'", old.GetCheckpoint(), updated.GetCheckpoint())
	}
	return nil
}

// SuppressedRoles checks that suppressed is a subset of roles.
func SuppressedRoles(roles, suppressed []string) error {
	var bad []string
	for _, r := range suppressed {
		if !slices.Contains(roles, r) && !slices.Contains(bad, r) {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("Suppressed roles { %s } are not contained in the set of roles", strings.Join(bad, ", "))
	}
	return nil
}

// SchedulerCall checks the structure of a v1 scheduler Call before the
// master looks at its state (validation::scheduler::call::validate).
func SchedulerCall(call *schedulerpb.Call) error {
	if call.Type == nil {
		return errors.New("Expecting 'type' to be present")
	}
	if call.GetType() == schedulerpb.Call_SUBSCRIBE {
		if call.Subscribe == nil {
			return errors.New("Expecting 'subscribe' to be present")
		}
		fi := call.GetSubscribe().GetFrameworkInfo()
		if (fi.Id == nil) != (call.FrameworkId == nil) || fi.GetId().GetValue() != call.GetFrameworkId().GetValue() {
			return errors.New("'framework_id' differs from 'subscribe.framework_info.id'")
		}
		return nil
	}
	if call.FrameworkId == nil {
		return errors.New("Expecting 'framework_id' to be present")
	}
	missing := func(name string) error { return fmt.Errorf("Expecting '%s' to be present", name) }
	switch call.GetType() {
	case schedulerpb.Call_ACCEPT:
		if call.Accept == nil {
			return missing("accept")
		}
	case schedulerpb.Call_DECLINE:
		if call.Decline == nil {
			return missing("decline")
		}
	case schedulerpb.Call_ACCEPT_INVERSE_OFFERS:
		if call.AcceptInverseOffers == nil {
			return missing("accept_inverse_offers")
		}
	case schedulerpb.Call_DECLINE_INVERSE_OFFERS:
		if call.DeclineInverseOffers == nil {
			return missing("decline_inverse_offers")
		}
	case schedulerpb.Call_KILL:
		if call.Kill == nil {
			return missing("kill")
		}
	case schedulerpb.Call_SHUTDOWN:
		if call.Shutdown == nil {
			return missing("shutdown")
		}
	case schedulerpb.Call_ACKNOWLEDGE:
		if call.Acknowledge == nil {
			return missing("acknowledge")
		}
		if err := UUID(call.GetAcknowledge().GetUuid()); err != nil {
			return err
		}
	case schedulerpb.Call_ACKNOWLEDGE_OPERATION_STATUS:
		a := call.GetAcknowledgeOperationStatus()
		if a == nil {
			return missing("acknowledge_operation_status")
		}
		if err := UUID(a.GetUuid()); err != nil {
			return err
		}
		if a.AgentId == nil {
			return missing("agent_id")
		}
	case schedulerpb.Call_RECONCILE:
		if call.Reconcile == nil {
			return missing("reconcile")
		}
	case schedulerpb.Call_RECONCILE_OPERATIONS:
		if call.ReconcileOperations == nil {
			return missing("reconcile_operations")
		}
	case schedulerpb.Call_MESSAGE:
		if call.Message == nil {
			return missing("message")
		}
	case schedulerpb.Call_REQUEST:
		if call.Request == nil {
			return missing("request")
		}
	case schedulerpb.Call_UPDATE_FRAMEWORK:
		if call.UpdateFramework == nil {
			return missing("update_framework")
		}
		if call.GetFrameworkId().GetValue() != call.GetUpdateFramework().GetFrameworkInfo().GetId().GetValue() {
			return errors.New("'framework_id' differs from 'update_framework.framework_info.id'")
		}
	}
	return nil
}

// UUID checks that b is a 16 byte UUID of a known version (1-5), as
// stout's UUID::fromBytes does for acknowledgements; the message is
// Mesos's, without detail.
func UUID(b []byte) error {
	if len(b) != 16 {
		return errors.New("Not a valid UUID")
	}
	if v := b[6] >> 4; v < 1 || v > 5 {
		return errors.New("Not a valid UUID")
	}
	return nil
}
