package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits applied to JSON input so that hostile bodies cannot exhaust the
// stack or memory.
const (
	// MaxJSONSize is the largest JSON document [UnmarshalJSON] accepts.
	MaxJSONSize = 64 << 20
	// MaxJSONDepth is the deepest nesting of JSON objects and arrays
	// [UnmarshalJSON] accepts. Mesos messages nest far less deeply.
	MaxJSONDepth = 200
)

// ErrInvalidJSON is returned (wrapped, with the offending field's path) when
// a JSON document is malformed or does not fit the message.
var ErrInvalidJSON = errors.New("codec: invalid JSON")

// UnmarshalJSON decodes data, in the Mesos JSON dialect, into m, replacing
// its contents. It accepts what stout's protobuf parser accepts, and more
// where real clients need it:
//
//   - keys are proto field names; unknown keys are ignored; null means unset;
//   - enums are value names; an unknown name in an optional field or a
//     repeated field or map value is dropped silently, in a required field it
//     is an error; a JSON number is taken as the enum's numeric value, and
//     a number a closed (proto2) enum does not declare is unknown, as an
//     unknown name is;
//   - integers may be JSON numbers (5, 5.0, 5e0 — integral values only) or
//     numeric strings ("5"); 64-bit values are parsed exactly;
//   - floating-point values may be numbers, numeric strings, or "Infinity",
//     "-Infinity" and "NaN";
//   - bools may be true/false or "true"/"false";
//   - bytes are base64: standard or URL-safe alphabet, padded or not;
//   - maps are objects keyed by the map key; for a map whose values are
//     Value.Scalar-shaped messages (a single double field named "value"),
//     a bare number or numeric string stands for {"value": ...}, as
//     docs/scheduler-http-api.md shows for TaskInfo.limits.
//
// After decoding, proto2 required fields are checked; a missing one is an
// error wrapping [ErrMissingRequired] that names its path. A document
// denoting a message larger than [DefaultBudget] allows is refused before
// decoding, with a [*BudgetError]. Every error text is suitable for a
// client-facing 400 body.
func UnmarshalJSON(data []byte, m proto.Message) error {
	return decoder{}.unmarshal(data, m)
}

// decoder reads the Mesos JSON dialect; v0 accepts the names of v0-only
// enum values (see UnmarshalJSONV0); budget bounds the message decoded.
type decoder struct {
	v0     bool
	budget Budget
}

func (d decoder) unmarshal(data []byte, m proto.Message) error {
	proto.Reset(m)
	if len(data) > MaxJSONSize {
		return fmt.Errorf("%w: document of %d bytes exceeds limit %d", ErrInvalidJSON, len(data), MaxJSONSize)
	}
	if err := checkDepth(data, MaxJSONDepth); err != nil {
		return err
	}
	// json.Valid scans without allocating; the decoder below then walks the
	// document once, straight into the message, so decoding never holds a
	// generic tree of the whole body (a 60 MB body once became ~2 GB of
	// map[string]any). See BenchmarkUnmarshalJSONLarge.
	if !json.Valid(data) {
		return syntaxError(data)
	}
	if err := checkJSONBudget(data, m.ProtoReflect().Descriptor(), d.budget); err != nil {
		return err
	}
	s := &scanner{data: data}
	if err := d.decodeMessage(s, m.ProtoReflect()); err != nil {
		return err
	}
	return checkRequired(m.ProtoReflect())
}

// syntaxError describes why data is not one JSON document. It runs only for
// invalid input.
func syntaxError(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty document", ErrInvalidJSON)
		}
		return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	return fmt.Errorf("%w: unexpected data after the top-level value", ErrInvalidJSON)
}

