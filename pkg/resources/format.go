package resources

import (
	"math"
	"slices"
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
	out := make(map[string]any, 8)
	out["cpus"], out["gpus"], out["mem"], out["disk"] = 0.0, 0.0, 0.0, 0.0
	// Summed by name in two small lists (non-revocable, revocable), looked
	// up linearly: an agent has a handful of names, and /state writes four
	// maps for each of 20,000 agents, so no map or copy per name.
	type agg struct {
		name   string
		typ    mesospb.Value_Type
		scalar float64
		ranges []interval
		set    []string
	}
	var buf [2][8]agg
	groups := [2][]agg{buf[0][:0], buf[1][:0]}
	for _, r := range rs {
		if r == nil || isEmpty(r) {
			continue
		}
		g := 0
		if r.Revocable != nil {
			g = 1
		}
		name := r.GetName()
		i := slices.IndexFunc(groups[g], func(a agg) bool { return a.name == name })
		if i < 0 {
			groups[g] = append(groups[g], agg{name: name, typ: r.GetType()})
			i = len(groups[g]) - 1
		}
		a := &groups[g][i]
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
	for g, suffix := range [2]string{"", "_revocable"} {
		for _, a := range groups[g] {
			switch a.typ {
			case mesospb.Value_SCALAR:
				out[a.name+suffix] = a.scalar
			case mesospb.Value_RANGES:
				out[a.name+suffix] = FormatRanges(toRanges(a.ranges))
			case mesospb.Value_SET:
				out[a.name+suffix] = FormatSet(&mesospb.Value_Set{Item: a.set})
			}
		}
	}
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
