//go:build linux

package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/meso-project/meso/internal/cgroups"
	"github.com/meso-project/meso/internal/containerizer"
)

// Linux is Mesos's linux launcher: every container has a cgroup of its own
// in the tracking hierarchy (v1's freezer, or cgroups v2), at
// <cgroups_root>/<container id>, which its first process enters before it
// runs anything, so that everything the container ever forks is found and
// killed on destroy, whatever became of its parents. It creates the
// namespaces the isolators ask for. It needs root.
type Linux struct {
	h       *cgroups.Hierarchy
	root    string
	timeout time.Duration
}

var _ containerizer.Launcher = (*Linux)(nil)

// Available reports whether the linux launcher can run here: as root, with
// the v1 freezer or a cgroup v2 mount (Mesos picks it by default then).
func Available(h *cgroups.Hierarchy) bool {
	return os.Geteuid() == 0 && h != nil && h.Tracking() != nil
}

// NewLinux returns the linux launcher keeping its cgroups under root (the
// --cgroups_root) of h's tracking hierarchy; destroying a container's cgroup
// may take up to destroyTimeout (--cgroups_destroy_timeout; 0 means a
// minute).
func NewLinux(h *cgroups.Hierarchy, root string, destroyTimeout time.Duration) (*Linux, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the linux launcher needs root (use --launcher=posix)")
	}
	if h == nil || h.Tracking() == nil {
		return nil, errors.New("the linux launcher needs the cgroup freezer (v1) or a cgroup v2 mount")
	}
	if destroyTimeout <= 0 {
		destroyTimeout = time.Minute
	}
	return &Linux{h: h.Tracking(), root: root, timeout: destroyTimeout}, nil
}

// Name is "linux".
func (*Linux) Name() string { return "linux" }

// cgroupPath is the container's cgroup relative to the hierarchy: Mesos's
// <cgroups_root>/<id>, and for a nested container
// <cgroups_root>/<parent>/mesos/<child> (so that on v2 a nested container
// is accounted in its parent's cgroup, and killing a cgroup kills what is
// nested in it too).
func (l *Linux) cgroupPath(id string) string {
	return path.Join(l.root, strings.ReplaceAll(id, ".", "/mesos/"))
}

func (l *Linux) group(id string) *cgroups.Group {
	p := l.cgroupPath(id)
	if l.h.Version() == cgroups.V1 {
		return l.h.Group(p, "freezer")
	}
	return l.h.Group(p)
}

// Fork creates the container's cgroup, starts the held process in its own
// session and namespaces, and moves it into the cgroup.
func (l *Linux) Fork(ctx context.Context, id string, spec containerizer.ForkSpec) (*containerizer.Process, error) {
	g := l.group(id)
	if err := g.Create(); err != nil {
		return nil, err
	}
	attr := &syscall.SysProcAttr{Setsid: true, Cloneflags: spec.Launch.CloneFlags}
	p, err := containerizer.StartHeld(spec, attr)
	if err != nil {
		_ = g.Delete()
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	if err := g.Add(p.Pid()); err != nil {
		p.Abort()
		_ = l.Destroy(ctx, id, p.Pid())
		<-p.Done()
		return nil, err
	}
	return p, nil
}

// Signal signals every process in the container's cgroup.
func (l *Linux) Signal(id string, _ int, sig syscall.Signal) error {
	return l.group(id).Signal(sig)
}

// Destroy kills every process in the container's cgroup and removes it.
func (l *Linux) Destroy(ctx context.Context, id string, _ int) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	g := l.group(id)
	if err := g.Kill(ctx); err != nil {
		return err
	}
	// Nested containers' cgroups left below (an orphan's, after an agent
	// restart) go first: a cgroup with children cannot be removed.
	nested, err := l.nested(id)
	if err != nil {
		return err
	}
	for i := len(nested) - 1; i >= 0; i-- {
		if err := l.deleteNested(nested[i]); err != nil {
			return err
		}
	}
	return l.deleteNested(id)
}

// deleteNested removes the container's cgroup and the "mesos" cgroup its
// nested containers' were in.
func (l *Linux) deleteNested(id string) error {
	holder := path.Join(l.cgroupPath(id), "mesos")
	if l.h.Version() == cgroups.V1 {
		if err := l.h.Group(holder, "freezer").Delete(); err != nil {
			return err
		}
	} else if err := l.h.Group(holder).Delete(); err != nil {
		return err
	}
	return l.group(id).Delete()
}

// nested lists the containers nested in id whose cgroups exist, parents
// before their children.
func (l *Linux) nested(id string) ([]string, error) {
	children, err := l.h.Children(path.Join(l.cgroupPath(id), "mesos"), "freezer")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range children {
		child := id + "." + c
		out = append(out, child)
		below, err := l.nested(child)
		if err != nil {
			return nil, err
		}
		out = append(out, below...)
	}
	return out, nil
}

// Recover lists the containers whose cgroups exist under the root, and
// the nested containers below them (meso does not recover nested
// containers, so these are destroyed as orphans).
func (l *Linux) Recover(context.Context) ([]string, error) {
	top, err := l.h.Children(l.root, "freezer")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range top {
		out = append(out, id)
		nested, err := l.nested(id)
		if err != nil {
			return nil, err
		}
		out = append(out, nested...)
	}
	return out, nil
}
