// Package scheduler is a Go SDK for Mesos frameworks: a client of the v1
// scheduler HTTP API (POST /api/v1/scheduler), the counterpart of Mesos's
// C++ scheduler library (src/scheduler/scheduler.cpp) and of the old
// "scheduler driver". It works against meso and against Apache Mesos.
//
// # Walkthrough
//
// A framework builds a [Client] from a [Config] (the --master value and its
// FrameworkInfo) and calls [Client.Run] with an event handler:
//
//	c, err := scheduler.New(scheduler.Config{
//		Master:    "127.0.0.1:5050",
//		Framework: &mesospb.FrameworkInfo{User: proto.String("alice"), Name: proto.String("demo")},
//	})
//	err = c.Run(ctx, func(ctx context.Context, ev *schedulerpb.Event) error {
//		switch ev.GetType() {
//		case schedulerpb.Event_OFFERS:
//			// c.Call(ctx, scheduler.LaunchTasks(offer, task)) ...
//		case schedulerpb.Event_UPDATE:
//			if ack := scheduler.Acknowledge(ev.GetUpdate().GetStatus()); ack != nil {
//				return c.Call(ctx, ack)
//			}
//		}
//		return nil
//	})
//
// Run detects the leading master (package detector), POSTs SUBSCRIBE and
// reads the RecordIO stream of events the master answers with, handing each
// event to the handler. Around that loop it does what every v1 scheduler
// must do:
//
//   - Redirects: a master that is not the leader answers 307 with a
//     protocol-relative Location ("//host:port/api/v1/scheduler"); the same
//     POST is re-sent there, and later calls go to the same place.
//   - Stream id: the Mesos-Stream-Id header of the SUBSCRIBE response is
//     remembered and sent with every other call ([Client.Call]).
//   - Framework id: the id from the SUBSCRIBED event is remembered; calls get
//     it filled in, and re-subscriptions carry it in both Call.framework_id
//     and FrameworkInfo.id so the master treats them as a failover of the same
//     framework rather than a new one.
//   - Heartbeats: the master sends HEARTBEAT every heartbeat_interval_seconds
//     (15 s); when no event at all arrives for HeartbeatMisses intervals the
//     connection is presumed dead and dropped.
//   - Reconnection: after a dropped stream, a 5xx, a network error or a
//     lost heartbeat, Run re-detects the leader and re-subscribes, waiting an
//     exponential, jittered backoff capped at MaxBackoff in between.
//
// Run returns on: ctx done (ctx.Err()); a handler error (returned as is); an
// ERROR event from the master (an [*EventError], after the handler has seen
// the event); a SUBSCRIBE rejected with a 4xx status other than 404/408/429
// (a [*StatusError]); or a non-nil error from Config.OnDisconnect.
//
// # Concurrency
//
// The handler runs on the goroutine that reads the event stream, one event
// at a time and in stream order: while it runs no further event is read and
// the heartbeat watchdog is paused. A handler that blocks for long therefore
// delays every later event. The ctx passed to the handler ends when the
// subscription it came from ends. [Client.Call] is safe to call from the
// handler and from any other goroutine, concurrently.
//
// The convenience builders ([Accept], [Decline], [LaunchTasks],
// [Acknowledge], [Kill], [Reconcile], [Revive], [Suppress], [Teardown],
// [Message], [Shutdown]) return Calls without a framework id; Client.Call
// fills it in.
//
// Package schedulertest has a fake master for testing schedulers.
package scheduler
