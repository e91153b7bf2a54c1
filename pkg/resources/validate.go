package resources

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
	"google.golang.org/protobuf/proto"
)

// ErrInvalid is wrapped by every parse and validation error of this package.
var ErrInvalid = errors.New("invalid resources")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("resources: %w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ValidateRole checks a role name with Mesos's rules (roles::validate): "*"
// is valid; otherwise it must be non-empty, must not start or end with '/',
// and each '/'-separated component must be non-empty, not "." or "..", not
// start with '-', and contain no whitespace or DEL.
func ValidateRole(role string) error {
	if role == "*" {
		return nil
	}
	if role == "" {
		return errors.New("empty role name is invalid")
	}
	if strings.HasPrefix(role, "/") {
		return fmt.Errorf("role '%s' cannot start with a slash", role)
	}
	if strings.HasSuffix(role, "/") {
		return fmt.Errorf("role '%s' cannot end with a slash", role)
	}
	for _, c := range strings.Split(role, "/") {
		switch {
		case c == "":
			return fmt.Errorf("role '%s' cannot contain two adjacent slashes", role)
		case c == "." || c == "..":
			return fmt.Errorf("role '%s' cannot include '%s' as a path component", role, c)
		case c == "*":
			return fmt.Errorf("role '%s' cannot include '*' as a path component", role)
		case strings.HasPrefix(c, "-"):
			return fmt.Errorf("role component '%s' is invalid because it starts with a dash", c)
		case strings.ContainsAny(c, "\t\n\v\f\r \x7f"):
			return fmt.Errorf("role component '%s' is invalid because it contains backspace or whitespace", c)
		}
	}
	return nil
}

// Validate checks every resource with Mesos's Resources::validate rules:
// non-empty name; a SCALAR, RANGES or SET type whose value field (and only
// that one) is set; finite non-negative scalars; ranges with begin <= end
// that do not overlap; unique set items; valid roles; well-formed
// reservations in either the pre- or post-refinement format (refinements are
// DYNAMIC and strict sub-roles); DiskInfo only on "disk"; SharedInfo only on
// persistent volumes.
func Validate(rs Resources) error {
	for _, r := range rs {
		if err := validateOne(r); err != nil {
			return invalidf("resource '%s' is invalid: %v", FormatResource(r), err)
		}
	}
	return nil
}

func validateOne(r *mesospb.Resource) error {
	if r == nil {
		return errors.New("nil resource")
	}
	if r.GetName() == "" {
		return errors.New("empty resource name")
	}
	has := func(scalar, ranges, set bool) bool {
		return (r.Scalar != nil) == scalar && (r.Ranges != nil) == ranges && (r.Set != nil) == set
	}
	switch r.GetType() {
	case mesospb.Value_SCALAR:
		if !has(true, false, false) {
			return errors.New("invalid scalar resource")
		}
		v := r.GetScalar().GetValue()
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("invalid scalar resource: value is not finite")
		}
		if v < 0 {
			return errors.New("invalid scalar resource: value < 0")
		}
	case mesospb.Value_RANGES:
		if !has(false, true, false) {
			return errors.New("invalid ranges resource")
		}
		rr := r.GetRanges().GetRange()
		for i, a := range rr {
			if a.GetBegin() > a.GetEnd() {
				return errors.New("invalid ranges resource: begin > end")
			}
			for _, b := range rr[i+1:] {
				if a.GetBegin() <= b.GetEnd() && b.GetBegin() <= a.GetEnd() {
					return errors.New("invalid ranges resource: overlapping ranges")
				}
			}
		}
	case mesospb.Value_SET:
		if !has(false, false, true) {
			return errors.New("invalid set resource")
		}
		seen := map[string]bool{}
		for _, it := range r.GetSet().GetItem() {
			if seen[it] {
				return errors.New("invalid set resource: duplicated elements")
			}
			seen[it] = true
		}
	default:
		return errors.New("unsupported resource type")
	}

	if err := validateReservations(r); err != nil {
		return err
	}
	if r.AllocationInfo != nil && r.AllocationInfo.Role != nil {
		if err := ValidateRole(r.AllocationInfo.GetRole()); err != nil {
			return fmt.Errorf("invalid allocation role: %w", err)
		}
	}
	if r.Disk != nil && r.GetName() != "disk" {
		return fmt.Errorf("DiskInfo should not be set for %s resource", r.GetName())
	}
	if r.Shared != nil && r.GetDisk().GetPersistence() == nil {
		return errors.New("persistent volumes required for shared resources")
	}
	return nil
}

