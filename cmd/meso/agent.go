package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meso-project/meso/internal/agent"
	"github.com/meso-project/meso/internal/agent/fetcher"
	"github.com/meso-project/meso/internal/agent/gc"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/builtin"
	"github.com/meso-project/meso/internal/cgroups"
	"github.com/meso-project/meso/internal/flags"
)

// agentFlags are the agent's flags, with Mesos's names and defaults.
type agentFlags struct {
	master, workDir, ip, hostname          string
	port                                   int
	authz                                  *authzFlags // standalone agents only; `meso local` shares the master's
	resources, attributes, defaultRole     string
	executorRegistrationTimeout            flags.Duration
	fetcherStallTimeout                    flags.Duration
	fetcherCacheSize                       flags.Bytes
	fetcherCacheDir                        string
	frameworksHome                         string
	executorShutdownGracePeriod            flags.Duration
	registrationBackoffFactor              flags.Duration
	switchUser                             bool
	executorEnv                            string
	isolation, containerizers, launcherDir string
	loggingLevel                           string
	log                                    logFlags
	enablePprof                            bool // `meso agent`; `meso local` takes the master's

	// The containerizer's flags.
	launcher, cgroupsHierarchy, cgroupsRoot                       string
	cgroupsEnableCFS, cgroupsLimitSwap, cgroupsCountPidsAndTids   bool
	revocableCPULowPriority, enforceDiskQuota, disallowSharingPid bool
	diskWatchInterval, cgroupsDestroyTimeout                      flags.Duration

	// Recovery.
	recover                                        string
	strict                                         bool
	recoveryTimeout, executorReregistrationTimeout flags.Duration
	executorReregistrationRetryInterval            flags.Duration

	// Garbage collection.
	gcDelay, gcDiskWatchInterval flags.Duration
	gcDiskHeadroom               float64

	authn agentAuthnFlags // authn.go; `meso agent` only
}

