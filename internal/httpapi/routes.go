package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

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
	}
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteRawJSON(w, r, status, body)
}

// WriteRawJSON is WriteJSON for a body already encoded as JSON, e.g. by a
// writer that reproduces Mesos's byte-exact encoding.
func WriteRawJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	contentType := "application/json"
	if r != nil {
		if cb, ok := QueryValue(r.URL.Query(), "jsonp"); ok {
			if !validCallback(cb) {
				WriteError(w, Errorf(http.StatusBadRequest, "Invalid 'jsonp' callback name"))
				return
			}
			wrapped := make([]byte, 0, len(cb)+len(body)+2)
			wrapped = append(wrapped, cb...)
			wrapped = append(wrapped, '(')
			wrapped = append(wrapped, body...)
			body = append(wrapped, ')')
			contentType = "text/javascript"
		}
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
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
