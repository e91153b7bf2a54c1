package master

import (
	"errors"
	"google.golang.org/protobuf/proto"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/master/validation"
	"github.com/meso-project/meso/pkg/codec"
)

// streamIDHeader carries the subscription's stream ID (spec §1.2).
const streamIDHeader = "Mesos-Stream-Id"

// serveScheduler is POST /api/v1/scheduler. The checks run in the order of
// Mesos's Master::Http::scheduler (spec §1.4): leadership, method, content
// type, body, Call validation, Accept (SUBSCRIBE), stream ID on SUBSCRIBE,
// then — inside the actor — framework lookup, subscription, stream ID.
func (m *Master) serveScheduler(w http.ResponseWriter, r *http.Request) {
	if !m.gateLeader(w, r) || claimsOnly(w, r) {
		return
	}
	call := &schedulerpb.Call{}
	if _, err := httpapi.DecodeCall(r, call); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := validation.SchedulerCall(call); err != nil {
		_ = m.do(r.Context(), func() { m.st.countInvalidSchedulerCall(call) })
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Failed to validate scheduler::Call: %v", err))
		return
	}
	principal, authenticated := httpapi.Principal(r.Context())
	if err := subscribePrincipal(call, principal, authenticated); err != nil {
		_ = m.do(r.Context(), func() { m.st.countInvalidSchedulerCall(call) })
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Failed to validate scheduler::Call: %v", err))
		return
	}
	// Mesos negotiates the response type only for the calls whose answer
	// has a body (SUBSCRIBE, RECONCILE_OPERATIONS), for compatibility.
	var mt codec.MediaType
	if t := call.GetType(); t == schedulerpb.Call_SUBSCRIBE || t == schedulerpb.Call_RECONCILE_OPERATIONS {
		var err error
		if mt, err = httpapi.Accept(r); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	if call.GetType() == schedulerpb.Call_SUBSCRIBE {
		if _, ok := r.Header[http.CanonicalHeaderKey(streamIDHeader)]; ok {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest,
				"Subscribe calls should not include the 'Mesos-Stream-Id' header"))
			return
		}
		m.serveSubscribe(w, r, mt, call.GetSubscribe())
		return
	}

	streamID, hasStreamID := "", false
	if v, ok := r.Header[http.CanonicalHeaderKey(streamIDHeader)]; ok && len(v) > 0 {
		streamID, hasStreamID = v[0], true
	}
	if !m.throttle(w, r, call) {
		return
	}
	var res callResult
	if err := m.do(r.Context(), func() {
		if res = m.st.callPrincipal(call, principal, authenticated); res.err == nil {
			res = m.st.schedulerCall(call, streamID, hasStreamID)
		}
	}); err != nil {
		writeStopped(w, err)
		return
	}
	if res.err != nil {
		httpapi.WriteError(w, toHTTP(res.err))
		return
	}
	w.WriteHeader(statusOf(res.outcome))
}

// callResult is the actor's answer to a non-SUBSCRIBE call.
// callResult is the core's answer to a scheduler or agent call: how it
// ended, or a core error (errors.go).
type callResult struct {
	outcome outcome
	err     error
}

func accepted() callResult { return callResult{outcome: outcomeAccepted} }

func failed(kind error, format string, args ...any) callResult {
	return callResult{err: rejectf(kind, format, args...)}
}

func writeStopped(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrStopped) {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "Master is shutting down"))
		return
	}
	// The client went away; nobody reads the answer.
	w.WriteHeader(http.StatusServiceUnavailable)
}

// serveSubscribe opens the event stream of a SUBSCRIBE call and writes
// events until the master closes the stream or the client goes away.
func (m *Master) serveSubscribe(w http.ResponseWriter, r *http.Request, mt codec.MediaType, sub *schedulerpb.Call_Subscribe) {
	streamID := uuid.NewString()
	conn := &schedConn{streamID: streamID, out: newOutbox[*schedulerpb.Event](&m.gate).
		bound(m.cfg.MaxEventQueueBytes, m.log.With("stream", "scheduler", "stream_id", streamID))}
	var frameworkID string
	if err := m.do(r.Context(), func() {
		m.st.countSubscribe(sub)
		frameworkID = m.st.subscribe(conn, sub)
		m.st.subscribed(frameworkID, conn)
	}); err != nil {
		writeStopped(w, err)
		return
	}
	stream, err := httpapi.NewStream(w, mt, http.Header{streamIDHeader: {conn.streamID}})
	if err != nil {
		m.streamClosed(frameworkID, conn)
		return
	}
	conn.out.setAbort(stream.Abort)
	writeEvents(m, r, stream, conn.out, &schedulerpb.Event{Type: schedulerpb.Event_HEARTBEAT.Enum()}, conn.heartbeats)
	m.streamClosed(frameworkID, conn)
}

