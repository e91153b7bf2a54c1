// Package executor is the Go SDK for Mesos executors (the "executor driver"):
// a client of the agent's v1 executor HTTP API (POST /api/v1/executor),
// wire-compatible with Apache Mesos agents and with meso's.
//
// An executor process is started by the agent with MESOS_* environment
// variables; [FromEnv] turns them into a [Config]. [Executor.Run] subscribes
// (a SUBSCRIBE call whose 200 response is a RecordIO stream of events),
// delivers every event to a [Handler] on one goroutine, and keeps the
// subscription alive the way libmesos does:
//
//   - a SUBSCRIBE refused with a status code (503 while the agent recovers)
//     is retried every second;
//   - when the stream breaks, a checkpointing executor (MESOS_CHECKPOINT=1)
//     re-subscribes after random delays (50 ms at first, doubling up to a quarter of SubscriptionBackoffMax),
//     resending the tasks it was launched with that have no acknowledged
//     update yet and every unacknowledged update, until RecoveryTimeout; any
//     other executor, or one that timed out, receives a SHUTDOWN event;
//   - after a SHUTDOWN the handler has ShutdownGracePeriod to finish (send its
//     terminal updates, wait for their acknowledgements) and return [ErrStop];
//     Run then returns nil, or [ErrShutdown] when the grace period runs out.
//
// Status updates are reliable between executor and agent: [Executor.SendUpdate]
// stamps each with a random 16-byte uuid and keeps it until the agent's
// ACKNOWLEDGED event (which means the agent checkpointed it, not that the
// scheduler saw it). An executor should not exit before its terminal updates
// are acknowledged.
//
// A minimal executor:
//
//	cfg, err := executor.FromEnv(os.LookupEnv)
//	if err != nil { ... }
//	e := executor.New(cfg)
//	err = e.Run(ctx, executor.HandlerFunc(func(ctx context.Context, ev *executorpb.Event) error {
//		switch ev.GetType() {
//		case executorpb.Event_LAUNCH:
//			// start the task, then
//			return e.SendUpdate(ctx, &mesospb.TaskStatus{TaskId: ev.GetLaunch().GetTask().GetTaskId(), State: mesospb.TaskState_TASK_RUNNING.Enum()})
//		case executorpb.Event_SHUTDOWN:
//			return executor.ErrStop
//		}
//		return nil
//	}))
//
// Differences from libmesos: the library never kills its own process group
// (Run returns [ErrShutdown] instead and the caller exits), a first SUBSCRIBE
// that cannot reach the agent makes Run return [ErrDisconnected] rather than
// shutting down after the grace period, and HEARTBEAT calls carry the real
// IDs instead of "unused".
package executor
