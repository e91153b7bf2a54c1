//go:build linux

package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Leaf is the name of the v2 cgroup under a group that holds its processes.
const Leaf = "leaf"

// Group is one cgroup in a set of controllers.
type Group struct {
	h           *Hierarchy
	path        string
	controllers []string
}

// Path is the group's path relative to the hierarchy.
func (g *Group) Path() string { return g.path }

// Dir is the group's directory for a controller (v1) or its one directory
// (v2).
func (g *Group) Dir(controller string) string {
	if g.h.version == V2 {
		return filepath.Join(g.h.root, g.path)
	}
	return filepath.Join(g.h.root, controller, g.path)
}

// procsDir is where processes are added and listed from.
func (g *Group) procsDir() string {
	if g.h.version == V2 {
		return filepath.Join(g.h.root, g.path, Leaf)
	}
	return g.Dir(g.first())
}

func (g *Group) first() string {
	if len(g.controllers) == 0 {
		return "freezer"
	}
	return g.controllers[0]
}

func (g *Group) v1() cgroup1.InitOpts {
	return cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) {
		var subs []cgroup1.Subsystem
		for _, c := range g.controllers {
			s, err := v1Subsystem(g.h.root, c)
			if err != nil {
				return nil, err
			}
			subs = append(subs, s)
		}
		return subs, nil
	})
}

func v1Subsystem(root, name string) (cgroup1.Subsystem, error) {
	switch name {
	case "blkio":
		return cgroup1.NewBlkio(root), nil
	case "cpu":
		return cgroup1.NewCpu(root), nil
	case "cpuacct":
		return cgroup1.NewCpuacct(root), nil
	case "cpuset":
		return cgroup1.NewCpuset(root), nil
	case "devices":
		return cgroup1.NewDevices(root), nil
	case "freezer":
		return cgroup1.NewFreezer(root), nil
	case "hugetlb":
		return cgroup1.NewHugetlb(root)
	case "memory":
		return cgroup1.NewMemory(root, cgroup1.OptionalSwap()), nil
	case "net_cls":
		return cgroup1.NewNetCls(root), nil
	case "net_prio":
		return cgroup1.NewNetPrio(root), nil
	case "perf_event":
		return cgroup1.NewPerfEvent(root), nil
	case "pids":
		return cgroup1.NewPids(root), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNoController, name)
}

func (g *Group) check() error {
	for _, c := range g.controllers {
		if !g.h.Has(c) {
			return fmt.Errorf("%w: %s (the hierarchy at %s has %s)", ErrNoController, c, g.h.root,
				strings.Join(g.h.controllers, ", "))
		}
	}
	return nil
}

