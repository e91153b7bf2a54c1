package gc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

func platformHooks() hooks {
	return hooks{mounts: mountPoints, unmount: unmount}
}

// mountPoints returns the mount points of /proc/self/mountinfo in file
// order (the order they were mounted in).
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountInfo(f)
}

// parseMountInfo reads mountinfo lines ("id parent major:minor root
// mount-point options ..."); the mount point is the fifth field, with
// space, tab, newline and backslash escaped in octal.
func parseMountInfo(f io.Reader) ([]string, error) {
	var targets []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			return nil, fmt.Errorf("malformed mountinfo line %q", s.Text())
		}
		targets = append(targets, unescapeOctal(fields[4]))
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return targets, nil
}

// unescapeOctal decodes the \ooo escapes the kernel writes in mountinfo.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

func unmount(target string) error {
	if err := syscall.Unmount(target, 0); err != nil {
		return &os.PathError{Op: "unmount", Path: target, Err: err}
	}
	return nil
}