// checkDepth rejects documents nesting objects and arrays deeper than limit,
// before any recursive processing happens.
func checkDepth(data []byte, limit int) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > limit {
				return fmt.Errorf("%w: nesting deeper than %d levels", ErrInvalidJSON, limit)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// fieldsByName caches, per message descriptor, its fields by JSON key so
// that looking a key up does not allocate.
var fieldsByName sync.Map // protoreflect.MessageDescriptor -> map[string]protoreflect.FieldDescriptor

func fieldByKey(md protoreflect.MessageDescriptor, key []byte) protoreflect.FieldDescriptor {
	v, ok := fieldsByName.Load(md)
	if !ok {
		fields := md.Fields()
		byName := make(map[string]protoreflect.FieldDescriptor, fields.Len())
		for i := range fields.Len() {
			byName[string(fields.Get(i).Name())] = fields.Get(i)
		}
		v, _ = fieldsByName.LoadOrStore(md, byName)
	}
	return v.(map[string]protoreflect.FieldDescriptor)[string(key)]
}

// decodeMessage fills m from the JSON object at the scanner's position.
// It decodes what encoding/json into a map[string]any and then the map
// into m did (the decoder before this one): a key given twice takes its
// last value, and only that one may fail; null unsets the field; unknown
// keys are skipped; of several failing fields, the first in declaration
// order is reported.
func (d decoder) decodeMessage(s *scanner, m protoreflect.Message) error {
	if s.kind() != jObject {
		return typeError("an object", s.describeValue())
	}
	md := m.Descriptor()
	var failed map[int]error // by field index: the last occurrence failed
	err := s.object(func(key []byte) error {
		fd := fieldByKey(md, key)
		if fd == nil {
			s.skip() // unknown key
			return nil
		}
		m.Clear(fd) // the last occurrence of a key wins
		delete(failed, fd.Index())
		if s.kind() == jNull {
			s.skip() // null: unset
			return nil
		}
		start := s.pos
		if err := d.decodeField(s, m, fd); err != nil {
			s.pos = start
			s.skip()
			if failed == nil {
				failed = map[int]error{}
			}
			failed[fd.Index()] = at(err, string(fd.Name()))
		}
		return nil
	})
	if err != nil || len(failed) == 0 {
		return err
	}
	first := -1
	for i := range failed {
		if first < 0 || i < first {
			first = i
		}
	}
	return failed[first]
}

// decodeField decodes the value at the scanner's position into m's field
// fd.
func (d decoder) decodeField(s *scanner, m protoreflect.Message, fd protoreflect.FieldDescriptor) error {
	switch {
	case fd.IsList():
		return d.decodeList(s, m.Mutable(fd).List(), fd)
	case fd.IsMap():
		return d.decodeMap(s, m.Mutable(fd).Map(), fd)
	case isMessage(fd):
		return d.decodeMessage(s, m.Mutable(fd).Message())
	}
	val, known, err := d.decodeScalar(s, fd)
	switch {
	case err != nil:
		return err
	case known:
		m.Set(fd, val)
	case fd.Cardinality() == protoreflect.Required:
		return invalid("unknown %s value %s", fd.Enum().FullName(), describe(s.last))
	}
	return nil
}

func (d decoder) decodeList(s *scanner, l protoreflect.List, fd protoreflect.FieldDescriptor) error {
	if s.kind() != jArray {
		return typeError("an array", s.describeValue())
	}
	return s.array(func(i int) error {
		if err := d.decodeElem(s, l, fd); err != nil {
			return at(err, "["+strconv.Itoa(i)+"]")
		}
		return nil
	})
}

func (d decoder) decodeElem(s *scanner, l protoreflect.List, fd protoreflect.FieldDescriptor) error {
	if s.kind() == jNull {
		return invalid("null array element")
	}
	if isMessage(fd) {
		e := l.NewElement()
		if err := d.decodeMessage(s, e.Message()); err != nil {
			return err
		}
		l.Append(e)
		return nil
	}
	val, known, err := d.decodeScalar(s, fd)
	if err != nil {
		return err
	}
	if known { // unknown enum names in repeated fields are dropped
		l.Append(val)
	}
	return nil
}

// mapEntry is the last value given for one key text of a map object.
type mapEntry struct {
	null bool // null: no entry
	key  protoreflect.MapKey
	val  protoreflect.Value
	set  bool // false: an unknown enum value, no entry
	err  error
}

// decodeMap fills mp from the JSON object at the scanner's position as
// decoding the object into a map[string]any did: the last value of each
// key text counts, null means no entry, and the entries are applied in
// key text order, so that of keys naming the same map key ("1", "01") the
// greatest text wins and the first failing key in that order is reported.
func (d decoder) decodeMap(s *scanner, mp protoreflect.Map, fd protoreflect.FieldDescriptor) error {
	if s.kind() != jObject {
		return typeError("an object", s.describeValue())
	}
	kd, vd := fd.MapKey(), fd.MapValue()
	entries := map[string]*mapEntry{}
	err := s.object(func(rawKey []byte) error {
		k, err := s.keyString(rawKey)
		if err != nil {
			return invalid("%v", err)
		}
		if s.kind() == jNull {
			s.skip()
			entries[k] = &mapEntry{null: true}
			return nil
		}
		start := s.pos
		e := d.decodeEntry(s, mp, kd, vd, k)
		if e.err != nil {
			s.pos = start
			s.skip()
			e.err = at(e.err, fmt.Sprintf("[%q]", k))
		}
		entries[k] = e
		return nil
	})
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch e := entries[k]; {
		case e.null:
		case e.err != nil:
			return e.err
		case e.set:
			mp.Set(e.key, e.val)
		}
	}
	return nil
}

