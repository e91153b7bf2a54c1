//go:build linux

package launcher

import (
	"os"
	"strconv"
	"strings"
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

// processes reads every process's parent, group and session.
func processes() []procStat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procStat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if st, ok := parseStat(pid, string(b)); ok {
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
