package gc

import (
	"errors"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAge(t *testing.T) {
	const week = 7 * 24 * time.Hour
	for _, tc := range []struct {
		name            string
		delay           time.Duration
		headroom, usage float64
		want            time.Duration
	}{
		{"empty disk, no headroom", week, 0, 0, week},
		{"empty disk, default headroom", 100 * time.Hour, 0.1, 0, 90 * time.Hour},
		{"quarter headroom, half full", 8 * time.Hour, 0.25, 0.5, 2 * time.Hour},
		{"full up to the headroom", week, 0.25, 0.75, 0},
		{"beyond the headroom", week, 0.1, 0.95, 0},
		{"full disk", week, 0, 1, 0},
		{"no headroom, half full", 10 * time.Second, 0, 0.5, 5 * time.Second},
		{"NaN usage counts as 0 factor", week, 0.1, math.NaN(), 0},
		{"zero delay", 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Age(tc.delay, tc.headroom, tc.usage); got != tc.want {
				t.Errorf("Age(%v, %v, %v) = %v, want %v", tc.delay, tc.headroom, tc.usage, got, tc.want)
			}
		})
	}
	// Mesos's defaults: an empty disk keeps directories 90% of a week.
	got := Age(DefaultDelay, DefaultDiskHeadroom, 0)
	if want := time.Duration(0.9 * float64(week)); got < want-time.Microsecond || got > want+time.Microsecond {
		t.Errorf("Age(defaults, 0) = %v, want about %v", got, want)
	}
}

func TestValidateHeadroom(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string // "" for valid
	}{
		{0, ""},
		{0.1, ""},
		{1, ""},
		{1.5, "Invalid value '1.5' for --gc_disk_headroom. Must be between 0.0 and 1.0"},
		{-0.1, "Invalid value '-0.1' for --gc_disk_headroom. Must be between 0.0 and 1.0"},
		{2, "Invalid value '2' for --gc_disk_headroom. Must be between 0.0 and 1.0"},
		{1.0000001, "Invalid value '1' for --gc_disk_headroom. Must be between 0.0 and 1.0"},
		{1e6, "Invalid value '1e+06' for --gc_disk_headroom. Must be between 0.0 and 1.0"},
		{math.Inf(1), "Invalid value 'inf' for --gc_disk_headroom. Must be between 0.0 and 1.0"},
		{math.NaN(), "Invalid value 'nan' for --gc_disk_headroom. Must be between 0.0 and 1.0"},
	} {
		err := ValidateHeadroom(tc.v)
		if tc.want == "" {
			if err != nil {
				t.Errorf("ValidateHeadroom(%v) = %v, want nil", tc.v, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("ValidateHeadroom(%v) = %v, want %q", tc.v, err, tc.want)
		}
		if !errors.Is(err, ErrInvalidHeadroom) {
			t.Errorf("ValidateHeadroom(%v) does not match ErrInvalidHeadroom", tc.v)
		}
	}
}

func TestUsage(t *testing.T) {
	u, err := Usage(t.TempDir())
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if u < 0 || u > 1 {
		t.Errorf("Usage = %v, want a fraction", u)
	}
	if _, err := Usage("/does/not/exist"); err == nil {
		t.Error("Usage of a missing path succeeded")
	}
}

// fakeDisk is a Config.DiskUsage whose answers the test sets.
type fakeDisk struct {
	mu    sync.Mutex
	usage float64
	err   error
	calls []string
}

func (d *fakeDisk) set(usage float64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.usage, d.err = usage, err
}

func (d *fakeDisk) measure(path string) (float64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, path)
	return d.usage, d.err
}

func (d *fakeDisk) ncalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

func TestDiskWatcherPrunes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 100 * time.Hour
		disk := &fakeDisk{usage: 0.05}
		rec := &recorder{}
		g := newTestGC(t, Config{
			WorkDir:           "/agent",
			Delay:             delay,
			DiskHeadroom:      0.1,
			DiskWatchInterval: time.Minute,
			DiskUsage:         disk.measure,
			Remove:            rec.remove,
		}, hooks{})
		if got := g.MaxAllowedAge(); got != 90*time.Hour {
			t.Errorf("MaxAllowedAge() = %v before the first check, want 90h", got)
		}
		// As Collect schedules them: gc_delay after their modification
		// time, i.e. modified 50h, 30h and 5h ago.
		r50 := g.Schedule(delay-50*time.Hour, "/agent/slaves/s/frameworks/f50")
		r30 := g.Schedule(delay-30*time.Hour, "/agent/slaves/s/frameworks/f30")
		r5 := g.Schedule(delay-5*time.Hour, "/agent/slaves/s/frameworks/f5")

		// First check one interval after New: 5% used, age 85h: nothing.
		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		if n := disk.ncalls(); n != 0 {
			t.Fatalf("disk measured %d times before the first interval", n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := g.MaxAllowedAge(); got != 85*time.Hour {
			t.Errorf("MaxAllowedAge() = %v at 5%%, want 85h", got)
		}
		wantMetrics(t, g, 0, 0, 3)

		// 50% used: age 40h (100h * (1 - 0.1 - 0.5)); the path modified
		// 50h ago goes.
		disk.set(0.5, nil)
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := g.MaxAllowedAge(); got < 40*time.Hour-time.Microsecond || got > 40*time.Hour+time.Microsecond {
			t.Errorf("MaxAllowedAge() = %v at 50%%, want 40h", got)
		}
		wantResult(t, "f50", r50, nil)
		wantPending(t, "f30", r30)

		// A failed measurement changes nothing and the watcher goes on.
		disk.set(0.99, errors.New("statfs: EIO"))
		time.Sleep(time.Minute)
		synctest.Wait()
		wantPending(t, "f30", r30)

		// 90% used: age 0, everything goes.
		disk.set(0.9, nil)
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := g.MaxAllowedAge(); got != 0 {
			t.Errorf("MaxAllowedAge() = %v at 90%%, want 0", got)
		}
		wantResult(t, "f30", r30, nil)
		wantResult(t, "f5", r5, nil)
		wantMetrics(t, g, 3, 0, 0)

		disk.mu.Lock()
		defer disk.mu.Unlock()
		want := []string{"/agent", "/agent", "/agent", "/agent"}
		if diff := cmp.Diff(want, disk.calls); diff != "" {
			t.Errorf("measured paths (-want +got):\n%s", diff)
		}
	})
}

func TestDiskWatcherDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, cfg := range []Config{
			{DiskWatchInterval: time.Second},                     // no work dir
			{WorkDir: "/agent", DiskWatchInterval: -time.Second}, // disabled
		} {
			disk := &fakeDisk{}
			cfg.DiskUsage = disk.measure
			newTestGC(t, cfg, hooks{})
			time.Sleep(time.Hour)
			synctest.Wait()
			if n := disk.ncalls(); n != 0 {
				t.Errorf("config %+v: disk measured %d times, want 0", cfg, n)
			}
		}
	})
}
