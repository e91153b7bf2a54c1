package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/agent/fetcher"
	"github.com/meso-project/meso/internal/agent/gc"
	"github.com/meso-project/meso/internal/agent/statusupdate"
	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/buildinfo"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/files"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/resources"
	"github.com/meso-project/meso/pkg/tlsconfig"
)

// Version is the Mesos version the agent reports (/version, /state, the
// registration call): tools parse it, so it follows Mesos's numbering.
const Version = buildinfo.MesosVersion

// Defaults (Mesos's flag defaults, src/slave/constants.hpp).
const (
	DefaultExecutorRegistrationTimeout = time.Minute
	DefaultExecutorShutdownGracePeriod = 5 * time.Second
	DefaultRegistrationBackoffFactor   = time.Second
	DefaultStatusUpdateRetryInterval   = 10 * time.Second
	// MaxRegistrationBackoff caps the registration backoff.
	MaxRegistrationBackoff = time.Minute
	// MaxStatusUpdateRetryInterval caps the status update retry interval.
	MaxStatusUpdateRetryInterval = 10 * time.Minute
	// DefaultPingTimeout is used when the master does not send one
	// (agent_ping_timeout 15 s x max_agent_ping_timeouts 5).
	DefaultPingTimeout = 75 * time.Second
	// ExecutorHeartbeatInterval is how often the agent sends HEARTBEAT on an
	// executor's stream (DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL).
	ExecutorHeartbeatInterval = 30 * time.Minute

	maxCompletedFrameworks            = 50
	maxCompletedExecutorsPerFramework = 150
	maxCompletedTasksPerExecutor      = 200
)

// Sentinel errors.
var (
	// ErrConfig marks an invalid Config.
	ErrConfig = errors.New("agent: invalid configuration")
	// ErrShutdown is returned by Serve when the master told the agent to shut
	// down (e.g. it was marked gone).
	ErrShutdown = errors.New("agent: shut down by the master")
	// errStopped is returned to callers of a stopped actor.
	errStopped = errors.New("agent: stopped")
)

