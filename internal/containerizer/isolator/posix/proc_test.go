package posix

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// statLine builds a stat line in the kernel's format with the given command
// name and the fields the isolators read; the others are plausible filler.
func statLine(pid int, comm string, ppid int, utime, stime uint64, rss int64) string {
	return fmt.Sprintf("%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 %d %d 0 0 20 0 1 0 12345 10000000 %d 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n",
		pid, comm, ppid, pid, pid, utime, stime, rss)
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{
			name: "plain",
			line: statLine(42, "sleep", 1, 7, 3, 150),
			want: procStat{pid: 42, ppid: 1, utime: 7, stime: 3, rssPages: 150},
		},
		{
			name: "spaces in command",
			line: statLine(43, "my task 1", 42, 100, 200, 1000),
			want: procStat{pid: 43, ppid: 42, utime: 100, stime: 200, rssPages: 1000},
		},
		{
			name: "parentheses in command",
			line: statLine(44, "a) S 1 2 3 (b", 42, 5, 6, 7),
			want: procStat{pid: 44, ppid: 42, utime: 5, stime: 6, rssPages: 7},
		},
		{
			name: "command is a closing parenthesis",
			line: statLine(45, ")", 2, 1, 1, 1),
			want: procStat{pid: 45, ppid: 2, utime: 1, stime: 1, rssPages: 1},
		},
		{
			name: "empty command",
			line: statLine(46, "", 2, 0, 0, 0),
			want: procStat{pid: 46, ppid: 2},
		},
		{
			name: "negative rss",
			line: statLine(47, "x", 2, 1, 2, -1),
			want: procStat{pid: 47, ppid: 2, utime: 1, stime: 2},
		},
		{name: "empty", line: "", wantErr: true},
		{name: "no command", line: "42 S 1 2 3", wantErr: true},
		{name: "truncated", line: "42 (sleep) S 1 42 42 0 -1 4194560 100 0 0 0 7 3", wantErr: true},
		{name: "bad pid", line: "x" + statLine(42, "sleep", 1, 7, 3, 150), wantErr: true},
		{name: "bad utime", line: "42 (sleep) S 1 42 42 0 -1 4194560 100 0 0 0 x 3 0 0 20 0 1 0 12345 10000000 150", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(tt.line)
			if tt.wantErr {
				if !errors.Is(err, errStat) {
					t.Fatalf("parseStat(%q) = %+v, %v; want an errStat", tt.line, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseStat(%q): %v", tt.line, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(procStat{})); diff != "" {
				t.Errorf("parseStat(%q) mismatch (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

// fakeProc writes a procfs-like tree: one <pid>/stat per line.
func fakeProc(t *testing.T, lines map[int]string) string {
	t.Helper()
	dir := t.TempDir()
	for pid, line := range lines {
		d := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if line == "" {
			continue // a process that exited between the listing and the read
		}
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Entries that are not processes.
	for _, name := range []string{"self", "sys", "meminfo"} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestWalk(t *testing.T) {
	proc := fakeProc(t, map[int]string{
		1:  statLine(1, "init", 0, 1000, 1000, 1000),
		10: statLine(10, "sh", 1, 1, 2, 10),
		11: statLine(11, "worker (1)", 10, 100, 20, 300),
		12: statLine(12, "worker) (2", 10, 50, 10, 200),
		13: statLine(13, "grandchild", 11, 7, 3, 5),
		14: "",                                        // exited mid-walk
		15: statLine(15, "orphan", 1, 9, 9, 9),        // not in the tree
		16: statLine(16, "garbage", 10, 0, 0, 0)[:20], // unreadable: skipped
	})

	tests := []struct {
		name   string
		root   int
		want   treeTotals
		wantOK bool
	}{
		{
			name:   "tree with children and a grandchild",
			root:   10,
			want:   treeTotals{pids: []int{10, 11, 12, 13}, utime: 158, stime: 35, rssPages: 515},
			wantOK: true,
		},
		{
			name:   "leaf",
			root:   13,
			want:   treeTotals{pids: []int{13}, utime: 7, stime: 3, rssPages: 5},
			wantOK: true,
		},
		{name: "no pid", root: 0},
		{name: "negative pid", root: -1},
		{name: "no such process", root: 99},
		{name: "exited", root: 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := walk(proc, tt.root)
			if ok != tt.wantOK {
				t.Fatalf("walk(%d) ok = %v, want %v", tt.root, ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(treeTotals{})); diff != "" {
				t.Errorf("walk(%d) mismatch (-want +got):\n%s", tt.root, diff)
			}
		})
	}
}
