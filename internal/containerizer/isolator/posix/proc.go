package posix

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procRoot is where procfs is mounted; tests point walk elsewhere.
const procRoot = "/proc"

// procStat is what the isolators need of one /proc/<pid>/stat line.
type procStat struct {
	pid, ppid    int
	utime, stime uint64 // clock ticks
	rssPages     uint64
}

// errStat reports a stat line that does not have the expected shape.
var errStat = errors.New("posix: malformed /proc stat line")

// parseStat parses a /proc/<pid>/stat line (proc(5)). The command name,
// field 2, is in parentheses and may itself hold spaces and parentheses, so
// the numeric fields are taken from after the last ')'.
func parseStat(line string) (procStat, error) {
	open := strings.IndexByte(line, '(')
	closing := strings.LastIndexByte(line, ')')
	if open < 0 || closing < open {
		return procStat{}, fmt.Errorf("%w: no command name in %q", errStat, line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return procStat{}, fmt.Errorf("%w: pid: %w", errStat, err)
	}
	// Fields from 3 (state) on; f[i] is field i+3 of proc(5).
	f := strings.Fields(line[closing+1:])
	const (
		ppid  = 4 - 3
		utime = 14 - 3
		stime = 15 - 3
		rss   = 24 - 3
	)
	if len(f) <= rss {
		return procStat{}, fmt.Errorf("%w: %d fields after the command name in %q", errStat, len(f), line)
	}
	s := procStat{pid: pid}
	if s.ppid, err = strconv.Atoi(f[ppid]); err != nil {
		return procStat{}, fmt.Errorf("%w: ppid: %w", errStat, err)
	}
	if s.utime, err = strconv.ParseUint(f[utime], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("%w: utime: %w", errStat, err)
	}
	if s.stime, err = strconv.ParseUint(f[stime], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("%w: stime: %w", errStat, err)
	}
	// rss is signed in the kernel's format (%ld); a negative value has been
	// seen transiently and means nothing resident.
	r, err := strconv.ParseInt(f[rss], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("%w: rss: %w", errStat, err)
	}
	s.rssPages = uint64(max(r, 0))
	return s, nil
}

// readStat reads and parses <proc>/<pid>/stat.
func readStat(proc string, pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(string(b))
}

// treeTotals are sums over a process tree.
type treeTotals struct {
	pids         []int // root first, then breadth first
	utime, stime uint64
	rssPages     uint64
}

// walk sums the stat fields of the process tree rooted at root, reading
// every process's parent from <proc>/<pid>/stat (one pass over <proc>, as
// Mesos's os::pstree does; /proc/<pid>/task/*/children would miss children
// on kernels built without CONFIG_PROC_CHILDREN). It reports false when
// root is not a live process. Processes that exit during the walk, or whose
// stat cannot be read, are left out: usage is a best-effort sample.
func walk(proc string, root int) (treeTotals, bool) {
	if root <= 0 {
		return treeTotals{}, false
	}
	rs, err := readStat(proc, root)
	if err != nil {
		return treeTotals{}, false
	}
	entries, err := os.ReadDir(proc)
	if err != nil {
		return treeTotals{}, false
	}
	children := make(map[int][]procStat)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		s, err := readStat(proc, pid)
		if err != nil {
			continue
		}
		children[s.ppid] = append(children[s.ppid], s)
	}
	var t treeTotals
	queue := []procStat{rs}
	seen := map[int]bool{root: true}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		t.pids = append(t.pids, s.pid)
		t.utime += s.utime
		t.stime += s.stime
		t.rssPages += s.rssPages
		for _, c := range children[s.pid] {
			// A pid reused while we read could make a cycle.
			if !seen[c.pid] {
				seen[c.pid] = true
				queue = append(queue, c)
			}
		}
	}
	return t, true
}
