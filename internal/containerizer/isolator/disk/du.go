// Package disk holds the "disk/du" isolator, Mesos's posix/disk isolator:
// it measures each container's sandbox every --container_disk_watch_interval
// (as `du -k -s` would) and, with --enforce_container_disk_quota, reports a
// disk limitation once the sandbox outgrows the container's disk resources.
//
// Only the sandbox is measured. Disk resources that are volumes (persistent
// volumes, which Mesos measures at their own path) do not count towards the
// sandbox quota, and a container without any other disk resource is not
// measured at all, as in Mesos.
//
// The per-container state (sandbox, quota, last usage, limitation) is owned
// by one goroutine, the actor, started by New and stopped by Close. Each
// measured container has a measuring goroutine of its own that walks the
// sandbox and reports the total to the actor, so that a large sandbox never
// holds up the actor or another container.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/flags"
	"github.com/meso-project/meso/pkg/resources"
)

// DefaultInterval is Mesos's --container_disk_watch_interval default.
const DefaultInterval = 15 * time.Second

// Sentinel errors.
var (
	// ErrUnknown is returned for a container that was never prepared (or
	// was cleaned up).
	ErrUnknown = errors.New("disk: unknown container")
	// ErrPrepared is returned by Prepare for a container already prepared.
	ErrPrepared = errors.New("disk: container has already been prepared")
	// ErrClosed is returned once Close has been called.
	ErrClosed = errors.New("disk: isolator closed")
)

// Options configure the disk/du isolator.
type Options struct {
	// Interval is the pause between two measurements of a sandbox
	// (--container_disk_watch_interval); zero means DefaultInterval.
	Interval time.Duration
	// Enforce makes Watch report a limitation when a sandbox exceeds its
	// quota (--enforce_container_disk_quota); otherwise usage is only
	// reported.
	Enforce bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// DU is the disk/du isolator.
type DU struct {
	interval time.Duration
	enforce  bool
	log      *slog.Logger

	mailbox chan func()
	// ctx is cancelled by Close; the actor and every measuring goroutine
	// end with it.
	ctx       context.Context
	cancel    context.CancelFunc
	loopDone  chan struct{}
	measurers sync.WaitGroup // Add only on the actor, so before Close's Wait
	closeOnce sync.Once

	// Owned by the actor.
	containers map[string]*sandbox
}

var (
	_ containerizer.Isolator = (*DU)(nil)
	_ containerizer.Preparer = (*DU)(nil)
	_ containerizer.Updater  = (*DU)(nil)
	_ containerizer.Watcher  = (*DU)(nil)
	_ containerizer.Usager   = (*DU)(nil)
	_ containerizer.Cleaner  = (*DU)(nil)
	_ io.Closer              = (*DU)(nil)
)

// sandbox is the actor's record of one container.
type sandbox struct {
	dir string
	// quota are the container's disk resources counted against the
	// sandbox; empty means the sandbox is not measured.
	quota      resources.Resources
	quotaBytes uint64
	// mount is set when the quota holds a MOUNT disk: the filesystem
	// enforces it, so the isolator does not (as in Mesos).
	mount bool

	// m is the running measurement, nil when not measuring.
	m *measurement
	// used is the last measured usage (0 before the first measurement).
	used uint64

	// limitation is set once, before limited is closed, and never changed
	// after: Watch reads it once limited is closed.
	limitation *containerizer.Limitation
	limited    chan struct{}
}

// measurement identifies one measuring goroutine, so that a result it
// reports after being stopped (or replaced) is told apart and dropped.
type measurement struct {
	stop context.CancelFunc
}

// New starts the disk/du isolator; Close stops it.
func New(opts Options) *DU {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &DU{
		interval:   opts.Interval,
		enforce:    opts.Enforce,
		log:        opts.Logger.With("isolator", "disk/du"),
		mailbox:    make(chan func()),
		ctx:        ctx,
		cancel:     cancel,
		loopDone:   make(chan struct{}),
		containers: make(map[string]*sandbox),
	}
	go d.loop()
	return d
}

// Name returns "disk/du".
func (*DU) Name() string { return "disk/du" }

// Close stops every measurement and the actor and waits for them to end.
// Blocked Watch calls return ErrClosed; later calls fail with ErrClosed,
// except Cleanup, which has nothing left to release.
func (d *DU) Close() error {
	d.closeOnce.Do(d.cancel)
	<-d.loopDone
	d.measurers.Wait()
	return nil
}

func (d *DU) loop() {
	defer close(d.loopDone)
	for {
		select {
		case f := <-d.mailbox:
			f()
		case <-d.ctx.Done():
			return
		}
	}
}

// do runs f on the actor and waits for it. Once the actor has taken f it
// always runs it to the end, so waiting on done alone is safe.
func (d *DU) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case d.mailbox <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.ctx.Done():
		return ErrClosed
	}
	<-done
	return nil
}

