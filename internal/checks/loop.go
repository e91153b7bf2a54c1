package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/flags"
)

// Config is what a checker needs besides the check's definition.
type Config struct {
	// TaskID names the checked task in logs.
	TaskID string
	// Runner runs COMMAND checks; required for them (ErrNoRunner).
	Runner CommandRunner
	// Logger receives the checker's logs; nil discards them.
	Logger *slog.Logger
}

// schedule is the timing of a check, from its definition.
type schedule struct {
	delay, interval, timeout time.Duration // timeout 0: none
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// probe performs one attempt and returns its result.
type probe func(ctx context.Context) (*mesospb.CheckStatusInfo, error)

// loop is Mesos's CheckerProcess: it performs attempts on a schedule, one at
// a time, and hands each result (or failure) to deliver. It runs in its own
// goroutine until stop.
type loop struct {
	name    string // "HTTP health check", "COMMAND check"
	what    string // the attempt in a timeout message: "Command", "HTTP request", "TCP connection"
	taskID  string
	log     *slog.Logger
	sched   schedule
	probe   probe
	deliver func(ctx context.Context, res *mesospb.CheckStatusInfo, err error)

	mu     sync.Mutex
	paused bool
	resume chan struct{} // capacity 1

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *loop) start() {
	l.resume = make(chan struct{}, 1)
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.done = make(chan struct{})
	go l.run()
}

func (l *loop) run() {
	defer close(l.done)
	timer := time.NewTimer(l.sched.delay)
	defer timer.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-timer.C:
		case <-l.resume:
			timer.Stop() // Mesos checks at once on resume
		}
		if l.isPaused() {
			continue // not rescheduled: Resume checks at once
		}
		res, err := l.attempt()
		if l.ctx.Err() != nil {
			return
		}
		if l.isPaused() {
			l.log.Info("Ignoring "+l.name+" result: checking is paused", "task_id", l.taskID)
			continue
		}
		switch {
		case errors.Is(err, ErrUnavailable):
			l.log.Info(l.name+" is not available", "task_id", l.taskID, "error", err)
		default:
			l.deliver(l.ctx, res, err)
		}
		timer.Reset(l.sched.interval)
	}
}

// attempt runs the probe under the check's timeout.
func (l *loop) attempt() (*mesospb.CheckStatusInfo, error) {
	ctx, cancel := l.ctx, context.CancelFunc(func() {})
	if l.sched.timeout > 0 {
		ctx, cancel = context.WithTimeout(l.ctx, l.sched.timeout)
	}
	defer cancel()
	res, err := l.probe(ctx)
	if err != nil && l.ctx.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("%s timed out after %s", l.what, flags.FormatDuration(l.sched.timeout))
	}
	return res, err
}

func (l *loop) isPaused() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paused
}

// Pause stops checking: no attempt starts, and the result of one in flight
// is dropped. It is idempotent and safe to call from any goroutine.
func (l *loop) Pause() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.paused {
		l.paused = true
		l.log.Debug("Paused "+l.name, "task_id", l.taskID)
	}
}

// Resume undoes Pause and checks at once. It is idempotent and safe to call
// from any goroutine.
func (l *loop) Resume() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused {
		l.paused = false
		l.log.Debug("Resumed "+l.name, "task_id", l.taskID)
		select {
		case l.resume <- struct{}{}:
		default:
		}
	}
}

// Stop ends checking for good: it cancels an attempt in flight (killing its
// command) and the context passed to the report callback, and returns once
// the checker's goroutine has exited. It is idempotent. It must not be
// called from the report callback.
func (l *loop) Stop() {
	l.cancel()
	<-l.done
	l.log.Info("Stopped "+l.name, "task_id", l.taskID)
}

func discardLogger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
