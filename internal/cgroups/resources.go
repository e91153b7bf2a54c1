//go:build linux

package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Unlimited is the value of a limit that is not set.
const Unlimited int64 = -1

// Resources are values to write; nil fields are left alone. The isolators
// decide the values (Mesos's rules); this only writes them in the version's
// files.
type Resources struct {
	// CPUShares is v1's cpu.shares; CPUWeight is v2's cpu.weight. Each is
	// only written on its version.
	CPUShares *uint64
	CPUWeight *uint64
	// CPUQuota and CPUPeriod are the CFS bandwidth in microseconds (v1
	// cpu.cfs_quota_us and cpu.cfs_period_us, v2 cpu.max); a quota of
	// Unlimited removes the limit.
	CPUQuota  *int64
	CPUPeriod *uint64
	// MemorySoft is v1's memory.soft_limit_in_bytes or v2's memory.low.
	MemorySoft *int64
	// MemoryHard is v1's memory.limit_in_bytes or v2's memory.max.
	MemoryHard *int64
	// MemorySwap, with MemoryHard, limits memory and swap together: v1's
	// memory.memsw.limit_in_bytes (the total), v2's memory.swap.max (the
	// swap part: 0 when it equals the hard limit).
	MemorySwap *int64
	// Devices are v1 devices.allow / devices.deny rules, in order.
	Devices []specs.LinuxDeviceCgroup
}

// Update writes r. On v1 it goes through the controllers of the group that
// r touches; on v2 to the group's directory.
func (g *Group) Update(r Resources) error {
	if g.h.version == V1 {
		return g.updateV1(r)
	}
	return g.updateV2(r)
}

func (g *Group) updateV1(r Resources) error {
	spec := &specs.LinuxResources{Devices: r.Devices}
	if r.CPUShares != nil || r.CPUQuota != nil || r.CPUPeriod != nil {
		spec.CPU = &specs.LinuxCPU{Shares: r.CPUShares, Quota: r.CPUQuota, Period: r.CPUPeriod}
	}
	if r.MemorySoft != nil || r.MemoryHard != nil || r.MemorySwap != nil {
		spec.Memory = &specs.LinuxMemory{Reservation: r.MemorySoft, Limit: r.MemoryHard, Swap: r.MemorySwap}
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath("/"+g.path), g.v1())
	if err != nil {
		return fmt.Errorf("cgroups: loading %s: %w", g.path, err)
	}
	if err := cg.Update(spec); err != nil {
		return fmt.Errorf("cgroups: updating %s: %w", g.path, err)
	}
	return nil
}

func (g *Group) updateV2(r Resources) error {
	dir := g.Dir("")
	type value struct {
		file string
		v    string
	}
	var vs []value
	if r.CPUWeight != nil {
		vs = append(vs, value{"cpu.weight", strconv.FormatUint(*r.CPUWeight, 10)})
	}
	if r.CPUQuota != nil || r.CPUPeriod != nil {
		quota, period := "max", "100000"
		if r.CPUQuota != nil && *r.CPUQuota >= 0 {
			quota = strconv.FormatInt(*r.CPUQuota, 10)
		}
		if r.CPUPeriod != nil {
			period = strconv.FormatUint(*r.CPUPeriod, 10)
		}
		vs = append(vs, value{"cpu.max", quota + " " + period})
	}
	if r.MemorySoft != nil {
		vs = append(vs, value{"memory.low", limit(*r.MemorySoft)})
	}
	if r.MemoryHard != nil {
		vs = append(vs, value{"memory.max", limit(*r.MemoryHard)})
	}
	if r.MemorySwap != nil {
		swap := Unlimited
		if *r.MemorySwap >= 0 && r.MemoryHard != nil && *r.MemoryHard >= 0 {
			swap = max(*r.MemorySwap-*r.MemoryHard, 0)
		}
		vs = append(vs, value{"memory.swap.max", limit(swap)})
	}
	if len(r.Devices) > 0 {
		return errors.New("cgroups: device rules are not supported on cgroups v2")
	}
	for _, v := range vs {
		if err := writeFile(filepath.Join(dir, v.file), v.v); err != nil {
			return fmt.Errorf("cgroups: writing %s of %s: %w", v.file, g.path, err)
		}
	}
	return nil
}

func limit(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// MemoryLimit reads the hard memory limit (Unlimited when none).
func (g *Group) MemoryLimit() (int64, error) {
	f := filepath.Join(g.Dir("memory"), "memory.limit_in_bytes")
	if g.h.version == V2 {
		f = filepath.Join(g.Dir(""), "memory.max")
	}
	v, err := readUint(f)
	if err != nil {
		return 0, fmt.Errorf("cgroups: reading the memory limit of %s: %w", g.path, err)
	}
	// v1 reports "no limit" as a page-rounded LONG_MAX.
	if v >= 1<<62 {
		return Unlimited, nil
	}
	return int64(v), nil
}

// MemorySoftLimitUnset reports whether the soft memory limit still has the
// kernel's default (v1 memory.soft_limit_in_bytes unlimited, v2 memory.low
// 0): nothing has set it yet.
func (g *Group) MemorySoftLimitUnset() (bool, error) {
	f := filepath.Join(g.Dir("memory"), "memory.soft_limit_in_bytes")
	if g.h.version == V2 {
		f = filepath.Join(g.Dir(""), "memory.low")
	}
	v, err := readUint(f)
	if errors.Is(err, os.ErrNotExist) && g.h.fake {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("cgroups: reading the soft memory limit of %s: %w", g.path, err)
	}
	if g.h.version == V2 {
		return v == 0, nil
	}
	return v >= 1<<62, nil
}
