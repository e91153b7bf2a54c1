package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/pkg/codec"
)

// Routes registers h for path under every prefix. Mesos serves each route
// both at the root and under the libprocess actor id, so
//
//	Routes(mux, []string{"", "/master"}, "/api/v1/scheduler", h)
//
// registers "/api/v1/scheduler" and "/master/api/v1/scheduler". Patterns
// have no method, so handlers answer wrong methods themselves with Mesos's
// 405 (see [DecodeCall]). Prefixes such as "/slave(1)" work as is: in
// net/http patterns only "{...}" is special, and the mux matches the
// unescaped path, so "/slave%281%29/..." reaches the same handler.
func Routes(mux *http.ServeMux, prefixes []string, path string, h http.Handler) {
	for _, p := range prefixes {
		mux.Handle(p+path, h)
	}
}

// WriteJSON writes v as a JSON response for the legacy endpoints (/state,
// /flags, ...). A proto.Message is encoded in the Mesos JSON dialect; other
// values with encoding/json. With "?jsonp=<callback>" the JSON is wrapped as
// "callback(...);" and sent as text/javascript, as Mesos does for the web UI;
// a callback that is not a plain JavaScript identifier path is a 400.
// r may be nil.
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
	contentType := "application/json"
	if r != nil {
		if cb := r.URL.Query().Get("jsonp"); cb != "" {
			if !validCallback(cb) {
				WriteError(w, Errorf(http.StatusBadRequest, "Invalid 'jsonp' callback name"))
				return
			}
			wrapped := make([]byte, 0, len(cb)+len(body)+3)
			wrapped = append(wrapped, cb...)
			wrapped = append(wrapped, '(')
			wrapped = append(wrapped, body...)
			body = append(wrapped, ')', ';')
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
