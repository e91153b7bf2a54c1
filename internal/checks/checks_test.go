package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// scripted is a CommandRunner that returns the next of its results; an
// exit code of -1 blocks until ctx ends (a hung command), -2 returns
// ErrUnavailable, -3 an error.
type scripted struct {
	mu    sync.Mutex
	codes []int
	calls []time.Time
}

func (s *scripted) Run(ctx context.Context, _ *mesospb.CommandInfo) (int, error) {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	code := 0
	if len(s.codes) > 0 {
		code, s.codes = s.codes[0], s.codes[1:]
	}
	s.mu.Unlock()
	switch code {
	case -1:
		<-ctx.Done()
		return 0, ctx.Err()
	case -2:
		return 0, fmt.Errorf("agent gone: %w", ErrUnavailable)
	case -3:
		return 0, errors.New("Command terminated with signal Killed")
	}
	return code, nil
}

// healthReports collects a HealthChecker's reports with their times.
type healthReports struct {
	mu  sync.Mutex
	got []HealthStatus
	at  []time.Time
}

func (r *healthReports) report(_ context.Context, s HealthStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, s)
	r.at = append(r.at, time.Now())
}

func (r *healthReports) list() []HealthStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]HealthStatus(nil), r.got...)
}

func commandHealthCheck(delay, interval, timeout, grace float64, failures uint32) *mesospb.HealthCheck {
	return &mesospb.HealthCheck{
		Type:                mesospb.HealthCheck_COMMAND.Enum(),
		Command:             &mesospb.CommandInfo{Value: proto.String("check")},
		DelaySeconds:        proto.Float64(delay),
		IntervalSeconds:     proto.Float64(interval),
		TimeoutSeconds:      proto.Float64(timeout),
		GracePeriodSeconds:  proto.Float64(grace),
		ConsecutiveFailures: proto.Uint32(failures),
	}
}

func TestHealthTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		r := &scripted{codes: []int{0, 0, 1, 1, 0, 1, 1, 1, 1}}
		var rep healthReports
		h, err := NewHealthChecker(commandHealthCheck(5, 2, 1, 0, 3), Config{Runner: r}, rep.report)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5*time.Second + 8*2*time.Second + time.Millisecond)
		synctest.Wait()
		h.Stop()
		want := []HealthStatus{
			{Healthy: true},
			{ConsecutiveFailures: 1},
			{ConsecutiveFailures: 2},
			{Healthy: true},
			{ConsecutiveFailures: 1},
			{ConsecutiveFailures: 2},
			{ConsecutiveFailures: 3, KillTask: true},
			{ConsecutiveFailures: 4, KillTask: true},
		}
		if diff := cmp.Diff(want, rep.list()); diff != "" {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
		// The first attempt runs after the delay, the next ones interval apart.
		if got := r.calls[0].Sub(start); got != 5*time.Second {
			t.Errorf("first attempt after %v, want 5s", got)
		}
		if got := r.calls[1].Sub(r.calls[0]); got != 2*time.Second {
			t.Errorf("second attempt %v after the first, want 2s", got)
		}
	})
}

func TestHealthGracePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Failures within the 5 s grace period are ignored; the one at 6 s counts.
		r := &scripted{codes: []int{1, 1, 1, 1, 1, 1, 1, 1, 1}}
		var rep healthReports
		h, err := NewHealthChecker(commandHealthCheck(0, 1, 1, 5, 2), Config{Runner: r}, rep.report)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(7*time.Second + time.Millisecond)
		synctest.Wait()
		h.Stop()
		want := []HealthStatus{{ConsecutiveFailures: 1}, {ConsecutiveFailures: 2, KillTask: true}}
		if diff := cmp.Diff(want, rep.list()); diff != "" {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
	})
}

func TestHealthGracePeriodEndsAtFirstSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &scripted{codes: []int{1, 0, 1}}
		var rep healthReports
		h, err := NewHealthChecker(commandHealthCheck(0, 1, 1, 100, 3), Config{Runner: r}, rep.report)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2*time.Second + time.Millisecond)
		synctest.Wait()
		h.Stop()
		want := []HealthStatus{{Healthy: true}, {ConsecutiveFailures: 1}}
		if diff := cmp.Diff(want, rep.list()); diff != "" {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
	})
}

func TestHealthTimeoutAndUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A hung command fails after the timeout; an unavailable result is
		// skipped; a command killed by a signal fails.
		r := &scripted{codes: []int{-1, -2, -3, 0}}
		var rep healthReports
		h, err := NewHealthChecker(commandHealthCheck(0, 1, 3, 0, 5), Config{Runner: r}, rep.report)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(3*time.Second + 3*time.Second + time.Millisecond)
		synctest.Wait()
		h.Stop()
		want := []HealthStatus{{ConsecutiveFailures: 1}, {ConsecutiveFailures: 2}, {Healthy: true}}
		if diff := cmp.Diff(want, rep.list()); diff != "" {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
		if got := rep.at[0].Sub(r.calls[0]); got != 3*time.Second {
			t.Errorf("timed-out attempt reported after %v, want the 3s timeout", got)
		}
	})
}

func TestPauseResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &scripted{codes: []int{0, 1, 1, 1}}
		var rep healthReports
		h, err := NewHealthChecker(commandHealthCheck(0, 10, 1, 0, 3), Config{Runner: r}, rep.report)
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.Pause()
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(r.calls); n != 1 {
			t.Fatalf("%d attempts while paused, want only the first one", n)
		}
		h.Resume() // checks at once
		synctest.Wait()
		h.Stop()
		want := []HealthStatus{{Healthy: true}, {ConsecutiveFailures: 1}}
		if diff := cmp.Diff(want, rep.list()); diff != "" {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
	})
}

func TestCheckerReportsChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &scripted{codes: []int{0, 0, 2, -3, -3, 0}}
		var (
			mu  sync.Mutex
			got []*mesospb.CheckStatusInfo
		)
		ci := &mesospb.CheckInfo{
			Type:            mesospb.CheckInfo_COMMAND.Enum(),
			Command:         &mesospb.CheckInfo_Command{Command: &mesospb.CommandInfo{Value: proto.String("check")}},
			DelaySeconds:    proto.Float64(0),
			IntervalSeconds: proto.Float64(1),
		}
		c, err := NewChecker(ci, Config{Runner: r}, func(_ context.Context, s *mesospb.CheckStatusInfo) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, s)
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5*time.Second + time.Millisecond)
		synctest.Wait()
		c.Stop()
		exit := func(code int32) *mesospb.CheckStatusInfo {
			return &mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_COMMAND.Enum(), Command: &mesospb.CheckStatusInfo_Command{ExitCode: proto.Int32(code)}}
		}
		want := []*mesospb.CheckStatusInfo{exit(0), exit(2), EmptyStatus(ci), exit(0)}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
	})
}

// collect returns a report function for real (non-synctest) checks and the
// channel it feeds.
func collect() (func(context.Context, HealthStatus), chan HealthStatus) {
	ch := make(chan HealthStatus, 100)
	return func(ctx context.Context, s HealthStatus) {
		select {
		case ch <- s:
		case <-ctx.Done():
		}
	}, ch
}

func next(t *testing.T, ch <-chan HealthStatus) HealthStatus {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no health report within 10s")
	}
	return HealthStatus{}
}

func portOf(t *testing.T, addr string) uint32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(n)
}

func httpHealthCheck(port uint32, path string, failures uint32) *mesospb.HealthCheck {
	return &mesospb.HealthCheck{
		Type:                mesospb.HealthCheck_HTTP.Enum(),
		Http:                &mesospb.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(port), Path: proto.String(path)},
		DelaySeconds:        proto.Float64(0),
		IntervalSeconds:     proto.Float64(0.05),
		TimeoutSeconds:      proto.Float64(5),
		GracePeriodSeconds:  proto.Float64(0),
		ConsecutiveFailures: proto.Uint32(failures),
	}
}

func TestHTTPHealthCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	port := portOf(t, srv.Listener.Addr().String())

	for _, tc := range []struct {
		path    string
		healthy bool
	}{{"/ok", true}, {"/moved", true}, {"/teapot", false}, {"/fail", false}} {
		t.Run(tc.path, func(t *testing.T) {
			report, ch := collect()
			h, err := NewHealthChecker(httpHealthCheck(port, tc.path, 2), Config{}, report)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Stop()
			if tc.healthy {
				if s := next(t, ch); !s.Healthy {
					t.Fatalf("report %+v, want healthy", s)
				}
				return
			}
			want := []HealthStatus{{ConsecutiveFailures: 1}, {ConsecutiveFailures: 2, KillTask: true}}
			got := []HealthStatus{next(t, ch), next(t, ch)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPHealthCheckConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(t, l.Addr().String())
	l.Close()
	report, ch := collect()
	h, err := NewHealthChecker(httpHealthCheck(port, "/", 1), Config{}, report)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	if s := next(t, ch); s != (HealthStatus{ConsecutiveFailures: 1, KillTask: true}) {
		t.Errorf("report %+v, want a failure that kills the task", s)
	}
}

func TestTCPHealthCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := portOf(t, l.Addr().String())
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closedL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := portOf(t, closedL.Addr().String())
	closedL.Close()

	for _, tc := range []struct {
		port    uint32
		healthy bool
	}{{open, true}, {closed, false}} {
		report, ch := collect()
		hc := &mesospb.HealthCheck{
			Type:                mesospb.HealthCheck_TCP.Enum(),
			Tcp:                 &mesospb.HealthCheck_TCPCheckInfo{Port: proto.Uint32(tc.port)},
			DelaySeconds:        proto.Float64(0),
			IntervalSeconds:     proto.Float64(0.05),
			GracePeriodSeconds:  proto.Float64(0),
			ConsecutiveFailures: proto.Uint32(1),
		}
		h, err := NewHealthChecker(hc, Config{}, report)
		if err != nil {
			t.Fatal(err)
		}
		s := next(t, ch)
		h.Stop()
		if s.Healthy != tc.healthy {
			t.Errorf("port %d: report %+v, want healthy=%t", tc.port, s, tc.healthy)
		}
	}
}

func TestHTTPAndTCPChecks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	port := portOf(t, srv.Listener.Addr().String())
	for _, tc := range []struct {
		ci   *mesospb.CheckInfo
		want *mesospb.CheckStatusInfo
	}{
		{
			ci: &mesospb.CheckInfo{Type: mesospb.CheckInfo_HTTP.Enum(), Http: &mesospb.CheckInfo_Http{Port: proto.Uint32(port), Path: proto.String("/x")}},
			want: &mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_HTTP.Enum(),
				Http: &mesospb.CheckStatusInfo_Http{StatusCode: proto.Uint32(202)}},
		},
		{
			ci: &mesospb.CheckInfo{Type: mesospb.CheckInfo_TCP.Enum(), Tcp: &mesospb.CheckInfo_Tcp{Port: proto.Uint32(port)}},
			want: &mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_TCP.Enum(),
				Tcp: &mesospb.CheckStatusInfo_Tcp{Succeeded: proto.Bool(true)}},
		},
	} {
		tc.ci.DelaySeconds = proto.Float64(0)
		tc.ci.IntervalSeconds = proto.Float64(0.05)
		ch := make(chan *mesospb.CheckStatusInfo, 10)
		c, err := NewChecker(tc.ci, Config{}, func(ctx context.Context, s *mesospb.CheckStatusInfo) {
			select {
			case ch <- s:
			case <-ctx.Done():
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		var got *mesospb.CheckStatusInfo
		select {
		case got = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("no check report within 10s")
		}
		c.Stop()
		if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s check (-want +got):\n%s", tc.ci.GetType(), diff)
		}
	}
}

func TestLocalRunner(t *testing.T) {
	dir := t.TempDir()
	r := &LocalRunner{Env: []string{"PATH=/usr/bin:/bin", "A=base"}, Dir: dir}
	for _, tc := range []struct {
		name    string
		cmd     *mesospb.CommandInfo
		code    int
		wantErr string
	}{
		{name: "exit 0", cmd: &mesospb.CommandInfo{Value: proto.String("true")}},
		{name: "exit 3", cmd: &mesospb.CommandInfo{Value: proto.String("exit 3")}, code: 3},
		{name: "argv", cmd: &mesospb.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/bin/sh"), Arguments: []string{"sh", "-c", "exit 4"}}, code: 4},
		{name: "env", cmd: &mesospb.CommandInfo{Value: proto.String(`test "$A" = over && test "$PWD" = ` + dir),
			Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{{Name: proto.String("A"), Value: proto.String("over")}}}}},
		{name: "signal", cmd: &mesospb.CommandInfo{Value: proto.String("kill -9 $$")}, wantErr: "signal"},
		{name: "missing", cmd: &mesospb.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/nonexistent/x")}, wantErr: "Failed to create subprocess"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := r.Run(t.Context(), tc.cmd)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Run = %d, %v; want an error with %q", code, err, tc.wantErr)
				}
				return
			}
			if err != nil || code != tc.code {
				t.Fatalf("Run = %d, %v; want %d", code, err, tc.code)
			}
		})
	}
}

