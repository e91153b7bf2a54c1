package codec

import (
	"encoding/base64"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// MarshalJSON encodes m in the Mesos JSON dialect (stout's
// JSON::protobuf). The output is compact and deterministic:
//
//   - keys are proto field names, in field declaration order;
//   - every set field is written, every non-empty repeated or map field, and
//     every unset singular field that declares an explicit default
//     (e.g. CommandInfo.shell: true) unless the field is deprecated;
//   - enums are written as their value names; a number a closed (proto2)
//     enum does not declare is treated as unset, as Mesos's C++ protobuf
//     keeps it in the unknown fields: a singular field is skipped (or written
//     with its default), a repeated element or map entry is left out — so a
//     MasterInfo capability holding v0's QUOTA_V2 (3) is written {};
//   - 64-bit integers are exact JSON numbers;
//   - bytes are standard, padded base64;
//   - infinite and NaN floating-point values are the strings "Infinity",
//     "-Infinity" and "NaN" (Mesos writes unlimited quota this way);
//   - maps are objects keyed by the map key, in sorted key order;
//   - the lists of the operator API's state reads (alwaysArrays) are
//     written even when empty, as [].
//
// Required fields must be set; a missing one is an error naming its path.
func MarshalJSON(m proto.Message) ([]byte, error) {
	return marshalJSON(m, false, minParallel, true)
}

// marshalJSON is MarshalJSON (MarshalJSONV0 with v0), encoding lists of at
// least minPar messages in parallel; check: required fields are checked.
func marshalJSON(m proto.Message, v0 bool, minPar int, check bool) ([]byte, error) {
	pieces, err := marshalJSONPieces(m, v0, minPar, check)
	if err != nil {
		return nil, err
	}
	if len(pieces) == 1 {
		return pieces[0], nil
	}
	return join(pieces), nil
}

// marshalJSONPieces is marshalJSON cut in pieces (their concatenation), as
// the parallel encoders leave them.
func marshalJSONPieces(m proto.Message, v0 bool, minPar int, check bool) ([][]byte, error) {
	rm := m.ProtoReflect()
	e := newEncoder(v0)
	var rope [][]byte
	if runtime.GOMAXPROCS(0) > 1 {
		e.minPar, e.rope = minPar, &rope
	}
	b := e.appendMessage(make([]byte, 0, 512), rm, jsonPlanFor(rm.Descriptor()))
	if e.incomplete && check {
		if err := checkRequired(rm); err != nil {
			return nil, err
		}
	}
	return append(rope, b), nil
}

// alwaysArrays are the repeated fields Mesos writes as [] when empty: the
// master's and the agent's GET_STATE, GET_AGENTS, GET_FRAMEWORKS,
// GET_EXECUTORS and GET_TASKS answers (and SUBSCRIBED's get_state) are
// written field by field (master/readonly_handler.cpp jsonifyGet*,
// slave/http.cpp), not by stout's JSON::protobuf, which leaves empty
// lists out.
var alwaysArrays = map[protoreflect.FullName]bool{
	"mesos.v1.master.Response.GetAgents.agents":                   true,
	"mesos.v1.master.Response.GetAgents.recovered_agents":         true,
	"mesos.v1.master.Response.GetFrameworks.frameworks":           true,
	"mesos.v1.master.Response.GetFrameworks.completed_frameworks": true,
	"mesos.v1.master.Response.GetExecutors.executors":             true,
	"mesos.v1.master.Response.GetTasks.tasks":                     true,
	"mesos.v1.master.Response.GetTasks.unreachable_tasks":         true,
	"mesos.v1.master.Response.GetTasks.completed_tasks":           true,
	"mesos.v1.agent.Response.GetFrameworks.frameworks":            true,
	"mesos.v1.agent.Response.GetFrameworks.completed_frameworks":  true,
	"mesos.v1.agent.Response.GetExecutors.executors":              true,
	"mesos.v1.agent.Response.GetExecutors.completed_executors":    true,
	"mesos.v1.agent.Response.GetTasks.pending_tasks":              true,
	"mesos.v1.agent.Response.GetTasks.queued_tasks":               true,
	"mesos.v1.agent.Response.GetTasks.launched_tasks":             true,
	"mesos.v1.agent.Response.GetTasks.terminated_tasks":           true,
	"mesos.v1.agent.Response.GetTasks.completed_tasks":            true,
}

// encoder writes the Mesos JSON dialect; v0 selects the names of v0-only
// enum values (see MarshalJSONV0). With a rope, it encodes repeated message
// fields of at least minPar elements on several goroutines (see
// appendListParallel); the encoders of those goroutines have none, so they
// never start more.
type encoder struct {
	v0     bool
	minPar int
	rope   *[][]byte
	// out, when set, is where the parallel lists go instead of a rope:
	// it writes what it is given, keeps none of it, and reports whether
	// all is well.
	out func([]byte) bool
	// vals holds, by declaration index, the populated fields of the
	// messages being written, each message's from its base: m.Range reads
	// them in one pass (Has and Get per field cost twice as much).
	vals    []protoreflect.Value
	base    int
	collect func(protoreflect.FieldDescriptor, protoreflect.Value) bool
	// incomplete: a message written lacks a required field (or holds an
	// undeclared number in a required closed enum), or has extensions,
	// which the encoder does not visit: the required-field check must run.
	// Writing the message is the check's walk when nothing is missing.
	incomplete bool
}

func newEncoder(v0 bool) *encoder {
	e := &encoder{v0: v0}
	e.collect = func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsExtension() { // not written, as stout does not
			e.incomplete = true
		} else {
			e.vals[e.base+fd.Index()] = v
		}
		return true
	}
	return e
}

