package master

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/master/validation"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/resources"
)

// Operator reservations: RESERVE_RESOURCES and UNRESERVE_RESOURCES on
// /api/v1 and the legacy form endpoints POST /reserve and /unreserve,
// following Master::Http::_reserve, _unreserve and _operation. The
// operation is validated as an operator request (no framework, no
// principal until authentication exists), the agent's outstanding offers
// are rescinded one at a time until what they held covers the operation,
// and the operation is applied to what the agent has available: 202 when it
// fits, 409 with ResourceConversion::apply's message when it does not. An
// applied operation changes the agent's total, which the allocator learns
// (UpdateAgentTotal) and the agent is sent (CHECKPOINT_RESOURCES).

// rescindFilterSeconds is the refuse_seconds of a default Filters, which
// Mesos passes when it rescinds offers for an operator operation so that
// the frameworks do not get the resources straight back.
const rescindFilterSeconds = 5

// operatorReserve is Master::Http::_reserve.
func (s *state) operatorReserve(agentID string, source, rs []*mesospb.Resource) opResult {
	a := s.agents[agentID]
	if a == nil {
		return opFailed(ErrInvalid, "No agent found with specified ID")
	}
	if err := resources.Validate(rs); err != nil {
		return opFailed(ErrInvalid, "%v", err)
	}
	if err := resources.Validate(source); err != nil {
		return opFailed(ErrInvalid, "%v", err)
	}
	up := resources.Resources(cloneResources(rs)).FromPreRefinement()
	upSource := resources.Resources(cloneResources(source)).FromPreRefinement()
	err := validation.Reserve(up, validation.ReserveContext{
		Framework:             false,
		AgentHierarchicalRole: a.hasCapability(mesospb.AgentInfo_Capability_HIERARCHICAL_ROLE),
		AgentRefinement:       a.hasCapability(mesospb.AgentInfo_Capability_RESERVATION_REFINEMENT),
		Source:                upSource,
	})
	if err != nil {
		return opFailed(ErrInvalid, "Invalid RESERVE operation on agent %s: %v", agentString(a), err)
	}
	return s.operatorOperation(a, "RESERVE", reserveConversions(upSource, up))
}

// operatorUnreserve is Master::Http::_unreserve.
func (s *state) operatorUnreserve(agentID string, rs []*mesospb.Resource) opResult {
	a := s.agents[agentID]
	if a == nil {
		return opFailed(ErrInvalid, "No agent found with specified ID")
	}
	if err := resources.Validate(rs); err != nil {
		return opFailed(ErrInvalid, "%v", err)
	}
	up := resources.Resources(cloneResources(rs)).FromPreRefinement()
	if err := validation.Unreserve(up); err != nil {
		return opFailed(ErrInvalid, "Invalid UNRESERVE operation: %v", err)
	}
	return s.operatorOperation(a, "UNRESERVE", unreserveConversions(up))
}

// agentAvailable is what the allocator has available on the agent: its
// total less what tasks, executors and outstanding offers hold.
func (s *state) agentAvailable(a *agent) resources.Resources {
	avail := a.total.Subtract(unallocated(agentUsed(a)))
	for _, o := range a.offers {
		avail = avail.Subtract(unallocated(o.resources))
	}
	return avail
}

