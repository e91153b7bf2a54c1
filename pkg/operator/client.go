// Package operator is a Go client for the operator side of a Mesos (or
// meso) cluster: the master's v1 operator API (POST /api/v1, masterpb
// calls), its event stream (SUBSCRIBE), the agents' v1 operator API
// (files, nested-container sessions) and meso's explainer endpoints
// (package explain).
//
// A [Client] is made from a --master value: "host:port",
// "http://host:port", "https://host:port" or "zk://host:port[,...]/path"
// (the leader is found with package detector). A standby master answers
// 307 with the leader's address; the client follows it and keeps talking
// to the leader. With [Config.Principal] set every request carries HTTP
// basic credentials; with [Config.TLS] on (e.g. from LIBPROCESS_SSL_*
// variables, see package tlsconfig) it speaks https.
//
// Errors: a cluster that cannot be reached gives an error wrapping
// [ErrUnreachable]; an HTTP error answer is a [*StatusError] carrying the
// status code and the body.
package operator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/tlsconfig"
)

// ErrUnreachable is wrapped by errors for a master or agent that cannot be
// connected to (refused, no route, DNS failure, timeout while connecting),
// or for a zk:// URL under which no leader can be found.
var ErrUnreachable = errors.New("operator: cannot reach")

// StatusError is an HTTP error answer from a master or an agent.
type StatusError struct {
	// What was asked, e.g. "GET_STATE" or "/master/explain/task".
	Op string
	// URL is where it was asked.
	URL  string
	Code int
	// Body is the answer's text (Mesos puts the reason there), trimmed.
	Body string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s: %s answered %d %s", e.Op, e.URL, e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Config configures a [Client].
type Config struct {
	// Master is "host:port", "http(s)://host:port" or "zk://.../path";
	// empty means 127.0.0.1:5050.
	Master string
	// Principal and Secret are sent as HTTP basic credentials when
	// Principal is set.
	Principal, Secret string
	// TLS, when on, makes the client speak https (unless Master names a
	// scheme) and verify peers as libprocess does. Nil: plain http.
	TLS *tlsconfig.Config
	// Timeout bounds each non-streaming request (0: 30 seconds).
	Timeout time.Duration
	// HTTPClient replaces the client made from TLS (tests). Its
	// CheckRedirect is not used: the client follows 307s itself.
	HTTPClient *http.Client
}

// Client talks to a cluster's leading master and its agents. It is safe
// for concurrent use. Close it to stop ZooKeeper detection.
type Client struct {
	cfg      Config
	hc       *http.Client // no timeout: streams; requests get a context deadline
	scheme   string
	det      detector.Detector // nil for a fixed master
	mu       sync.Mutex
	leader   string // "host:port" of the master last known to lead
	explicit string // the scheme named by Master, if any
}

// New makes a client. It does not contact the cluster.
func New(cfg Config) (*Client, error) {
	if cfg.Master == "" {
		cfg.Master = "127.0.0.1:5050"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	c := &Client{cfg: cfg, scheme: "http"}
	if cfg.TLS.On() {
		c.scheme = "https"
	}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		c.hc = &hc
	} else {
		c.hc = &http.Client{Transport: cfg.TLS.Transport(nil)}
	}
	c.hc.Timeout = 0
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	m := cfg.Master
	switch {
	case strings.HasPrefix(m, "zk://") || strings.HasPrefix(m, "file://"):
		d, err := detector.New(m)
		if err != nil {
			return nil, fmt.Errorf("operator: master %q: %w", m, err)
		}
		c.det = d
	default:
		if u, err := url.Parse(m); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			c.scheme, c.explicit = u.Scheme, u.Scheme
			m = u.Host
		}
		l, err := detector.Parse(m)
		if err != nil {
			return nil, fmt.Errorf("operator: master %q: %w", cfg.Master, err)
		}
		c.leader = l.Address()
	}
	return c, nil
}

// Close releases the leader detector (zk:// masters) and idle
// connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	if c.det != nil {
		return c.det.Close()
	}
	return nil
}

// Master is the --master value the client was made with.
func (c *Client) Master() string { return c.cfg.Master }

// Leader returns the base URL ("http://host:port") of the master the client
// talks to: the one given, the last one a standby redirected to, or the
// one ZooKeeper names.
func (c *Client) Leader(ctx context.Context) (string, error) {
	c.mu.Lock()
	l := c.leader
	c.mu.Unlock()
	if l == "" && c.det != nil {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
		leader, err := c.det.Detect(ctx, nil)
		if err != nil {
			return "", fmt.Errorf("%w a leading master under %s: %v", ErrUnreachable, c.cfg.Master, err)
		}
		l = leader.Address()
		c.mu.Lock()
		c.leader = l
		c.mu.Unlock()
	}
	return c.scheme + "://" + l, nil
}