// Config configures an Agent. Zero durations take Mesos's defaults.
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
	// Authorizer authorizes what principals may do and see on the agent
	// (--acls with --authorizers=local, authz.Local); nil allows
	// everything, as Mesos without --acls. It is called on the actor
	// too: it must not block. See authz.go. Added field.
	Authorizer authz.Authorizer
	// LogLevel, when set, is the level of Logger's handler: the operator
	// API's SET_LOGGING_LEVEL lowers it for a while (operator_api.go).
	// Without it the call is answered but changes nothing.
	LogLevel *slog.LevelVar
	// TLS is the agent's LIBPROCESS_SSL_* setting (nil: off). When on, the
	// agent reaches the master over https with it, and its executors get
	// its variables (Serve's caller wraps the listener with TLS.Listen).
	TLS *tlsconfig.Config
	// Master is the --master value: every form [detector.New] accepts
	// ("host:port", "master@host:port", "http://host:port",
	// "zk://host1:port1,.../path", "file:///path"). The agent follows the
	// leading master it names. Ignored when Detector is set.
	Master string
	// Detector, if set, finds the leading master instead of Master (the
	// composition root or a test may hand in a ready-made one). The agent
	// does not close it; a detector the agent made from Master is closed
	// when Serve returns.
	Detector detector.Detector
	// WorkDir is required.
	WorkDir  string
	Hostname string
	// Resources is --resources text or JSON; missing cpus, mem, disk and
	// ports are auto-detected (spec §7.1).
	Resources   string
	Attributes  string
	DefaultRole string // "*"
	// ExecutorCommand is how to start the built-in command executor, e.g.
	// {"/path/meso", "executor"}.
	ExecutorCommand []string
	// DefaultExecutorCommand is how to start the built-in default executor
	// (Mesos's mesos-default-executor), which runs task groups for
	// ExecutorInfos of type DEFAULT, e.g. {"/path/meso", "default-executor",
	// "--launcher_dir=/path"}. Without it such task groups fail.
	DefaultExecutorCommand      []string
	ExecutorRegistrationTimeout time.Duration // 1m
	// FetcherStallTimeout aborts a URI download that moves less than 1
	// byte/s for this long (--fetcher_stall_timeout, 60s); FrameworksHome
	// is prepended to relative URI paths (--frameworks_home).
	FetcherStallTimeout time.Duration
	FrameworksHome      string
	// FetcherCacheDir is --fetcher_cache_dir, cleared when Serve starts
	// (empty: <WorkDir>/fetch, so that agents sharing a machine in tests
	// and `meso local` do not clear each other's; the flag's default is
	// Mesos's /tmp/mesos/fetch). FetcherCacheSize is --fetcher_cache_size
	// in bytes (nil: Mesos's 2GB; 0 disables the cache).
	FetcherCacheDir             string
	FetcherCacheSize            *uint64
	ExecutorShutdownGracePeriod time.Duration // 5s
	RegistrationBackoffFactor   time.Duration // 1s
	// StatusUpdateRetryInterval is the first retry of an unacknowledged
	// status update; it doubles up to 10 minutes.
	StatusUpdateRetryInterval time.Duration // 10s
	SwitchUser                bool
	// ExecutorEnvironmentVariables are added to (and override) the
	// environment every executor inherits from the agent.
	ExecutorEnvironmentVariables map[string]string
	// LogFile, if set, is the agent's log file, served by /files at
	// /slave/log (Mesos's --log_dir or --external_log_file).
	LogFile string
	// Flags are shown in /flags and /state "flags".
	Flags map[string]string

	// CgroupsEnableCFS is the agent's --cgroups_enable_cfs: with it, tasks
	// without a cpu limit count toward their executor's (Mesos's
	// computeExecutorLimits).
	CgroupsEnableCFS bool
	// Recovery (Mesos's flags of the same names). Recover is "reconnect"
	// (the default) or "cleanup"; Strict makes any unreadable checkpoint
	// fatal (the flag's default is true); RecoveryTimeout is how long
	// executors of checkpointing frameworks wait for a restarted agent
	// (MESOS_RECOVERY_TIMEOUT, 15 min); ExecutorReregistrationTimeout is how
	// long a restarted agent waits for them (2 s, at most 15 s).
	Recover                       string
	Strict                        bool
	RecoveryTimeout               time.Duration
	ExecutorReregistrationTimeout time.Duration

	// Garbage collection of old sandboxes and checkpoints (--gc_delay,
	// --gc_disk_headroom, --disk_watch_interval; zero: Mesos's defaults,
	// except GCDiskHeadroom, which New sets only through the flag).
	GCDelay           time.Duration
	GCDiskHeadroom    float64
	DiskWatchInterval time.Duration

	// Containerizer runs the executors' containers; required. The
	// composition root builds it from the containerizer flags and closes it
	// after Serve returned.
	Containerizer containerizer.Containerizer

	// Authenticators authenticate the agent's HTTP realms
	// (--authenticate_http_readonly, _readwrite, _executors); a realm
	// without one is open (authn.go). Added field.
	Authenticators authn.Realms
	// ExecutorSecretKey, when set (--jwt_secret_key), signs each
	// executor's token (MESOS_EXECUTOR_AUTHENTICATION_TOKEN). Added field.
	ExecutorSecretKey []byte
	// Credential is the agent's credential to the master (--credential),
	// sent on the agent protocol; nil: none. Added field.
	Credential *authn.Credential
}

