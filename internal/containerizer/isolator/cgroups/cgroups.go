//go:build linux

// Package cgroups is the cgroups isolator: Mesos's cgroups/cpu, cgroups/mem,
// cgroups/pids, cgroups/cpuset, cgroups/devices and cgroups/all, over
// cgroups v1 and v2 (internal/cgroups). Like Mesos's it is one isolator for
// every cgroups/* name on --isolation, managing the controllers those names
// map to, each container in <cgroups_root>/<container id>.
//
// It keeps no per-container state: the cgroup follows from the container ID,
// and what Mesos remembers (whether the hard memory limit was ever set) is
// read back from the cgroup itself.
package cgroups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/cgroups"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/flags"
	"github.com/meso-project/meso/internal/users"
	"github.com/meso-project/meso/pkg/resources"
)

// Mesos's constants (src/slave/containerizer/mesos/isolators/cgroups and
// cgroups2 constants.hpp).
const (
	sharesPerCPU          = 1024
	sharesPerCPURevocable = 10
	minShares             = 2
	weightPerCPU          = 100
	weightPerCPURevocable = 1
	minWeight             = 1
	cfsPeriod             = 100 * time.Millisecond
	minCFSQuota           = time.Millisecond
	minMemory             = 32 << 20
)

// DefaultDestroyTimeout is --cgroups_destroy_timeout's default.
const DefaultDestroyTimeout = time.Minute

// Names maps each cgroups/* isolator name to the controllers it manages
// (v1 names), as Mesos's isolator table does. cgroups/all takes every one
// the host offers.
var Names = map[string][]string{
	"cgroups/cpu":     {"cpu", "cpuacct"},
	"cgroups/mem":     {"memory"},
	"cgroups/pids":    {"pids"},
	"cgroups/cpuset":  {"cpuset"},
	"cgroups/devices": {"devices"},
}

// defaultDevices is Mesos's default device whitelist for cgroups/devices.
var defaultDevices = []string{
	"c *:* m", "b *:* m", "c 5:1 rwm", "c 4:0 rwm", "c 4:1 rwm", "c 136:* rwm", "c 5:2 rwm",
	"c 10:200 rwm", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:9 rwm", "c 1:8 rwm",
}

// Options configures the isolator.
type Options struct {
	Logger    *slog.Logger
	Hierarchy *cgroups.Hierarchy
	// Root is --cgroups_root ("mesos").
	Root string
	// Isolation are the cgroups/* names given on --isolation.
	Isolation []string
	// EnableCFS is --cgroups_enable_cfs: a CFS quota equal to the cpus.
	EnableCFS bool
	// LimitSwap is --cgroups_limit_swap: the memory limit covers swap too.
	LimitSwap bool
	// CountPidsAndTids is --cgroups_cpu_enable_pids_and_tids_count.
	CountPidsAndTids bool
	// RevocableCPULowPriority is --revocable_cpu_low_priority.
	RevocableCPULowPriority bool
	// DestroyTimeout is --cgroups_destroy_timeout (default 1 minute): how
	// long emptying and removing a container's cgroups may take.
	DestroyTimeout time.Duration
}

// Isolator is the cgroups isolator.
type Isolator struct {
	o           Options
	log         *slog.Logger
	controllers []string
	name        string
	// pressure counts memory pressure events (cgroups v1 with the memory
	// controller); nil otherwise.
	pressure *pressure
}

var (
	_ containerizer.Preparer     = (*Isolator)(nil)
	_ containerizer.Isolater     = (*Isolator)(nil)
	_ containerizer.Joiner       = (*Isolator)(nil)
	_ containerizer.Updater      = (*Isolator)(nil)
	_ containerizer.Watcher      = (*Isolator)(nil)
	_ containerizer.LimitChecker = (*Isolator)(nil)
	_ containerizer.Usager       = (*Isolator)(nil)
	_ containerizer.Cleaner      = (*Isolator)(nil)
	_ containerizer.Recoverer    = (*Isolator)(nil)
)

