package executor_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/executor"
	"github.com/meso-project/meso/pkg/executor/executortest"
)

const wait = 10 * time.Second

func testConfig(a *executortest.Agent) executor.Config {
	return executor.Config{
		AgentEndpoint: a.Endpoint(),
		FrameworkID:   "fw-0000",
		ExecutorID:    "exec-1",
	}
}

func task(id string) *mesospb.TaskInfo {
	return &mesospb.TaskInfo{
		Name:    proto.String(id),
		TaskId:  &mesospb.TaskID{Value: proto.String(id)},
		AgentId: &mesospb.AgentID{Value: proto.String("fake-agent-S0")},
		Command: &mesospb.CommandInfo{Value: proto.String("true")},
	}
}

// recorder is a handler that records event types and runs an optional hook.
type recorder struct {
	mu     sync.Mutex
	events []*executorpb.Event
	hook   func(ctx context.Context, ev *executorpb.Event) error
}

func (r *recorder) HandleEvent(ctx context.Context, ev *executorpb.Event) error {
	r.mu.Lock()
	r.events = append(r.events, ev)
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		return hook(ctx, ev)
	}
	return nil
}

func (r *recorder) types() []executorpb.Event_Type {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []executorpb.Event_Type
	for _, ev := range r.events {
		out = append(out, ev.GetType())
	}
	return out
}

func (r *recorder) has(t executorpb.Event_Type) bool {
	for _, got := range r.types() {
		if got == t {
			return true
		}
	}
	return false
}

// run starts e.Run in the background and returns a channel with its result.
func run(t *testing.T, e *executor.Executor, h executor.Handler) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		done <- e.Run(ctx, h)
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
	})
	return done
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		t.Fatal("Run did not return")
		return nil
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLaunchUpdateAcknowledge(t *testing.T) {
	for _, mt := range []codec.MediaType{codec.Protobuf, codec.JSON} {
		t.Run(string(mt), func(t *testing.T) {
			agent := executortest.NewAgent(t)
			cfg := testConfig(agent)
			cfg.ContentType = mt
			e := executor.New(cfg)
			var sent *mesospb.TaskStatus
			rec := &recorder{}
			rec.hook = func(ctx context.Context, ev *executorpb.Event) error {
				switch ev.GetType() {
				case executorpb.Event_LAUNCH:
					sent = &mesospb.TaskStatus{
						TaskId: ev.GetLaunch().GetTask().GetTaskId(),
						State:  mesospb.TaskState_TASK_RUNNING.Enum(),
					}
					return e.SendUpdate(ctx, sent)
				case executorpb.Event_ACKNOWLEDGED:
					return executor.ErrStop
				}
				return nil
			}
			done := run(t, e, rec)
			agent.WaitFor(t, wait, "subscription", agent.Subscribed)
			if err := agent.Launch(task("t1")); err != nil {
				t.Fatal(err)
			}
			if err := result(t, done); err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}

			want := []executorpb.Event_Type{executorpb.Event_SUBSCRIBED, executorpb.Event_LAUNCH, executorpb.Event_ACKNOWLEDGED}
			if diff := cmp.Diff(want, rec.types()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			ups := agent.Updates()
			if len(ups) != 1 {
				t.Fatalf("agent got %d updates, want 1", len(ups))
			}
			got := ups[0]
			if len(got.GetUuid()) != 16 || got.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR ||
				got.GetExecutorId().GetValue() != "exec-1" || got.GetTimestamp() <= 0 {
				t.Errorf("update not filled in: %v", got)
			}
			if diff := cmp.Diff(sent, got, protocmp.Transform()); diff != "" {
				t.Errorf("SendUpdate did not fill the caller's status (-sent +wire):\n%s", diff)
			}
			subs := agent.CallsOf(executorpb.Call_SUBSCRIBE)
			if len(subs) != 1 || subs[0].GetFrameworkId().GetValue() != "fw-0000" || subs[0].GetExecutorId().GetValue() != "exec-1" {
				t.Errorf("SUBSCRIBE calls = %v", subs)
			}
			tasks, updates := e.Unacknowledged()
			if len(tasks) != 0 || len(updates) != 0 {
				t.Errorf("Unacknowledged() = %v, %v; want none", tasks, updates)
			}
		})
	}
}

