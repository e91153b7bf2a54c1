package metrics

import (
	"os"
	"runtime"
	"strconv"
	"strings"
)

// System metrics are those of libprocess's System process, which every
// Mesos master and agent serves: system/cpus_total, system/load_1min,
// system/load_5min, system/load_15min, system/mem_total_bytes and
// system/mem_free_bytes. As in libprocess, a value that cannot be read is
// left out of the snapshot rather than reported as zero.
const (
	SystemCPUsTotal     = "system/cpus_total"
	SystemLoad1Min      = "system/load_1min"
	SystemLoad5Min      = "system/load_5min"
	SystemLoad15Min     = "system/load_15min"
	SystemMemTotalBytes = "system/mem_total_bytes"
	SystemMemFreeBytes  = "system/mem_free_bytes"
)

// procRoot is where /proc and /sys are read from (tests point it at a
// directory of their own).
var procRoot = "/"

// AddSystem adds the system/* gauges to s.
func AddSystem(s *Snapshot) {
	s.Gauge(SystemCPUsTotal, float64(onlineCPUs()))
	if loads, ok := loadAvg(); ok {
		s.Gauge(SystemLoad1Min, loads[0])
		s.Gauge(SystemLoad5Min, loads[1])
		s.Gauge(SystemLoad15Min, loads[2])
	}
	if total, free, ok := memory(); ok {
		s.Gauge(SystemMemTotalBytes, total)
		s.Gauge(SystemMemFreeBytes, free)
	}
}

// onlineCPUs is os::cpus(), sysconf(_SC_NPROCESSORS_ONLN): glibc counts
// the CPUs listed in /sys/devices/system/cpu/online, e.g. "0-3,6".
// Without it, the CPUs this process may use.
func onlineCPUs() int {
	b, err := os.ReadFile(procRoot + "sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		c := a
		var err2 error
		if isRange {
			c, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || c < a {
			return runtime.NumCPU()
		}
		n += c - a + 1
	}
	if n == 0 {
		return runtime.NumCPU()
	}
	return n
}

// loadAvg is os::loadavg(), getloadavg(3): the first three fields of
// /proc/loadavg.
func loadAvg() ([3]float64, bool) {
	var out [3]float64
	b, err := os.ReadFile(procRoot + "proc/loadavg")
	if err != nil {
		return out, false
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return out, false
	}
	for i := range out {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return out, false
		}
		out[i] = v
	}
	return out, true
}

// memory is os::memory() on Linux, which reads sysinfo(2): total and
// free RAM. /proc/meminfo's MemTotal and MemFree are the same numbers
// (in KiB).
func memory() (total, free float64, ok bool) {
	b, err := os.ReadFile(procRoot + "proc/meminfo")
	if err != nil {
		return 0, 0, false
	}
	var haveTotal, haveFree bool
	for _, line := range strings.Split(string(b), "\n") {
		key, rest, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			v *= 1024
		}
		switch key {
		case "MemTotal":
			total, haveTotal = v, true
		case "MemFree":
			free, haveFree = v, true
		}
	}
	return total, free, haveTotal && haveFree
}