// request is one HTTP request the client may have to repeat at a leader.
type request struct {
	op, method, path string // path relative to the master, or absolute URL
	body             []byte
	header           http.Header
	stream           bool // no timeout: the caller reads the body as a stream
	agent            bool // path is an absolute URL of an agent: no redirects
}

// do sends r to the leader (following up to 3 redirects) and returns a
// 2xx response; any other status is a *StatusError.
func (c *Client) do(ctx context.Context, r request) (*http.Response, context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	if !r.stream {
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
	}
	target := r.path
	if !r.agent {
		base, err := c.Leader(ctx)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		target = base + r.path
	}
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, r.method, target, bytes.NewReader(r.body))
		if err != nil {
			cancel()
			return nil, nil, err
		}
		for k, v := range r.header {
			req.Header[k] = v
		}
		if c.cfg.Principal != "" {
			req.SetBasicAuth(c.cfg.Principal, c.cfg.Secret)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			cancel()
			return nil, nil, c.transportError(r, target, err)
		}
		if resp.StatusCode == http.StatusTemporaryRedirect || resp.StatusCode == http.StatusPermanentRedirect {
			loc := resp.Header.Get("Location")
			drain(resp)
			if loc == "" || hop >= 3 || r.agent {
				cancel()
				return nil, nil, &StatusError{Op: r.op, URL: target, Code: resp.StatusCode, Body: "redirected to " + loc}
			}
			next, err := req.URL.Parse(loc)
			if err != nil {
				cancel()
				return nil, nil, fmt.Errorf("operator: %s: bad redirect %q: %w", r.op, loc, err)
			}
			if c.explicit == "" {
				next.Scheme = c.scheme // a standby names the leader as //host:port
			}
			c.mu.Lock()
			c.leader = next.Host
			c.mu.Unlock()
			target = next.String()
			continue
		}
		if resp.StatusCode/100 != 2 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			cancel()
			return nil, nil, &StatusError{Op: r.op, URL: target, Code: resp.StatusCode, Body: strings.TrimSpace(string(b))}
		}
		return resp, cancel, nil
	}
}

func (c *Client) transportError(r request, target string, err error) error {
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &op) || errors.As(err, &dns) {
		// A master that was redirected to may be gone: ask again next time.
		if !r.agent {
			c.mu.Lock()
			if c.det != nil {
				c.leader = ""
			}
			c.mu.Unlock()
		}
		msg := err.Error()
		if op != nil && op.Err != nil {
			msg = op.Err.Error()
		} else if dns != nil {
			msg = dns.Error()
		}
		return fmt.Errorf("%w %s: %s", ErrUnreachable, hostOf(target), msg)
	}
	return fmt.Errorf("operator: %s: %w", r.op, err)
}

func hostOf(target string) string {
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		return u.Host
	}
	return target
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// Call sends a master operator call and returns its response (nil for
// calls answered 202 Accepted without a body).
func (c *Client) Call(ctx context.Context, call *masterpb.Call) (*masterpb.Response, error) {
	out := &masterpb.Response{}
	ok, err := c.roundTrip(ctx, request{op: call.GetType().String(), method: http.MethodPost, path: "/api/v1"}, call, out)
	if !ok {
		return nil, err
	}
	return out, nil
}

// trusted decodes what a master or an agent answers. The answers of a
// large cluster (GET_STATE) denote far more than the decode budget allows
// a request body; they come from the cluster itself, so no budget applies.
var trusted = codec.UnmarshalOptions{Budget: codec.NoBudget}

// roundTrip POSTs call in protobuf as req says and decodes the answer into
// out; ok is false when the answer had no body (202 Accepted).
func (c *Client) roundTrip(ctx context.Context, req request, call, out proto.Message) (ok bool, err error) {
	body, err := codec.Marshal(codec.Protobuf, call)
	if err != nil {
		return false, fmt.Errorf("operator: %s: %w", req.op, err)
	}
	req.body = body
	req.header = http.Header{"Content-Type": {string(codec.Protobuf)}, "Accept": {string(codec.Protobuf)}}
	resp, cancel, err := c.do(ctx, req)
	if err != nil {
		return false, err
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, fmt.Errorf("operator: %s: reading the answer: %w", req.op, err)
	}
	if len(b) == 0 {
		return false, nil
	}
	if err := trusted.Unmarshal(codec.Protobuf, b, out); err != nil {
		return false, fmt.Errorf("operator: %s: decoding the answer: %w", req.op, err)
	}
	return true, nil
}

func call(t masterpb.Call_Type) *masterpb.Call { return &masterpb.Call{Type: t.Enum()} }

