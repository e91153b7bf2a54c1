package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/google/go-cmp/cmp"
	"github.com/meso-project/meso/internal/testutil/zkserver"
	"google.golang.org/protobuf/testing/protocmp"
)

type quietZKLogger struct{}

func (quietZKLogger) Printf(string, ...any) {}

// zkConnect opens a session on the cluster, closed at the end of the test.
func zkConnect(t testing.TB, c *zkserver.Cluster) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect(strings.Split(c.Connect(), ","), 10*time.Second, zk.WithLogger(quietZKLogger{}))
	if err != nil {
		t.Fatalf("connecting to ZooKeeper: %v", err)
	}
	t.Cleanup(conn.Close)
	deadline := time.Now().Add(30 * time.Second)
	for conn.State() != zk.StateHasSession {
		if time.Now().After(deadline) {
			t.Fatalf("no ZooKeeper session within 30s (state %v)", conn.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return conn
}

var zkPaths atomic.Int64

// zkPath returns a path no other test uses.
func zkPath() string { return fmt.Sprintf("/meso-test-%d/mesos", zkPaths.Add(1)) }

func TestZKStoreContract(t *testing.T) {
	c := zkserver.Start(t)
	testStoreContract(t, func(t *testing.T) storeHarness {
		path := zkPath()
		return storeHarness{shared: true, openStore: func(t *testing.T) (Store, error) {
			// Each store has its own session, as each master would.
			s, err := NewZKStore(zkConnect(t, c), path, nil)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { s.Close() })
			return s, nil
		}}
	})
}

func TestZKStoreLayout(t *testing.T) {
	c := zkserver.Start(t)
	conn := zkConnect(t, c)
	path := zkPath()
	s, err := NewZKStore(conn, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, []Entry{{Key: Key{Kind: KindWeights, Name: "eng%2Fweb"}, Value: []byte("w")}}); err != nil {
		t.Fatal(err)
	}
	data, _, err := conn.Get(path + "/registry/weights/eng%2Fweb")
	if err != nil || string(data) != "w" {
		t.Fatalf("record znode = %q, %v", data, err)
	}
	children, _, err := conn.Children(path + "/registry")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fence"}
	for _, k := range Kinds {
		want = append(want, string(k))
	}
	if diff := cmp.Diff(want, children, cmpSorted()); diff != "" {
		t.Errorf("children of <path>/registry (-want +got):\n%s", diff)
	}
	// Each Recover bumps the fence's version.
	_, before, _ := conn.Get(path + "/registry/fence")
	if _, err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	_, after, _ := conn.Get(path + "/registry/fence")
	if after.Version != before.Version+1 {
		t.Errorf("fence version %d after Recover, want %d", after.Version, before.Version+1)
	}
	if _, err := NewZKStore(conn, "relative", nil); err == nil {
		t.Error("NewZKStore accepted a relative path")
	}
}

// TestZKRegistrarFencing runs two registrars on one ZooKeeper path, as two
// masters across a failover: the second one's Recover fences the first,
// whose next operation fails (its registrar aborts) without changing the
// registry.
func TestZKRegistrarFencing(t *testing.T) {
	c := zkserver.Start(t)
	path := zkPath()
	ctx := context.Background()
	newRegistrar := func(id string) *Registrar {
		s, err := NewZKStore(zkConnect(t, c), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		r, err := New(s, Config{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if _, err := r.Recover(ctx, masterInfo(id)); err != nil {
			t.Fatalf("Recover of %s: %v", id, err)
		}
		return r
	}

	first := newRegistrar("m1")
	mustApply(t, first, &AdmitAgent{Info: agentInfo("a1")})
	second := newRegistrar("m2")
	reg := second.Registry()
	if got := agentIDs(reg); !cmp.Equal(got, []string{"a1"}) {
		t.Fatalf("second master recovered agents %v, want [a1]", got)
	}
	if got := reg.GetMaster().GetInfo().GetId(); got != "m2" {
		t.Fatalf("registry's master = %q, want m2", got)
	}

	_, err := first.Apply(ctx, &AdmitAgent{Info: agentInfo("stale")})
	if !errors.Is(err, ErrAborted) || !errors.Is(err, ErrFenced) {
		t.Fatalf("deposed registrar's Apply = %v, want ErrAborted wrapping ErrFenced", err)
	}
	if _, err := first.Apply(ctx, &RemoveAgent{ID: agentID("a1")}); !errors.Is(err, ErrAborted) {
		t.Fatalf("Apply after the abort = %v, want ErrAborted", err)
	}
	mustApply(t, second, &AdmitAgent{Info: agentInfo("a2")})

	// A third master sees exactly what the second wrote.
	third := newRegistrar("m3")
	if diff := cmp.Diff(second.Registry().GetSlaves(), third.Registry().GetSlaves(), protocmp.Transform()); diff != "" {
		t.Fatalf("agents after failover (-second +third):\n%s", diff)
	}
}

// TestZKStoreServerDown: with ZooKeeper gone, a write times out
// (Config.StoreTimeout) and the registrar aborts; the store refuses further
// writes until it recovers again, since it cannot know whether the last one
// landed.
func TestZKStoreServerDown(t *testing.T) {
	c := zkserver.Start(t)
	s, err := NewZKStore(zkConnect(t, c), zkPath(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := newRegistrar(t, s, Config{StoreTimeout: 500 * time.Millisecond})
	mustApply(t, r, &AdmitAgent{Info: agentInfo("a1")})
	c.Stop()
	start := time.Now()
	_, err = r.Apply(context.Background(), &AdmitAgent{Info: agentInfo("a2")})
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("Apply with ZooKeeper down = %v, want ErrAborted", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the failed write took %v", d)
	}
	if err := s.Write(context.Background(), []Entry{{Key: Key{Kind: KindAgents, Name: "x"}, Value: []byte("x")}}); err == nil {
		t.Error("the store accepted a write after one with an unknown outcome")
	}
}
