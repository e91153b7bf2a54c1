package contender

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/internal/testutil/zkserver"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/zookeeper"
	"github.com/meso-project/meso/pkg/zookeeper/zktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger writes to t.Log until the test's cleanups have run.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop) // registered first: runs last
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
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

func masterInfo(id string, port uint32) *mesospb.MasterInfo {
	return &mesospb.MasterInfo{
		Id:       proto.String(id),
		Ip:       proto.Uint32(16777343),
		Port:     proto.Uint32(port),
		Pid:      proto.String("master@127.0.0.1:" + strings.TrimPrefix(id, "m")),
		Hostname: proto.String("host-" + id),
		Version:  proto.String("1.11.0"),
		Address:  &mesospb.Address{Hostname: proto.String("host-" + id), Ip: proto.String("127.0.0.1"), Port: proto.Int32(int32(port))},
		Capabilities: []*mesospb.MasterInfo_Capability{
			{Type: mesospb.MasterInfo_Capability_AGENT_UPDATE.Enum()},
			{Type: mesospb.MasterInfo_Capability_AGENT_DRAINING.Enum()},
			{Type: mesospb.MasterInfo_Capability_Type(3).Enum()}, // v0's QUOTA_V2
		},
	}
}

func session(t *testing.T, url string, timeout time.Duration) *zookeeper.Session {
	t.Helper()
	u, err := zookeeper.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s, err := zookeeper.Connect(ctx, u, timeout, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	default:
	}
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// candidate runs Contend in the background.
type candidate struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Contend returned
	lost   <-chan struct{}
	err    error
	at     time.Time
}

func contend(t *testing.T, c Contender, info *mesospb.MasterInfo) *candidate {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	cd := &candidate{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(cd.done)
		cd.lost, cd.err = c.Contend(ctx, info)
		cd.at = time.Now()
	}()
	return cd
}

// elected waits for a candidate's Contend to return successfully.
func (cd *candidate) elected(t *testing.T, within time.Duration) {
	t.Helper()
	if !closedWithin(cd.done, within) {
		t.Fatalf("not elected within %v", within)
	}
	if cd.err != nil {
		t.Fatalf("Contend: %v", cd.err)
	}
}

