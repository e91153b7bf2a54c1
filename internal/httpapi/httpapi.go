// Package httpapi is the HTTP plumbing shared by the master and the agent:
// decoding v1 API calls, content negotiation, mapping errors to Mesos's
// status codes and messages, RecordIO event streams, route registration under
// libprocess actor prefixes, and JSON (with JSONP) for the legacy endpoints.
//
// Only this layer turns errors into status codes. Handlers return or pass an
// [*Error] carrying the exact status and plain-text body Mesos would send
// (e.g. 415 "Expecting 'Content-Type' of application/json or
// application/x-protobuf"); anything else becomes a 500.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/internal/finite"
	"github.com/meso-project/meso/pkg/codec"
)

// MaxBodySize is the largest request body [DecodeCall] reads.
const MaxBodySize = 64 << 20

// Error is an HTTP error with Mesos's status code and a plain-text message
// body.
type Error struct {
	Status  int
	Message string
	// Header holds extra response headers, e.g. "Allow" on a 405 or
	// "Location" on a 307. May be nil.
	Header http.Header
}

// Error returns the status text and the message.
func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Errorf returns an *Error with the given status and formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// WriteError writes err as a response. An *Error (found with errors.As) is
// written with its status, headers and message as a "text/plain;
// charset=utf-8" body; any other error becomes a 500 whose body is the
// error's text, as Mesos answers InternalServerError.
func WriteError(w http.ResponseWriter, err error) {
	var he *Error
	if !errors.As(err, &he) {
		he = &Error{Status: http.StatusInternalServerError, Message: err.Error()}
	}
	h := w.Header()
	for k, vs := range he.Header {
		h[k] = append([]string(nil), vs...)
	}
	h.Del("Content-Encoding")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(he.Message)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(he.Status)
	_, _ = io.WriteString(w, he.Message)
}

// MethodNotAllowed is libprocess's MethodNotAllowed: 405 with an Allow
// header and the body "405 Method Not Allowed. Expecting one of { 'POST' },
// but received 'GET'.".
func MethodNotAllowed(method string, allowed ...string) *Error {
	return &Error{
		Status: http.StatusMethodNotAllowed,
		Message: "405 Method Not Allowed. Expecting one of { '" + strings.Join(allowed, "', '") +
			"' }, but received '" + method + "'.",
		Header: http.Header{"Allow": {strings.Join(allowed, ", ")}},
	}
}

// DecodeCall checks and decodes a v1 API call request (scheduler, executor,
// operator or agent API) into m, in the order the Mesos master checks:
//
//   - a method other than POST is a 405 with "Allow: POST";
//   - a missing Content-Type is a 400 "Expecting 'Content-Type' to be
//     present";
//   - a Content-Type other than JSON or protobuf is a 415 "Expecting
//     'Content-Type' of application/json or application/x-protobuf";
//   - a body over [MaxBodySize] is a 413;
//   - a JSON body that is not JSON is a 400 "Failed to parse body into
//     JSON: <detail>"; JSON that does not fit the message (unknown enum,
//     wrong types, missing required fields) is a 400 "Failed to convert
//     JSON into Call protobuf: <detail>";
//   - a protobuf body that does not decode (including missing required
//     fields) is a 400 "Failed to parse body into Call protobuf: <detail>";
//   - a body, JSON or protobuf, denoting more message than
//     [codec.DefaultBudget] allows (2 bytes of message per byte of body,
//     at least 64 MiB: an array of millions of small messages) is refused
//     before it is decoded: a 400 "Failed to parse body into Call: codec:
//     message over budget: the <n>-byte body denotes more than <limit>
//     bytes of messages in memory (...); send fewer items per call";
//   - a NaN or an infinity in a field that does not allow one (see package
//     finite) is a 400 "Failed to validate scheduler::Call: Invalid value
//     of '<field path>': NaN not supported".
//
// It returns the request's media type. All errors are *Error.
func DecodeCall(r *http.Request, m proto.Message) (codec.MediaType, error) {
	if r.Method != http.MethodPost {
		return "", MethodNotAllowed(r.Method, http.MethodPost)
	}
	mt, err := codec.ParseContentType(r.Header.Get("Content-Type"))
	switch {
	case errors.Is(err, codec.ErrMissingContentType):
		return "", Errorf(http.StatusBadRequest, "Expecting 'Content-Type' to be present")
	case err != nil || (mt != codec.JSON && mt != codec.Protobuf):
		return "", Errorf(http.StatusUnsupportedMediaType,
			"Expecting 'Content-Type' of %s or %s", codec.JSON, codec.Protobuf)
	}
	body, err := ReadBody(r)
	if err != nil {
		return "", err
	}
	err = codec.Unmarshal(mt, body, m)
	var over *codec.BudgetError
	switch {
	case errors.As(err, &over):
		return "", Errorf(http.StatusBadRequest, "Failed to parse body into Call: %v", over)
	case err != nil && mt == codec.JSON:
		// Mesos tells a body that is not JSON apart from JSON that does
		// not fit the Call message.
		if err := JSONSyntax(body); err != nil {
			return "", Errorf(http.StatusBadRequest, "Failed to parse body into JSON: %v", err)
		}
		return "", Errorf(http.StatusBadRequest, "Failed to convert JSON into Call protobuf: %v", err)
	case err != nil:
		return "", Errorf(http.StatusBadRequest, "Failed to parse body into Call protobuf: %v", err)
	}
	if err := checkFinite(m); err != nil {
		return "", err
	}
	return mt, nil
}

