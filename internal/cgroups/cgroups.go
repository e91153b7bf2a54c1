//go:build linux

// Package cgroups is meso's thin facade over containerd/cgroups: the cgroup
// filesystem an agent uses, and the operations on one cgroup that the linux
// launcher and the cgroups isolators need, the same for cgroups v1 and v2.
//
// A Hierarchy is the filesystem under --cgroups_hierarchy (/sys/fs/cgroup):
//
//   - v1 ("legacy", and the v1 half of "hybrid"): one mount per controller,
//     <root>/<controller>/<path>; Controllers are the mounted ones;
//   - v2 ("unified"): one mount, <root>/<path>, with controllers enabled down
//     the tree through cgroup.subtree_control. Processes live in the leaf
//     <root>/<path>/leaf, so that <path> itself may have children (the
//     "no internal processes" rule), as Mesos's cgroups v2 support lays it
//     out. On a hybrid host the v2 mount (<root>/unified) serves process
//     tracking only.
//
// Controller names are v1's everywhere (cpu, cpuacct, memory, pids, cpuset,
// blkio, devices, freezer, ...); on v2 cpu and cpuacct are the one "cpu"
// controller and blkio is "io".
//
// A Group is one cgroup path across a set of controllers. Its methods are
// safe for concurrent use (they only touch the filesystem) and hold no state
// besides the names.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Version is the cgroups version of a hierarchy.
type Version int

// The versions.
const (
	V1 Version = 1
	V2 Version = 2
)

func (v Version) String() string { return fmt.Sprintf("v%d", int(v)) }

// DefaultRoot is where the cgroup filesystems are mounted.
const DefaultRoot = "/sys/fs/cgroup"

// Sentinel errors.
var (
	// ErrUnavailable is returned by Open when the host has no usable cgroups.
	ErrUnavailable = errors.New("cgroups: not available")
	// ErrNoController is returned for a controller the hierarchy lacks.
	ErrNoController = errors.New("cgroups: controller not available")
)

// knownV1 are the v1 controllers meso can name.
var knownV1 = []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb",
	"memory", "net_cls", "net_prio", "perf_event", "pids"}

// v2Name maps a v1 controller name to its v2 controller ("" for none:
// freezing and killing are part of every v2 cgroup).
var v2Name = map[string]string{
	"cpu": "cpu", "cpuacct": "cpu", "memory": "memory", "pids": "pids", "cpuset": "cpuset",
	"blkio": "io", "hugetlb": "hugetlb", "perf_event": "perf_event", "freezer": "",
}

// Options says where the hierarchy is.
type Options struct {
	// Root is --cgroups_hierarchy; default DefaultRoot.
	Root string
	// Version forces the version instead of detecting it from the
	// filesystem type; tests use it to run against a fake tree of plain
	// directories and files.
	Version Version
}

// Hierarchy is the cgroup filesystem the agent uses.
type Hierarchy struct {
	root        string
	version     Version
	controllers []string // v1 names, sorted
	unified     string   // the v2 mount point, or ""
	fake        bool     // a forced version: no filesystem type checks
}

// Open finds the hierarchy under o.Root.
func Open(o Options) (*Hierarchy, error) {
	root := o.Root
	if root == "" {
		root = DefaultRoot
	}
	root = filepath.Clean(root)
	h := &Hierarchy{root: root, version: o.Version, fake: o.Version != 0}
	if h.version == 0 {
		switch {
		case fsType(root) == unix.CGROUP2_SUPER_MAGIC:
			h.version = V2
		default:
			h.version = V1
			if fsType(filepath.Join(root, "unified")) == unix.CGROUP2_SUPER_MAGIC {
				h.unified = filepath.Join(root, "unified")
			}
		}
	}
	switch h.version {
	case V2:
		h.unified = root
		b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
		if err != nil {
			return nil, fmt.Errorf("%w: reading %s: %w", ErrUnavailable, filepath.Join(root, "cgroup.controllers"), err)
		}
		avail := strings.Fields(string(b))
		for v1, v2 := range v2Name {
			if v2 == "" || slices.Contains(avail, v2) {
				h.controllers = append(h.controllers, v1)
			}
		}
	case V1:
		for _, name := range knownV1 {
			dir := filepath.Join(root, name)
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				continue
			}
			if !h.fake && fsType(dir) != unix.CGROUP_SUPER_MAGIC {
				continue
			}
			h.controllers = append(h.controllers, name)
		}
		if len(h.controllers) == 0 {
			return nil, fmt.Errorf("%w: no cgroup controllers are mounted under %s", ErrUnavailable, root)
		}
	default:
		return nil, fmt.Errorf("cgroups: unknown version %d", h.version)
	}
	slices.Sort(h.controllers)
	return h, nil
}

func fsType(p string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0
	}
	return int64(st.Type)
}

// Version is the hierarchy's version (V1 for a hybrid host).
func (h *Hierarchy) Version() Version { return h.version }

// Root is the directory the hierarchy is mounted under.
func (h *Hierarchy) Root() string { return h.root }

// Controllers lists the controllers the hierarchy offers, by their v1 names.
func (h *Hierarchy) Controllers() []string { return slices.Clone(h.controllers) }

// Has reports whether the controller is available.
func (h *Hierarchy) Has(controller string) bool { return slices.Contains(h.controllers, controller) }

// Unified is the v2 mount point (on a hybrid host too), or "".
func (h *Hierarchy) Unified() string { return h.unified }

// Tracking returns the hierarchy a launcher tracks processes with: v1's
// freezer controller when mounted (Mesos's linux launcher), else the v2
// mount. It returns nil when there is neither.
func (h *Hierarchy) Tracking() *Hierarchy {
	if h.version == V1 && h.Has("freezer") {
		return h
	}
	if h.unified == "" {
		return nil
	}
	if h.version == V2 {
		return h
	}
	// Hybrid without a v1 freezer: track in the v2 half.
	return &Hierarchy{root: h.unified, version: V2, unified: h.unified, fake: h.fake}
}

// Group returns the cgroup at p (relative to the hierarchy, e.g.
// "mesos/<container id>") in the given controllers. On v1 every operation
// goes to each controller's directory; on v2 to the one directory.
func (h *Hierarchy) Group(p string, controllers ...string) *Group {
	return &Group{h: h, path: strings.Trim(path.Clean("/"+p), "/"), controllers: slices.Clone(controllers)}
}

// Children lists the names of the cgroups directly under parent in the
// controller's hierarchy (on v2 the controller is ignored). A missing parent
// has no children.
func (h *Hierarchy) Children(parent, controller string) ([]string, error) {
	dir := filepath.Join(h.root, strings.Trim(path.Clean("/"+parent), "/"))
	if h.version == V1 {
		dir = filepath.Join(h.root, controller, strings.Trim(path.Clean("/"+parent), "/"))
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cgroups: listing %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
