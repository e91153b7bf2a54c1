package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
)

// Sentinel errors.
var (
	// ErrStop is returned by a Handler to make Run return nil.
	ErrStop = errors.New("executor: stop")
	// ErrShutdown is returned by Run when the handler did not stop within
	// ShutdownGracePeriod after a SHUTDOWN event (sent by the agent, or
	// injected after losing the agent). The caller should exit; libmesos kills
	// the executor's whole process group at this point.
	ErrShutdown = errors.New("executor: shutdown grace period expired")
	// ErrDisconnected is returned by Run when the first SUBSCRIBE cannot reach
	// the agent at all.
	ErrDisconnected = errors.New("executor: cannot reach the agent")
	// ErrNotSubscribed is returned by SendUpdate and SendMessage while there
	// is no subscription. SendUpdate still keeps the update; it is resent in
	// the next SUBSCRIBE (checkpointing executors only re-subscribe).
	ErrNotSubscribed = errors.New("executor: not subscribed")
	// ErrAlreadyRunning is returned by a second call of Run.
	ErrAlreadyRunning = errors.New("executor: Run already called")
	// ErrInvalidUpdate is returned by SendUpdate for a status without
	// task_id or state.
	ErrInvalidUpdate = errors.New("executor: a status update needs task_id and state")
)

// APIError is a non-2xx answer of the agent's executor API.
type APIError struct {
	Call   executorpb.Call_Type
	Code   int    // HTTP status code
	Status string // HTTP status line text, e.g. "400 Bad Request"
	Body   string // response body (Mesos puts the reason there)
}

func (e *APIError) Error() string {
	return fmt.Sprintf("executor: agent answered '%s' (%s) to %s", e.Status, e.Body, e.Call)
}

