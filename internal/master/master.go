package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/buildinfo"
	"github.com/meso-project/meso/internal/files"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/ratelimit"
	"github.com/meso-project/meso/pkg/detector"
)

// MesosVersion is the Apache Mesos release whose wire behaviour meso
// reproduces; it is what /version, /state and MasterInfo.version report.
const MesosVersion = buildinfo.MesosVersion

// Version is meso's own version, reported beside MesosVersion.
var Version = "0.1.0-dev"

// Sentinel errors of the master. HTTP handlers map them to status codes.
var (
	// ErrStopped is returned to requests that arrive after the master stopped.
	ErrStopped = errors.New("master: stopped")
	// ErrNoAllocator is returned by New when Config.Allocator is nil.
	ErrNoAllocator = errors.New("master: an allocator is required")
)

// Config configures a master. The zero value of every field means Mesos's
// default (spec §7.12).
type Config struct {
	Logger *slog.Logger
	// BodyReadTimeout bounds reading one request body (see
	// httpapi.BodyDeadline); 0 means httpapi.DefaultBodyReadTimeout, a
	// negative value none (Mesos's libprocess has no such limit). Added
	// field.
	BodyReadTimeout time.Duration
	// MaxConnectionsPerIP bounds the open connections from one client
	// address (see httpapi.LimitListener); 0 means
	// httpapi.DefaultMaxConnectionsPerIP, a negative value none. Added
	// field.
	MaxConnectionsPerIP int
	// EnablePprof serves Go's runtime profiles at /debug/pprof/
	// (--enable_pprof, an addition; httpapi.RegisterPprof).
	EnablePprof bool
	// LogLevel, when set, is the level of Logger's handler:
	// SET_LOGGING_LEVEL lowers it for a while (operator_read.go). Without
	// it the call is answered but changes nothing. Added field.
	LogLevel *slog.LevelVar
	// LogFile, if set, is the master's log file, served by /files and
	// LIST_FILES/READ_FILE at files.MasterLogVirtualPath ("/master/log"),
	// as Mesos attaches --external_log_file or <log_dir>/mesos-master.INFO.
	// Added field.
	LogFile string
	// Hostname advertised in MasterInfo, offers' URLs and /state; default:
	// the listener's IP (Mesos's --hostname falls back to a reverse lookup;
	// we prefer the IP so that every client can reach it).
	Hostname string
	// Allocator decides offers; required (the composition root picks it).
	Allocator allocator.Allocator
	// AllocationInterval is the batch allocation interval
	// (--allocation_interval, default 1s).
	AllocationInterval time.Duration
	// OfferTimeout rescinds offers not answered within it
	// (--offer_timeout; 0 = never).
	OfferTimeout time.Duration
	// HeartbeatInterval is the scheduler HEARTBEAT period (15s in Mesos,
	// where it is not configurable; tests shorten it).
	HeartbeatInterval time.Duration
	// AgentPingTimeout is how long the master waits for a PONG before
	// counting a missed ping (--agent_ping_timeout, default 15s). Pings are
	// sent once per AgentPingTimeout.
	AgentPingTimeout time.Duration
	// MaxAgentPingTimeouts is how many consecutive missed pings make an
	// agent unreachable (--max_agent_ping_timeouts, default 5).
	MaxAgentPingTimeouts int
	// MaxCompletedFrameworks (--max_completed_frameworks, 50) and
	// MaxCompletedTasksPerFramework (--max_completed_tasks_per_framework,
	// 1000) bound the history kept for /state.
	MaxCompletedFrameworks, MaxCompletedTasksPerFramework int
	// Flags are shown in /flags and /state "flags".
	Flags map[string]string
	// Authorizer authorizes what principals may do and see (--acls with
	// --authorizers=local, authz.Local); nil allows everything, as Mesos
	// without --acls. It is called on the actor loop: it must not block.
	// See authz.go. Added field.
	Authorizer authz.Authorizer

	// MaxUnreachableTasksPerFramework bounds unreachable_tasks per framework
	// (--max_unreachable_tasks_per_framework, default 1000). Added field.
	MaxUnreachableTasksPerFramework int
	// Cluster is the optional cluster name shown in /state (--cluster).
	// Added field.
	Cluster string
	// Now returns the current time; default time.Now. Added field for tests.
	Now func() time.Time
	// Weights are the role weights of --weights. The allocator gets them
	// through its own Options; the master reports them (GET_WEIGHTS,
	// /weights, /roles) until an operator changes them. Added field.
	Weights map[string]float64

	// Registrar keeps the registry durable (--registry); nil: nothing is
	// durable (unit tests). Added field.
	Registrar Registrar
	// RegistryGCInterval is how often the leader prunes the registry's
	// unreachable and gone agents (--registry_gc_interval, default 15
	// minutes); RegistryMaxAgentAge and RegistryMaxAgentCount bound them
	// (--registry_max_agent_age 2 weeks, --registry_max_agent_count 102400).
	RegistryGCInterval    time.Duration
	RegistryMaxAgentAge   time.Duration
	RegistryMaxAgentCount int
	// Contender enters this master into the leader election (--zk); nil:
	// this master leads alone from the start. Added field.
	Contender Contender
	// Detector follows the leading master so that a standby can redirect
	// to it (--zk); nil without a Contender. Added field.
	Detector detector.Detector
	// AgentReregisterTimeout is how long a new leader waits for the agents
	// of its registry to re-register before it marks the rest unreachable
	// (--agent_reregister_timeout, default 10 minutes).
	AgentReregisterTimeout time.Duration
	// RecoveryAgentRemovalLimit is the largest fraction (0..1) of the
	// registry's agents that may be marked unreachable when
	// AgentReregisterTimeout expires; above it the master exits instead
	// (--recovery_agent_removal_limit; nil means Mesos's default, 100%).
	RecoveryAgentRemovalLimit *float64
	// MaxOperatorEventStreamSubscribers bounds the operator SUBSCRIBE
	// streams; a new one past it closes the oldest
	// (--max_operator_event_stream_subscribers, default 1000).
	MaxOperatorEventStreamSubscribers int
	// MaxEventQueueBytes bounds the events queued for one stream
	// (scheduler, operator and agent streams) and not yet written to its
	// client, in encoded bytes; a stream past it is disconnected, with a
	// logged reason (the client can subscribe again), so that a client
	// that stops reading cannot grow the master. Mesos has no such bound.
	// Default 64 MB; a stream's first event (an operator SUBSCRIBED
	// holding the whole state) always fits. Added field.
	MaxEventQueueBytes int
	// RateLimits is --rate_limits (already checked with
	// ratelimit.Validate): the scheduler calls of frameworks are throttled
	// by the principal of their FrameworkInfo (ratelimiting.go). nil: no
	// rate limiting.
	RateLimits *mesospb.RateLimits
	// Authenticators authenticate the master's HTTP realms
	// (--authenticate_http_readonly, --authenticate_http_readwrite,
	// --authenticate_http_frameworks and, for the agent protocol,
	// --authenticate_agents); a realm without one is open (authn.go).
	// Added field.
	Authenticators authn.Realms
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.AllocationInterval <= 0 {
		c.AllocationInterval = time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 15 * time.Second
	}
	if c.AgentPingTimeout <= 0 {
		c.AgentPingTimeout = 15 * time.Second
	}
	if c.MaxAgentPingTimeouts <= 0 {
		c.MaxAgentPingTimeouts = 5
	}
	if c.MaxCompletedFrameworks <= 0 {
		c.MaxCompletedFrameworks = 50
	}
	if c.MaxCompletedTasksPerFramework <= 0 {
		c.MaxCompletedTasksPerFramework = 1000
	}
	if c.MaxUnreachableTasksPerFramework <= 0 {
		c.MaxUnreachableTasksPerFramework = 1000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AgentReregisterTimeout <= 0 {
		c.AgentReregisterTimeout = 10 * time.Minute
	}
	if c.RegistryGCInterval <= 0 {
		c.RegistryGCInterval = 15 * time.Minute
	}
	if c.RegistryMaxAgentAge <= 0 {
		c.RegistryMaxAgentAge = 14 * 24 * time.Hour
	}
	if c.RegistryMaxAgentCount <= 0 {
		c.RegistryMaxAgentCount = 102400
	}
	if c.MaxOperatorEventStreamSubscribers <= 0 {
		c.MaxOperatorEventStreamSubscribers = 1000
	}
	if c.MaxEventQueueBytes <= 0 {
		c.MaxEventQueueBytes = 64 << 20
	}
	if c.RecoveryAgentRemovalLimit == nil {
		c.RecoveryAgentRemovalLimit = ptr(1.0)
	}
}

// Master is a Mesos master. All of its state is owned by one goroutine (the
// actor loop started by Serve); HTTP handlers and timers talk to it through
// requests that the loop executes one at a time.
type Master struct {
	cfg   Config
	log   *slog.Logger
	alloc allocator.Allocator
	id    string
	reqs  chan request
	ready chan struct{} // closed once this master leads and has recovered
	done  chan struct{} // closed when the loop has stopped

	// elected is set once this master is elected (at once without a
	// Contender); detected is the leader a standby redirects to.
	elected  atomic.Bool
	detected atomic.Pointer[string]
	self     atomic.Pointer[string] // this master's hostname:port, as detectors report it
	// fatal is why the loop stopped on its own (lost leadership, a failed
	// registry write); Serve returns it.
	fatal error
	// ctx is the loop's context: registry writes and recovery end with it.
	ctx context.Context
	// gate holds what the loop produces until the registry writes it
	// follows are durable (outbox.go).
	gate durability

	handlerOnce sync.Once
	handler     http.Handler
	// files serves /files and LIST_FILES/READ_FILE (files.go); it is safe
	// for concurrent use and lives outside the loop, as Mesos's files
	// process does.
	files *files.Files

	// limiters throttle scheduler calls (--rate_limits); nil: none. Safe
	// for concurrent use.
	limiters *ratelimit.Limiters

	// Everything below is owned by the loop goroutine.
	st *state
}

// request is one unit of work for the actor loop. fn runs on the loop;
// reply is closed after it returns.
type request struct {
	fn    func()
	reply chan struct{}
}

// New checks the config and builds a master. Nothing runs until Serve.
func New(cfg Config) (*Master, error) {
	if cfg.Allocator == nil {
		return nil, ErrNoAllocator
	}
	cfg.setDefaults()
	if cfg.Weights == nil {
		cfg.Weights = map[string]float64{}
	}
	m := &Master{
		cfg:   cfg,
		log:   cfg.Logger,
		alloc: cfg.Allocator,
		id:    uuid.NewString(),
		reqs:  make(chan request),
		ready: make(chan struct{}),
		done:  make(chan struct{}),
	}
	if cfg.Contender == nil {
		m.elected.Store(true)
	}
	if cfg.RateLimits != nil {
		if err := ratelimit.Validate(cfg.RateLimits); err != nil {
			return nil, fmt.Errorf("master: %w", err)
		}
		m.limiters = ratelimit.New(cfg.RateLimits)
	}
	m.st = newState(m)
	m.files = newFiles(cfg.LogFile, m.log)
	return m, nil
}

// bodyTimeout and connLimit apply the defaults of Config's
// BodyReadTimeout and MaxConnectionsPerIP.
func bodyTimeout(d time.Duration) time.Duration {
	if d == 0 {
		return httpapi.DefaultBodyReadTimeout
	}
	return d
}

func connLimit(n int) int {
	if n == 0 {
		return httpapi.DefaultMaxConnectionsPerIP
	}
	return n
}

// ID returns the master's ID (MasterInfo.id), a UUID chosen by New.
func (m *Master) ID() string { return m.id }

// Serve runs the actor loop and serves HTTP on ln until ctx is done. The
// MasterInfo ip and port are taken from ln.Addr(). It returns nil after a
// clean shutdown caused by ctx.
func (m *Master) Serve(ctx context.Context, ln net.Listener) error {
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("master: listener address %v is not TCP", ln.Addr())
	}
	ln = httpapi.LimitListener(ln, connLimit(m.cfg.MaxConnectionsPerIP), m.log)
	srv := &http.Server{
		Handler:           httpapi.BodyDeadline(m.Handler(), bodyTimeout(m.cfg.BodyReadTimeout)),
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		m.run(loopCtx, addr)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx) // streams end when the loop stops
		<-loopDone
		_ = srv.Close()
		return nil
	case <-loopDone:
		// The loop stopped on its own: leadership lost or the registry
		// failed. Mesos exits at once; streams are cut, not drained.
		_ = srv.Close()
		return m.fatal
	case err := <-errc:
		<-loopDone
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("master: serving HTTP: %w", err)
	}
}

