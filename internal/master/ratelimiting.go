package master

import (
	"net/http"
	"time"

	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/ratelimit"
)

// throttledCallName is the message name Mesos's error names for a dropped
// scheduler call ("Message mesos.scheduler.Call dropped: ...").
const throttledCallName = "mesos.scheduler.Call"

// throttle applies --rate_limits to a scheduler call (all but SUBSCRIBE)
// of a subscribed framework, by its FrameworkInfo.principal as Mesos's
// Master::consume does: the call waits for its limiter's turn, or, when
// capacity calls already wait, is dropped: the framework gets Mesos's
// ERROR event "Message mesos.scheduler.Call dropped: capacity(N) exceeded"
// on its stream and the call a 429 with the same message. It reports
// whether the call may go on (false: the answer is written).
func (m *Master) throttle(w http.ResponseWriter, r *http.Request, call *schedulerpb.Call) bool {
	if m.limiters == nil {
		return true
	}
	id := call.GetFrameworkId().GetValue()
	var principal string
	var hasPrincipal, registered bool
	if err := m.do(r.Context(), func() {
		if f := m.st.frameworks[id]; f != nil && f.connected() {
			registered = true
			principal, hasPrincipal = f.info.GetPrincipal(), f.info.Principal != nil
		}
	}); err != nil {
		writeStopped(w, err)
		return false
	}
	if !registered {
		return true // the call's own checks answer it
	}
	permit, err := m.limiters.Acquire(principal, hasPrincipal, time.Now())
	if exceeded, ok := err.(*ratelimit.ExceededError); ok {
		msg := exceeded.Message(throttledCallName)
		m.log.Warn("dropping a scheduler call: rate limit capacity exceeded",
			"framework_id", id, "principal", principal, "call", call.GetType().String(), "capacity", exceeded.Capacity)
		_ = m.do(r.Context(), func() {
			if f := m.st.frameworks[id]; f != nil {
				f.send(errorEvent(msg))
			}
		})
		httpapi.WriteError(w, httpapi.Errorf(http.StatusTooManyRequests, "%s", msg))
		return false
	}
	if permit == nil {
		return true
	}
	defer permit.Done()
	if wait := time.Until(permit.At); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			w.WriteHeader(http.StatusServiceUnavailable) // the client went away
			return false
		case <-m.done:
			writeStopped(w, ErrStopped)
			return false
		}
	}
	return true
}