// Handler receives the events of the subscription.
//
// Concurrency contract: HandleEvent is called from the goroutine running
// [Executor.Run], one event at a time, in the order the agent sent them
// (locally injected events included: SHUTDOWN after losing the agent, ERROR
// for undecodable events or unexpected answers to SUBSCRIBE). Every event
// type is delivered, HEARTBEAT and SUBSCRIBED (again after each
// re-subscription) included. While it runs no further event is delivered but
// the stream keeps being read into an unbounded queue, so a slow handler never
// blocks the agent. HandleEvent may call SendUpdate and SendMessage (they are
// safe from any goroutine); long work belongs on other goroutines.
//
// Returning [ErrStop] makes Run return nil; any other non-nil error ends Run
// with that error. The library's own bookkeeping (unacknowledged tasks and
// updates) is done before the handler sees LAUNCH, LAUNCH_GROUP and
// ACKNOWLEDGED.
type Handler interface {
	HandleEvent(ctx context.Context, ev *executorpb.Event) error
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(ctx context.Context, ev *executorpb.Event) error

// HandleEvent calls f(ctx, ev).
func (f HandlerFunc) HandleEvent(ctx context.Context, ev *executorpb.Event) error { return f(ctx, ev) }

// maxEventSize bounds one RecordIO record of the event stream.
const maxEventSize = 64 << 20

// subscribeRetryInterval is how often a refused SUBSCRIBE (e.g. 503 while the
// agent recovers) is retried, as the Mesos built-in executors do.
const subscribeRetryInterval = time.Second

// Executor is a client of the agent's v1 executor API (the "executor driver").
// Create it with [New], drive it with [Executor.Run]; SendUpdate, SendMessage
// and Stop are safe for concurrent use. An Executor runs once.
type Executor struct {
	cfg Config
	url string
	log *slog.Logger

	mu             sync.Mutex
	subscribed     bool
	unackedUpdates []*executorpb.Call_Update // in send order
	unackedTasks   []*mesospb.TaskInfo       // launched tasks with no acknowledged update yet

	running  atomic.Bool
	stopOnce sync.Once
	stopC    chan struct{}
}

// New returns an Executor for cfg (unset fields take their defaults). It
// does not contact the agent; Run does.
func New(cfg Config) *Executor {
	cfg = cfg.withDefaults()
	return &Executor{
		cfg:   cfg,
		url:   cfg.url(),
		log:   cfg.Logger.With("executor_id", cfg.ExecutorID, "framework_id", cfg.FrameworkID),
		stopC: make(chan struct{}),
	}
}

// Config returns the configuration in effect (defaults filled in).
func (e *Executor) Config() Config { return e.cfg }

// Stop makes Run return nil once the current handler call (if any) returns.
// It may be called from any goroutine, before or during Run, more than once.
func (e *Executor) Stop() { e.stopOnce.Do(func() { close(e.stopC) }) }

// Run subscribes to the agent and delivers the events to h until h returns
// an error (nil for [ErrStop]), Stop is called (nil), ctx ends (ctx.Err()),
// the first SUBSCRIBE cannot reach the agent ([ErrDisconnected]), or a
// SHUTDOWN is not followed by the handler stopping within
// ShutdownGracePeriod ([ErrShutdown]).
//
// Mesos's connection rules: a SUBSCRIBE answered with a non-200 status is
// retried every second (503 and 404 silently, others after an injected ERROR
// event). When the event stream breaks, a checkpointing executor re-subscribes
// after random delays (bounded by 50 ms, doubling up to SubscriptionBackoffMax/4), sending its
// unacknowledged tasks and updates, for up to RecoveryTimeout; a
// non-checkpointing one, or one whose recovery timed out, gets a SHUTDOWN
// event. A HEARTBEAT call is sent every HeartbeatInterval.
func (e *Executor) Run(ctx context.Context, h Handler) error {
	if err := e.cfg.validate(); err != nil {
		return err
	}
	if !e.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Stop also aborts a SUBSCRIBE in flight.
	go func() {
		select {
		case <-e.stopC:
			cancel()
		case <-ctx.Done():
		}
	}()
	r := &runner{e: e, h: h, ctx: ctx}
	defer r.disconnect()
	return r.run()
}

// runner is the state of one Run, owned by its goroutine.
type runner struct {
	e   *Executor
	h   Handler
	ctx context.Context

	sub            *subscription
	everSubscribed bool
	recovering     bool
	attempts       int                 // re-subscription attempts since the disconnection
	pending        []*executorpb.Event // locally injected events awaiting delivery
	retry          *time.Timer         // next SUBSCRIBE attempt, nil if none pending
	recovery       *time.Timer         // recovery timeout after a disconnection
	shutdown       *time.Timer         // shutdown grace period, after SHUTDOWN
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// errStopRun is the internal "return nil from Run" marker.
var errStopRun = errors.New("stop")

func (r *runner) run() error {
	defer stopTimer(&r.retry)
	defer stopTimer(&r.recovery)
	defer stopTimer(&r.shutdown)

	err := r.loop()
	select {
	case <-r.e.stopC:
		return nil // Stop cancelled the context
	default:
	}
	if errors.Is(err, errStopRun) || errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

func (r *runner) loop() error {

	heartbeat := time.NewTicker(r.e.cfg.HeartbeatInterval)
	defer heartbeat.Stop()

	err := r.attempt()
	for err == nil {
		if len(r.pending) > 0 {
			ev := r.pending[0]
			r.pending = r.pending[1:]
			err = r.dispatch(ev)
			continue
		}
		var notify <-chan struct{}
		if r.sub != nil {
			notify = r.sub.notify
		}
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-r.e.stopC:
			return nil
		case <-notify:
			err = r.drain()
		case <-timerC(r.retry):
			r.retry = nil
			err = r.attempt()
		case <-timerC(r.recovery):
			r.recovery = nil
			r.e.log.Info("recovery timeout exceeded; shutting down", "recovery_timeout", r.e.cfg.RecoveryTimeout)
			r.injectShutdown()
		case <-timerC(r.shutdown):
			return ErrShutdown
		case <-heartbeat.C:
			if r.sub != nil {
				r.heartbeat()
			}
		}
	}
	return err
}

// attempt sends one SUBSCRIBE. Failures schedule the next attempt, or end
// Run when the very first one cannot reach the agent.
func (r *runner) attempt() error {
	sub, err := r.e.subscribe(r.ctx)
	if err == nil {
		r.sub = sub
		r.everSubscribed = true
		r.recovering = false
		stopTimer(&r.recovery)
		r.e.setSubscribed(true)
		r.e.log.Debug("subscribed to the agent", "url", r.e.url)
		return nil
	}
	if r.ctx.Err() != nil {
		return r.ctx.Err()
	}
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr):
		r.e.log.Warn("SUBSCRIBE refused; retrying", "status", apiErr.Status, "body", apiErr.Body)
		if apiErr.Code != http.StatusServiceUnavailable && apiErr.Code != http.StatusNotFound {
			msg := fmt.Sprintf("Received unexpected '%s' (%s) for SUBSCRIBE", apiErr.Status, apiErr.Body)
			if err := r.dispatch(errorEvent(msg)); err != nil {
				return err
			}
		}
		if r.recovering {
			r.retry = time.NewTimer(r.backoff())
		} else {
			r.retry = time.NewTimer(subscribeRetryInterval)
		}
		return nil
	case !r.everSubscribed:
		return fmt.Errorf("%w at %s: %v", ErrDisconnected, r.e.url, err)
	default:
		r.e.log.Debug("re-subscription failed", "error", err)
		r.retry = time.NewTimer(r.backoff())
		return nil
	}
}

