// Command executor is an example custom executor, written with meso's Go
// executor driver (pkg/executor). It works unchanged against a Mesos 1.11
// agent and a meso agent.
//
// A framework ships it the way frameworks ship their executors: it serves
// the binary over HTTP and names it in ExecutorInfo.command:
//
//	executor_id: "example"
//	command: {
//	  value: "./executor"
//	  shell: false
//	  uris: [{ value: "http://scheduler.example:8080/executor", executable: true }]
//	}
//
// The agent fetches the URI into the executor's sandbox, marks it
// executable and starts it there. For every task it is given (LAUNCH, or
// each task of a LAUNCH_GROUP) the executor sends TASK_RUNNING, then
// TASK_FINISHED whose message and data echo the task's data back. A KILL
// ends the task TASK_KILLED; SHUTDOWN ends the executor once its updates
// are acknowledged.
//
// EXAMPLE_EXECUTOR_CONTENT_TYPE=json makes it speak JSON to the agent
// instead of protobuf (what libmesos executors speak).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/executor"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger); err != nil {
		logger.Error("executor failed", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	cfg, err := executor.FromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	switch ct := os.Getenv("EXAMPLE_EXECUTOR_CONTENT_TYPE"); ct {
	case "", "protobuf":
		cfg.ContentType = codec.Protobuf
	case "json":
		cfg.ContentType = codec.JSON
	default:
		return fmt.Errorf("EXAMPLE_EXECUTOR_CONTENT_TYPE=%q: use json or protobuf", ct)
	}
	cfg.Logger = logger
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	e := executor.New(cfg)
	h := &handler{e: e, log: logger}
	err = e.Run(ctx, executor.HandlerFunc(h.handle))
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

type handler struct {
	e   *executor.Executor
	log *slog.Logger
}

func (h *handler) handle(ctx context.Context, ev *executorpb.Event) error {
	switch ev.GetType() {
	case executorpb.Event_SUBSCRIBED:
		h.log.Info("subscribed", "executor_id", ev.GetSubscribed().GetExecutorInfo().GetExecutorId().GetValue())
	case executorpb.Event_LAUNCH:
		return h.runTask(ctx, ev.GetLaunch().GetTask())
	case executorpb.Event_LAUNCH_GROUP:
		for _, t := range ev.GetLaunchGroup().GetTaskGroup().GetTasks() {
			if err := h.runTask(ctx, t); err != nil {
				return err
			}
		}
	case executorpb.Event_KILL:
		return h.update(ctx, ev.GetKill().GetTaskId(), mesospb.TaskState_TASK_KILLED, "killed", nil)
	case executorpb.Event_SHUTDOWN:
		return executor.ErrStop
	case executorpb.Event_ERROR:
		h.log.Error("agent reported an error", "message", ev.GetError().GetMessage())
	}
	return nil
}

// runTask "runs" a task: the work of this example is to echo its data.
func (h *handler) runTask(ctx context.Context, task *mesospb.TaskInfo) error {
	h.log.Info("running task", "task_id", task.GetTaskId().GetValue())
	if err := h.update(ctx, task.GetTaskId(), mesospb.TaskState_TASK_RUNNING, "", nil); err != nil {
		return err
	}
	msg := fmt.Sprintf("task %s done by %s", task.GetTaskId().GetValue(), h.e.Config().ExecutorID)
	return h.update(ctx, task.GetTaskId(), mesospb.TaskState_TASK_FINISHED, msg, task.GetData())
}

func (h *handler) update(ctx context.Context, id *mesospb.TaskID, state mesospb.TaskState, msg string, data []byte) error {
	st := &mesospb.TaskStatus{TaskId: id, State: state.Enum(), Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(), Data: data}
	if msg != "" {
		st.Message = proto.String(msg)
	}
	return h.e.SendUpdate(ctx, st)
}
