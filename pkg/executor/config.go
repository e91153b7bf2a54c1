package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/tlsconfig"
)

// Defaults, as Mesos sets them (src/slave/constants.hpp and the executor library).
const (
	// DefaultRecoveryTimeout is the agent's --recovery_timeout default.
	DefaultRecoveryTimeout = 15 * time.Minute
	// DefaultSubscriptionBackoffMax is the agent's --executor_reregistration_timeout default.
	DefaultSubscriptionBackoffMax = 2 * time.Second
	// DefaultShutdownGracePeriod is the agent's --executor_shutdown_grace_period default.
	DefaultShutdownGracePeriod = 5 * time.Second
	// DefaultHeartbeatInterval is how often the C++ executor library sends a HEARTBEAT call.
	DefaultHeartbeatInterval = 30 * time.Minute
	// DefaultAPIPath is the executor API path on the agent (also served as /slave(1)/api/v1/executor).
	DefaultAPIPath = "/api/v1/executor"
)

// Config configures an [Executor]. Zero values take Mesos's defaults (the
// Default* constants, protobuf, a discarding logger); only AgentEndpoint (or
// DomainSocket), FrameworkID and ExecutorID are required.
// [FromEnv] builds one from the MESOS_* variables the agent sets.
type Config struct {
	// AgentEndpoint is the agent's "ip:port" (MESOS_AGENT_ENDPOINT).
	AgentEndpoint string
	// APIPath is the URL path of the executor API; default "/api/v1/executor".
	// FromEnv sets "/slave(1)/api/v1/executor" when it derives the endpoint
	// from MESOS_SLAVE_PID, as the C++ executor library does.
	APIPath string
	// DomainSocket, when set, is a Unix socket path (MESOS_DOMAIN_SOCKET) the
	// HTTP connections are dialled on instead of AgentEndpoint.
	DomainSocket string

	FrameworkID string // MESOS_FRAMEWORK_ID
	ExecutorID  string // MESOS_EXECUTOR_ID
	AgentID     string // MESOS_SLAVE_ID (informational)
	Directory   string // MESOS_DIRECTORY: the sandbox path on the host
	Sandbox     string // MESOS_SANDBOX: the sandbox path as the container sees it

	// Checkpoint is true when the framework checkpoints (MESOS_CHECKPOINT=1):
	// only then does the executor survive a broken connection to the agent
	// by re-subscribing; otherwise a disconnection means SHUTDOWN.
	Checkpoint bool
	// RecoveryTimeout bounds how long a checkpointing executor tries to
	// re-subscribe after a disconnection (MESOS_RECOVERY_TIMEOUT, 15mins).
	RecoveryTimeout time.Duration
	// SubscriptionBackoffMax bounds the random delay between re-subscription
	// attempts (MESOS_SUBSCRIPTION_BACKOFF_MAX, 2secs).
	SubscriptionBackoffMax time.Duration
	// ShutdownGracePeriod is how long after a SHUTDOWN the handler has to
	// finish before Run returns [ErrShutdown] (MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, 5secs).
	ShutdownGracePeriod time.Duration
	// HeartbeatInterval is the period of HEARTBEAT calls (30mins, as libmesos).
	HeartbeatInterval time.Duration
	// AuthenticationToken is sent as "Authorization: Bearer <token>"
	// (MESOS_EXECUTOR_AUTHENTICATION_TOKEN).
	AuthenticationToken string
	// Credential, if set and there is no AuthenticationToken, is sent as
	// HTTP basic credentials (an agent whose executor realm takes basic
	// authentication with --http_credentials).
	Credential *mesospb.Credential

	// ContentType is the encoding of calls and events; default codec.Protobuf,
	// as libmesos's executors use.
	ContentType codec.MediaType
	// TLS, when on, makes the executor speak https to the agent, as
	// libprocess's executors do with LIBPROCESS_SSL_ENABLED (which the
	// agent passes through); FromEnv reads it from the LIBPROCESS_SSL_*
	// variables. Not used over DomainSocket, where Mesos speaks plain http.
	TLS *tlsconfig.Config
	// HTTPClient is used for every call; it must not set a Timeout, since the
	// SUBSCRIBE response is a long-lived stream. Default: a client on a clone of
	// http.DefaultTransport (dialling DomainSocket when set, else through TLS
	// when on).
	HTTPClient *http.Client
	// Logger receives the library's diagnostics; default discards.
	Logger *slog.Logger
}