// firstBackoff bounds the first re-subscription delay.
const firstBackoff = 50 * time.Millisecond

// backoff is the delay before the next re-subscription: a random duration
// in [0, bound], as libmesos picks it, whose bound doubles from
// firstBackoff with each attempt up to a quarter of
// SubscriptionBackoffMax (libmesos always uses the whole maximum). A
// restarted agent waits for its executors for that maximum (Mesos sets
// MESOS_SUBSCRIPTION_BACKOFF_MAX to --executor_reregistration_timeout), so
// this leaves every executor several tries within it, and finds an agent
// back from a short outage within tens of milliseconds. A small floor
// keeps a zero from spinning.
func (r *runner) backoff() time.Duration {
	limit := r.e.cfg.SubscriptionBackoffMax
	bound := min(max(limit/4, firstBackoff), limit)
	if r.attempts < 30 {
		bound = min(bound, firstBackoff<<r.attempts)
	}
	r.attempts++
	d := time.Duration(rand.Int64N(int64(bound) + 1))
	return max(d, 10*time.Millisecond)
}

// drain delivers the queued events of the current subscription and handles
// its end.
func (r *runner) drain() error {
	sub := r.sub
	for {
		ev, ended, streamErr := sub.next()
		if ev == nil {
			if ended {
				r.disconnected(streamErr)
			}
			return nil
		}
		if err := r.dispatch(ev); err != nil {
			return err
		}
		select {
		case <-r.e.stopC:
			return errStopRun
		default:
		}
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		if r.sub != sub { // the handler's event changed the subscription (cannot today; be safe)
			return nil
		}
	}
}

// disconnected handles the end of the event stream.
func (r *runner) disconnected(cause error) {
	r.disconnect()
	r.e.log.Info("disconnected from the agent", "error", cause)
	if r.shutdown != nil {
		return // already shutting down: nothing to reconnect for
	}
	if !r.e.cfg.Checkpoint {
		r.injectShutdown()
		return
	}
	r.recovering = true
	r.attempts = 0
	r.recovery = time.NewTimer(r.e.cfg.RecoveryTimeout)
	r.retry = time.NewTimer(r.backoff())
}

// injectShutdown stops reconnecting and queues a locally generated SHUTDOWN
// event, as libmesos does when it gives up on the agent.
func (r *runner) injectShutdown() {
	stopTimer(&r.retry)
	stopTimer(&r.recovery)
	r.recovering = false
	r.pending = append(r.pending, &executorpb.Event{Type: executorpb.Event_SHUTDOWN.Enum()})
}

// disconnect drops the current subscription, if any.
func (r *runner) disconnect() {
	if r.sub != nil {
		r.sub.close()
		r.sub = nil
	}
	r.e.setSubscribed(false)
}

// dispatch does the library's bookkeeping for ev and hands it to the handler.
func (r *runner) dispatch(ev *executorpb.Event) error {
	switch ev.GetType() {
	case executorpb.Event_LAUNCH:
		r.e.addTasks(ev.GetLaunch().GetTask())
	case executorpb.Event_LAUNCH_GROUP:
		r.e.addTasks(ev.GetLaunchGroup().GetTaskGroup().GetTasks()...)
	case executorpb.Event_ACKNOWLEDGED:
		r.e.acknowledged(ev.GetAcknowledged())
	case executorpb.Event_SHUTDOWN:
		if r.shutdown == nil {
			r.shutdown = time.NewTimer(r.e.cfg.ShutdownGracePeriod)
		}
	}
	return r.h.HandleEvent(r.ctx, ev)
}

func (r *runner) heartbeat() {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if err := r.e.call(ctx, &executorpb.Call{Type: executorpb.Call_HEARTBEAT.Enum()}); err != nil {
		r.e.log.Debug("HEARTBEAT call failed", "error", err)
	}
}

