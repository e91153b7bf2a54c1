package httpapi

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Limits that keep a client from holding a server's connections and file
// descriptors. libprocess, which Mesos serves HTTP with, has neither: a
// client trickling a body, or opening connections without end, exhausts
// the process's descriptors. The defaults are generous, far above what a
// framework, an executor, an agent or an operator tool needs.
const (
	// DefaultBodyReadTimeout bounds how long reading one request body may
	// take. 5 minutes reads a 64 MB body (MaxBodySize) at 220 KB/s.
	DefaultBodyReadTimeout = 5 * time.Minute
	// DefaultMaxConnectionsPerIP bounds the open connections from one
	// client address. A `meso local` cluster serves its agents, executors
	// and schedulers all from 127.0.0.1, each holding a stream or two, so
	// the bound leaves room for about a thousand of them.
	DefaultMaxConnectionsPerIP = 1024
)

// BodyDeadline returns h with a deadline on reading each request's body:
// a body not read in full within d fails with a timeout (the handler
// answers 400 "Failed to read request body: ... i/o timeout") and the
// connection is closed. Reading the header is bounded separately
// (http.Server.ReadHeaderTimeout). A streaming request body
// (application/recordio, the agent's ATTACH_CONTAINER_INPUT) may last as
// long as the container's input does: for it, d bounds the time between
// reads that make progress instead. The deadline is lifted once the body
// is read, so that a response stream (SUBSCRIBE) outlives it. d <= 0
// disables the deadline.
//
// h must be given the server's own ResponseWriter: wrap the server's
// handler with BodyDeadline last.
func BodyDeadline(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			h.ServeHTTP(w, r) // not a net/http connection (tests' recorders)
			return
		}
		streaming := strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/recordio")
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, d: d, idle: streaming}
		h.ServeHTTP(w, r)
	})
}

type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	d    time.Duration
	idle bool // extend the deadline on progress
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case b.done:
	case errors.Is(err, io.EOF):
		// The whole body is read: the deadline must not cut a response
		// stream that follows. (After a failed read it stays: net/http
		// then tries to drain the rest of the body, which must not wait
		// for a trickling client either.)
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case b.idle && n > 0:
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	}
	return n, err
}

// LimitListener returns ln limited to max open connections per client IP
// address: a connection beyond that is closed as soon as it is accepted,
// and the refusal logged (at most once a minute per address). max <= 0
// returns ln unchanged.
func LimitListener(ln net.Listener, max int, log *slog.Logger) net.Listener {
	if max <= 0 {
		return ln
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &limitListener{Listener: ln, max: max, log: log, open: map[string]int{}, logged: map[string]time.Time{}}
}

type limitListener struct {
	net.Listener
	max int
	log *slog.Logger

	mu     sync.Mutex
	open   map[string]int       // by client IP
	logged map[string]time.Time // last refusal logged, by client IP
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := clientIP(c.RemoteAddr())
		l.mu.Lock()
		if l.open[ip] >= l.max {
			now := time.Now()
			logIt := now.Sub(l.logged[ip]) >= time.Minute
			if logIt {
				l.logged[ip] = now
			}
			l.mu.Unlock()
			_ = c.Close()
			if logIt {
				l.log.Warn("refusing connection: too many open connections from one address",
					"client", ip, "limit", l.max)
			}
			continue
		}
		l.open[ip]++
		l.mu.Unlock()
		return &limitConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
		delete(l.logged, ip)
	}
}

func clientIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
