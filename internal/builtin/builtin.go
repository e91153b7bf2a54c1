//go:build linux

// Package builtin holds the tables of meso's built-in implementations, by the
// names Mesos gives them on its flags: allocators (--allocator), launchers
// (--launcher) and isolators (--isolation). The composition roots (cmd/meso,
// internal/local and the benchmarks) pick from these tables; nothing else
// imports a concrete allocator, launcher or isolator. Keeping every table in
// this one file is deliberate: it is the list of what meso can be configured
// to do.
package builtin

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/hierarchical"
	"github.com/meso-project/meso/internal/cgroups"
	"github.com/meso-project/meso/internal/containerizer"
	isocgroups "github.com/meso-project/meso/internal/containerizer/isolator/cgroups"
	"github.com/meso-project/meso/internal/containerizer/isolator/disk"
	"github.com/meso-project/meso/internal/containerizer/isolator/linux"
	"github.com/meso-project/meso/internal/containerizer/isolator/posix"
	"github.com/meso-project/meso/internal/containerizer/isolator/secret"
	"github.com/meso-project/meso/internal/containerizer/launcher"
)

// Allocators are the allocators by their --allocator names.
var Allocators = map[string]allocator.Factory{
	"HierarchicalDRF": hierarchical.New,
}

// Containerizer holds the agent flags the Mesos containerizer is built from,
// with Mesos's names; the zero value of a field means Mesos's default.
type Containerizer struct {
	Logger *slog.Logger
	// Isolation is --isolation (default "posix/cpu,posix/mem").
	Isolation string
	// Launcher is --launcher: "linux" or "posix"; "" picks linux when the
	// agent runs as root and the host has cgroups, else posix.
	Launcher string
	// CgroupsHierarchy is --cgroups_hierarchy (/sys/fs/cgroup) and
	// CgroupsRoot is --cgroups_root (mesos).
	CgroupsHierarchy, CgroupsRoot string
	// CgroupsVersion forces the cgroups version instead of detecting it
	// (tests with a fake hierarchy).
	CgroupsVersion cgroups.Version
	// The --cgroups_* feature flags.
	CgroupsEnableCFS, CgroupsLimitSwap, CgroupsCPUEnablePidsAndTidsCount bool
	// RevocableCPULowPriority is --revocable_cpu_low_priority (Mesos's
	// default is true; set it explicitly).
	RevocableCPULowPriority bool
	// ContainerDiskWatchInterval is --container_disk_watch_interval (15s)
	// and EnforceContainerDiskQuota --enforce_container_disk_quota.
	ContainerDiskWatchInterval time.Duration
	EnforceContainerDiskQuota  bool
	// DisallowSharingAgentPidNamespace is
	// --disallow_sharing_agent_pid_namespace.
	DisallowSharingAgentPidNamespace bool
	// CgroupsDestroyTimeout is --cgroups_destroy_timeout (1 minute).
	CgroupsDestroyTimeout time.Duration
	// Helper is the argv of the launch helper ({"/path/meso", "launch"}).
	Helper []string
}

// DefaultIsolation is Mesos's --isolation default.
const DefaultIsolation = "posix/cpu,posix/mem"

// env is what isolator and launcher factories build from.
type env struct {
	cfg       Containerizer
	isolation []string
	launcher  string
	hierarchy func() (*cgroups.Hierarchy, error)
	cgroups   *isocgroups.Isolator // built once for every cgroups/* name
}

// isolatorFactory builds one isolator; it may return nil when another name
// already built the shared isolator (cgroups/*).
type isolatorFactory func(e *env, name string) (containerizer.Isolator, error)