func (e *encoder) appendMessage(b []byte, m protoreflect.Message, p *jsonPlan) []byte {
	if p.goType != nil {
		// A nil message (a typed nil pointer) is read through
		// protoreflect, as an empty one.
		if x := m.Interface(); reflect.TypeOf(x) == p.goType && !reflect.ValueOf(x).IsNil() {
			return e.appendStruct(b, m, reflect.ValueOf(x).Elem(), p)
		}
	}
	b = append(b, '{')
	base := len(e.vals)
	e.vals = slices.Grow(e.vals, len(p.fields))[:base+len(p.fields)]
	e.base = base
	m.Range(e.collect)
	first := true
	for i := range p.fields {
		f := &p.fields[i]
		b = e.appendFieldValue(b, &first, f, e.vals[base+i]) // invalid: unset
	}
	clear(e.vals[base:])
	e.vals = e.vals[:base]
	return append(b, '}')
}

// appendFieldValue writes field f holding v (invalid: unset), read
// through protoreflect.
func (e *encoder) appendFieldValue(b []byte, first *bool, f *jsonField, v protoreflect.Value) []byte {
	switch f.shape {
	case shapeList:
		if !v.IsValid() {
			return appendListField(e, b, first, f, protoreflect.List(nil), 0)
		}
		l := v.List()
		return appendListField(e, b, first, f, l, l.Len())
	case shapeMap:
		return e.appendMapField(b, first, f, v)
	}
	return e.appendSingular(b, first, f, v)
}

// appendStruct is appendMessage for a message of p's generated Go type,
// whose fields it reads from s, the struct (addressable): appendStructAt.
func (e *encoder) appendStruct(b []byte, m protoreflect.Message, s reflect.Value, p *jsonPlan) []byte {
	return e.appendStructAt(b, m, s.Addr().UnsafePointer(), p)
}

