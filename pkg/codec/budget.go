package codec

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// A decode budget bounds the memory a body can make a decoder build. The
// size of a body is capped (httpapi.MaxBodySize), but not what it denotes:
// a protobuf field holding an empty message takes 2 bytes on the wire and a
// Go struct of 48 bytes or more in memory, so decoding a body of them
// allocated 73 bytes per byte (4.4 GB for 60 MB). Before decoding,
// [Unmarshal] estimates, without allocating, how much memory the message
// the body denotes takes (see estimator), and refuses a body whose
// estimate exceeds its [Budget] with a [*BudgetError].
// Ordinary calls are far below it: the allowance alone is 64 MiB of
// message, more than a 5 MB protobuf ACCEPT launching 13,500 tasks builds
// (42 MB: a task's resources, IDs and labels take 8 times their wire size
// in Go structs).

// Budget limits the bytes of message a decode may build from a body: any
// body may build Allowance bytes, a larger body PerByte bytes per byte of
// itself. With [DefaultBudget], a large body and the message it decodes
// into take at most 3 bytes of memory per byte of body.
//
// The zero Budget stands for [DefaultBudget].
type Budget struct {
	// Allowance is the bytes of message any body may build.
	Allowance int64
	// PerByte is the bytes of message a body may build per byte of
	// itself, when that is more than Allowance.
	PerByte int64
}

var (
	// DefaultBudget is the budget of [Unmarshal] and [UnmarshalJSON]:
	// 64 MiB of message for any body, 2 bytes of message per byte of a
	// body over 32 MiB (so that a body and its message take at most 3
	// bytes per byte of body).
	DefaultBudget = Budget{Allowance: 64 << 20, PerByte: 2}
	// NoBudget does not limit decoding; for messages from a trusted peer
	// (a scheduler's events from its master).
	NoBudget = Budget{Allowance: math.MaxInt64}
)

// Limit returns the bytes of message a body of bodySize bytes may build:
// the greater of Allowance and PerByte × bodySize.
func (b Budget) Limit(bodySize int) int64 {
	if b == (Budget{}) {
		b = DefaultBudget
	}
	perByte := b.PerByte * int64(bodySize)
	if bodySize != 0 && perByte/int64(bodySize) != b.PerByte { // overflow
		perByte = math.MaxInt64
	}
	return max(b.Allowance, perByte)
}

// ErrOverBudget is returned (wrapped in a [*BudgetError]) for a body that
// denotes a message larger than its decode budget allows.
var ErrOverBudget = errors.New("codec: message over budget")

// BudgetError is a body refused by its [Budget]. Its text is meant for a
// client-facing 400 body: it says what the body denotes and what to do.
type BudgetError struct {
	// Message is the full name of the message decoded into.
	Message protoreflect.FullName
	// BodySize is the size of the body in bytes.
	BodySize int
	// Limit is the bytes of message the body could have built
	// ([Budget.Limit]); it denotes more.
	Limit int64
	// Budget is the budget applied.
	Budget Budget
}

func (e *BudgetError) Error() string {
	b := e.Budget
	if b == (Budget{}) {
		b = DefaultBudget
	}
	return fmt.Sprintf("%v: the %d-byte body denotes more than %d bytes of messages in memory "+
		"(budget: %d bytes per byte of body, at least %d); send fewer items per call",
		ErrOverBudget, e.BodySize, e.Limit, b.PerByte, b.Allowance)
}

func (e *BudgetError) Unwrap() error { return ErrOverBudget }

// UnmarshalOptions configures [UnmarshalOptions.Unmarshal]; the zero value
// decodes as [Unmarshal] does.
type UnmarshalOptions struct {
	// Budget bounds the memory the decoded message may take; the zero
	// Budget is [DefaultBudget], [NoBudget] lifts the bound.
	Budget Budget
}

// Unmarshal is [Unmarshal] with o's options: a body denoting more message
// than o.Budget allows is refused, before anything is decoded, with a
// [*BudgetError] (wrapping [ErrOverBudget]); m is then reset.
func (o UnmarshalOptions) Unmarshal(mt MediaType, data []byte, m proto.Message) error {
	switch mt {
	case JSON:
		return decoder{budget: o.Budget}.unmarshal(data, m)
	case Protobuf:
		md := m.ProtoReflect().Descriptor()
		limit := o.Budget.Limit(len(data))
		// A body too small to exceed the budget is not walked first
		// (protoBound); the protobuf library then bounds its nesting, and
		// a body it refuses is walked for the error Mesos's nesting
		// limit gives.
		walked := !protoBoundOf(md).fits(len(data), limit)
		if walked {
			if err := checkProtoBudget(data, md, o.Budget); err != nil {
				proto.Reset(m)
				return err
			}
		}
		uo := proto.UnmarshalOptions{AllowPartial: true, RecursionLimit: MaxProtobufDepth + 1}
		if err := uo.Unmarshal(data, m); err != nil {
			if !walked {
				if err := checkProtoBudget(data, md, o.Budget); err != nil {
					proto.Reset(m)
					return err
				}
			}
			return fmt.Errorf("codec: %w", err)
		}
		return checkRequired(m.ProtoReflect())
	}
	return fmt.Errorf("%w: cannot unmarshal a message from %q", ErrUnsupportedMediaType, mt)
}

