package master

import (
	"net/http"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/codec"
)

// The operator event stream (SUBSCRIBE on /api/v1), as Mesos 1.11's
// Master::subscribe and Master::Subscribers: the response is a 200 stream
// of RecordIO records in the negotiated type (no Mesos-Stream-Id), first
// SUBSCRIBED{get_state, heartbeat_interval_seconds}, then a HEARTBEAT, then
// the master's changes in the order its books change:
//
//	TASK_ADDED         a task joins a framework's books (launch; a task an
//	                   agent reports when it re-registers)
//	TASK_UPDATED       a task's status has a new state (or a health/check
//	                   update), with the task's latest state
//	FRAMEWORK_ADDED    a new framework; a framework recovered from an agent
//	                   or re-subscribing with an ID this master never saw
//	FRAMEWORK_UPDATED  a framework re-subscribes, or UPDATE_FRAMEWORK
//	                   changes its FrameworkInfo
//	FRAMEWORK_REMOVED  a framework is torn down or fails over too late
//	AGENT_ADDED        an agent registers, or re-registers unknown to this
//	                   master (after a failover, back from unreachable)
//	AGENT_REMOVED      an agent is removed (it unregistered; a new agent at
//	                   its address) — not when it is marked unreachable or
//	                   gone: 1.11's __removeSlave sends no event for those
//
// and a HEARTBEAT every heartbeat interval. Events are built only while
// someone subscribes, and every one goes through the subscriber's outbox,
// so it is delivered only once the registry writes it follows are durable.
// Past Config.MaxOperatorEventStreamSubscribers the oldest stream is
// closed, as Mesos's bounded subscriber map does.

// opSubscriber is one operator SUBSCRIBE stream.
type opSubscriber struct {
	id  string
	out *outbox[*masterpb.Event]
	// view filters the events of a reader the ACLs limit (authz.go).
	view *viewer
}

// serveOperatorSubscribe answers SUBSCRIBE: the loop queues SUBSCRIBED
// and the first HEARTBEAT and adds the subscriber, then this goroutine
// writes its events until the client or the master ends the stream.
func (m *Master) serveOperatorSubscribe(w http.ResponseWriter, r *http.Request, mt codec.MediaType) {
	id := uuid.NewString()
	sub := &opSubscriber{id: id, out: newOutbox[*masterpb.Event](&m.gate).
		bound(m.cfg.MaxEventQueueBytes, m.log.With("stream", "operator", "stream_id", id)), view: m.viewerFor(r)}
	if err := m.do(r.Context(), func() { m.st.viewing(sub.view, func() { m.st.addSubscriber(sub) }) }); err != nil {
		writeStopped(w, err)
		return
	}
	defer m.post(func() { m.st.removeSubscriber(sub) })
	stream, err := httpapi.NewStream(w, mt, nil)
	if err != nil {
		return
	}
	sub.out.setAbort(stream.Abort)
	writeEvents(m, r, stream, sub.out, &masterpb.Event{Type: masterpb.Event_HEARTBEAT.Enum()}, nil)
}

// addSubscriber queues SUBSCRIBED with the whole state and a first
// HEARTBEAT (ReadOnlyHandler::subscribe), then adds the stream to those
// that get every event; the oldest stream is closed when there are too
// many.
func (s *state) addSubscriber(sub *opSubscriber) {
	sub.out.push(&masterpb.Event{
		Type: masterpb.Event_SUBSCRIBED.Enum(),
		Subscribed: &masterpb.Event_Subscribed{
			GetState:                 s.getState(),
			HeartbeatIntervalSeconds: ptr(s.cfg.HeartbeatInterval.Seconds()),
		},
	})
	sub.out.push(&masterpb.Event{Type: masterpb.Event_HEARTBEAT.Enum()})
	for len(s.subscribers) >= s.cfg.MaxOperatorEventStreamSubscribers && len(s.subscribers) > 0 {
		oldest := s.subscribers[0]
		s.log.Info("closing the oldest operator event stream: too many subscribers",
			"stream_id", oldest.id, "max", s.cfg.MaxOperatorEventStreamSubscribers)
		oldest.out.close()
		s.subscribers = s.subscribers[1:]
	}
	s.subscribers = append(s.subscribers, sub)
	s.log.Info("added operator event stream subscriber", "stream_id", sub.id, "subscribers", len(s.subscribers))
}

// removeSubscriber forgets a stream that ended (Master::exited).
func (s *state) removeSubscriber(sub *opSubscriber) {
	for i, x := range s.subscribers {
		if x == sub {
			s.subscribers = append(s.subscribers[:i:i], s.subscribers[i+1:]...)
			s.log.Info("removed operator event stream subscriber", "stream_id", sub.id, "subscribers", len(s.subscribers))
			return
		}
	}
}