// Isolators are the isolators by their --isolation names, in the order Mesos
// runs them (filesystem, runtime, namespaces, disk); every cgroups/* name
// shares one cgroups isolator.
var Isolators = []struct {
	Name string
	New  isolatorFactory
}{
	{"filesystem/posix", func(*env, string) (containerizer.Isolator, error) { return linux.FilesystemPosix{}, nil }},
	{"filesystem/linux", func(e *env, _ string) (containerizer.Isolator, error) {
		return linux.NewFilesystemLinux(e.launcher)
	}},
	{"posix/cpu", func(*env, string) (containerizer.Isolator, error) { return posix.NewCPU(), nil }},
	{"posix/mem", func(*env, string) (containerizer.Isolator, error) { return posix.NewMem(), nil }},
	{"cgroups/all", cgroupsIsolator},
	{"cgroups/cpu", cgroupsIsolator},
	{"cgroups/cpuset", cgroupsIsolator},
	{"cgroups/devices", cgroupsIsolator},
	{"cgroups/mem", cgroupsIsolator},
	{"cgroups/pids", cgroupsIsolator},
	{"namespaces/pid", func(e *env, _ string) (containerizer.Isolator, error) {
		return linux.NewNamespacesPid(e.launcher, e.isolation, e.cfg.DisallowSharingAgentPidNamespace)
	}},
	{"disk/du", func(e *env, _ string) (containerizer.Isolator, error) {
		return disk.New(disk.Options{Interval: e.cfg.ContainerDiskWatchInterval,
			Enforce: e.cfg.EnforceContainerDiskQuota, Logger: e.cfg.Logger}), nil
	}},
	{"network/cni", func(*env, string) (containerizer.Isolator, error) { return linux.NetworkCNI{}, nil }},
	{"environment_secret", func(*env, string) (containerizer.Isolator, error) { return secret.EnvironmentSecret{}, nil }},
}

func cgroupsIsolator(e *env, _ string) (containerizer.Isolator, error) {
	if e.cgroups != nil {
		return nil, nil
	}
	h, err := e.hierarchy()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range e.isolation {
		if strings.HasPrefix(n, "cgroups/") {
			names = append(names, n)
		}
	}
	iso, err := isocgroups.New(isocgroups.Options{
		Logger: e.cfg.Logger, Hierarchy: h, Root: e.cfg.CgroupsRoot, Isolation: names,
		EnableCFS: e.cfg.CgroupsEnableCFS, LimitSwap: e.cfg.CgroupsLimitSwap,
		CountPidsAndTids:        e.cfg.CgroupsCPUEnablePidsAndTidsCount,
		RevocableCPULowPriority: e.cfg.RevocableCPULowPriority,
		DestroyTimeout:          e.cfg.CgroupsDestroyTimeout,
	})
	if err != nil {
		return nil, err
	}
	e.cgroups = iso
	return iso, nil
}

// Launchers are the launchers by their --launcher names.
var Launchers = map[string]func(e *env) (containerizer.Launcher, error){
	"posix": func(*env) (containerizer.Launcher, error) { return launcher.NewPosix(), nil },
	"linux": func(e *env) (containerizer.Launcher, error) {
		h, err := e.hierarchy()
		if err != nil {
			return nil, err
		}
		return launcher.NewLinux(h, e.cfg.CgroupsRoot, e.cfg.CgroupsDestroyTimeout)
	},
}

// deprecated are Mesos's old isolator names and what they stand for.
var deprecated = map[string][]string{
	"process":    {"posix/cpu", "posix/mem"},
	"cgroups":    {"cgroups/cpu", "cgroups/mem"},
	"posix/disk": {"disk/du"},
}

// KnownIsolators lists the --isolation names meso accepts.
func KnownIsolators() []string {
	var out []string
	for _, i := range Isolators {
		out = append(out, i.Name)
	}
	slices.Sort(out)
	return out
}

