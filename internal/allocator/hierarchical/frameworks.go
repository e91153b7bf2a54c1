package hierarchical

import (
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/pkg/resources"
)

// framework is the allocator's view of a framework.
type framework struct {
	id     string
	info   *mesospb.FrameworkInfo
	active bool
	// roles the framework is subscribed to (FrameworkInfo.roles with
	// MULTI_ROLE, else FrameworkInfo.role).
	roles      map[string]bool
	suppressed map[string]bool

	gpuAware, multiRole, revocable, shared, refinement bool

	// minAllocatable holds per-role overrides of the master's minimum
	// (FrameworkInfo.offer_filters[role].min_allocatable_resources); a
	// role is present only when the framework set the field.
	minAllocatable map[string][]map[string]float64

	// filters are the refused-offer filters: role -> agent -> filters.
	filters map[string]map[string][]offerFilter

	// agents where the framework holds resources.
	agents map[string]struct{}
}

// offerable reports whether the framework should be an active client of
// role's framework sorter.
func (f *framework) offerable(role string) bool {
	return f.active && f.roles[role] && !f.suppressed[role]
}

// frameworkRoles is protobuf::framework::getRoles: `roles` for MULTI_ROLE
// frameworks, else the single `role` (default "*").
func frameworkRoles(info *mesospb.FrameworkInfo) map[string]bool {
	out := make(map[string]bool)
	if hasFrameworkCap(info, mesospb.FrameworkInfo_Capability_MULTI_ROLE) {
		for _, r := range info.GetRoles() {
			out[r] = true
		}
	} else {
		out[info.GetRole()] = true
	}
	return out
}

func (f *framework) setInfo(info *mesospb.FrameworkInfo) {
	f.info = info
	f.gpuAware = hasFrameworkCap(info, mesospb.FrameworkInfo_Capability_GPU_RESOURCES)
	f.multiRole = hasFrameworkCap(info, mesospb.FrameworkInfo_Capability_MULTI_ROLE)
	f.revocable = hasFrameworkCap(info, mesospb.FrameworkInfo_Capability_REVOCABLE_RESOURCES)
	f.shared = hasFrameworkCap(info, mesospb.FrameworkInfo_Capability_SHARED_RESOURCES)
	f.refinement = hasFrameworkCap(info, mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT)
	f.minAllocatable = nil
	for role, of := range info.GetOfferFilters() {
		mar := of.GetMinAllocatableResources()
		if mar == nil {
			continue
		}
		alts := make([]map[string]float64, 0, len(mar.GetQuantities()))
		for _, q := range mar.GetQuantities() {
			m := make(map[string]float64, len(q.GetQuantities()))
			for name, v := range q.GetQuantities() {
				m[name] = v.GetValue()
			}
			alts = append(alts, m)
		}
		if f.minAllocatable == nil {
			f.minAllocatable = make(map[string][]map[string]float64)
		}
		f.minAllocatable[role] = alts
	}
}

// soleRole is the role given to used resources that arrive without
// AllocationInfo: the framework's only role, or "*".
func (f *framework) soleRole() string {
	if len(f.roles) == 1 {
		for r := range f.roles {
			return r
		}
	}
	return "*"
}

// AddFramework adds a framework. Adding a known framework updates it
// instead (UpdateFramework plus activation as fw.Active says; used is then
// ignored). used maps agent IDs to resources the framework holds there; for
// agents that already reported this framework's resources in AddAgent, used
// replaces that record (Mesos counts them once).
func (a *Allocator) AddFramework(id string, fw allocator.Framework, used map[string]resources.Resources) {
	if _, ok := a.frameworks[id]; ok {
		a.UpdateFramework(id, fw)
		if fw.Active {
			a.ActivateFramework(id)
		} else {
			a.DeactivateFramework(id)
		}
		return
	}
	f := &framework{
		id:         id,
		active:     fw.Active,
		roles:      frameworkRoles(fw.Info),
		suppressed: make(map[string]bool),
		filters:    make(map[string]map[string][]offerFilter),
		agents:     make(map[string]struct{}),
	}
	f.setInfo(fw.Info)
	for _, r := range fw.SuppressedRoles {
		if f.roles[r] {
			f.suppressed[r] = true
		}
	}
	a.frameworks[id] = f
	for r := range f.roles {
		rs := a.trackFrameworkUnderRole(id, r)
		if f.offerable(r) {
			rs.sorter.Activate(id)
		}
	}
	for agentID, res := range used {
		ag, ok := a.agents[agentID]
		if !ok || res.Empty() {
			continue
		}
		ag.setHeld(id, allocateMissing(res, f.soleRole()))
	}
	// Track everything the framework holds, whether reported now or by
	// agents added before it.
	for _, ag := range a.agentOrder {
		if held := ag.alloc[id]; len(held) > 0 {
			f.agents[ag.id] = struct{}{}
			a.trackAllocated(id, held)
		}
	}
}