// Agent is a meso agent. Create it with New and run it with Serve.
type Agent struct {
	cfg Config
	log *slog.Logger
	cz  containerizer.Containerizer
	gc  *gc.GC // set by Serve
	// fetchCache is the fetcher cache (Mesos's FetcherProcess), made by
	// Serve; launch goroutines and metrics read it.
	fetchCache atomic.Pointer[fetcher.Cache]
	files      *files.Files
	det        detector.Detector
	ownDet     bool // det was made by New from Config.Master
	resources  resources.Resources
	attributes []*mesospb.Attribute
	handler    http.Handler
	startTime  time.Time

	// mailbox carries closures run by the actor goroutine; stopped is closed
	// when the actor has ended.
	mailbox chan func()
	stopped chan struct{}
	served  sync.Once

	// The fields below are owned by the actor goroutine (set before it starts
	// or only touched from it).
	ctx  context.Context // the Serve context
	info *mesospb.AgentInfo
	ip   string
	port int
	// routedIP: the agent listens on every address and ip is the one its
	// route to the leading master leaves from, re-picked per leader.
	routedIP bool
	// leader is the leading master as last detected (nil: none known);
	// masterInfo is what the master said of itself when the agent last
	// registered (nil after a leader change until the agent registers).
	leader     *detector.Leader
	masterInfo *mesospb.MasterInfo
	link       linkState
	frameworks map[string]*framework
	completed  []*framework
	// view, while /state or a GET_* answer is built for one reader,
	// filters what it shows (authz.go); nil: everything.
	view       *viewer
	updates    *statusupdate.Manager
	retryTimer *time.Timer
	retryAt    time.Time
	metrics    metrics
	// checkpointed: the agent info under the current ID is on disk.
	checkpointed bool
	terminating  bool // the master told the agent to shut down
	// recovering: waiting for recovered executors to re-subscribe before
	// registering; recoveryDone starts the master link. cleaningUp: started
	// with --recover=cleanup.
	recovering   bool
	recoveryDone func()
	reregTimer   *time.Timer
	cleaningUp   bool
	shutdown     chan struct{} // closed when terminating and every framework is gone
	out          *sender
	// logLevel is the verbosity of GET/SET_LOGGING_LEVEL (operator_api.go).
	logLevel logLevel
	// standalone are the standalone containers launched through the
	// operator API (container_api.go).
	standalone map[string]bool
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

// New validates cfg, detects the resources and returns an Agent.
func New(cfg Config) (*Agent, error) {
	if cfg.WorkDir == "" {
		return nil, fmt.Errorf("%w: a work directory is required", ErrConfig)
	}
	if cfg.Master == "" && cfg.Detector == nil {
		return nil, fmt.Errorf("%w: a master address is required", ErrConfig)
	}
	if cfg.Containerizer == nil {
		return nil, fmt.Errorf("%w: a containerizer is required", ErrConfig)
	}
	if cfg.DefaultRole == "" {
		cfg.DefaultRole = "*"
	}
	if cfg.ExecutorRegistrationTimeout <= 0 {
		cfg.ExecutorRegistrationTimeout = DefaultExecutorRegistrationTimeout
	}
	if cfg.ExecutorShutdownGracePeriod <= 0 {
		cfg.ExecutorShutdownGracePeriod = DefaultExecutorShutdownGracePeriod
	}
	if cfg.RegistrationBackoffFactor <= 0 {
		cfg.RegistrationBackoffFactor = DefaultRegistrationBackoffFactor
	}
	if cfg.StatusUpdateRetryInterval <= 0 {
		cfg.StatusUpdateRetryInterval = DefaultStatusUpdateRetryInterval
	}
	if err := validateRecoverFlags(&cfg); err != nil {
		return nil, err
	}
	if err := gc.ValidateHeadroom(cfg.GCDiskHeadroom); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res, err := detectResources(cfg.Resources, cfg.DefaultRole, cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	attrs, err := resources.ParseAttributes(cfg.Attributes)
	if err != nil {
		return nil, fmt.Errorf("%w: --attributes: %w", ErrConfig, err)
	}
	cz := cfg.Containerizer
	a := &Agent{
		cfg:        cfg,
		log:        log,
		cz:         cz,
		det:        cfg.Detector,
		resources:  res,
		attributes: attrs,
		startTime:  time.Now(),
		mailbox:    make(chan func(), 64),
		stopped:    make(chan struct{}),
		frameworks: make(map[string]*framework),
		standalone: make(map[string]bool),
		updates:    statusupdate.New(cfg.StatusUpdateRetryInterval, MaxStatusUpdateRetryInterval),
		shutdown:   make(chan struct{}),
	}
	a.info = &mesospb.AgentInfo{Resources: res, Attributes: attrs}
	if cfg.LogLevel != nil {
		a.logLevel.base = cfg.LogLevel.Level()
	}
	a.files = files.New()
	if cfg.LogFile != "" {
		// As Mesos with --log_dir or --external_log_file.
		if err := a.files.Attach(cfg.LogFile, files.AgentLogVirtualPath); err != nil {
			log.Error("cannot attach the agent's log file", "path", cfg.LogFile, "err", err)
		}
	}
	a.handler = a.routes()
	// Last, so that no other error leaves a detector (a ZooKeeper session)
	// behind.
	if a.det == nil {
		d, err := detector.New(cfg.Master)
		if err != nil {
			return nil, fmt.Errorf("%w: --master %q: %w", ErrConfig, cfg.Master, err)
		}
		a.det, a.ownDet = d, true
	}
	return a, nil
}

// Handler returns the agent's HTTP API (executor API, /state, ...). Serve
// serves it on its listener; requests reaching it while Serve is not running
// wait for the actor (until their context ends).
func (a *Agent) Handler() http.Handler { return a.handler }

// Serve registers with the master and serves HTTP on ln until ctx is done
// (it returns ctx's error) or the master shuts the agent down (ErrShutdown).
// It first recovers from the checkpoints of an earlier run (recover.go).
// Executors of checkpointing frameworks are left running when it returns
// (a restarted agent recovers them); containers of the others are
// destroyed, since their executors would exit anyway without the agent.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	first := false
	a.served.Do(func() { first = true })
	if !first {
		return errors.New("agent: Serve called twice")
	}
	if a.ownDet {
		defer a.det.Close()
	}
	host, portText, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return fmt.Errorf("agent: listener address: %w", err)
	}
	port, _ := strconv.Atoi(portText)
	ip := host
	hostname := a.cfg.Hostname
	if parsed := net.ParseIP(host); parsed == nil || parsed.IsUnspecified() {
		// Listening on every address: advertise the one the route to the
		// leading master leaves from (re-picked for each leader).
		a.routedIP = true
		if leader := a.firstLeader(ctx, firstLeaderWait); leader != nil {
			ip = outboundIP(leader.Address())
		} else {
			ip = outboundIP("")
			a.log.Warn("no leading master detected yet; advertising a provisional address", "ip", ip,
				"waited", firstLeaderWait)
			if hostname == "" {
				hostname, _ = os.Hostname()
			}
		}
	}
	a.ip, a.port = ip, port
	a.info.Port = proto32(port)
	if hostname == "" {
		hostname = lookupHostname(ctx, ip)
	}
	a.info.Hostname = &hostname

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.ctx = ctx
	a.out = newSender(a.log, a.cfg.TLS)
	a.out.client.Transport = authn.BasicTransport(a.out.client.Transport, a.cfg.Credential)
	collector, err := gc.New(gc.Config{WorkDir: a.cfg.WorkDir, Delay: a.cfg.GCDelay,
		DiskHeadroom: a.cfg.GCDiskHeadroom, DiskWatchInterval: a.cfg.DiskWatchInterval, Logger: a.log})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer collector.Close()
	a.gc = collector
	cacheDir := a.cfg.FetcherCacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(a.cfg.WorkDir, "fetch")
	}
	cacheSize := uint64(fetcher.DefaultCacheSize)
	if a.cfg.FetcherCacheSize != nil {
		cacheSize = *a.cfg.FetcherCacheSize
	}
	cache, err := fetcher.NewCache(fetcher.CacheConfig{Dir: cacheDir, Size: cacheSize,
		FrameworksHome: a.cfg.FrameworksHome, StallTimeout: a.cfg.FetcherStallTimeout, Logger: a.log})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer cache.Close()
	a.fetchCache.Store(cache)

	recovered, err := a.recoverState(ctx)
	if err != nil {
		return err
	}

	ln = httpapi.LimitListener(ln, connLimit(a.cfg.MaxConnectionsPerIP), a.log)
	srv := &http.Server{Handler: httpapi.BodyDeadline(a.handler, bodyTimeout(a.cfg.BodyReadTimeout)), ReadHeaderTimeout: 10 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()

	// The agent registers once recovered executors are back (or given up
	// on), as Mesos does.
	ready := make(chan struct{})
	linkErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); a.out.run(ctx) }()
	go func() {
		defer wg.Done()
		select {
		case <-ready:
			if err := a.runMasterLink(ctx); err != nil {
				linkErr <- err
			}
		case <-ctx.Done():
		}
	}()
	loopDone := make(chan struct{})
	go func() { defer wg.Done(); a.loop(ctx); close(loopDone) }()
	a.post(func() {
		a.collectOldAgents()
		a.resumeRecovered(recovered, func() { close(ready) })
	})

	var result error
	select {
	case <-ctx.Done():
		result = ctx.Err()
	case <-a.shutdown:
		result = ErrShutdown
		if a.cfg.Recover == RecoverCleanup {
			result = nil // --recover=cleanup is done
		}
	case err := <-srvErr:
		result = fmt.Errorf("agent: http server: %w", err)
	case err := <-linkErr:
		// Mesos's agent exits when its detector fails ("Failed to detect a
		// master").
		result = err
	}
	cancel()
	<-loopDone
	shutdownCtx, stop := context.WithTimeout(context.Background(), 2*time.Second)
	_ = srv.Shutdown(shutdownCtx)
	stop()
	_ = srv.Close()
	wg.Wait()
	return result
}

