package hierarchical

import (
	"strings"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/quantity"
	"github.com/meso-project/meso/internal/allocator/sorter"
	"github.com/meso-project/meso/pkg/resources"
)

// framework is the allocator's view of a framework. A framework that agents
// report resources for before AddFramework exists as a "ghost" (known
// false): its resources are held on the agents but count in no sorter.
type framework struct {
	id    string
	idx   int32
	known bool
	info  *mesospb.FrameworkInfo
	// active is false for disconnected frameworks.
	active bool
	// roles the framework is subscribed to (FrameworkInfo.roles with
	// MULTI_ROLE, else FrameworkInfo.role) and those it suppressed.
	roles      map[string]bool
	suppressed map[string]bool
	// slots maps a role to the framework's client slot in that role's
	// framework sorter (subscribed roles, and roles it still holds
	// resources in).
	slots map[string]int32

	gpuAware, multiRole, revocable, shared, refinement bool

	// minAllocatable holds per-role overrides of the master's minimum
	// (FrameworkInfo.offer_filters[role].min_allocatable_resources).
	minAllocatable map[string][]minAlt

	// agents where the framework holds resources.
	agents map[int32]struct{}
}

// role is a role with frameworks subscribed to it or holding resources in
// it: a client of the role sorter with its own framework sorter.
type role struct {
	name     string
	idx      int32 // role-sorter client
	sorter   sorter.Sorter
	slots    int // framework slots in the role
	eligible int // slots that may be offered resources now
	// quota and usage cache the top-level role's quota (refreshed when
	// quotaGen differs from the allocator's) and usage record.
	quota    *quotaState
	quotaGen uint64
	usage    *usage
	nested   bool // a "/" in the name
}

// slot is one (framework, role) pair: a client of the role's framework
// sorter, the unit offers are made to and filters are kept for.
type slot struct {
	idx      int32
	fw       int32
	role     *role
	eligible bool
	eligPos  int // position in Allocator.eligible while eligible
	filters  *slotFilters
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

func (a *Allocator) setInfo(f *framework, info *mesospb.FrameworkInfo) {
	f.info = info
	f.gpuAware = hasFrameworkCap(info, mesospb.FrameworkInfo_Capability_GPU_RESOURCES)
	f.multiRole = hasFrameworkCap(info, mesospb.FrameworkInfo_Capability_MULTI_ROLE)
	f.revocable = hasFrameworkCap(info, mesospb.FrameworkInfo_Capability_REVOCABLE_RESOURCES)
	f.shared = hasFrameworkCap(info, mesospb.FrameworkInfo_Capability_SHARED_RESOURCES)
	f.refinement = hasFrameworkCap(info, mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT)
	f.minAllocatable = nil
	for r, of := range info.GetOfferFilters() {
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
			f.minAllocatable = make(map[string][]minAlt)
		}
		f.minAllocatable[r] = a.compileMin(alts)
	}
}

// soleRole is the role given to resources that arrive without
// AllocationInfo: the framework's only role, or "*".
func (f *framework) soleRole() string {
	if len(f.roles) == 1 {
		for r := range f.roles {
			return r
		}
	}
	return "*"
}

// frameworkFor returns the framework with id, creating a ghost if needed.
func (a *Allocator) frameworkFor(id string) *framework {
	if i, ok := a.fwIndex[id]; ok {
		return a.frameworks[i]
	}
	f := &framework{id: id, roles: map[string]bool{}, suppressed: map[string]bool{},
		slots: map[string]int32{}, agents: map[int32]struct{}{}}
	if n := len(a.freeFws); n > 0 {
		f.idx = a.freeFws[n-1]
		a.freeFws = a.freeFws[:n-1]
		a.frameworks[f.idx] = f
	} else {
		f.idx = int32(len(a.frameworks))
		a.frameworks = append(a.frameworks, f)
	}
	a.fwIndex[id] = f.idx
	return f
}

func (a *Allocator) lookupFramework(id string) *framework {
	if i, ok := a.fwIndex[id]; ok {
		return a.frameworks[i]
	}
	return nil
}

