package hierarchical

import (
	"math"
	"strings"
	"time"

	"github.com/meso-project/meso/pkg/resources"
)

// Refused-offer filters (Mesos's RefusedOfferFilter), spec §1.10.

const (
	defaultRefuse = 5 * time.Second      // Filters.refuse_seconds default
	maxRefuse     = 365 * 24 * time.Hour // Mesos caps filters at 365 days
)

// offerFilter withholds from one (framework, role, agent) any candidate that
// is a subset of the refused resources, until it expires.
type offerFilter struct {
	refused resources.Resources // unallocated form
	expires time.Time
}

// refuseTimeout validates refuse_seconds as Mesos does: 0 means no filter,
// negative or NaN the default 5 s, more than 365 days is capped.
func refuseTimeout(secs float64) time.Duration {
	switch {
	case math.IsNaN(secs) || secs < 0:
		return defaultRefuse
	case secs >= maxRefuse.Seconds():
		return maxRefuse
	}
	return time.Duration(secs * float64(time.Second))
}

func (f *framework) addFilter(role, agentID string, flt offerFilter) {
	byAgent, ok := f.filters[role]
	if !ok {
		byAgent = make(map[string][]offerFilter)
		f.filters[role] = byAgent
	}
	byAgent[agentID] = append(byAgent[agentID], flt)
}

// isFiltered reports whether candidate (unallocated form) must not be
// offered to the framework for role from the agent at time now. Expired
// filters are dropped on the way. Like Mesos it also refuses MULTI_ROLE
// frameworks on agents without MULTI_ROLE and hierarchical roles on agents
// without HIERARCHICAL_ROLE.
func (a *Allocator) isFiltered(f *framework, role string, ag *agent, candidate resources.Resources, now time.Time) bool {
	if f.multiRole && !ag.multiRole {
		return true
	}
	if !ag.hierarchicalRole && strings.Contains(role, "/") {
		return true
	}
	byAgent, ok := f.filters[role]
	if !ok {
		return false
	}
	filters := byAgent[ag.id]
	live := filters[:0]
	filtered := false
	for _, flt := range filters {
		if !now.Before(flt.expires) {
			continue
		}
		live = append(live, flt)
		if !filtered && flt.refused.Contains(candidate) {
			filtered = true
		}
	}
	clear(filters[len(live):])
	switch {
	case len(live) > 0:
		byAgent[ag.id] = live
	default:
		delete(byAgent, ag.id)
		if len(byAgent) == 0 {
			delete(f.filters, role)
		}
	}
	return filtered
}
