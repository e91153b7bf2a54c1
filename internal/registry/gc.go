package registry

import (
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/registrypb"
)

// PruneCandidates chooses what the registry's garbage collection drops, as
// Mesos's master does every --registry_gc_interval: in the unreachable list
// and, separately, in the gone list, the oldest entries (the front of the
// list) while the list is longer than maxCount, and every entry marked more
// than maxAge before now (the whole list is checked, so it need not be
// sorted by time). It returns nil when nothing qualifies.
func PruneCandidates(reg *registrypb.Registry, now time.Time, maxAge time.Duration, maxCount int) *Prune {
	type marked struct {
		id *mesospb.AgentID
		ts *mesospb.TimeInfo
	}
	choose := func(list []marked) []*mesospb.AgentID {
		var out []*mesospb.AgentID
		for _, m := range list {
			if len(list)-len(out) > maxCount {
				out = append(out, m.id)
				continue
			}
			age := time.Duration(now.UnixNano() - m.ts.GetNanoseconds())
			if age > maxAge {
				out = append(out, m.id)
			}
		}
		return out
	}
	var unreachable, gone []marked
	for _, u := range reg.GetUnreachable().GetSlaves() {
		unreachable = append(unreachable, marked{u.GetId(), u.GetTimestamp()})
	}
	for _, g := range reg.GetGone().GetSlaves() {
		gone = append(gone, marked{g.GetId(), g.GetTimestamp()})
	}
	op := &Prune{Unreachable: choose(unreachable), Gone: choose(gone)}
	if len(op.Unreachable) == 0 && len(op.Gone) == 0 {
		return nil
	}
	return op
}
