package master

import (
	"context"
	"net"
	"net/http"
	"strconv"
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
	if loc := get("/master/redirect").Header.Get("Location"); loc != "//10.1.2.3:5050" {
		t.Errorf("/master/redirect Location %q", loc)
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