// operatorOperation is Master::Http::_operation followed by Master::apply
// with no framework.
func (s *state) operatorOperation(a *agent, typ string, convs []conversion) opResult {
	required := sumConversions(convs).consumed
	var recovered resources.Resources
	for _, o := range sortedOffers(a.offers) {
		r := unallocated(o.resources)
		if required.Subtract(r).Equal(required) {
			continue // rescinding it would not help
		}
		recovered = recovered.Add(r)
		required = required.Subtract(r)
		s.rescindOfferFiltered(o, &mesospb.Filters{RefuseSeconds: proto.Float64(rescindFilterSeconds)})
		if _, err := applyConversions(recovered, convs); err == nil {
			break
		}
	}
	// HierarchicalAllocatorProcess::updateAvailable.
	if _, err := applyConversions(s.agentAvailable(a), convs); err != nil {
		s.log.Info("failed to apply operator "+typ+" operation", "agent_id", a.id, "error", err)
		return opFailed(ErrConflict, "%v", err)
	}
	total, err := applyConversions(a.total, convs)
	if err != nil { // cannot happen: the total contains what is available
		return opFailed(ErrConflict, "%v", err)
	}
	a.total = total
	s.alloc().UpdateAgentTotal(a.id, cloneResources(a.total))
	s.log.Info("applied operator "+typ+" operation", "agent_id", a.id,
		"resources", sumConversions(convs).converted.String())
	s.sendCheckpointResources(a)
	return opResult{outcome: outcomeAccepted}
}

// rescindOfferFiltered rescinds an offer and recovers its resources with
// filters (Master::rescindOffer with Filters).
func (s *state) rescindOfferFiltered(o *offer, filters *mesospb.Filters) {
	s.dropOffer(o)
	s.alloc().RecoverResources(o.frameworkID, o.agentID, o.resources, filters, s.now())
	if f := s.frameworks[o.frameworkID]; f != nil {
		f.send(rescindEvent(o.id))
	}
}

// serveReserve is the legacy POST /reserve (Master::Http::reserve).
func (m *Master) serveReserve(w http.ResponseWriter, r *http.Request) {
	m.serveReservationForm(w, r, true)
}

// serveUnreserve is the legacy POST /unreserve (Master::Http::unreserve).
func (m *Master) serveUnreserve(w http.ResponseWriter, r *http.Request) {
	m.serveReservationForm(w, r, false)
}

func (m *Master) serveReservationForm(w http.ResponseWriter, r *http.Request, reserve bool) {
	if !m.gateLeader(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, http.MethodPost)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, httpapi.MaxBodySize))
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Failed to read request body: %v", err))
		return
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Unable to decode query string: %v", err))
		return
	}
	if !values.Has("slaveId") {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Missing 'slaveId' query parameter in the request body"))
		return
	}
	agentID := values.Get("slaveId")
	// The two Mesos handlers word parse errors differently.
	parsePrefix := "Error parsing '%s' query parameter in the request body: %v"
	if !reserve {
		parsePrefix = "Error in parsing '%s' query parameter in the request body: %v"
	}
	parseList := func(key string) ([]*mesospb.Resource, error) {
		if !values.Has(key) {
			return nil, httpapi.Errorf(http.StatusBadRequest, "Missing '%s' query parameter in the request body", key)
		}
		var raw []json.RawMessage
		if err := json.Unmarshal([]byte(values.Get(key)), &raw); err != nil {
			return nil, httpapi.Errorf(http.StatusBadRequest, parsePrefix, key, err)
		}
		out := make([]*mesospb.Resource, 0, len(raw))
		for _, item := range raw {
			res := &mesospb.Resource{}
			if err := codec.UnmarshalJSON(item, res); err != nil {
				return nil, httpapi.Errorf(http.StatusBadRequest, parsePrefix, key, err)
			}
			out = append(out, res)
		}
		return out, nil
	}
	rs, err := parseList("resources")
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if !reserve {
		call := &masterpb.Call{Type: masterpb.Call_UNRESERVE_RESOURCES.Enum(), UnreserveResources: &masterpb.Call_UnreserveResources{Resources: rs}}
		m.writeOpResult(w, r, m.authorizedOp(r, call, func() opResult { return m.st.operatorUnreserve(agentID, rs) }))
		return
	}
	var source []*mesospb.Resource
	if values.Has("source") {
		if source, err = parseList("source"); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	call := &masterpb.Call{Type: masterpb.Call_RESERVE_RESOURCES.Enum(), ReserveResources: &masterpb.Call_ReserveResources{Resources: rs}}
	m.writeOpResult(w, r, m.authorizedOp(r, call, func() opResult { return m.st.operatorReserve(agentID, source, rs) }))
}