// MaxProtobufDepth is the deepest nesting of messages a protobuf body may
// have ([Unmarshal] refuses deeper ones); as [MaxJSONDepth], far more than
// Mesos's messages need, and far less than the protobuf library's 10000.
const MaxProtobufDepth = MaxJSONDepth

// ErrInvalidProtobuf is returned (wrapped) for a protobuf body nesting
// messages deeper than [MaxProtobufDepth].
var ErrInvalidProtobuf = errors.New("codec: invalid protobuf")

// checkProtoBudget walks data as md: a body nesting too deep, or denoting
// more than limit bytes of message, is an error.
func checkProtoBudget(data []byte, md protoreflect.MessageDescriptor, b Budget) error {
	e := estimator{limit: b.Limit(len(data))}
	e.protoMessage(data, md, 0)
	switch {
	case e.tooDeep:
		return fmt.Errorf("%w: %s: messages nested deeper than %d levels", ErrInvalidProtobuf, md.FullName(), MaxProtobufDepth)
	case e.over():
		return &BudgetError{Message: md.FullName(), BodySize: len(data), Limit: e.limit, Budget: b}
	}
	return nil
}

// protoBound bounds, for one message type, the estimate of any protobuf
// body of a given size, so that a body too small to exceed the budget need
// not be walked before decoding (a re-registering agent's 3.5 KB
// REREGISTER spent a fifth of its decoding in the walk).
//
// Every field occurrence the estimator counts takes at least 2 bytes of
// its own on the wire (its tag, and its value's first byte or length; a
// group's start and end tags), and adds at most perOccurrence bytes of
// estimate, plus at most appendGrowth (9) bytes per byte of its contents
// (unknown fields' bytes, packed scalars, strings). So the estimate of any
// body of n bytes is at most n × (perOccurrence/2 + 9); perByte, at twice
// that, leaves a margin. TestProtoBound and FuzzProtobufBudget check it.
type protoBound struct{ perByte int64 }

// fits reports whether every body of n bytes fits limit.
func (p protoBound) fits(n int, limit int64) bool { return int64(n) <= limit/p.perByte }

var protoBounds sync.Map // protoreflect.FullName -> protoBound

func protoBoundOf(md protoreflect.MessageDescriptor) protoBound {
	if v, ok := protoBounds.Load(md.FullName()); ok {
		return v.(protoBound)
	}
	// The largest struct among the messages a body of md can hold.
	var maxStruct int64
	seen := map[protoreflect.FullName]bool{}
	var visit func(md protoreflect.MessageDescriptor)
	visit = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		maxStruct = max(maxStruct, structSize(md))
		fields := md.Fields()
		for i := range fields.Len() {
			if sub := fields.Get(i).Message(); sub != nil { // a message, group or map entry
				visit(sub)
			}
		}
	}
	visit(md)
	perOccurrence := oneofCost + max(mapEntryCost, appendGrowth*8+maxStruct, appendGrowth*valueHeader+16, appendGrowth*8)
	b := protoBound{perByte: 2 * (perOccurrence/2 + appendGrowth)}
	protoBounds.Store(md.FullName(), b)
	return b
}

// The estimate of the memory a message takes: what the Go protobuf
// runtime allocates to decode it, garbage included, rounded up (see
// estimator). These constants were checked against runtime.MemStats by
// TestEstimateCoversAllocation.
const (
	// appendGrowth: a repeated field (and the unknown fields' bytes) is
	// grown by append, one element at a time; Go grows a large slice's
	// capacity by 1.25× (up to a size class), so the slices allocated on
	// the way add up to 8 to 9 times the slice's length.
	appendGrowth = 9
	// valueHeader is the allocation beside a string or bytes value's
	// data: a *string for a proto2 string field, a slice or string header
	// for a repeated one.
	valueHeader = 16
	// scalarCost is an optional scalar's allocation (a proto2 *int64,
	// *bool, *float64...).
	scalarCost = 8
	// oneofCost is a oneof field's wrapper struct.
	oneofCost = 16
	// mapEntryCost is a map entry's share of the map: key and value slots
	// and the hash table's overhead, grown as entries are added; a map's
	// first entry costs its table of 8 slots.
	mapEntryCost = 256
)

