package detector

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/testutil/zkserver"
	"github.com/meso-project/meso/pkg/codec"
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

// masterInfo is MasterInfo as a master at 127.0.0.1:port publishes it.
func masterInfo(id, hostname string, port uint32) *mesospb.MasterInfo {
	return &mesospb.MasterInfo{
		Id:       proto.String(id),
		Ip:       proto.Uint32(16777343),
		Port:     proto.Uint32(port),
		Pid:      proto.String("master@127.0.0.1:" + strconv.FormatUint(uint64(port), 10)),
		Hostname: proto.String(hostname),
		Version:  proto.String("1.11.0"),
		Address:  &mesospb.Address{Hostname: proto.String(hostname), Ip: proto.String("127.0.0.1"), Port: proto.Int32(int32(port))},
		Capabilities: []*mesospb.MasterInfo_Capability{
			{Type: mesospb.MasterInfo_Capability_AGENT_UPDATE.Enum()},
		},
	}
}

func jsonData(t testing.TB, info *mesospb.MasterInfo) []byte {
	t.Helper()
	b, err := codec.MarshalJSON(info)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// join adds a member standing in for a master.
func join(t *testing.T, url string, timeout time.Duration, label string, data []byte) (*zookeeper.Session, *zookeeper.Membership) {
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
	m, err := zookeeper.NewGroup(s, u.Path).Join(ctx, label, data)
	if err != nil {
		t.Fatal(err)
	}
	return s, m
}

func newDetector(t *testing.T, url string, timeout time.Duration) *ZooKeeper {
	t.Helper()
	d, err := NewZooKeeper(url, Options{SessionTimeout: timeout, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// detect waits up to within for a leader other than previous.
func detect(t *testing.T, d Detector, previous *Leader, within time.Duration) *Leader {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	l, err := d.Detect(ctx, previous)
	if err != nil {
		t.Fatalf("Detect(%v): %v", previous, err)
	}
	return l
}

// noChange checks that Detect(previous) blocks for a while.
func noChange(t *testing.T, d Detector, previous *Leader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if l, err := d.Detect(ctx, previous); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Detect(%v) = %v, %v; want no change", previous, l, err)
	}
}

func wantLeader(t *testing.T, got *Leader, host string, port int, info *mesospb.MasterInfo) {
	t.Helper()
	if got == nil {
		t.Fatalf("leader = <none>, want %s:%d", host, port)
	}
	if got.Host != host || got.Port != port {
		t.Fatalf("leader = %s, want %s:%d", got, host, port)
	}
	if diff := cmp.Diff(info, got.Info, protocmp.Transform()); diff != "" {
		t.Fatalf("leader info (-want +got):\n%s", diff)
	}
}

func TestZooKeeperDetector(t *testing.T) {
	c := zkserver.Start(t)

	t.Run("leader changes", func(t *testing.T) {
		d := newDetector(t, c.URL("/d1/mesos"), 2*time.Second)
		noChange(t, d, nil) // an empty group has no leader

		infoA := masterInfo("a", "master-a", 5050)
		_, a := join(t, c.URL("/d1/mesos"), 2*time.Second, LabelJSON, jsonData(t, infoA))
		la := detect(t, d, nil, 10*time.Second)
		wantLeader(t, la, "master-a", 5050, infoA)

		// A younger member changes nothing.
		infoB := masterInfo("b", "master-b", 5051)
		_, b := join(t, c.URL("/d1/mesos"), 2*time.Second, LabelJSON, jsonData(t, infoB))
		noChange(t, d, la)
		if l := detect(t, d, nil, time.Second); !Same(l, la) {
			t.Fatalf("Detect(nil) = %v, want %v", l, la)
		}

		// The leader leaves: the next oldest leads.
		if err := a.Cancel(t.Context()); err != nil {
			t.Fatal(err)
		}
		lb := detect(t, d, la, 10*time.Second)
		wantLeader(t, lb, "master-b", 5051, infoB)

		// Nobody left: no leader.
		if err := b.Cancel(t.Context()); err != nil {
			t.Fatal(err)
		}
		if l := detect(t, d, lb, 10*time.Second); l != nil {
			t.Fatalf("Detect after the last master left = %v", l)
		}

		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Detect(t.Context(), nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("Detect after Close: %v", err)
		}
	})

	t.Run("legacy and unknown labels", func(t *testing.T) {
		url := c.URL("/d2")
		d := newDetector(t, url, 2*time.Second)
		_, unknown := join(t, url, 2*time.Second, "other", []byte("?"))
		infoP := masterInfo("p", "master-p", 5052)
		binary, err := proto.Marshal(infoP)
		if err != nil {
			t.Fatal(err)
		}
		_, p := join(t, url, 2*time.Second, LabelProtobuf, binary)
		join(t, url, 2*time.Second, "", []byte("master@10.0.0.3:5053"))

		// The oldest member's label is unknown: no leader.
		noChange(t, d, nil)
		if err := unknown.Cancel(t.Context()); err != nil {
			t.Fatal(err)
		}
		lp := detect(t, d, nil, 10*time.Second)
		wantLeader(t, lp, "master-p", 5052, infoP)

		if err := p.Cancel(t.Context()); err != nil {
			t.Fatal(err)
		}
		l := detect(t, d, lp, 10*time.Second)
		wantLeader(t, l, "10.0.0.3", 5053, &mesospb.MasterInfo{
			Id:      proto.String("master@10.0.0.3:5053"),
			Ip:      proto.Uint32(3<<24 | 10),
			Port:    proto.Uint32(5053),
			Pid:     proto.String("master@10.0.0.3:5053"),
			Address: &mesospb.Address{Ip: proto.String("10.0.0.3"), Port: proto.Int32(5053)},
		})
	})

	t.Run("leader's session expires", func(t *testing.T) {
		const timeout = time.Second
		url := c.URL("/d3")
		d := newDetector(t, url, 2*time.Second)
		proxy := zktest.NewProxy(t, c.Servers[0].Addr)
		sa, _ := join(t, "zk://"+proxy.Addr()+"/d3", timeout, LabelJSON, jsonData(t, masterInfo("a", "master-a", 5050)))
		infoB := masterInfo("b", "master-b", 5051)
		join(t, url, 2*time.Second, LabelJSON, jsonData(t, infoB))
		la := detect(t, d, nil, 10*time.Second)
		if la.Info.GetId() != "a" {
			t.Fatalf("leader = %v (%s), want a", la, la.Info.GetId())
		}

		proxy.Partition()
		start := time.Now()
		lb := detect(t, d, la, 10*time.Second)
		t.Logf("new leader detected %v after the partition", time.Since(start))
		wantLeader(t, lb, "master-b", 5051, infoB)
		select {
		case <-sa.Expired():
		case <-time.After(2 * timeout):
			t.Fatal("the partitioned master's session did not expire")
		}
	})

	t.Run("detector's session expires", func(t *testing.T) {
		const timeout = time.Second
		url := c.URL("/d4")
		proxy := zktest.NewProxy(t, c.Servers[0].Addr)
		d := newDetector(t, "zk://"+proxy.Addr()+"/d4", timeout)
		_, a := join(t, url, 2*time.Second, LabelJSON, jsonData(t, masterInfo("a", "master-a", 5050)))
		la := detect(t, d, nil, 10*time.Second)
		if la.Info.GetId() != "a" {
			t.Fatalf("leader = %v", la)
		}

		// Cut off past its session timeout, the detector still reports
		// what it knew.
		proxy.Partition()
		if err := a.Cancel(t.Context()); err != nil {
			t.Fatal(err)
		}
		infoB := masterInfo("b", "master-b", 5051)
		join(t, url, 2*time.Second, LabelJSON, jsonData(t, infoB))
		time.Sleep(2 * timeout)
		noChange(t, d, la)

		// Back in touch, it has a new session and sees the new leader.
		proxy.Heal()
		lb := detect(t, d, la, 15*time.Second)
		wantLeader(t, lb, "master-b", 5051, infoB)
	})

	t.Run("leader gone before its data is read", func(t *testing.T) {
		u, err := zookeeper.ParseURL(c.URL("/d5"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := zookeeper.Connect(t.Context(), u, 2*time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		d := newDetector(t, c.URL("/d5"), 2*time.Second)
		f := &follower{d: d}
		gone := zookeeper.Member{ID: 9, Label: LabelJSON, Path: "/d5/json.info_0000000009"}
		l, err := f.fetch(t.Context(), zookeeper.NewGroup(s, "/d5"), gone)
		if l != nil || err != nil {
			t.Fatalf("fetch of a vanished member = %v, %v", l, err)
		}
	})
}

func TestDecodeLeader(t *testing.T) {
	info := masterInfo("id-1", "m1", 5050)
	binary, err := proto.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	// What a Mesos 1.11 master writes.
	mesosJSON := `{"id":"b5eac2c5-609b-4ca1-a352-61941702fc9e","ip":16777343,"port":5050,` +
		`"pid":"master@127.0.0.1:5050","hostname":"localhost","version":"1.11.0",` +
		`"address":{"hostname":"localhost","ip":"127.0.0.1","port":5050},` +
		`"capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"},{"type":"QUOTA_V2"}]}`
	tests := []struct {
		name, label, data string
		host              string
		port              int
		err               bool
	}{
		{name: "json", label: "json.info", data: string(jsonData(t, info)), host: "m1", port: 5050},
		{name: "mesos json", label: "json.info", data: mesosJSON, host: "localhost", port: 5050},
		{name: "protobuf", label: "info", data: string(binary), host: "m1", port: 5050},
		{name: "pid", label: "", data: "master@10.0.0.1:5051", host: "10.0.0.1", port: 5051},
		{name: "pid hostname", label: "", data: "master@m2:5051\n", host: "m2", port: 5051},
		{name: "hostname only", label: "json.info", data: `{"id":"x","ip":0,"port":1,"hostname":"h"}`, host: "h", port: 1},
		{name: "address ip", label: "json.info", data: `{"id":"x","ip":0,"port":2,"address":{"ip":"10.1.1.1","port":2}}`, host: "10.1.1.1", port: 2},
		{name: "ip only", label: "json.info", data: `{"id":"x","ip":16777343,"port":5050}`, host: "127.0.0.1", port: 5050},
		{name: "default port", label: "json.info", data: `{"id":"x","ip":16777343}`, err: true}, // port is required
		{name: "unknown label", label: "xml.info", data: mesosJSON, err: true},
		{name: "bad json", label: "json.info", data: `{"id":`, err: true},
		{name: "json missing id", label: "json.info", data: `{"ip":1,"port":1}`, err: true},
		{name: "no address", label: "json.info", data: `{"id":"x","ip":0,"port":5050}`, err: true},
		{name: "bad protobuf", label: "info", data: "\xff\xff", err: true},
		{name: "bad pid", label: "", data: "10.0.0.1:5050", err: true},
		{name: "bad pid port", label: "", data: "master@10.0.0.1:0", err: true},
		{name: "bad pid bytes", label: "", data: "\x80@10.0.0.1:5050", err: true},
		{name: "port out of range", label: "json.info", data: `{"id":"x","ip":1,"port":70000}`, err: true},
	}
	for _, tt := range tests {
		l, err := DecodeLeader(tt.label, []byte(tt.data))
		if tt.err {
			if !errors.Is(err, ErrMasterData) {
				t.Errorf("%s: DecodeLeader = %v, %v; want ErrMasterData", tt.name, l, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if l.Host != tt.host || l.Port != tt.port || l.Info == nil {
			t.Errorf("%s: leader %s (info %v), want %s:%d", tt.name, l, l.Info, tt.host, tt.port)
		}
	}
}

func FuzzDecodeLeader(f *testing.F) {
	info := masterInfo("id-1", "m1", 5050)
	js, _ := codec.MarshalJSON(info)
	bin, _ := proto.Marshal(info)
	f.Add("json.info", js)
	f.Add("info", bin)
	f.Add("", []byte("master@10.0.0.1:5050"))
	f.Add("json.info", []byte(`{"id":"x","ip":16777343,"port":5050,"address":{"ip":"::1"}}`))
	f.Add("x", []byte{})
	f.Fuzz(func(t *testing.T, label string, data []byte) {
		l, err := DecodeLeader(label, data)
		if err != nil {
			if !errors.Is(err, ErrMasterData) {
				t.Fatalf("error %v does not wrap ErrMasterData", err)
			}
			return
		}
		if l.Host == "" || l.Port <= 0 || l.Port > 65535 || l.Info == nil {
			t.Fatalf("DecodeLeader(%q, %q) = %+v", label, data, l)
		}
		if label == LabelProtobuf {
			return // strings may hold bytes that JSON cannot
		}
		// What a master would write back decodes to the same leader.
		js, err := codec.MarshalJSON(l.Info)
		if err != nil {
			t.Fatalf("re-encoding %v: %v", l.Info, err)
		}
		again, err := DecodeLeader(LabelJSON, js)
		if err != nil {
			t.Fatalf("DecodeLeader(%s): %v", js, err)
		}
		if again.Address() != l.Address() || !proto.Equal(again.Info, l.Info) {
			t.Fatalf("round trip: %v %v != %v %v", again, again.Info, l, l.Info)
		}
	})
}

// TestDecodeLeaderQuotaV2: a Mesos 1.11 master writes its znode from the v0
// MasterInfo, naming capability 3 "QUOTA_V2", which the v1 proto does not
// declare; the detector keeps it as its number, as Mesos's v1 libraries
// keep it in the unknown fields.
func TestDecodeLeaderQuotaV2(t *testing.T) {
	data := `{"id":"x","ip":16777343,"port":5050,"hostname":"h",` +
		`"capabilities":[{"type":"AGENT_UPDATE"},{"type":"QUOTA_V2"}]}`
	l, err := DecodeLeader(LabelJSON, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []*mesospb.MasterInfo_Capability{
		{Type: mesospb.MasterInfo_Capability_AGENT_UPDATE.Enum()},
		{Type: mesospb.MasterInfo_Capability_Type(3).Enum()},
	}
	if diff := cmp.Diff(want, l.Info.GetCapabilities(), protocmp.Transform()); diff != "" {
		t.Errorf("capabilities (-want +got):\n%s", diff)
	}
}
