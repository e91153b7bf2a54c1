package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/builtin"
	"github.com/meso-project/meso/internal/flags"
	"github.com/meso-project/meso/internal/master"
	"github.com/meso-project/meso/internal/ratelimit"
	"github.com/meso-project/meso/pkg/resources"
)

// masterFlags are the master's flags, with Mesos's names and defaults.
type masterFlags struct {
	ip, hostname, workDir                   string
	port                                    int
	allocatorName, roleSorter, fwSorter     string
	allocationInterval, offerTimeout        flags.Duration
	agentPingTimeout                        flags.Duration
	maxAgentPingTimeouts                    int
	maxCompletedFrameworks, maxCompletedTPF int
	minAllocatable, weights                 string
	filterGPUResources                      bool
	fairSharingExcluded                     string
	registry, cluster, zk                   string
	quorum                                  int
	zkSessionTimeout                        flags.Duration
	registryStrict                          bool
	registryStoreTimeout                    flags.Duration
	registryFetchTimeout                    flags.Duration
	registryMaxAgentAge                     flags.Duration
	registryMaxAgentCount                   int
	registryGCInterval                      flags.Duration
	agentReregisterTimeout                  flags.Duration
	recoveryAgentRemovalLimit               string
	parsedWeights                           map[string]float64 // set by allocator()
	removalLimit                            float64            // set by validateHA()
	loggingLevel                            string
	maxOperatorSubscribers                  int
	rateLimits                              string
	parsedRateLimits                        *mesospb.RateLimits // set by validateHA()
	log                                     logFlags
	authz                                   authzFlags
	authn                                   masterAuthnFlags // authn.go; `meso master` only
	enablePprof                             bool
}