func validateReservations(r *mesospb.Resource) error {
	if len(r.Reservations) == 0 {
		// Pre-refinement format.
		if err := ValidateRole(r.GetRole()); err != nil {
			return err
		}
		if res := r.Reservation; res != nil {
			if res.Type != nil {
				return errors.New("'Resource.ReservationInfo.type' must not be set for the 'Resource.reservation' field")
			}
			if res.Role != nil {
				return errors.New("'Resource.ReservationInfo.role' must not be set for the 'Resource.reservation' field")
			}
			if r.GetRole() == "*" {
				return errors.New("invalid reservation: role \"*\" cannot be dynamically reserved")
			}
		}
		return nil
	}

	for _, res := range r.Reservations {
		if res.Type == nil {
			return errors.New("invalid reservation: 'Resource.ReservationInfo.type' field must be set")
		}
		if res.GetType() == mesospb.Resource_ReservationInfo_UNKNOWN {
			return errors.New("unsupported 'Resource.ReservationInfo.type'")
		}
		if err := ValidateRole(res.GetRole()); err != nil {
			return err
		}
		if res.GetRole() == "*" {
			return errors.New("invalid reservation: role \"*\" cannot be reserved")
		}
	}
	ancestor := r.Reservations[0].GetRole()
	for _, res := range r.Reservations[1:] {
		if res.GetType() == mesospb.Resource_ReservationInfo_STATIC {
			return errors.New("invalid refined reservation: a refined reservation cannot be STATIC")
		}
		if !strings.HasPrefix(res.GetRole(), ancestor+"/") {
			return fmt.Errorf("invalid refined reservation: role '%s' is not a refinement of '%s'", res.GetRole(), ancestor)
		}
		ancestor = res.GetRole()
	}

	// The endpoint format may carry compatible pre-refinement fields when
	// the stack is one deep.
	if len(r.Reservations) > 1 {
		if r.Role != nil {
			return errors.New("invalid resource format: 'Resource.role' must not be set if there is more than one reservation in 'Resource.reservations'")
		}
		if r.Reservation != nil {
			return errors.New("invalid resource format: 'Resource.reservation' must not be set if there is more than one reservation in 'Resource.reservations'")
		}
		return nil
	}
	res := r.Reservations[0]
	if r.Role != nil && r.GetRole() != res.GetRole() {
		return fmt.Errorf("invalid resource format: 'Resource.role' field with '%s' does not match the role '%s' in 'Resource.reservations'", r.GetRole(), res.GetRole())
	}
	switch res.GetType() {
	case mesospb.Resource_ReservationInfo_STATIC:
		if r.Reservation != nil {
			return errors.New("invalid resource format: 'Resource.reservation' must not be set if the single reservation in 'Resource.reservations' is STATIC")
		}
	case mesospb.Resource_ReservationInfo_DYNAMIC:
		if (r.Role != nil) != (r.Reservation != nil) {
			return errors.New("invalid resource format: 'Resource.role' and 'Resource.reservation' must either be both set or both not set if the single reservation in 'Resource.reservations' is DYNAMIC")
		}
		if r.Reservation != nil {
			if r.Reservation.GetPrincipal() != res.GetPrincipal() {
				return fmt.Errorf("invalid resource format: 'Resource.reservation.principal' with '%s' does not match the principal '%s' in 'Resource.reservations'", r.Reservation.GetPrincipal(), res.GetPrincipal())
			}
			if !proto.Equal(r.Reservation.GetLabels(), res.GetLabels()) {
				return errors.New("invalid resource format: 'Resource.reservation.labels' does not match the labels in 'Resource.reservations'")
			}
		}
	}
	return nil
}