// decodeEntry decodes the map value at the scanner's position, for the key
// text k.
func (d decoder) decodeEntry(s *scanner, mp protoreflect.Map, kd, vd protoreflect.FieldDescriptor, k string) *mapEntry {
	key, err := d.decodeMapKey(kd, k)
	if err != nil {
		return &mapEntry{err: err}
	}
	if isMessage(vd) {
		v := mp.NewValue()
		if sf := scalarValueField(vd.Message()); sf != nil && s.kind() != jObject {
			// Bare scalar, e.g. "limits": {"cpus": "Infinity"}.
			val, _, err := d.decodeScalar(s, sf)
			if err != nil {
				return &mapEntry{err: err}
			}
			v.Message().Set(sf, val)
			return &mapEntry{key: key, val: v, set: true}
		}
		if err := d.decodeMessage(s, v.Message()); err != nil {
			return &mapEntry{err: err}
		}
		return &mapEntry{key: key, val: v, set: true}
	}
	val, known, err := d.decodeScalar(s, vd)
	if err != nil {
		return &mapEntry{err: err}
	}
	return &mapEntry{key: key, val: val, set: known} // unknown enum names drop the entry
}

// scalarValueField returns the "value" field of a Value.Scalar-shaped message
// (exactly one field, a singular double or float named "value"), or nil.
func scalarValueField(md protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	if md.Fields().Len() != 1 {
		return nil
	}
	fd := md.Fields().Get(0)
	if fd.Name() != "value" || fd.IsList() ||
		(fd.Kind() != protoreflect.DoubleKind && fd.Kind() != protoreflect.FloatKind) {
		return nil
	}
	return fd
}

func (d decoder) decodeMapKey(fd protoreflect.FieldDescriptor, k string) (protoreflect.MapKey, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(k).MapKey(), nil
	case protoreflect.BoolKind:
		switch k {
		case "true":
			return protoreflect.ValueOfBool(true).MapKey(), nil
		case "false":
			return protoreflect.ValueOfBool(false).MapKey(), nil
		}
		return protoreflect.MapKey{}, invalid("invalid bool map key")
	}
	v, _, err := d.convertScalar(fd, k)
	if err != nil {
		return protoreflect.MapKey{}, err
	}
	return v.MapKey(), nil
}

