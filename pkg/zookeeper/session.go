package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// DefaultSessionTimeout is Mesos's --zk_session_timeout default, also the
// session timeout of its detectors.
const DefaultSessionTimeout = 10 * time.Second

// RetryInterval is how long an operation that failed with a retryable error
// (the connection was lost) waits before it is tried again, unless the
// session reconnects sooner. Mesos's group retries every 2 seconds.
const RetryInterval = 2 * time.Second

var (
	// ErrSessionExpired is returned (wrapped) by operations on a session
	// that has expired: ZooKeeper said so, or the client was disconnected
	// for longer than the session timeout.
	ErrSessionExpired = errors.New("zookeeper: session expired")
	// ErrSessionClosed is returned by operations on a closed session.
	ErrSessionClosed = errors.New("zookeeper: session closed")
)

// retryInterval is RetryInterval; tests shorten it.
var retryInterval = RetryInterval

// Session is one ZooKeeper session (Mesos's ZooKeeper client plus the
// session bookkeeping of its GroupProcess).
//
// A Session never outlives its ZooKeeper session: when the session expires
// it stays expired (the underlying client is closed rather than allowed to
// open a new session behind the caller's back), its ephemeral nodes are
// gone, [Session.Expired] is closed and every operation fails with
// [ErrSessionExpired]. The caller decides what to do, typically [Connect]
// again. Expiry is reported as soon as the client learns of it from
// ZooKeeper, and also — as Mesos's group does — when a disconnected client
// has not heard from ZooKeeper for the session timeout, since by then
// ZooKeeper will have expired the session even if the client cannot hear it
// say so. This is never later than the session timeout after the
// disconnect.
//
// A Session is safe for concurrent use.
type Session struct {
	url     *URL
	timeout time.Duration
	log     *slog.Logger
	acl     []zk.ACL

	mu         sync.Mutex
	conn       *zk.Conn
	events     <-chan zk.Event
	state      zk.State
	id         int64
	hadSession bool
	timer      *time.Timer
	timerGen   uint64
	changed    chan struct{} // closed and replaced on every state change
	err        error         // why the session ended; nil while it lives
	expired    chan struct{} // closed on expiry
	gone       chan struct{} // closed on expiry or Close
	nets       map[*trackedConn]struct{}

	lastRead     atomic.Int64 // when the client last heard from ZooKeeper (Unix ns)
	dead         atomic.Bool  // no new connections may be dialled
	shutdownOnce sync.Once
	done         chan struct{} // closed when the client has stopped
}

// Connect opens a session with the URL's servers and waits until it is
// established (or ctx ends). With credentials in the URL it adds digest
// authentication, and nodes made through the session's [Session.ACL] get
// Mesos's "world:read + creator:all" ACL instead of an open one.
// sessionTimeout <= 0 means [DefaultSessionTimeout]; a nil logger discards.
// The ZooKeeper client's own logging goes to logger at debug level.
func Connect(ctx context.Context, url *URL, sessionTimeout time.Duration, logger *slog.Logger) (*Session, error) {
	if url == nil || len(url.Servers) == 0 {
		return nil, fmt.Errorf("%w: no servers", ErrInvalidURL)
	}
	if sessionTimeout <= 0 {
		sessionTimeout = DefaultSessionTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Session{
		url:     url,
		timeout: sessionTimeout,
		log:     logger,
		acl:     zk.WorldACL(zk.PermAll),
		state:   zk.StateDisconnected,
		changed: make(chan struct{}),
		expired: make(chan struct{}),
		gone:    make(chan struct{}),
		nets:    make(map[*trackedConn]struct{}),
		done:    make(chan struct{}),
	}
	if url.Auth != nil {
		// Mesos's EVERYONE_READ_CREATOR_ALL.
		s.acl = append(zk.WorldACL(zk.PermRead), zk.AuthACL(zk.PermAll)...)
	}
	conn, events, err := zk.Connect(url.Servers, sessionTimeout,
		zk.WithLogger(zkLogger{logger}),
		zk.WithEventCallback(s.onEvent),
		zk.WithDialer(s.dial))
	if err != nil {
		return nil, fmt.Errorf("zookeeper: connecting to %s: %w", url.Redacted(), err)
	}
	s.mu.Lock()
	s.conn, s.events = conn, events
	s.mu.Unlock()

	if err := s.waitSession(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("zookeeper: connecting to %s: %w", url.Redacted(), err)
	}
	s.mu.Lock()
	if s.id == 0 {
		// The session came up before conn was stored.
		s.id = conn.SessionID()
	}
	s.mu.Unlock()
	if url.Auth != nil {
		err := s.Do(ctx, func(c *zk.Conn) error {
			return c.AddAuth(url.Auth.Scheme, []byte(url.Auth.Credentials))
		})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("zookeeper: authenticating with %s: %w", url.Redacted(), err)
		}
	}
	logger.Debug("ZooKeeper session established", "servers", url.Servers, "session_id", s.idString())
	return s, nil
}

