package registry

import (
	"errors"
	"log/slog"
	"time"
)

// Mesos's defaults for the master's registry flags.
const (
	DefaultStoreTimeout  = 20 * time.Second    // --registry_store_timeout
	DefaultFetchTimeout  = time.Minute         // --registry_fetch_timeout
	DefaultMaxAgentAge   = 14 * 24 * time.Hour // --registry_max_agent_age (2weeks)
	DefaultMaxAgentCount = 100 * 1024          // --registry_max_agent_count
	DefaultGCInterval    = 15 * time.Minute    // --registry_gc_interval
)

// Config configures a Registrar. The zero value of a field means its
// default, except for Strict.
type Config struct {
	// StoreTimeout bounds each write to the store (--registry_store_timeout).
	// A write that takes longer is a store failure: the registrar aborts.
	StoreTimeout time.Duration

	// FetchTimeout bounds reading the registry during Recover
	// (--registry_fetch_timeout).
	FetchTimeout time.Duration

	// MaxAgentAge and MaxAgentCount bound the unreachable and gone lists
	// (--registry_max_agent_age, --registry_max_agent_count): GC drops
	// entries older than MaxAgentAge, and the oldest entries beyond
	// MaxAgentCount in each list. Zero means the default; a negative value
	// stands for Mesos's 0 (keep no entry).
	MaxAgentAge   time.Duration
	MaxAgentCount int

	// GCInterval is how often the leading master calls Registrar.GC
	// (--registry_gc_interval). The registrar keeps no timer of its own: as
	// in Mesos, the master owns the timer and updates its in-memory view
	// with what GC pruned.
	GCInterval time.Duration

	// Strict mirrors --registry_strict, which Mesos 1.0 disabled: true is
	// refused with Mesos's error ("Support for '--registry_strict' has been
	// disabled and will be removed in a future version of Mesos").
	Strict bool

	// Logger receives the registrar's logs; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns Mesos's defaults.
func DefaultConfig() Config {
	return Config{
		StoreTimeout:  DefaultStoreTimeout,
		FetchTimeout:  DefaultFetchTimeout,
		MaxAgentAge:   DefaultMaxAgentAge,
		MaxAgentCount: DefaultMaxAgentCount,
		GCInterval:    DefaultGCInterval,
	}
}

// ErrStrict is the error for Config.Strict, with Mesos's text.
var ErrStrict = errors.New("Support for '--registry_strict' has been disabled and will be removed in a future version of Mesos")

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Strict {
		return c, ErrStrict
	}
	d := DefaultConfig()
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = d.StoreTimeout
	}
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = d.FetchTimeout
	}
	switch {
	case c.MaxAgentAge == 0:
		c.MaxAgentAge = d.MaxAgentAge
	case c.MaxAgentAge < 0:
		c.MaxAgentAge = 0
	}
	switch {
	case c.MaxAgentCount == 0:
		c.MaxAgentCount = d.MaxAgentCount
	case c.MaxAgentCount < 0:
		c.MaxAgentCount = 0
	}
	if c.GCInterval <= 0 {
		c.GCInterval = d.GCInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}
