package detector

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	file := filepath.Join(t.TempDir(), "master")
	if err := os.WriteFile(file, []byte("  10.0.0.7:5055\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	zkFile := filepath.Join(t.TempDir(), "zk")
	if err := os.WriteFile(zkFile, []byte("zk://localhost:2181/mesos\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want string
		err  error
	}{
		{in: "127.0.0.1:5050", want: "127.0.0.1:5050"},
		{in: "master@10.0.0.1:5051", want: "10.0.0.1:5051"},
		{in: "http://example.com:8080", want: "example.com:8080"},
		{in: "http://example.com:8080/master/", want: "example.com:8080"},
		{in: "https://example.com", want: "example.com:5050"},
		{in: "localhost", want: "localhost:5050"},
		{in: "[::1]:5050", want: "[::1]:5050"},
		{in: " host:1 ", want: "host:1"},
		{in: "file://" + file, want: "10.0.0.7:5055"},
		{in: "zk://localhost:2181/mesos", err: ErrInvalidMaster},
		{in: "file://" + zkFile, err: ErrInvalidMaster},
		{in: "", err: ErrInvalidMaster},
		{in: "host:notaport", err: ErrInvalidMaster},
		{in: "host:70000", err: ErrInvalidMaster},
		{in: "host:1/path", err: ErrInvalidMaster},
		{in: "file:///does/not/exist", err: ErrInvalidMaster},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Parse(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q) error = %v", tt.in, err)
			continue
		}
		if got.Address() != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.in, got.Address(), tt.want)
		}
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	zkFile := filepath.Join(dir, "zk")
	if err := os.WriteFile(zkFile, []byte(" zk://u:p@a:2181,b:2181/mesos\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "pid")
	if err := os.WriteFile(pidFile, []byte("master@10.0.0.1:5051"), 0o600); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(dir, "nested")
	if err := os.WriteFile(nested, []byte("file://"+zkFile), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		in   string
		want string // "zk", "standalone" or "" for an error
	}{
		{"zk://a:2181,b:2181/mesos", "zk"},
		{"file://" + zkFile, "zk"},
		{"h:1", "standalone"},
		{"file://" + pidFile, "standalone"},
		{"zk://a:2181", ""},
		{"zk://a:2181/", ""},
		{"file://" + nested, ""},
		{"file:///does/not/exist", ""},
	} {
		d, err := New(tt.in)
		switch tt.want {
		case "":
			if !errors.Is(err, ErrInvalidMaster) {
				t.Errorf("New(%q) = %v, %v; want ErrInvalidMaster", tt.in, d, err)
			}
			continue
		case "zk":
			zk, ok := d.(*ZooKeeper)
			if err != nil || !ok {
				t.Errorf("New(%q) = %T, %v; want *ZooKeeper", tt.in, d, err)
				continue
			}
			if zk.opt.SessionTimeout != 10*time.Second {
				t.Errorf("New(%q): session timeout %v", tt.in, zk.opt.SessionTimeout)
			}
		case "standalone":
			if _, ok := d.(*Standalone); err != nil || !ok {
				t.Errorf("New(%q) = %T, %v; want *Standalone", tt.in, d, err)
				continue
			}
		}
		// Closing a detector that never detected is immediate.
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := d.Detect(t.Context(), nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Detect after Close: %v", err)
		}
	}
}

func TestStandaloneDetect(t *testing.T) {
	ctx := t.Context()
	a := &Leader{Host: "a", Port: 1}
	d := NewStandalone(a)

	got, err := d.Detect(ctx, nil)
	if err != nil || !Same(got, a) {
		t.Fatalf("Detect(nil) = %v, %v", got, err)
	}

	// Waiting for a change blocks until Appoint.
	b := &Leader{Host: "b", Port: 2}
	done := make(chan *Leader, 1)
	go func() {
		l, err := d.Detect(ctx, a)
		if err != nil {
			t.Errorf("Detect: %v", err)
		}
		done <- l
	}()
	select {
	case l := <-done:
		t.Fatalf("Detect returned %v before a change", l)
	case <-time.After(20 * time.Millisecond):
	}
	d.Appoint(&Leader{Host: "a", Port: 1}) // same leader: no wake-up result
	d.Appoint(b)
	select {
	case l := <-done:
		if !Same(l, b) {
			t.Fatalf("Detect = %v, want %v", l, b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Detect did not return after Appoint")
	}

	// Context cancellation.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.Detect(cctx, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("Detect(cancelled) error = %v", err)
	}

	// Close.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Detect(ctx, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Detect after Close error = %v", err)
	}
}

func TestWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	d := NewStandalone(nil)
	ch := Watch(ctx, d)

	a := &Leader{Host: "a", Port: 1}
	d.Appoint(a)
	if l := <-ch; !Same(l, a) {
		t.Fatalf("first = %v", l)
	}
	d.Appoint(nil)
	if l := <-ch; l != nil {
		t.Fatalf("after loss = %v, want nil", l)
	}
	cancel()
	for range ch {
	}
}