// appendStructAt is appendMessage for a message of p's generated Go type
// at base, whose fields it reads at their offsets in the struct (goFields
// found them and checked their Go types): the protobuf library's Range
// costs three times as much as Go's reflection, which cost twice as much
// as these reads. Fields it does not know how to read (oneofs, maps) it
// asks m for (nil: not yet made). The messages in fields of their
// generated types are written from their structs too.
func (e *encoder) appendStructAt(b []byte, m protoreflect.Message, base unsafe.Pointer, p *jsonPlan) []byte {
	e.incomplete = e.incomplete || p.extendable // its extensions are not seen here
	b = append(b, '{')
	first := true
	for i := range p.fields {
		f := &p.fields[i]
		if f.goIndex < 0 {
			if m == nil {
				m = reflect.NewAt(p.goType.Elem(), base).Interface().(protoreflect.ProtoMessage).ProtoReflect()
			}
			var v protoreflect.Value
			if m.Has(f.fd) {
				v = m.Get(f.fd)
			}
			b = e.appendFieldValue(b, &first, f, v)
			continue
		}
		fp := unsafe.Add(base, f.goOff)
		if f.shape == shapeList {
			// Any slice's length is where a []struct{}'s is.
			switch n := len(*(*[]struct{})(fp)); {
			case n == 0:
				b = appendListField(e, b, &first, f, ptrList{}, 0)
			case f.goDirect:
				b = appendListField(e, b, &first, f, ptrList{*(*[]unsafe.Pointer)(fp), f}, n)
			default:
				b = appendListField(e, b, &first, f, goList{reflect.NewAt(f.goFT, fp).Elem(), f}, n)
			}
			continue
		}
		var v protoreflect.Value
		switch {
		case f.goDirect:
			if q := *(*unsafe.Pointer)(fp); q != nil {
				if !first {
					b = append(b, ',')
				}
				first = false
				b = append(b, f.key...)
				b = e.appendStructAt(b, nil, q, f.sub)
				continue
			}
		case f.sub != nil:
			if *(*unsafe.Pointer)(fp) != nil {
				v = protoreflect.ValueOfMessage(reflect.NewAt(f.goFT, fp).Elem().Interface().(protoreflect.ProtoMessage).ProtoReflect())
			}
		case f.goPtr:
			if q := *(*unsafe.Pointer)(fp); q != nil {
				v = loadValue(f, q)
			}
		case f.kind == protoreflect.BytesKind:
			// A []byte: with presence, set when not nil; without (proto3),
			// when not empty.
			if bs := *(*[]byte)(fp); bs != nil && (f.fd.HasPresence() || len(bs) > 0) {
				v = protoreflect.ValueOfBytes(bs)
			}
		default:
			if v = loadValue(f, fp); !present(f, v) {
				v = protoreflect.Value{}
			}
		}
		b = e.appendSingular(b, &first, f, v)
	}
	return append(b, '}')
}

// loadValue reads the value of f's kind at q, a Go value of the type
// generated code uses for it (goKindFits), as goValue converts it.
func loadValue(f *jsonField, q unsafe.Pointer) protoreflect.Value {
	switch f.kind {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(*(*bool)(q))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt64(int64(*(*int32)(q)))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(*(*int64)(q))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint64(uint64(*(*uint32)(q)))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(*(*uint64)(q))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat64(float64(*(*float32)(q)))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(*(*float64)(q))
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(*(*string)(q))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(*(*[]byte)(q))
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(*(*int32)(q)))
	}
	panic(fmt.Sprintf("codec: unexpected field kind %v for %s", f.kind, f.fd.FullName()))
}

// present reports whether v, the value of a field without presence
// (proto3 implicit), is populated, as the protobuf library's Has does.
func present(f *jsonField, v protoreflect.Value) bool {
	switch f.kind {
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int() != 0
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return v.Uint() != 0
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float() != 0 || math.Signbit(v.Float())
	case protoreflect.StringKind:
		return v.String() != ""
	case protoreflect.EnumKind:
		return v.Enum() != 0
	}
	panic(fmt.Sprintf("codec: unexpected field kind %v for %s", f.kind, f.fd.FullName()))
}

// appendListElem writes element i of pl, a list of messages of f's
// generated type, from its struct; a nil element (which the protobuf
// library refuses to marshal) through protoreflect, as before.
func (e *encoder) appendListElem(b []byte, pl ptrList, i int, f *jsonField) []byte {
	if q := pl.ptrs[i]; q != nil {
		return e.appendStructAt(b, nil, q, f.sub)
	}
	return e.appendMessage(b, pl.Get(i).Message(), f.sub)
}

// ptrList is a repeated field of messages of f's generated type (goDirect):
// the pointers to their structs.
type ptrList struct {
	ptrs []unsafe.Pointer
	f    *jsonField
}

func (l ptrList) Len() int { return len(l.ptrs) }
func (l ptrList) Get(i int) protoreflect.Value {
	return protoreflect.ValueOfMessage(reflect.NewAt(l.f.sub.goType.Elem(), l.ptrs[i]).Interface().(protoreflect.ProtoMessage).ProtoReflect())
}