// register defines the flags; withAddress is false for `meso local`, which
// has its own --ip/--port/--work_dir.
func (f *masterFlags) register(fs *flag.FlagSet, withAddress bool) {
	if withAddress {
		fs.StringVar(&f.ip, "ip", "0.0.0.0", "IP address to listen on")
		fs.IntVar(&f.port, "port", 5050, "port to listen on")
		fs.StringVar(&f.hostname, "hostname", "", "hostname the master advertises (default: the IP it listens on)")
		fs.StringVar(&f.workDir, "work_dir", "",
			"directory for the registry; required with --registry=replicated_log (the default) unless --zk is given")
		fs.StringVar(&f.loggingLevel, "logging_level", "INFO", "log level: INFO, WARNING, ERROR or DEBUG")
		f.log.register(fs)
		f.authn.register(fs)
	}
	fs.StringVar(&f.allocatorName, "allocator", "HierarchicalDRF", "allocator to use (HierarchicalDRF)")
	fs.StringVar(&f.roleSorter, "role_sorter", "drf", "how roles are ordered for offers: drf or random")
	fs.StringVar(&f.fwSorter, "framework_sorter", "drf", "how frameworks of a role are ordered for offers: drf or random")
	f.allocationInterval = flags.Duration{Duration: time.Second}
	fs.Var(&f.allocationInterval, "allocation_interval", "time between batch allocations")
	fs.Var(&f.offerTimeout, "offer_timeout", "rescind offers not answered within this long (default: never)")
	f.agentPingTimeout = flags.Duration{Duration: 15 * time.Second}
	fs.Var(&f.agentPingTimeout, "agent_ping_timeout", "time between pings to an agent and for its answer")
	fs.IntVar(&f.maxAgentPingTimeouts, "max_agent_ping_timeouts", 5, "missed pings after which an agent is removed")
	fs.IntVar(&f.maxCompletedFrameworks, "max_completed_frameworks", 50, "completed frameworks kept for /state")
	fs.IntVar(&f.maxCompletedTPF, "max_completed_tasks_per_framework", 1000, "completed tasks kept per framework for /state")
	fs.StringVar(&f.minAllocatable, "min_allocatable_resources", "cpus:0.01|mem:32",
		"smallest offer worth making: '|'-separated alternatives of ';'-separated quantities")
	fs.StringVar(&f.weights, "weights", "", "role weights, e.g. 'eng=2,ops=1' (deprecated in Mesos; use the operator API)")
	fs.BoolVar(&f.filterGPUResources, "filter_gpu_resources", true, "offer agents with GPUs only to frameworks with GPU_RESOURCES")
	fs.StringVar(&f.fairSharingExcluded, "fair_sharing_excluded_resource_names", "",
		"comma-separated resource names left out of DRF shares, e.g. gpus")
	fs.StringVar(&f.registry, "registry", "replicated_log",
		"where the registry (admitted, unreachable and gone agents, weights, quota) is kept:\n"+
			"replicated_log keeps it durably: in ZooKeeper under the --zk path when --zk is given (the\n"+
			"masters share it), else in <work_dir>/registry.db; in_memory keeps it only while the master runs")
	fs.BoolVar(&f.registryStrict, "registry_strict", false, "disabled in Mesos 1.11: only false is accepted")
	f.registryStoreTimeout = flags.Duration{Duration: 20 * time.Second}
	fs.Var(&f.registryStoreTimeout, "registry_store_timeout", "a registry write that takes longer fails (and the master exits)")
	f.registryFetchTimeout = flags.Duration{Duration: time.Minute}
	fs.Var(&f.registryFetchTimeout, "registry_fetch_timeout", "reading the registry on election that takes longer fails (and the master exits)")
	f.registryMaxAgentAge = flags.Duration{Duration: 14 * 24 * time.Hour}
	fs.Var(&f.registryMaxAgentAge, "registry_max_agent_age", "unreachable and gone agents older than this are dropped from the registry")
	fs.IntVar(&f.registryMaxAgentCount, "registry_max_agent_count", 102400, "at most this many unreachable (and gone) agents are kept in the registry")
	f.registryGCInterval = flags.Duration{Duration: 15 * time.Minute}
	fs.Var(&f.registryGCInterval, "registry_gc_interval", "how often the registry is pruned of old unreachable and gone agents")
	f.agentReregisterTimeout = flags.Duration{Duration: 10 * time.Minute}
	fs.Var(&f.agentReregisterTimeout, "agent_reregister_timeout",
		"after a failover, agents of the registry that have not re-registered within this are marked unreachable (at least 10mins)")
	fs.StringVar(&f.recoveryAgentRemovalLimit, "recovery_agent_removal_limit", "100%",
		"after a failover, the largest share of the registry's agents that may be marked unreachable;\nabove it the master exits instead")
	fs.IntVar(&f.maxOperatorSubscribers, "max_operator_event_stream_subscribers", 1000,
		"most operator SUBSCRIBE streams at once; a new one past it closes the oldest")
	fs.StringVar(&f.rateLimits, "rate_limits", "",
		"framework rate limiting: a RateLimits message in JSON (or file:///path or /path holding one),\n"+
			"e.g. '{\"limits\":[{\"principal\":\"foo\",\"qps\":55.5,\"capacity\":1000}],\"aggregate_default_qps\":33.3}';\n"+
			"the scheduler calls of a framework are throttled by its FrameworkInfo.principal")
	fs.StringVar(&f.cluster, "cluster", "", "human-readable name for the cluster, shown in /master/state")
	fs.BoolVar(&f.enablePprof, "enable_pprof", false,
		"serve Go's runtime profiles at /debug/pprof/ (a meso addition), e.g.\n"+
			"go tool pprof http://HOST:PORT/debug/pprof/profile?seconds=30; behind read-write HTTP\n"+
			"authentication and the get_endpoints ACL like other endpoints (with `meso local`: the agents' too)")
	f.authz.register(fs)
	if withAddress {
		fs.StringVar(&f.zk, "zk", "",
			"ZooKeeper URL for leader election and the shared registry: zk://host:port[,host:port]/path\n"+
				"(zk://user:pass@... for digest auth, or file:///path holding the URL); run several masters with\n"+
				"the same --zk: the one with the lowest json.info_ sequence leads, the others redirect to it")
		fs.IntVar(&f.quorum, "quorum", 0,
			"required with --zk and --registry=replicated_log, as in Mesos: a majority of the masters\n"+
				"(quorum > masters/2). meso's replicated registry is ZooKeeper itself, whose own majority\n"+
				"makes each write durable, so the value is checked but not otherwise used")
		f.zkSessionTimeout = flags.Duration{Duration: 10 * time.Second}
		fs.Var(&f.zkSessionTimeout, "zk_session_timeout", "ZooKeeper session timeout (only with --zk)")
	}
}

