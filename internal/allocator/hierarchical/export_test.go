package hierarchical

import (
	"fmt"
	"time"
)

// CheckVerified runs the start of a cycle at now (expired filters dropped,
// grown agents' filters checked again) and then checks what the cycle
// relies on to skip work: every verified bit of (slot, agent) stands for a
// live filter there that covers everything the agent would offer the
// slot's framework now.
func (a *Allocator) CheckVerified(now time.Time) error {
	nowNs := now.UnixNano()
	a.prepareFilters(nowNs)
	var err error
	for si := range a.filterSlots {
		s := a.slots[si]
		s.filters.verified.each(func(ai int32) {
			ag := a.agents[ai]
			if err != nil || ag == nil {
				return
			}
			if !s.filters.has.has(ai) {
				err = fmt.Errorf("slot %d (%s): verified on agent %s without a filter", si, s.role.name, ag.id)
				return
			}
			take := make([]amount, len(ag.entries))
			a.allocatableTo(ag, s.role.name, take)
			if !ag.simple {
				stripIncapable(ag, a.frameworks[s.fw], take)
			}
			if _, ok := a.filteredAt(s, ag, take, nowNs); !ok {
				err = fmt.Errorf("framework %s role %s: verified as filtered on agent %s, but no live filter covers %v",
					a.frameworks[s.fw].id, s.role.name, ag.id, freeResources(ag))
			}
		})
	}
	return err
}