func proto32(n int) *int32 { v := int32(n); return &v }

// firstLeaderWait bounds how long Serve waits for a leading master to pick
// the address it advertises (a ZooKeeper detector needs a session first; a
// standalone one answers at once).
const firstLeaderWait = 10 * time.Second

// firstLeader returns the leading master, waiting up to wait for one to be
// known; nil if none is.
func (a *Agent) firstLeader(ctx context.Context, wait time.Duration) *detector.Leader {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	leader, err := a.det.Detect(ctx, nil)
	if err != nil {
		return nil
	}
	return leader
}

// outboundIP returns the local IP the route to hostport (the leading
// master's "host:port") leaves from, or 127.0.0.1. No packet is sent.
func outboundIP(hostport string) string {
	if hostport == "" {
		return "127.0.0.1"
	}
	c, err := net.Dial("udp", hostport)
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return ua.IP.String()
	}
	return "127.0.0.1"
}

// lookupHostname resolves ip to a name, as Mesos does for its default
// --hostname (with --hostname_lookup); it falls back to the IP.
func lookupHostname(ctx context.Context, ip string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	names, err := net.DefaultResolver.LookupAddr(ctx, ip)
	if err != nil || len(names) == 0 {
		return ip
	}
	return strings.TrimSuffix(names[0], ".")
}

