package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve serves h on a loopback listener limited to maxConns per IP.
func serve(t *testing.T, h http.Handler, maxConns int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(LimitListener(ln, maxConns, nil)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// trickle starts a POST whose 1000-byte body never comes, and returns the
// connection.
func trickle(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", path)
	return c
}

func TestBodyDeadline(t *testing.T) {
	h := BodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := ReadBody(r)
		if err != nil {
			WriteError(w, err)
			return
		}
		// A stream answering the body outlives the body's deadline.
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		for i := range 4 {
			fmt.Fprintf(w, "%s %d\n", body, i)
			_ = rc.Flush()
			time.Sleep(200 * time.Millisecond)
		}
	}), 300*time.Millisecond)
	addr := serve(t, h, 0)

	// A trickled body is cut off with a 400.
	c := trickle(t, addr, "/")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to a trickled body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "timeout") {
		t.Errorf("trickled body: %d %q, want 400 with a timeout", resp.StatusCode, b)
	}

	// A body sent at once is read, and the stream that follows runs past
	// the deadline (4 × 200 ms > 300 ms).
	resp2, err := http.Post("http://"+addr+"/", "application/json", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	b, err = io.ReadAll(resp2.Body)
	if err != nil || strings.Count(string(b), "hello") != 4 {
		t.Errorf("stream after the body: %q, %v; want 4 lines", b, err)
	}
}

func TestLimitListener(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}), 3)
	var held []net.Conn
	for range 3 {
		held = append(held, trickle(t, addr, "/"))
	}
	// The fourth connection from this address is closed at once.
	time.Sleep(100 * time.Millisecond) // let the server accept the three
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("fourth connection read %d bytes, want it closed", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("fourth connection left open: %v", err)
	}
	// Once one closes, a new connection is served.
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "ok" {
				t.Fatalf("GET = %q", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
