package gc

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Age is the maximum age a sandbox or meta directory may reach when the
// work directory's filesystem is usage full (a fraction in [0, 1]), Mesos's
// Slave::age: delay * max(0, 1 - headroom - usage). With the defaults an
// empty disk keeps directories for 90% of a week and a disk 90% full keeps
// none. A NaN factor counts as 0, as std::max(0.0, NaN) does.
func Age(delay time.Duration, headroom, usage float64) time.Duration {
	f := 1.0 - headroom - usage
	if !(f > 0) {
		return 0
	}
	return time.Duration(float64(delay) * f)
}

// ValidateHeadroom checks --gc_disk_headroom. The error's text is the one
// Mesos's agent exits with (src/slave/slave.cpp, Slave::initialize), the
// value printed as C++ streams a double; it matches ErrInvalidHeadroom.
// Unlike Mesos, NaN is rejected too (Mesos's comparisons let it through).
func ValidateHeadroom(headroom float64) error {
	if headroom < 0 || headroom > 1 || math.IsNaN(headroom) {
		return headroomError(headroom)
	}
	return nil
}

type headroomError float64

func (e headroomError) Error() string {
	return "Invalid value '" + formatDouble(float64(e)) + "' for --gc_disk_headroom. Must be between 0.0 and 1.0"
}

func (headroomError) Is(target error) bool { return target == ErrInvalidHeadroom }

// formatDouble formats v as a default std::ostream does (%g, 6 digits).
func formatDouble(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// watchDisk is the disk watcher: every interval (the first one after New,
// the next ones after each check, as Mesos's checkDiskUsage re-arms itself)
// it checks the work directory's disk usage.
func (g *GC) watchDisk() {
	defer g.watcher.Done()
	t := time.NewTimer(g.interval)
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
		}
		g.checkDiskUsage()
		t.Reset(g.interval)
	}
}

// checkDiskUsage is Mesos's Slave::_checkDiskUsage: it computes the
// maximum allowed age from the usage and prunes every path scheduled
// Delay - age or less ahead, which are the paths at least age old.
func (g *GC) checkDiskUsage() {
	usage, err := g.usage(g.workDir)
	if err != nil {
		g.log.Error("failed to get disk usage", "work_dir", g.workDir, keyError, err)
		return
	}
	age := Age(g.delay, g.headroom, usage)
	g.maxAge.Store(int64(age))
	g.log.Info("checked disk usage",
		"usage_percent", fmt.Sprintf("%.2f", 100*usage), "max_allowed_age", age)
	g.Prune(g.delay - age)
}
