package scheduler

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/meso-project/meso/api/v1/schedulerpb"
)

var (
	// ErrConfig is wrapped by errors about an invalid Config or argument.
	ErrConfig = errors.New("scheduler: invalid configuration")
	// ErrRunning is returned by Run when another Run is in progress.
	ErrRunning = errors.New("scheduler: Run already in progress")
	// ErrNotSubscribed is returned by Call when there is no subscription.
	ErrNotSubscribed = errors.New("scheduler: not subscribed")
	// ErrNilCall is returned by Call for a nil call (e.g. the result of
	// Acknowledge for a status without uuid).
	ErrNilCall = errors.New("scheduler: nil call")
	// ErrHeartbeatTimeout ends a subscription that received no event for
	// HeartbeatMisses heartbeat intervals.
	ErrHeartbeatTimeout = errors.New("scheduler: no event or heartbeat from the master in time")
	// ErrLeaderChanged ends a subscription when the detector reports a new
	// leading master.
	ErrLeaderChanged = errors.New("scheduler: leading master changed")
	// ErrStreamClosed means the master closed the event stream.
	ErrStreamClosed = errors.New("scheduler: the master closed the event stream")
)

// StatusError is an unexpected HTTP answer from the master.
type StatusError struct {
	CallType schedulerpb.Call_Type
	Master   string // host:port that answered
	Code     int    // HTTP status code
	Status   string // HTTP status line text, e.g. "400 Bad Request"
	Body     string // response body (truncated), usually Mesos's reason
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("scheduler: %s to %s: unexpected %s", e.CallType, e.Master, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Temporary reports whether retrying may succeed: 5xx (e.g. 503 while the
// master recovers or no leader is elected), 404 (routes not installed yet),
// 408 and 429.
func (e *StatusError) Temporary() bool {
	switch {
	case e.Code >= 500, e.Code == http.StatusNotFound, e.Code == http.StatusRequestTimeout, e.Code == http.StatusTooManyRequests:
		return true
	}
	return false
}

// EventError is an ERROR event from the master (e.g. "Framework has been
// removed"); Run returns it.
type EventError struct {
	Message string
}

func (e *EventError) Error() string {
	return "scheduler: ERROR event from the master: " + e.Message
}

// permanentError marks errors that end Run (handler errors, encoding
// errors). Unwrap exposes the original, which Run returns as is.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent reports whether Run must stop on err, and the error Run then
// returns (the original for a permanentError).
func permanent(err error) (bool, error) {
	var pe *permanentError
	var ee *EventError
	var se *StatusError
	switch {
	case errors.As(err, &pe):
		return true, pe.err
	case errors.As(err, &ee):
		return true, err
	case errors.As(err, &se):
		return !se.Temporary(), err
	}
	return false, err
}