// New checks that the hierarchy offers what the names need and returns the
// isolator. An unknown cgroups/* name, or a controller the host lacks, is
// an error naming what is available.
func New(o Options) (*Isolator, error) {
	if o.Hierarchy == nil {
		return nil, errors.New("no cgroup hierarchy")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := o.Hierarchy
	var controllers []string
	add := func(c string) {
		if !slices.Contains(controllers, c) {
			controllers = append(controllers, c)
		}
	}
	if slices.Contains(o.Isolation, "cgroups/all") {
		for _, name := range slices.Sorted(maps.Keys(Names)) {
			for _, c := range Names[name] {
				if h.Has(c) && (c != "devices" || h.Version() == cgroups.V1) {
					add(c)
				}
			}
		}
		for _, c := range h.Controllers() {
			if !slices.Contains(controllers, c) && c != "freezer" {
				log.Warn("cgroups/all: not loading a controller meso's cgroups isolator does not support yet",
					"controller", c)
			}
		}
		if len(controllers) == 0 {
			return nil, fmt.Errorf("no cgroup controllers meso supports are available under %s", h.Root())
		}
	} else {
		for _, name := range o.Isolation {
			cs, ok := Names[name]
			if !ok {
				return nil, fmt.Errorf("Unknown or unsupported isolator '%s'", name)
			}
			for _, c := range cs {
				if c == "devices" && h.Version() == cgroups.V2 {
					return nil, fmt.Errorf("isolator '%s' is not supported on cgroups v2 yet", name)
				}
				if !h.Has(c) {
					return nil, fmt.Errorf("isolator '%s' needs the cgroup controller '%s', which %s cgroups under %s do not offer (available: %s)",
						name, c, h.Version(), h.Root(), strings.Join(h.Controllers(), ", "))
				}
				add(c)
			}
		}
	}
	slices.Sort(controllers)
	i := &Isolator{o: o, log: log, controllers: controllers, name: "cgroups(" + strings.Join(controllers, ",") + ")"}
	if i.has("memory") && h.Version() == cgroups.V1 {
		i.pressure = newPressure()
	}
	return i, nil
}

// Close stops the isolator's listeners.
func (i *Isolator) Close() error {
	if i.pressure != nil {
		i.pressure.close()
	}
	return nil
}

// Name names the isolator by its controllers.
func (i *Isolator) Name() string { return i.name }

// Controllers are the controllers the isolator manages.
func (i *Isolator) Controllers() []string { return slices.Clone(i.controllers) }

func (i *Isolator) has(c string) bool { return slices.Contains(i.controllers, c) }

func (i *Isolator) group(id string) *cgroups.Group {
	return i.o.Hierarchy.Group(i.cgroupPath(id), i.controllers...)
}

// cgroupPath is <root>/<id>, and for a nested container with cgroups of
// its own (share_cgroups=false) <root>/<parent>/mesos/<child>, Mesos's
// layout: its limits then nest in its parent's.
func (i *Isolator) cgroupPath(id string) string {
	return path.Join(i.o.Root, strings.ReplaceAll(id, ".", "/mesos/"))
}

// Prepare creates the container's cgroups; devices get Mesos's whitelist.
func (i *Isolator) Prepare(_ context.Context, cfg containerizer.ContainerConfig) (*containerizer.LaunchInfo, error) {
	g := i.group(cfg.ID)
	if g.Exists() {
		return nil, fmt.Errorf("The cgroup at '%s' already exists", g.Dir(i.controllers[0]))
	}
	if err := g.Create(); err != nil {
		return nil, err
	}
	// The container's user owns its cgroups (not their control files), so
	// that it may make cgroups of its own below them, as in Mesos.
	if cfg.User != "" && os.Geteuid() == 0 {
		cred, err := users.Credential(cfg.User)
		if err != nil {
			return nil, err
		}
		for _, c := range i.controllers {
			dir := g.Dir(c)
			if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("Failed to chown the cgroup at '%s' to user '%s': %w", dir, cfg.User, err)
			}
		}
	}
	if i.has("devices") {
		rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
		for _, e := range defaultDevices {
			r, err := parseDevice(e)
			if err != nil {
				return nil, err
			}
			rules = append(rules, r)
		}
		if err := i.o.Hierarchy.Group(g.Path(), "devices").Update(cgroups.Resources{Devices: rules}); err != nil {
			return nil, fmt.Errorf("failed to set the device whitelist: %w", err)
		}
	}
	return nil, nil
}

// parseDevice parses a devices.allow line ("c 1:3 rwm").
func parseDevice(s string) (specs.LinuxDeviceCgroup, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return specs.LinuxDeviceCgroup{}, fmt.Errorf("bad device entry %q", s)
	}
	major, minor, ok := strings.Cut(f[1], ":")
	if !ok {
		return specs.LinuxDeviceCgroup{}, fmt.Errorf("bad device entry %q", s)
	}
	num := func(v string) *int64 {
		if v == "*" {
			return nil
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return &n
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: f[0], Major: num(major), Minor: num(minor), Access: f[2]}, nil
}

