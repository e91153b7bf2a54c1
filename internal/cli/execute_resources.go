package cli

import (
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// fit picks from offer the resources for a task needing required, the way
// mesos-execute does: the requirement is read as quantities (reservations in
// it are ignored), taken first from resources reserved to the role the offer
// is for, then from unreserved ones. Scalars may be split across
// reservations; a range or set must lie within one offered resource. The
// result carries the offer's allocation role. ok is false when the offer
// does not hold the requirement.
//
// Revocable resources, persistent volumes, shared resources and MOUNT/PATH
// disks are never used.
func fit(offer *mesospb.Offer, required []*mesospb.Resource, role string) (picked []*mesospb.Resource, ok bool) {
	var pool []*mesospb.Resource
	for _, r := range offer.GetResources() {
		if r.GetRevocable() != nil || r.GetShared() != nil || r.GetDisk().GetPersistence() != nil || r.GetDisk().GetSource() != nil {
			continue
		}
		c := proto.CloneOf(r)
		c.AllocationInfo = nil
		pool = append(pool, c)
	}
	// Reserved first, keeping the offer's order otherwise.
	slices.SortStableFunc(pool, func(a, b *mesospb.Resource) int { return rank(a) - rank(b) })

	allocRole := offer.GetAllocationInfo().GetRole()
	if allocRole == "" {
		allocRole = role
	}
	for _, req := range required {
		switch req.GetType() {
		case mesospb.Value_SCALAR:
			need := round(req.GetScalar().GetValue())
			for _, cand := range pool {
				if need <= 0 {
					break
				}
				if !sameKind(cand, req) {
					continue
				}
				have := round(cand.GetScalar().GetValue())
				if have <= 0 {
					continue
				}
				take := math.Min(need, have)
				cand.Scalar.Value = proto.Float64(round(have - take))
				p := proto.CloneOf(cand)
				p.Scalar = &mesospb.Value_Scalar{Value: proto.Float64(take)}
				picked = append(picked, p)
				need = round(need - take)
			}
			if need > 0 {
				return nil, false
			}
		case mesospb.Value_RANGES, mesospb.Value_SET:
			found := false
			for _, cand := range pool {
				if sameKind(cand, req) && within(req, cand) {
					p := proto.CloneOf(cand)
					p.Ranges, p.Set = proto.CloneOf(req.GetRanges()), proto.CloneOf(req.GetSet())
					if req.GetType() == mesospb.Value_RANGES {
						p.Set = nil
					} else {
						p.Ranges = nil
					}
					picked = append(picked, p)
					found = true
					break
				}
			}
			if !found {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	for _, p := range picked {
		p.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(allocRole)}
	}
	return picked, true
}

func rank(r *mesospb.Resource) int {
	if len(r.GetReservations()) > 0 || r.GetReservation() != nil || (r.Role != nil && r.GetRole() != "*") {
		return 0
	}
	return 1
}

func sameKind(a, b *mesospb.Resource) bool {
	return a.GetName() == b.GetName() && a.GetType() == b.GetType()
}

// round keeps Mesos's fixed-point precision of three decimals.
func round(v float64) float64 { return math.Round(v*1000) / 1000 }

// within reports whether req's ranges or set items all lie in cand.
func within(req, cand *mesospb.Resource) bool {
	if req.GetType() == mesospb.Value_SET {
		for _, item := range req.GetSet().GetItem() {
			if !slices.Contains(cand.GetSet().GetItem(), item) {
				return false
			}
		}
		return true
	}
	for _, rr := range req.GetRanges().GetRange() {
		ok := false
		for _, cr := range cand.GetRanges().GetRange() {
			if rr.GetBegin() >= cr.GetBegin() && rr.GetEnd() <= cr.GetEnd() {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