// roleFor returns the tracked role, creating it (and its sorter client).
func (a *Allocator) roleFor(name string) *role {
	if r := a.roles[name]; r != nil {
		return r
	}
	r := &role{name: name, sorter: a.newSorter(a.fwSorterKind), usage: a.usageOf(name),
		nested: strings.IndexByte(name, '/') >= 0, quotaGen: a.quotaGen - 1}
	if n := len(a.freeRoles); n > 0 {
		r.idx = a.freeRoles[n-1]
		a.freeRoles = a.freeRoles[:n-1]
		a.roleList[r.idx] = r
	} else {
		r.idx = int32(len(a.roleList))
		a.roleList = append(a.roleList, r)
	}
	a.roles[name] = r
	a.roleSorter.Add(int(r.idx), name)
	a.roleSorter.Deactivate(int(r.idx))
	return r
}

// slotFor returns the framework's slot in role, creating it inactive.
func (a *Allocator) slotFor(f *framework, roleName string) *slot {
	if i, ok := f.slots[roleName]; ok {
		return a.slots[i]
	}
	r := a.roleFor(roleName)
	s := &slot{fw: f.idx, role: r}
	if n := len(a.freeSlots); n > 0 {
		s.idx = a.freeSlots[n-1]
		a.freeSlots = a.freeSlots[:n-1]
		a.slots[s.idx] = s
	} else {
		s.idx = int32(len(a.slots))
		a.slots = append(a.slots, s)
	}
	f.slots[roleName] = s.idx
	r.slots++
	r.sorter.Add(int(s.idx), f.id)
	r.sorter.Deactivate(int(s.idx))
	return s
}

// dropSlot removes a slot (its allocation must already be untracked).
func (a *Allocator) dropSlot(f *framework, s *slot) {
	a.setEligible(s, false)
	a.clearSlotFilters(s)
	r := s.role
	r.sorter.Remove(int(s.idx))
	delete(f.slots, r.name)
	a.slots[s.idx] = nil
	a.freeSlots = append(a.freeSlots, s.idx)
	r.slots--
	if r.slots == 0 {
		a.roleSorter.Remove(int(r.idx))
		delete(a.roles, r.name)
		a.roleList[r.idx] = nil
		a.freeRoles = append(a.freeRoles, r.idx)
	}
}

// refresh recomputes whether the framework's slots may be offered, and
// drops slots of roles it left and holds nothing in.
func (a *Allocator) refresh(f *framework) {
	for roleName, si := range f.slots {
		s := a.slots[si]
		want := f.known && f.active && f.roles[roleName] && !f.suppressed[roleName]
		a.setEligible(s, want)
		if !f.roles[roleName] {
			alloc := s.role.sorter.Allocation(int(s.idx))
			if alloc.IsZero() && !a.holdsIn(f, roleName) {
				a.dropSlot(f, s)
			}
		}
	}
}

func (a *Allocator) holdsIn(f *framework, roleName string) bool {
	for ai := range f.agents {
		if h := a.agents[ai].held[f.idx]; h != nil {
			for _, p := range h.parts {
				if p.role == roleName {
					return true
				}
			}
		}
	}
	return false
}

func (a *Allocator) setEligible(s *slot, on bool) {
	if s.eligible == on {
		return
	}
	s.eligible = on
	r := s.role
	if on {
		s.eligPos = len(a.eligible)
		a.eligible = append(a.eligible, s.idx)
		r.sorter.Activate(int(s.idx))
		r.eligible++
		if r.eligible == 1 {
			a.roleSorter.Activate(int(r.idx))
		}
	} else {
		last := a.eligible[len(a.eligible)-1]
		a.eligible[s.eligPos] = last
		a.slots[last].eligPos = s.eligPos
		a.eligible = a.eligible[:len(a.eligible)-1]
		r.sorter.Deactivate(int(s.idx))
		r.eligible--
		if r.eligible == 0 {
			a.roleSorter.Deactivate(int(r.idx))
		}
	}
}

// account adds (sign +1) or removes (-1) q from the framework's allocation
// in role, in both sorters; ghosts are not accounted.
func (a *Allocator) account(f *framework, roleName string, q *quantity.Vec, add bool) {
	if !f.known {
		return
	}
	s := a.slotFor(f, roleName)
	if add {
		a.roleSorter.Allocated(int(s.role.idx), q)
		s.role.sorter.Allocated(int(s.idx), q)
	} else {
		a.roleSorter.Unallocated(int(s.role.idx), q)
		s.role.sorter.Unallocated(int(s.idx), q)
	}
}

