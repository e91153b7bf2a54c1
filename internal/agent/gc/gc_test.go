package gc

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newTestGC starts a GC without disk watcher (unless cfg sets WorkDir) and
// closes it when the test ends; inside a synctest bubble, call it in the
// bubble.
func newTestGC(t *testing.T, cfg Config, h hooks) *GC {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	g, err := newGC(cfg, h)
	if err != nil {
		t.Fatalf("newGC: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// touch creates n files in a fresh directory and returns their paths.
func touch(t *testing.T, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "stdout"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Lstat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// result returns the removal's result if there is one yet.
func result(ch <-chan error) (err error, ok bool) {
	select {
	case err = <-ch:
		return err, true
	default:
		return nil, false
	}
}

func wantResult(t *testing.T, name string, ch <-chan error, want error) {
	t.Helper()
	got, ok := result(ch)
	if !ok {
		t.Errorf("%s: no result yet, want %v", name, want)
		return
	}
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		t.Errorf("%s: result %v, want %v", name, got, want)
	}
}

func wantPending(t *testing.T, name string, ch <-chan error) {
	t.Helper()
	if err, ok := result(ch); ok {
		t.Errorf("%s: result %v, want still pending", name, err)
	}
}

func wantMetrics(t *testing.T, g *GC, succeeded, failed, pending float64) {
	t.Helper()
	want := map[string]float64{
		"gc/path_removals_succeeded": succeeded,
		"gc/path_removals_failed":    failed,
		"gc/path_removals_pending":   pending,
	}
	if diff := cmp.Diff(want, g.Metrics()); diff != "" {
		t.Errorf("Metrics() mismatch (-want +got):\n%s", diff)
	}
}

func TestScheduleRemovesWhenDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTestGC(t, Config{}, hooks{})
		p := touch(t, "f1", "f2", "f3")
		r1 := g.Schedule(10*time.Second, p[0])
		r2 := g.Schedule(10*time.Second, p[1])
		r3 := g.Schedule(15*time.Second, p[2])
		synctest.Wait()
		wantMetrics(t, g, 0, 0, 3)

		time.Sleep(10*time.Second - time.Nanosecond)
		synctest.Wait()
		for _, path := range p {
			if !exists(t, path) {
				t.Errorf("%s removed before its time", path)
			}
		}

		time.Sleep(time.Nanosecond)
		synctest.Wait()
		wantResult(t, "f1", r1, nil)
		wantResult(t, "f2", r2, nil)
		wantPending(t, "f3", r3)
		if exists(t, p[0]) || exists(t, p[1]) || !exists(t, p[2]) {
			t.Errorf("after 10s: exists f1=%v f2=%v f3=%v, want false false true",
				exists(t, p[0]), exists(t, p[1]), exists(t, p[2]))
		}
		wantMetrics(t, g, 2, 0, 1)

		time.Sleep(5 * time.Second)
		synctest.Wait()
		wantResult(t, "f3", r3, nil)
		if exists(t, p[2]) {
			t.Error("f3 not removed after 15s")
		}
		wantMetrics(t, g, 3, 0, 0)
	})
}

func TestScheduleNonPositiveDelayRemovesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTestGC(t, Config{}, hooks{})
		p := touch(t, "a", "b")
		ra := g.Schedule(0, p[0])
		rb := g.Schedule(-time.Hour, p[1])
		synctest.Wait()
		wantResult(t, "a", ra, nil)
		wantResult(t, "b", rb, nil)
		wantMetrics(t, g, 2, 0, 0)
	})
}

func TestUnschedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTestGC(t, Config{}, hooks{})
		ctx := t.Context()
		if ok, err := g.Unschedule(ctx, "bogus"); ok || err != nil {
			t.Errorf("Unschedule(bogus) = %v, %v; want false, nil", ok, err)
		}
		p := touch(t, "f1", "f2", "f3")
		var rs []<-chan error
		for _, path := range p {
			rs = append(rs, g.Schedule(10*time.Second, path))
		}
		for _, i := range []int{1, 2, 0} {
			if ok, err := g.Unschedule(ctx, p[i]+"/"); !ok || err != nil {
				t.Errorf("Unschedule(%s/) = %v, %v; want true, nil", p[i], ok, err)
			}
		}
		if ok, err := g.Unschedule(ctx, p[0]); ok || err != nil {
			t.Errorf("second Unschedule = %v, %v; want false, nil", ok, err)
		}
		wantMetrics(t, g, 0, 0, 0)

		time.Sleep(time.Minute)
		synctest.Wait()
		for i, path := range p {
			wantResult(t, path, rs[i], ErrUnscheduled)
			if !exists(t, path) {
				t.Errorf("%s removed after Unschedule", path)
			}
		}
		wantMetrics(t, g, 0, 0, 0)
	})
}

func TestScheduleReplacesRemovalTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTestGC(t, Config{}, hooks{})
		p := touch(t, "later", "sooner")

		first := g.Schedule(10*time.Second, p[0])
		second := g.Schedule(20*time.Second, p[0])
		synctest.Wait()
		wantResult(t, "replaced", first, ErrUnscheduled)
		wantMetrics(t, g, 0, 0, 1)

		third := g.Schedule(time.Hour, p[1])
		fourth := g.Schedule(5*time.Second, p[1])
		wantMetrics(t, g, 0, 0, 2)

		time.Sleep(5 * time.Second)
		synctest.Wait()
		wantResult(t, "replaced by a sooner time", third, ErrUnscheduled)
		wantResult(t, "sooner", fourth, nil)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if !exists(t, p[0]) {
			t.Error("removed at the replaced time")
		}
		wantPending(t, "later", second)

		time.Sleep(10 * time.Second)
		synctest.Wait()
		wantResult(t, "later", second, nil)
		wantMetrics(t, g, 2, 0, 0)
	})
}

// recorder is a Remove and batch hook that records what it is asked and
// can hold removals until released.
type recorder struct {
	mu      sync.Mutex
	batches [][]string
	removed []string
	hold    chan struct{} // when set, every removal waits for it to close
	fail    map[string]error
}

func (r *recorder) batch(paths []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, slices.Clone(paths))
}

func (r *recorder) remove(path string) error {
	r.mu.Lock()
	hold, err := r.hold, r.fail[path]
	r.mu.Unlock()
	if hold != nil {
		<-hold
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removed = append(r.removed, path)
	return err
}

func (r *recorder) gotBatches() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]string, len(r.batches))
	for i, b := range r.batches {
		out[i] = slices.Sorted(slices.Values(b))
	}
	return out
}

func TestRemovalsDueTogetherAreBatched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{hold: make(chan struct{})}
		g := newTestGC(t, Config{Remove: rec.remove}, hooks{batch: rec.batch})

		// a is being removed (held) when b, c and d fall due: they wait
		// for it and then go as one batch.
		ra := g.Schedule(time.Second, "/w/a")
		var rest []<-chan error
		for _, p := range []string{"/w/d", "/w/b", "/w/c"} {
			rest = append(rest, g.Schedule(2*time.Second, p))
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if diff := cmp.Diff([][]string{{"/w/a"}}, rec.gotBatches()); diff != "" {
			t.Errorf("batches while a is removed (-want +got):\n%s", diff)
		}
		wantMetrics(t, g, 0, 0, 4) // paths being removed are still pending, as in Mesos

		close(rec.hold)
		synctest.Wait()
		want := [][]string{{"/w/a"}, {"/w/b", "/w/c", "/w/d"}}
		if diff := cmp.Diff(want, rec.gotBatches()); diff != "" {
			t.Errorf("batches (-want +got):\n%s", diff)
		}
		wantResult(t, "a", ra, nil)
		for i, r := range rest {
			wantResult(t, "rest "+string(rune('0'+i)), r, nil)
		}
		wantMetrics(t, g, 4, 0, 0)

		// Paths scheduled for the same time make one batch too.
		for _, p := range []string{"/w/y", "/w/x"} {
			g.Schedule(time.Minute, p)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		want = append(want, []string{"/w/x", "/w/y"})
		if diff := cmp.Diff(want, rec.gotBatches()); diff != "" {
			t.Errorf("batches (-want +got):\n%s", diff)
		}
	})
}

// TestPrune follows Mesos's GarbageCollectorTest.Prune.
func TestPrune(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTestGC(t, Config{}, hooks{})
		p := touch(t, "f1", "f2", "f3", "f4")
		r1 := g.Schedule(10*time.Second, p[0])
		r2 := g.Schedule(10*time.Second, p[1])
		r3 := g.Schedule(15*time.Second, p[2])
		r4 := g.Schedule(15*time.Second, p[3])
		if ok, err := g.Unschedule(t.Context(), p[2]); !ok || err != nil {
			t.Fatalf("Unschedule(f3) = %v, %v", ok, err)
		}
		wantResult(t, "f3", r3, ErrUnscheduled)

		g.Prune(0) // nothing is overdue
		g.Prune(-time.Hour)
		g.Prune(10*time.Second - time.Nanosecond)
		synctest.Wait()
		wantMetrics(t, g, 0, 0, 3)

		g.Prune(10 * time.Second)
		synctest.Wait()
		wantResult(t, "f1", r1, nil)
		wantResult(t, "f2", r2, nil)
		wantPending(t, "f4", r4)
		if exists(t, p[0]) || exists(t, p[1]) || !exists(t, p[2]) || !exists(t, p[3]) {
			t.Error("Prune(10s) did not remove exactly f1 and f2")
		}

		g.Prune(15 * time.Second)
		synctest.Wait()
		wantResult(t, "f4", r4, nil)
		if exists(t, p[3]) {
			t.Error("f4 not pruned")
		}
		wantMetrics(t, g, 3, 0, 0)
	})
}

