package codec

import (
	"reflect"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// jsonPlan is what the JSON encoder needs to know about a message type,
// worked out once per type: its fields in declaration order, each with its
// key already quoted, its shape, whether alwaysArrays lists it, its default
// if it writes one, and the plan of the messages it holds. Plans are
// immutable once published, so the encoder's goroutines share them.
type jsonPlan struct {
	fields []jsonField
	// messageFields are the indexes in fields of the lists of messages and
	// the non-required singular message fields: where holdsBigList looks.
	messageFields []int
	// reqEnums are the indexes in fields of the required closed enums, and
	// declFields those of the fields holding messages that can hold one at
	// any depth: where declaredGo looks. declGo: declaredGo can read them
	// all from the struct.
	reqEnums, declFields []int
	declGo               bool
	// extendable: the type declares extension ranges. The encoder does not
	// visit extensions, so it leaves the required-field check of such a
	// message to checkRequired.
	extendable bool
	// goType is the generated Go type (a pointer to a struct) of the
	// messages whose fields the encoder reads with Go's reflection, or nil.
	goType reflect.Type
	// touch are the fields touch reads (goType set).
	touch []touchField
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
	// goIndex is the index of the field in the generated Go struct, or -1
	// when the encoder asks the message for it; goPtr: the Go field is a
	// pointer to the value, nil when unset (proto2 scalars).
	goIndex int
	goPtr   bool
	// goOff and goFT are the Go field's offset in the struct and its type
	// (goIndex >= 0): the encoder reads the field at its offset.
	goOff uintptr
	goFT  reflect.Type
	// goDirect: the Go field holds (a list of) pointers to the generated
	// struct of sub, which the encoder writes without protoreflect.
	goDirect bool
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
		p := &jsonPlan{extendable: d.ExtensionRanges().Len() > 0}
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
				if f.kind == protoreflect.MessageKind && f.shape != shapeMap && !f.required {
					p.messageFields = append(p.messageFields, i)
				}
			}
		}
		goFields(d, p)
		return p
	}
	root := build(md)
	_, holds := TypesHolding(md, requiredClosedEnum)
	for _, p := range plans {
		p.declGo = p.goType != nil
		for i := range p.fields {
			f := &p.fields[i]
			if requiredClosedEnum(f.fd) {
				p.reqEnums = append(p.reqEnums, i)
				p.declGo = p.declGo && f.goIndex >= 0 && f.goPtr
			}
			if HoldsAny(f.fd, holds) {
				p.declFields = append(p.declFields, i)
			}
		}
	}
	for _, p := range plans {
		if p.goType == nil {
			continue
		}
		st := p.goType.Elem()
		for i := range p.fields {
			f := &p.fields[i]
			if f.goIndex < 0 || f.sub == nil || f.sub.goType == nil {
				continue
			}
			ft := st.Field(f.goIndex).Type
			if f.shape == shapeList {
				ft = ft.Elem()
			}
			f.goDirect = ft == f.sub.goType
		}
		for _, i := range p.declFields {
			p.declGo = p.declGo && p.fields[i].goDirect
		}
		p.touch = touchFields(p)
	}
	for d, p := range plans {
		jsonPlans.LoadOrStore(d, p)
	}
	return root
}

// goFields finds the generated Go struct of d's messages and, for each
// field of p the encoder can read from it, its index there. Oneof members
// and maps stay with protoreflect, as do the fields of a message that has
// no generated type or one whose Go fields are not of the expected kinds.
func goFields(d protoreflect.MessageDescriptor, p *jsonPlan) {
	for i := range p.fields {
		p.fields[i].goIndex = -1
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName())
	if err != nil || mt.Descriptor() != d {
		return
	}
	t := reflect.TypeOf(mt.Zero().Interface())
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return
	}
	byNumber := map[protoreflect.FieldNumber]int{}
	st := t.Elem()
	for i := range st.NumField() {
		tag := st.Field(i).Tag.Get("protobuf")
		parts := strings.Split(tag, ",")
		if len(parts) < 2 {
			continue
		}
		n, err := strconv.Atoi(parts[1])
		if err != nil {
			continue
		}
		byNumber[protoreflect.FieldNumber(n)] = i
	}
	found := false
	for i := range p.fields {
		f := &p.fields[i]
		idx, ok := byNumber[f.fd.Number()]
		if !ok || f.shape == shapeMap || f.fd.ContainingOneof() != nil {
			continue
		}
		ft := st.Field(idx).Type
		switch {
		case f.shape == shapeList:
			if ft.Kind() != reflect.Slice || !goKindFits(f, ft.Elem()) {
				continue
			}
		case f.sub != nil:
			if !goKindFits(f, ft) {
				continue
			}
		case f.kind == protoreflect.BytesKind:
			if !goKindFits(f, ft) {
				continue
			}
		case f.fd.HasPresence():
			if ft.Kind() != reflect.Pointer || !goKindFits(f, ft.Elem()) {
				continue
			}
			f.goPtr = true
		default:
			if !goKindFits(f, ft) {
				continue
			}
		}
		f.goIndex = idx
		f.goOff, f.goFT = st.Field(idx).Offset, ft
		found = true
	}
	if found {
		p.goType = t
	}
}

// goKindFits reports whether t is the Go type generated code uses for one
// value of f's kind.
func goKindFits(f *jsonField, t reflect.Type) bool {
	switch f.kind {
	case protoreflect.BoolKind:
		return t.Kind() == reflect.Bool
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind, protoreflect.EnumKind:
		return t.Kind() == reflect.Int32
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return t.Kind() == reflect.Int64
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return t.Kind() == reflect.Uint32
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return t.Kind() == reflect.Uint64
	case protoreflect.FloatKind:
		return t.Kind() == reflect.Float32
	case protoreflect.DoubleKind:
		return t.Kind() == reflect.Float64
	case protoreflect.StringKind:
		return t.Kind() == reflect.String
	case protoreflect.BytesKind:
		return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct &&
			t.Implements(reflect.TypeFor[protoreflect.ProtoMessage]())
	}
	return false
}