func errorEvent(msg string) *executorpb.Event {
	return &executorpb.Event{
		Type:  executorpb.Event_ERROR.Enum(),
		Error: &executorpb.Event_Error{Message: proto.String(msg)},
	}
}

func (e *Executor) setSubscribed(v bool) {
	e.mu.Lock()
	e.subscribed = v
	e.mu.Unlock()
}

func (e *Executor) addTasks(tasks ...*mesospb.TaskInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range tasks {
		if t == nil {
			continue
		}
		e.unackedTasks = append(e.unackedTasks, proto.CloneOf(t))
	}
}

func (e *Executor) acknowledged(ack *executorpb.Event_Acknowledged) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unackedUpdates = deleteFunc(e.unackedUpdates, func(u *executorpb.Call_Update) bool {
		return bytes.Equal(u.GetStatus().GetUuid(), ack.GetUuid())
	})
	e.unackedTasks = deleteFunc(e.unackedTasks, func(t *mesospb.TaskInfo) bool {
		return t.GetTaskId().GetValue() == ack.GetTaskId().GetValue()
	})
}

func deleteFunc[T any](s []T, del func(T) bool) []T {
	out := s[:0]
	for _, v := range s {
		if !del(v) {
			out = append(out, v)
		}
	}
	clear(s[len(out):])
	return out
}

// Unacknowledged returns copies of the tasks launched without any
// acknowledged update yet and of the updates the agent has not acknowledged,
// in order: what the next SUBSCRIBE carries.
func (e *Executor) Unacknowledged() ([]*mesospb.TaskInfo, []*mesospb.TaskStatus) {
	e.mu.Lock()
	defer e.mu.Unlock()
	tasks := make([]*mesospb.TaskInfo, 0, len(e.unackedTasks))
	for _, t := range e.unackedTasks {
		tasks = append(tasks, proto.CloneOf(t))
	}
	updates := make([]*mesospb.TaskStatus, 0, len(e.unackedUpdates))
	for _, u := range e.unackedUpdates {
		updates = append(updates, proto.CloneOf(u.GetStatus()))
	}
	return tasks, updates
}

// SendUpdate sends a status update (an UPDATE call) and keeps it as
// unacknowledged until the agent's ACKNOWLEDGED event for its uuid.
//
// It fills in, on status itself: uuid (16 random bytes, unless it already
// holds 16 bytes), source (SOURCE_EXECUTOR), executor_id, and timestamp (now,
// unless set). status.task_id and status.state are required. The caller must
// not modify status concurrently; the library keeps its own copy.
//
// Without a subscription it returns [ErrNotSubscribed] but still keeps the
// update for the next SUBSCRIBE. An update the agent rejects as invalid (400)
// is forgotten.
func (e *Executor) SendUpdate(ctx context.Context, status *mesospb.TaskStatus) error {
	if status == nil || status.GetTaskId().GetValue() == "" || status.State == nil {
		return ErrInvalidUpdate
	}
	if len(status.GetUuid()) != 16 {
		u := uuid.New()
		status.Uuid = u[:]
	}
	status.Source = mesospb.TaskStatus_SOURCE_EXECUTOR.Enum()
	status.ExecutorId = &mesospb.ExecutorID{Value: proto.String(e.cfg.ExecutorID)}
	if status.Timestamp == nil {
		status.Timestamp = proto.Float64(float64(time.Now().UnixNano()) / 1e9)
	}
	upd := &executorpb.Call_Update{Status: proto.CloneOf(status)}

	e.mu.Lock()
	e.unackedUpdates = append(e.unackedUpdates, upd)
	subscribed := e.subscribed
	e.mu.Unlock()
	if !subscribed {
		return fmt.Errorf("%w: update for task %s kept for the next SUBSCRIBE", ErrNotSubscribed, status.GetTaskId().GetValue())
	}
	err := e.callUntilRecovered(ctx, &executorpb.Call{Type: executorpb.Call_UPDATE.Enum(), Update: upd})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Code == http.StatusBadRequest {
		e.mu.Lock()
		e.unackedUpdates = deleteFunc(e.unackedUpdates, func(u *executorpb.Call_Update) bool { return u == upd })
		e.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("executor: update for task %s: %w", status.GetTaskId().GetValue(), err)
	}
	return nil
}