// Environment variable names read by FromEnv (spec §2.2).
const (
	EnvFrameworkID            = "MESOS_FRAMEWORK_ID"
	EnvExecutorID             = "MESOS_EXECUTOR_ID"
	EnvAgentID                = "MESOS_SLAVE_ID"
	EnvDirectory              = "MESOS_DIRECTORY"
	EnvSandbox                = "MESOS_SANDBOX"
	EnvAgentEndpoint          = "MESOS_AGENT_ENDPOINT"
	EnvAgentPID               = "MESOS_SLAVE_PID"
	EnvCheckpoint             = "MESOS_CHECKPOINT"
	EnvRecoveryTimeout        = "MESOS_RECOVERY_TIMEOUT"
	EnvSubscriptionBackoffMax = "MESOS_SUBSCRIPTION_BACKOFF_MAX"
	EnvShutdownGracePeriod    = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"
	EnvAuthenticationToken    = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"
	EnvDomainSocket           = "MESOS_DOMAIN_SOCKET"
)

// ErrConfig marks an invalid or incomplete configuration.
var ErrConfig = errors.New("executor: invalid configuration")

// FromEnv builds a Config from the variables the agent gives every executor
// (spec §2.2), looked up with lookup (typically os.LookupEnv).
//
// MESOS_FRAMEWORK_ID and MESOS_EXECUTOR_ID are required, and one of
// MESOS_AGENT_ENDPOINT ("ip:port") or MESOS_SLAVE_PID ("slave(1)@ip:port").
// Durations use Mesos's text form ("5secs", "15mins", "250ms"); Go's form
// ("5s") is accepted too. Unlike libmesos, a checkpointing executor without
// MESOS_RECOVERY_TIMEOUT / MESOS_SUBSCRIPTION_BACKOFF_MAX gets the defaults
// instead of exiting.
func FromEnv(lookup func(string) (string, bool)) (Config, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return v
	}
	var cfg Config
	cfg.FrameworkID = get(EnvFrameworkID)
	if cfg.FrameworkID == "" {
		return Config{}, fmt.Errorf("%w: expecting %s to be set in the environment", ErrConfig, EnvFrameworkID)
	}
	cfg.ExecutorID = get(EnvExecutorID)
	if cfg.ExecutorID == "" {
		return Config{}, fmt.Errorf("%w: expecting %s to be set in the environment", ErrConfig, EnvExecutorID)
	}
	cfg.AgentID = get(EnvAgentID)
	cfg.Directory = get(EnvDirectory)
	cfg.Sandbox = get(EnvSandbox)
	if cfg.Sandbox == "" {
		cfg.Sandbox = cfg.Directory
	}

	if ep := get(EnvAgentEndpoint); ep != "" {
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return Config{}, fmt.Errorf("%w: %s %q: %v", ErrConfig, EnvAgentEndpoint, ep, err)
		}
		cfg.AgentEndpoint = ep
		cfg.APIPath = DefaultAPIPath
	} else if pid := get(EnvAgentPID); pid != "" {
		id, addr, ok := strings.Cut(pid, "@")
		if !ok || id == "" {
			return Config{}, fmt.Errorf("%w: %s %q is not of the form id@ip:port", ErrConfig, EnvAgentPID, pid)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return Config{}, fmt.Errorf("%w: %s %q: %v", ErrConfig, EnvAgentPID, pid, err)
		}
		cfg.AgentEndpoint = addr
		cfg.APIPath = "/" + id + DefaultAPIPath
	} else {
		return Config{}, fmt.Errorf("%w: expecting %s or %s to be set in the environment", ErrConfig, EnvAgentEndpoint, EnvAgentPID)
	}

	cfg.Checkpoint = get(EnvCheckpoint) == "1"
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{
		{EnvRecoveryTimeout, &cfg.RecoveryTimeout},
		{EnvSubscriptionBackoffMax, &cfg.SubscriptionBackoffMax},
		{EnvShutdownGracePeriod, &cfg.ShutdownGracePeriod},
	} {
		v := get(d.env)
		if v == "" {
			continue
		}
		dur, err := ParseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("%w: %s: %v", ErrConfig, d.env, err)
		}
		*d.dst = dur
	}
	cfg.AuthenticationToken = get(EnvAuthenticationToken)
	cfg.DomainSocket = get(EnvDomainSocket)
	tc, err := tlsconfig.FromEnv(lookup, nil)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg.TLS = tc
	return cfg.withDefaults(), nil
}

