package scheduler_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/scheduler"
	"github.com/meso-project/meso/pkg/scheduler/schedulertest"
)

const wait = 10 * time.Second

func framework() *mesospb.FrameworkInfo {
	return &mesospb.FrameworkInfo{User: proto.String("tester"), Name: proto.String("test framework")}
}

type run struct {
	c      *scheduler.Client
	done   chan error
	cancel context.CancelFunc

	mu     sync.Mutex
	events []*schedulerpb.Event
}

func (r *run) types() []schedulerpb.Event_Type {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ts []schedulerpb.Event_Type
	for _, e := range r.events {
		ts = append(ts, e.GetType())
	}
	return ts
}

// start runs a client; handler (optional) is called after the event is
// recorded.
func start(t *testing.T, cfg scheduler.Config, handler func(ctx context.Context, c *scheduler.Client, ev *schedulerpb.Event) error) *run {
	t.Helper()
	if cfg.Framework == nil {
		cfg.Framework = framework()
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 20 * time.Millisecond
	}
	c, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &run{c: c, done: make(chan error, 1), cancel: cancel}
	go func() {
		r.done <- c.Run(ctx, func(ctx context.Context, ev *schedulerpb.Event) error {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
			if handler != nil {
				return handler(ctx, c, ev)
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

func (r *run) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for cleanup
		return err
	case <-time.After(wait):
		t.Fatal("Run did not return")
		return nil
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSubscribeAndCall(t *testing.T) {
	for _, ct := range []codec.MediaType{codec.Protobuf, codec.JSON} {
		t.Run(string(ct), func(t *testing.T) {
			m := (&schedulertest.Master{}).Start(t)
			callErr := make(chan error, 1)
			r := start(t, scheduler.Config{Master: m.Addr(), ContentType: ct}, func(ctx context.Context, c *scheduler.Client, ev *schedulerpb.Event) error {
				if ev.GetType() == schedulerpb.Event_SUBSCRIBED {
					callErr <- c.Call(ctx, scheduler.Revive())
				}
				return nil
			})
			select {
			case err := <-callErr:
				if err != nil {
					t.Fatalf("Call(REVIVE) = %v", err)
				}
			case <-time.After(wait):
				t.Fatal("no SUBSCRIBED")
			}
			sub := m.WaitForType(t, wait, schedulerpb.Call_SUBSCRIBE, 1)
			if sub.FrameworkId != nil || sub.GetSubscribe().GetFrameworkInfo().GetId() != nil {
				t.Errorf("first SUBSCRIBE carries a framework id: %v", sub)
			}
			rev := m.WaitForType(t, wait, schedulerpb.Call_REVIVE, 1)
			if got := rev.GetFrameworkId().GetValue(); got != "fake-master-0000" {
				t.Errorf("REVIVE framework_id = %q", got)
			}
			if got := r.c.FrameworkID().GetValue(); got != "fake-master-0000" {
				t.Errorf("FrameworkID() = %q", got)
			}
			if r.c.StreamID() != m.StreamID() || m.StreamID() == "" {
				t.Errorf("StreamID() = %q, master has %q", r.c.StreamID(), m.StreamID())
			}
		})
	}
}

func TestCallNotSubscribed(t *testing.T) {
	c, err := scheduler.New(scheduler.Config{Master: "127.0.0.1:1", Framework: framework()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Call(t.Context(), scheduler.Revive()); !errors.Is(err, scheduler.ErrNotSubscribed) {
		t.Fatalf("Call = %v, want ErrNotSubscribed", err)
	}
	if err := c.Call(t.Context(), nil); !errors.Is(err, scheduler.ErrNilCall) {
		t.Fatalf("Call(nil) = %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for name, cfg := range map[string]scheduler.Config{
		"no framework": {Master: "h:1"},
		"no user":      {Master: "h:1", Framework: &mesospb.FrameworkInfo{Name: proto.String("n")}},
		"bad master":   {Master: "h:x", Framework: framework()},
		"zk no path":   {Master: "zk://h:2181", Framework: framework()},
		"bad type":     {Master: "h:1", Framework: framework(), ContentType: "text/plain"},
	} {
		if _, err := scheduler.New(cfg); !errors.Is(err, scheduler.ErrConfig) {
			t.Errorf("%s: New error = %v, want ErrConfig", name, err)
		}
	}
	// A zk:// master gets a ZooKeeper detector, which connects only once
	// the client runs.
	if _, err := scheduler.New(scheduler.Config{Master: "zk://h:2181/mesos", Framework: framework()}); err != nil {
		t.Errorf("zk: %v", err)
	}
}

func TestRedirectFollowed(t *testing.T) {
	m := (&schedulertest.Master{}).Start(t)
	var redirected atomic.Int32
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirected.Add(1)
		w.Header().Set("Location", "//"+m.Addr()+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)

	subscribed := make(chan struct{}, 1)
	r := start(t, scheduler.Config{Master: redirector.URL}, func(ctx context.Context, c *scheduler.Client, ev *schedulerpb.Event) error {
		if ev.GetType() == schedulerpb.Event_SUBSCRIBED {
			subscribed <- struct{}{}
		}
		return nil
	})
	select {
	case <-subscribed:
	case <-time.After(wait):
		t.Fatal("no SUBSCRIBED through the redirect")
	}
	// The redirected POST carried the same body.
	sub := m.WaitForType(t, wait, schedulerpb.Call_SUBSCRIBE, 1)
	if diff := cmp.Diff(framework(), sub.GetSubscribe().GetFrameworkInfo(), protocmp.Transform()); diff != "" {
		t.Errorf("redirected SUBSCRIBE framework_info (-want +got):\n%s", diff)
	}
	// Later calls go straight to where the stream lives.
	if err := r.c.Call(t.Context(), scheduler.Suppress()); err != nil {
		t.Fatalf("Call after redirect: %v", err)
	}
	m.WaitForType(t, wait, schedulerpb.Call_SUPPRESS, 1)
	if n := redirected.Load(); n != 1 {
		t.Errorf("redirector hit %d times, want 1", n)
	}
}

func TestStreamIDSent(t *testing.T) {
	m := (&schedulertest.Master{}).Start(t)
	// A transparent proxy records each request's call type, content type
	// and Mesos-Stream-Id header.
	type seen struct {
		call     schedulerpb.Call_Type
		typ, sid string
	}
	var mu sync.Mutex
	var reqs []seen
	target, _ := url.Parse(m.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{} // not http.DefaultTransport, which other servers' Close touches
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		call := &schedulerpb.Call{}
		_ = proto.Unmarshal(body, call)
		mu.Lock()
		reqs = append(reqs, seen{call.GetType(), r.Header.Get("Content-Type"), r.Header.Get("Mesos-Stream-Id")})
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	r := start(t, scheduler.Config{Master: proxy.URL}, nil)
	eventually(t, func() bool { return r.c.FrameworkID() != nil })
	// The proxied stream drops about once in a hundred runs (httputil's
	// ReverseProxy logs its upstream read failing); the client subscribes
	// again, and the call is retried until it goes through.
	eventually(t, func() bool { return r.c.Call(t.Context(), scheduler.Reconcile()) == nil })
	mu.Lock()
	defer mu.Unlock()
	// SUBSCRIBEs carry no stream id; every other call carries one, and the
	// last (the RECONCILE that went through) the current stream's.
	for i, q := range reqs {
		if q.typ != string(codec.Protobuf) {
			t.Errorf("request %d (%v): Content-Type %q", i, q.call, q.typ)
		}
		if (q.call == schedulerpb.Call_SUBSCRIBE) != (q.sid == "") {
			t.Errorf("request %d: %v with Mesos-Stream-Id %q", i, q.call, q.sid)
		}
	}
	if n := len(reqs); n < 2 || reqs[n-1].call != schedulerpb.Call_RECONCILE || reqs[n-1].sid != m.StreamID() {
		t.Errorf("requests %+v: want the last to be RECONCILE on stream %s", reqs, m.StreamID())
	}
}

func TestResubscribeWithFrameworkIDAfterStreamDrops(t *testing.T) {
	m := (&schedulertest.Master{}).Start(t)
	var disconnects atomic.Int32
	r := start(t, scheduler.Config{
		Master: m.Addr(),
		OnDisconnect: func(err error, failures int, subscribed bool) error {
			if !errors.Is(err, scheduler.ErrStreamClosed) || !subscribed {
				t.Errorf("OnDisconnect(%v, %d, %v)", err, failures, subscribed)
			}
			disconnects.Add(1)
			return nil
		},
	}, nil)
	m.WaitSubscriptions(t, wait, 1)
	eventually(t, func() bool { return r.c.FrameworkID() != nil })
	firstStream := m.StreamID()
	m.CloseStream()
	m.WaitSubscriptions(t, wait, 2)

	sub := m.WaitForType(t, wait, schedulerpb.Call_SUBSCRIBE, 2)
	if got := sub.GetFrameworkId().GetValue(); got != "fake-master-0000" {
		t.Errorf("re-SUBSCRIBE framework_id = %q", got)
	}
	if got := sub.GetSubscribe().GetFrameworkInfo().GetId().GetValue(); got != "fake-master-0000" {
		t.Errorf("re-SUBSCRIBE framework_info.id = %q", got)
	}
	eventually(t, func() bool { return r.c.StreamID() == m.StreamID() })
	if r.c.StreamID() == firstStream {
		t.Error("stream id not updated after re-subscription")
	}
	if err := r.c.Call(t.Context(), scheduler.Revive()); err != nil {
		t.Fatalf("Call on the new stream: %v", err)
	}
	if disconnects.Load() != 1 {
		t.Errorf("OnDisconnect called %d times", disconnects.Load())
	}
}

func TestHeartbeatWatchdog(t *testing.T) {
	m := (&schedulertest.Master{HeartbeatInterval: 50 * time.Millisecond, NoHeartbeats: true}).Start(t)
	gotErr := make(chan error, 4)
	start(t, scheduler.Config{
		Master:          m.Addr(),
		HeartbeatMisses: 2,
		OnDisconnect: func(err error, _ int, _ bool) error {
			gotErr <- err
			return nil
		},
	}, nil)
	m.WaitSubscriptions(t, wait, 2)
	if err := <-gotErr; !errors.Is(err, scheduler.ErrHeartbeatTimeout) {
		t.Fatalf("disconnect reason = %v, want ErrHeartbeatTimeout", err)
	}
}

func TestHeartbeatsKeepStreamAlive(t *testing.T) {
	// Generous misses: under -race on a loaded machine heartbeats jitter.
	m := (&schedulertest.Master{HeartbeatInterval: 30 * time.Millisecond}).Start(t)
	r := start(t, scheduler.Config{Master: m.Addr(), HeartbeatMisses: 20}, nil)
	eventually(t, func() bool {
		n := 0
		for _, ty := range r.types() {
			if ty == schedulerpb.Event_HEARTBEAT {
				n++
			}
		}
		return n >= 5
	})
	if n := m.Subscriptions(); n != 1 {
		t.Fatalf("%d subscriptions, want 1 (heartbeats should keep the stream)", n)
	}
}

func TestErrorEventEndsRun(t *testing.T) {
	m := &schedulertest.Master{}
	m.OnSubscribed = func(*schedulerpb.Call) {
		_ = m.Send(&schedulerpb.Event{
			Type:  schedulerpb.Event_ERROR.Enum(),
			Error: &schedulerpb.Event_Error{Message: proto.String("Framework has been removed")},
		})
	}
	m.Start(t)
	r := start(t, scheduler.Config{Master: m.Addr()}, nil)
	err := r.result(t)
	var ee *scheduler.EventError
	if !errors.As(err, &ee) || ee.Message != "Framework has been removed" {
		t.Fatalf("Run = %v, want EventError", err)
	}
	if got := r.types(); len(got) != 2 || got[1] != schedulerpb.Event_ERROR {
		t.Errorf("handler saw %v, want SUBSCRIBED, ERROR", got)
	}
}

func TestHandlerErrorReturnedAsIs(t *testing.T) {
	m := (&schedulertest.Master{}).Start(t)
	boom := errors.New("boom")
	r := start(t, scheduler.Config{Master: m.Addr()}, func(context.Context, *scheduler.Client, *schedulerpb.Event) error { return boom })
	if err := r.result(t); err != boom {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
}

func TestSubscribeRejected(t *testing.T) {
	m := &schedulertest.Master{OnSubscribe: func(*schedulerpb.Call) (int, string) {
		return http.StatusBadRequest, "Role '' is invalid"
	}}
	m.Start(t)
	r := start(t, scheduler.Config{Master: m.Addr()}, nil)
	err := r.result(t)
	var se *scheduler.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || se.Body != "Role '' is invalid" || se.CallType != schedulerpb.Call_SUBSCRIBE {
		t.Fatalf("Run = %#v", err)
	}
}

func TestServiceUnavailableRetried(t *testing.T) {
	var attempts atomic.Int32
	m := &schedulertest.Master{OnSubscribe: func(*schedulerpb.Call) (int, string) {
		if attempts.Add(1) < 3 {
			return http.StatusServiceUnavailable, "Master has not finished recovery"
		}
		return 0, ""
	}}
	m.Start(t)
	start(t, scheduler.Config{Master: m.Addr()}, nil)
	m.WaitSubscriptions(t, wait, 1)
	if n := attempts.Load(); n != 3 {
		t.Fatalf("%d SUBSCRIBE attempts, want 3", n)
	}
}

func TestOnDisconnectStops(t *testing.T) {
	stop := errors.New("give up")
	var seen []int
	r := start(t, scheduler.Config{
		Master: "127.0.0.1:1", // nothing listens on port 1
		OnDisconnect: func(err error, failures int, subscribed bool) error {
			seen = append(seen, failures)
			if subscribed {
				t.Error("subscribed = true")
			}
			if failures == 2 {
				return stop
			}
			return nil
		},
	}, nil)
	if err := r.result(t); err != stop {
		t.Fatalf("Run = %v", err)
	}
	if diff := cmp.Diff([]int{1, 2}, seen); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
}

func TestCallStatusError(t *testing.T) {
	m := &schedulertest.Master{OnCall: func(c *schedulerpb.Call) (int, string) {
		if c.GetType() == schedulerpb.Call_KILL {
			return http.StatusBadRequest, "Failed to validate scheduler::Call: Expecting 'kill.task_id'"
		}
		return 0, ""
	}}
	m.Start(t)
	r := start(t, scheduler.Config{Master: m.Addr()}, nil)
	eventually(t, func() bool { return r.c.FrameworkID() != nil })
	err := r.c.Call(t.Context(), scheduler.Kill(&mesospb.TaskID{Value: proto.String("t")}, nil))
	var se *scheduler.StatusError
	if !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Body, "kill.task_id") {
		t.Fatalf("Call = %v", err)
	}
	if !strings.Contains(err.Error(), "KILL") || !strings.Contains(err.Error(), "400") {
		t.Errorf("message %q lacks call type or status", err)
	}
}

func TestLeaderChangeReconnects(t *testing.T) {
	m1 := (&schedulertest.Master{}).Start(t)
	m2 := (&schedulertest.Master{}).Start(t)
	leader := func(m *schedulertest.Master) *detector.Leader {
		l, err := detector.Parse(m.Addr())
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	d := detector.NewStandalone(leader(m1))
	r := start(t, scheduler.Config{Detector: d}, nil)
	m1.WaitSubscriptions(t, wait, 1)
	eventually(t, func() bool { return r.c.FrameworkID() != nil })
	d.Appoint(leader(m2))
	m2.WaitSubscriptions(t, wait, 1)
	sub := m2.WaitForType(t, wait, schedulerpb.Call_SUBSCRIBE, 1)
	if sub.GetFrameworkId().GetValue() != "fake-master-0000" {
		t.Errorf("SUBSCRIBE to the new leader lacks the framework id: %v", sub)
	}
}

func TestGarbageRecordReconnects(t *testing.T) {
	m := &schedulertest.Master{}
	m.Start(t)
	start(t, scheduler.Config{Master: m.Addr()}, nil)
	m.WaitSubscriptions(t, wait, 1)
	if err := m.SendRaw([]byte("\xff\xff not an event")); err != nil {
		t.Fatal(err)
	}
	m.WaitSubscriptions(t, wait, 2)
}

// After the leader dies, a client backing off against it subscribes to the
// next leader as soon as the detector names it, not after the backoff
// (MESO bench/failover: a 15 s backoff added up to 9 s to a failover).
func TestNewLeaderCutsBackoffShort(t *testing.T) {
	m2 := (&schedulertest.Master{}).Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens: every subscription attempt fails
	l1, err := detector.Parse(dead)
	if err != nil {
		t.Fatal(err)
	}
	d := detector.NewStandalone(l1)
	start(t, scheduler.Config{Detector: d, MaxBackoff: time.Minute}, nil)
	time.Sleep(1500 * time.Millisecond) // two failures: the backoff now is 1–2 s and growing
	l2, err := detector.Parse(m2.Addr())
	if err != nil {
		t.Fatal(err)
	}
	appointed := time.Now()
	d.Appoint(l2)
	m2.WaitSubscriptions(t, wait, 1)
	if took := time.Since(appointed); took > 500*time.Millisecond {
		t.Errorf("subscribed to the new leader %v after it was detected; want < 500ms", took)
	}
}
