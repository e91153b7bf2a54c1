package master

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/meso-project/meso/internal/httpapi"
)

// The core's errors. State methods say what went wrong with a call — it is
// invalid, not permitted, conflicts, cannot be served now, is not
// implemented — with Mesos's message; the HTTP edge (toHTTP, status) is the
// one place that picks the status code for it.
var (
	ErrInvalid       = errors.New("master: invalid call")              // 400
	ErrForbidden     = errors.New("master: call not permitted")        // 403
	ErrNotFound      = errors.New("master: call names nothing known")  // 404
	ErrConflict      = errors.New("master: call conflicts")            // 409
	ErrUnavailable   = errors.New("master: call cannot be served")     // 503
	ErrUnimplemented = errors.New("master: call not implemented")      // 501
	ErrInternal      = errors.New("master: call failed in the master") // 500
)

// callError is a core error: its kind (one of the sentinels above) and
// Mesos's message for it.
type callError struct {
	kind error
	msg  string
}

func (e *callError) Error() string { return e.msg }
func (e *callError) Unwrap() error { return e.kind }

// rejectf makes a core error of kind with Mesos's message.
func rejectf(kind error, format string, args ...any) error {
	return &callError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// outcome is how a call that did not fail ended.
type outcome int

const (
	// outcomeAccepted: taken, its effects follow asynchronously (202).
	outcomeAccepted outcome = iota
	// outcomeDone: done (200).
	outcomeDone
)

// statusOf is the HTTP status of a successful outcome.
func statusOf(o outcome) int {
	if o == outcomeDone {
		return http.StatusOK
	}
	return http.StatusAccepted
}

// toHTTP maps a core error to the HTTP error Mesos answers with.
func toHTTP(err error) error {
	var he *httpapi.Error
	if errors.As(err, &he) {
		return he
	}
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, ErrUnavailable):
		status = http.StatusServiceUnavailable
	case errors.Is(err, ErrUnimplemented):
		status = http.StatusNotImplemented
	}
	return &httpapi.Error{Status: status, Message: err.Error()}
}
