package agent

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/checks"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
)

// executorConn is the SUBSCRIBE stream of one executor. The actor queues
// events on it; the HTTP handler goroutine writes them out.
type executorConn struct {
	events chan *executorpb.Event
	done   chan struct{} // closed by the actor: finish writing, end the stream
	closed bool          // owned by the actor
	log    *slog.Logger
	// stream is the writer's stream, for aborting a write blocked on an
	// executor that does not read.
	stream     atomic.Pointer[httpapi.Stream]
	overflowed atomic.Bool
}

// executorConnBuffer bounds the events queued for one executor: a
// connection that cannot keep up is closed, with a logged reason.
const executorConnBuffer = 1024

func newExecutorConn(log *slog.Logger) *executorConn {
	return &executorConn{events: make(chan *executorpb.Event, executorConnBuffer), done: make(chan struct{}), log: log}
}

// send queues ev; a connection that cannot keep up is closed.
func (c *executorConn) send(ev *executorpb.Event) bool {
	if c.closed {
		return false
	}
	select {
	case c.events <- ev:
		return true
	default:
		c.log.Warn("disconnecting an executor event stream whose executor fell too far behind",
			"queued_events", len(c.events))
		c.close()
		c.overflowed.Store(true)
		if s := c.stream.Load(); s != nil {
			s.Abort()
		}
		return false
	}
}

func (c *executorConn) close() {
	if !c.closed {
		c.closed = true
		close(c.done)
	}
}

// executorAPI serves POST /api/v1/executor (spec §2), checking in Mesos's
// order: 405 method, 400/415 decoding, 400 validation, 406 Accept (SUBSCRIBE),
// 202 HEARTBEAT, 503 for anything but SUBSCRIBE while recovering, then 400
// unknown framework/executor and 403 not subscribed.
func (a *Agent) executorAPI(w http.ResponseWriter, r *http.Request) {
	call := &executorpb.Call{}
	if _, err := httpapi.DecodeCall(r, call); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if msg := validateExecutorCall(call); msg != "" {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Failed to validate Executor::Call: %s", msg))
		return
	}
	var accept codec.MediaType
	switch call.GetType() {
	case executorpb.Call_SUBSCRIBE:
		mt, err := httpapi.Accept(r)
		if err != nil {
			httpapi.WriteError(w, err)
			return
		}
		accept = mt
	case executorpb.Call_HEARTBEAT:
		w.WriteHeader(http.StatusAccepted)
		return
	}

	var (
		apiErr error
		conn   *executorConn
	)
	err := a.call(r.Context(), func() {
		if a.recovering && call.GetType() != executorpb.Call_SUBSCRIBE {
			// Mesos's RECOVERING agent: executors re-subscribe first.
			apiErr = httpapi.Errorf(http.StatusServiceUnavailable, "Agent has not finished recovery")
			return
		}
		fw := a.frameworks[call.GetFrameworkId().GetValue()]
		if fw == nil {
			apiErr = httpapi.Errorf(http.StatusBadRequest, "Framework cannot be found")
			return
		}
		ex := fw.executors[call.GetExecutorId().GetValue()]
		if ex == nil {
			apiErr = httpapi.Errorf(http.StatusBadRequest, "Executor cannot be found")
			return
		}
		if msg := verifyExecutorClaims(r.Context(), fw.id, ex.id, ex.containerID); msg != "" {
			apiErr = httpapi.Errorf(http.StatusForbidden, "%s", msg)
			return
		}
		if ex.state == executorRegistering && call.GetType() != executorpb.Call_SUBSCRIBE {
			apiErr = httpapi.Errorf(http.StatusForbidden, "Executor is not subscribed")
			return
		}
		switch call.GetType() {
		case executorpb.Call_SUBSCRIBE:
			conn = newExecutorConn(a.log.With("framework_id", fw.id, "executor_id", ex.id))
			a.subscribeExecutor(fw, ex, call.GetSubscribe(), conn)
		case executorpb.Call_UPDATE:
			a.executorUpdate(fw, ex, call.GetUpdate().GetStatus())
		case executorpb.Call_MESSAGE:
			a.executorMessage(fw, ex, call.GetMessage().GetData())
		default:
			apiErr = httpapi.Errorf(http.StatusBadRequest, "Failed to validate Executor::Call: unknown call type")
		}
	})
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running"))
		return
	}
	if apiErr != nil {
		httpapi.WriteError(w, apiErr)
		return
	}
	if conn == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	a.streamToExecutor(w, r, accept, call, conn)
}