// register defines the flags; withAddress is false for `meso local`, which
// sets --master, --ip, --port and --work_dir itself.
func (f *agentFlags) register(fs *flag.FlagSet, withAddress bool) {
	if withAddress {
		fs.StringVar(&f.master, "master", "",
			"the master: host:port, master@host:port, zk://host1:port1,host2:port2,.../path\n"+
				"or file:///path (a file holding one of those) (required)")
		fs.StringVar(&f.workDir, "work_dir", "", "directory for sandboxes and agent metadata (required)")
		fs.BoolVar(&f.enablePprof, "enable_pprof", false,
			"serve Go's runtime profiles at /debug/pprof/ (a meso addition), e.g.\n"+
				"go tool pprof http://HOST:PORT/debug/pprof/profile?seconds=30; behind read-write HTTP\n"+
				"authentication and the get_endpoints ACL like other endpoints")
		fs.StringVar(&f.ip, "ip", "0.0.0.0", "IP address to listen on")
		fs.IntVar(&f.port, "port", 5051, "port to listen on")
		fs.StringVar(&f.hostname, "hostname", "", "hostname the agent advertises (default: the machine's hostname)")
		fs.StringVar(&f.loggingLevel, "logging_level", "INFO", "log level: INFO, WARNING, ERROR or DEBUG")
		f.log.register(fs)
		f.authz = &authzFlags{}
		f.authz.register(fs)
		f.authn.register(fs)
	}
	fs.StringVar(&f.resources, "resources", "",
		"total resources, e.g. 'cpus:4;mem:4096;ports:[31000-32000]' or a JSON array;\nnames left out are detected")
	fs.StringVar(&f.attributes, "attributes", "", "attributes, e.g. 'rack:r1;level:3'")
	fs.StringVar(&f.defaultRole, "default_role", "*", "role of resources given without one")
	f.executorRegistrationTimeout = flags.Duration{Duration: time.Minute}
	fs.Var(&f.executorRegistrationTimeout, "executor_registration_timeout", "how long an executor has to subscribe")
	f.fetcherStallTimeout = flags.Duration{Duration: 60 * time.Second}
	fs.Var(&f.fetcherStallTimeout, "fetcher_stall_timeout",
		"abort fetching a URI whose download moves less than 1 byte/s for this long")
	f.fetcherCacheSize = flags.Bytes(fetcher.DefaultCacheSize)
	fs.Var(&f.fetcherCacheSize, "fetcher_cache_size",
		"size of the fetcher cache in bytes, e.g. 2GB (0 disables it: URIs with cache: true are fetched\n"+
			"straight into the sandbox)")
	fs.StringVar(&f.fetcherCacheDir, "fetcher_cache_dir", fetcher.DefaultCacheDir,
		"directory for the fetcher cache; the agent clears it on startup, so keep nothing else there\n"+
			"(a volume of its own is best: the cache is transient and competes with sandboxes for space)")
	fs.StringVar(&f.frameworksHome, "frameworks_home", "", "directory prepended to relative paths of executor and task URIs")
	f.executorShutdownGracePeriod = flags.Duration{Duration: 5 * time.Second}
	fs.Var(&f.executorShutdownGracePeriod, "executor_shutdown_grace_period", "how long an executor has to stop after SHUTDOWN")
	f.registrationBackoffFactor = flags.Duration{Duration: time.Second}
	fs.Var(&f.registrationBackoffFactor, "registration_backoff_factor", "first (re)registration backoff; doubles up to 1mins")
	fs.BoolVar(&f.switchUser, "switch_user", true, "run tasks as the framework's user (when the agent runs as root)")
	fs.StringVar(&f.executorEnv, "executor_environment_variables", "",
		"JSON object of environment variables for executors, e.g. '{\"PATH\":\"/bin:/usr/bin\"}'")
	fs.StringVar(&f.isolation, "isolation", builtin.DefaultIsolation,
		"comma-separated isolators, e.g. 'cgroups/cpu,cgroups/mem' (they need root); one of:\n"+
			strings.Join(builtin.KnownIsolators(), ", "))
	fs.StringVar(&f.containerizers, "containerizers", "mesos", "containerizers (mesos)")
	fs.StringVar(&f.launcherDir, "launcher_dir", "", "ignored: meso's executors are built into the meso binary")
	fs.StringVar(&f.launcher, "launcher", "",
		"how containers are started and tracked: linux (a cgroup per container, namespaces; needs root)\n"+
			"or posix (process groups) (default: linux when run as root on a host with cgroups, else posix)")
	fs.StringVar(&f.cgroupsHierarchy, "cgroups_hierarchy", cgroups.DefaultRoot, "where the cgroup filesystems are mounted")
	fs.StringVar(&f.cgroupsRoot, "cgroups_root", "mesos", "name of the cgroup under which containers' cgroups are made")
	fs.BoolVar(&f.cgroupsEnableCFS, "cgroups_enable_cfs", false, "cgroups/cpu: cap cpu time at the cpus given (a CFS quota), not only weigh it")
	fs.BoolVar(&f.cgroupsLimitSwap, "cgroups_limit_swap", false, "cgroups/mem: the memory limit covers swap too")
	fs.BoolVar(&f.cgroupsCountPidsAndTids, "cgroups_cpu_enable_pids_and_tids_count", false,
		"cgroups/cpu: report processes and threads in the statistics")
	fs.BoolVar(&f.revocableCPULowPriority, "revocable_cpu_low_priority", true, "give revocable cpus a low cpu weight")
	f.diskWatchInterval = flags.Duration{Duration: 15 * time.Second}
	fs.Var(&f.diskWatchInterval, "container_disk_watch_interval", "disk/du: how often a sandbox's disk usage is measured")
	fs.BoolVar(&f.enforceDiskQuota, "enforce_container_disk_quota", false,
		"disk/du: fail a task whose sandbox outgrows its disk (REASON_CONTAINER_LIMITATION_DISK)")
	f.cgroupsDestroyTimeout = flags.Duration{Duration: time.Minute}
	fs.Var(&f.cgroupsDestroyTimeout, "cgroups_destroy_timeout",
		"how long killing a container's processes and removing its cgroups may take before the destroy fails")
	fs.BoolVar(&f.disallowSharingPid, "disallow_sharing_agent_pid_namespace", false,
		"namespaces/pid: refuse containers that ask to share the agent's pid namespace")

	fs.StringVar(&f.recover, "recover", agent.RecoverReconnect,
		"after a restart: reconnect (keep the agent ID, re-attach to the executors of checkpointing\n"+
			"frameworks) or cleanup (kill those executors, record their tasks' end, and exit)")
	fs.BoolVar(&f.strict, "strict", true,
		"make any checkpoint that cannot be read at recovery fatal; with false, skip it and recover the rest")
	f.recoveryTimeout = flags.Duration{Duration: agent.DefaultRecoveryTimeout}
	fs.Var(&f.recoveryTimeout, "recovery_timeout",
		"how long executors of checkpointing frameworks wait for a restarted agent before they exit")
	f.executorReregistrationTimeout = flags.Duration{Duration: agent.DefaultExecutorReregistrationTimeout}
	fs.Var(&f.executorReregistrationTimeout, "executor_reregistration_timeout",
		"how long a restarted agent waits for its executors to re-subscribe (at most 15secs); those\n"+
			"that do not are killed, their tasks TASK_LOST (TASK_GONE if partition-aware)")
	f.gcDelay = flags.Duration{Duration: gc.DefaultDelay}
	fs.Var(&f.gcDelay, "gc_delay",
		"how long after an executor or framework ends its sandbox and checkpoints are removed\n"+
			"(sooner when the disk fills up, see --gc_disk_headroom)")
	fs.Float64Var(&f.gcDiskHeadroom, "gc_disk_headroom", gc.DefaultDiskHeadroom,
		"fraction of the work directory's disk to keep free: old sandboxes are removed sooner the fuller\n"+
			"the disk gets, at once when less than this is free (between 0.0 and 1.0)")
	f.gcDiskWatchInterval = flags.Duration{Duration: gc.DefaultDiskWatchInterval}
	fs.Var(&f.gcDiskWatchInterval, "disk_watch_interval", "how often the work directory's disk usage is checked for --gc_disk_headroom")
	fs.Var(&f.executorReregistrationRetryInterval, "executor_reregistration_retry_interval",
		"for PID-based (v0) executors, how often the reconnect message is re-sent; meso's executors\n"+
			"use the HTTP API and re-subscribe by themselves, so there is nothing to re-send")
}