// pid is the libprocess PID of the agent, "slave(1)@ip:port".
func (a *Agent) pid() string {
	return "slave(1)@" + net.JoinHostPort(a.ip, strconv.Itoa(a.port))
}

// endpoint is "ip:port".
func (a *Agent) endpoint() string { return net.JoinHostPort(a.ip, strconv.Itoa(a.port)) }

// loop is the actor: it runs every closure sent to the mailbox and the
// status update retry timer until ctx is done, then tears down.
func (a *Agent) loop(ctx context.Context) {
	defer close(a.stopped)
	a.retryTimer = time.NewTimer(time.Hour)
	a.retryTimer.Stop()
	for {
		select {
		case f := <-a.mailbox:
			f()
		case <-a.retryTimer.C:
			a.retryAt = time.Time{}
			a.retryDue()
		case <-ctx.Done():
			a.teardown()
			return
		}
	}
}

// post queues f on the actor without waiting for it; it reports false when
// the actor has stopped.
func (a *Agent) post(f func()) bool {
	select {
	case a.mailbox <- f:
		return true
	case <-a.stopped:
		return false
	}
}

// call runs f on the actor and waits for it to finish.
func (a *Agent) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case a.mailbox <- func() { f(); close(done) }:
	case <-a.stopped:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-a.stopped:
		// The actor may have run f just before stopping.
		select {
		case <-done:
			return nil
		default:
			return errStopped
		}
	}
}

// teardown runs on the actor when Serve ends: executor streams are closed
// and the containers of non-checkpointing frameworks destroyed.
func (a *Agent) teardown() {
	var wg sync.WaitGroup
	for _, fw := range a.frameworks {
		for _, ex := range fw.executors {
			ex.closeConn()
			if fw.info.GetCheckpoint() || ex.state == executorTerminated {
				continue
			}
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = a.cz.Destroy(ctx, id, 0)
			}(ex.containerID)
		}
	}
	wg.Wait()
	a.destroyAPIContainers(slices.Collect(maps.Keys(a.standalone)))
}