func TestResubscribeSendsUnacknowledged(t *testing.T) {
	agent := executortest.NewAgent(t, executortest.WithoutAutoAck())
	cfg := testConfig(agent)
	cfg.Checkpoint = true
	cfg.SubscriptionBackoffMax = 20 * time.Millisecond
	e := executor.New(cfg)
	rec := &recorder{}
	rec.hook = func(ctx context.Context, ev *executorpb.Event) error {
		switch ev.GetType() {
		case executorpb.Event_LAUNCH:
			return e.SendUpdate(ctx, &mesospb.TaskStatus{
				TaskId: ev.GetLaunch().GetTask().GetTaskId(),
				State:  mesospb.TaskState_TASK_RUNNING.Enum(),
			})
		case executorpb.Event_ACKNOWLEDGED:
			return executor.ErrStop
		}
		return nil
	}
	done := run(t, e, rec)
	agent.WaitFor(t, wait, "subscription", agent.Subscribed)
	if err := agent.Launch(task("t1")); err != nil {
		t.Fatal(err)
	}
	agent.WaitFor(t, wait, "an update", func() bool { return len(agent.Updates()) == 1 })
	update := agent.Updates()[0]

	agent.CloseStream()
	agent.WaitFor(t, wait, "a second SUBSCRIBE", func() bool {
		return len(agent.CallsOf(executorpb.Call_SUBSCRIBE)) == 2 && agent.Subscribed()
	})
	sub := agent.CallsOf(executorpb.Call_SUBSCRIBE)[1].GetSubscribe()
	if diff := cmp.Diff([]*mesospb.TaskInfo{task("t1")}, sub.GetUnacknowledgedTasks(), protocmp.Transform()); diff != "" {
		t.Errorf("unacknowledged tasks (-want +got):\n%s", diff)
	}
	wantUpdates := []*executorpb.Call_Update{{Status: update}}
	if diff := cmp.Diff(wantUpdates, sub.GetUnacknowledgedUpdates(), protocmp.Transform()); diff != "" {
		t.Errorf("unacknowledged updates (-want +got):\n%s", diff)
	}
	if rec.has(executorpb.Event_SHUTDOWN) {
		t.Error("a checkpointing executor got SHUTDOWN on disconnection")
	}

	if err := agent.Acknowledge("t1", update.GetUuid()); err != nil {
		t.Fatal(err)
	}
	if err := result(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if tasks, updates := e.Unacknowledged(); len(tasks) != 0 || len(updates) != 0 {
		t.Errorf("Unacknowledged() = %v, %v; want none", tasks, updates)
	}
}

func TestDisconnectWithoutCheckpointShutsDown(t *testing.T) {
	agent := executortest.NewAgent(t)
	e := executor.New(testConfig(agent))
	rec := &recorder{hook: func(_ context.Context, ev *executorpb.Event) error {
		if ev.GetType() == executorpb.Event_SHUTDOWN {
			return executor.ErrStop
		}
		return nil
	}}
	done := run(t, e, rec)
	agent.WaitFor(t, wait, "subscription", agent.Subscribed)
	agent.CloseStream()
	if err := result(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := agent.Subscriptions(); got != 1 {
		t.Errorf("a non-checkpointing executor subscribed %d times, want 1", got)
	}
	if err := e.SendMessage(t.Context(), []byte("x")); !errors.Is(err, executor.ErrNotSubscribed) {
		t.Errorf("SendMessage after Run = %v, want ErrNotSubscribed", err)
	}
}

func TestShutdownGracePeriodExpires(t *testing.T) {
	agent := executortest.NewAgent(t)
	cfg := testConfig(agent)
	cfg.ShutdownGracePeriod = 100 * time.Millisecond
	e := executor.New(cfg)
	rec := &recorder{}
	done := run(t, e, rec)
	agent.WaitFor(t, wait, "subscription", agent.Subscribed)
	start := time.Now()
	if err := agent.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := result(t, done); !errors.Is(err, executor.ErrShutdown) {
		t.Fatalf("Run = %v, want ErrShutdown", err)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("Run returned %v after SHUTDOWN, before the grace period", el)
	}
	if !rec.has(executorpb.Event_SHUTDOWN) {
		t.Error("handler did not see SHUTDOWN")
	}
}

func TestRecoveryTimeout(t *testing.T) {
	agent := executortest.NewAgent(t, executortest.WithSubscribeStatus(func(n int, _ *executorpb.Call) int {
		if n > 1 {
			return http.StatusServiceUnavailable
		}
		return 0
	}))
	cfg := testConfig(agent)
	cfg.Checkpoint = true
	cfg.SubscriptionBackoffMax = 20 * time.Millisecond
	cfg.RecoveryTimeout = 300 * time.Millisecond
	e := executor.New(cfg)
	rec := &recorder{hook: func(_ context.Context, ev *executorpb.Event) error {
		if ev.GetType() == executorpb.Event_SHUTDOWN {
			return executor.ErrStop
		}
		return nil
	}}
	done := run(t, e, rec)
	agent.WaitFor(t, wait, "subscription", agent.Subscribed)
	start := time.Now()
	agent.CloseStream()
	if err := result(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("gave up after %v, before the recovery timeout", el)
	}
	if n := agent.Subscriptions(); n < 3 {
		t.Errorf("only %d SUBSCRIBE attempts during recovery", n)
	}
	if rec.has(executorpb.Event_ERROR) {
		t.Error("503 answers produced an ERROR event")
	}
}

func TestSubscribeRetriedAfter503(t *testing.T) {
	agent := executortest.NewAgent(t, executortest.WithSubscribeStatus(func(n int, _ *executorpb.Call) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return 0
	}))
	e := executor.New(testConfig(agent))
	rec := &recorder{hook: func(_ context.Context, ev *executorpb.Event) error {
		if ev.GetType() == executorpb.Event_SUBSCRIBED {
			return executor.ErrStop
		}
		return nil
	}}
	if err := result(t, run(t, e, rec)); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := agent.Subscriptions(); got != 2 {
		t.Errorf("%d SUBSCRIBE attempts, want 2", got)
	}
}

func TestUnexpectedSubscribeStatusInjectsError(t *testing.T) {
	agent := executortest.NewAgent(t, executortest.WithSubscribeStatus(func(int, *executorpb.Call) int {
		return http.StatusBadRequest
	}))
	e := executor.New(testConfig(agent))
	errBoom := errors.New("boom")
	var msg string
	rec := &recorder{hook: func(_ context.Context, ev *executorpb.Event) error {
		if ev.GetType() == executorpb.Event_ERROR {
			msg = ev.GetError().GetMessage()
			return errBoom
		}
		return nil
	}}
	if err := result(t, run(t, e, rec)); !errors.Is(err, errBoom) {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
	if want := "Received unexpected '400 Bad Request'"; len(msg) < len(want) || msg[:len(want)] != want {
		t.Errorf("ERROR message = %q", msg)
	}
}

func TestFirstSubscribeUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := executor.New(executor.Config{AgentEndpoint: addr, FrameworkID: "f", ExecutorID: "e"})
	if err := e.Run(t.Context(), &recorder{}); !errors.Is(err, executor.ErrDisconnected) {
		t.Fatalf("Run = %v, want ErrDisconnected", err)
	}
}

func TestSendMessageAndStop(t *testing.T) {
	agent := executortest.NewAgent(t)
	e := executor.New(testConfig(agent))
	if err := e.SendMessage(t.Context(), []byte("early")); !errors.Is(err, executor.ErrNotSubscribed) {
		t.Errorf("SendMessage before Run = %v, want ErrNotSubscribed", err)
	}
	rec := &recorder{}
	done := run(t, e, rec)
	eventually(t, "SUBSCRIBED", func() bool { return rec.has(executorpb.Event_SUBSCRIBED) })
	if err := e.SendMessage(t.Context(), []byte("hello")); err != nil {
		t.Fatalf("SendMessage = %v", err)
	}
	msgs := agent.CallsOf(executorpb.Call_MESSAGE)
	if len(msgs) != 1 || string(msgs[0].GetMessage().GetData()) != "hello" {
		t.Errorf("MESSAGE calls = %v", msgs)
	}
	e.Stop()
	if err := result(t, done); err != nil {
		t.Fatalf("Run after Stop = %v", err)
	}
	if err := e.Run(t.Context(), rec); !errors.Is(err, executor.ErrAlreadyRunning) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}
}

