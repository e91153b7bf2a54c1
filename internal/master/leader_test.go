package master

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/detector"
)

// neverElected contends forever.
type neverElected struct{}

func (neverElected) Contend(ctx context.Context, _ *mesospb.MasterInfo) (<-chan struct{}, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A standby redirects the APIs to the leader it detects, reports
// master/elected 0 and is healthy; when the detected leader is its own
// address (the znode of its previous process) it answers 503 instead of
// redirecting to itself.
func TestStandbyRedirects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	leader := detector.NewStandalone(&detector.Leader{Host: "10.1.2.3", Port: 5050})
	m, err := New(Config{Allocator: newFakeAllocator(), Contender: neverElected{}, Detector: leader})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	client := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	waitFor(t, func() bool { return get("/master/state").StatusCode == http.StatusTemporaryRedirect })
	if loc := get("/master/state?x=1").Header.Get("Location"); loc != "//10.1.2.3:5050/master/state?x=1" {
		t.Errorf("Location %q", loc)
	}
	// libprocess hands the master "/state" as "/master/state", and Mesos
	// redirects to the path it was handed.
	if loc := get("/state/?x=1").Header.Get("Location"); loc != "//10.1.2.3:5050/master/state/?x=1" {
		t.Errorf("/state/ Location %q", loc)
	}
	// So do meso's explainer endpoints.
	if loc := get("/master/explain/framework?framework=x").Header.Get("Location"); loc != "//10.1.2.3:5050/master/explain/framework?framework=x" {
		t.Errorf("explain Location %q", loc)
	}
	if loc := get("/master/redirect").Header.Get("Location"); loc != "//10.1.2.3:5050" {
		t.Errorf("/master/redirect Location %q", loc)
	}
	if resp := get("/redirect/x"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/redirect/x: %d", resp.StatusCode)
	}
	if code := get("/health").StatusCode; code != http.StatusOK {
		t.Errorf("/health: %d", code)
	}
	h := &harness{t: t, addr: "127.0.0.1:" + strconv.Itoa(port)}
	if e := h.getJSON("/metrics/snapshot")["master/elected"]; e != 0.0 {
		t.Errorf("master/elected = %v on a standby", e)
	}

	// The detected leader is this very address.
	self := "127.0.0.1:" + strconv.Itoa(port)
	m.detected.Store(&self)
	deadline := time.Now().Add(5 * time.Second)
	for get("/master/state").StatusCode != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("a standby that detects itself as the leader still redirects")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leasedContender is elected at once; its lease is what the test says.
type leasedContender struct{ valid atomic.Bool }

func (c *leasedContender) Contend(ctx context.Context, _ *mesospb.MasterInfo) (<-chan struct{}, error) {
	return ctx.Done(), nil
}
func (c *leasedContender) LeaseValid() bool { return c.valid.Load() }

// A leader whose lease has lapsed (no word from ZooKeeper for too long:
// perhaps no longer the leader) stops acting as one at once — 503 and
// master/elected 0 — and acts again when the lease is renewed.
func TestLapsedLeaseStopsLeading(t *testing.T) {
	c := &leasedContender{}
	c.valid.Store(true)
	h := startMaster(t, func(cfg *Config) { cfg.Contender = c })
	waitFor(t, func() bool { // elected and recovered
		resp, err := http.Get(h.url("/master/state"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if e := h.getJSON("/metrics/snapshot")["master/elected"]; e != 1.0 {
		t.Fatalf("master/elected = %v, want 1", e)
	}
	c.valid.Store(false)
	resp, err := http.Get(h.url("/master/state"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/master/state with a lapsed lease: %d, want 503", resp.StatusCode)
	}
	if e := h.getJSON("/metrics/snapshot")["master/elected"]; e != 0.0 {
		t.Errorf("master/elected = %v with a lapsed lease, want 0", e)
	}
	c.valid.Store(true)
	if st := h.getJSON("/master/state"); st["leader"] == nil {
		t.Errorf("/master/state after the lease came back: %v", st)
	}
}
