package codec

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ErrMissingRequired is returned (wrapped, naming the missing fields' paths)
// when a message lacks proto2 required fields.
var ErrMissingRequired = errors.New("codec: missing required fields")

// maxMissingReported bounds the list of missing fields in an error message.
const maxMissingReported = 10

// checkRequired returns an error naming the path of every missing required
// field in m and its sub-messages, e.g.
// "missing required fields: subscribe.framework_info.user".
func checkRequired(m protoreflect.Message) error {
	if complete(m) {
		return nil // the common case, checked without building any path
	}
	return missingRequired(m)
}

// missingRequired returns the error naming the paths of m's missing
// required fields, or nil if none is missing.
func missingRequired(m protoreflect.Message) error {
	var missing []string
	walkRequired(m, "", &missing)
	if len(missing) == 0 {
		return nil
	}
	if len(missing) > maxMissingReported {
		missing = append(missing[:maxMissingReported], "...")
	}
	return fmt.Errorf("%w: %s", ErrMissingRequired, strings.Join(missing, ", "))
}

func walkRequired(m protoreflect.Message, path string, missing *[]string) {
	if len(*missing) > maxMissingReported {
		return
	}
	// Walk fields in declaration order so that error texts are stable.
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		// A required enum holding a number its closed enum does not
		// declare is missing for Mesos, whose protobuf keeps that number in
		// the unknown fields.
		if !m.Has(fd) || (!fd.IsList() && !fd.IsMap() && undeclared(fd, m.Get(fd))) {
			if fd.Cardinality() == protoreflect.Required {
				*missing = append(*missing, joinPath(path, string(fd.Name())))
			}
			continue
		}
		walkField(fd, m.Get(fd), joinPath(path, string(fd.Name())), missing)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsExtension() {
			walkField(fd, v, joinPath(path, "["+string(fd.FullName())+"]"), missing)
		}
		return true
	})
}

// walkField checks the sub-messages held by one populated field.
func walkField(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string, missing *[]string) {
	switch {
	case fd.IsList():
		if !isMessage(fd) {
			return
		}
		l := v.List()
		for i := range l.Len() {
			walkRequired(l.Get(i).Message(), fmt.Sprintf("%s[%d]", path, i), missing)
		}
	case fd.IsMap():
		if !isMessage(fd.MapValue()) {
			return
		}
		mp := v.Map()
		keys := make([]protoreflect.MapKey, 0, mp.Len())
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			walkRequired(mp.Get(k).Message(), fmt.Sprintf("%s[%q]", path, k.String()), missing)
		}
	case isMessage(fd):
		walkRequired(v.Message(), path, missing)
	}
}

// complete reports whether m and its sub-messages have every required
// field (walkRequired's test, without the paths). It runs on every message
// decoded and every answer encoded, so it is cheap: proto.CheckInitialized
// (the protobuf library's table-driven check) finds missing fields, and
// declared then looks, along the only paths that can hold one, for a
// required enum holding a number its closed enum does not declare (Mesos
// counts it missing; the protobuf library keeps it). A master's GET_STATE
// at 200,000 tasks, or 18,000 agents re-registering, spent more time in a
// walk over every field than in the protobuf library itself.
func complete(m protoreflect.Message) bool {
	return proto.CheckInitialized(m.Interface()) == nil && declaredFast(m, jsonPlanFor(m.Descriptor()))
}

// declaredFast is declared for m, a message of p's type: generated
// messages are read with Go's reflection through p (declaredGo), as the
// JSON encoder reads them, the others through protoreflect.
func declaredFast(m protoreflect.Message, p *jsonPlan) bool {
	if p.declGo {
		if x := m.Interface(); reflect.TypeOf(x) == p.goType && !reflect.ValueOf(x).IsNil() {
			return declaredGo(reflect.ValueOf(x).Elem(), p)
		}
	}
	return declared(m)
}

// declaredGo is declared for s, the struct of a message of p's type.
func declaredGo(s reflect.Value, p *jsonPlan) bool {
	if !p.declGo {
		return declared(s.Addr().Interface().(protoreflect.ProtoMessage).ProtoReflect())
	}
	for _, i := range p.reqEnums {
		f := &p.fields[i]
		if rf := s.Field(f.goIndex); !rf.IsNil() {
			if _, ok := f.enum.name(protoreflect.EnumNumber(rf.Elem().Int()), false); !ok {
				return false
			}
		}
	}
	for _, i := range p.declFields {
		f := &p.fields[i]
		rf := s.Field(f.goIndex)
		if f.shape == shapeList {
			for j := range rf.Len() {
				if el := rf.Index(j); !el.IsNil() && !declaredGo(el.Elem(), f.sub) {
					return false
				}
			}
		} else if !rf.IsNil() && !declaredGo(rf.Elem(), f.sub) {
			return false
		}
	}
	return true
}

// declared reports whether no required enum field of m and its
// sub-messages holds an undeclared number.
func declared(m protoreflect.Message) bool {
	p := planFor(m.Descriptor())
	for _, fd := range p.requiredEnums {
		if m.Has(fd) && undeclared(fd, m.Get(fd)) {
			return false
		}
	}
	for _, fd := range p.messages {
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if !declared(l.Get(i).Message()) {
					return false
				}
			}
		case fd.IsMap():
			ok := true
			v.Map().Range(func(_ protoreflect.MapKey, e protoreflect.Value) bool {
				ok = declared(e.Message())
				return ok
			})
			if !ok {
				return false
			}
		default:
			if !declared(v.Message()) {
				return false
			}
		}
	}
	return true
}

// requiredPlan is what declared looks at in a message of one type: its
// required closed-enum fields, and the fields holding messages (singular,
// lists, maps of messages) whose type can hold one, at any depth.
type requiredPlan struct {
	requiredEnums, messages []protoreflect.FieldDescriptor
}

var requiredPlans sync.Map // protoreflect.MessageDescriptor → *requiredPlan

func requiredClosedEnum(fd protoreflect.FieldDescriptor) bool {
	return fd.Cardinality() == protoreflect.Required && fd.Kind() == protoreflect.EnumKind && fd.Enum().IsClosed()
}

func planFor(md protoreflect.MessageDescriptor) *requiredPlan {
	if p, ok := requiredPlans.Load(md); ok {
		return p.(*requiredPlan)
	}
	// Which message types reachable from md can hold a required closed
	// enum.
	all, holds := TypesHolding(md, requiredClosedEnum)
	for _, d := range all {
		p := &requiredPlan{}
		fields := d.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if requiredClosedEnum(fd) {
				p.requiredEnums = append(p.requiredEnums, fd)
			}
			if HoldsAny(fd, holds) {
				p.messages = append(p.messages, fd)
			}
		}
		requiredPlans.LoadOrStore(d, p)
	}
	p, _ := requiredPlans.Load(md)
	return p.(*requiredPlan)
}

func isMessage(fd protoreflect.FieldDescriptor) bool {
	k := fd.Kind()
	return k == protoreflect.MessageKind || k == protoreflect.GroupKind
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