// GetState is GET_STATE: agents, frameworks, tasks and executors.
func (c *Client) GetState(ctx context.Context) (*masterpb.Response_GetState, error) {
	r, err := c.Call(ctx, call(masterpb.Call_GET_STATE))
	return r.GetGetState(), err
}

// GetMaster is GET_MASTER: the leader's MasterInfo and times.
func (c *Client) GetMaster(ctx context.Context) (*masterpb.Response_GetMaster, error) {
	r, err := c.Call(ctx, call(masterpb.Call_GET_MASTER))
	return r.GetGetMaster(), err
}

// GetVersion is GET_VERSION.
func (c *Client) GetVersion(ctx context.Context) (*masterpb.Response_GetVersion, error) {
	r, err := c.Call(ctx, call(masterpb.Call_GET_VERSION))
	return r.GetGetVersion(), err
}

// GetAgents is GET_AGENTS.
func (c *Client) GetAgents(ctx context.Context) (*masterpb.Response_GetAgents, error) {
	r, err := c.Call(ctx, call(masterpb.Call_GET_AGENTS))
	return r.GetGetAgents(), err
}

// GetFrameworks is GET_FRAMEWORKS.
func (c *Client) GetFrameworks(ctx context.Context) (*masterpb.Response_GetFrameworks, error) {
	r, err := c.Call(ctx, call(masterpb.Call_GET_FRAMEWORKS))
	return r.GetGetFrameworks(), err
}

// GetTasks is GET_TASKS.
func (c *Client) GetTasks(ctx context.Context) (*masterpb.Response_GetTasks, error) {
	r, err := c.Call(ctx, call(masterpb.Call_GET_TASKS))
	return r.GetGetTasks(), err
}

// GetRoles is GET_ROLES.
func (c *Client) GetRoles(ctx context.Context) (*masterpb.Response_GetRoles, error) {
	r, err := c.Call(ctx, call(masterpb.Call_GET_ROLES))
	return r.GetGetRoles(), err
}

// GetQuota is GET_QUOTA.
func (c *Client) GetQuota(ctx context.Context) (*masterpb.Response_GetQuota, error) {
	r, err := c.Call(ctx, call(masterpb.Call_GET_QUOTA))
	return r.GetGetQuota(), err
}

// UpdateQuota is UPDATE_QUOTA (force skips the master's capacity check).
func (c *Client) UpdateQuota(ctx context.Context, force bool, configs ...*quotapb.QuotaConfig) error {
	_, err := c.Call(ctx, &masterpb.Call{Type: masterpb.Call_UPDATE_QUOTA.Enum(),
		UpdateQuota: &masterpb.Call_UpdateQuota{Force: proto.Bool(force), QuotaConfigs: configs}})
	return err
}

// GetWeights is GET_WEIGHTS.
func (c *Client) GetWeights(ctx context.Context) (*masterpb.Response_GetWeights, error) {
	r, err := c.Call(ctx, call(masterpb.Call_GET_WEIGHTS))
	return r.GetGetWeights(), err
}

// UpdateWeights is UPDATE_WEIGHTS.
func (c *Client) UpdateWeights(ctx context.Context, weights ...*mesospb.WeightInfo) error {
	_, err := c.Call(ctx, &masterpb.Call{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(),
		UpdateWeights: &masterpb.Call_UpdateWeights{WeightInfos: weights}})
	return err
}

// DeactivateAgent is DEACTIVATE_AGENT: no more offers of the agent's
// resources; its tasks keep running.
func (c *Client) DeactivateAgent(ctx context.Context, agentID string) error {
	_, err := c.Call(ctx, &masterpb.Call{Type: masterpb.Call_DEACTIVATE_AGENT.Enum(),
		DeactivateAgent: &masterpb.Call_DeactivateAgent{AgentId: agentIDOf(agentID)}})
	return err
}

// ReactivateAgent is REACTIVATE_AGENT.
func (c *Client) ReactivateAgent(ctx context.Context, agentID string) error {
	_, err := c.Call(ctx, &masterpb.Call{Type: masterpb.Call_REACTIVATE_AGENT.Enum(),
		ReactivateAgent: &masterpb.Call_ReactivateAgent{AgentId: agentIDOf(agentID)}})
	return err
}

// DrainAgent is DRAIN_AGENT. A master that does not implement it answers
// 501 (a *StatusError).
func (c *Client) DrainAgent(ctx context.Context, agentID string, markGone bool) error {
	_, err := c.Call(ctx, &masterpb.Call{Type: masterpb.Call_DRAIN_AGENT.Enum(),
		DrainAgent: &masterpb.Call_DrainAgent{AgentId: agentIDOf(agentID), MarkGone: proto.Bool(markGone)}})
	return err
}

func agentIDOf(id string) *mesospb.AgentID { return &mesospb.AgentID{Value: proto.String(id)} }