// checkFinite refuses a call holding a NaN or an infinity where none is
// allowed (see package finite) with Mesos's 400 for a call that fails
// validation, e.g. "Failed to validate scheduler::Call: Invalid value of
// 'subscribe.framework_info.failover_timeout': NaN not supported".
func checkFinite(m proto.Message) error {
	if err := finite.Check(m); err != nil {
		return Errorf(http.StatusBadRequest, "Failed to validate %s: %v", callName(m), err)
	}
	return nil
}

// callName is the C++ name Mesos gives a call message in its messages:
// mesos.v1.scheduler.Call is "scheduler::Call".
func callName(m proto.Message) string {
	name := string(m.ProtoReflect().Descriptor().FullName())
	name = strings.TrimPrefix(name, "mesos.v1.")
	return strings.ReplaceAll(name, ".", "::")
}

// ReadBody reads at most MaxBodySize bytes of the request body; a larger
// body is a 413. A body with a Content-Length is read into a buffer of
// exactly that size, so reading costs the body's size once (io.ReadAll's
// doubling would cost up to twice more while it grows).
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > MaxBodySize {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "Request body exceeds %d bytes", MaxBodySize)
	}
	var body []byte
	var err error
	if r.ContentLength > 0 {
		body = make([]byte, r.ContentLength)
		var n int
		n, err = io.ReadFull(r.Body, body)
		body = body[:n]
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	}
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, "Failed to read request body: %v", err)
	}
	if len(body) > MaxBodySize {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "Request body exceeds %d bytes", MaxBodySize)
	}
	return body, nil
}

// JSONSyntax returns nil when body is one JSON document, else encoding/json's
// description of the first syntax error. It checks without building a tree
// of the document.
func JSONSyntax(body []byte) error {
	if json.Valid(body) {
		return nil
	}
	var raw json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return err
	}
	return errors.New("invalid JSON") // unreachable: Valid and Unmarshal agree
}

// Accept negotiates the response media type from the request's Accept
// headers (see [codec.Negotiate]). It returns a 406 *Error when neither JSON
// nor protobuf is acceptable.
func Accept(r *http.Request) (codec.MediaType, error) {
	accept := ""
	for i, v := range r.Header.Values("Accept") {
		if i > 0 {
			accept += ","
		}
		accept += v
	}
	mt, ok := codec.Negotiate(accept)
	if !ok {
		return "", Errorf(http.StatusNotAcceptable,
			"Expecting 'Accept' to allow '%s' or '%s'", codec.Protobuf, codec.JSON)
	}
	return mt, nil
}

// WriteMessage writes m encoded as mt with the given status. If m cannot be
// encoded it writes a 500 instead and returns the encoding error.
func WriteMessage(w http.ResponseWriter, status int, mt codec.MediaType, m proto.Message) error {
	enc, err := codec.NewEncoding(mt, m)
	return writeEncoding(w, status, mt, enc, err)
}

// WriteMessageUnchecked is WriteMessage for an answer built by this server
// from what it holds, all of it checked when it came in: its required
// fields are not checked again (codec.NewEncodingUnchecked), as Mesos
// does not check them either.
func WriteMessageUnchecked(w http.ResponseWriter, status int, mt codec.MediaType, m proto.Message) error {
	enc, err := codec.NewEncodingUnchecked(mt, m)
	return writeEncoding(w, status, mt, enc, err)
}

func writeEncoding(w http.ResponseWriter, status int, mt codec.MediaType, enc *codec.Encoding, err error) error {
	if err != nil {
		WriteError(w, err)
		return err
	}
	w.Header().Set("Content-Type", string(mt))
	if n := enc.Len(); n >= 0 {
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.WriteHeader(status)
		_, err = enc.WriteTo(w)
		return err
	}
	// A big JSON answer, written as it is encoded: its length is known
	// only at the end (Body).
	body := NewBody(w, status)
	if _, err := enc.WriteTo(body); err != nil {
		return err
	}
	return body.Close()
}