// SendMessage sends data to the framework's scheduler (a MESSAGE call). It
// is best effort: Mesos does not retry or acknowledge framework messages.
func (e *Executor) SendMessage(ctx context.Context, data []byte) error {
	e.mu.Lock()
	subscribed := e.subscribed
	e.mu.Unlock()
	if !subscribed {
		return ErrNotSubscribed
	}
	return e.call(ctx, &executorpb.Call{
		Type:    executorpb.Call_MESSAGE.Enum(),
		Message: &executorpb.Call_Message{Data: bytes.Clone(data)},
	})
}

// newRequest builds a POST of call to the executor API.
func (e *Executor) newRequest(ctx context.Context, call *executorpb.Call) (*http.Request, error) {
	call.FrameworkId = &mesospb.FrameworkID{Value: proto.String(e.cfg.FrameworkID)}
	call.ExecutorId = &mesospb.ExecutorID{Value: proto.String(e.cfg.ExecutorID)}
	body, err := codec.Marshal(e.cfg.ContentType, call)
	if err != nil {
		return nil, fmt.Errorf("executor: encoding %s call: %w", call.GetType(), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", string(e.cfg.ContentType))
	req.Header.Set("Accept", string(e.cfg.ContentType))
	if e.cfg.AuthenticationToken != "" {
		req.Header.Set("Authorization", "Bearer "+e.cfg.AuthenticationToken)
	} else if cr := e.cfg.Credential; cr != nil {
		req.SetBasicAuth(cr.GetPrincipal(), cr.GetSecret())
	}
	return req, nil
}

// call sends a non-SUBSCRIBE call and expects 202 Accepted.
func (e *Executor) call(ctx context.Context, call *executorpb.Call) error {
	req, err := e.newRequest(ctx, call)
	if err != nil {
		return err
	}
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil
	}
	return apiError(call.GetType(), resp)
}

// recoveryRetry is how often a call the agent refused with 503 while it
// finishes its recovery is tried again; maxRecoveryWait bounds the wait
// (Mesos's agent waits at most 15 s for its executors).
const (
	recoveryRetry   = 100 * time.Millisecond
	maxRecoveryWait = 15 * time.Second
)

// callUntilRecovered is call, tried again while a restarted agent answers
// 503 (it takes only SUBSCRIBE until its executors are back); libmesos
// gives up at once, leaving the update for the next SUBSCRIBE.
func (e *Executor) callUntilRecovered(ctx context.Context, call *executorpb.Call) error {
	deadline := time.Now().Add(maxRecoveryWait)
	for {
		err := e.call(ctx, call)
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(recoveryRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func apiError(t executorpb.Call_Type, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return &APIError{Call: t, Code: resp.StatusCode, Status: resp.Status, Body: string(bytes.TrimSpace(body))}
}

// subscribe sends a SUBSCRIBE call carrying the unacknowledged tasks and
// updates and, on 200, starts reading the event stream.
func (e *Executor) subscribe(ctx context.Context) (*subscription, error) {
	e.mu.Lock()
	sub := &executorpb.Call_Subscribe{}
	for _, t := range e.unackedTasks {
		sub.UnacknowledgedTasks = append(sub.UnacknowledgedTasks, proto.CloneOf(t))
	}
	for _, u := range e.unackedUpdates {
		sub.UnacknowledgedUpdates = append(sub.UnacknowledgedUpdates, proto.CloneOf(u))
	}
	e.mu.Unlock()

	sctx, cancel := context.WithCancel(ctx)
	req, err := e.newRequest(sctx, &executorpb.Call{Type: executorpb.Call_SUBSCRIBE.Enum(), Subscribe: sub})
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		err := apiError(executorpb.Call_SUBSCRIBE, resp)
		resp.Body.Close()
		cancel()
		return nil, err
	}
	mt, err := streamMediaType(resp.Header, e.cfg.ContentType)
	if err != nil {
		resp.Body.Close()
		cancel()
		return nil, err
	}
	s := &subscription{
		cancel: cancel,
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	go s.read(resp.Body, mt)
	return s, nil
}

// streamMediaType is the encoding of the records of a SUBSCRIBE response:
// its Content-Type, or Message-Content-Type when that is application/recordio.
func streamMediaType(h http.Header, requested codec.MediaType) (codec.MediaType, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		return requested, nil
	}
	if mct := h.Get("Message-Content-Type"); mct != "" {
		ct = mct
	}
	mt, err := codec.ParseContentType(ct)
	if err != nil {
		return "", fmt.Errorf("executor: SUBSCRIBE response: %w", err)
	}
	return mt, nil
}