// Prepare records the container's sandbox. Nothing is measured until
// Update gives the container a disk resource.
func (d *DU) Prepare(ctx context.Context, cfg containerizer.ContainerConfig) (*containerizer.LaunchInfo, error) {
	var exists bool
	err := d.do(ctx, func() {
		if _, exists = d.containers[cfg.ID]; !exists {
			d.containers[cfg.ID] = &sandbox{dir: cfg.Dir, limited: make(chan struct{})}
		}
	})
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, fmt.Errorf("%w: %s", ErrPrepared, cfg.ID)
	}
	return nil, nil
}

// Update sets the sandbox quota to the container's disk resources that are
// not volumes, starting the measurement when the container gains its first
// such resource and stopping it when it loses the last (Mesos then forgets
// the last usage too). An update for an unknown container is ignored, as
// Mesos does.
func (d *DU) Update(ctx context.Context, c containerizer.Container, requests []*mesospb.Resource, _ map[string]float64) error {
	quota := sandboxQuota(requests)
	return d.do(ctx, func() {
		s := d.containers[c.ID]
		if s == nil {
			d.log.Warn("ignoring an update for an unknown container", "container_id", c.ID)
			return
		}
		if s.dir == "" {
			s.dir = c.Dir
		}
		s.quota = quota
		s.quotaBytes = megabytes(quota.Scalar("disk"))
		s.mount = false
		for _, r := range quota {
			if r.GetDisk().GetSource().GetType() == mesospb.Resource_DiskInfo_Source_MOUNT {
				s.mount = true
			}
		}
		switch {
		case len(quota) == 0 && s.m != nil:
			s.m.stop()
			s.m, s.used = nil, 0
		case len(quota) > 0 && s.m == nil:
			d.startMeasuring(c.ID, s)
		}
	})
}

// sandboxQuota returns the disk resources that count against the sandbox:
// Mesos measures a disk resource with a volume (a persistent volume) at the
// volume's path instead, which this isolator does not do yet.
func sandboxQuota(requests []*mesospb.Resource) resources.Resources {
	return resources.Resources(requests).Filter(func(r *mesospb.Resource) bool {
		return r.GetName() == "disk" && r.GetType() == mesospb.Value_SCALAR &&
			r.GetDisk().GetVolume() == nil && r.GetDisk().GetPersistence() == nil
	})
}

// megabytes converts a disk scalar to bytes, dropping the fraction of a
// megabyte as Mesos's Resources::disk() does.
func megabytes(mb float64) uint64 { return uint64(mb) << 20 }

// startMeasuring starts s's measuring goroutine (on the actor).
func (d *DU) startMeasuring(id string, s *sandbox) {
	ctx, stop := context.WithCancel(d.ctx)
	m := &measurement{stop: stop}
	s.m = m
	d.measurers.Add(1)
	go d.measure(ctx, id, s.dir, m)
}