// estimator sums the estimated bytes of memory a body denotes, stopping as
// soon as the sum exceeds limit. It never allocates.
type estimator struct {
	sum, limit int64
	tooDeep    bool
}

func (e *estimator) add(n int64) { e.sum += n }

func (e *estimator) over() bool { return e.sum > e.limit }

func (e *estimator) done() bool { return e.sum > e.limit || e.tooDeep }

// protoMessage adds the contents of the message md whose wire form is b
// (the message's own struct is counted by the caller). It stops at
// malformed data: proto.Unmarshal then reports it, having decoded no more
// than what was counted.
func (e *estimator) protoMessage(b []byte, md protoreflect.MessageDescriptor, depth int) {
	if depth > MaxProtobufDepth {
		e.tooDeep = true
		return
	}
	fields := md.Fields()
	for len(b) > 0 && !e.done() {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		var val []byte // the value: contents of a length-delimited field or group
		var vn int
		switch typ {
		case protowire.BytesType:
			val, vn = protowire.ConsumeBytes(b[n:])
		case protowire.StartGroupType:
			val, vn = protowire.ConsumeGroup(num, b[n:])
		default:
			vn = protowire.ConsumeFieldValue(num, typ, b[n:])
		}
		if vn < 0 {
			return
		}
		whole := n + vn
		fd := fields.ByNumber(num)
		if fd == nil || !wireFits(fd, typ) {
			// An unknown field is kept as its wire bytes, appended to
			// the message's unknown fields.
			e.add(appendGrowth * int64(whole))
		} else {
			e.protoField(fd, typ, val, depth)
		}
		b = b[whole:]
	}
}

// wireFits reports whether the protobuf runtime decodes a field of wire
// type typ into fd (else it keeps it as an unknown field).
func wireFits(fd protoreflect.FieldDescriptor, typ protowire.Type) bool {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.StringKind, protoreflect.BytesKind:
		return typ == protowire.BytesType
	case protoreflect.GroupKind:
		return typ == protowire.StartGroupType
	}
	if fd.IsList() && typ == protowire.BytesType {
		return true // packed
	}
	return typ == scalarWireType(fd.Kind())
}

func scalarWireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	}
	return protowire.VarintType
}

// scalarSize is the size of a repeated scalar's element in its slice.
func scalarSize(k protoreflect.Kind) int64 {
	switch k {
	case protoreflect.BoolKind:
		return 1
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind, protoreflect.EnumKind,
		protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return 4
	}
	return 8
}

// protoField adds one occurrence of the known field fd of wire type typ;
// val is the contents of a length-delimited value or group.
func (e *estimator) protoField(fd protoreflect.FieldDescriptor, typ protowire.Type, val []byte, depth int) {
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		e.add(oneofCost)
	}
	switch {
	case fd.IsMap():
		e.add(mapEntryCost)
		e.protoMessage(val, fd.Message(), depth+1) // key and value
	case isMessage(fd):
		if fd.IsList() {
			e.add(appendGrowth * 8) // a pointer in the slice
		}
		// A singular message given twice is merged into one; counting
		// it twice only errs on the safe side.
		e.add(structSize(fd.Message()))
		e.protoMessage(val, fd.Message(), depth+1)
	case fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind:
		if fd.IsList() {
			e.add(appendGrowth * valueHeader)
		} else {
			e.add(valueHeader)
		}
		e.add(allocSize(int64(len(val))))
	case fd.IsList() && typ == protowire.BytesType:
		// Packed: the runtime counts the elements and grows the slice
		// once.
		var count int64
		switch scalarWireType(fd.Kind()) {
		case protowire.Fixed32Type:
			count = int64(len(val) / 4)
		case protowire.Fixed64Type:
			count = int64(len(val) / 8)
		default:
			for _, c := range val {
				if c < 0x80 {
					count++
				}
			}
		}
		e.add(allocSize(count * scalarSize(fd.Kind())))
	case fd.IsList():
		e.add(appendGrowth * scalarSize(fd.Kind()))
	default:
		e.add(scalarCost)
	}
}

// allocSize rounds an allocation of n bytes up as Go's allocator does,
// near enough: its size classes waste at most 1/8 above 128 bytes.
func allocSize(n int64) int64 {
	switch {
	case n == 0:
		return 0
	case n <= 16:
		return (n + 7) &^ 7
	case n <= 128:
		return (n + 15) &^ 15
	}
	return n + n/8
}

// structSizes caches, per message descriptor, the allocation of its Go
// struct.
var structSizes sync.Map // protoreflect.MessageDescriptor -> int64

