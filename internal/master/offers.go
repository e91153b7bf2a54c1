package master

import (
	"cmp"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
)

// allocate runs one allocation cycle and turns each Allocation into one
// Offer; each framework gets one OFFERS event (Master::offer).
func (s *state) allocate() {
	s.allocationPending = false
	allocs := s.timeAllocate(s.now())
	if len(allocs) == 0 {
		return
	}
	byFramework := map[string][]*mesospb.Offer{}
	var order []string
	for _, al := range allocs {
		f := s.frameworks[al.FrameworkID]
		if f == nil || !f.connected() || !f.active {
			s.alloc().RecoverResources(al.FrameworkID, al.AgentID, al.Resources, nil, s.now())
			continue
		}
		a := s.agents[al.AgentID]
		if a == nil || !a.connected() || !a.active {
			s.alloc().RecoverResources(al.FrameworkID, al.AgentID, al.Resources, nil, s.now())
			continue
		}
		o := s.newOffer(f, a, al.Role, al.Resources)
		if _, ok := byFramework[f.id]; !ok {
			order = append(order, f.id)
		}
		byFramework[f.id] = append(byFramework[f.id], s.offerForFramework(f, o))
	}
	for _, id := range order {
		f := s.frameworks[id]
		f.send(&schedulerpb.Event{
			Type:   schedulerpb.Event_OFFERS.Enum(),
			Offers: &schedulerpb.Event_Offers{Offers: byFramework[id]},
		})
	}
}

// newOffer records an offer of res (internal format, allocated to role).
func (s *state) newOffer(f *framework, a *agent, role string, res []*mesospb.Resource) *offer {
	id := s.newOfferID()
	msg := &mesospb.Offer{
		Id:          &mesospb.OfferID{Value: ptr(id)},
		FrameworkId: &mesospb.FrameworkID{Value: ptr(f.id)},
		AgentId:     &mesospb.AgentID{Value: ptr(a.id)},
		Hostname:    ptr(a.info.GetHostname()),
		Url: &mesospb.URL{
			Scheme: ptr("http"),
			Address: &mesospb.Address{
				Hostname: ptr(a.info.GetHostname()),
				Ip:       ptr(a.ip),
				Port:     ptr(int32(a.port)),
			},
			Path: ptr("/slave(1)"),
		},
		Resources:      cloneResources(res),
		Attributes:     a.info.GetAttributes(),
		AllocationInfo: &mesospb.Resource_AllocationInfo{Role: ptr(role)},
		Domain:         a.info.GetDomain(),
	}
	for _, execID := range sortedKeys(a.executors[f.id]) {
		msg.ExecutorIds = append(msg.ExecutorIds, &mesospb.ExecutorID{Value: ptr(execID)})
	}
	o := &offer{id: id, frameworkID: f.id, agentID: a.id, role: role, resources: cloneResources(res), msg: msg, since: s.now()}
	f.fm.offersSent++
	s.offers[id] = o
	f.offers[id] = o
	a.offers[id] = o
	a.offersGen++
	if s.cfg.OfferTimeout > 0 {
		o.timer = s.m.after(s.cfg.OfferTimeout, func() {
			if cur := s.offers[id]; cur == o {
				s.log.Info("offer timed out", "offer_id", id, "framework_id", f.id)
				s.rescindOffer(o)
			}
		})
	}
	return o
}

// offerForFramework renders an offer the way the framework expects it:
// without allocation_info for non-MULTI_ROLE frameworks (MESOS-8237) and in
// the pre-refinement reservation format without RESERVATION_REFINEMENT
// (spec §4.6).
func (s *state) offerForFramework(f *framework, o *offer) *mesospb.Offer {
	msg := proto.Clone(o.msg).(*mesospb.Offer)
	if !f.hasCapability(mesospb.FrameworkInfo_Capability_MULTI_ROLE) {
		msg.AllocationInfo = nil
		for _, r := range msg.Resources {
			r.AllocationInfo = nil
		}
	}
	if !f.hasCapability(mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT) {
		msg.Resources = toPreRefinement(msg.Resources)
	}
	return msg
}

// removeOffer forgets an offer and gives its resources back to the
// allocator without a filter. With rescind, the framework is told.
func (s *state) removeOffer(o *offer, rescind bool) {
	s.dropOffer(o)
	s.alloc().RecoverResources(o.frameworkID, o.agentID, o.resources, nil, s.now())
	s.triggerAllocation()
	if rescind {
		if f := s.frameworks[o.frameworkID]; f != nil {
			f.fm.offersRescinded++
			f.send(rescindEvent(o.id))
		}
	}
}

func (s *state) rescindOffer(o *offer) { s.removeOffer(o, true) }

// rescindEvent is the RESCIND event for an offer.
func rescindEvent(id string) *schedulerpb.Event {
	return &schedulerpb.Event{
		Type:    schedulerpb.Event_RESCIND.Enum(),
		Rescind: &schedulerpb.Event_Rescind{OfferId: &mesospb.OfferID{Value: ptr(id)}},
	}
}

// dropOffer removes an offer from the books without touching the
// allocator (used when its resources are consumed or recovered otherwise).
func (s *state) dropOffer(o *offer) {
	if o.timer != nil {
		o.timer.Stop()
	}
	delete(s.offers, o.id)
	if f := s.frameworks[o.frameworkID]; f != nil {
		delete(f.offers, o.id)
	}
	if a := s.agents[o.agentID]; a != nil {
		delete(a.offers, o.id)
		a.offersGen++
	}
}

// defaultFilters returns the call's filters or the default (refuse 5s).
func defaultFilters(f *mesospb.Filters) *mesospb.Filters {
	if f == nil {
		return &mesospb.Filters{}
	}
	return f
}

// decline handles DECLINE: the offers' resources go back with the filters.
func (s *state) decline(f *framework, d *schedulerpb.Call_Decline) {
	s.metrics.messagesDeclineOffers++
	filters := defaultFilters(d.GetFilters())
	for _, id := range d.GetOfferIds() {
		o := s.offers[id.GetValue()]
		if o == nil || o.frameworkID != f.id {
			s.log.Warn("ignoring decline of unknown offer", "offer_id", id.GetValue(), "framework_id", f.id)
			continue
		}
		f.fm.offersDeclined++
		s.dropOffer(o)
		s.recoverWithFilters(o.frameworkID, o.agentID, o.resources, filters)
	}
}

// recoverWithFilters returns resources to the allocator, installing the
// offer filter; allocation is triggered when no filter results.
func (s *state) recoverWithFilters(frameworkID, agentID string, res []*mesospb.Resource, filters *mesospb.Filters) {
	if len(res) == 0 {
		return
	}
	s.alloc().RecoverResources(frameworkID, agentID, res, filters, s.now())
	if filters == nil || filters.GetRefuseSeconds() <= 0 {
		s.triggerAllocation()
	}
}

func sortedOffers(m map[string]*offer) []*offer {
	out := make([]*offer, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b *offer) int { return cmp.Compare(offerSeq(a.id), offerSeq(b.id)) })
	return out
}

// offerSeq extracts the counter of an OfferID for stable ordering.
func offerSeq(id string) int {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == 'O' {
			n, _ := strconv.Atoi(id[i+1:])
			return n
		}
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