// goList is a repeated field of a generated message, read with Go's
// reflection.
type goList struct {
	rv reflect.Value
	f  *jsonField
}

func (l goList) Len() int                     { return l.rv.Len() }
func (l goList) Get(i int) protoreflect.Value { return goValue(l.f, l.rv.Index(i)) }

// goValue converts rv, an addressable Go value of f's values (a list's
// element), to a protoreflect.Value.
func goValue(f *jsonField, rv reflect.Value) protoreflect.Value {
	if f.kind == protoreflect.MessageKind || f.kind == protoreflect.GroupKind {
		return protoreflect.ValueOfMessage(rv.Interface().(protoreflect.ProtoMessage).ProtoReflect())
	}
	return loadValue(f, rv.Addr().UnsafePointer())
}

// listValues is what appendListField reads a list from.
type listValues interface {
	Len() int
	Get(i int) protoreflect.Value
}

// appendListField writes f, a repeated field of n values in l (n == 0:
// unset), if JSON shows it.
func appendListField[L listValues](e *encoder, b []byte, first *bool, f *jsonField, l L, n int) []byte {
	if n == 0 {
		if !f.always {
			return b
		}
		if !*first {
			b = append(b, ',')
		}
		*first = false
		b = append(b, f.key...)
		return append(b, '[', ']')
	}
	if f.closed && !f.always && !anyKnown(e, f, l, n) {
		return b
	}
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = append(b, f.key...)
	return appendList(e, b, f, l, n)
}

func (e *encoder) appendMapField(b []byte, first *bool, f *jsonField, v protoreflect.Value) []byte {
	if !v.IsValid() {
		return b
	}
	mp := v.Map()
	if f.closed && !e.anyKnownValue(f, mp) {
		return b
	}
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = append(b, f.key...)
	return e.appendMap(b, f, mp)
}

// appendSingular writes f, a singular field holding v (invalid: unset),
// if JSON shows it.
func (e *encoder) appendSingular(b []byte, first *bool, f *jsonField, v protoreflect.Value) []byte {
	if v.IsValid() && f.closed {
		if _, ok := f.enum.name(v.Enum(), e.v0); !ok {
			v = protoreflect.Value{} // unset for Mesos
		}
	}
	if !v.IsValid() {
		e.incomplete = e.incomplete || f.required
		if !f.hasDefault {
			return b
		}
		v = f.def
	}
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = append(b, f.key...)
	return e.appendValue(b, f, v)
}

// known reports whether JSON shows v, a value of f's: false for a number a
// closed enum does not declare.
func (e *encoder) known(f *jsonField, v protoreflect.Value) bool {
	if !f.closed {
		return true
	}
	_, ok := f.enum.name(v.Enum(), e.v0)
	return ok
}

// anyKnown reports whether l holds an element JSON shows.
func anyKnown[L listValues](e *encoder, f *jsonField, l L, n int) bool {
	for i := range n {
		if e.known(f, l.Get(i)) {
			return true
		}
	}
	return false
}

// anyKnownValue reports whether m holds an entry JSON shows.
func (e *encoder) anyKnownValue(f *jsonField, m protoreflect.Map) bool {
	found := false
	m.Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
		found = e.known(f, v)
		return !found
	})
	return found
}

// emitsDefault reports whether an unset singular field is written with its
// default value, as stout does: it has an explicit default and is not
// deprecated. Oneof members are skipped: writing a default would select that
// member.
func emitsDefault(fd protoreflect.FieldDescriptor) bool {
	if !fd.HasDefault() || fd.ContainingOneof() != nil {
		return false
	}
	opts, _ := fd.Options().(*descriptorpb.FieldOptions)
	return !opts.GetDeprecated()
}

func appendList[L listValues](e *encoder, b []byte, f *jsonField, l L, n int) []byte {
	b = append(b, '[')
	if f.sub != nil {
		if (e.rope != nil || e.out != nil) && n >= e.minPar {
			return e.appendListParallel(b, f, l, n)
		}
		if pl, ok := any(l).(ptrList); ok {
			for i := range n {
				if i > 0 {
					b = append(b, ',')
				}
				b = e.appendListElem(b, pl, i, f)
			}
			return append(b, ']')
		}
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendMessage(b, l.Get(i).Message(), f.sub)
		}
		return append(b, ']')
	}
	first := true
	for i := range n {
		v := l.Get(i)
		if !e.known(f, v) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = e.appendValue(b, f, v)
	}
	return append(b, ']')
}