// allocator builds the allocator the flags choose.
func (f *masterFlags) allocator() (allocator.Allocator, error) {
	factory, ok := builtin.Allocators[f.allocatorName]
	if !ok {
		return nil, fmt.Errorf("unknown --allocator %q (known: HierarchicalDRF)", f.allocatorName)
	}
	minAlloc, err := resources.ParseMinAllocatable(f.minAllocatable)
	if err != nil {
		return nil, fmt.Errorf("bad --min_allocatable_resources: %w", err)
	}
	weights, err := parseWeights(f.weights)
	if err != nil {
		return nil, err
	}
	f.parsedWeights = weights
	for _, s := range []string{f.roleSorter, f.fwSorter} {
		if s != "drf" && s != "random" {
			return nil, fmt.Errorf("unknown sorter %q (use drf or random)", s)
		}
	}
	return factory(allocator.Options{
		AllocationInterval:               f.allocationInterval.Duration,
		MinAllocatable:                   minAlloc,
		DisableGPUFilter:                 !f.filterGPUResources,
		FairSharingExcludedResourceNames: splitNonEmpty(f.fairSharingExcluded, ","),
		Weights:                          weights,
		RoleSorter:                       f.roleSorter,
		FrameworkSorter:                  f.fwSorter,
		Seed:                             time.Now().UnixNano(),
	})
}

func (f *masterFlags) config(logger *slog.Logger, alloc allocator.Allocator, dump map[string]string) master.Config {
	return master.Config{
		Logger:                            logger,
		Hostname:                          f.hostname,
		Allocator:                         alloc,
		AllocationInterval:                f.allocationInterval.Duration,
		OfferTimeout:                      f.offerTimeout.Duration,
		AgentPingTimeout:                  f.agentPingTimeout.Duration,
		MaxAgentPingTimeouts:              f.maxAgentPingTimeouts,
		MaxCompletedFrameworks:            f.maxCompletedFrameworks,
		MaxOperatorEventStreamSubscribers: f.maxOperatorSubscribers,
		MaxCompletedTasksPerFramework:     f.maxCompletedTPF,
		Weights:                           f.parsedWeights,
		Cluster:                           f.cluster,
		Flags:                             dump,
		AgentReregisterTimeout:            f.agentReregisterTimeout.Duration,
		RegistryGCInterval:                f.registryGCInterval.Duration,
		RegistryMaxAgentAge:               f.registryMaxAgentAge.Duration,
		RegistryMaxAgentCount:             f.registryMaxAgentCount,
		RecoveryAgentRemovalLimit:         &f.removalLimit,
		RateLimits:                        f.parsedRateLimits,
		Authorizer:                        f.authz.built,
		EnablePprof:                       f.enablePprof,
	}
}

// minAgentReregisterTimeout is Mesos's MIN_AGENT_REREGISTER_TIMEOUT: agents
// bound their re-registration retries by it.
const minAgentReregisterTimeout = 10 * time.Minute

