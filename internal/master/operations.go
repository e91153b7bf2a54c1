package master

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/master/validation"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/resources"
)

// Speculative offer operations (RESERVE, UNRESERVE) in ACCEPT, following
// Master::accept and Master::_accept: each operation is validated and
// "applied" to the pooled offer resources in order, so that a later
// operation (e.g. LAUNCH) can use what an earlier one produced. Applying an
// operation converts resources: the agent's total changes form (and the
// agent is told its new total with CHECKPOINT_RESOURCES), and so does what
// the framework holds in the allocator (UpdateAllocation).

// conversion is one resource conversion of an operation
// (ResourceConversion): consumed becomes converted.
type conversion struct {
	consumed, converted resources.Resources
}

// reserveConversions is getResourceConversions for RESERVE: the source
// (or, without one, the resources minus their innermost reservation)
// becomes the reserved resources.
func reserveConversions(source, reserved resources.Resources) []conversion {
	consumed := source
	if len(consumed) == 0 {
		consumed = popReservation(reserved)
	}
	return []conversion{{consumed: consumed, converted: reserved}}
}

// unreserveConversions is getResourceConversions for UNRESERVE: one
// conversion per resource, each popping its innermost reservation.
func unreserveConversions(rs resources.Resources) []conversion {
	out := make([]conversion, 0, len(rs))
	for _, r := range rs {
		one := resources.Resources{r}
		out = append(out, conversion{consumed: one, converted: popReservation(one)})
	}
	return out
}

// applyConversions applies conversions in order to a copy of rs
// (Resources::apply): the first one whose consumed resources are not
// contained fails the whole operation, naming only what it consumed.
func applyConversions(rs resources.Resources, convs []conversion) (resources.Resources, error) {
	out := rs
	for _, c := range convs {
		if !out.Contains(c.consumed) {
			return rs, fmt.Errorf("%s does not contain %s", out.String(), c.consumed.String())
		}
		out = out.Subtract(c.consumed).Add(c.converted)
	}
	return out, nil
}

// sumConversions merges conversions into one.
func sumConversions(convs []conversion) conversion {
	var sum conversion
	for _, c := range convs {
		sum.consumed = sum.consumed.Add(c.consumed)
		sum.converted = sum.converted.Add(c.converted)
	}
	return sum
}

// popReservation removes the innermost reservation of every resource.
func popReservation(rs resources.Resources) resources.Resources {
	out := make(resources.Resources, 0, len(rs))
	for _, r := range rs {
		c := proto.Clone(r).(*mesospb.Resource)
		if n := len(c.Reservations); n > 0 {
			c.Reservations = c.Reservations[:n-1]
		}
		out = out.Add(resources.Resources{c})
	}
	return out
}

// agentString is how Mesos prints a Slave: "<id> at <pid> (<hostname>)".
func agentString(a *agent) string {
	return fmt.Sprintf("%s at %s (%s)", a.id, a.pid, a.info.GetHostname())
}

// prepareOperation is the first pass of Master::accept for a speculative
// operation: the resources are validated and upgraded to the internal
// format, the offer's allocation role is injected, and operations asking
// for feedback (`id`) are refused: Mesos needs the agent's
// RESOURCE_PROVIDER and AGENT_OPERATION_FEEDBACK capabilities, and meso
// has no operation feedback yet. It returns the upgraded resources, or a
// message to drop the operation with.
func prepareOperation(a *agent, op *mesospb.Offer_Operation, role string) (resources.Resources, string) {
	var rs []*mesospb.Resource
	switch op.GetType() {
	case mesospb.Offer_Operation_RESERVE:
		if op.Reserve == nil {
			return nil, "Operation attempted with invalid resources: A RESERVE offer operation must have the Offer.Operation.reserve field set."
		}
		if err := resources.Validate(op.GetReserve().GetResources()); err != nil {
			return nil, "Operation attempted with invalid resources: " + err.Error()
		}
		if err := resources.Validate(op.GetReserve().GetSource()); err != nil {
			return nil, "Operation attempted with invalid resources: " + err.Error()
		}
		if len(op.GetReserve().GetSource()) > 0 {
			return nil, "Operation attempted with invalid resources: Reservation updates are not yet implemented for the scheduler API."
		}
		rs = op.GetReserve().GetResources()
	case mesospb.Offer_Operation_UNRESERVE:
		if op.Unreserve == nil {
			return nil, "Operation attempted with invalid resources: An UNRESERVE offer operation must have the Offer.Operation.unreserve field set."
		}
		if err := resources.Validate(op.GetUnreserve().GetResources()); err != nil {
			return nil, "Operation attempted with invalid resources: " + err.Error()
		}
		rs = op.GetUnreserve().GetResources()
	}
	if op.Id != nil {
		if !a.hasCapability(mesospb.AgentInfo_Capability_RESOURCE_PROVIDER) {
			return nil, "Operation requested feedback, but agent " + a.id + " does not have the required RESOURCE_PROVIDER capability"
		}
		// Mesos accepts feedback on agent default resources only from
		// agents with AGENT_OPERATION_FEEDBACK and RESOURCE_PROVIDER.
		// meso has no operation feedback yet, so even such an agent is
		// refused, with the same message.
		return nil, "Operation on agent default resources requested feedback, but agent " + a.id +
			" does not have the required AGENT_OPERATION_FEEDBACK and RESOURCE_PROVIDER capabilities"
	}
	up, err := upgradeResources(rs, role)
	if err != nil {
		return nil, "Operation attempted with invalid resources: " + err.Error()
	}
	return up, ""
}