// ParseIsolation applies Mesos's rules to --isolation: comma-separated
// names, no duplicates, the deprecated names replaced, filesystem/posix
// added when no filesystem isolator is named (only one may be), network/cni
// when no network isolator is, and environment_secret always.
func ParseIsolation(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultIsolation
	}
	var tokens []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, t)
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, t := range tokens {
		if seen[t] {
			return nil, fmt.Errorf("Duplicate entries found in --isolation flag '[ %s ]'", strings.Join(tokens, ", "))
		}
		seen[t] = true
	}
	for _, t := range tokens {
		names := []string{t}
		if repl, ok := deprecated[t]; ok {
			names = repl
		}
		for _, n := range names {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	fs := 0
	for _, n := range out {
		if strings.HasPrefix(n, "filesystem/") {
			fs++
		}
	}
	switch {
	case fs == 0:
		out = append(out, "filesystem/posix")
	case fs > 1:
		return nil, fmt.Errorf("Using multiple filesystem isolators simultaneously is disallowed")
	}
	network := false
	for _, n := range out {
		network = network || strings.HasPrefix(n, "network/")
	}
	if !network {
		out = append(out, "network/cni")
	}
	if !slices.Contains(out, "environment_secret") {
		out = append(out, "environment_secret")
	}
	for _, n := range out {
		known := false
		for _, i := range Isolators {
			known = known || i.Name == n
		}
		if !known {
			return nil, fmt.Errorf("Unknown or unsupported isolator '%s' (meso's isolators: %s)",
				n, strings.Join(KnownIsolators(), ", "))
		}
	}
	return out, nil
}

// DefaultLauncher is Mesos's choice: linux when the agent runs as root on a
// host with cgroups to track containers in, else posix.
func DefaultLauncher(h *cgroups.Hierarchy) string {
	if launcher.Available(h) {
		return "linux"
	}
	return "posix"
}

// NewContainerizer builds the Mesos containerizer the flags describe, and
// destroys what an earlier agent with the same --cgroups_root left behind.
// Errors read like Mesos's ("Failed to create a containerizer: ...").
func NewContainerizer(ctx context.Context, cfg Containerizer) (*containerizer.Mesos, error) {
	wrap := func(err error) error { return fmt.Errorf("Failed to create a containerizer: %w", err) }
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CgroupsRoot == "" {
		cfg.CgroupsRoot = "mesos"
	}
	isolation, err := ParseIsolation(cfg.Isolation)
	if err != nil {
		return nil, wrap(err)
	}
	var h *cgroups.Hierarchy
	var herr error
	opened := false
	e := &env{cfg: cfg, isolation: isolation}
	e.hierarchy = func() (*cgroups.Hierarchy, error) {
		if !opened {
			opened = true
			h, herr = cgroups.Open(cgroups.Options{Root: cfg.CgroupsHierarchy, Version: cfg.CgroupsVersion})
			if herr != nil {
				herr = fmt.Errorf("cgroups are needed for --launcher=linux and the cgroups/* isolators: %w", herr)
			}
		}
		return h, herr
	}
	e.launcher = cfg.Launcher
	if e.launcher == "" {
		hh, _ := e.hierarchy()
		e.launcher = DefaultLauncher(hh)
	}
	newLauncher, ok := Launchers[e.launcher]
	if !ok {
		return nil, wrap(fmt.Errorf("Failed to create launcher: Unknown or unsupported launcher: %s (use linux or posix)", e.launcher))
	}
	l, err := newLauncher(e)
	if err != nil {
		return nil, wrap(fmt.Errorf("Failed to create launcher: %w", err))
	}
	var isolators []containerizer.Isolator
	for _, def := range Isolators {
		if !slices.Contains(isolation, def.Name) {
			continue
		}
		iso, err := def.New(e, def.Name)
		if err != nil {
			for _, built := range isolators {
				closeIsolator(built)
			}
			return nil, wrap(fmt.Errorf("Failed to create isolator '%s': %w", def.Name, err))
		}
		if iso != nil {
			isolators = append(isolators, iso)
		}
	}
	cfg.Logger.Info("using isolation", "isolation", strings.Join(isolation, ","), "launcher", l.Name())
	m, err := containerizer.New(ctx, containerizer.Config{
		Logger:    cfg.Logger,
		Launcher:  l,
		Isolators: isolators,
		Helper:    cfg.Helper,
		CFSQuota:  cfg.CgroupsEnableCFS,
	})
	if err != nil {
		for _, built := range isolators {
			closeIsolator(built)
		}
		return nil, wrap(err)
	}
	return m, nil
}

func closeIsolator(i containerizer.Isolator) {
	if c, ok := i.(interface{ Close() error }); ok {
		_ = c.Close()
	}
}