// publish sends an event to every subscriber. build runs only when there
// are subscribers; what it returns is shared by all streams and must not
// alias the master's books (clone what it takes from them).
func (s *state) publish(build func() *masterpb.Event) {
	if len(s.subscribers) == 0 {
		return
	}
	ev := build()
	for _, sub := range s.subscribers {
		if sub.view == nil || s.eventVisible(sub.view, ev) {
			sub.out.push(ev)
		}
	}
}

// publishTaskAdded is createTaskAdded, sent by Framework::addTask.
func (s *state) publishTaskAdded(t *mesospb.Task) {
	s.publish(func() *masterpb.Event {
		return &masterpb.Event{
			Type:      masterpb.Event_TASK_ADDED.Enum(),
			TaskAdded: &masterpb.Event_TaskAdded{Task: proto.Clone(t).(*mesospb.Task)},
		}
	})
}

// publishTaskUpdated is createTaskUpdated(task, task.state, status).
func (s *state) publishTaskUpdated(t *mesospb.Task, st *mesospb.TaskStatus) {
	s.publish(func() *masterpb.Event {
		return &masterpb.Event{
			Type: masterpb.Event_TASK_UPDATED.Enum(),
			TaskUpdated: &masterpb.Event_TaskUpdated{
				FrameworkId: proto.Clone(t.GetFrameworkId()).(*mesospb.FrameworkID),
				Status:      proto.Clone(st).(*mesospb.TaskStatus),
				State:       t.GetState().Enum(),
			},
		}
	})
}

// frameworkEventModel is the framework of createFrameworkAdded and
// createFrameworkUpdated: the info, its three flags and the three times,
// always set (0 when a time never happened); no resources or offers.
func frameworkEventModel(f *framework) *masterpb.Response_GetFrameworks_Framework {
	nanos := func(t time.Time) *mesospb.TimeInfo {
		if t.IsZero() {
			return &mesospb.TimeInfo{Nanoseconds: ptr(int64(0))}
		}
		return timeInfo(t)
	}
	return &masterpb.Response_GetFrameworks_Framework{
		FrameworkInfo:    proto.Clone(f.info).(*mesospb.FrameworkInfo),
		Active:           ptr(f.active),
		Connected:        ptr(f.connected()),
		Recovered:        ptr(f.recovered),
		RegisteredTime:   nanos(f.registeredTime),
		ReregisteredTime: nanos(cmpOr(f.reregisteredTime, f.registeredTime)),
		UnregisteredTime: nanos(f.unregisteredTime),
	}
}

func (s *state) publishFrameworkAdded(f *framework) {
	s.publish(func() *masterpb.Event {
		return &masterpb.Event{
			Type:           masterpb.Event_FRAMEWORK_ADDED.Enum(),
			FrameworkAdded: &masterpb.Event_FrameworkAdded{Framework: frameworkEventModel(f)},
		}
	})
}

func (s *state) publishFrameworkUpdated(f *framework) {
	s.publish(func() *masterpb.Event {
		return &masterpb.Event{
			Type:             masterpb.Event_FRAMEWORK_UPDATED.Enum(),
			FrameworkUpdated: &masterpb.Event_FrameworkUpdated{Framework: frameworkEventModel(f)},
		}
	})
}

func (s *state) publishFrameworkRemoved(f *framework) {
	s.publish(func() *masterpb.Event {
		return &masterpb.Event{
			Type: masterpb.Event_FRAMEWORK_REMOVED.Enum(),
			FrameworkRemoved: &masterpb.Event_FrameworkRemoved{
				FrameworkInfo: proto.Clone(f.info).(*mesospb.FrameworkInfo),
			},
		}
	})
}

// publishAgentAdded is createAgentAdded: the agent as GET_AGENTS shows it.
func (s *state) publishAgentAdded(a *agent) {
	s.publish(func() *masterpb.Event {
		return &masterpb.Event{
			Type:       masterpb.Event_AGENT_ADDED.Enum(),
			AgentAdded: &masterpb.Event_AgentAdded{Agent: s.agentModel(a)},
		}
	})
}

func (s *state) publishAgentRemoved(id string) {
	s.publish(func() *masterpb.Event {
		return &masterpb.Event{
			Type:         masterpb.Event_AGENT_REMOVED.Enum(),
			AgentRemoved: &masterpb.Event_AgentRemoved{AgentId: &mesospb.AgentID{Value: ptr(id)}},
		}
	})
}
