package disk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/flags"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const interval = 20 * time.Second

func newDU(t *testing.T, enforce bool) *DU {
	t.Helper()
	return New(Options{
		Interval: interval,
		Enforce:  enforce,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
}

func diskMB(mb float64) *mesospb.Resource {
	return &mesospb.Resource{
		Name:   proto.String("disk"),
		Type:   mesospb.Value_SCALAR.Enum(),
		Scalar: &mesospb.Value_Scalar{Value: proto.Float64(mb)},
	}
}

func persistentVolume(mb float64) *mesospb.Resource {
	r := diskMB(mb)
	r.Disk = &mesospb.Resource_DiskInfo{
		Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("pv1")},
		Volume: &mesospb.Volume{
			ContainerPath: proto.String("data"),
			Mode:          mesospb.Volume_RW.Enum(),
		},
	}
	return r
}

func mountDisk(mb float64) *mesospb.Resource {
	r := diskMB(mb)
	r.Disk = &mesospb.Resource_DiskInfo{
		Source: &mesospb.Resource_DiskInfo_Source{
			Type:  mesospb.Resource_DiskInfo_Source_MOUNT.Enum(),
			Mount: &mesospb.Resource_DiskInfo_Source_Mount{Root: proto.String("/mnt/disk1")},
		},
	}
	return r
}

func cpus(n float64) *mesospb.Resource {
	r := diskMB(n)
	r.Name = proto.String("cpus")
	return r
}

// launch prepares and updates a container whose sandbox is a new directory.
func launch(t *testing.T, d *DU, id string, res ...*mesospb.Resource) containerizer.Container {
	t.Helper()
	c := containerizer.Container{ID: id, Pid: 1, Dir: t.TempDir()}
	li, err := d.Prepare(t.Context(), containerizer.ContainerConfig{ID: id, Dir: c.Dir, Resources: res})
	if err != nil || li != nil {
		t.Fatalf("Prepare = %v, %v; want nil, nil", li, err)
	}
	if err := d.Update(t.Context(), c, res, nil); err != nil {
		t.Fatalf("Update: %v", err)
	}
	return c
}

func usage(t *testing.T, d *DU, c containerizer.Container) *mesospb.ResourceStatistics {
	t.Helper()
	st, err := d.Usage(t.Context(), c)
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if st.Timestamp == nil {
		t.Errorf("Usage has no timestamp")
	}
	return st
}

// wantDisk compares the disk fields of st (nil used: not measured yet).
func wantDisk(t *testing.T, st *mesospb.ResourceStatistics, limit uint64, used *uint64) {
	t.Helper()
	want := &mesospb.ResourceStatistics{
		DiskLimitBytes: proto.Uint64(limit),
		DiskUsedBytes:  used,
		DiskStatistics: []*mesospb.DiskStatistics{{LimitBytes: proto.Uint64(limit), UsedBytes: used}},
	}
	if diff := cmp.Diff(want, st, protocmp.Transform(),
		protocmp.IgnoreFields(&mesospb.ResourceStatistics{}, "timestamp")); diff != "" {
		t.Errorf("Usage mismatch (-want +got):\n%s", diff)
	}
}

// watch runs Watch in a goroutine; the result arrives on the channel.
type watchResult struct {
	lim *containerizer.Limitation
	err error
}

func watch(ctx context.Context, d *DU, c containerizer.Container) <-chan watchResult {
	ch := make(chan watchResult, 1)
	go func() {
		lim, err := d.Watch(ctx, c)
		ch <- watchResult{lim, err}
	}()
	return ch
}

func TestName(t *testing.T) {
	d := New(Options{})
	defer d.Close()
	if got := d.Name(); got != "disk/du" {
		t.Errorf("Name() = %q", got)
	}
	if d.interval != DefaultInterval {
		t.Errorf("default interval = %v, want %v", d.interval, DefaultInterval)
	}
}

func TestUsageFollowsSandbox(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDU(t, false)
		defer d.Close()
		c := launch(t, d, "c1", cpus(1), diskMB(10))
		synctest.Wait()
		empty := usage(t, d, c).GetDiskUsedBytes() // the empty sandbox's directory

		writeData(t, filepath.Join(c.Dir, "data"), 3<<20)
		// Not measured again before the interval is over.
		if got := usage(t, d, c).GetDiskUsedBytes(); got != empty {
			t.Errorf("used = %d before the next measurement, want %d", got, empty)
		}
		time.Sleep(interval)
		synctest.Wait()
		st := usage(t, d, c)
		used := st.GetDiskUsedBytes()
		if used < empty+3<<20 {
			t.Errorf("used = %d after writing 3MB, want at least %d", used, empty+3<<20)
		}
		wantDisk(t, st, 10<<20, proto.Uint64(used))
	})
}