func TestUpdateWhileDisconnectedIsKept(t *testing.T) {
	agent := executortest.NewAgent(t)
	e := executor.New(testConfig(agent))
	st := &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: mesospb.TaskState_TASK_RUNNING.Enum()}
	if err := e.SendUpdate(t.Context(), st); !errors.Is(err, executor.ErrNotSubscribed) {
		t.Fatalf("SendUpdate = %v, want ErrNotSubscribed", err)
	}
	_, updates := e.Unacknowledged()
	if len(updates) != 1 || len(updates[0].GetUuid()) != 16 {
		t.Errorf("kept updates = %v", updates)
	}
	if err := e.SendUpdate(t.Context(), &mesospb.TaskStatus{}); !errors.Is(err, executor.ErrInvalidUpdate) {
		t.Errorf("SendUpdate without task_id = %v, want ErrInvalidUpdate", err)
	}
}

func TestHeartbeatCalls(t *testing.T) {
	agent := executortest.NewAgent(t)
	cfg := testConfig(agent)
	cfg.HeartbeatInterval = 20 * time.Millisecond
	e := executor.New(cfg)
	run(t, e, &recorder{})
	agent.WaitFor(t, wait, "two HEARTBEAT calls", func() bool {
		return len(agent.CallsOf(executorpb.Call_HEARTBEAT)) >= 2
	})
	hb := agent.CallsOf(executorpb.Call_HEARTBEAT)[0]
	if hb.GetExecutorId().GetValue() != "exec-1" || hb.GetFrameworkId().GetValue() != "fw-0000" {
		t.Errorf("HEARTBEAT call = %v", hb)
	}
}