func TestMissingPathIsSkipped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTestGC(t, Config{}, hooks{})
		r := g.Schedule(time.Second, filepath.Join(t.TempDir(), "gone"))
		time.Sleep(time.Second)
		synctest.Wait()
		wantResult(t, "missing path", r, nil)
		// Mesos logs and skips it: neither a success nor a failure.
		wantMetrics(t, g, 0, 0, 0)
	})
}

func TestFailedRemoval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTestGC(t, Config{}, hooks{})
		dir := t.TempDir()
		file := filepath.Join(dir, "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		// A path under a regular file cannot be stat'ed (ENOTDIR), even
		// as root.
		r := g.Schedule(time.Second, filepath.Join(file, "sandbox"))
		ok := g.Schedule(time.Second, touch(t, "ok")[0])
		time.Sleep(time.Second)
		synctest.Wait()
		err, done := result(r)
		if !done || !errors.Is(err, ErrRemove) || !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("result = %v (done %v), want ErrRemove wrapping ENOTDIR", err, done)
		}
		wantResult(t, "ok", ok, nil)
		wantMetrics(t, g, 1, 1, 0)
	})
}

func TestFailedRemovalInjected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		rec := &recorder{fail: map[string]error{"/w/bad": boom}}
		g := newTestGC(t, Config{Remove: rec.remove}, hooks{})
		bad := g.Schedule(time.Second, "/w/bad")
		good := g.Schedule(time.Second, "/w/good")
		time.Sleep(time.Second)
		synctest.Wait()
		wantResult(t, "bad", bad, boom)
		wantPending(t, "bad, a second value", bad)
		wantResult(t, "good", good, nil)
		wantMetrics(t, g, 1, 1, 0)
	})
}

func TestUnscheduleWhileRemoving(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    error
		wantErr error
		metrics [2]float64
	}{
		{name: "removal succeeds", metrics: [2]float64{1, 0}},
		{name: "removal fails", fail: errors.New("busy"), wantErr: ErrRemove, metrics: [2]float64{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{hold: make(chan struct{}), fail: map[string]error{"/w/a": tc.fail}}
				g := newTestGC(t, Config{Remove: rec.remove}, hooks{})
				g.Schedule(time.Second, "/w/a")
				time.Sleep(time.Second)
				synctest.Wait()

				type answer struct {
					ok  bool
					err error
				}
				answered := make(chan answer, 1)
				go func() {
					ok, err := g.Unschedule(context.Background(), "/w/a")
					answered <- answer{ok, err}
				}()
				synctest.Wait()
				select {
				case a := <-answered:
					t.Fatalf("Unschedule answered %+v while the removal runs", a)
				default:
				}
				close(rec.hold)
				synctest.Wait()
				a := <-answered
				if a.ok || !errors.Is(a.err, tc.wantErr) || (tc.wantErr == nil) != (a.err == nil) {
					t.Errorf("Unschedule = %v, %v; want false, %v", a.ok, a.err, tc.wantErr)
				}
				wantMetrics(t, g, tc.metrics[0], tc.metrics[1], 0)
			})
		})
	}
}

func TestUnscheduleContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{hold: make(chan struct{})}
		g := newTestGC(t, Config{Remove: rec.remove}, hooks{})
		g.Schedule(0, "/w/a")
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if ok, err := g.Unschedule(ctx, "/w/a"); ok || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Unschedule = %v, %v; want false, DeadlineExceeded", ok, err)
		}
		close(rec.hold)
	})
}

func TestScheduleWhileRemoving(t *testing.T) {
	t.Run("removal succeeds: scheduled again", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := &recorder{hold: make(chan struct{})}
			g := newTestGC(t, Config{Remove: rec.remove}, hooks{})
			first := g.Schedule(0, "/w/a")
			synctest.Wait()
			second := g.Schedule(time.Hour, "/w/a")
			third := g.Schedule(2*time.Hour, "/w/a")
			synctest.Wait()
			wantPending(t, "second", second)
			close(rec.hold)
			synctest.Wait()
			wantResult(t, "first", first, nil)
			wantResult(t, "second", second, ErrUnscheduled) // replaced by third, in call order
			wantPending(t, "third", third)
			wantMetrics(t, g, 1, 0, 1)
			time.Sleep(2 * time.Hour)
			synctest.Wait()
			wantResult(t, "third", third, nil)
			wantMetrics(t, g, 2, 0, 0)
		})
	})
	t.Run("removal fails: the new schedule fails with it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := &recorder{hold: make(chan struct{}), fail: map[string]error{"/w/a": errors.New("busy")}}
			g := newTestGC(t, Config{Remove: rec.remove}, hooks{})
			g.Schedule(0, "/w/a")
			synctest.Wait()
			again := g.Schedule(time.Hour, "/w/a")
			close(rec.hold)
			synctest.Wait()
			wantResult(t, "again", again, ErrRemove)
			wantMetrics(t, g, 0, 1, 0)
		})
	})
}

func TestCollectUsesModificationTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTestGC(t, Config{Delay: 3 * time.Hour}, hooks{})
		p := touch(t, "old", "fresh", "ancient")
		now := time.Now()
		for path, age := range map[string]time.Duration{p[0]: 2 * time.Hour, p[1]: 0, p[2]: 30 * 24 * time.Hour} {
			if err := os.Chtimes(path, now.Add(-age), now.Add(-age)); err != nil {
				t.Fatal(err)
			}
		}
		var rs []<-chan error
		for _, path := range p {
			r, err := g.Collect(path)
			if err != nil {
				t.Fatalf("Collect(%s): %v", path, err)
			}
			rs = append(rs, r)
		}
		synctest.Wait()
		wantResult(t, "ancient", rs[2], nil) // older than gc_delay: at once
		wantPending(t, "old", rs[0])

		time.Sleep(time.Hour)
		synctest.Wait()
		wantResult(t, "old", rs[0], nil)
		wantPending(t, "fresh", rs[1])

		time.Sleep(2 * time.Hour)
		synctest.Wait()
		wantResult(t, "fresh", rs[1], nil)

		if _, err := g.Collect(filepath.Join(t.TempDir(), "gone")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Collect(missing) = %v, want ErrNotExist", err)
		}
		wantMetrics(t, g, 3, 0, 0)
	})
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{hold: make(chan struct{})}
		g, err := newGC(Config{Remove: rec.remove, Logger: slog.New(slog.DiscardHandler)}, hooks{})
		if err != nil {
			t.Fatal(err)
		}
		inflight := g.Schedule(0, "/w/inflight")
		synctest.Wait()
		queued := g.Schedule(0, "/w/queued") // waits for the batch in flight
		later := g.Schedule(time.Hour, "/w/later")
		synctest.Wait()

		closed := make(chan struct{})
		go func() { g.Close(); close(closed) }()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a removal runs")
		default:
		}
		close(rec.hold)
		<-closed
		wantResult(t, "inflight", inflight, nil)
		wantResult(t, "queued", queued, ErrClosed)
		wantResult(t, "later", later, ErrClosed)
		wantMetrics(t, g, 1, 0, 0)

		g.Close() // idempotent
		wantResult(t, "after Close", g.Schedule(0, "/w/x"), ErrClosed)
		if ok, err := g.Unschedule(t.Context(), "/w/later"); ok || !errors.Is(err, ErrClosed) {
			t.Errorf("Unschedule after Close = %v, %v", ok, err)
		}
		g.Prune(time.Hour)
	})
}

func TestCloseStopsBatchBetweenPaths(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{hold: make(chan struct{})}
		g, err := newGC(Config{Remove: rec.remove, Logger: slog.New(slog.DiscardHandler)}, hooks{})
		if err != nil {
			t.Fatal(err)
		}
		a := g.Schedule(0, "/w/a")
		b := g.Schedule(0, "/w/b")
		synctest.Wait() // a and b are one batch; the first path is held
		closed := make(chan struct{})
		go func() { g.Close(); close(closed) }()
		synctest.Wait()
		close(rec.hold)
		<-closed
		results := []error{<-a, <-b}
		slices.SortFunc(results, func(x, y error) int {
			if x == nil {
				return -1
			}
			if y == nil {
				return 1
			}
			return 0
		})
		if results[0] != nil || !errors.Is(results[1], ErrClosed) {
			t.Errorf("results = %v, want one removed and one ErrClosed", results)
		}
		if len(rec.removed) != 1 {
			t.Errorf("removed %v, want exactly one path", rec.removed)
		}
	})
}

func TestNewValidatesHeadroom(t *testing.T) {
	_, err := New(Config{DiskHeadroom: 1.5})
	if !errors.Is(err, ErrInvalidHeadroom) {
		t.Fatalf("New(headroom 1.5) = %v, want ErrInvalidHeadroom", err)
	}
}

func TestNewDefaults(t *testing.T) {
	g, err := New(Config{DiskHeadroom: DefaultDiskHeadroom})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.delay != DefaultDelay || g.interval != DefaultDiskWatchInterval {
		t.Errorf("defaults: delay %v interval %v", g.delay, g.interval)
	}
	if got, want := g.MaxAllowedAge(), Age(DefaultDelay, DefaultDiskHeadroom, 0); got != want {
		t.Errorf("MaxAllowedAge() = %v before any check, want %v", got, want)
	}
	wantMetrics(t, g, 0, 0, 0)
}
