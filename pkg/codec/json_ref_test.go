package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
)

// refDecoder is the decoder UnmarshalJSON had before it stopped building a
// generic tree of the document (encoding/json into map[string]any, then
// the tree into the message): the reference that FuzzUnmarshalJSONSameAsTree
// holds the streaming decoder to.
type refDecoder struct{}

// FuzzUnmarshalJSONSameAsTree: the streaming decoder accepts exactly the
// documents the tree-building one did, into the same messages.
func FuzzUnmarshalJSONSameAsTree(f *testing.F) {
	for i, s := range []string{
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"foo","name":"n","roles":["a","b"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`,
		`{"role":"r","limits":{"cpus":"Infinity","mem":{"value":5}},"guarantees":{"cpus":null}}`,
		`{"value":"a","value":null}`, `{"name":"x","name":"y","type":"SCALAR","scalar":{"value":1},"scalar":{}}`,
		`{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"+/+/AQIDBAUGBwgJCgsMDQ==","data":"a\u00e9\n","timestamp":"1e9"}`,
		`{"name":[{"name_part":"a\"b","is_extension":"true"}],"positive_int_value":"18446744073709551615"}`,
		`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"r","guarantees":{"cpus":1}}]}} `,
		` [1,2] `, `{"x":{"y":[{"z":"\ud800"}]}}`,
	} {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		newMsg := fuzzMessages[int(which)%len(fuzzMessages)]
		got, want := newMsg(), newMsg()
		gotErr := UnmarshalJSON(data, got)
		if errors.Is(gotErr, ErrOverBudget) {
			return // the tree decoder has no budget; only huge inputs exceed it
		}
		wantErr := refDecoder{}.unmarshal(data, want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("UnmarshalJSON(%q) = %v, the tree decoder %v", data, gotErr, wantErr)
		}
		if gotErr != nil {
			if gotErr.Error() != wantErr.Error() {
				t.Fatalf("UnmarshalJSON(%q) = %v, the tree decoder %v", data, gotErr, wantErr)
			}
			return
		}
		if diff := cmp.Diff(want, got, protocmp.Transform(), cmpopts.EquateNaNs()); diff != "" {
			t.Fatalf("UnmarshalJSON(%q) differs from the tree decoder (-tree +streaming):\n%s", data, diff)
		}
	})
}

func (d refDecoder) unmarshal(data []byte, m proto.Message) error {
	proto.Reset(m)
	if len(data) > MaxJSONSize {
		return fmt.Errorf("%w: document of %d bytes exceeds limit %d", ErrInvalidJSON, len(data), MaxJSONSize)
	}
	if err := checkDepth(data, MaxJSONDepth); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty document", ErrInvalidJSON)
		}
		return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: unexpected data after the top-level value", ErrInvalidJSON)
	}
	if err := d.decodeMessage(m.ProtoReflect(), v, ""); err != nil {
		return err
	}
	return checkRequired(m.ProtoReflect())
}

// decodeMessage fills m from the JSON value v (an object) found at path.
func (d refDecoder) decodeMessage(m protoreflect.Message, v any, path string) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return refTypeError(path, "an object", v)
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		jv, ok := obj[string(fd.Name())]
		if !ok || jv == nil {
			continue // absent or null: unset
		}
		fpath := joinPath(path, string(fd.Name()))
		var err error
		switch {
		case fd.IsList():
			err = d.decodeList(m.Mutable(fd).List(), fd, jv, fpath)
		case fd.IsMap():
			err = d.decodeMap(m.Mutable(fd).Map(), fd, jv, fpath)
		case isMessage(fd):
			err = d.decodeMessage(m.Mutable(fd).Message(), jv, fpath)
		default:
			var val protoreflect.Value
			var known bool
			val, known, err = d.decodeScalar(fd, jv, fpath)
			switch {
			case err != nil:
			case known:
				m.Set(fd, val)
			case fd.Cardinality() == protoreflect.Required:
				err = fmt.Errorf("%w: %s: unknown %s value %s", ErrInvalidJSON, fpath, fd.Enum().FullName(), describe(jv))
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d refDecoder) decodeList(l protoreflect.List, fd protoreflect.FieldDescriptor, v any, path string) error {
	arr, ok := v.([]any)
	if !ok {
		return refTypeError(path, "an array", v)
	}
	for i, ev := range arr {
		epath := fmt.Sprintf("%s[%d]", path, i)
		if ev == nil {
			return fmt.Errorf("%w: %s: null array element", ErrInvalidJSON, epath)
		}
		if isMessage(fd) {
			e := l.NewElement()
			if err := d.decodeMessage(e.Message(), ev, epath); err != nil {
				return err
			}
			l.Append(e)
			continue
		}
		val, known, err := d.decodeScalar(fd, ev, epath)
		if err != nil {
			return err
		}
		if known { // unknown enum names in repeated fields are dropped
			l.Append(val)
		}
	}
	return nil
}

func (d refDecoder) decodeMap(mp protoreflect.Map, fd protoreflect.FieldDescriptor, v any, path string) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return refTypeError(path, "an object", v)
	}
	// Sorted, so that keys that normalise to the same map key ("1", "01")
	// resolve deterministically.
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	kd, vd := fd.MapKey(), fd.MapValue()
	for _, k := range keys {
		ev := obj[k]
		epath := fmt.Sprintf("%s[%q]", path, k)
		if ev == nil {
			continue // null: no entry
		}
		key, err := d.decodeMapKey(kd, k, epath)
		if err != nil {
			return err
		}
		if isMessage(vd) {
			e := mp.NewValue()
			if sf := scalarValueField(vd.Message()); sf != nil {
				if _, isObj := ev.(map[string]any); !isObj {
					// Bare scalar, e.g. "limits": {"cpus": "Infinity"}.
					val, _, err := d.decodeScalar(sf, ev, epath)
					if err != nil {
						return err
					}
					e.Message().Set(sf, val)
					mp.Set(key, e)
					continue
				}
			}
			if err := d.decodeMessage(e.Message(), ev, epath); err != nil {
				return err
			}
			mp.Set(key, e)
			continue
		}
		val, known, err := d.decodeScalar(vd, ev, epath)
		if err != nil {
			return err
		}
		if known { // unknown enum names drop the entry
			mp.Set(key, val)
		}
	}
	return nil
}

func (d refDecoder) decodeMapKey(fd protoreflect.FieldDescriptor, k, path string) (protoreflect.MapKey, error) {
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
		return protoreflect.MapKey{}, fmt.Errorf("%w: %s: invalid bool map key", ErrInvalidJSON, path)
	}
	v, _, err := d.decodeScalar(fd, k, path)
	if err != nil {
		return protoreflect.MapKey{}, err
	}
	return v.MapKey(), nil
}

// decodeScalar converts the JSON value v to a value of fd's (non-message)
// kind. known is false for an enum name or number the enum does not define.
func (d refDecoder) decodeScalar(fd protoreflect.FieldDescriptor, v any, path string) (val protoreflect.Value, known bool, err error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		switch v {
		case true, "true":
			return protoreflect.ValueOfBool(true), true, nil
		case false, "false":
			return protoreflect.ValueOfBool(false), true, nil
		}
		return val, false, refTypeError(path, "a bool", v)

	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		s, ok := numberText(v)
		if !ok {
			return val, false, refTypeError(path, "an integer", v)
		}
		n, err := parseInt(s, math.MinInt32, math.MaxInt32)
		if err != nil {
			return val, false, fmt.Errorf("%w: %s: %v", ErrInvalidJSON, path, err)
		}
		return protoreflect.ValueOfInt32(int32(n)), true, nil

	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		s, ok := numberText(v)
		if !ok {
			return val, false, refTypeError(path, "an integer", v)
		}
		n, err := parseInt(s, math.MinInt64, math.MaxInt64)
		if err != nil {
			return val, false, fmt.Errorf("%w: %s: %v", ErrInvalidJSON, path, err)
		}
		return protoreflect.ValueOfInt64(n), true, nil

	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		s, ok := numberText(v)
		if !ok {
			return val, false, refTypeError(path, "an unsigned integer", v)
		}
		n, err := parseUint(s, math.MaxUint32)
		if err != nil {
			return val, false, fmt.Errorf("%w: %s: %v", ErrInvalidJSON, path, err)
		}
		return protoreflect.ValueOfUint32(uint32(n)), true, nil

	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		s, ok := numberText(v)
		if !ok {
			return val, false, refTypeError(path, "an unsigned integer", v)
		}
		n, err := parseUint(s, math.MaxUint64)
		if err != nil {
			return val, false, fmt.Errorf("%w: %s: %v", ErrInvalidJSON, path, err)
		}
		return protoreflect.ValueOfUint64(n), true, nil

	case protoreflect.FloatKind, protoreflect.DoubleKind:
		s, ok := numberText(v)
		if !ok {
			return val, false, refTypeError(path, "a number", v)
		}
		bits := 64
		if fd.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		f, err := parseFloat(s, bits)
		if err != nil {
			return val, false, fmt.Errorf("%w: %s: %v", ErrInvalidJSON, path, err)
		}
		if bits == 32 {
			return protoreflect.ValueOfFloat32(float32(f)), true, nil
		}
		return protoreflect.ValueOfFloat64(f), true, nil

	case protoreflect.StringKind:
		s, ok := v.(string)
		if !ok {
			return val, false, refTypeError(path, "a string", v)
		}
		return protoreflect.ValueOfString(s), true, nil

	case protoreflect.BytesKind:
		s, ok := v.(string)
		if !ok {
			return val, false, refTypeError(path, "a base64 string", v)
		}
		b, err := decodeBase64(s)
		if err != nil {
			return val, false, fmt.Errorf("%w: %s: invalid base64", ErrInvalidJSON, path)
		}
		return protoreflect.ValueOfBytes(b), true, nil

	case protoreflect.EnumKind:
		switch x := v.(type) {
		case string:
			if n, ok := enumValueNumber(fd.Enum(), protoreflect.Name(x), false); ok {
				return protoreflect.ValueOfEnum(n), true, nil
			}
			return val, false, nil
		case json.Number:
			n, err := parseInt(string(x), math.MinInt32, math.MaxInt32)
			if err != nil {
				return val, false, fmt.Errorf("%w: %s: %v", ErrInvalidJSON, path, err)
			}
			// A number a closed (proto2) enum does not declare is unknown,
			// like an unknown name: Mesos's protobuf would keep it in the
			// unknown fields, and MarshalJSON treats it as unset. Open enums
			// keep any number.
			num := protoreflect.EnumNumber(n)
			if _, ok := enumValueName(fd.Enum(), num, false); !ok && fd.Enum().IsClosed() {
				return val, false, nil
			}
			return protoreflect.ValueOfEnum(num), true, nil
		}
		return val, false, refTypeError(path, "an enum name", v)
	}
	return val, false, fmt.Errorf("%w: %s: unsupported field kind %v", ErrInvalidJSON, path, fd.Kind())
}

func refTypeError(path, want string, got any) error {
	if path == "" {
		return fmt.Errorf("%w: expected %s, got %s", ErrInvalidJSON, want, describe(got))
	}
	return fmt.Errorf("%w: %s: expected %s, got %s", ErrInvalidJSON, path, want, describe(got))
}