// TestUpdateRetriedWhileAgentRecovers: an UPDATE a restarted agent refuses
// with 503 (it takes only SUBSCRIBE until its executors are back) is sent
// again until accepted, and acknowledged.
func TestUpdateRetriedWhileAgentRecovers(t *testing.T) {
	agent := executortest.NewAgent(t, executortest.WithUpdateStatus(func(n int, _ *executorpb.Call) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return 0
	}))
	e := executor.New(testConfig(agent))
	rec := &recorder{}
	rec.hook = func(ctx context.Context, ev *executorpb.Event) error {
		switch ev.GetType() {
		case executorpb.Event_LAUNCH:
			return e.SendUpdate(ctx, &mesospb.TaskStatus{
				TaskId: ev.GetLaunch().GetTask().GetTaskId(),
				State:  mesospb.TaskState_TASK_RUNNING.Enum(),
			})
		case executorpb.Event_ACKNOWLEDGED:
			return executor.ErrStop
		}
		return nil
	}
	done := run(t, e, rec)
	agent.WaitFor(t, wait, "subscription", agent.Subscribed)
	if err := agent.Launch(task("t1")); err != nil {
		t.Fatal(err)
	}
	if err := result(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if n := len(agent.CallsOf(executorpb.Call_UPDATE)); n != 3 {
		t.Errorf("%d UPDATE calls, want 3 (two refused with 503)", n)
	}
}