// decodeScalar reads the value at the scanner's position as a value of fd's
// (non-message) kind. known is false for an enum name or number the enum
// does not define.
func (d decoder) decodeScalar(s *scanner, fd protoreflect.FieldDescriptor) (val protoreflect.Value, known bool, err error) {
	if fd.Kind() == protoreflect.BytesKind && s.kind() == jString {
		// Decoded straight from the document: a large base64 field costs
		// its decoded size only, not a string copy as well.
		raw, escaped := s.rawString()
		if !escaped {
			b, err := decodeBase64Bytes(raw)
			if err != nil {
				return val, false, invalid("invalid base64")
			}
			return protoreflect.ValueOfBytes(b), true, nil
		}
		s.pos -= len(raw) + 2 // read it again as a string
	}
	if fd.Kind() == protoreflect.StringKind && s.kind() == jString {
		raw, _ := s.rawString()
		str, err := unquote(raw)
		if err != nil {
			return val, false, invalid("%v", err)
		}
		return protoreflect.ValueOfString(str), true, nil
	}
	v := s.value()
	s.last = v
	return d.convertScalar(fd, v)
}

// convertScalar converts the JSON value v (nil, bool, json.Number, string,
// or a nil []any or map[string]any standing for an array or object) to a
// value of fd's (non-message) kind. known is false for an enum name or
// number the enum does not define.
func (d decoder) convertScalar(fd protoreflect.FieldDescriptor, v any) (val protoreflect.Value, known bool, err error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		switch v {
		case true, "true":
			return protoreflect.ValueOfBool(true), true, nil
		case false, "false":
			return protoreflect.ValueOfBool(false), true, nil
		}
		return val, false, typeError("a bool", v)

	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		s, ok := numberText(v)
		if !ok {
			return val, false, typeError("an integer", v)
		}
		n, err := parseInt(s, math.MinInt32, math.MaxInt32)
		if err != nil {
			return val, false, invalid("%v", err)
		}
		return protoreflect.ValueOfInt32(int32(n)), true, nil

	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		s, ok := numberText(v)
		if !ok {
			return val, false, typeError("an integer", v)
		}
		n, err := parseInt(s, math.MinInt64, math.MaxInt64)
		if err != nil {
			return val, false, invalid("%v", err)
		}
		return protoreflect.ValueOfInt64(n), true, nil

	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		s, ok := numberText(v)
		if !ok {
			return val, false, typeError("an unsigned integer", v)
		}
		n, err := parseUint(s, math.MaxUint32)
		if err != nil {
			return val, false, invalid("%v", err)
		}
		return protoreflect.ValueOfUint32(uint32(n)), true, nil

	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		s, ok := numberText(v)
		if !ok {
			return val, false, typeError("an unsigned integer", v)
		}
		n, err := parseUint(s, math.MaxUint64)
		if err != nil {
			return val, false, invalid("%v", err)
		}
		return protoreflect.ValueOfUint64(n), true, nil

	case protoreflect.FloatKind, protoreflect.DoubleKind:
		s, ok := numberText(v)
		if !ok {
			return val, false, typeError("a number", v)
		}
		bits := 64
		if fd.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		f, err := parseFloat(s, bits)
		if err != nil {
			return val, false, invalid("%v", err)
		}
		if bits == 32 {
			return protoreflect.ValueOfFloat32(float32(f)), true, nil
		}
		return protoreflect.ValueOfFloat64(f), true, nil

	case protoreflect.StringKind:
		s, ok := v.(string)
		if !ok {
			return val, false, typeError("a string", v)
		}
		return protoreflect.ValueOfString(s), true, nil

	case protoreflect.BytesKind:
		s, ok := v.(string)
		if !ok {
			return val, false, typeError("a base64 string", v)
		}
		b, err := decodeBase64(s)
		if err != nil {
			return val, false, invalid("invalid base64")
		}
		return protoreflect.ValueOfBytes(b), true, nil

	case protoreflect.EnumKind:
		switch x := v.(type) {
		case string:
			if n, ok := enumValueNumber(fd.Enum(), protoreflect.Name(x), d.v0); ok {
				return protoreflect.ValueOfEnum(n), true, nil
			}
			return val, false, nil
		case json.Number:
			n, err := parseInt(string(x), math.MinInt32, math.MaxInt32)
			if err != nil {
				return val, false, invalid("%v", err)
			}
			// A number a closed (proto2) enum does not declare is unknown,
			// like an unknown name: Mesos's protobuf would keep it in the
			// unknown fields, and MarshalJSON treats it as unset. Open enums
			// keep any number.
			num := protoreflect.EnumNumber(n)
			if _, ok := enumValueName(fd.Enum(), num, d.v0); !ok && fd.Enum().IsClosed() {
				return val, false, nil
			}
			return protoreflect.ValueOfEnum(num), true, nil
		}
		return val, false, typeError("an enum name", v)
	}
	return val, false, invalid("unsupported field kind %v", fd.Kind())
}

