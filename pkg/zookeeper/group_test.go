package zookeeper

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/meso-project/meso/internal/testutil/zkserver"
	"github.com/meso-project/meso/pkg/zookeeper/zktest"
)

func TestMain(m *testing.M) {
	retryInterval = 200 * time.Millisecond
	goleak.VerifyTestMain(m)
}

// testLogger writes to t.Log until the test's cleanups have run.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop) // registered first: runs last
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(b), "\n"))
	}
	return len(b), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

func mustParse(t *testing.T, s string) *URL {
	t.Helper()
	u, err := ParseURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func connect(t *testing.T, url string, timeout time.Duration) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s, err := Connect(ctx, mustParse(t, url), timeout, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitClosed(t *testing.T, ch <-chan struct{}, within time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ch:
		return time.Since(start)
	case <-time.After(within):
		t.Fatalf("%s: not within %v", what, within)
		return 0
	}
}

func names(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name())
	}
	return out
}

func TestGroup(t *testing.T) {
	c := zkserver.Start(t)

	t.Run("join members data cancel", func(t *testing.T) {
		s := connect(t, c.URL("/t1/a/mesos"), 2*time.Second)
		g := NewGroup(s, "/t1/a/mesos")
		ctx := ctxTimeout(t, 20*time.Second)

		m1, err := g.Join(ctx, "json.info", []byte(`{"id":"one"}`))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m1.Name(), "json.info_") || len(m1.Name()) != len("json.info_0000000000") || m1.Label != "json.info" {
			t.Fatalf("membership %+v", m1.Member)
		}
		legacy, err := g.Join(ctx, "", []byte("master@10.0.0.1:5050"))
		if err != nil {
			t.Fatal(err)
		}
		if legacy.Label != "" || legacy.ID != m1.ID+1 || legacy.Name() != "0000000001" {
			t.Fatalf("legacy membership %+v after %+v", legacy.Member, m1.Member)
		}
		// Children that are not members are ignored.
		for _, p := range []string{"/t1/a/mesos/log_replicas", "/t1/a/mesos/json.info_x"} {
			if _, err := s.Conn().Create(p, nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
				t.Fatal(err)
			}
		}
		// The intermediate znodes exist, open.
		acl, _, err := s.Conn().GetACL("/t1/a")
		if err != nil || !cmp.Equal(acl, zk.WorldACL(zk.PermAll)) {
			t.Fatalf("ACL of /t1/a = %v, %v", acl, err)
		}

		members, err := g.Members(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]Member{m1.Member, legacy.Member}, members); diff != "" {
			t.Fatalf("Members (-want +got):\n%s", diff)
		}
		data, err := g.Data(ctx, members[0])
		if err != nil || string(data) != `{"id":"one"}` {
			t.Fatalf("Data = %q, %v", data, err)
		}

		// Watch returns at once when the members differ, else on a change.
		if got, err := g.Watch(ctx, members[:1]); err != nil || !slices.Equal(got, members) {
			t.Fatalf("Watch(stale) = %v, %v", got, err)
		}
		other := connect(t, c.URL("/t1/a/mesos"), 2*time.Second)
		watched := make(chan []Member, 1)
		go func() {
			got, err := g.Watch(ctx, members)
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
			watched <- got
		}()
		select {
		case got := <-watched:
			t.Fatalf("Watch returned %v without a change", names(got))
		case <-time.After(100 * time.Millisecond):
		}
		m3, err := NewGroup(other, "/t1/a/mesos").Join(ctx, "json.info", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := <-watched; !slices.Equal(got, []Member{m1.Member, legacy.Member, m3.Member}) {
			t.Fatalf("Watch = %v", names(got))
		}

		if err := m1.Cancel(ctx); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, m1.Cancelled(), time.Second, "Cancelled after Cancel")
		if !errors.Is(m1.Err(), ErrCancelled) {
			t.Fatalf("Err after Cancel = %v", m1.Err())
		}
		if err := m1.Cancel(ctx); err != nil {
			t.Fatalf("second Cancel: %v", err)
		}
		if _, err := g.Data(ctx, m1.Member); !errors.Is(err, ErrNoMember) {
			t.Fatalf("Data of a cancelled member: %v", err)
		}
		if got, err := g.Members(ctx); err != nil || !slices.Equal(got, []Member{legacy.Member, m3.Member}) {
			t.Fatalf("Members after Cancel = %v, %v", got, err)
		}
		if legacy.Err() != nil || m3.Err() != nil {
			t.Fatalf("other memberships ended: %v, %v", legacy.Err(), m3.Err())
		}

		// A membership deleted by someone else is cancelled.
		if err := s.Conn().Delete(m3.Path, -1); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, m3.Cancelled(), 5*time.Second, "Cancelled after delete")
		if !errors.Is(m3.Err(), ErrNoMember) {
			t.Fatalf("Err after delete = %v", m3.Err())
		}

		// Closing a session deletes its members at once and cancels them.
		got := make(chan []Member, 1)
		go func() {
			ms, err := NewGroup(other, "/t1/a/mesos").Watch(ctx, []Member{legacy.Member})
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
			got <- ms
		}()
		s.Close()
		if ms := <-got; len(ms) != 0 {
			t.Fatalf("members after the session closed: %v", names(ms))
		}
		waitClosed(t, legacy.Cancelled(), time.Second, "Cancelled after Close")
		if !errors.Is(legacy.Err(), ErrSessionClosed) {
			t.Fatalf("Err after Close = %v", legacy.Err())
		}
		if _, err := g.Join(ctx, "json.info", nil); !errors.Is(err, ErrSessionClosed) {
			t.Fatalf("Join on a closed session: %v", err)
		}
		if _, err := g.Members(ctx); !errors.Is(err, ErrSessionClosed) {
			t.Fatalf("Members on a closed session: %v", err)
		}
	})

	t.Run("members of a missing group", func(t *testing.T) {
		s := connect(t, c.URL("/t2"), 2*time.Second)
		g := NewGroup(s, "/t2/none")
		ctx := ctxTimeout(t, 10*time.Second)
		if ms, err := g.Members(ctx); err != nil || len(ms) != 0 {
			t.Fatalf("Members = %v, %v", ms, err)
		}
		// Watch creates the group and waits for members (2 s: on a loaded
		// machine 200 ms once ended the Watch before it created the group).
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := g.Watch(wctx, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Watch of an empty group: %v", err)
		}
		if ok, _, err := s.Conn().Exists("/t2/none"); err != nil || !ok {
			t.Fatalf("group znode not created: %v, %v", ok, err)
		}
	})

	t.Run("credentials", func(t *testing.T) {
		url := "zk://meso:secret@" + c.Connect() + "/t3/mesos"
		s := connect(t, url, 2*time.Second)
		g := NewGroup(s, "/t3/mesos")
		ctx := ctxTimeout(t, 10*time.Second)
		m, err := g.Join(ctx, "json.info", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		want := append(zk.WorldACL(zk.PermRead), zk.DigestACL(zk.PermAll, "meso", "secret")...)
		for _, p := range []string{"/t3", "/t3/mesos", m.Path} {
			acl, _, err := s.Conn().GetACL(p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, acl); diff != "" {
				t.Errorf("ACL of %s (-want +got):\n%s", p, diff)
			}
		}
		// Anyone may read; only the creator may change.
		anon := connect(t, c.URL("/t3/mesos"), 2*time.Second)
		ag := NewGroup(anon, "/t3/mesos")
		if data, err := ag.Data(ctx, m.Member); err != nil || string(data) != "x" {
			t.Fatalf("anonymous Data = %q, %v", data, err)
		}
		if _, err := ag.Join(ctx, "json.info", nil); !errors.Is(err, zk.ErrNoAuth) {
			t.Fatalf("anonymous Join: %v", err)
		}
		if err := anon.Conn().Delete(m.Path, -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Fatalf("anonymous delete: %v", err)
		}
	})

	t.Run("connection loss keeps the session", func(t *testing.T) {
		p := zktest.NewProxy(t, c.Servers[0].Addr)
		s := connect(t, "zk://"+p.Addr()+"/t4", 3*time.Second)
		g := NewGroup(s, "/t4")
		ctx := ctxTimeout(t, 20*time.Second)
		m, err := g.Join(ctx, "json.info", nil)
		if err != nil {
			t.Fatal(err)
		}
		id := s.ID()
		p.Cut()
		// Operations wait for the reconnection.
		if ms, err := g.Members(ctx); err != nil || len(ms) != 1 {
			t.Fatalf("Members after a connection loss = %v, %v", ms, err)
		}
		if s.ID() != id || s.Err() != nil || m.Err() != nil {
			t.Fatalf("session %#x -> %#x, Err %v, membership Err %v", id, s.ID(), s.Err(), m.Err())
		}
	})

	t.Run("partition expires the session", func(t *testing.T) {
		const timeout = time.Second
		p := zktest.NewProxy(t, c.Servers[0].Addr)
		s := connect(t, "zk://"+p.Addr()+"/t5", timeout)
		observer := connect(t, c.URL("/t5"), 2*time.Second)
		ctx := ctxTimeout(t, 20*time.Second)
		m, err := NewGroup(s, "/t5").Join(ctx, "json.info", nil)
		if err != nil {
			t.Fatal(err)
		}
		og := NewGroup(observer, "/t5")
		before, err := og.Members(ctx)
		if err != nil || len(before) != 1 {
			t.Fatalf("Members = %v, %v", before, err)
		}

		p.Partition()
		start := time.Now()
		// ZooKeeper expires the session after the timeout: the member goes.
		if ms, err := og.Watch(ctx, before); err != nil || len(ms) != 0 {
			t.Fatalf("observer Watch = %v, %v", ms, err)
		}
		t.Logf("ZooKeeper removed the member after %v", time.Since(start))
		// The partitioned client knows a session timeout after it last
		// heard from ZooKeeper (at most a third of it before the
		// partition, when it sent its last ping). The bound is a sanity
		// bound: under CI load it took 1.58 s of the 1 s timeout, as long
		// as ZooKeeper itself took to remove the member.
		waitClosed(t, s.Expired(), 3*timeout, "Expired")
		t.Logf("the client declared its session expired after %v", time.Since(start))
		waitClosed(t, m.Cancelled(), time.Second, "membership Cancelled")
		if !errors.Is(m.Err(), ErrSessionExpired) || !errors.Is(s.Err(), ErrSessionExpired) {
			t.Fatalf("Errs after expiry: %v, %v", m.Err(), s.Err())
		}
		// Healing does not bring the session (or a new one) back.
		p.Heal()
		time.Sleep(300 * time.Millisecond)
		if _, err := NewGroup(s, "/t5").Members(ctx); !errors.Is(err, ErrSessionExpired) {
			t.Fatalf("Members on an expired session: %v", err)
		}
		if st := s.Conn().State(); st == zk.StateHasSession {
			t.Fatalf("client state %v after expiry", st)
		}
	})

	t.Run("expiry reported by ZooKeeper", func(t *testing.T) {
		s := connect(t, c.URL("/t6"), 2*time.Second)
		m, err := NewGroup(s, "/t6").Join(ctxTimeout(t, 10*time.Second), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		// What go-zookeeper reports when a reconnection finds the session
		// gone.
		s.onEvent(zk.Event{Type: zk.EventSession, State: zk.StateExpired})
		waitClosed(t, s.Expired(), time.Second, "Expired")
		waitClosed(t, m.Cancelled(), time.Second, "Cancelled")
		if !errors.Is(s.Err(), ErrSessionExpired) || !errors.Is(m.Err(), ErrSessionExpired) {
			t.Fatalf("Errs: %v, %v", s.Err(), m.Err())
		}
		if _, err := s.dial("tcp", c.Servers[0].Addr, time.Second); err == nil {
			t.Fatal("an expired session dialled a new connection")
		}
	})

	t.Run("join adopts an orphaned create", func(t *testing.T) {
		s := connect(t, c.URL("/t7"), 2*time.Second)
		other := connect(t, c.URL("/t7"), 2*time.Second)
		g := NewGroup(s, "/t7")
		ctx := ctxTimeout(t, 10*time.Second)
		if _, err := NewGroup(other, "/t7").Join(ctx, "json.info", nil); err != nil {
			t.Fatal(err)
		}
		known, err := g.Join(ctx, "json.info", nil)
		if err != nil {
			t.Fatal(err)
		}
		// A create whose reply was lost.
		p, err := s.Conn().Create("/t7/json.info_", nil, zk.FlagEphemeralSequential, zk.WorldACL(zk.PermAll))
		if err != nil {
			t.Fatal(err)
		}
		got, err := g.findOrphan(ctx, "json.info")
		if err != nil || got != p {
			t.Fatalf("findOrphan = %q, %v; want %q (known %s)", got, err, p, known.Path)
		}
		if got, err := g.findOrphan(ctx, "other"); err != nil || got != "" {
			t.Fatalf("findOrphan(other label) = %q, %v", got, err)
		}
	})

	t.Run("connect honours ctx", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		// Nothing listens on port 1.
		if _, err := Connect(ctx, mustParse(t, "zk://127.0.0.1:1/x"), time.Second, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Connect = %v", err)
		}
	})
}

func TestEnsembleFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three ZooKeeper servers")
	}
	c := zkserver.StartEnsemble(t, 3)
	s := connect(t, c.URL("/e"), 4*time.Second)
	ctx := ctxTimeout(t, 30*time.Second)
	g := NewGroup(s, "/e")
	m, err := g.Join(ctx, "json.info", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	// Stop the server the session is on: the client moves to another one
	// within the session timeout and keeps its session and membership.
	current := s.Conn().Server()
	for _, srv := range c.Servers {
		if srv.Addr == current {
			srv.Stop()
		}
	}
	ms, err := g.Members(ctx)
	if err != nil || len(ms) != 1 || ms[0] != m.Member {
		t.Fatalf("Members after a server stopped = %v, %v", ms, err)
	}
	if s.ID() != id || s.Err() != nil || m.Err() != nil {
		t.Fatalf("session %#x -> %#x, Err %v, membership Err %v", id, s.ID(), s.Err(), m.Err())
	}
	if data, err := g.Data(ctx, m.Member); err != nil || string(data) != "x" {
		t.Fatalf("Data = %q, %v", data, err)
	}
}