// withDefaults returns cfg with every unset field at its default.
func (cfg Config) withDefaults() Config {
	if cfg.APIPath == "" {
		cfg.APIPath = DefaultAPIPath
	}
	if cfg.RecoveryTimeout <= 0 {
		cfg.RecoveryTimeout = DefaultRecoveryTimeout
	}
	if cfg.SubscriptionBackoffMax <= 0 {
		cfg.SubscriptionBackoffMax = DefaultSubscriptionBackoffMax
	}
	if cfg.ShutdownGracePeriod <= 0 {
		cfg.ShutdownGracePeriod = DefaultShutdownGracePeriod
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.ContentType == "" {
		cfg.ContentType = codec.Protobuf
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.DomainSocket == "" {
			tr = cfg.TLS.Transport(tr)
		} else {
			sock := cfg.DomainSocket
			tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			}
		}
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	return cfg
}

func (cfg Config) validate() error {
	if cfg.AgentEndpoint == "" && cfg.DomainSocket == "" {
		return fmt.Errorf("%w: AgentEndpoint is required", ErrConfig)
	}
	if cfg.FrameworkID == "" {
		return fmt.Errorf("%w: FrameworkID is required", ErrConfig)
	}
	if cfg.ExecutorID == "" {
		return fmt.Errorf("%w: ExecutorID is required", ErrConfig)
	}
	return nil
}

// url is the executor API URL on the agent.
func (cfg Config) url() string {
	host := cfg.AgentEndpoint
	if cfg.DomainSocket != "" && host == "" {
		host = "localhost"
	}
	scheme := cfg.TLS.Scheme()
	if cfg.DomainSocket != "" {
		scheme = "http"
	}
	return scheme + "://" + host + cfg.APIPath
}

var durationUnits = []struct {
	suffix string
	unit   time.Duration
}{
	// Longest suffixes first so that "ms" is not read as "s".
	{"weeks", 7 * 24 * time.Hour},
	{"days", 24 * time.Hour},
	{"hrs", time.Hour},
	{"mins", time.Minute},
	{"secs", time.Second},
	{"ms", time.Millisecond},
	{"us", time.Microsecond},
	{"ns", time.Nanosecond},
}

// ParseDuration parses a duration in Mesos's text form, "<number><unit>" with
// unit one of ns, us, ms, secs, mins, hrs, days, weeks (e.g. "5secs",
// "1.5mins"). Go duration strings ("5s", "1m30s") are accepted as a fallback.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for _, u := range durationUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			break
		}
		d := f * float64(u.unit)
		if d > math.MaxInt64 || d < math.MinInt64 {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		return time.Duration(d), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	return 0, fmt.Errorf("invalid duration %q (want e.g. 5secs, 250ms, 15mins)", s)
}