// appendListParallel writes the elements of l, a list of messages, after
// b's '[': chunks of them are encoded on several goroutines, each into its
// own buffer. With a rope, b and the chunks go to it (MarshalJSON joins it
// into one buffer of the exact size); with out, they are written as they
// are encoded (an Encoding's WriteTo), b first. The list's ']' starts a
// new buffer.
func (e *encoder) appendListParallel(b []byte, f *jsonField, l listValues, n int) []byte {
	chunk := chunkSize(n)
	chunks := (n + chunk - 1) / chunk
	var written, encoded atomic.Int64 // for the capacity of the next buffers
	var incomplete atomic.Bool
	encode := func(c int, buf []byte) []byte {
		lo, hi := c*chunk, min(n, (c+1)*chunk)
		if buf == nil {
			size := 1024
			if k := encoded.Load(); k > 0 {
				size = int(written.Load()/k)*(hi-lo)*9/8 + 64
			}
			buf = make([]byte, 0, size)
		}
		w := newEncoder(e.v0)
		pl, direct := l.(ptrList)
		start := len(buf)
		for i := lo; i < hi; i++ {
			if i > 0 {
				buf = append(buf, ',') // every message is shown
			}
			if direct && i+1 < hi && pl.ptrs[i+1] != nil {
				touch(pl.ptrs[i+1], f.sub, touchDepth)
			}
			if direct {
				buf = w.appendListElem(buf, pl, i, f)
			} else {
				buf = w.appendMessage(buf, l.Get(i).Message(), f.sub)
			}
		}
		if w.incomplete {
			incomplete.Store(true)
		}
		written.Add(int64(len(buf) - start))
		encoded.Add(int64(hi - lo))
		return buf
	}
	if e.out != nil {
		if e.out(b) {
			pipeline(chunks, encode, e.out)
		}
	} else {
		bufs := make([][]byte, chunks)
		parallel(chunks, func(c int) { bufs[c] = encode(c, nil) })
		*e.rope = append(append(*e.rope, b), bufs...)
	}
	e.incomplete = e.incomplete || incomplete.Load()
	return append(make([]byte, 0, 4096), ']')
}

func (e *encoder) appendMap(b []byte, f *jsonField, m protoreflect.Map) []byte {
	type entry struct {
		key string
		val protoreflect.Value
	}
	entries := make([]entry, 0, m.Len())
	m.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		if e.known(f, v) {
			entries = append(entries, entry{k.String(), v})
		}
		return true
	})
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	b = append(b, '{')
	for i, x := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, x.key)
		b = append(b, ':')
		b = e.appendValue(b, f, x.val)
	}
	return append(b, '}')
}

// appendValue writes one singular value of f's values.
func (e *encoder) appendValue(b []byte, f *jsonField, v protoreflect.Value) []byte {
	switch f.kind {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32)
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64)
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"')
	case protoreflect.EnumKind:
		if name, ok := f.enum.name(v.Enum(), e.v0); ok {
			return append(b, name...)
		}
		// An open (proto3) enum may hold an undeclared number; closed ones
		// never get here (see known).
		return strconv.AppendInt(b, int64(v.Enum()), 10)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return e.appendMessage(b, v.Message(), f.sub)
	}
	panic(fmt.Sprintf("codec: unknown field kind %v", f.kind))
}

func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string in the protobuf JSON dialect.
func appendString(b []byte, s string) []byte { return AppendString(b, s, false) }

// AppendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; U+2028 and U+2029 are escaped so the output is also
// valid JavaScript (JSONP). With encodingJSON it is byte for byte what
// encoding/json's Marshal writes (HTML characters escaped, \b and \f
// short), for the master's hand-written /state encoder; without, what the
// protobuf JSON dialect writes.
func AppendString(b []byte, s string, encodingJSON bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!encodingJSON || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b' && encodingJSON:
				b = append(b, '\\', 'b')
			case c == '\f' && encodingJSON:
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
