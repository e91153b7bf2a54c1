package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/recordio"
	"github.com/meso-project/meso/pkg/tlsconfig"
)

// Defaults, as recommended for v1 schedulers (docs/scheduler-http-api.md).
const (
	DefaultMaxBackoff        = 15 * time.Second
	DefaultHeartbeatMisses   = 5
	DefaultHeartbeatInterval = 15 * time.Second // used until SUBSCRIBED says otherwise

	// Path is the scheduler API path on the master.
	Path = "/api/v1/scheduler"

	initialBackoff  = time.Second
	maxRedirects    = 10
	maxRecordSize   = 256 << 20
	maxErrorBody    = 4 << 10
	defaultCallWait = 75 * time.Second // per-call timeout when ctx has no deadline
)

// Config configures a [Client]. Zero values take the documented defaults.
type Config struct {
	// Master is the --master value: "host:port", "master@host:port" or
	// "http://host:port" (see package detector). Ignored when Detector is set.
	Master string
	// Detector, if set, finds the leading master instead of Master. The
	// client does not close it.
	Detector detector.Detector
	// Framework is the FrameworkInfo sent on SUBSCRIBE; user and name are
	// required. Set Framework.Id to re-subscribe an existing framework
	// (scheduler failover). The client keeps its own copy.
	Framework *mesospb.FrameworkInfo
	// ContentType is the encoding of calls and events: codec.Protobuf
	// (default) or codec.JSON.
	ContentType codec.MediaType
	// TLS, when on, makes the client speak https to the master through it,
	// as libprocess schedulers do with LIBPROCESS_SSL_ENABLED; build it with
	// tlsconfig.FromEnv(os.LookupEnv, logger). Used for the default
	// HTTPClient's transport and the URL scheme.
	TLS *tlsconfig.Config
	// HTTPClient sends requests (default: a client on a clone of
	// http.DefaultTransport, through TLS when on). It must not have a Timeout: the event stream
	// is long-lived. Its redirect policy is ignored; redirects are handled
	// here.
	HTTPClient *http.Client
	// Logger receives debug and warning logs (default: discarded).
	Logger *slog.Logger
	// MaxBackoff caps the wait between subscription attempts (default 15s).
	MaxBackoff time.Duration
	// HeartbeatMisses is how many heartbeat intervals without any event make
	// the client drop the connection and re-subscribe (default 5).
	HeartbeatMisses int
	// OnDisconnect, if set, is called on Run's goroutine whenever a
	// subscription attempt fails or an established stream ends and Run is
	// about to retry. err says why; failures counts consecutive failed
	// attempts since the last successful subscription (1 for the first);
	// subscribed tells whether this client ever received SUBSCRIBED. A
	// non-nil return stops Run, which returns that error.
	OnDisconnect func(err error, failures int, subscribed bool) error
	// Credential, if set, authenticates every request with HTTP basic
	// authentication (a master with --authenticate_http_frameworks). Its
	// principal should be Framework.Principal: the master refuses a
	// FrameworkInfo.principal that is not the authenticated one.
	Credential *mesospb.Credential
}

// Client is a v1 scheduler API client. Run drives the subscription; Call
// sends calls on it. Call is safe for concurrent use; Run may be called only
// once at a time.
type Client struct {
	cfg  Config
	log  *slog.Logger
	http *http.Client
	det  detector.Detector
	own  bool // det was created by New

	running sync.Mutex // held by Run

	mu         sync.Mutex
	framework  *mesospb.FrameworkInfo // our copy; Id set once subscribed
	endpoint   *url.URL               // where the current stream lives (after redirects)
	streamID   string                 // "" when not subscribed
	subscribed bool                   // SUBSCRIBED received on the current stream
	everSubscr bool
}

