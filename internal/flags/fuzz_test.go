package flags

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary command lines and environments to Parse with a
// flag set of every kind meso declares (string, int, bool, Duration, Bytes,
// Path). Parse must never panic; what it accepts must print (Dump) in a form
// that parses back to the same values, as the /flags endpoint promises.
//
// The command line is the first input split at NUL bytes; the environment is
// the second, one NAME=VALUE per line. Inputs naming file:// are skipped: a
// file:// value is read from disk (any file the operator names, as in
// Mesos), which the unit tests cover with files they create.
func FuzzParse(f *testing.F) {
	seeds := []struct{ args, env string }{
		{"--master=zk://a:2181/mesos\x00--port=5050", ""},
		{"--no-switch_user\x00--gc_delay=1weeks\x00--fetcher_cache_size=2GB", "MESOS_STRICT="},
		{"--gc_delay\x000.5hrs\x00pos\x00--\x00--port=1", "MESOS_PORT=99\nMESOS_GC_DELAY=15secs"},
		{"--credentials=/etc/creds\x00--strict=false", "MESOS_FETCHER_CACHE_SIZE=1536MB"},
		{"--port=1\x00--port=2", ""},
		{"--gc_delay=1h30m\x00--fetcher_cache_size=18446744073709551615", ""},
		{"--help", ""},
	}
	for _, s := range seeds {
		f.Add(s.args, s.env)
	}
	f.Fuzz(func(t *testing.T, args, env string) {
		if strings.Contains(args, "file:") || strings.Contains(env, "file:") {
			t.Skip("file:// values read files")
		}
		envMap := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				envMap[k] = v
			}
		}
		a := newFuzzFlags()
		pos, err := Parse(a.fs, strings.Split(args, "\x00"), "MESOS_", envOf(envMap))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if len(pos) > len(args)+1 {
			t.Fatalf("%d positional arguments from %d bytes", len(pos), len(args))
		}

		// Dump → command line → Parse gives the same values back.
		var again []string
		for name, value := range Dump(a.fs) {
			again = append(again, "--"+name+"="+value)
		}
		b := newFuzzFlags()
		if _, err := Parse(b.fs, again, "MESOS_", envOf(nil)); err != nil {
			t.Fatalf("Dump's %q does not parse back: %v", again, err)
		}
		// A command-line argument is trimmed (as stout trims argv), so
		// values are compared without their surrounding white space.
		trim := strings.TrimSpace
		if trim(a.str) != trim(b.str) || a.num != b.num || a.on != b.on || a.size != b.size || trim(a.path.Value) != trim(b.path.Value) {
			t.Fatalf("round trip through Dump changed values: %+v → %+v", a, b)
		}
		// Durations print with 15 significant digits, as stout streams them.
		diff := a.delay.Duration - b.delay.Duration
		if diff < 0 {
			diff = -diff
		}
		if limit := max(time.Duration(1), abs(a.delay.Duration)/1e13); diff > limit {
			t.Fatalf("duration %v printed as %q parses back as %v", a.delay.Duration, a.delay.String(), b.delay.Duration)
		}
	})
}

type fuzzFlags struct {
	fs    *flag.FlagSet
	str   string
	num   int
	on    bool
	delay Duration
	size  Bytes
	path  Path
}

func newFuzzFlags() *fuzzFlags {
	f := &fuzzFlags{fs: flag.NewFlagSet("meso", flag.ContinueOnError)}
	f.fs.SetOutput(io.Discard)
	f.fs.StringVar(&f.str, "master", "", "")
	f.fs.IntVar(&f.num, "port", 5051, "")
	f.fs.BoolVar(&f.on, "switch_user", true, "")
	f.delay = Duration{7 * 24 * time.Hour}
	f.fs.Var(&f.delay, "gc_delay", "")
	f.size = 2 << 30
	f.fs.Var(&f.size, "fetcher_cache_size", "")
	f.fs.Var(&f.path, "credentials", "")
	return f
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
