package resources

import (
	"errors"
	"fmt"

	"github.com/meso-project/meso/api/v1/mesospb"
	"google.golang.org/protobuf/proto"
)

// ErrRefined is returned when resources with refined reservations would have
// to be shown to a framework without the RESERVATION_REFINEMENT capability.
var ErrRefined = errors.New("resources: cannot downgrade resources containing refined reservations")

// FromPreRefinement converts resources received from clients into the
// internal ("post-reservation-refinement") format, as Mesos's
// convertResourceFormat(POST_RESERVATION_REFINEMENT): when Reservations is
// set, Role and Reservation are cleared; otherwise a Role other than "*"
// becomes a STATIC reservation, or a DYNAMIC one carrying Reservation's
// principal and labels. Validate the input first; the result is
// normalised.
func (rs Resources) FromPreRefinement() Resources {
	out := Resources{}
	for _, r := range rs {
		if r == nil {
			continue
		}
		c := clone(r)
		if len(c.Reservations) == 0 && c.GetRole() != "*" {
			res := &mesospb.Resource_ReservationInfo{Type: mesospb.Resource_ReservationInfo_STATIC.Enum()}
			if c.Reservation != nil {
				res = proto.Clone(c.Reservation).(*mesospb.Resource_ReservationInfo)
				res.Type = mesospb.Resource_ReservationInfo_DYNAMIC.Enum()
			}
			res.Role = proto.String(c.GetRole())
			c.Reservations = []*mesospb.Resource_ReservationInfo{res}
		}
		c.Role = nil
		c.Reservation = nil
		out = out.addOne(c)
	}
	return out
}

// downgrade sets the pre-refinement role/reservation fields from the
// reservation stack (which must be at most one deep).
func downgrade(c *mesospb.Resource) {
	switch len(c.Reservations) {
	case 0:
		c.Role = proto.String("*")
	case 1:
		src := c.Reservations[0]
		if src.GetType() == mesospb.Resource_ReservationInfo_DYNAMIC {
			c.Reservation = &mesospb.Resource_ReservationInfo{Principal: src.Principal}
			if src.Labels != nil {
				c.Reservation.Labels = proto.Clone(src.Labels).(*mesospb.Labels)
			}
		}
		c.Role = proto.String(src.GetRole())
	}
}

// ToPreRefinement returns rs in the format shown to frameworks without the
// RESERVATION_REFINEMENT capability (spec §4.6): unreserved => role "*",
// static => role "<r>", dynamic => role "<r>" plus reservation{principal,
// labels}; the reservation stack is cleared. It fails with ErrRefined if any
// resource has refined reservations: filter those out with IsRefined first.
// The result is not normalised (its entries are in a different format).
func (rs Resources) ToPreRefinement() (Resources, error) {
	out := make(Resources, 0, len(rs))
	for _, r := range rs {
		if r == nil {
			continue
		}
		if IsRefined(r) {
			return nil, fmt.Errorf("%w: %s", ErrRefined, FormatResource(r))
		}
		c := clone(r)
		c.Role, c.Reservation = nil, nil
		downgrade(c)
		c.Reservations = nil
		out = append(out, c)
	}
	return out, nil
}

// ToEndpointFormat returns rs in the "endpoint" format of /slaves *_full
// fields and the operator API: the reservation stack plus, when it is at
// most one deep, the compatible role/reservation fields.
func (rs Resources) ToEndpointFormat() Resources {
	out := make(Resources, 0, len(rs))
	for _, r := range rs {
		if r == nil {
			continue
		}
		c := shallow(r) // downgrade sets fields of c, never edits r's
		c.Role, c.Reservation = nil, nil
		downgrade(c)
		out = append(out, c)
	}
	return out
}
