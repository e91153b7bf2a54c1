package master

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"

	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/codec"
)

// The encoder of the read-only JSON endpoints' models (state_json.go).
//
// The models are trees of object, slices, strings, numbers and
// json.RawMessage. encoding/json walks them by reflection, sorts every
// map's keys through reflect.Value and re-validates every RawMessage; at
// 20,000 agents and 200,000 tasks (issue 13) that was seconds. appendJSON
// writes the same JSON directly: object keys sorted, strings escaped as
// encoding/json escapes them (HTML characters too), floats in its format,
// non-finite floats as the Mesos JSON dialect writes them ("NaN",
// "Infinity"), as httpapi.WriteJSON does. Values of other types go through
// encoding/json.
//
// It also lets the loop hand work to the encoder: a deferred value is a
// function the loop built from a snapshot (copies of what the loop may
// change later, and pointers to what it never changes in place), called
// by the encoder off the loop. /state thus spends on the loop only the
// time to take the snapshot.

// deferred is a value computed when the model is encoded, off the loop. It
// must only read what it captured: never the master's books.
type deferred func() any

// MarshalJSON lets encoding/json encode models that hold deferred values
// (appendJSON does not need it).
func (d deferred) MarshalJSON() ([]byte, error) { return appendJSON(nil, d()), nil }

// writeModel writes v, a model of the read-only endpoints, as JSON,
// encoded on every core and streamed (streamModel): the handler's time,
// not the loop's, but /state at 200,000 tasks is ~100 MB.
func writeModel(w http.ResponseWriter, r *http.Request, v any) {
	httpapi.StreamRawJSON(w, r, http.StatusOK, func(out io.Writer) error {
		return streamModel(out, v, runtime.GOMAXPROCS(0))
	})
}

// appendJSON appends v as encoding/json would encode it (with the
// non-finite floats of httpapi.WriteJSON).
func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case deferred:
		return appendJSON(b, v())
	case taskList:
		return v.appendJSON(b)
	case json.RawMessage:
		if v == nil {
			return append(b, "null"...)
		}
		return append(b, v...)
	case string:
		return appendJSONString(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case float64:
		return appendJSONFloat(b, v, 64)
	case float32:
		return appendJSONFloat(b, float64(v), 32)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case object:
		if v == nil {
			return append(b, "null"...)
		}
		return appendJSONObject(b, v)
	case map[string]string:
		if v == nil {
			return append(b, "null"...)
		}
		return appendJSONMap(b, v, appendJSONString)
	case []object:
		return appendJSONList(b, v, v == nil)
	case []any:
		return appendJSONList(b, v, v == nil)
	case []string:
		return appendJSONList(b, v, v == nil)
	case []json.RawMessage:
		return appendJSONList(b, v, v == nil)
	}
	out, err := json.Marshal(v)
	if err != nil {
		// As httpapi.WriteJSON: a non-finite float in a value of another
		// type; such values are not in the models.
		return append(b, "null"...)
	}
	return append(b, out...)
}

func appendJSONList[T any](b []byte, xs []T, isNil bool) []byte {
	if isNil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSON(b, x)
	}
	return append(b, ']')
}

func appendJSONObject(b []byte, o object) []byte { return appendJSONMap(b, o, appendJSON) }

// appendJSONMap writes m as a JSON object with its keys sorted, as
// encoding/json does, each value written by value.
func appendJSONMap[V any](b []byte, m map[string]V, value func([]byte, V) []byte) []byte {
	var buf [24]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = value(b, m[k])
	}
	return append(b, '}')
}

// appendJSONFloat is encoding/json's floatEncoder, with the Mesos JSON
// dialect's names for non-finite values.
func appendJSONFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString writes s as json.Marshal does (codec.AppendString).
func appendJSONString(b []byte, s string) []byte { return codec.AppendString(b, s, true) }