// Create makes the cgroup (idempotent). On v1 a new cpuset cgroup gets its
// parent's cpus and mems; on v2 the group's controllers are enabled in every
// ancestor's cgroup.subtree_control, and the leaf is made.
func (g *Group) Create() error {
	if err := g.check(); err != nil {
		return err
	}
	if g.h.version == V1 {
		if _, err := cgroup1.New(cgroup1.StaticPath("/"+g.path), &specs.LinuxResources{}, g.v1()); err != nil {
			return fmt.Errorf("cgroups: creating %s: %w", g.path, err)
		}
		return nil
	}
	m, err := cgroup2.NewManager(g.h.root, "/"+g.path, &cgroup2.Resources{})
	if err != nil {
		return fmt.Errorf("cgroups: creating %s: %w", g.path, err)
	}
	if names := g.v2Controllers(); len(names) > 0 {
		if err := m.ToggleControllers(names, cgroup2.Enable); err != nil {
			return fmt.Errorf("cgroups: enabling %s for %s: %w", strings.Join(names, ","), g.path, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(g.h.root, g.path, Leaf), 0o755); err != nil {
		return fmt.Errorf("cgroups: creating %s: %w", filepath.Join(g.path, Leaf), err)
	}
	return nil
}

func (g *Group) v2Controllers() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range g.controllers {
		if n := v2Name[c]; n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Exists reports whether the cgroup exists (in its first controller).
func (g *Group) Exists() bool {
	_, err := os.Stat(g.procsDir())
	return err == nil
}

// Add moves pid into the cgroup (in every controller on v1; into the leaf
// on v2).
func (g *Group) Add(pid int) error {
	if g.h.version == V1 {
		for _, c := range g.controllers {
			f := filepath.Join(g.Dir(c), "cgroup.procs")
			if err := writeFile(f, strconv.Itoa(pid)); err != nil {
				return fmt.Errorf("cgroups: adding pid %d to %s: %w", pid, g.Dir(c), err)
			}
		}
		return nil
	}
	if err := writeFile(filepath.Join(g.procsDir(), "cgroup.procs"), strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("cgroups: adding pid %d to %s: %w", pid, g.procsDir(), err)
	}
	return nil
}

// Procs lists the processes in the cgroup and its descendants.
func (g *Group) Procs() ([]int, error) {
	return readTasks(g.Dir(g.first()), "cgroup.procs")
}

// Threads lists the threads in the cgroup and its descendants.
func (g *Group) Threads() ([]int, error) {
	name := "tasks"
	if g.h.version == V2 {
		name = "cgroup.threads"
	}
	return readTasks(g.Dir(g.first()), name)
}

func readTasks(dir, name string) ([]int, error) {
	var out []int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || d.Name() != name {
			return nil
		}
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cgroups: listing processes of %s: %w", dir, err)
	}
	return out, nil
}

// Signal sends sig to every process in the cgroup.
func (g *Group) Signal(sig syscall.Signal) error {
	pids, err := g.Procs()
	if err != nil {
		return err
	}
	for _, p := range pids {
		_ = syscall.Kill(p, sig) // ESRCH: already gone
	}
	return nil
}

// Kill kills every process in the cgroup and waits until none is left or
// ctx ends. On v2 it writes cgroup.kill; on v1 with the freezer it freezes
// the cgroup first so that nothing can fork while it is killed (Mesos's
// linux launcher does the same); otherwise it sends SIGKILL until the
// cgroup is empty.
func (g *Group) Kill(ctx context.Context) error {
	if !g.Exists() {
		return nil
	}
	if g.h.version == V2 {
		if err := writeFile(filepath.Join(g.Dir(""), "cgroup.kill"), "1"); err != nil && !g.h.fake {
			// Kernels before 5.14 have no cgroup.kill.
			_ = g.Signal(syscall.SIGKILL)
		}
	}
	freezer := g.h.version == V1 && g.first() == "freezer"
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		pids, err := g.Procs()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if freezer {
			_ = g.setFreezer(ctx, "FROZEN")
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if freezer {
			_ = g.setFreezer(ctx, "THAWED")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cgroups: killing the processes of %s: %d left: %w", g.path, len(pids), ctx.Err())
		case <-time.After(delay):
		}
	}
}

// setFreezer writes the v1 freezer state and waits (briefly) for it to
// take: a process stuck in the kernel can keep a cgroup FREEZING.
func (g *Group) setFreezer(ctx context.Context, state string) error {
	f := filepath.Join(g.Dir("freezer"), "freezer.state")
	if err := writeFile(f, state); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Second)
	for {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(b)) == state || g.h.fake {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("cgroups: %s stays %s", g.path, strings.TrimSpace(string(b)))
		}
		time.Sleep(time.Millisecond)
	}
}

// Delete removes the cgroup (every controller on v1; the leaf and the
// group on v2). A cgroup that does not exist is not an error; one that
// still has processes is.
func (g *Group) Delete() error {
	var dirs []string
	if g.h.version == V1 {
		for _, c := range g.controllers {
			dirs = append(dirs, g.Dir(c))
		}
	} else {
		dirs = []string{filepath.Join(g.Dir(""), Leaf), g.Dir("")}
	}
	var errs []error
	for _, d := range dirs {
		errs = append(errs, removeDir(d, g.h.fake))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cgroups: removing %s: %w", g.path, err)
	}
	return nil
}

// removeDir removes a cgroup directory, retrying while the kernel still
// reports it busy (processes that were just killed). In a fake tree the
// interface files are plain files and go first.
func removeDir(d string, fake bool) error {
	if fake {
		if entries, err := os.ReadDir(d); err == nil {
			for _, e := range entries {
				if !e.IsDir() {
					_ = os.Remove(filepath.Join(d, e.Name()))
				}
			}
		}
	}
	var err error
	for delay := time.Millisecond; delay < time.Second; delay *= 2 {
		err = syscall.Rmdir(d)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) {
			return err
		}
		time.Sleep(delay)
	}
	return err
}

func writeFile(p, v string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func readString(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func readUint(p string) (uint64, error) {
	s, err := readString(p)
	if err != nil {
		return 0, err
	}
	if s == "max" {
		return ^uint64(0), nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKV reads a "key value" per line file (memory.stat, cpu.stat,
// memory.events, memory.oom_control).
func readKV(p string) (map[string]uint64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}
