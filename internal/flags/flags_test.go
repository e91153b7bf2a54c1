package flags

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type testFlags struct {
	fs         *flag.FlagSet
	master     string
	port       int
	switchUser bool
	strict     bool
	gcDelay    Duration
	cache      Bytes
	uri        string
}

func newTestFlags() *testFlags {
	t := &testFlags{fs: flag.NewFlagSet("meso", flag.ContinueOnError)}
	t.fs.SetOutput(io.Discard)
	t.fs.StringVar(&t.master, "master", "", "")
	t.fs.IntVar(&t.port, "port", 5051, "")
	t.fs.BoolVar(&t.switchUser, "switch_user", true, "")
	t.fs.BoolVar(&t.strict, "strict", false, "")
	t.gcDelay = Duration{7 * 24 * time.Hour}
	t.fs.Var(&t.gcDelay, "gc_delay", "")
	t.cache = 2 << 30
	t.fs.Var(&t.cache, "fetcher_cache_size", "")
	t.fs.StringVar(&t.uri, "uri", "", "")
	return t
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParse(t *testing.T) {
	dir := t.TempDir()
	zkFile := filepath.Join(dir, "zk")
	if err := os.WriteFile(zkFile, []byte("  zk://a:2181/mesos\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	type want struct {
		Master     string
		Port       int
		SwitchUser bool
		Strict     bool
		GCDelay    time.Duration
		Cache      uint64
		URI        string
		Args       []string
	}
	def := want{Port: 5051, SwitchUser: true, GCDelay: 7 * 24 * time.Hour, Cache: 2 << 30}
	with := func(f func(*want)) want { w := def; f(&w); return w }

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		opts    []Option
		want    want
		wantErr string
	}{
		{name: "defaults", want: def},
		{name: "equals form", args: []string{"--master=zk://h:2181/mesos", "--port=5052"},
			want: with(func(w *want) { w.Master = "zk://h:2181/mesos"; w.Port = 5052 })},
		{name: "space form", args: []string{"--master", "h:5050", "--port", "6000"},
			want: with(func(w *want) { w.Master = "h:5050"; w.Port = 6000 })},
		{name: "bool bare", args: []string{"--strict"}, want: with(func(w *want) { w.Strict = true })},
		{name: "bool no- prefix", args: []string{"--no-switch_user"}, want: with(func(w *want) { w.SwitchUser = false })},
		{name: "bool =false", args: []string{"--switch_user=false"}, want: with(func(w *want) { w.SwitchUser = false })},
		{name: "bool does not eat next arg", args: []string{"--strict", "pos"},
			want: with(func(w *want) { w.Strict = true; w.Args = []string{"pos"} })},
		{name: "no- with value", args: []string{"--no-switch_user=true"}, wantErr: "via '--no-switch_user' with value 'true'"},
		{name: "no- on non-bool", args: []string{"--no-port"}, wantErr: "unknown flag 'no-port'; see --help"},
		{name: "unknown", args: []string{"--bogus=1"}, wantErr: "unknown flag 'bogus'; see --help"},
		{name: "missing value", args: []string{"--master"}, wantErr: "flag 'master': missing value"},
		{name: "duplicate", args: []string{"--port=1", "--port=2"}, wantErr: "flag 'port' is given more than once"},
		{name: "positional and --", args: []string{"a", "--port=1", "-x", "--", "--strict"},
			want: with(func(w *want) { w.Port = 1; w.Args = []string{"a", "-x", "--strict"} })},
		{name: "env fallback", env: map[string]string{"MESOS_MASTER": "m:5050", "MESOS_PORT": "7", "MESOS_SWITCH_USER": "false", "MESOS_GC_DELAY": "2days"},
			want: with(func(w *want) { w.Master = "m:5050"; w.Port = 7; w.SwitchUser = false; w.GCDelay = 48 * time.Hour })},
		{name: "env does not override command line", args: []string{"--port=1", "--switch_user"},
			env:  map[string]string{"MESOS_PORT": "7", "MESOS_SWITCH_USER": "false"},
			want: with(func(w *want) { w.Port = 1 })},
		{name: "env empty bool is true", env: map[string]string{"MESOS_STRICT": ""}, want: with(func(w *want) { w.Strict = true })},
		{name: "env other prefix ignored", env: map[string]string{"OTHER_PORT": "7"}, want: def},
		{name: "env bad value", env: map[string]string{"MESOS_PORT": "x"}, wantErr: "flag 'port' from environment variable MESOS_PORT"},
		{name: "file expansion", args: []string{"--master=file://" + zkFile},
			want: with(func(w *want) { w.Master = "zk://a:2181/mesos" })},
		{name: "file expansion from env", env: map[string]string{"MESOS_MASTER": "file://" + zkFile},
			want: with(func(w *want) { w.Master = "zk://a:2181/mesos" })},
		{name: "file missing", args: []string{"--master=file://" + filepath.Join(dir, "nope")}, wantErr: "flag 'master' from --master"},
		{name: "no file expansion", args: []string{"--uri=file:///x/y"}, opts: []Option{NoFileExpansion("uri")},
			want: with(func(w *want) { w.URI = "file:///x/y" })},
		{name: "bytes and duration", args: []string{"--fetcher_cache_size=512MB", "--gc_delay=15secs"},
			want: with(func(w *want) { w.Cache = 512 << 20; w.GCDelay = 15 * time.Second })},
		{name: "bad duration", args: []string{"--gc_delay=5parsecs"},
			wantErr: "failed to load flag 'gc_delay' from --gc_delay: invalid duration '5parsecs': unknown duration unit 'parsecs'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFlags()
			args, err := Parse(f.fs, tt.args, "MESOS_", envOf(tt.env), tt.opts...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			got := want{f.master, f.port, f.switchUser, f.strict, f.gcDelay.Duration, uint64(f.cache), f.uri, args}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseUnknownIsSentinel(t *testing.T) {
	_, err := Parse(newTestFlags().fs, []string{"--nope"}, "MESOS_", envOf(nil))
	if !errors.Is(err, ErrUnknownFlag) {
		t.Fatalf("err = %v, want ErrUnknownFlag", err)
	}
}

func TestParseHelp(t *testing.T) {
	for _, a := range []string{"--help", "-h", "-help"} {
		if _, err := Parse(newTestFlags().fs, []string{a}, "MESOS_", envOf(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("Parse(%q) = %v, want flag.ErrHelp", a, err)
		}
	}
}

func TestParseMarksFlagsSet(t *testing.T) {
	f := newTestFlags()
	if _, err := Parse(f.fs, []string{"--port=1"}, "MESOS_", envOf(map[string]string{"MESOS_MASTER": "x"})); err != nil {
		t.Fatal(err)
	}
	var set []string
	f.fs.Visit(func(fl *flag.Flag) { set = append(set, fl.Name) })
	if diff := cmp.Diff([]string{"master", "port"}, set); diff != "" {
		t.Errorf("set flags (-want +got):\n%s", diff)
	}
}

func TestDump(t *testing.T) {
	f := newTestFlags()
	if _, err := Parse(f.fs, []string{"--master=m:5050", "--gc_delay=90secs"}, "MESOS_", envOf(nil)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"master": "m:5050", "port": "5051", "switch_user": "true", "strict": "false",
		"gc_delay": "90secs", "fetcher_cache_size": "2GB", // "uri" has no value: left out
	}
	if diff := cmp.Diff(want, Dump(f.fs)); diff != "" {
		t.Errorf("Dump() (-want +got):\n%s", diff)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		str     string
		wantErr string
	}{
		{in: "15secs", want: 15 * time.Second, str: "15secs"},
		{in: "60secs", want: time.Minute, str: "1mins"},
		{in: "90secs", want: 90 * time.Second, str: "90secs"},
		{in: "250ms", want: 250 * time.Millisecond, str: "250ms"},
		{in: "1500us", want: 1500 * time.Microsecond, str: "1500us"},
		{in: "10ns", want: 10, str: "10ns"},
		{in: "0ns", want: 0, str: "0ns"},
		{in: "1weeks", want: 7 * 24 * time.Hour, str: "1weeks"},
		{in: "2weeks", want: 14 * 24 * time.Hour, str: "2weeks"},
		{in: "10days", want: 240 * time.Hour, str: "10days"},
		{in: "15mins", want: 15 * time.Minute, str: "15mins"},
		{in: "0.5hrs", want: 30 * time.Minute, str: "30mins"},
		{in: "1.5hrs", want: 90 * time.Minute, str: "90mins"},
		{in: "1234567ns", want: 1234567, str: "1.234567ms"},
		{in: "15s", want: 15 * time.Second, str: "15secs"},
		{in: "1h30m", want: 90 * time.Minute, str: "90mins"},
		{in: "15", wantErr: "invalid duration '15': missing unit"},
		{in: "5parsecs", wantErr: "unknown duration unit 'parsecs'; supported units are 'ns', 'us', 'ms', 'secs', 'mins', 'hrs', 'days', and 'weeks'"},
		{in: "1.2.3secs", wantErr: "invalid duration '1.2.3secs': bad number '1.2.3'"},
		{in: "", wantErr: "invalid duration ''"},
		{in: "-1m", wantErr: "invalid duration '-1m': durations cannot be negative"},
		{in: "-1mins", wantErr: "unknown duration unit '-1mins'"},
	}
	for _, tt := range tests {
		var d Duration
		err := d.Set(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Set(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || d.Duration != tt.want || d.String() != tt.str {
			t.Errorf("Set(%q) = %v, %v (String %q); want %v, %q", tt.in, d.Duration, err, d.String(), tt.want, tt.str)
		}
	}
	if got := FormatDuration(-15 * time.Second); got != "-15secs" {
		t.Errorf("FormatDuration(-15s) = %q", got)
	}
}

func TestBytes(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		str     string
		wantErr string
	}{
		{in: "512MB", want: 512 << 20, str: "512MB"},
		{in: "2GB", want: 2 << 30, str: "2GB"},
		{in: "2048MB", want: 2 << 30, str: "2GB"},
		{in: "4KB", want: 4 << 10, str: "4KB"},
		{in: "4kb", want: 4 << 10, str: "4KB"},
		{in: "10B", want: 10, str: "10B"},
		{in: "1TB", want: 1 << 40, str: "1TB"},
		{in: "1024", want: 1024, str: "1KB"},
		{in: "0B", want: 0, str: "0B"},
		{in: "1.5GB", wantErr: "fractional bytes"},
		{in: "3XB", wantErr: "unknown bytes unit 'XB'"},
		{in: "GB", wantErr: "invalid bytes 'GB'"},
	}
	for _, tt := range tests {
		var b Bytes
		err := b.Set(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Set(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || uint64(b) != tt.want || b.String() != tt.str {
			t.Errorf("Set(%q) = %d, %v (String %q); want %d, %q", tt.in, uint64(b), err, b.String(), tt.want, tt.str)
		}
	}
}

func TestPathFlagNotExpanded(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var p Path
	fs.Var(&p, "credentials", "")
	if _, err := Parse(fs, []string{"--credentials=file:///does/not/exist"}, "X_", envOf(nil)); err != nil {
		t.Fatal(err)
	}
	if p.Value != "/does/not/exist" {
		t.Errorf("Path = %q, want /does/not/exist", p.Value)
	}
}
