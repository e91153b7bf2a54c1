//go:build linux

package cgroups

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WaitOOM returns nil once the kernel's OOM killer has killed a process in
// the group because it reached its limit (OOMAtLimit), or ctx's error when
// ctx ends first. It listens for the kernel's
// notification (v1: an eventfd on memory.oom_control through
// cgroup.event_control, as Mesos does; v2: inotify on memory.events) and
// also reads the kill counter every OOMPoll: recent kernels signal the v1
// eventfd only when the OOM killer is disabled.
func (g *Group) WaitOOM(ctx context.Context) error {
	var wake *os.File
	var err error
	if !g.h.fake {
		if g.h.version == V1 {
			wake, err = g.eventFD("memory.oom_control", "")
		} else {
			wake, err = inotify(filepath.Join(g.Dir(""), "memory.events"))
		}
		if err != nil {
			return err
		}
		defer wake.Close()
		stop := context.AfterFunc(ctx, func() { wake.Close() })
		defer stop()
	}
	woken := make(chan error, 1)
	if wake != nil {
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := wake.Read(buf); err != nil {
					select {
					case woken <- err:
					default:
					}
					return
				}
				select {
				case woken <- nil:
				default:
				}
			}
		}()
	}
	tick := time.NewTicker(OOMPoll)
	defer tick.Stop()
	woke := false
	for {
		hit, counted, err := g.oomAtLimit()
		if err != nil {
			if !g.Exists() {
				return fmt.Errorf("cgroups: %s was removed", g.path)
			}
			return err
		}
		// Without a kill counter the v1 notification itself is the OOM,
		// as Mesos takes it (the group still exists: it was no removal).
		if hit || woke && !counted {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case err := <-woken:
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("cgroups: waiting for OOM events of %s: %w", g.path, err)
			}
			woke = true
		}
	}
}

// OOMPoll is how often WaitOOM reads the kill counter besides listening.
var OOMPoll = 500 * time.Millisecond

// eventFD registers an eventfd for the v1 memory group's notifications on
// file (memory.oom_control, memory.pressure_level), with arg after the two
// descriptors, through cgroup.event_control. The file is non-blocking:
// closing it ends a Read.
func (g *Group) eventFD(file, arg string) (*os.File, error) {
	dir := g.Dir("memory")
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("cgroups: eventfd: %w", err)
	}
	ev := os.NewFile(uintptr(efd), file+"-eventfd")
	target, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		ev.Close()
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	defer target.Close()
	reg := strings.TrimSpace(strconv.Itoa(efd) + " " + strconv.Itoa(int(target.Fd())) + " " + arg)
	if err := writeFile(filepath.Join(dir, "cgroup.event_control"), reg); err != nil {
		ev.Close()
		return nil, fmt.Errorf("cgroups: registering for %s events of %s: %w", file, g.path, err)
	}
	return ev, nil
}

// inotify watches file for modifications.
func inotify(file string) (*os.File, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("cgroups: inotify: %w", err)
	}
	f := os.NewFile(uintptr(fd), "inotify")
	if _, err := unix.InotifyAddWatch(fd, file, unix.IN_MODIFY); err != nil {
		f.Close()
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("cgroups: %s: %w", file, os.ErrNotExist)
		}
		return nil, fmt.Errorf("cgroups: watching %s: %w", file, err)
	}
	return f, nil
}

// The memory pressure levels of v1's memory.pressure_level.
const (
	PressureLow      = "low"
	PressureMedium   = "medium"
	PressureCritical = "critical"
)

// WatchPressure calls fn with the number of memory pressure events of level
// the kernel reports for the group (v1 memory.pressure_level, through
// cgroup.event_control, as Mesos counts them), until ctx ends; it returns
// ctx's error then. On v2, which has no such notifications, it returns an
// error at once.
func (g *Group) WatchPressure(ctx context.Context, level string, fn func(n uint64)) error {
	if g.h.version != V1 || g.h.fake {
		return fmt.Errorf("cgroups: memory pressure notifications need cgroups v1")
	}
	ev, err := g.eventFD("memory.pressure_level", level)
	if err != nil {
		return err
	}
	defer ev.Close()
	stop := context.AfterFunc(ctx, func() { ev.Close() })
	defer stop()
	var buf [8]byte
	for {
		if _, err := ev.Read(buf[:]); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("cgroups: reading %s memory pressure of %s: %w", level, g.path, err)
		}
		if !g.Exists() {
			return fmt.Errorf("cgroups: %s was removed", g.path)
		}
		fn(binary.NativeEndian.Uint64(buf[:]))
	}
}