// AddFramework adds a framework. Adding a known framework updates it
// instead (UpdateFramework plus activation as fw.Active says; used is then
// ignored). used maps agent IDs to resources the framework holds there; for
// agents that already reported this framework's resources in AddAgent, used
// replaces that record (Mesos counts them once).
func (a *Allocator) AddFramework(id string, fw allocator.Framework, used map[string]resources.Resources) {
	if f := a.lookupFramework(id); f != nil && f.known {
		a.UpdateFramework(id, fw)
		if fw.Active {
			a.ActivateFramework(id)
		} else {
			a.DeactivateFramework(id)
		}
		return
	}
	f := a.frameworkFor(id)
	a.setInfo(f, fw.Info)
	f.roles = frameworkRoles(fw.Info)
	f.active = fw.Active
	for _, r := range fw.SuppressedRoles {
		if f.roles[r] {
			f.suppressed[r] = true
		}
	}
	for agentID, res := range used {
		ai, ok := a.agentIndex[agentID]
		if !ok || res.Empty() {
			continue
		}
		ag := a.agents[ai]
		a.releaseAll(ag, f)
		a.holdResources(ag, f, res)
	}
	f.known = true
	for r := range f.roles {
		a.slotFor(f, r)
	}
	// Track everything the framework holds, reported now or by agents
	// added before it.
	for ai := range f.agents {
		if h := a.agents[ai].held[f.idx]; h != nil {
			a.accountHolding(a.agents[ai], f, h, true)
		}
	}
	a.refresh(f)
}

// RemoveFramework forgets a framework and frees everything it holds,
// including resources agents reported for it before it was added.
func (a *Allocator) RemoveFramework(id string) {
	f := a.lookupFramework(id)
	if f == nil {
		return
	}
	for ai := range f.agents {
		a.releaseAll(a.agents[ai], f)
	}
	for _, si := range f.slots {
		a.dropSlot(f, a.slots[si])
	}
	delete(a.fwIndex, id)
	a.frameworks[f.idx] = nil
	a.freeFws = append(a.freeFws, f.idx)
}

// ActivateFramework resumes offers to the framework's unsuppressed roles.
func (a *Allocator) ActivateFramework(id string) {
	if f := a.lookupFramework(id); f != nil && f.known {
		f.active = true
		a.refresh(f)
	}
}

// DeactivateFramework stops offers to the framework and, as Mesos does,
// drops its offer filters; its allocations stay accounted.
func (a *Allocator) DeactivateFramework(id string) {
	if f := a.lookupFramework(id); f != nil && f.known {
		f.active = false
		for _, si := range f.slots {
			a.clearSlotFilters(a.slots[si])
		}
		a.refresh(f)
	}
}

// UpdateFramework replaces the framework's info and suppressed roles. Roles
// that were left lose their filters (and the framework leaves the role once
// it holds nothing there); roles that become unsuppressed are revived (their
// filters cleared), as in Mesos. fw.Active is ignored.
func (a *Allocator) UpdateFramework(id string, fw allocator.Framework) {
	f := a.lookupFramework(id)
	if f == nil || !f.known {
		return
	}
	oldSuppressed := f.suppressed
	a.setInfo(f, fw.Info)
	f.roles = frameworkRoles(fw.Info)
	f.suppressed = make(map[string]bool)
	for _, r := range fw.SuppressedRoles {
		if f.roles[r] {
			f.suppressed[r] = true
		}
	}
	for r := range f.roles {
		a.slotFor(f, r)
	}
	for roleName, si := range f.slots {
		s := a.slots[si]
		if !f.roles[roleName] || (oldSuppressed[roleName] && !f.suppressed[roleName]) {
			a.clearSlotFilters(s)
		} else if s.filters != nil {
			// Capabilities may have changed what the framework can
			// receive: verified filter matches must be rechecked.
			clear(s.filters.verified)
		}
	}
	a.refresh(f)
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
	f := a.lookupFramework(frameworkID)
	if f == nil || !f.known {
		return
	}
	for _, r := range f.rolesOrAll(roles) {
		f.suppressed[r] = true
	}
	a.refresh(f)
}

// ReviveOffers unsuppresses roles (all when empty) and clears their offer
// filters.
func (a *Allocator) ReviveOffers(frameworkID string, roles []string, _ time.Time) {
	f := a.lookupFramework(frameworkID)
	if f == nil || !f.known {
		return
	}
	for _, r := range f.rolesOrAll(roles) {
		delete(f.suppressed, r)
		if si, ok := f.slots[r]; ok {
			a.clearSlotFilters(a.slots[si])
		}
	}
	a.refresh(f)
}
