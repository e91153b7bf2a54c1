//go:build linux

package cgroups

import (
	"fmt"
	"path/filepath"
	"time"
)

// userHZ is USER_HZ, the unit of v1's cpuacct.stat (100 on every Linux
// architecture meso builds for).
const userHZ = 100

// CPUStats are a group's CPU accounting.
type CPUStats struct {
	User, System time.Duration
	// Periods, Throttled and ThrottledTime come from cpu.stat (CFS
	// bandwidth control).
	Periods, Throttled uint64
	ThrottledTime      time.Duration
}

// CPU reads the group's CPU accounting: v1's cpuacct.stat and cpu.stat,
// v2's cpu.stat.
func (g *Group) CPU() (CPUStats, error) {
	var s CPUStats
	if g.h.version == V1 {
		acct, err := readKV(filepath.Join(g.Dir("cpuacct"), "cpuacct.stat"))
		if err != nil {
			return s, fmt.Errorf("cgroups: reading cpuacct.stat of %s: %w", g.path, err)
		}
		s.User = time.Duration(acct["user"]) * time.Second / userHZ
		s.System = time.Duration(acct["system"]) * time.Second / userHZ
		st, err := readKV(filepath.Join(g.Dir("cpu"), "cpu.stat"))
		if err != nil {
			return s, fmt.Errorf("cgroups: reading cpu.stat of %s: %w", g.path, err)
		}
		s.Periods, s.Throttled = st["nr_periods"], st["nr_throttled"]
		s.ThrottledTime = time.Duration(st["throttled_time"])
		return s, nil
	}
	st, err := readKV(filepath.Join(g.Dir(""), "cpu.stat"))
	if err != nil {
		return s, fmt.Errorf("cgroups: reading cpu.stat of %s: %w", g.path, err)
	}
	s.User = time.Duration(st["user_usec"]) * time.Microsecond
	s.System = time.Duration(st["system_usec"]) * time.Microsecond
	s.Periods, s.Throttled = st["nr_periods"], st["nr_throttled"]
	s.ThrottledTime = time.Duration(st["throttled_usec"]) * time.Microsecond
	return s, nil
}

// MemoryStats are a group's memory accounting, in bytes.
type MemoryStats struct {
	// Usage is the current charge (v1 memory.usage_in_bytes, v2
	// memory.current); MaxUsage its peak (v1 memory.max_usage_in_bytes, v2
	// memory.peak, 0 where the kernel lacks it).
	Usage, MaxUsage uint64
	// UsageWithSwap is v1's memory.memsw.usage_in_bytes, or v2's
	// memory.current plus memory.swap.current; 0 when swap is not accounted.
	UsageWithSwap uint64
	// From memory.stat: the hierarchical totals on v1.
	Cache, RSS, MappedFile, Swap, Unevictable uint64
	// HasSwap says whether the kernel accounts swap (v1's total_swap, v2's
	// memory.swap.current exist).
	HasSwap bool
	// Kernel and KernelTCP are kernel memory (v1 memory.kmem.*, v2's
	// memory.stat kernel and sock).
	Kernel, KernelTCP uint64
	// Stat is memory.stat as the kernel wrote it.
	Stat string
}

// Memory reads the group's memory accounting.
func (g *Group) Memory() (MemoryStats, error) {
	var s MemoryStats
	dir := g.Dir("memory")
	stat, err := readKV(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return s, fmt.Errorf("cgroups: reading memory.stat of %s: %w", g.path, err)
	}
	s.Stat, _ = readString(filepath.Join(dir, "memory.stat"))
	if g.h.version == V1 {
		if s.Usage, err = readUint(filepath.Join(dir, "memory.usage_in_bytes")); err != nil {
			return s, fmt.Errorf("cgroups: reading memory.usage_in_bytes of %s: %w", g.path, err)
		}
		s.MaxUsage, _ = readUint(filepath.Join(dir, "memory.max_usage_in_bytes"))
		s.UsageWithSwap, _ = readUint(filepath.Join(dir, "memory.memsw.usage_in_bytes"))
		s.Kernel, _ = readUint(filepath.Join(dir, "memory.kmem.usage_in_bytes"))
		s.KernelTCP, _ = readUint(filepath.Join(dir, "memory.kmem.tcp.usage_in_bytes"))
		s.Cache, s.RSS, s.MappedFile = stat["total_cache"], stat["total_rss"], stat["total_mapped_file"]
		s.Swap, s.Unevictable = stat["total_swap"], stat["total_unevictable"]
		_, s.HasSwap = stat["total_swap"]
		return s, nil
	}
	if s.Usage, err = readUint(filepath.Join(dir, "memory.current")); err != nil {
		return s, fmt.Errorf("cgroups: reading memory.current of %s: %w", g.path, err)
	}
	s.MaxUsage, _ = readUint(filepath.Join(dir, "memory.peak"))
	if swap, err := readUint(filepath.Join(dir, "memory.swap.current")); err == nil {
		s.UsageWithSwap = s.Usage + swap
		s.Swap, s.HasSwap = swap, true
	}
	s.Cache, s.RSS, s.MappedFile = stat["file"], stat["anon"], stat["file_mapped"]
	s.Unevictable, s.Kernel, s.KernelTCP = stat["unevictable"], stat["kernel"], stat["sock"]
	return s, nil
}

// OOMAtLimit reports whether the kernel's OOM killer killed a process of
// the group because the group reached its memory limit, which is what
// Mesos's memory isolator reacts to. A kill by the machine-wide OOM killer,
// of a group below its limit, does not count: v2 needs both memory.events
// oom (the limit was reached and an allocation was about to fail) and
// oom_kill; v1 needs both memory.oom_control oom_kill and memory.failcnt
// (the limit was hit). Kernels before 4.13 have no oom_kill; for them
// under_oom, set while the group is in an OOM, is all there is.
func (g *Group) OOMAtLimit() (bool, error) {
	hit, _, err := g.oomAtLimit()
	return hit, err
}

// oomAtLimit is OOMAtLimit, and whether the kernel counts OOM kills.
func (g *Group) oomAtLimit() (hit, counted bool, err error) {
	if g.h.version == V2 {
		f := filepath.Join(g.Dir(""), "memory.events")
		kv, err := readKV(f)
		if err != nil {
			return false, false, fmt.Errorf("cgroups: reading %s: %w", f, err)
		}
		return kv["oom"] > 0 && kv["oom_kill"] > 0, true, nil
	}
	dir := g.Dir("memory")
	kv, err := readKV(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return false, false, fmt.Errorf("cgroups: reading memory.oom_control of %s: %w", g.path, err)
	}
	kills, ok := kv["oom_kill"]
	if !ok {
		return kv["under_oom"] > 0, false, nil
	}
	if kills == 0 {
		return false, true, nil
	}
	failures, err := readUint(filepath.Join(dir, "memory.failcnt"))
	if err != nil {
		return false, true, fmt.Errorf("cgroups: reading memory.failcnt of %s: %w", g.path, err)
	}
	return failures > 0, true, nil
}
