package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/builtin"
	"github.com/meso-project/meso/internal/flags"
	"github.com/meso-project/meso/internal/master"
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
	parsedWeights                           map[string]float64 // set by allocator()
	loggingLevel                            string
}

// register defines the flags; withAddress is false for `meso local`, which
// has its own --ip/--port/--work_dir.
func (f *masterFlags) register(fs *flag.FlagSet, withAddress bool) {
	if withAddress {
		fs.StringVar(&f.ip, "ip", "0.0.0.0", "IP address to listen on")
		fs.IntVar(&f.port, "port", 5050, "port to listen on")
		fs.StringVar(&f.hostname, "hostname", "", "hostname the master advertises (default: the IP it listens on)")
		fs.StringVar(&f.workDir, "work_dir", "", "directory for the registry (unused until the registry is persistent)")
		fs.StringVar(&f.loggingLevel, "logging_level", "INFO", "log level: INFO, WARNING, ERROR or DEBUG")
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
	fs.StringVar(&f.registry, "registry", "in_memory", "where the registry is kept (in_memory)")
	fs.StringVar(&f.cluster, "cluster", "", "human-readable name for the cluster, shown in /master/state")
	if withAddress {
		fs.StringVar(&f.zk, "zk", "", "ZooKeeper URL for leader election, zk://host:port/path (not supported yet)")
		fs.IntVar(&f.quorum, "quorum", 0, "replicated-log quorum size (only with --zk; not supported yet)")
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
		Logger:                        logger,
		Hostname:                      f.hostname,
		Allocator:                     alloc,
		AllocationInterval:            f.allocationInterval.Duration,
		OfferTimeout:                  f.offerTimeout.Duration,
		AgentPingTimeout:              f.agentPingTimeout.Duration,
		MaxAgentPingTimeouts:          f.maxAgentPingTimeouts,
		MaxCompletedFrameworks:        f.maxCompletedFrameworks,
		MaxCompletedTasksPerFramework: f.maxCompletedTPF,
		Weights:                       f.parsedWeights,
		Cluster:                       f.cluster,
		Flags:                         dump,
	}
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
		if err != nil || v <= 0 {
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
				logger, err := newLogger(f.loggingLevel)
				if err != nil {
					return err
				}
				if f.zk != "" {
					return fmt.Errorf("--zk: ZooKeeper high availability is not supported yet; run a single master without --zk (agents and frameworks then use --master=host:port)")
				}
				if f.registry != "in_memory" && f.registry != "replicated_log" {
					return fmt.Errorf("unknown --registry %q (use in_memory)", f.registry)
				}
				alloc, err := f.allocator()
				if err != nil {
					return err
				}
				m, err := master.New(f.config(logger, alloc, flags.Dump(fs)))
				if err != nil {
					return err
				}
				ln, err := net.Listen("tcp", net.JoinHostPort(f.ip, strconv.Itoa(f.port)))
				if err != nil {
					return fmt.Errorf("cannot listen on %s:%d: %w (is another master running? pick another --port)", f.ip, f.port, err)
				}
				logger.Info("master listening", "address", ln.Addr().String())
				return ignoreCanceled(m.Serve(ctx, ln))
			}
		})
}
