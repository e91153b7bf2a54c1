// Package benchutil holds what the benchmark programs under bench/ share:
// waiting for a condition and reading times out of a meso log.
package benchutil

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Poll calls ok every interval until it reports true or an error, ctx ends
// or timeout passes.
func Poll(ctx context.Context, timeout, interval time.Duration, what string, ok func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := ok()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// LogTimes returns the times of the lines of the log at path whose message
// is msg (slog's text format: time=... level=... msg="..."), in order.
func LogTimes(path, msg string) []time.Time {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	want := "msg=" + strconv.Quote(msg)
	var out []time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, want) {
			continue
		}
		ts, ok := strings.CutPrefix(line, "time=")
		if !ok {
			continue
		}
		if i := strings.IndexByte(ts, ' '); i >= 0 {
			ts = ts[:i]
		}
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// Machine describes this machine for a benchmark's report: its CPU model
// and load average.
func Machine() (model, load string) {
	model = "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return model, load
}