// numberText returns the text of a JSON number or of a string holding one.
func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return string(x), true
	case string:
		return x, true
	}
	return "", false
}

// parseInt parses s as a base-10 integer in [lo, hi]; integral floating-point
// forms such as "5.0" and "1e3" are accepted too.
func parseInt(s string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		if n < lo || n > hi {
			return 0, fmt.Errorf("%s is out of range", quote(s))
		}
		return n, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s is out of range", quote(s))
	}
	f, ferr := strconv.ParseFloat(s, 64)
	if ferr != nil || math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) {
		return 0, fmt.Errorf("%s is not an integer", quote(s))
	}
	// float64(hi) may round up to 2^63, so compare against exact bounds.
	if f < float64(lo) || f >= float64(hi)+1 {
		return 0, fmt.Errorf("%s is out of range", quote(s))
	}
	return int64(f), nil
}

// parseUint is parseInt for unsigned values in [0, hi].
func parseUint(s string, hi uint64) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err == nil {
		if n > hi {
			return 0, fmt.Errorf("%s is out of range", quote(s))
		}
		return n, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s is out of range", quote(s))
	}
	f, ferr := strconv.ParseFloat(s, 64)
	if ferr != nil || math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) {
		return 0, fmt.Errorf("%s is not an integer", quote(s))
	}
	if f < 0 || f >= float64(hi)+1 {
		return 0, fmt.Errorf("%s is out of range", quote(s))
	}
	return uint64(f), nil
}

func parseFloat(s string, bits int) (float64, error) {
	switch s {
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	f, err := strconv.ParseFloat(s, bits)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s is out of range", quote(s))
		}
		return 0, fmt.Errorf("%s is not a number", quote(s))
	}
	return f, nil
}

// decodeBase64Bytes is decodeBase64 for a slice of the document.
func decodeBase64Bytes(src []byte) ([]byte, error) {
	enc := base64.StdEncoding
	if bytes.ContainsAny(src, "-_") {
		enc = base64.URLEncoding
	}
	if len(src)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	dst := make([]byte, enc.DecodedLen(len(src)))
	n, err := enc.Decode(dst, src)
	if err != nil {
		return nil, err
	}
	return dst[:n], nil
}

// decodeBase64 accepts standard and URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.DecodeString(s)
}

func typeError(want string, got any) error {
	return invalid("expected %s, got %s", want, describe(got))
}

// jsonError is an ErrInvalidJSON with the path of the offending field. The
// path is built only on the way out of a failed decode (see at): building
// it for every field decoded cost more than the message itself.
type jsonError struct{ path, detail string }

func (e *jsonError) Error() string {
	if e.path == "" {
		return ErrInvalidJSON.Error() + ": " + e.detail
	}
	return ErrInvalidJSON.Error() + ": " + e.path + ": " + e.detail
}

func (e *jsonError) Unwrap() error { return ErrInvalidJSON }

func invalid(format string, args ...any) error {
	return &jsonError{detail: fmt.Sprintf(format, args...)}
}

// at prefixes err's path with seg: a field name, "[3]" or "[\"key\"]".
func at(err error, seg string) error {
	var je *jsonError
	if !errors.As(err, &je) {
		return err
	}
	switch {
	case je.path == "":
		je.path = seg
	case strings.HasPrefix(je.path, "["):
		je.path = seg + je.path
	default:
		je.path = seg + "." + je.path
	}
	return err
}

// describe names a decoded JSON value for an error message.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return "number " + quote(string(x))
	case string:
		return "string " + quote(x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// quote quotes s for an error message, truncating long values.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
