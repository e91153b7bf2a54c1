package ratelimit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
)

func TestParse(t *testing.T) {
	// docs/configuration/master.md's example.
	const example = `{"limits":[{"principal":"foo","qps":55.5},{"principal":"bar"}],"aggregate_default_qps":33.3}`
	want := &mesospb.RateLimits{
		Limits: []*mesospb.RateLimit{
			{Principal: proto.String("foo"), Qps: proto.Float64(55.5)},
			{Principal: proto.String("bar")},
		},
		AggregateDefaultQps: proto.Float64(33.3),
	}
	got, err := Parse(example)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
	path := filepath.Join(t.TempDir(), "limits.json")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Parse(path); err != nil || !proto.Equal(got, want) {
		t.Errorf("Parse(%s) = %v, %v", path, got, err)
	}

	for _, tt := range []struct{ value, want string }{
		{`{"limits":[{"principal":"a","qps":1},{"principal":"a"}]}`, "Duplicate principal a found in RateLimits configuration"},
		{`{"limits":[{"principal":"a","qps":0}]}`, "Invalid qps: 0. It must be a positive number"},
		{`{"limits":[{"principal":"a","qps":"NaN"}]}`, "Invalid qps: NaN. It must be a positive number"},
		{`{"limits":[{"principal":"a","qps":"Infinity"}]}`, "Invalid qps: +Inf. It must be a positive number"},
		{`{"aggregate_default_qps":-1}`, "Invalid aggregate_default_qps: -1. It must be a positive number"},
		{`{"limits":[{"qps":1}]}`, "missing required fields: limits[0].principal"},
		{`{"limits":`, "unexpected EOF"},
		{"/nonexistent/limits.json", "no such file"},
	} {
		_, err := Parse(tt.value)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%s) = %v, want an ErrInvalid containing %q", tt.value, err, tt.want)
		}
	}
}

func TestAcquire(t *testing.T) {
	capacity := uint64(2)
	ls := New(&mesospb.RateLimits{
		Limits: []*mesospb.RateLimit{
			{Principal: proto.String("slow"), Qps: proto.Float64(2), Capacity: &capacity},
			{Principal: proto.String("free")},
		},
		AggregateDefaultQps: proto.Float64(10),
	})
	now := time.Unix(1000, 0)

	// A principal listed without qps is not throttled.
	if p, err := ls.Acquire("free", true, now); p != nil || err != nil {
		t.Errorf("Acquire(free) = %v, %v; want no throttling", p, err)
	}
	// Turns 1/qps apart, in arrival order; capacity waiting at most.
	p1, err := ls.Acquire("slow", true, now)
	if err != nil || !p1.At.Equal(now) {
		t.Fatalf("first Acquire = %v, %v; want a turn now", p1, err)
	}
	p2, err := ls.Acquire("slow", true, now)
	if err != nil || !p2.At.Equal(now.Add(500*time.Millisecond)) {
		t.Fatalf("second Acquire = %v, %v; want a turn in 500ms", p2, err)
	}
	_, err = ls.Acquire("slow", true, now)
	var ex *ExceededError
	if !errors.As(err, &ex) || ex.Message("mesos.scheduler.Call") != "Message mesos.scheduler.Call dropped: capacity(2) exceeded" {
		t.Fatalf("third Acquire = %v, want capacity(2) exceeded", err)
	}
	p1.Done()
	p1.Done() // idempotent
	p3, err := ls.Acquire("slow", true, now)
	if err != nil || !p3.At.Equal(now.Add(time.Second)) {
		t.Fatalf("Acquire after one turn ended = %v, %v; want a turn in 1s", p3, err)
	}

	// No principal, or one not listed: the shared default limiter.
	d1, _ := ls.Acquire("", false, now)
	d2, _ := ls.Acquire("other", true, now)
	if d1 == nil || d2 == nil || !d2.At.Equal(now.Add(100*time.Millisecond)) {
		t.Errorf("default limiter turns = %v, %v; want now and now+100ms", d1, d2)
	}

	// Without an aggregate default, others are not throttled; nil
	// limiters throttle nothing.
	if p, err := New(&mesospb.RateLimits{}).Acquire("x", true, now); p != nil || err != nil {
		t.Errorf("Acquire without default = %v, %v", p, err)
	}
	if p, err := (*Limiters)(nil).Acquire("x", true, now); p != nil || err != nil {
		t.Errorf("nil Limiters Acquire = %v, %v", p, err)
	}
}

// FuzzParse: any --rate_limits value either fails with ErrInvalid or gives
// a configuration Validate accepts and New builds limiters for.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"limits":[{"principal":"foo","qps":55.5},{"principal":"bar"}],"aggregate_default_qps":33.3}`,
		`{"limits":[{"principal":"a","qps":1e-300,"capacity":18446744073709551615}],"aggregate_default_qps":"1e308","aggregate_default_capacity":0}`,
		`{"limits":[{"principal":"a","qps":"NaN"}]}`,
		`{}`, `[]`, `{"limits":[{}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		if strings.HasPrefix(strings.TrimSpace(value), "/") {
			return // a path: reads files
		}
		rl, err := Parse(value)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, not an ErrInvalid", value, err)
			}
			return
		}
		if err := Validate(rl); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		ls := New(rl)
		now := time.Unix(0, 0)
		for _, l := range rl.GetLimits() {
			if p, err := ls.Acquire(l.GetPrincipal(), true, now); err == nil && p != nil {
				if p.At.Before(now) {
					t.Fatalf("a turn before now: %v", p.At)
				}
				p.Done()
			}
		}
	})
}