// measure measures dir at once and then every interval after the previous
// measurement ended (Mesos's collector likewise waits an interval between
// two runs of du), until ctx is done.
func (d *DU) measure(ctx context.Context, id, dir string, m *measurement) {
	defer d.measurers.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		used, err := du(ctx, dir)
		if ctx.Err() != nil {
			return
		}
		select {
		case d.mailbox <- func() { d.measured(id, m, used, err) }:
		case <-ctx.Done():
			return
		}
		t.Reset(d.interval)
	}
}

// measured records a measurement and checks the quota (on the actor).
func (d *DU) measured(id string, m *measurement, used uint64, err error) {
	s := d.containers[id]
	if s == nil || s.m != m {
		return // cleaned up, or no longer measured, meanwhile
	}
	if err != nil {
		d.log.Warn("measuring the sandbox failed", "container_id", id, "dir", s.dir, "err", err)
		return
	}
	s.used = used
	if !d.enforce || s.mount || s.limitation != nil || used <= s.quotaBytes {
		return
	}
	msg := fmt.Sprintf("Disk usage (%s) exceeds quota (%s)", flags.FormatBytes(used), flags.FormatBytes(s.quotaBytes))
	d.log.Info("container exceeded its disk quota", "container_id", id, "used_bytes", used, "quota_bytes", s.quotaBytes)
	lim := &containerizer.Limitation{
		Reason:  mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_DISK,
		Message: msg,
	}
	for _, r := range s.quota {
		lim.Resources = append(lim.Resources, proto.Clone(r).(*mesospb.Resource))
	}
	s.limitation = lim
	close(s.limited)
}

// Watch blocks until the container exceeds its disk quota (only when
// enforcing), ctx is done or the isolator is closed. A container cleaned up
// meanwhile never hits its limit, so Watch then waits for ctx.
func (d *DU) Watch(ctx context.Context, c containerizer.Container) (*containerizer.Limitation, error) {
	var limited chan struct{}
	var s *sandbox
	if err := d.do(ctx, func() {
		if s = d.containers[c.ID]; s != nil {
			limited = s.limited
		}
	}); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknown, c.ID)
	}
	select {
	case <-limited:
		return s.limitation, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.ctx.Done():
		return nil, ErrClosed
	}
}

// Usage reports the sandbox's quota (disk_limit_bytes) and last measured
// usage (disk_used_bytes), and both again as the sandbox's DiskStatistics
// entry. Before the first measurement the usage is 0, as in Mesos (whose
// ephemeral usage sums the measurements it has); a container without a
// disk resource gets statistics with neither.
func (d *DU) Usage(ctx context.Context, c containerizer.Container) (*mesospb.ResourceStatistics, error) {
	st := &mesospb.ResourceStatistics{
		// The one required field; the containerizer overwrites it.
		Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
	}
	var known bool
	if err := d.do(ctx, func() {
		s := d.containers[c.ID]
		if known = s != nil; !known || s.m == nil {
			return
		}
		ds := &mesospb.DiskStatistics{LimitBytes: proto.Uint64(s.quotaBytes)}
		st.DiskLimitBytes = proto.Uint64(s.quotaBytes)
		st.DiskUsedBytes = proto.Uint64(s.used)
		ds.UsedBytes = proto.Uint64(s.used)
		st.DiskStatistics = []*mesospb.DiskStatistics{ds}
	}); err != nil {
		return nil, err
	}
	if !known {
		return nil, fmt.Errorf("%w: %s", ErrUnknown, c.ID)
	}
	return st, nil
}

// Cleanup stops measuring the container and forgets it. Cleaning up an
// unknown container, or after Close, succeeds.
func (d *DU) Cleanup(ctx context.Context, c containerizer.Container) error {
	err := d.do(ctx, func() {
		s := d.containers[c.ID]
		if s == nil {
			return
		}
		if s.m != nil {
			s.m.stop()
		}
		delete(d.containers, c.ID)
	})
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}