// validateExecutorCall mirrors Mesos's validateExecutorCall; "" means valid.
func validateExecutorCall(call *executorpb.Call) string {
	if call.Type == nil {
		return "Expecting 'type' to be present"
	}
	if call.ExecutorId == nil {
		return "Expecting 'executor_id' to be present"
	}
	if call.FrameworkId == nil {
		return "Expecting 'framework_id' to be present"
	}
	switch call.GetType() {
	case executorpb.Call_SUBSCRIBE:
		if call.Subscribe == nil {
			return "Expecting 'subscribe' to be present"
		}
	case executorpb.Call_UPDATE:
		if call.Update == nil {
			return "Expecting 'update' to be present"
		}
		st := call.GetUpdate().GetStatus()
		if st.Uuid == nil {
			return "Expecting 'uuid' to be present"
		}
		if len(st.GetUuid()) != 16 {
			return "Invalid UUID: expecting 16 bytes"
		}
		if st.ExecutorId != nil && st.GetExecutorId().GetValue() != call.GetExecutorId().GetValue() {
			return "ExecutorID in Call: " + call.GetExecutorId().GetValue() +
				" does not match ExecutorID in TaskStatus: " + st.GetExecutorId().GetValue()
		}
		if st.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR {
			return "Received Call from executor " + call.GetExecutorId().GetValue() + " of framework " +
				call.GetFrameworkId().GetValue() + " with invalid source, expecting 'SOURCE_EXECUTOR'"
		}
		if st.GetState() == mesospb.TaskState_TASK_STAGING {
			return "Received TASK_STAGING from executor " + call.GetExecutorId().GetValue() + " of framework " +
				call.GetFrameworkId().GetValue() + " which is not allowed"
		}
		if cs := st.GetCheckStatus(); cs != nil {
			if err := checks.ValidateCheckStatusInfo(cs); err != nil {
				return err.Error()
			}
		}
	case executorpb.Call_MESSAGE:
		if call.Message == nil {
			return "Expecting 'message' to be present"
		}
	}
	return ""
}

