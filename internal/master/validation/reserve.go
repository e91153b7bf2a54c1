package validation

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/resources"
)

// ReserveContext is what checking a RESERVE operation needs to know
// besides its resources.
type ReserveContext struct {
	// Principal is FrameworkInfo.principal (nil when unset): reservations
	// must then name it (Mesos passes the framework's principal).
	Principal *string
	// FrameworkRoles are the roles of the framework sending the operation;
	// nil means an operator request (RESERVE_RESOURCES, /reserve).
	FrameworkRoles []string
	// Framework is true for operations sent by a framework.
	Framework bool
	// AgentHierarchicalRole and AgentRefinement are the agent's
	// HIERARCHICAL_ROLE and RESERVATION_REFINEMENT capabilities.
	AgentHierarchicalRole, AgentRefinement bool
	// Source is Reserve.source (post-refinement format): when set, the
	// operation converts these reservations instead of pushing one.
	Source resources.Resources
}

// Reserve checks a RESERVE operation whose resources are already in the
// post-refinement format with the offer's allocation_info injected
// (validation::operation::validate(Reserve)). Every resource must be
// dynamically reserved, allocated to the role it is reserved for, which
// must be one of the framework's roles; with a principal, reservations must
// carry it; all resources must be allocated to one role.
func Reserve(rs resources.Resources, c ReserveContext) error {
	if err := reservationResources(rs); err != nil {
		return fmt.Errorf("Invalid resources: %w", err)
	}
	if err := reservationResources(c.Source); err != nil {
		return fmt.Errorf("Invalid source: %w", err)
	}
	if len(c.Source) > 0 {
		if err := reserveSource(c.Source, rs); err != nil {
			return err
		}
	}
	for _, r := range rs {
		str := resources.FormatResource(r)
		if !resources.IsDynamicallyReserved(r) {
			return fmt.Errorf("Resource %s is not dynamically reserved", str)
		}
		role := resources.ReservationRole(r)
		if !c.AgentHierarchicalRole && strings.Contains(role, "/") {
			return fmt.Errorf("Resource %s with reservation for hierarchical role '%s' cannot be reserved on an agent without HIERARCHICAL_ROLE capability", str, role)
		}
		if !c.AgentRefinement && resources.IsRefined(r) {
			return fmt.Errorf("Resource %s with reservation refinement cannot be reserved on an agent without RESERVATION_REFINEMENT capability", str)
		}
		if c.Principal != nil {
			last := r.GetReservations()[len(r.GetReservations())-1]
			if last.Principal == nil {
				return fmt.Errorf("A reserve operation was attempted by principal '%s', but there is a reserved resource in the request with no principal set", *c.Principal)
			}
			if last.GetPrincipal() != *c.Principal {
				return fmt.Errorf("A reserve operation was attempted by authenticated principal '%s', which does not match a reserved resource in the request with principal '%s'", *c.Principal, last.GetPrincipal())
			}
		}
		if !c.Framework {
			if r.AllocationInfo != nil {
				return errors.New("A reserve operation was attempted with an allocated resource, but the operator API only allows reservations to be made to unallocated resources")
			}
			continue
		}
		if r.GetAllocationInfo().Role == nil {
			return fmt.Errorf("A reserve operation was attempted on unallocated resource %s, but frameworks can only perform reservations on allocated resources", str)
		}
		alloc := r.GetAllocationInfo().GetRole()
		if alloc != role {
			return fmt.Errorf("A reserve operation was attempted for a resource with role '%s', but the resource was allocated to role '%s'", role, alloc)
		}
		if !slices.Contains(c.FrameworkRoles, alloc) {
			return fmt.Errorf("A reserve operation was attempted for a resource allocated to role '%s', but the framework only has roles '%s'", alloc, roleSet(c.FrameworkRoles))
		}
	}
	if c.Framework {
		if err := allocatedToSingleRole(rs); err != nil {
			return fmt.Errorf("Invalid reservation resources: %w", err)
		}
	}
	return nil
}

// reserveSource checks a RESERVE with a source: both sides non-empty,
// each with a single stack of reservations, and the same quantities.
func reserveSource(source, target resources.Resources) error {
	uniform := func(rs resources.Resources) error {
		if len(rs) == 0 {
			return errors.New("Resource cannot be empty")
		}
		first := rs[0].GetReservations()
		for _, r := range rs {
			if !slices.EqualFunc(r.GetReservations(), first, func(a, b *mesospb.Resource_ReservationInfo) bool {
				return proto.Equal(a, b)
			}) {
				return errors.New("Mixed reservations are not supported" + rs.String())
			}
		}
		return nil
	}
	if err := uniform(source); err != nil {
		return fmt.Errorf("Invalid source: %w", err)
	}
	if err := uniform(target); err != nil {
		return fmt.Errorf("Invalid resources: %w", err)
	}
	if s, t := toUnreserved(source), toUnreserved(target); !s.Equal(t) {
		return fmt.Errorf("Source and target resources should refer to identical resource quantities: %s vs. %s", s, t)
	}
	return nil
}

// toUnreserved drops every reservation (Resources::toUnreserved).
func toUnreserved(rs resources.Resources) resources.Resources {
	var out resources.Resources
	for _, r := range rs {
		c := proto.Clone(r).(*mesospb.Resource)
		c.Reservations, c.Role, c.Reservation = nil, nil, nil
		out = out.Add(resources.Resources{c})
	}
	return out
}

// Unreserve checks an UNRESERVE operation
// (validation::operation::validate(Unreserve)): only dynamically reserved
// resources that are not persistent volumes. The principal is not checked
// (Mesos leaves that to the "unreserve" ACL).
func Unreserve(rs resources.Resources) error {
	if err := reservationResources(rs); err != nil {
		return fmt.Errorf("Invalid resources: %w", err)
	}
	for _, r := range rs {
		str := resources.FormatResource(r)
		if !resources.IsDynamicallyReserved(r) {
			return fmt.Errorf("Resource %s is not dynamically reserved", str)
		}
		if r.GetDisk().GetPersistence() != nil {
			return fmt.Errorf("A dynamically reserved persistent volume %s cannot be unreserved directly. Please destroy the persistent volume first then unreserve the resource", str)
		}
	}
	return nil
}

// reservationResources is the part of the master's resource::validate that
// applies to reservations: dynamically reserved resources cannot be
// revocable.
func reservationResources(rs resources.Resources) error {
	if err := resources.Validate(rs); err != nil {
		return err
	}
	for _, r := range rs {
		if resources.IsDynamicallyReserved(r) && r.Revocable != nil {
			return fmt.Errorf("Invalid ReservationInfo: Dynamically reserved resource %s cannot be created from revocable resources", resources.FormatResource(r))
		}
	}
	return nil
}

func allocatedToSingleRole(rs []*mesospb.Resource) error {
	role := ""
	for i, r := range rs {
		if r.GetAllocationInfo().Role == nil {
			return errors.New("The resources are not allocated to a role")
		}
		if i == 0 {
			role = r.GetAllocationInfo().GetRole()
		} else if r.GetAllocationInfo().GetRole() != role {
			return fmt.Errorf("The resources have multiple allocation roles ('%s' and '%s') but only one allocation role is allowed",
				r.GetAllocationInfo().GetRole(), role)
		}
	}
	return nil
}

// roleSet renders roles as stout stringifies a hashset: "{ a, b }".
func roleSet(roles []string) string {
	return "{ " + strings.Join(roles, ", ") + " }"
}