// waitSession waits for the first established session.
func (s *Session) waitSession(ctx context.Context) error {
	for {
		s.mu.Lock()
		ok, changed := s.hadSession, s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Conn is the underlying client, for code that needs more than groups (the
// registry's ZooKeeper store). Its operations do not honour contexts and
// may fail with go-zookeeper's errors; [Session.Do] adds both. Once the
// session has expired or been closed the client is closed.
func (s *Session) Conn() *zk.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// URL is the URL the session was opened with.
func (s *Session) URL() *URL { return s.url }

// Timeout is the session timeout that was asked for.
func (s *Session) Timeout() time.Duration { return s.timeout }

// ID is the ZooKeeper session id.
func (s *Session) ID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

func (s *Session) idString() string { return fmt.Sprintf("%#x", s.ID()) }

// ACL is the ACL for nodes this session creates: open without credentials,
// "world:read + creator:all" with them (Mesos's choice in both cases).
func (s *Session) ACL() []zk.ACL { return s.acl }

// Expired is closed when the session expires (not when it is closed).
func (s *Session) Expired() <-chan struct{} { return s.expired }

// Err is nil while the session lives; afterwards it wraps
// [ErrSessionExpired] or is [ErrSessionClosed].
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Do runs op, retrying it every [RetryInterval] (or as soon as the session
// reconnects) while it fails with a retryable error (connection loss), as
// Mesos's group does. It stops when op succeeds or fails otherwise, when ctx
// ends and when the session expires or is closed (returning
// [Session.Err]). go-zookeeper cannot cancel a request, so when Do returns
// early op may still be running; its result is then discarded. op must
// therefore be safe to complete unobserved (see [Group.Join] for the one
// that is not). zk.ErrSessionExpired is reported as [ErrSessionExpired].
func (s *Session) Do(ctx context.Context, op func(*zk.Conn) error) error {
	conn := s.Conn()
	for {
		if err := s.Err(); err != nil {
			return err
		}
		errc := make(chan error, 1)
		go func() { errc <- op(conn) }()
		var err error
		select {
		case err = <-errc:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.gone:
			return s.Err()
		}
		if !retryable(err) {
			return s.translate(err)
		}
		s.log.Debug("ZooKeeper operation failed, retrying", "session_id", s.idString(), "error", err)
		if err := s.waitRetry(ctx); err != nil {
			return err
		}
	}
}

// retryable reports whether err is a connection loss, after which an
// operation may be tried again on the same session. go-zookeeper reports
// one as ErrConnectionClosed, ErrNoServer, or the socket's own error when a
// request could not be written.
func retryable(err error) bool {
	var ne net.Error
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) ||
		errors.Is(err, zk.ErrSessionMoved) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// translate maps go-zookeeper's end-of-session errors to ours.
func (s *Session) translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, zk.ErrSessionExpired):
		if serr := s.Err(); serr != nil {
			return serr
		}
		return fmt.Errorf("%w: %w", ErrSessionExpired, err)
	case errors.Is(err, zk.ErrClosing):
		if serr := s.Err(); serr != nil {
			return serr
		}
	}
	return err
}

// waitRetry waits for RetryInterval or until the session is connected
// again, whichever is first.
func (s *Session) waitRetry(ctx context.Context) error {
	timer := time.NewTimer(retryInterval)
	defer timer.Stop()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-s.gone:
			return s.Err()
		case <-changed:
			s.mu.Lock()
			connected := s.state == zk.StateHasSession
			s.mu.Unlock()
			if connected {
				return nil
			}
		}
	}
}

// Close ends the session: ZooKeeper deletes its ephemeral nodes at once
// (when it can be reached) and pending operations fail with
// [ErrSessionClosed]. Close waits for the client to stop; it is idempotent
// and returns nil.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.err == nil {
		s.err = ErrSessionClosed
		s.endLocked()
	}
	s.mu.Unlock()
	s.shutdown()
	return nil
}