// subscribeExecutor handles SUBSCRIBE on the actor (Mesos's
// Slave::subscribe): SUBSCRIBED, then the queued launches.
func (a *Agent) subscribeExecutor(fw *framework, ex *executor, sub *executorpb.Call_Subscribe, conn *executorConn) {
	log := a.log.With("framework_id", fw.id, "executor_id", ex.id, "container_id", ex.containerID)
	if a.terminating || fw.state == frameworkTerminating ||
		ex.state == executorTerminating || ex.state == executorTerminated {
		log.Warn("shutting down a subscribing executor", "executor_state", ex.state)
		conn.send(&executorpb.Event{Type: executorpb.Event_SHUTDOWN.Enum()})
		conn.close()
		return
	}
	if ex.conn != nil {
		log.Info("closing the executor's previous connection")
		ex.conn.close()
	}
	ex.conn = conn
	ex.state = executorRunning
	if ex.regTimer != nil {
		ex.regTimer.Stop()
	}
	log.Info("executor subscribed")
	defer a.executorReregistered()
	conn.send(&executorpb.Event{
		Type: executorpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &executorpb.Event_Subscribed{
			ExecutorInfo:  ex.info,
			FrameworkInfo: fw.info,
			AgentInfo:     a.info,
			ContainerId:   &mesospb.ContainerID{Value: &ex.containerID},
		},
	})
	for _, u := range sub.GetUnacknowledgedUpdates() {
		if validateExecutorCall(&executorpb.Call{
			Type: executorpb.Call_UPDATE.Enum(), ExecutorId: ex.info.GetExecutorId(),
			FrameworkId: fw.info.GetId(), Update: u,
		}) == "" {
			a.executorUpdate(fw, ex, u.GetStatus())
		}
	}
	// A STAGING task the executor does not know was lost on the way.
	unacked := make(map[string]bool)
	for _, t := range sub.GetUnacknowledgedTasks() {
		unacked[t.GetTaskId().GetValue()] = true
	}
	for _, t := range ex.launchedTasks() {
		if t.GetState() == mesospb.TaskState_TASK_STAGING && !unacked[t.GetTaskId().GetValue()] {
			state := mesospb.TaskState_TASK_LOST
			if fw.partitionAware() {
				state = mesospb.TaskState_TASK_DROPPED
			}
			a.agentUpdate(fw, ex, t.GetTaskId().GetValue(), state, mesospb.TaskStatus_REASON_AGENT_RESTARTED,
				"Task launched during agent restart")
		}
	}
	if !ex.everSentTask && len(ex.queue) == 0 {
		log.Warn("shutting down executor: all its tasks were killed before delivery")
		a.shutdownExecutor(ex, nil)
		return
	}
	// The container grows to hold the queued tasks before they are sent
	// (Mesos updates the container's resources on subscription).
	a.growThenDeliver(ex)
}

// executorMessage forwards an executor's MESSAGE to the master (best
// effort: dropped while the agent is not registered).
func (a *Agent) executorMessage(fw *framework, ex *executor, data []byte) {
	a.metrics.executorMessages++
	a.sendToMaster(&agentapipb.Call{
		Type: agentapipb.Call_EXECUTOR_MESSAGE.Enum(),
		ExecutorMessage: &agentapipb.Call_ExecutorMessage{
			FrameworkId: fw.info.GetId(),
			ExecutorId:  ex.info.GetExecutorId(),
			Data:        data,
		},
	})
}

// streamToExecutor writes the events queued on conn until the actor closes
// it or the executor goes away.
func (a *Agent) streamToExecutor(w http.ResponseWriter, r *http.Request, accept codec.MediaType, call *executorpb.Call, conn *executorConn) {
	stream, err := httpapi.NewStream(w, accept, nil)
	if err != nil {
		a.post(func() { a.executorDisconnected(call, conn) })
		return
	}
	conn.stream.Store(stream)
	if conn.overflowed.Load() {
		stream.Abort()
	}
	heartbeat := time.NewTicker(ExecutorHeartbeatInterval)
	defer heartbeat.Stop()
	for {
		select {
		case ev := <-conn.events:
			if err := stream.Send(ev); err != nil {
				a.post(func() { a.executorDisconnected(call, conn) })
				return
			}
		case <-heartbeat.C:
			_ = stream.Send(&executorpb.Event{Type: executorpb.Event_HEARTBEAT.Enum()})
		case <-conn.done:
			for {
				select {
				case ev := <-conn.events:
					if stream.Send(ev) != nil {
						return
					}
				default:
					return
				}
			}
		case <-r.Context().Done():
			a.post(func() { a.executorDisconnected(call, conn) })
			return
		}
	}
}

// executorDisconnected forgets a stream the executor closed. The executor is
// expected to exit (non-checkpointing) or re-subscribe.
func (a *Agent) executorDisconnected(call *executorpb.Call, conn *executorConn) {
	conn.close()
	fw := a.frameworks[call.GetFrameworkId().GetValue()]
	if fw == nil {
		return
	}
	if ex := fw.executors[call.GetExecutorId().GetValue()]; ex != nil && ex.conn == conn {
		a.log.Info("executor disconnected", "framework_id", fw.id, "executor_id", ex.id)
		ex.conn = nil
	}
}