// resolveLauncher picks Mesos's default launcher when --launcher was not
// given (linux when the agent runs as root on a host with cgroups under
// --cgroups_hierarchy, else posix), and shows it in /flags as Mesos does. It
// runs only when an agent starts, not for every meso command.
func (f *agentFlags) resolveLauncher(dump map[string]string) {
	if f.launcher == "" {
		h, err := cgroups.Open(cgroups.Options{Root: f.cgroupsHierarchy})
		if err != nil {
			h = nil
		}
		f.launcher = builtin.DefaultLauncher(h)
	}
	if dump != nil {
		dump["launcher"] = f.launcher
	}
}

// containerizer is the containerizer configuration the flags describe.
func (f *agentFlags) containerizer(logger *slog.Logger, self string) builtin.Containerizer {
	return builtin.Containerizer{
		Logger:                           logger,
		Isolation:                        f.isolation,
		Launcher:                         f.launcher,
		CgroupsHierarchy:                 f.cgroupsHierarchy,
		CgroupsRoot:                      f.cgroupsRoot,
		CgroupsEnableCFS:                 f.cgroupsEnableCFS,
		CgroupsLimitSwap:                 f.cgroupsLimitSwap,
		CgroupsCPUEnablePidsAndTidsCount: f.cgroupsCountPidsAndTids,
		RevocableCPULowPriority:          f.revocableCPULowPriority,
		ContainerDiskWatchInterval:       f.diskWatchInterval.Duration,
		EnforceContainerDiskQuota:        f.enforceDiskQuota,
		DisallowSharingAgentPidNamespace: f.disallowSharingPid,
		CgroupsDestroyTimeout:            f.cgroupsDestroyTimeout.Duration,
		Helper:                           []string{self, "launch"},
	}
}