// onEvent follows the client's session state. go-zookeeper calls it from
// its own goroutines, synchronously: it must not block.
func (s *Session) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	s.state = ev.State
	switch ev.State {
	case zk.StateHasSession:
		if s.conn != nil {
			s.id = s.conn.SessionID()
		}
		if !s.hadSession {
			s.hadSession = true
		} else {
			s.log.Info("ZooKeeper session reconnected", "session_id", fmt.Sprintf("%#x", s.id), "server", ev.Server)
		}
		s.stopTimerLocked()
	case zk.StateExpired:
		s.expireLocked(fmt.Errorf("%w (ZooKeeper expired session %#x)", ErrSessionExpired, s.id))
		return
	case zk.StateAuthFailed:
		s.log.Warn("ZooKeeper authentication failed", "session_id", fmt.Sprintf("%#x", s.id))
	default:
		// Disconnected, connecting, connected without a session yet: once
		// we have had a session, ZooKeeper expires it a session timeout
		// after it last heard from us, which was no later than we last
		// heard from it (its reply to our last ping). So the client gives
		// up a session timeout after its last read: by then ZooKeeper may
		// have let another client take over our ephemeral znodes, and a
		// partitioned leader must not go on believing it leads. (Mesos's
		// GroupProcess counts the session timeout from the disconnect,
		// up to two thirds of it later.)
		if s.hadSession && s.timer == nil {
			if ev.State == zk.StateDisconnected {
				s.log.Info("ZooKeeper disconnected", "session_id", fmt.Sprintf("%#x", s.id))
			}
			wait := s.timeout - time.Since(time.Unix(0, s.lastRead.Load()))
			wait = max(wait, 0)
			s.timerGen++
			gen := s.timerGen
			s.timer = time.AfterFunc(wait, func() { s.localExpiry(gen) })
		}
	}
	s.notifyLocked()
}

// localExpiry runs when the client has been disconnected for the session
// timeout.
func (s *Session) localExpiry(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.timer == nil || s.timerGen != gen {
		return
	}
	s.timer = nil
	s.expireLocked(fmt.Errorf("%w (no word from ZooKeeper for the session timeout %v; session %#x)",
		ErrSessionExpired, s.timeout, s.id))
}

func (s *Session) expireLocked(err error) {
	s.log.Warn("ZooKeeper session expired", "session_id", fmt.Sprintf("%#x", s.id), "error", err)
	s.err = err
	close(s.expired)
	s.endLocked()
	// Not from here: go-zookeeper may be calling us from the goroutine
	// that Close waits for.
	go s.shutdown()
}

// endLocked marks the session over: no new connection may be dialled, and
// waiters wake.
func (s *Session) endLocked() {
	s.dead.Store(true)
	s.stopTimerLocked()
	close(s.gone)
	s.notifyLocked()
}

func (s *Session) stopTimerLocked() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

func (s *Session) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// shutdown stops the client and waits for it. A graceful close tells
// ZooKeeper to end the session (deleting its ephemeral nodes at once);
// closing the sockets afterwards unblocks a client stuck in a handshake
// with an unresponsive server.
func (s *Session) shutdown() {
	s.shutdownOnce.Do(func() {
		s.mu.Lock()
		conn, events := s.conn, s.events
		s.mu.Unlock()
		if conn != nil {
			conn.Close()
		}
		s.closeNets()
		if events != nil {
			for range events {
			}
		}
		close(s.done)
	})
	<-s.done
}

// dial is the client's dialer: it refuses once the session is over, so the
// client cannot open a new session behind our back, and tracks sockets so
// that shutdown can close them.
func (s *Session) dial(network, address string, timeout time.Duration) (net.Conn, error) {
	if s.dead.Load() {
		return nil, ErrSessionClosed
	}
	c, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: s}
	s.mu.Lock()
	s.nets[tc] = struct{}{}
	s.mu.Unlock()
	if s.dead.Load() {
		tc.Close()
		return nil, ErrSessionClosed
	}
	return tc, nil
}

func (s *Session) closeNets() {
	s.mu.Lock()
	var cs []*trackedConn
	for c := range s.nets {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	s    *Session
	once sync.Once
}

func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.s.lastRead.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *trackedConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		c.s.mu.Lock()
		delete(c.s.nets, c)
		c.s.mu.Unlock()
	})
	return err
}

// zkLogger routes go-zookeeper's logging (chatty: every connect, every
// closed loop) to slog at debug level.
type zkLogger struct{ l *slog.Logger }

func (z zkLogger) Printf(format string, args ...any) {
	if z.l.Enabled(context.Background(), slog.LevelDebug) {
		z.l.Debug("zk: " + fmt.Sprintf(format, args...))
	}
}
