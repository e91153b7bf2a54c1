package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/pkg/codec"
)

// WriteJSON writes v as a JSON response for the legacy endpoints (/state,
// /flags, ...). A proto.Message is encoded in the Mesos JSON dialect; other
// values with encoding/json. With "?jsonp=<callback>" the JSON is wrapped as
// "callback(...)" and sent as text/javascript, as libprocess's
// OK(json, jsonp) does for the web UI — also for an empty callback, which
// gives "(...)". Unlike Mesos, a callback that is not a plain JavaScript
// identifier path is a 400: Mesos echoes any text, which lets a page inject
// script. r may be nil.
func WriteJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var (
		body []byte
		err  error
	)
	if m, ok := v.(proto.Message); ok {
		body, err = codec.MarshalJSON(m)
	} else {
		body, err = json.Marshal(v)
		var uv *json.UnsupportedValueError
		if errors.As(err, &uv) {
			// A NaN or an infinity got into a view although every call is
			// checked (package finite): render it as the Mesos JSON
			// dialect does ("NaN", "Infinity") rather than fail the whole
			// endpoint until restart.
			body, err = json.Marshal(finiteJSON(reflect.ValueOf(v)))
		}
	}
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteRawJSON(w, r, status, body)
}

// finiteJSON returns v with every non-finite float replaced by the string
// the Mesos JSON dialect writes for it; maps, slices, arrays, pointers and
// interfaces are rebuilt as generic values on the way, other values kept
// (a json.Marshaler, e.g. json.RawMessage from codec.MarshalJSON, already
// encodes non-finite values its own way).
func finiteJSON(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if v.Type().Implements(marshalerType) {
		return v.Interface()
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "Infinity"
		case math.IsInf(f, -1):
			return "-Infinity"
		}
		return v.Interface()
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return finiteJSON(v.Elem())
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			k := it.Key()
			key := fmt.Sprint(k.Interface())
			if k.Kind() == reflect.String {
				key = k.String()
			}
			out[key] = finiteJSON(it.Value())
		}
		return out
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && (v.IsNil() || v.Type().Elem().Kind() == reflect.Uint8) {
			return v.Interface()
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = finiteJSON(v.Index(i))
		}
		return out
	}
	return v.Interface()
}

var marshalerType = reflect.TypeFor[json.Marshaler]()

// WriteRawJSON is WriteJSON for a body already encoded as JSON, e.g. by a
// writer that reproduces Mesos's byte-exact encoding.
func WriteRawJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	StreamRawJSON(w, r, status, func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	})
}

// StreamRawJSON is WriteRawJSON of a body that encode writes piece by
// piece, sent through a Body: a large answer (a /state of 100 MB) goes out
// as it is encoded rather than being held whole. encode's error is that
// of a write (the client went away): the answer has started by then.
func StreamRawJSON(w http.ResponseWriter, r *http.Request, status int, encode func(io.Writer) error) {
	contentType, prefix, suffix := "application/json", "", ""
	if r != nil {
		if cb, ok := QueryValue(r.URL.Query(), "jsonp"); ok {
			if !validCallback(cb) {
				WriteError(w, Errorf(http.StatusBadRequest, "Invalid 'jsonp' callback name"))
				return
			}
			contentType, prefix, suffix = "text/javascript", cb+"(", ")"
		}
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	body := NewBody(w, status)
	if prefix != "" {
		if _, err := io.WriteString(body, prefix); err != nil {
			return
		}
	}
	if err := encode(body); err != nil {
		return
	}
	if suffix != "" {
		if _, err := io.WriteString(body, suffix); err != nil {
			return
		}
	}
	_ = body.Close()
}

// validCallback accepts JavaScript identifier paths such as "angular.callbacks._0",
// which is all JSONP callers send; anything else could inject script.
func validCallback(cb string) bool {
	if len(cb) > 128 {
		return false
	}
	for i := 0; i < len(cb); i++ {
		c := cb[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '$', c == '.':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// QueryValue is a query parameter as libprocess decodes a query into a map:
// present even when empty ("?framework_id=" selects the framework whose ID
// is empty, i.e. none), and the last of repeated keys wins.
func QueryValue(q url.Values, key string) (string, bool) {
	vs, ok := q[key]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}
