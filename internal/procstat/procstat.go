// Package procstat reads a process's CPU time and memory from /proc, for
// the tools that report what a master process costs (meso simulate, the
// scale benchmarks).
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Stats is a process's CPU time and resident set, from /proc.
type Stats struct {
	CPU     time.Duration
	PeakRSS int64 // bytes
	RSS     int64
}

// Read reads /proc/<pid>/stat (utime + stime) and /proc/<pid>/status
// (VmHWM, VmRSS).
func Read(pid int) (Stats, error) {
	var ps Stats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// The command (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ps, fmt.Errorf("procstat: cannot parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return ps, fmt.Errorf("procstat: short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	const clkTck = 100 // USER_HZ: 100 on every Linux ABI Go supports
	ps.CPU = time.Duration(ut+st) * time.Second / clkTck
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmHWM":
			ps.PeakRSS = n << 10
		case "VmRSS":
			ps.RSS = n << 10
		}
	}
	return ps, nil
}