// New validates cfg and returns a client. It does not connect.
func New(cfg Config) (*Client, error) {
	if cfg.Framework == nil {
		return nil, fmt.Errorf("%w: Framework is required", ErrConfig)
	}
	if cfg.Framework.GetUser() == "" || cfg.Framework.GetName() == "" {
		return nil, fmt.Errorf("%w: FrameworkInfo.user and FrameworkInfo.name are required", ErrConfig)
	}
	switch cfg.ContentType {
	case "":
		cfg.ContentType = codec.Protobuf
	case codec.Protobuf, codec.JSON:
	default:
		return nil, fmt.Errorf("%w: unsupported content type %q", ErrConfig, cfg.ContentType)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.HeartbeatMisses <= 0 {
		cfg.HeartbeatMisses = DefaultHeartbeatMisses
	}
	c := &Client{
		cfg:       cfg,
		log:       cfg.Logger,
		framework: proto.CloneOf(cfg.Framework),
		det:       cfg.Detector,
	}
	if c.det == nil {
		d, err := detector.New(cfg.Master)
		if err != nil {
			return nil, fmt.Errorf("%w: master %q: %w", ErrConfig, cfg.Master, err)
		}
		c.det, c.own = d, true
	}
	// Our own transport by default: a stream must not share a pool that
	// other code may flush with CloseIdleConnections.
	var transport http.RoundTripper = http.DefaultTransport
	if t, ok := transport.(*http.Transport); ok {
		transport = cfg.TLS.Transport(t)
	}
	hc := http.Client{Transport: transport}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	return c, nil
}

// FrameworkID returns the framework id assigned by the master (or given in
// Config.Framework), or nil before the first SUBSCRIBED.
func (c *Client) FrameworkID() *mesospb.FrameworkID {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.framework.Id == nil {
		return nil
	}
	return proto.CloneOf(c.framework.Id)
}

// StreamID returns the Mesos-Stream-Id of the current subscription, or "".
func (c *Client) StreamID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streamID
}

// Close releases what New created: the detector made from Config.Master
// (for a zk:// master, its ZooKeeper session). A detector passed in
// Config.Detector is the caller's to close. Call it once Run has returned.
func (c *Client) Close() error {
	if c.own {
		return c.det.Close()
	}
	return nil
}

// Run subscribes and hands every event to handler until ctx ends, handler
// returns an error, the master sends ERROR, the master rejects SUBSCRIBE for
// good, or OnDisconnect says stop. It re-subscribes (with backoff) after
// transient failures. See the package documentation for the details and for
// the goroutine the handler runs on.
func (c *Client) Run(ctx context.Context, handler func(ctx context.Context, ev *schedulerpb.Event) error) error {
	if handler == nil {
		return fmt.Errorf("%w: nil handler", ErrConfig)
	}
	if !c.running.TryLock() {
		return ErrRunning
	}
	defer c.running.Unlock()

	failures := 0
	for {
		leader, err := c.det.Detect(ctx, nil)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("scheduler: detecting the leading master: %w", err)
		}
		got, err := c.subscribe(ctx, leader, handler)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if got {
			failures = 0
		}
		if stop, final := permanent(err); stop {
			return final
		}
		failures++
		c.log.Warn("scheduler: subscription ended", "master", leader.Address(), "error", err, "failures", failures)
		if hook := c.cfg.OnDisconnect; hook != nil {
			c.mu.Lock()
			ever := c.everSubscr
			c.mu.Unlock()
			if herr := hook(err, failures, ever); herr != nil {
				return herr
			}
		}
		moved, err := c.sleepOrLeaderChange(ctx, c.backoff(failures), leader)
		if err != nil {
			return err
		}
		if moved {
			// A new leader: subscribe to it now, as Mesos's scheduler
			// library connects as soon as it detects a new master, rather
			// than wait out a backoff that grew against the old one.
			failures = 0
		}
	}
}

// sleepOrLeaderChange waits d, or less when the detector reports a leader
// other than leader (then it reports moved, after a short jitter so that
// many schedulers do not all subscribe at the same instant).
func (c *Client) sleepOrLeaderChange(ctx context.Context, d time.Duration, leader *detector.Leader) (moved bool, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed := make(chan struct{})
	go func() {
		if l, err := c.det.Detect(wctx, leader); err == nil && l != nil {
			close(changed)
		}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-t.C:
		return false, nil
	case <-changed:
		return true, sleep(ctx, leaderJitter())
	}
}

// leaderJitter is up to 100 ms.
func leaderJitter() time.Duration { return time.Duration(rand.Int64N(int64(100 * time.Millisecond))) }