func TestUsageBeforeMeasurement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDU(t, true)
		defer d.Close()
		// A sandbox that cannot be measured yet: the limit, and no usage.
		c := containerizer.Container{ID: "c1", Dir: filepath.Join(t.TempDir(), "not-yet")}
		if _, err := d.Prepare(t.Context(), containerizer.ContainerConfig{ID: c.ID, Dir: c.Dir}); err != nil {
			t.Fatal(err)
		}
		if err := d.Update(t.Context(), c, []*mesospb.Resource{diskMB(5.7)}, nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		wantDisk(t, usage(t, d, c), 5<<20, proto.Uint64(0)) // whole megabytes, as Mesos
	})
}

func TestEnforce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDU(t, true)
		defer d.Close()
		quota := []*mesospb.Resource{diskMB(1), cpus(1)}
		c := launch(t, d, "c1", quota...)
		watched := watch(t.Context(), d, c)
		synctest.Wait()
		select {
		case r := <-watched:
			t.Fatalf("Watch returned %+v within the quota", r)
		default:
		}

		writeData(t, filepath.Join(c.Dir, "data"), 3<<20)
		time.Sleep(interval)
		synctest.Wait()
		var r watchResult
		select {
		case r = <-watched:
		default:
			t.Fatal("Watch did not return once the quota was exceeded")
		}
		if r.err != nil {
			t.Fatalf("Watch: %v", r.err)
		}
		used := usage(t, d, c).GetDiskUsedBytes()
		want := &containerizer.Limitation{
			Reason:    mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_DISK,
			Message:   fmt.Sprintf("Disk usage (%s) exceeds quota (1MB)", flags.FormatBytes(used)),
			Resources: []*mesospb.Resource{diskMB(1)},
		}
		if diff := cmp.Diff(want, r.lim, protocmp.Transform()); diff != "" {
			t.Errorf("limitation mismatch (-want +got):\n%s", diff)
		}

		// A later Watch sees the same limitation at once.
		lim, err := d.Watch(t.Context(), c)
		if err != nil || lim != r.lim {
			t.Errorf("second Watch = %+v, %v; want the first limitation", lim, err)
		}
	})
}

// noLimitation checks that Watch only ends with its context.
func noLimitation(t *testing.T, d *DU, c containerizer.Container) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*interval)
	defer cancel()
	lim, err := d.Watch(ctx, c)
	if lim != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Watch = %+v, %v; want no limitation", lim, err)
	}
}

func TestNotEnforced(t *testing.T) {
	tests := []struct {
		name    string
		enforce bool
		res     []*mesospb.Resource
		limit   uint64 // 0: not measured at all
	}{
		{name: "enforce off", enforce: false, res: []*mesospb.Resource{diskMB(1)}, limit: 1 << 20},
		{name: "mount disk", enforce: true, res: []*mesospb.Resource{mountDisk(1)}, limit: 1 << 20},
		{name: "persistent volume only", enforce: true, res: []*mesospb.Resource{persistentVolume(1), cpus(1)}},
		{name: "no disk", enforce: true, res: []*mesospb.Resource{cpus(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newDU(t, tt.enforce)
				defer d.Close()
				c := launch(t, d, "c1", tt.res...)
				writeData(t, filepath.Join(c.Dir, "data"), 3<<20)
				noLimitation(t, d, c)

				st := usage(t, d, c)
				if tt.limit == 0 {
					wantEmpty(t, st)
					return
				}
				if st.GetDiskUsedBytes() < 3<<20 {
					t.Errorf("used = %d, want the 3MB measured", st.GetDiskUsedBytes())
				}
				wantDisk(t, st, tt.limit, st.DiskUsedBytes)
			})
		})
	}
}

func wantEmpty(t *testing.T, st *mesospb.ResourceStatistics) {
	t.Helper()
	if diff := cmp.Diff(&mesospb.ResourceStatistics{}, st, protocmp.Transform(),
		protocmp.IgnoreFields(&mesospb.ResourceStatistics{}, "timestamp")); diff != "" {
		t.Errorf("Usage of an unmeasured container (-want +got):\n%s", diff)
	}
}

func TestPersistentVolumeNotInQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDU(t, true)
		defer d.Close()
		c := launch(t, d, "c1", diskMB(1), persistentVolume(1000))
		writeData(t, filepath.Join(c.Dir, "data"), 3<<20)
		watched := watch(t.Context(), d, c)
		synctest.Wait()
		r := <-watched
		if r.err != nil {
			t.Fatal(r.err)
		}
		if diff := cmp.Diff([]*mesospb.Resource{diskMB(1)}, r.lim.Resources, protocmp.Transform()); diff != "" {
			t.Errorf("limitation resources (-want +got):\n%s", diff)
		}
		if got := usage(t, d, c).GetDiskLimitBytes(); got != 1<<20 {
			t.Errorf("limit = %d, want 1MB", got)
		}
	})
}

func TestStopMeasuring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDU(t, true)
		defer d.Close()
		ignore := goleak.IgnoreCurrent()
		running := func() bool { return goleak.Find(ignore) != nil }

		c := launch(t, d, "c1", diskMB(1))
		synctest.Wait()
		if !running() {
			t.Fatal("no measuring goroutine after Update")
		}

		// Losing the disk resource stops the measurement and forgets the
		// usage, as Mesos does.
		if err := d.Update(t.Context(), c, []*mesospb.Resource{cpus(1)}, nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if running() {
			t.Error("still measuring after the disk resource went away")
		}
		wantEmpty(t, usage(t, d, c))

		// Regaining it starts again; Cleanup stops it for good.
		if err := d.Update(t.Context(), c, []*mesospb.Resource{diskMB(2)}, nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !running() {
			t.Fatal("no measuring goroutine after the disk resource came back")
		}
		if err := d.Cleanup(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if running() {
			t.Error("still measuring after Cleanup")
		}
		if _, err := d.Usage(t.Context(), c); !errors.Is(err, ErrUnknown) {
			t.Errorf("Usage after Cleanup: %v, want ErrUnknown", err)
		}
		if err := d.Cleanup(t.Context(), c); err != nil {
			t.Errorf("second Cleanup: %v", err)
		}
	})
}

func TestUnknownContainer(t *testing.T) {
	d := newDU(t, true)
	defer d.Close()
	c := containerizer.Container{ID: "nope", Dir: t.TempDir()}
	if err := d.Cleanup(t.Context(), c); err != nil {
		t.Errorf("Cleanup: %v", err)
	}
	if err := d.Update(t.Context(), c, []*mesospb.Resource{diskMB(1)}, nil); err != nil {
		t.Errorf("Update: %v", err)
	}
	if _, err := d.Usage(t.Context(), c); !errors.Is(err, ErrUnknown) {
		t.Errorf("Usage: %v, want ErrUnknown", err)
	}
	if _, err := d.Watch(t.Context(), c); !errors.Is(err, ErrUnknown) {
		t.Errorf("Watch: %v, want ErrUnknown", err)
	}

	launch(t, d, "c1", diskMB(1))
	if _, err := d.Prepare(t.Context(), containerizer.ContainerConfig{ID: "c1", Dir: t.TempDir()}); !errors.Is(err, ErrPrepared) {
		t.Errorf("second Prepare: %v, want ErrPrepared", err)
	}
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDU(t, true)
		c := launch(t, d, "c1", diskMB(100))
		launch(t, d, "c2", diskMB(100))
		watched := watch(t.Context(), d, c)
		synctest.Wait()

		if err := d.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if r := <-watched; !errors.Is(r.err, ErrClosed) {
			t.Errorf("Watch across Close = %+v, want ErrClosed", r)
		}
		if err := d.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := d.Usage(t.Context(), c); !errors.Is(err, ErrClosed) {
			t.Errorf("Usage after Close: %v, want ErrClosed", err)
		}
		if err := d.Update(t.Context(), c, nil, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Update after Close: %v, want ErrClosed", err)
		}
		if err := d.Cleanup(t.Context(), c); err != nil {
			t.Errorf("Cleanup after Close: %v, want nil", err)
		}
		// Every goroutine has ended: the bubble would otherwise not end.
	})
}

// TestRealTime runs a measurement on the real clock, outside any bubble.
func TestRealTime(t *testing.T) {
	d := New(Options{Interval: 20 * time.Millisecond, Enforce: true})
	defer d.Close()
	c := launch(t, d, "c1", diskMB(1))
	writeData(t, filepath.Join(c.Dir, "data"), 2<<20)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	lim, err := d.Watch(ctx, c)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if lim.Reason != mesospb.TaskStatus_REASON_CONTAINER_LIMITATION_DISK {
		t.Errorf("reason = %v", lim.Reason)
	}
}