// Isolate moves the container's first process into its cgroups, and
// starts counting its memory pressure events.
func (i *Isolator) Isolate(_ context.Context, c containerizer.Container) error {
	if err := i.group(c.ID).Add(c.Pid); err != nil {
		return err
	}
	if i.pressure != nil {
		i.pressure.watch(c.ID, i.o.Hierarchy.Group(i.cgroupPath(c.ID), "memory"))
	}
	return nil
}

// Join places a nested container's process in its root container's
// cgroups: Mesos's isolators share them with nested containers by default
// (share_cgroups). On v2 a process the linux launcher put in the nested
// container's cgroup, below the root's, is counted there already and stays.
func (i *Isolator) Join(_ context.Context, root containerizer.Container, pid int) error {
	g := i.group(root.ID)
	if i.o.Hierarchy.Version() == cgroups.V2 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(g.Dir(""), i.o.Hierarchy.Root()), "/")
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if cg, ok := strings.CutPrefix(line, "0::"); ok && (cg == rel || strings.HasPrefix(cg, rel+"/")) {
				return nil
			}
		}
	}
	return g.Add(pid)
}

// Update applies Mesos's rules: cpu.shares = 1024 per cpu (v2: cpu.weight
// = 100 per cpu), a CFS quota from the cpus limit or, with
// --cgroups_enable_cfs, the request; the memory soft limit is the request
// and the hard limit the limit or the request (at least 32 MB each), and the
// hard limit is only ever raised once set, since lowering it below the
// usage would invoke the OOM killer.
func (i *Isolator) Update(_ context.Context, c containerizer.Container, requests []*mesospb.Resource, limits map[string]float64) error {
	g := i.group(c.ID)
	q := resources.Resources(requests).Quantities()
	if i.has("cpu") {
		cpus, ok := q["cpus"]
		revocable := resources.Resources(requests).Revocable().Quantities()["cpus"] > 0
		if !ok {
			return errors.New("Failed to update subsystem 'cpu': No cpus resource given")
		}
		var r cgroups.Resources
		perCPU, perCPUWeight := uint64(sharesPerCPU), uint64(weightPerCPU)
		if revocable && i.o.RevocableCPULowPriority {
			perCPU, perCPUWeight = sharesPerCPURevocable, weightPerCPURevocable
		}
		shares := max(uint64(float64(perCPU)*cpus), minShares)
		weight := max(uint64(float64(perCPUWeight)*cpus), minWeight)
		r.CPUShares, r.CPUWeight = &shares, &weight
		limit, hasLimit := limits["cpus"]
		if hasLimit || i.o.EnableCFS {
			period := uint64(cfsPeriod / time.Microsecond)
			r.CPUPeriod = &period
			var quota int64
			switch {
			case hasLimit && math.IsInf(limit, 1):
				quota = cgroups.Unlimited
			case hasLimit:
				quota = int64(max(time.Duration(float64(cfsPeriod)*limit), minCFSQuota) / time.Microsecond)
			default:
				quota = int64(max(time.Duration(float64(cfsPeriod)*cpus), minCFSQuota) / time.Microsecond)
			}
			r.CPUQuota = &quota
		}
		if err := g.Update(r); err != nil {
			return fmt.Errorf("Failed to update subsystem 'cpu': %w", err)
		}
	}
	if i.has("memory") {
		mem, ok := q["mem"]
		if !ok {
			return errors.New("Failed to update subsystem 'memory': No memory resource given")
		}
		soft := max(int64(mem)<<20, minMemory)
		hard := soft
		if l, ok := limits["mem"]; ok {
			if math.IsInf(l, 1) {
				hard = cgroups.Unlimited
			} else {
				hard = max(int64(l)<<20, minMemory)
			}
		}
		r := cgroups.Resources{MemorySoft: &soft}
		current, err := g.MemoryLimit()
		if err != nil {
			return fmt.Errorf("Failed to update subsystem 'memory': %w", err)
		}
		// Mesos remembers whether it ever set the hard limit; the cgroup
		// does too: the first Update always sets a soft limit.
		first, err := g.MemorySoftLimitUnset()
		if err != nil {
			return fmt.Errorf("Failed to update subsystem 'memory': %w", err)
		}
		if first || hard == cgroups.Unlimited || current != cgroups.Unlimited && hard > current {
			r.MemoryHard = &hard
			if i.o.LimitSwap {
				r.MemorySwap = &hard
			}
		}
		if err := g.Update(r); err != nil {
			return fmt.Errorf("Failed to update subsystem 'memory': %w", err)
		}
		// A burstable command task (a memory limit above its request) is
		// the first the machine's OOM killer should pick once it uses more
		// than it asked for, as Mesos arranges when it isolates one.
		if first && c.CommandTask && c.Pid > 0 && (hard == cgroups.Unlimited || soft < hard) {
			if err := setOOMScoreAdj(c.Pid, soft); err != nil {
				return fmt.Errorf("Failed to set OOM score adjustment: %w", err)
			}
		}
	}
	return nil
}