// run is the actor loop. It serves requests from the start (a standby
// answers /metrics/snapshot and /flags), contends for leadership, recovers
// the registry once elected and only then lets gated requests in (ready),
// allocates and pings agents.
func (m *Master) run(ctx context.Context, addr *net.TCPAddr) {
	defer close(m.done)
	m.ctx = ctx
	st := m.st
	st.start(addr)
	self := (&detector.Leader{Host: st.info.GetHostname(), Port: int(st.info.GetPort())}).Address()
	m.self.Store(&self)
	m.log.Info("master started", "master_id", m.id, "pid", st.info.GetPid())

	type election struct {
		lost <-chan struct{}
		err  error
	}
	electedc := make(chan election, 1)
	if c := m.cfg.Contender; c == nil {
		electedc <- election{}
	} else {
		info := proto.Clone(st.info).(*mesospb.MasterInfo)
		go func() {
			lost, err := c.Contend(ctx, info)
			electedc <- election{lost, err}
		}()
	}
	if d := m.cfg.Detector; d != nil {
		go m.follow(ctx, d)
	}
	var lost <-chan struct{}

	allocTick := time.NewTicker(m.cfg.AllocationInterval)
	defer allocTick.Stop()
	// The agents are pinged a group at a time (pingGroups), each once per
	// AgentPingTimeout.
	groups, group := pingGroupsFor(m.cfg.AgentPingTimeout), 0
	pingTick := time.NewTicker(m.cfg.AgentPingTimeout / time.Duration(groups))
	defer pingTick.Stop()

	for {
		select {
		case <-ctx.Done():
			st.shutdown()
			return
		case e := <-electedc:
			if e.err != nil {
				if ctx.Err() == nil {
					m.fatal = fmt.Errorf("master: contending for leadership: %w", e.err)
					m.log.Error("leader election failed", "err", e.err)
				}
				st.shutdown()
				return
			}
			lost = e.lost
			m.elected.Store(true)
			st.elected()
			m.log.Info("elected as the leading master", "master_id", m.id)
			st.recover()
		case <-lost:
			if ctx.Err() != nil { // the candidacy ended with ctx: a clean stop
				st.shutdown()
				return
			}
			m.fatal = ErrLostLeadership
			m.log.Error("lost leadership; exiting as Mesos does (commit suicide)", "master_id", m.id)
			st.shutdown()
			return
		case r := <-m.reqs:
			r.fn()
			st.answer(r.reply)
		case <-allocTick.C:
			if st.serving && m.leaseValid() {
				st.allocate()
			}
		case <-pingTick.C:
			if st.serving && m.leaseValid() {
				st.pingGroup(group, groups)
			}
			group = (group + 1) % groups
		}
		if m.afterEvent(st) {
			return
		}
	}
}

