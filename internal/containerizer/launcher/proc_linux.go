//go:build linux

package launcher

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// procStat is what the posix launcher needs of /proc/<pid>/stat.
type procStat struct {
	pid, ppid, pgid, sid int
	zombie               bool
}

// parseStat reads the fields after the command name, which may hold spaces
// and parentheses: state ppid pgrp session ...
func parseStat(pid int, line string) (procStat, bool) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(line[i+1:])
	if len(f) < 4 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	sid, err3 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, false
	}
	return procStat{pid: pid, ppid: ppid, pgid: pgid, sid: sid, zombie: f[0] == "Z"}, true
}

// procScans coalesces the /proc scans of concurrent destroys: a burst of
// containers ending at once (hundreds of short tasks) would otherwise read
// every process's stat once per container, quadratic in the processes.
var procScans scanner

// scanner hands each caller a scan of /proc that started after the call:
// the caller's own, or the one every caller waiting behind a running scan
// shares.
type scanner struct {
	mu        sync.Mutex
	cur, next *scan
}

type scan struct {
	done  chan struct{}
	procs []procStat
}

// processes reads every process's parent, group and session, from a scan
// that started after the call.
func processes() []procStat { return procScans.get() }

func (s *scanner) get() []procStat {
	s.mu.Lock()
	for {
		if s.cur == nil {
			sc := s.next
			if sc == nil {
				sc = &scan{done: make(chan struct{})}
			}
			s.cur, s.next = sc, nil
			s.mu.Unlock()
			sc.procs = readProc()
			s.mu.Lock()
			s.cur = nil
			close(sc.done)
			s.mu.Unlock()
			return sc.procs
		}
		// The running scan may have passed some processes before this
		// call: wait for the one after it.
		if s.next == nil {
			s.next = &scan{done: make(chan struct{})}
		}
		cur, nx := s.cur, s.next
		s.mu.Unlock()
		<-cur.done
		s.mu.Lock()
		if s.cur == nil && s.next == nx {
			continue // nobody started it yet: run it here
		}
		s.mu.Unlock()
		<-nx.done
		return nx.procs
	}
}

// readProc reads /proc/<pid>/stat of every process: only the start of each
// (the fields up to the session follow the command name, at most 16 bytes).
func readProc() []procStat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make([]procStat, 0, len(entries))
	var buf [256]byte
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fd, err := syscall.Open("/proc/"+e.Name()+"/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		n, err := syscall.Read(fd, buf[:])
		_ = syscall.Close(fd)
		if err != nil || n <= 0 {
			continue
		}
		if st, ok := parseStat(pid, string(buf[:n])); ok {
			out = append(out, st)
		}
	}
	return out
}

// tree returns the pids of every live (not zombie) process of the container whose first
// process is pid, as Mesos's posix launcher finds them (os::killtree with
// groups and sessions): pid's descendants, and every process in pid's
// process group or session and their descendants. Processes that
// double-forked and called setsid escape it; the linux launcher's cgroup
// does not let them.
func tree(pid int) []int {
	procs := processes()
	children := make(map[int][]int)
	for _, p := range procs {
		if !p.zombie {
			children[p.ppid] = append(children[p.ppid], p.pid)
		}
	}
	seen := map[int]bool{}
	var out []int
	var queue []int
	add := func(p int) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
			queue = append(queue, p)
		}
	}
	for _, p := range procs {
		if !p.zombie && (p.pid == pid || p.pgid == pid || p.sid == pid) {
			add(p.pid)
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			add(c)
		}
	}
	return out
}