// backoff is an exponential delay (1s, 2s, 4s ...) capped at MaxBackoff,
// jittered uniformly into [d/2, d] so that many schedulers do not reconnect
// in lockstep after a master failover.
func (c *Client) backoff(failures int) time.Duration {
	d := initialBackoff
	for i := 1; i < failures && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// subscribe runs one subscription: SUBSCRIBE, then events until the stream
// ends. got reports whether SUBSCRIBED was received.
func (c *Client) subscribe(ctx context.Context, leader *detector.Leader, handler func(context.Context, *schedulerpb.Event) error) (got bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// The watchdog covers the wait for response headers, the first event and
	// every gap between events: Mesos sends at least a HEARTBEAT per interval.
	misses := time.Duration(c.cfg.HeartbeatMisses)
	watchdog := time.AfterFunc(misses*DefaultHeartbeatInterval, func() { cancel(ErrHeartbeatTimeout) })
	defer watchdog.Stop()

	// A detector that sees a new leader ends this subscription.
	go func() {
		if l, err := c.det.Detect(sctx, leader); err == nil {
			cancel(fmt.Errorf("%w: now %v", ErrLeaderChanged, l))
		}
	}()

	c.mu.Lock()
	call := &schedulerpb.Call{
		Type:      schedulerpb.Call_SUBSCRIBE.Enum(),
		Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: proto.CloneOf(c.framework)},
	}
	if c.framework.Id != nil {
		call.FrameworkId = proto.CloneOf(c.framework.Id)
	}
	c.mu.Unlock()

	body, err := codec.Marshal(c.cfg.ContentType, call)
	if err != nil {
		return false, &permanentError{fmt.Errorf("scheduler: encoding SUBSCRIBE: %w", err)}
	}
	start := &url.URL{Scheme: c.cfg.TLS.Scheme(), Host: leader.Address(), Path: Path}
	resp, endpoint, err := c.post(sctx, start, body, "")
	if err != nil {
		return false, cause(sctx, fmt.Errorf("scheduler: SUBSCRIBE to %s: %w", start.Host, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, statusError(schedulerpb.Call_SUBSCRIBE, endpoint, resp)
	}
	streamID := resp.Header.Get("Mesos-Stream-Id")
	if streamID == "" {
		return false, fmt.Errorf("scheduler: SUBSCRIBE response from %s has no Mesos-Stream-Id header", endpoint.Host)
	}
	mt := c.cfg.ContentType
	if h := resp.Header.Get("Content-Type"); h != "" {
		if parsed, err := codec.ParseContentType(h); err == nil {
			mt = parsed
		}
	}
	log := c.log.With("master", endpoint.Host, "stream_id", streamID)
	log.Debug("scheduler: subscription stream open")

	c.mu.Lock()
	c.endpoint, c.streamID, c.subscribed = endpoint, streamID, false
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.streamID == streamID {
			c.streamID, c.subscribed = "", false
		}
		c.mu.Unlock()
	}()

	interval := DefaultHeartbeatInterval
	rd := recordio.NewReader(resp.Body, maxRecordSize)
	for {
		rec, err := rd.ReadRecord()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = ErrStreamClosed
			}
			return got, cause(sctx, fmt.Errorf("scheduler: reading events from %s: %w", endpoint.Host, err))
		}
		watchdog.Stop()
		ev := &schedulerpb.Event{}
		// Events come from the master, not from a client to be kept in
		// check: an OFFERS event of a large cluster legitimately takes
		// more memory than the decode budget of request bodies allows.
		if err := (codec.UnmarshalOptions{Budget: codec.NoBudget}).Unmarshal(mt, rec, ev); err != nil {
			// A record we cannot decode means we no longer know where the
			// stream stands: reconnect, as Mesos's library does.
			return got, fmt.Errorf("scheduler: decoding event from %s: %w", endpoint.Host, err)
		}
		switch ev.GetType() {
		case schedulerpb.Event_SUBSCRIBED:
			sub := ev.GetSubscribed()
			if s := sub.GetHeartbeatIntervalSeconds(); s > 0 {
				interval = time.Duration(s * float64(time.Second))
			}
			c.mu.Lock()
			if sub.GetFrameworkId() != nil {
				c.framework.Id = proto.CloneOf(sub.GetFrameworkId())
			}
			c.subscribed, c.everSubscr = true, true
			c.mu.Unlock()
			got = true
			log.Debug("scheduler: subscribed", "framework_id", sub.GetFrameworkId().GetValue(), "heartbeat_interval", interval)
		case schedulerpb.Event_ERROR:
			if err := handler(sctx, ev); err != nil {
				return got, &permanentError{err}
			}
			return got, &EventError{Message: ev.GetError().GetMessage()}
		}
		if err := handler(sctx, ev); err != nil {
			return got, &permanentError{err}
		}
		watchdog.Reset(misses * interval)
	}
}