// validateHA checks the registry and election flags as Mesos's master does
// at startup, with its messages.
func (f *masterFlags) validateHA() error {
	if f.registryStrict {
		return fmt.Errorf("Support for '--registry_strict' has been disabled and will be removed in a future version of Mesos")
	}
	switch f.registry {
	case "in_memory":
	case "replicated_log", "log_storage":
		if f.zk == "" && f.workDir == "" {
			return fmt.Errorf("--work_dir needed for replicated log based registry")
		}
		if f.zk != "" && f.quorum <= 0 {
			return fmt.Errorf("Need to specify --quorum for replicated log based registry when using ZooKeeper")
		}
	default:
		return fmt.Errorf("'%s' is not a supported option for registry persistence (use replicated_log or in_memory)", f.registry)
	}
	if f.agentReregisterTimeout.Duration < minAgentReregisterTimeout {
		return fmt.Errorf("Invalid value '%s' for --agent_reregister_timeout: Must be at least 10mins", f.agentReregisterTimeout.String())
	}
	limit, ok := strings.CutSuffix(f.recoveryAgentRemovalLimit, "%")
	if !ok {
		return fmt.Errorf("Invalid value '%s' for --recovery_agent_removal_percent_limit: missing '%%'", f.recoveryAgentRemovalLimit)
	}
	pct, err := strconv.ParseFloat(limit, 64)
	if err != nil {
		return fmt.Errorf("Invalid value '%s' for --recovery_agent_removal_percent_limit: %v", f.recoveryAgentRemovalLimit, err)
	}
	if !(pct >= 0 && pct <= 100) { // NaN too
		return fmt.Errorf("Invalid value '%s' for --recovery_agent_removal_percent_limit: Must be within [0%%-100%%]", f.recoveryAgentRemovalLimit)
	}
	f.removalLimit = pct / 100
	if f.registryMaxAgentCount <= 0 {
		return fmt.Errorf("Invalid value '%d' for --registry_max_agent_count: must be positive", f.registryMaxAgentCount)
	}
	if f.rateLimits != "" {
		rl, err := ratelimit.Parse(f.rateLimits)
		if err != nil {
			return fmt.Errorf("--rate_limits: %w", err)
		}
		f.parsedRateLimits = rl
	}
	return nil
}

// parseWeights parses --weights: "role=weight,role=weight".
func parseWeights(s string) (map[string]float64, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]float64{}
	for _, part := range splitNonEmpty(s, ",") {
		role, w, ok := cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("bad --weights entry %q: want role=weight", part)
		}
		v, err := strconv.ParseFloat(w, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 1) { // NaN and infinity are no weights
			return nil, fmt.Errorf("bad --weights entry %q: the weight must be a positive number", part)
		}
		out[role] = v
	}
	return out, nil
}

func masterCommand() *cobra.Command {
	var f masterFlags
	return flagCommand("master", "Run a Mesos master",
		`Runs a master: it manages agents and frameworks and offers agents' resources to
frameworks (v1 scheduler API on /api/v1/scheduler, state on /master/state).`,
		false, func(fs *flag.FlagSet) runFunc {
			f.register(fs, true)
			return func(ctx context.Context, _ []string) error {
				logger, level, logFile, closeLog, err := f.log.logger(f.loggingLevel, "mesos-master")
				if err != nil {
					return err
				}
				defer closeLog()
				if err := f.validateHA(); err != nil {
					return err
				}
				if err := f.authz.build(); err != nil {
					return err
				}
				alloc, err := f.allocator()
				if err != nil {
					return err
				}
				realms, err := f.authn.realms(logger)
				if err != nil {
					return err
				}
				ha, err := f.buildHA(ctx, logger, f.workDir)
				if err != nil {
					return err
				}
				defer ha.close()
				cfg := f.config(logger, alloc, flags.Dump(fs))
				cfg.LogLevel = level
				cfg.LogFile = logFile
				cfg.Authenticators = realms
				cfg.Registrar, cfg.Contender, cfg.Detector = ha.registrar, ha.contender, ha.detector
				tc, err := tlsFromEnv(logger)
				if err != nil {
					return err
				}
				m, err := master.New(cfg)
				if err != nil {
					return err
				}
				ln, err := net.Listen("tcp", net.JoinHostPort(f.ip, strconv.Itoa(f.port)))
				if err != nil {
					return fmt.Errorf("cannot listen on %s:%d: %w (is another master running? pick another --port)", f.ip, f.port, err)
				}
				logger.Info("master listening", "address", ln.Addr().String(), "scheme", tc.Scheme())
				ln = tc.Listen(ln)
				return ignoreCanceled(m.Serve(ctx, ln))
			}
		})
}