// maxRequestsBeforeAllocation bounds how many waiting requests afterEvent lets
// go before a triggered allocation.
const maxRequestsBeforeAllocation = 256

// afterEvent runs after each event of the loop: it ends the master after a
// failure (reporting true), and runs a triggered allocation. Requests
// already waiting for the loop go first, as in Mesos, where the
// allocator's dispatch queues behind the messages before it: a burst of
// status updates ending tasks makes one allocation, not one each.
func (m *Master) afterEvent(st *state) bool {
	for waited := 0; ; waited++ {
		if st.failed != nil {
			m.fatal = st.failed
			st.shutdown()
			return true
		}
		if !st.allocationPending || !st.serving || !m.leaseValid() {
			return false
		}
		if waited < maxRequestsBeforeAllocation {
			select {
			case r := <-m.reqs:
				r.fn()
				st.answer(r.reply)
				continue
			default:
			}
		}
		st.allocate()
		return false
	}
}

// do runs fn on the actor loop and waits for it. It returns ErrStopped when
// the master is not running (anymore), or ctx's error.
func (m *Master) do(ctx context.Context, fn func()) error {
	r := request{fn: fn, reply: make(chan struct{})}
	select {
	case m.reqs <- r:
	case <-m.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once accepted the loop always finishes fn before looking at ctx.
	<-r.reply
	return nil
}

// post runs fn on the actor loop without waiting (timers use it). It is
// dropped when the master has stopped.
func (m *Master) post(fn func()) {
	go func() {
		select {
		case m.reqs <- request{fn: fn, reply: make(chan struct{})}:
		case <-m.done:
		}
	}()
}

// after runs fn on the loop after d. The returned timer may be stopped.
func (m *Master) after(d time.Duration, fn func()) *time.Timer {
	return time.AfterFunc(d, func() { m.post(fn) })
}

// pidString formats a libprocess PID, e.g. master@127.0.0.1:5050.
func pidString(id string, ip net.IP, port int) string {
	return id + "@" + net.JoinHostPort(ip.String(), strconv.Itoa(port))
}

// packIP encodes an IPv4 address as Mesos stores it in MasterInfo.ip: the
// four bytes in network order read as a little-endian uint32
// (127.0.0.1 -> 16777343).
func packIP(ip net.IP) uint32 {
	v4 := ip.To4()
	if v4 == nil {
		return 0
	}
	return uint32(v4[0]) | uint32(v4[1])<<8 | uint32(v4[2])<<16 | uint32(v4[3])<<24
}

// buildMasterInfo builds MasterInfo for the listener address.
func buildMasterInfo(id, hostname string, addr *net.TCPAddr) *mesospb.MasterInfo {
	ip := addr.IP
	if ip == nil || ip.IsUnspecified() {
		ip = outboundIP()
	}
	if hostname == "" {
		hostname = ip.String()
	}
	pid := pidString("master", ip, addr.Port)
	return &mesospb.MasterInfo{
		Id:       &id,
		Ip:       ptr(packIP(ip)),
		Port:     ptr(uint32(addr.Port)),
		Pid:      &pid,
		Hostname: &hostname,
		Version:  ptr(MesosVersion),
		Address: &mesospb.Address{
			Hostname: &hostname,
			Ip:       ptr(ip.String()),
			Port:     ptr(int32(addr.Port)),
		},
		// Mesos 1.11.0's MASTER_CAPABILITIES. QUOTA_V2 (3) is declared
		// only in its v0 proto: the v1 protobuf carries the number, v1 JSON
		// shows {}, and /state and the json.info_ znode, written from v0,
		// show "QUOTA_V2" (see codec.EnumNameV0).
		Capabilities: []*mesospb.MasterInfo_Capability{
			{Type: mesospb.MasterInfo_Capability_AGENT_UPDATE.Enum()},
			{Type: mesospb.MasterInfo_Capability_AGENT_DRAINING.Enum()},
			{Type: mesospb.MasterInfo_Capability_Type(3).Enum()}, // QUOTA_V2
		},
	}
}

// outboundIP picks a non-loopback IPv4 address of this host for a wildcard
// listener, falling back to 127.0.0.1.
func outboundIP() net.IP {
	if h, err := os.Hostname(); err == nil {
		if ips, err := net.LookupIP(h); err == nil {
			for _, ip := range ips {
				if v4 := ip.To4(); v4 != nil && !v4.IsLoopback() {
					return v4
				}
			}
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if v4 := n.IP.To4(); v4 != nil && !v4.IsLoopback() {
					return v4
				}
			}
		}
	}
	return net.IPv4(127, 0, 0, 1).To4()
}

func ptr[T any](v T) *T { return &v }
