//go:build linux

package ioswitchboard_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meso-project/meso/internal/containerizer/ioswitchboard"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs argv with the switchboard's stdio, as a container's first
// process would get it.
func start(t *testing.T, s *ioswitchboard.Switchboard, argv ...string) *exec.Cmd {
	t.Helper()
	io := s.Stdio()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = io[0], io[1], io[2]
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if s.TTY() {
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Started()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// collect reads the output channel until it closes or the deadline.
func collect(t *testing.T, ch <-chan ioswitchboard.Output, until func(stdout, stderr string) bool) (string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	deadline := time.After(10 * time.Second)
	for {
		select {
		case o, ok := <-ch:
			if !ok {
				return out.String(), errOut.String()
			}
			if o.Stream == ioswitchboard.Stdout {
				out.Write(o.Data)
			} else {
				errOut.Write(o.Data)
			}
			if until != nil && until(out.String(), errOut.String()) {
				return out.String(), errOut.String()
			}
		case <-deadline:
			t.Fatalf("output so far: %q, %q", out.String(), errOut.String())
		}
	}
}

func TestPipesEchoAndLog(t *testing.T) {
	dir := t.TempDir()
	s, err := ioswitchboard.New(ioswitchboard.Config{
		StdoutLog: filepath.Join(dir, "stdout"), StderrLog: filepath.Join(dir, "stderr"),
		WaitForConnection: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cmd := start(t, s, "/bin/sh", "-c", "echo early; echo oops >&2; cat")
	out, err := s.Output(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.Input()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Input(); !errors.Is(err, ioswitchboard.ErrInputConnected) {
		t.Errorf("second Input: %v, want ErrInputConnected", err)
	}
	if err := in.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if err := in.Write(nil); err != nil { // EOF
		t.Fatal(err)
	}
	in.Close()
	stdout, stderr := collect(t, out, nil)
	if stdout != "early\nhello\n" || stderr != "oops\n" {
		t.Errorf("output = %q, %q; want the waited-for output and the echo", stdout, stderr)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("cat did not end with its stdin: %v", err)
	}
	<-s.Done()
	for name, want := range map[string]string{"stdout": "early\nhello\n", "stderr": "oops\n"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s log = %q, %v; want %q", name, b, err, want)
		}
	}
	// A client attaching after the end gets a closed stream.
	late, err := s.Output(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := <-late; ok {
		t.Error("a late client got output")
	}
	if in2, err := s.Input(); err != nil {
		t.Errorf("Input after the first closed: %v", err)
	} else {
		in2.Close()
	}
}

func TestTTY(t *testing.T) {
	s, err := ioswitchboard.New(ioswitchboard.Config{TTY: true,
		WindowSize: &ioswitchboard.WindowSize{Rows: 24, Columns: 80}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Output(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	start(t, s, "/bin/sh", "-c", "stty size; test -t 0 && echo tty; cat")
	in, err := s.Input()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	stdout, _ := collect(t, out, func(o, _ string) bool { return strings.Contains(o, "tty") })
	if !strings.Contains(stdout, "24 80") {
		t.Errorf("stty size printed %q, want 24 80", stdout)
	}
	if err := in.Resize(ioswitchboard.WindowSize{Rows: 30, Columns: 100}); err != nil {
		t.Fatal(err)
	}
	if err := in.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	stdout, _ = collect(t, out, func(o, _ string) bool { return strings.Count(o, "hello") >= 1 })
	if !strings.Contains(stdout, "hello") {
		t.Errorf("output %q, want the echo", stdout)
	}
	if err := in.Write([]byte{4}); err != nil { // EOT ends cat
		t.Fatal(err)
	}
	collect(t, out, nil) // the stream ends with the process
}

func TestCloseEndsClients(t *testing.T) {
	s, err := ioswitchboard.New(ioswitchboard.Config{})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s, "/bin/sleep", "30")
	out, err := s.Output(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	collect(t, out, nil)
	if _, err := s.Output(t.Context()); !errors.Is(err, ioswitchboard.ErrClosed) {
		t.Errorf("Output after Close: %v", err)
	}
}