// Watch returns when the kernel's OOM killer struck in the container.
func (i *Isolator) Watch(ctx context.Context, c containerizer.Container) (*containerizer.Limitation, error) {
	if !i.has("memory") {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	g := i.group(c.ID)
	if err := g.WaitOOM(ctx); err != nil {
		return nil, err
	}
	return i.oomLimitation(g), nil
}

// Check reports an OOM kill that already happened.
func (i *Isolator) Check(_ context.Context, c containerizer.Container) (*containerizer.Limitation, error) {
	if !i.has("memory") {
		return nil, nil
	}
	g := i.group(c.ID)
	hit, err := g.OOMAtLimit()
	if err != nil || !hit {
		return nil, err
	}
	return i.oomLimitation(g), nil
}

// oomLimitation builds Mesos's memory limitation: the message with the
// limit, the peak usage and memory.stat, and the peak as the limited mem.
func (i *Isolator) oomLimitation(g *cgroups.Group) *containerizer.Limitation {
	var msg strings.Builder
	msg.WriteString("Memory limit exceeded: ")
	if l, err := g.MemoryLimit(); err == nil && l >= 0 {
		msg.WriteString("Requested: " + flags.FormatBytes(uint64(l)) + " ")
	}
	mem, err := g.Memory()
	peak := mem.MaxUsage
	if err == nil {
		if peak == 0 {
			peak = mem.Usage
		}
		msg.WriteString("Maximum Used: " + flags.FormatBytes(peak) + "\n")
		msg.WriteString("\nMEMORY STATISTICS: \n" + mem.Stat + "\n\n")
	}
	i.log.Info("OOM detected", "container_id", path.Base(g.Path()), "message", strings.TrimSpace(msg.String()))
	return &containerizer.Limitation{
		Reason:  mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_MEMORY,
		Message: msg.String(),
		Resources: []*mesospb.Resource{{
			Name:   proto.String("mem"),
			Type:   mesospb.Value_SCALAR.Enum(),
			Scalar: &mesospb.Value_Scalar{Value: proto.Float64(float64(peak) / (1 << 20))},
		}},
	}
}

// Usage reports the controllers' accounting in Mesos's fields.
func (i *Isolator) Usage(_ context.Context, c containerizer.Container) (*mesospb.ResourceStatistics, error) {
	g := i.group(c.ID)
	out := &mesospb.ResourceStatistics{Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9)}
	var errs []error
	if i.has("cpu") {
		st, err := g.CPU()
		if err != nil {
			errs = append(errs, err)
		} else {
			out.CpusUserTimeSecs = proto.Float64(st.User.Seconds())
			out.CpusSystemTimeSecs = proto.Float64(st.System.Seconds())
			if i.o.EnableCFS {
				out.CpusNrPeriods = proto.Uint32(uint32(st.Periods))
				out.CpusNrThrottled = proto.Uint32(uint32(st.Throttled))
				out.CpusThrottledTimeSecs = proto.Float64(st.ThrottledTime.Seconds())
			}
		}
		if i.o.CountPidsAndTids {
			if pids, err := g.Procs(); err == nil {
				out.Processes = proto.Uint32(uint32(len(pids)))
			}
			if tids, err := g.Threads(); err == nil {
				out.Threads = proto.Uint32(uint32(len(tids)))
			}
		}
	}
	if i.has("memory") {
		st, err := g.Memory()
		if err != nil {
			errs = append(errs, err)
		} else {
			out.MemTotalBytes = proto.Uint64(st.Usage)
			if i.o.LimitSwap {
				out.MemTotalMemswBytes = proto.Uint64(st.UsageWithSwap)
			}
			out.MemFileBytes = proto.Uint64(st.Cache)
			out.MemCacheBytes = proto.Uint64(st.Cache)
			out.MemAnonBytes = proto.Uint64(st.RSS)
			out.MemRssBytes = proto.Uint64(st.RSS)
			out.MemMappedFileBytes = proto.Uint64(st.MappedFile)
			if st.HasSwap {
				out.MemSwapBytes = proto.Uint64(st.Swap)
			}
			out.MemUnevictableBytes = proto.Uint64(st.Unevictable)
			if i.pressure != nil {
				if counts, ok := i.pressure.get(c.ID); ok {
					out.MemLowPressureCounter = proto.Uint64(counts[0])
					out.MemMediumPressureCounter = proto.Uint64(counts[1])
					out.MemCriticalPressureCounter = proto.Uint64(counts[2])
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil && len(errs) == len(i.usageControllers()) {
		return nil, err
	}
	return out, nil
}

func (i *Isolator) usageControllers() []string {
	var out []string
	for _, c := range []string{"cpu", "memory"} {
		if i.has(c) {
			out = append(out, c)
		}
	}
	return out
}

// Cleanup kills what is left in the container's cgroups and removes them.
func (i *Isolator) Cleanup(ctx context.Context, c containerizer.Container) error {
	if i.pressure != nil {
		i.pressure.forget(c.ID)
	}
	return i.destroy(ctx, c.ID)
}

// destroy empties and removes the container's cgroup in every controller
// where it exists, one controller at a time on v1: an orphan left by an
// agent that ran with fewer cgroups/* isolators exists in only some of them
// (Mesos's recover, too, skips just the hierarchies where it is missing).
func (i *Isolator) destroy(ctx context.Context, id string) error {
	groups := []*cgroups.Group{i.group(id)}
	ctrls := []string{""}
	if i.o.Hierarchy.Version() == cgroups.V1 {
		groups, ctrls = groups[:0], i.controllers
		for _, c := range i.controllers {
			groups = append(groups, i.o.Hierarchy.Group(i.cgroupPath(id), c))
		}
	}
	timeout := i.o.DestroyTimeout
	if timeout <= 0 {
		timeout = DefaultDestroyTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var errs []error
	for k, g := range groups {
		if !g.Exists() {
			continue
		}
		if err := g.Kill(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, i.deleteBelow(g, ctrls[k]), g.Delete())
	}
	return errors.Join(errs...)
}

// deleteBelow removes the cgroups below g (those of nested containers and
// the "mesos" cgroups holding them), deepest first: a cgroup with children
// cannot be removed.
func (i *Isolator) deleteBelow(g *cgroups.Group, ctrl string) error {
	dir := g.Dir(ctrl)
	var below []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && p != dir && d.Name() != cgroups.Leaf {
			below = append(below, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for k := len(below) - 1; k >= 0; k-- {
		sub := path.Join(g.Path(), filepath.ToSlash(below[k]))
		if ctrl != "" {
			errs = append(errs, i.o.Hierarchy.Group(sub, ctrl).Delete())
		} else {
			errs = append(errs, i.o.Hierarchy.Group(sub).Delete())
		}
	}
	return errors.Join(errs...)
}

// Recover removes the cgroups of containers that are not live: what an
// earlier agent left behind (Mesos destroys them as orphans).
func (i *Isolator) Recover(ctx context.Context, live []string) error {
	var errs []error
	seen := map[string]bool{}
	for _, ctrl := range i.controllers {
		ids, err := i.o.Hierarchy.Children(i.o.Root, ctrl)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if seen[id] || slices.Contains(live, id) {
				continue
			}
			seen[id] = true
			i.log.Info("removing the cgroups of an orphan container", "container_id", id)
			errs = append(errs, i.destroy(ctx, id))
		}
		if i.o.Hierarchy.Version() == cgroups.V2 {
			break
		}
	}
	return errors.Join(errs...)
}

// setOOMScoreAdj gives pid Mesos's OOM score adjustment for a memory
// request: 1000 - 1000 × request / total memory, so that a container using
// more than its request scores about 1000.
func setOOMScoreAdj(pid int, request int64) error {
	total := containerizer.TotalMemory()
	if total == 0 {
		return errors.New("cannot read the machine's memory size")
	}
	adj := 1000 - (1000*uint64(request))/total
	return os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte(strconv.FormatUint(adj, 10)), 0o644)
}