// speculativeOperation validates RESERVE/UNRESERVE against the framework
// and the agent and applies it to remaining. It returns the new remaining
// resources, or a message to drop the operation with.
func (s *state) speculativeOperation(f *framework, a *agent, op *mesospb.Offer_Operation, role string,
	remaining resources.Resources) (resources.Resources, string) {
	rs, msg := prepareOperation(a, op, role)
	if msg != "" {
		return remaining, msg
	}
	var convs []conversion
	switch op.GetType() {
	case mesospb.Offer_Operation_RESERVE:
		err := validation.Reserve(rs, validation.ReserveContext{
			Principal:             f.info.Principal,
			FrameworkRoles:        frameworkRoles(f.info),
			Framework:             true,
			AgentHierarchicalRole: a.hasCapability(mesospb.AgentInfo_Capability_HIERARCHICAL_ROLE),
			AgentRefinement:       a.hasCapability(mesospb.AgentInfo_Capability_RESERVATION_REFINEMENT),
		})
		if err != nil {
			return remaining, err.Error() + "; on agent " + agentString(a)
		}
		if msg := s.reservationDenied(f, op.GetType(), rs); msg != "" {
			return remaining, msg
		}
		convs = reserveConversions(nil, rs)
	case mesospb.Offer_Operation_UNRESERVE:
		if err := validation.Unreserve(rs); err != nil {
			return remaining, err.Error() + "; on agent " + agentString(a)
		}
		if msg := s.reservationDenied(f, op.GetType(), rs); msg != "" {
			return remaining, msg
		}
		convs = unreserveConversions(rs)
	}
	// ResourceConversion::apply: what is consumed must still be in the
	// pool (so what is in use elsewhere cannot be unreserved).
	applied, err := applyConversions(remaining, convs)
	if err != nil {
		return remaining, err.Error()
	}
	remaining = applied
	conv := sumConversions(convs)
	s.log.Info("applying "+op.GetType().String()+" operation", "framework_id", f.id, "agent_id", a.id,
		"resources", conv.converted.String())
	s.applyConversion(f, a, conv)
	return remaining, ""
}

// applyConversion changes the agent's total (Master::_apply), tells the
// agent, and converts what the framework holds in the allocator.
func (s *state) applyConversion(f *framework, a *agent, conv conversion) {
	a.total = a.total.Subtract(unallocated(conv.consumed)).Add(unallocated(conv.converted))
	s.alloc().UpdateAllocation(f.id, a.id, conv.consumed, conv.converted)
	s.sendCheckpointResources(a)
}

// sendCheckpointResources sends the agent its whole total.
func (s *state) sendCheckpointResources(a *agent) {
	a.send(&agentapipb.Event{
		Type:                agentapipb.Event_CHECKPOINT_RESOURCES.Enum(),
		CheckpointResources: &agentapipb.Event_CheckpointResources{Resources: cloneResources(a.total)},
	})
}

// dropOperation is Master::drop for offer operations: it is logged and,
// when the framework asked for feedback (`id`), answered with
// OPERATION_ERROR.
func (s *state) dropOperation(f *framework, op *mesospb.Offer_Operation, msg string) {
	s.log.Warn("dropping "+op.GetType().String()+" operation", "framework_id", f.id, "error", msg)
	if op.Id == nil {
		return
	}
	f.send(&schedulerpb.Event{
		Type: schedulerpb.Event_UPDATE_OPERATION_STATUS.Enum(),
		UpdateOperationStatus: &schedulerpb.Event_UpdateOperationStatus{Status: &mesospb.OperationStatus{
			OperationId: op.Id,
			State:       mesospb.OperationState_OPERATION_ERROR.Enum(),
			Message:     ptr(msg),
		}},
	})
}