func TestCommandHealthCheckTimeoutKillsCommand(t *testing.T) {
	dir := t.TempDir()
	report, ch := collect()
	hc := commandHealthCheck(0, 0.05, 0.2, 0, 1)
	// The background child would outlive a kill of the shell alone.
	hc.Command.Value = proto.String("sleep 30 & echo $! > " + dir + "/pid; wait")
	h, err := NewHealthChecker(hc, Config{Runner: &LocalRunner{Dir: dir}}, report)
	if err != nil {
		t.Fatal(err)
	}
	s := next(t, ch)
	h.Stop()
	if s != (HealthStatus{ConsecutiveFailures: 1, KillTask: true}) {
		t.Errorf("report %+v, want a failure", s)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the timed-out check's child %d is still alive", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestValidation(t *testing.T) {
	cmd := &mesospb.CommandInfo{Value: proto.String("true")}
	for _, tc := range []struct {
		hc   *mesospb.HealthCheck
		want string
	}{
		{&mesospb.HealthCheck{}, "HealthCheck must specify 'type'"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_UNKNOWN.Enum()}, "'UNKNOWN' is not a valid health check type"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum()}, "Expecting 'command' to be set for COMMAND health check"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(), Command: &mesospb.CommandInfo{}}, "Command health check must contain 'shell command'"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(), Command: &mesospb.CommandInfo{Shell: proto.Bool(false)}}, "Command health check must contain 'executable path'"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(), Command: &mesospb.CommandInfo{Value: proto.String("x"),
			Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{{Name: proto.String("E")}}}}},
			"Health check's `CommandInfo` is invalid: Environment variable 'E' of type 'VALUE' must have a value set"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_HTTP.Enum()}, "Expecting 'http' to be set for HTTP health check"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_HTTP.Enum(), Http: &mesospb.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(1), Scheme: proto.String("ftp")}}, "Unsupported HTTP health check scheme: 'ftp'"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_HTTP.Enum(), Http: &mesospb.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(1), Path: proto.String("x")}}, "The path 'x' of HTTP health check must start with '/'"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_TCP.Enum()}, "Expecting 'tcp' to be set for TCP health check"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(), Command: cmd, DelaySeconds: proto.Float64(-1)}, "Expecting 'delay_seconds' to be non-negative"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(), Command: cmd, GracePeriodSeconds: proto.Float64(-1)}, "Expecting 'grace_period_seconds' to be non-negative"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(), Command: cmd, IntervalSeconds: proto.Float64(-1)}, "Expecting 'interval_seconds' to be non-negative"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(), Command: cmd, TimeoutSeconds: proto.Float64(-1)}, "Expecting 'timeout_seconds' to be non-negative"},
		{&mesospb.HealthCheck{Type: mesospb.HealthCheck_COMMAND.Enum(), Command: cmd}, ""},
	} {
		err := ValidateHealthCheck(tc.hc)
		if got := errString(err); got != tc.want {
			t.Errorf("ValidateHealthCheck(%v) = %q, want %q", tc.hc, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ci   *mesospb.CheckInfo
		want string
	}{
		{&mesospb.CheckInfo{}, "CheckInfo must specify 'type'"},
		{&mesospb.CheckInfo{Type: mesospb.CheckInfo_UNKNOWN.Enum()}, "'UNKNOWN' is not a valid check type"},
		{&mesospb.CheckInfo{Type: mesospb.CheckInfo_COMMAND.Enum()}, "Expecting 'command' to be set for COMMAND check"},
		{&mesospb.CheckInfo{Type: mesospb.CheckInfo_COMMAND.Enum(), Command: &mesospb.CheckInfo_Command{Command: &mesospb.CommandInfo{}}}, "Command check must contain 'shell command'"},
		{&mesospb.CheckInfo{Type: mesospb.CheckInfo_HTTP.Enum()}, "Expecting 'http' to be set for HTTP check"},
		{&mesospb.CheckInfo{Type: mesospb.CheckInfo_HTTP.Enum(), Http: &mesospb.CheckInfo_Http{Port: proto.Uint32(1), Path: proto.String("p")}}, "The path 'p' of HTTP check must start with '/'"},
		{&mesospb.CheckInfo{Type: mesospb.CheckInfo_TCP.Enum()}, "Expecting 'tcp' to be set for TCP check"},
		{&mesospb.CheckInfo{Type: mesospb.CheckInfo_TCP.Enum(), Tcp: &mesospb.CheckInfo_Tcp{Port: proto.Uint32(1)}, TimeoutSeconds: proto.Float64(-1)}, "Expecting 'timeout_seconds' to be non-negative"},
		{&mesospb.CheckInfo{Type: mesospb.CheckInfo_TCP.Enum(), Tcp: &mesospb.CheckInfo_Tcp{Port: proto.Uint32(1)}}, ""},
	} {
		err := ValidateCheckInfo(tc.ci)
		if got := errString(err); got != tc.want {
			t.Errorf("ValidateCheckInfo(%v) = %q, want %q", tc.ci, got, tc.want)
		}
	}
	if _, err := NewHealthChecker(&mesospb.HealthCheck{}, Config{}, nil); err == nil {
		t.Error("NewHealthChecker accepted an invalid health check")
	}
	if _, err := NewHealthChecker(commandHealthCheck(0, 1, 1, 0, 1), Config{}, nil); !errors.Is(err, ErrNoRunner) {
		t.Errorf("NewHealthChecker(COMMAND) without a runner: %v, want ErrNoRunner", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
