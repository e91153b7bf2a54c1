package codec

import (
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// jsonPlan is what the JSON encoder needs to know about a message type,
// worked out once per type: its fields in declaration order, each with its
// key already quoted, its shape, whether alwaysArrays lists it, its default
// if it writes one, and the plan of the messages it holds. Plans are
// immutable once published, so the encoder's goroutines share them.
type jsonPlan struct {
	fields []jsonField
}

// The shapes of a field.
const (
	shapeSingular = iota
	shapeList
	shapeMap
)

type jsonField struct {
	fd protoreflect.FieldDescriptor
	// vfd is the descriptor of the values written: fd, or a map's value
	// field.
	vfd   protoreflect.FieldDescriptor
	key   string // `"name":`
	shape uint8
	kind  protoreflect.Kind // of the values written
	// always: an empty list is written as [] (alwaysArrays).
	always bool
	// required: a proto2 required field.
	required bool
	// hasDefault: an unset singular field is written as def (emitsDefault).
	hasDefault bool
	def        protoreflect.Value
	// enum names the values of an enum field; closed: numbers it does not
	// declare are treated as unset.
	enum   *jsonEnum
	closed bool
	// sub is the plan of the messages the field holds.
	sub *jsonPlan
}

// jsonEnum holds an enum's value names, quoted for JSON.
type jsonEnum struct {
	dense  []string // by number from 0; "" where undeclared
	sparse map[protoreflect.EnumNumber]string
	v0     map[protoreflect.EnumNumber]string // v0-only values (v0.go)
}

// name returns the quoted name JSON shows for n, and whether there is one
// (enumValueName's answer).
func (en *jsonEnum) name(n protoreflect.EnumNumber, v0 bool) (string, bool) {
	if n >= 0 && int(n) < len(en.dense) {
		if s := en.dense[n]; s != "" {
			return s, true
		}
	} else if s, ok := en.sparse[n]; ok {
		return s, true
	}
	if v0 {
		s, ok := en.v0[n]
		return s, ok
	}
	return "", false
}

const maxDenseEnum = 256

func newJSONEnum(ed protoreflect.EnumDescriptor) *jsonEnum {
	en := &jsonEnum{}
	vals := ed.Values()
	for i := range vals.Len() {
		v := vals.Get(i)
		n, q := v.Number(), string(appendString(nil, string(v.Name())))
		if n >= 0 && n < maxDenseEnum {
			if int(n) >= len(en.dense) {
				en.dense = append(en.dense, make([]string, int(n)+1-len(en.dense))...)
			}
			if en.dense[n] == "" { // the first of aliases, as ByNumber
				en.dense[n] = q
			}
			continue
		}
		if en.sparse == nil {
			en.sparse = map[protoreflect.EnumNumber]string{}
		}
		if _, ok := en.sparse[n]; !ok {
			en.sparse[n] = q
		}
	}
	for n, name := range v0EnumValues[ed.FullName()] {
		if en.v0 == nil {
			en.v0 = map[protoreflect.EnumNumber]string{}
		}
		en.v0[n] = string(appendString(nil, string(name)))
	}
	return en
}

var jsonPlans sync.Map // protoreflect.MessageDescriptor → *jsonPlan

// jsonPlanFor returns md's plan, building it, and those of every message
// type reachable from md, on first use.
func jsonPlanFor(md protoreflect.MessageDescriptor) *jsonPlan {
	if p, ok := jsonPlans.Load(md); ok {
		return p.(*jsonPlan)
	}
	// Build the plans of the whole reachable type graph (types may be
	// recursive), link them, then publish: a plan is never seen half built.
	plans := map[protoreflect.MessageDescriptor]*jsonPlan{}
	var build func(d protoreflect.MessageDescriptor) *jsonPlan
	build = func(d protoreflect.MessageDescriptor) *jsonPlan {
		if p, ok := plans[d]; ok {
			return p
		}
		if p, ok := jsonPlans.Load(d); ok {
			return p.(*jsonPlan)
		}
		p := &jsonPlan{}
		plans[d] = p
		fields := d.Fields()
		p.fields = make([]jsonField, fields.Len())
		for i := range fields.Len() {
			fd := fields.Get(i)
			f := &p.fields[i]
			f.fd, f.vfd = fd, fd
			f.required = fd.Cardinality() == protoreflect.Required
			f.key = string(append(appendString(nil, string(fd.Name())), ':'))
			switch {
			case fd.IsList():
				f.shape = shapeList
				f.always = alwaysArrays[fd.FullName()]
			case fd.IsMap():
				f.shape = shapeMap
				f.vfd = fd.MapValue()
			default:
				if emitsDefault(fd) {
					f.hasDefault, f.def = true, fd.Default()
				}
			}
			f.kind = f.vfd.Kind()
			switch f.kind {
			case protoreflect.EnumKind:
				f.enum = newJSONEnum(f.vfd.Enum())
				f.closed = f.vfd.Enum().IsClosed()
			case protoreflect.MessageKind, protoreflect.GroupKind:
				f.sub = build(f.vfd.Message())
			}
		}
		return p
	}
	root := build(md)
	for d, p := range plans {
		jsonPlans.LoadOrStore(d, p)
	}
	return root
}
