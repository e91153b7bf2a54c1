package resources

import (
	"math"
	"strconv"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// FormatScalar prints a scalar value as Mesos does (rounded to 3 decimals,
// streamed with 15 significant digits). Values that 15 digits cannot
// represent exactly are printed in full so that they parse back unchanged.
func FormatScalar(v float64) string {
	v = Round(v)
	s := strconv.FormatFloat(v, 'g', 15, 64)
	if p, err := strconv.ParseFloat(s, 64); err == nil && p == v {
		return s
	}
	if math.Abs(v) < 1e21 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// FormatRanges prints ranges in Mesos's form: "[1-2, 5-6]".
func FormatRanges(rs *mesospb.Value_Ranges) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range rs.GetRange() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(r.GetBegin(), 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(r.GetEnd(), 10))
	}
	b.WriteByte(']')
	return b.String()
}

// FormatSet prints a set in Mesos's form: "{a, b}".
func FormatSet(s *mesospb.Value_Set) string {
	return "{" + strings.Join(s.GetItem(), ", ") + "}"
}

func formatLabels(ls *mesospb.Labels) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls.GetLabels() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.GetKey())
		if l.Value != nil {
			b.WriteString(": " + l.GetValue())
		}
	}
	b.WriteByte('}')
	return b.String()
}

func formatReservation(r *mesospb.Resource_ReservationInfo) string {
	s := r.GetType().String() + "," + r.GetRole()
	if r.Principal != nil {
		s += "," + r.GetPrincipal()
	}
	if r.Labels != nil {
		s += "," + formatLabels(r.Labels)
	}
	return s
}

func formatDisk(d *mesospb.Resource_DiskInfo) string {
	var b strings.Builder
	if src := d.GetSource(); src != nil {
		b.WriteString(src.GetType().String())
		if src.Id != nil || src.Profile != nil {
			b.WriteString("(" + src.GetId() + "," + src.GetProfile() + ")")
		}
		switch {
		case src.GetMount().Root != nil:
			b.WriteString(":" + src.GetMount().GetRoot())
		case src.GetPath().Root != nil:
			b.WriteString(":" + src.GetPath().GetRoot())
		}
	}
	if p := d.GetPersistence(); p != nil {
		if d.Source != nil {
			b.WriteByte(',')
		}
		b.WriteString(p.GetId())
	}
	if v := d.GetVolume(); v != nil {
		b.WriteString(":" + v.GetContainerPath())
	}
	return b.String()
}

// FormatResource prints one resource as Mesos's operator<< does, e.g.
// "cpus:4", "ports(allocated: web)(reservations: [(STATIC,web)]):[31000-32000]",
// "disk[MOUNT:/mnt/d1]:1024", "cpus{REV}:1".
func FormatResource(r *mesospb.Resource) string {
	var b strings.Builder
	b.WriteString(r.GetName())
	if r.AllocationInfo != nil {
		b.WriteString("(allocated: " + r.AllocationInfo.GetRole() + ")")
	}
	if len(r.Reservations) > 0 {
		b.WriteString("(reservations: [")
		for i, res := range r.Reservations {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(" + formatReservation(res) + ")")
		}
		b.WriteString("])")
	}
	if r.Disk != nil {
		b.WriteString("[" + formatDisk(r.Disk) + "]")
	}
	if r.Revocable != nil {
		b.WriteString("{REV}")
	}
	if r.Shared != nil {
		b.WriteString("<SHARED>")
	}
	b.WriteByte(':')
	switch r.GetType() {
	case mesospb.Value_SCALAR:
		b.WriteString(FormatScalar(r.GetScalar().GetValue()))
	case mesospb.Value_RANGES:
		b.WriteString(FormatRanges(r.GetRanges()))
	case mesospb.Value_SET:
		b.WriteString(FormatSet(r.GetSet()))
	default:
		b.WriteString("?")
	}
	return b.String()
}

// String prints rs as Mesos's Resources operator<<: entries joined by "; ",
// or "{}" when empty. The output parses back with Parse (except for disk
// information and reservation labels, which the text form cannot carry).
func (rs Resources) String() string {
	if len(rs) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		parts = append(parts, FormatResource(r))
	}
	return strings.Join(parts, "; ")
}

// LegacyMap returns the legacy resource map of /state (Mesos's
// model(Resources)): "cpus", "gpus", "mem" and "disk" are always present
// (0 when absent); every resource name maps to the sum of its scalars
// (float64), or the text form of its merged ranges ("[31000-32000]") or set
// ("{a, b}"). Revocable resources appear under "<name>_revocable". rs
// need not be normalised: LegacyMap(rs) is LegacyMap(rs.Add(nil)), and
// allocation_info and reservations do not matter.
func (rs Resources) LegacyMap() map[string]any {
	out := map[string]any{"cpus": 0.0, "gpus": 0.0, "mem": 0.0, "disk": 0.0}
	model := func(rs Resources, suffix string) {
		type agg struct {
			typ    mesospb.Value_Type
			scalar float64
			ranges []interval
			set    []string
		}
		var order []string
		byName := map[string]*agg{}
		for _, r := range rs {
			a := byName[r.GetName()]
			if a == nil {
				a = &agg{typ: r.GetType()}
				byName[r.GetName()] = a
				order = append(order, r.GetName())
			}
			if r.GetType() != a.typ {
				continue
			}
			switch a.typ {
			case mesospb.Value_SCALAR:
				a.scalar = addScalar(a.scalar, r.GetScalar().GetValue())
			case mesospb.Value_RANGES:
				a.ranges = unionIntervals(a.ranges, intervals(r.GetRanges()))
			case mesospb.Value_SET:
				a.set = uniqueItems(a.set, r.GetSet().GetItem())
			}
		}
		for _, name := range order {
			a := byName[name]
			switch a.typ {
			case mesospb.Value_SCALAR:
				out[name+suffix] = a.scalar
			case mesospb.Value_RANGES:
				out[name+suffix] = FormatRanges(toRanges(a.ranges))
			case mesospb.Value_SET:
				out[name+suffix] = FormatSet(&mesospb.Value_Set{Item: a.set})
			}
		}
	}
	// model sums by name, so the two halves need not be normalised
	// (NonRevocable and Revocable clone every resource): /state writes a
	// map for every task, and at 200,000 tasks the clones were most of it.
	var nonRevocable, revocable Resources
	for _, r := range rs {
		switch {
		case r == nil || isEmpty(r):
		case r.Revocable != nil:
			revocable = append(revocable, r)
		default:
			nonRevocable = append(nonRevocable, r)
		}
	}
	model(nonRevocable, "")
	model(revocable, "_revocable")
	return out
}

// AttributesLegacyMap returns the legacy attribute map of /state: scalars
// as float64, text as string, ranges and sets in their text form.
func AttributesLegacyMap(attrs []*mesospb.Attribute) map[string]any {
	out := map[string]any{}
	for _, a := range attrs {
		switch a.GetType() {
		case mesospb.Value_SCALAR:
			out[a.GetName()] = a.GetScalar().GetValue()
		case mesospb.Value_RANGES:
			out[a.GetName()] = FormatRanges(a.GetRanges())
		case mesospb.Value_SET:
			out[a.GetName()] = FormatSet(a.GetSet())
		case mesospb.Value_TEXT:
			out[a.GetName()] = a.GetText().GetValue()
		}
	}
	return out
}