// RemoveFramework forgets a framework and frees everything it holds. For a
// framework the allocator never saw it still frees resources agents reported
// as used by it, so they cannot leak.
func (a *Allocator) RemoveFramework(id string) {
	f, known := a.frameworks[id]
	delete(a.frameworks, id)
	if known {
		for agentID := range f.agents {
			if ag, ok := a.agents[agentID]; ok {
				a.untrackAllocated(id, ag.alloc[id])
				ag.setHeld(id, nil)
			}
		}
	} else {
		for _, ag := range a.agentOrder {
			ag.setHeld(id, nil)
		}
	}
	for name, r := range a.roles {
		if _, ok := r.frameworks[id]; ok {
			a.untrackFrameworkUnderRole(id, name)
		}
	}
}

// ActivateFramework resumes offers to the framework's unsuppressed roles.
func (a *Allocator) ActivateFramework(id string) {
	f, ok := a.frameworks[id]
	if !ok {
		return
	}
	f.active = true
	for r := range f.roles {
		if f.offerable(r) {
			a.roles[r].sorter.Activate(id)
		}
	}
}

// DeactivateFramework stops offers to the framework and, as Mesos does,
// drops its offer filters; its allocations stay accounted.
func (a *Allocator) DeactivateFramework(id string) {
	f, ok := a.frameworks[id]
	if !ok {
		return
	}
	f.active = false
	for r := range f.roles {
		a.roles[r].sorter.Deactivate(id)
	}
	clear(f.filters)
}

// UpdateFramework replaces the framework's info and suppressed roles. Roles
// that were left lose their filters (and the framework leaves the role once
// it holds nothing there); roles that become unsuppressed are revived (their
// filters cleared), as in Mesos. fw.Active is ignored: activity changes go
// through ActivateFramework and DeactivateFramework.
func (a *Allocator) UpdateFramework(id string, fw allocator.Framework) {
	f, ok := a.frameworks[id]
	if !ok {
		return
	}
	oldRoles, oldSuppressed := f.roles, f.suppressed
	f.setInfo(fw.Info)
	f.roles = frameworkRoles(fw.Info)
	f.suppressed = make(map[string]bool)
	for _, r := range fw.SuppressedRoles {
		if f.roles[r] {
			f.suppressed[r] = true
		}
	}
	for r := range oldRoles {
		if f.roles[r] {
			continue
		}
		delete(f.filters, r)
		if rs, ok := a.roles[r]; ok {
			rs.sorter.Deactivate(id)
			if len(rs.sorter.Allocation(id)) == 0 {
				a.untrackFrameworkUnderRole(id, r)
			}
		}
	}
	for r := range f.roles {
		if oldSuppressed[r] && !f.suppressed[r] {
			delete(f.filters, r) // revived
		}
		rs := a.trackFrameworkUnderRole(id, r)
		if f.offerable(r) {
			rs.sorter.Activate(id)
		} else {
			rs.sorter.Deactivate(id)
		}
	}
}

// rolesOrAll returns roles, or all the framework's roles when empty; roles
// the framework is not subscribed to are dropped.
func (f *framework) rolesOrAll(roles []string) []string {
	var out []string
	if len(roles) == 0 {
		for r := range f.roles {
			out = append(out, r)
		}
		return out
	}
	for _, r := range roles {
		if f.roles[r] {
			out = append(out, r)
		}
	}
	return out
}

// SuppressOffers stops offers to the framework for roles (all when empty).
func (a *Allocator) SuppressOffers(frameworkID string, roles []string) {
	f, ok := a.frameworks[frameworkID]
	if !ok {
		return
	}
	for _, r := range f.rolesOrAll(roles) {
		f.suppressed[r] = true
		a.roles[r].sorter.Deactivate(frameworkID)
	}
}

// ReviveOffers unsuppresses roles (all when empty) and clears their offer
// filters.
func (a *Allocator) ReviveOffers(frameworkID string, roles []string, _ time.Time) {
	f, ok := a.frameworks[frameworkID]
	if !ok {
		return
	}
	for _, r := range f.rolesOrAll(roles) {
		delete(f.filters, r)
		delete(f.suppressed, r)
		if f.offerable(r) {
			a.roles[r].sorter.Activate(frameworkID)
		}
	}
}
