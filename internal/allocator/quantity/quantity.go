// Package quantity is the allocator's arithmetic on scalar resource
// quantities: a fixed-size vector of fixed-point amounts indexed by a small
// dense resource-name index (cpus, mem, disk, gpus first, then custom scalar
// names as they are interned).
//
// Amounts are int64 thousandths, Mesos's fixed-point precision for scalar
// resources (Value::Scalar arithmetic rounds to three decimal digits), so
// repeated adds and subtracts are exact and comparisons need no epsilon.
// Vectors are values: copying one is a 128-byte copy and never allocates,
// which is what keeps the allocation cycle free of garbage.
package quantity

import "math"

// MaxDims is how many distinct scalar resource names a Vec can hold. Names
// interned beyond it get index -1 and are not tracked in vectors (they are
// still offered and accounted as resources; only fair sharing and quota
// ignore them).
const MaxDims = 16

// The well-known dimensions, always interned in this order.
const (
	CPUs = iota
	Mem
	Disk
	GPUs
)

// Scale is the fixed-point scale: 1.0 is 1000.
const Scale = 1000

// Vec is a vector of scalar amounts in thousandths, indexed by dimension.
type Vec [MaxDims]int64

// FromFloat converts a scalar value to fixed point (rounding like Mesos).
func FromFloat(v float64) int64 {
	if math.IsNaN(v) {
		return 0
	}
	if v >= math.MaxInt64/Scale {
		return math.MaxInt64 / 2
	}
	if v <= -math.MaxInt64/Scale {
		return -math.MaxInt64 / 2
	}
	return int64(math.Round(v * Scale))
}

// ToFloat converts a fixed-point amount back to a scalar value.
func ToFloat(v int64) float64 { return float64(v) / Scale }

// Add adds o to v in place.
func (v *Vec) Add(o *Vec) {
	for i := range v {
		v[i] += o[i]
	}
}

// Sub subtracts o from v in place (entries may go negative; see SubFloor).
func (v *Vec) Sub(o *Vec) {
	for i := range v {
		v[i] -= o[i]
	}
}

// SubFloor subtracts o from v in place, flooring every entry at zero
// (Mesos's ResourceQuantities subtraction).
func (v *Vec) SubFloor(o *Vec) {
	for i := range v {
		v[i] = max(v[i]-o[i], 0)
	}
}

// Min sets every entry of v to the smaller of v and o.
func (v *Vec) Min(o *Vec) {
	for i := range v {
		v[i] = min(v[i], o[i])
	}
}

// LessEq reports whether every entry of v is at most the entry of o.
func (v *Vec) LessEq(o *Vec) bool {
	for i := range v {
		if v[i] > o[i] {
			return false
		}
	}
	return true
}

// IsZero reports whether every entry is zero (or negative).
func (v *Vec) IsZero() bool {
	for _, x := range v {
		if x > 0 {
			return false
		}
	}
	return true
}

// Dims interns scalar resource names to dimensions. The zero value is not
// usable; call NewDims.
type Dims struct {
	names []string
	index map[string]int
}

// NewDims returns a Dims with cpus, mem, disk and gpus interned.
func NewDims() *Dims {
	d := &Dims{index: make(map[string]int, MaxDims)}
	for _, n := range []string{"cpus", "mem", "disk", "gpus"} {
		d.Intern(n)
	}
	return d
}

// Intern returns the dimension of name, adding it if there is room, or -1.
func (d *Dims) Intern(name string) int {
	if i, ok := d.index[name]; ok {
		return i
	}
	if len(d.names) == MaxDims {
		return -1
	}
	i := len(d.names)
	d.names = append(d.names, name)
	d.index[name] = i
	return i
}

// Lookup returns the dimension of name or -1, without interning.
func (d *Dims) Lookup(name string) int {
	if i, ok := d.index[name]; ok {
		return i
	}
	return -1
}

// Name returns the resource name of dimension i.
func (d *Dims) Name(i int) string { return d.names[i] }

// Len is the number of interned dimensions.
func (d *Dims) Len() int { return len(d.names) }

// FromMap converts name->value quantities to a Vec, interning names.
func (d *Dims) FromMap(m map[string]float64) Vec {
	var v Vec
	for name, x := range m {
		if i := d.Intern(name); i >= 0 {
			v[i] = FromFloat(x)
		}
	}
	return v
}

// ToMap converts a Vec to name->value quantities, omitting zeros.
func (d *Dims) ToMap(v *Vec) map[string]float64 {
	out := make(map[string]float64)
	for i, name := range d.names {
		if v[i] != 0 {
			out[name] = ToFloat(v[i])
		}
	}
	return out
}