// cause prefers the reason the stream context was cancelled (heartbeat
// watchdog, leader change) over the I/O error that cancellation produced.
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) && !errors.Is(c, context.DeadlineExceeded) {
		return fmt.Errorf("%w (%v)", c, err)
	}
	return err
}

// post POSTs body to u, re-sending it to the Location of 307/308 answers
// (resolved against the current URL, so protocol-relative "//host:port/path"
// works). It returns the final response and the URL that produced it.
func (c *Client) post(ctx context.Context, u *url.URL, body []byte, streamID string) (*http.Response, *url.URL, error) {
	for range maxRedirects + 1 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", string(c.cfg.ContentType))
		req.Header.Set("Accept", string(c.cfg.ContentType))
		if streamID != "" {
			req.Header.Set("Mesos-Stream-Id", streamID)
		}
		if cr := c.cfg.Credential; cr != nil {
			req.SetBasicAuth(cr.GetPrincipal(), cr.GetSecret())
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, nil, err
		}
		if resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusPermanentRedirect {
			return resp, u, nil
		}
		loc := resp.Header.Get("Location")
		drain(resp)
		if loc == "" {
			return nil, nil, fmt.Errorf("%s from %s without a Location header", resp.Status, u.Host)
		}
		next, err := u.Parse(loc)
		if err != nil {
			return nil, nil, fmt.Errorf("bad Location %q from %s: %w", loc, u.Host, err)
		}
		c.log.Debug("scheduler: following redirect", "from", u.Host, "to", next.String())
		u = next
	}
	return nil, nil, fmt.Errorf("more than %d redirects", maxRedirects)
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
}

func statusError(t schedulerpb.Call_Type, u *url.URL, resp *http.Response) *StatusError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return &StatusError{CallType: t, Master: u.Host, Code: resp.StatusCode, Status: resp.Status, Body: string(bytes.TrimSpace(b))}
}

// Call sends a non-SUBSCRIBE call on the current subscription: it fills in
// framework_id (when unset), sends the Mesos-Stream-Id header, and returns
// nil on the expected answer (202 Accepted; 200 OK for UPDATE_FRAMEWORK),
// a [*StatusError] on any other status, or [ErrNotSubscribed] when there is
// no subscription. call itself is not modified. Call follows redirects.
// Without a ctx deadline a 75 s timeout applies.
func (c *Client) Call(ctx context.Context, call *schedulerpb.Call) error {
	if call == nil {
		return ErrNilCall
	}
	if call.GetType() == schedulerpb.Call_SUBSCRIBE {
		return fmt.Errorf("%w: SUBSCRIBE is sent by Run", ErrConfig)
	}
	c.mu.Lock()
	streamID, endpoint, fid := c.streamID, c.endpoint, c.framework.Id
	c.mu.Unlock()
	if streamID == "" || endpoint == nil {
		return fmt.Errorf("%w: cannot send %s", ErrNotSubscribed, call.GetType())
	}
	if call.FrameworkId == nil && fid != nil {
		call = proto.CloneOf(call)
		call.FrameworkId = proto.CloneOf(fid)
	}
	body, err := codec.Marshal(c.cfg.ContentType, call)
	if err != nil {
		return fmt.Errorf("scheduler: encoding %s: %w", call.GetType(), err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultCallWait)
		defer cancel()
	}
	resp, u, err := c.post(ctx, endpoint, body, streamID)
	if err != nil {
		return fmt.Errorf("scheduler: %s to %s: %w", call.GetType(), endpoint.Host, err)
	}
	defer resp.Body.Close()
	if !expected(call.GetType(), resp.StatusCode) {
		return statusError(call.GetType(), u, resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxRecordSize))
	return nil
}

func expected(t schedulerpb.Call_Type, code int) bool {
	switch t {
	case schedulerpb.Call_UPDATE_FRAMEWORK:
		return code == http.StatusOK
	case schedulerpb.Call_RECONCILE_OPERATIONS:
		return code == http.StatusOK || code == http.StatusAccepted
	default:
		return code == http.StatusAccepted
	}
}