// structSize is the allocation of md's Go struct: the generated struct's
// size when md is a registered generated message, else a conservative
// guess (dynamic messages are larger still, but are not decoded here).
func structSize(md protoreflect.MessageDescriptor) int64 {
	if v, ok := structSizes.Load(md); ok {
		return v.(int64)
	}
	size := 64 + 16*int64(md.Fields().Len())
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		if t := reflect.TypeOf(mt.Zero().Interface()); t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
			size = int64(t.Elem().Size())
		}
	}
	size = allocSize(size)
	structSizes.Store(md, size)
	return size
}

// The JSON decoder sets fields through protoreflect, which allocates more
// than the protobuf runtime's own decoding.
const (
	// jsonValueCost is what decoding a JSON scalar allocates besides its
	// text: a string holding the text of a number or enum name, its
	// boxing while it is converted, the value's boxing in protoreflect.
	jsonValueCost = 48
	// jsonElemCost is what appending to a list through protoreflect
	// allocates besides the slice (reflect.Append's slice header and the
	// element's boxing).
	jsonElemCost = 48
)

// checkJSONBudget estimates the message the JSON document data (which
// json.Valid accepted) denotes for md, as the decoder would build it.
func checkJSONBudget(data []byte, md protoreflect.MessageDescriptor, b Budget) error {
	e := estimator{limit: b.Limit(len(data))}
	e.jsonMessage(&scanner{data: data}, md)
	if e.over() {
		return &BudgetError{Message: md.FullName(), BodySize: len(data), Limit: e.limit, Budget: b}
	}
	return nil
}

// jsonMessage adds the contents of the message md at the scanner's
// position, walking the document as decoder.decodeMessage does, without
// allocating. A key given twice is counted twice and a value that will
// fail to decode is counted as if it did not: both only err on the safe
// side.
func (e *estimator) jsonMessage(s *scanner, md protoreflect.MessageDescriptor) {
	if s.kind() != jObject {
		s.skip()
		return
	}
	s.pos++ // {
	for !e.done() {
		key, ok := s.nextKey('}')
		if !ok {
			return
		}
		fd := fieldByKey(md, key)
		if fd == nil || s.kind() == jNull {
			s.skip()
			continue
		}
		e.jsonField(s, fd)
	}
}

// jsonField adds the value of field fd at the scanner's position.
func (e *estimator) jsonField(s *scanner, fd protoreflect.FieldDescriptor) {
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		e.add(oneofCost)
	}
	switch {
	case fd.IsList():
		if s.kind() != jArray {
			s.skip()
			return
		}
		s.pos++ // [
		for !e.done() && s.nextElem() {
			e.add(jsonElemCost)
			if isMessage(fd) {
				e.add(appendGrowth*8 + structSize(fd.Message()))
				e.jsonMessage(s, fd.Message())
				continue
			}
			elem := scalarSize(fd.Kind())
			if k := fd.Kind(); k == protoreflect.StringKind || k == protoreflect.BytesKind {
				elem = valueHeader
			}
			e.add(appendGrowth * elem)
			e.jsonScalar(s, fd)
		}
	case fd.IsMap():
		if s.kind() != jObject {
			s.skip()
			return
		}
		vd := fd.MapValue()
		s.pos++ // {
		for !e.done() {
			key, ok := s.nextKey('}')
			if !ok {
				return
			}
			// decodeMap keeps each entry, by its key text, before it
			// sets the map: the entry, the key twice, a slot in each
			// map.
			e.add(2*mapEntryCost + 2*allocSize(int64(len(key))))
			switch {
			case s.kind() == jNull:
				s.skip()
			case isMessage(vd):
				e.add(structSize(vd.Message()))
				if s.kind() == jObject {
					e.jsonMessage(s, vd.Message())
				} else {
					e.jsonScalar(s, vd) // a bare Value.Scalar
				}
			default:
				e.jsonScalar(s, vd)
			}
		}
	case isMessage(fd):
		e.add(structSize(fd.Message()))
		e.jsonMessage(s, fd.Message())
	default:
		e.add(scalarCost)
		e.jsonScalar(s, fd)
	}
}

// jsonScalar adds the scalar at the scanner's position: a string's or
// bytes' data (for base64, the text is a bound of the data), or the text
// of another value, which the decoder holds as a string while converting
// it.
func (e *estimator) jsonScalar(s *scanner, fd protoreflect.FieldDescriptor) {
	s.ws()
	start := s.pos
	s.skip()
	n := int64(s.pos - start)
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.BytesKind:
		e.add(2*valueHeader + allocSize(n))
	default:
		e.add(jsonValueCost + allocSize(n))
	}
}