func (f *agentFlags) config(logger *slog.Logger, dump map[string]string) (agent.Config, error) {
	f.resolveLauncher(dump)
	self, err := os.Executable()
	if err != nil {
		return agent.Config{}, fmt.Errorf("cannot find the meso binary to run executors: %w", err)
	}
	var env map[string]string
	if f.executorEnv != "" {
		if err := json.Unmarshal([]byte(f.executorEnv), &env); err != nil {
			return agent.Config{}, fmt.Errorf("bad --executor_environment_variables: want a JSON object of strings: %w", err)
		}
	}
	if f.containerizers != "mesos" {
		return agent.Config{}, fmt.Errorf("unsupported --containerizers %q (only mesos for now)", f.containerizers)
	}
	if f.fetcherCacheDir == "" {
		return agent.Config{}, errors.New("--fetcher_cache_dir must not be empty")
	}
	var authorizer authz.Authorizer
	if f.authz != nil {
		if err := f.authz.build(); err != nil {
			return agent.Config{}, err
		}
		authorizer = f.authz.built
	}
	cacheSize := uint64(f.fetcherCacheSize)
	// The command executor switches to the task's user itself when it runs
	// as root; it must be told when the operator turned that off.
	executor := []string{self, "executor"}
	if !f.switchUser {
		executor = append(executor, "--no-switch_user")
	}
	return agent.Config{
		Logger:                        logger,
		Master:                        f.master,
		WorkDir:                       f.workDir,
		Hostname:                      f.hostname,
		Resources:                     f.resources,
		Attributes:                    f.attributes,
		DefaultRole:                   f.defaultRole,
		ExecutorCommand:               executor,
		DefaultExecutorCommand:        defaultExecutorCommand(self),
		CgroupsEnableCFS:              f.cgroupsEnableCFS,
		ExecutorRegistrationTimeout:   f.executorRegistrationTimeout.Duration,
		FetcherStallTimeout:           f.fetcherStallTimeout.Duration,
		FetcherCacheDir:               f.fetcherCacheDir,
		FetcherCacheSize:              &cacheSize,
		FrameworksHome:                f.frameworksHome,
		ExecutorShutdownGracePeriod:   f.executorShutdownGracePeriod.Duration,
		RegistrationBackoffFactor:     f.registrationBackoffFactor.Duration,
		SwitchUser:                    f.switchUser,
		EnablePprof:                   f.enablePprof,
		ExecutorEnvironmentVariables:  env,
		Flags:                         dump,
		Recover:                       f.recover,
		Strict:                        f.strict,
		RecoveryTimeout:               f.recoveryTimeout.Duration,
		ExecutorReregistrationTimeout: f.executorReregistrationTimeout.Duration,
		GCDelay:                       f.gcDelay.Duration,
		GCDiskHeadroom:                f.gcDiskHeadroom,
		DiskWatchInterval:             f.gcDiskWatchInterval.Duration,
		Authorizer:                    authorizer,
	}, nil
}

// defaultExecutorCommand is how agents start the built-in default executor
// (mesos-default-executor): as Mesos does, with --launcher_dir naming the
// directory of the binaries.
func defaultExecutorCommand(self string) []string {
	return []string{self, "default-executor", "--launcher_dir=" + filepath.Dir(self)}
}

func agentCommand() *cobra.Command {
	var f agentFlags
	return flagCommand("agent", "Run a Mesos agent",
		`Runs an agent: it registers with the master, offers this machine's resources and
runs executors and their tasks (v1 executor API on /api/v1/executor, state on /state).

Example: meso agent --master=127.0.0.1:5050 --work_dir=/var/lib/meso

To look at or steer a cluster's agents instead, see 'meso agent list --help',
'meso agent deactivate|reactivate|drain AGENT_ID'.`,
		false, func(fs *flag.FlagSet) runFunc {
			f.register(fs, true)
			return func(ctx context.Context, _ []string) error {
				if f.master == "" || f.workDir == "" {
					return errors.New("--master and --work_dir are required, e.g. meso agent --master=127.0.0.1:5050 --work_dir=/var/lib/meso")
				}
				logger, level, logFile, closeLog, err := f.log.logger(f.loggingLevel, "mesos-slave")
				if err != nil {
					return err
				}
				defer closeLog()
				cfg, err := f.config(logger, flags.Dump(fs))
				if err != nil {
					return err
				}
				cfg.LogFile = logFile
				auth, err := f.authn.resolve(logger)
				if err != nil {
					return err
				}
				cfg.Authenticators, cfg.Credential, cfg.ExecutorSecretKey = auth.realms, auth.credential, auth.jwtKey
				cfg.LogLevel = level // SET_LOGGING_LEVEL changes what the agent logs
				if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
					return fmt.Errorf("cannot create --work_dir: %w", err)
				}
				self, err := os.Executable()
				if err != nil {
					return err
				}
				cz, err := builtin.NewContainerizer(ctx, f.containerizer(logger, self))
				if err != nil {
					return err
				}
				defer cz.Close()
				cfg.Containerizer = cz
				if cfg.TLS, err = tlsFromEnv(logger); err != nil {
					return err
				}
				a, err := agent.New(cfg)
				if err != nil {
					return err
				}
				ln, err := net.Listen("tcp", net.JoinHostPort(f.ip, strconv.Itoa(f.port)))
				if err != nil {
					return fmt.Errorf("cannot listen on %s:%d: %w (is another agent running? pick another --port)", f.ip, f.port, err)
				}
				logger.Info("agent listening", "address", ln.Addr().String(), "master", f.master, "scheme", cfg.TLS.Scheme())
				ln = cfg.TLS.Listen(ln)
				return ignoreCanceled(a.Serve(ctx, ln))
			}
		})
}