// members lists a group through its own session.
func members(t *testing.T, s *zookeeper.Session, path string) []zookeeper.Member {
	t.Helper()
	ms, err := zookeeper.NewGroup(s, path).Members(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestStandalone(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	lost, err := Standalone{}.Contend(ctx, nil)
	if err != nil || closedWithin(lost, 0) {
		t.Fatalf("Contend = %v, %v; want elected, not lost", lost, err)
	}
	cancel()
	if !closedWithin(lost, time.Second) {
		t.Fatal("lost not closed when ctx ended")
	}
	if _, err := (Standalone{}).Contend(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Contend(cancelled) = %v", err)
	}
}

func TestZooKeeper(t *testing.T) {
	c := zkserver.Start(t)

	t.Run("oldest leads; the next takes over", func(t *testing.T) {
		const path = "/c1/mesos"
		url := c.URL(path)
		infoA, infoB := masterInfo("m5050", 5050), masterInfo("m5051", 5051)
		// 5 s sessions: nothing here waits for an expiry, and a loaded CI
		// machine once starved a 2 s session into expiring.
		a := contend(t, NewZooKeeper(session(t, url, 5*time.Second), path, testLogger(t)), infoA)
		a.elected(t, 10*time.Second)
		b := contend(t, NewZooKeeper(session(t, url, 5*time.Second), path, testLogger(t)), infoB)
		if closedWithin(b.done, 300*time.Millisecond) {
			t.Fatalf("the younger candidate's Contend returned: %v", b.err)
		}

		// What detectors read: exactly the MasterInfo, as Mesos JSON.
		obs := session(t, url, 2*time.Second)
		ms := members(t, obs, path)
		if len(ms) != 2 {
			t.Fatalf("members %v", ms)
		}
		for i, want := range []*mesospb.MasterInfo{infoA, infoB} {
			m := ms[i]
			if m.Label != "json.info" {
				t.Errorf("label %q", m.Label)
			}
			data, err := zookeeper.NewGroup(obs, path).Data(t.Context(), m)
			if err != nil {
				t.Fatal(err)
			}
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(data, &keys); err != nil {
				t.Fatalf("znode data %q: %v", data, err)
			}
			got := slices.Sorted(maps.Keys(keys))
			wantKeys := []string{"address", "capabilities", "hostname", "id", "ip", "pid", "port", "version"}
			if !slices.Equal(got, wantKeys) {
				t.Errorf("znode JSON keys %v, want %v", got, wantKeys)
			}
			// Mesos writes the znode from its v0 MasterInfo, which names
			// capability 3 (v1 JSON shows it as {}).
			var caps []map[string]string
			if err := json.Unmarshal(keys["capabilities"], &caps); err != nil {
				t.Fatal(err)
			}
			wantCaps := []map[string]string{{"type": "AGENT_UPDATE"}, {"type": "AGENT_DRAINING"}, {"type": "QUOTA_V2"}}
			if diff := cmp.Diff(wantCaps, caps); diff != "" {
				t.Errorf("znode capabilities (-want +got):\n%s", diff)
			}
			l, err := detector.DecodeLeader(m.Label, data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, l.Info, protocmp.Transform()); diff != "" {
				t.Errorf("decoded MasterInfo (-want +got):\n%s", diff)
			}
		}

		// A detector agrees.
		d, err := detector.NewZooKeeper(url, detector.Options{SessionTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		la, err := d.Detect(ctx, nil)
		if err != nil || la.Info.GetId() != "m5050" {
			t.Fatalf("detected %v, %v", la, err)
		}

		// The leader withdraws (its znode is deleted at once).
		a.cancel()
		start := time.Now()
		if !closedWithin(a.lost, withdrawTimeout+time.Second) {
			t.Fatal("withdrawn leader's lost not closed")
		}
		b.elected(t, 5*time.Second)
		t.Logf("the next candidate was elected %v after the leader withdrew", b.at.Sub(start))
		if closedWithin(b.lost, 0) {
			t.Fatal("new leader's lost is closed")
		}
		lb, err := d.Detect(ctx, la)
		if err != nil || lb.Info.GetId() != "m5051" {
			t.Fatalf("detected %v, %v", lb, err)
		}
		if ms := members(t, obs, path); len(ms) != 1 {
			t.Fatalf("members after the withdrawal: %v", ms)
		}
	})

	t.Run("bad MasterInfo", func(t *testing.T) {
		s := session(t, c.URL("/c2"), 2*time.Second)
		if _, err := NewZooKeeper(s, "/c2", nil).Contend(t.Context(), &mesospb.MasterInfo{Port: proto.Uint32(1)}); err == nil {
			t.Fatal("MasterInfo without its required fields accepted")
		}
		if ms := members(t, s, "/c2"); len(ms) != 0 {
			t.Fatalf("members %v", ms)
		}
	})

	t.Run("znode deleted", func(t *testing.T) {
		const path = "/c3"
		url := c.URL(path)
		a := contend(t, NewZooKeeper(session(t, url, 2*time.Second), path, testLogger(t)), masterInfo("m1", 5050))
		a.elected(t, 10*time.Second)
		b := contend(t, NewZooKeeper(session(t, url, 2*time.Second), path, testLogger(t)), masterInfo("m2", 5051))
		obs := session(t, url, 2*time.Second)
		var ms []zookeeper.Member
		testutil.Eventually(t, 5*time.Second, func() bool {
			ms = members(t, obs, path)
			return len(ms) == 2
		}, "both candidates in the group")

		// A standby's znode goes: its Contend fails.
		if err := obs.Conn().Delete(ms[1].Path, -1); err != nil {
			t.Fatal(err)
		}
		if !closedWithin(b.done, 5*time.Second) {
			t.Fatal("Contend did not return when its znode was deleted")
		}
		if !errors.Is(b.err, ErrLost) || !errors.Is(b.err, zookeeper.ErrNoMember) {
			t.Fatalf("Contend = %v", b.err)
		}
		// The leader's znode goes: it is no longer the leader.
		if err := obs.Conn().Delete(ms[0].Path, -1); err != nil {
			t.Fatal(err)
		}
		if !closedWithin(a.lost, 5*time.Second) {
			t.Fatal("deleting the leader's znode did not close lost")
		}
	})

	t.Run("standby withdraws", func(t *testing.T) {
		const path = "/c4"
		url := c.URL(path)
		a := contend(t, NewZooKeeper(session(t, url, 2*time.Second), path, testLogger(t)), masterInfo("m1", 5050))
		a.elected(t, 10*time.Second)
		b := contend(t, NewZooKeeper(session(t, url, 2*time.Second), path, testLogger(t)), masterInfo("m2", 5051))
		obs := session(t, url, 2*time.Second)
		testutil.Eventually(t, 5*time.Second, func() bool { return len(members(t, obs, path)) == 2 }, "both candidates in the group")
		b.cancel()
		if !closedWithin(b.done, 5*time.Second) || !errors.Is(b.err, context.Canceled) {
			t.Fatalf("Contend after its ctx ended = %v", b.err)
		}
		testutil.Eventually(t, 5*time.Second, func() bool { return len(members(t, obs, path)) == 1 }, "the standby's znode deleted")
	})

	t.Run("partitioned leader loses promptly", func(t *testing.T) {
		const timeout = time.Second
		const path = "/c5"
		proxy := zktest.NewProxy(t, c.Servers[0].Addr)
		sa := session(t, "zk://"+proxy.Addr()+path, timeout)
		za := NewZooKeeper(sa, path, testLogger(t))
		a := contend(t, za, masterInfo("m1", 5050))
		a.elected(t, 10*time.Second)
		b := contend(t, NewZooKeeper(session(t, c.URL(path), 2*time.Second), path, testLogger(t)), masterInfo("m2", 5051))
		obs := session(t, c.URL(path), 2*time.Second)
		testutil.Eventually(t, 5*time.Second, func() bool { return len(members(t, obs, path)) == 2 }, "both candidates in the group")

		proxy.Partition()
		start := time.Now()
		lostAt := make(chan time.Time, 1)
		go func() {
			<-a.lost
			lostAt <- time.Now()
		}()
		if !closedWithin(a.lost, 5*time.Second) {
			t.Fatal("the partitioned leader did not learn it lost")
		}
		b.elected(t, 5*time.Second)
		lost, elected := (<-lostAt).Sub(start), b.at.Sub(start)
		t.Logf("the partitioned leader knew it lost after %v; the other was elected after %v", lost, elected)
		// No later than a session timeout after it last heard from
		// ZooKeeper (a ping interval — a third of it — before the
		// partition at most), with some slack for scheduling.
		if lost > timeout+timeout/2 {
			t.Errorf("the partitioned leader learnt of its loss after %v", lost)
		}
		if !errors.Is(sa.Err(), zookeeper.ErrSessionExpired) {
			t.Fatalf("session Err = %v", sa.Err())
		}
		// The expired session is not replaced.
		proxy.Heal()
		if _, err := za.Contend(t.Context(), masterInfo("m1", 5050)); !errors.Is(err, zookeeper.ErrSessionExpired) {
			t.Fatalf("Contend on an expired session = %v", err)
		}
	})
}