// writeEvents drains an outbox onto a stream and sends hb every
// HeartbeatInterval (scheduler and operator streams alike), counting them
// in heartbeats when it is not nil. It returns when the outbox is closed
// and drained, on a write error, or when the client goes away.
func writeEvents[T proto.Message](m *Master, r *http.Request, stream *httpapi.Stream, out *outbox[T], hb T, heartbeats *atomic.Uint64) {
	heartbeat := time.NewTicker(m.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		events, closed := out.take()
		if err := httpapi.SendAll(stream, events); err != nil {
			out.close()
			return
		}
		if closed {
			return
		}
		select {
		case <-out.signal:
		case <-heartbeat.C:
			if err := stream.Send(hb); err != nil {
				out.close()
				return
			}
			if heartbeats != nil {
				heartbeats.Add(1)
			}
		case <-r.Context().Done():
			out.close()
			return
		case <-m.done:
			return
		}
	}
}

// streamClosed tells the actor that a subscription stream ended.
func (m *Master) streamClosed(frameworkID string, conn *schedConn) {
	if frameworkID == "" {
		return
	}
	m.post(func() { m.st.schedulerDisconnected(frameworkID, conn) })
}

// schedulerCall runs a non-SUBSCRIBE call on the actor.
func (s *state) schedulerCall(call *schedulerpb.Call, streamID string, hasStreamID bool) callResult {
	f := s.frameworks[call.GetFrameworkId().GetValue()]
	if f == nil {
		return failed(ErrInvalid, "Framework cannot be found")
	}
	if !f.connected() {
		return failed(ErrForbidden, "Framework is not subscribed")
	}
	if !hasStreamID {
		return failed(ErrInvalid, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
	}
	if streamID != f.conn.streamID {
		return failed(ErrInvalid,
			"The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s",
			streamID, f.id)
	}
	s.countSchedulerCall(f, call)
	switch call.GetType() {
	case schedulerpb.Call_TEARDOWN:
		s.log.Info("processing TEARDOWN call", "framework_id", f.id)
		s.removeFramework(f)
	case schedulerpb.Call_ACCEPT:
		s.accept(f, call.GetAccept())
	case schedulerpb.Call_DECLINE:
		s.decline(f, call.GetDecline())
	case schedulerpb.Call_ACCEPT_INVERSE_OFFERS, schedulerpb.Call_DECLINE_INVERSE_OFFERS:
		// No maintenance yet, hence no inverse offers: nothing to answer.
	case schedulerpb.Call_REVIVE:
		s.revive(f, call.GetRevive().GetRoles())
	case schedulerpb.Call_SUPPRESS:
		s.suppress(f, call.GetSuppress().GetRoles())
	case schedulerpb.Call_KILL:
		s.kill(f, call.GetKill())
	case schedulerpb.Call_SHUTDOWN:
		s.shutdownExecutor(f, call.GetShutdown())
	case schedulerpb.Call_ACKNOWLEDGE:
		s.acknowledge(f, call.GetAcknowledge())
	case schedulerpb.Call_ACKNOWLEDGE_OPERATION_STATUS, schedulerpb.Call_RECONCILE_OPERATIONS:
		// Operation feedback is not supported yet (no operations with ids
		// are ever accepted), so there is nothing to acknowledge or report.
	case schedulerpb.Call_RECONCILE:
		s.reconcile(f, call.GetReconcile())
	case schedulerpb.Call_MESSAGE:
		s.frameworkMessage(f, call.GetMessage())
	case schedulerpb.Call_REQUEST:
		// Ignored, as by Mesos's built-in allocator.
	case schedulerpb.Call_UPDATE_FRAMEWORK:
		return s.updateFrameworkCall(f, call.GetUpdateFramework())
	default:
		return failed(ErrUnimplemented, "")
	}
	return accepted()
}
