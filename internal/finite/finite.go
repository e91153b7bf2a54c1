// Package finite refuses the non-finite floating-point values (NaN and the
// infinities) that a client can put in any double or float field of a
// message, in JSON ("NaN", "Infinity") or protobuf alike.
//
// Mesos checks some of these fields one by one, with
// common::validation::validateInputScalarValue ("NaN not supported",
// "Infinite values not supported") for quota and offer filter quantities,
// Duration::create for failover_timeout, and lets others through, where a
// NaN then breaks arithmetic, comparisons and every JSON view that renders
// it. meso checks every float of every call when it is decoded, so that no
// such value reaches the master's or the agent's state. The exceptions are
// the fields where Mesos gives an infinity a meaning:
//
//   - the resource limits of a task or container (TaskInfo.limits, Task.limits,
//     agent LAUNCH_CONTAINER/UPDATE_CONTAINER limits) may be +Infinity:
//     "no limit" (src/master/validation.cpp);
//   - Filters.refuse_seconds may be any value: the allocator clamps it to
//     365 days and replaces a negative or invalid one with the default 5 s,
//     as Mesos's hierarchical allocator does (with a warning).
package finite

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meso-project/meso/pkg/codec"
)

// ErrNotFinite is returned (wrapped, naming the field) for a NaN or an
// infinity where the field does not allow one.
var ErrNotFinite = errors.New("finite: non-finite value")

// Check returns an error naming the first float field of m (in field
// order, depth first) that holds a value the field does not allow, e.g.
// "Invalid value of 'subscribe.framework_info.failover_timeout': NaN not
// supported". m may be nil.
func Check(m proto.Message) error {
	if m == nil {
		return nil
	}
	if allFinite(m.ProtoReflect()) {
		return nil // the common case, without building any path
	}
	if err := check(m.ProtoReflect(), false); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return notFinite("Invalid value of '" + fe.path + "': " + fe.detail)
		}
		return err
	}
	return nil
}

// notFinite is an ErrNotFinite whose text is only the client-facing message.
type notFinite string

func (e notFinite) Error() string { return string(e) }
func (e notFinite) Unwrap() error { return ErrNotFinite }

// Value returns the error Mesos's validateInputScalarValue gives for a
// non-finite f ("NaN not supported", "Infinite values not supported"), or
// nil.
func Value(f float64) error {
	switch {
	case math.IsNaN(f):
		return errors.New("NaN not supported")
	case math.IsInf(f, 0):
		return errors.New("Infinite values not supported")
	}
	return nil
}

// fieldError carries the failing field's path, built on the way out of the
// walk so that checking a large message builds no paths.
type fieldError struct{ path, detail string }

func (e *fieldError) Error() string { return e.path + ": " + e.detail }

func at(err error, seg string) error {
	var fe *fieldError
	if !errors.As(err, &fe) {
		return err
	}
	switch {
	case fe.path == "":
		fe.path = seg
	case strings.HasPrefix(fe.path, "["):
		fe.path = seg + fe.path
	default:
		fe.path = seg + "." + fe.path
	}
	return err
}

// check walks m; inLimits is true inside a resource-limits map value, where
// +Infinity means "unlimited".
func check(m protoreflect.Message, inLimits bool) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		err = checkField(m.Descriptor(), fd, v, inLimits)
		if err != nil {
			err = at(err, string(fd.Name()))
		}
		return err == nil
	})
	return err
}

func checkField(parent protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor, v protoreflect.Value, inLimits bool) error {
	switch {
	case fd.IsList():
		l := v.List()
		for i := range l.Len() {
			if err := checkValue(fd, l.Get(i), inLimits); err != nil {
				return at(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return nil
	case fd.IsMap():
		limits := isLimits(parent, fd)
		var err error
		v.Map().Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
			if err = checkValue(fd.MapValue(), e, limits); err != nil {
				err = at(err, fmt.Sprintf("[%q]", k.String()))
			}
			return err == nil
		})
		return err
	}
	if fd.FullName() == "mesos.v1.Filters.refuse_seconds" {
		return nil // the allocator clamps it, as Mesos's does
	}
	return checkValue(fd, v, inLimits)
}

func checkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, inLimits bool) error {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return check(v.Message(), inLimits)
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		f := v.Float()
		if inLimits && math.IsInf(f, 1) {
			return nil
		}
		if err := Value(f); err != nil {
			return &fieldError{detail: err.Error()}
		}
	}
	return nil
}

// isLimits reports whether fd is a map of resource limits in which
// +Infinity stands for "no limit": TaskInfo.limits, Task.limits and the
// agent API's container limits. Quota limits are not: Mesos refuses
// infinite quota values.
func isLimits(parent protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor) bool {
	return fd.Name() == "limits" && !strings.HasPrefix(string(parent.FullName()), "mesos.v1.quota.")
}

// allFinite reports whether every float and double in m and its
// sub-messages is finite: then Check has nothing to say. It follows a plan
// cached per message type, visiting only the fields that hold floats or
// messages: Check runs on every call the master decodes, and ranging over
// every field of 40,000 agents' re-registrations (10 tasks each) cost more
// than decoding them.
func allFinite(m protoreflect.Message) bool {
	p := finitePlanFor(m.Descriptor())
	for _, fd := range p.fields {
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if !finiteValue(fd, l.Get(i)) {
					return false
				}
			}
		case fd.IsMap():
			ok := true
			v.Map().Range(func(_ protoreflect.MapKey, e protoreflect.Value) bool {
				ok = finiteValue(fd.MapValue(), e)
				return ok
			})
			if !ok {
				return false
			}
		default:
			if !finiteValue(fd, v) {
				return false
			}
		}
	}
	return true
}

func finiteValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return allFinite(v.Message())
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		f := v.Float()
		return !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return true
}

// finitePlan lists the fields of a message type that hold floats or
// doubles, or messages (maps: by their values) whose type can hold one at
// any depth: IDs, labels, most of a task need no visit.
type finitePlan struct {
	fields []protoreflect.FieldDescriptor
}

var finitePlans sync.Map // protoreflect.MessageDescriptor → *finitePlan

// isFloat reports whether fd holds floats or doubles (a map: as values).
func isFloat(fd protoreflect.FieldDescriptor) bool {
	if fd.IsMap() {
		fd = fd.MapValue()
	}
	k := fd.Kind()
	return k == protoreflect.DoubleKind || k == protoreflect.FloatKind
}

func finitePlanFor(md protoreflect.MessageDescriptor) *finitePlan {
	if p, ok := finitePlans.Load(md); ok {
		return p.(*finitePlan)
	}
	// Which message types reachable from md can hold a float.
	all, holds := codec.TypesHolding(md, isFloat)
	floating := func(fd protoreflect.FieldDescriptor) bool { return isFloat(fd) || codec.HoldsAny(fd, holds) }
	for _, d := range all {
		p := &finitePlan{}
		fields := d.Fields()
		for i := range fields.Len() {
			if fd := fields.Get(i); floating(fd) {
				p.fields = append(p.fields, fd)
			}
		}
		finitePlans.LoadOrStore(d, p)
	}
	p, _ := finitePlans.Load(md)
	return p.(*finitePlan)
}
