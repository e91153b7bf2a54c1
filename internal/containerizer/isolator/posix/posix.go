// Package posix holds the "posix/cpu" and "posix/mem" isolators. Like
// Mesos's posix isolators they isolate nothing: they only report the CPU
// time and resident memory of the container's process tree, read from
// /proc, for hosts (or agents) without cgroups. The tree is the container's
// first process and every process whose chain of parents leads to it, as
// Mesos's os::pstree finds it; a process that double-forked away from the
// tree is not counted, which is the price of having no cgroup.
//
// Both isolators are stateless (the containerizer passes the pid with every
// call), so they start no goroutines and need no Close.
package posix

import (
	"context"
	"os"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
)

// clockTicks is the unit of utime and stime in /proc/<pid>/stat
// (sysconf(_SC_CLK_TCK)). The kernel exports these fields in USER_HZ, which
// is 100 on every Linux architecture regardless of the kernel's HZ, so the
// value is fixed here rather than asked of libc (Go has no sysconf).
const clockTicks = 100

// CPU is the "posix/cpu" isolator: it reports cpus_user_time_secs and
// cpus_system_time_secs of the container's process tree.
type CPU struct{}

var (
	_ containerizer.Isolator = (*CPU)(nil)
	_ containerizer.Usager   = (*CPU)(nil)
)

// NewCPU returns the posix/cpu isolator.
func NewCPU() *CPU { return &CPU{} }

// Name returns "posix/cpu".
func (*CPU) Name() string { return "posix/cpu" }

// Usage sums the user and system CPU time of every process in the tree
// rooted at c.Pid. A container without a live first process yields
// statistics with no CPU fields: Mesos likewise answers an unknown container
// with empty statistics rather than failing the containerizer's merge.
func (*CPU) Usage(_ context.Context, c containerizer.Container) (*mesospb.ResourceStatistics, error) {
	st := newStatistics()
	t, ok := walk(procRoot, c.Pid)
	if !ok {
		return st, nil
	}
	st.CpusUserTimeSecs = proto.Float64(float64(t.utime) / clockTicks)
	st.CpusSystemTimeSecs = proto.Float64(float64(t.stime) / clockTicks)
	return st, nil
}

// Mem is the "posix/mem" isolator: it reports mem_rss_bytes of the
// container's process tree.
type Mem struct{}

var (
	_ containerizer.Isolator = (*Mem)(nil)
	_ containerizer.Usager   = (*Mem)(nil)
)

// NewMem returns the posix/mem isolator.
func NewMem() *Mem { return &Mem{} }

// Name returns "posix/mem".
func (*Mem) Name() string { return "posix/mem" }

// Usage sums the resident set size of every process in the tree rooted at
// c.Pid (pages shared between the processes are counted once per process,
// as Mesos does). A container without a live first process yields
// statistics with no memory fields.
func (*Mem) Usage(_ context.Context, c containerizer.Container) (*mesospb.ResourceStatistics, error) {
	st := newStatistics()
	t, ok := walk(procRoot, c.Pid)
	if !ok {
		return st, nil
	}
	st.MemRssBytes = proto.Uint64(t.rssPages * uint64(os.Getpagesize()))
	return st, nil
}

// newStatistics returns statistics with only the timestamp, the message's
// one required field, so that every answer is a valid message on its own
// (the containerizer overwrites it when it merges the answers).
func newStatistics() *mesospb.ResourceStatistics {
	return &mesospb.ResourceStatistics{
		Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
	}
}
