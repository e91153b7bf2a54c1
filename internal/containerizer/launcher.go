//go:build unix

package containerizer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meso-project/meso/internal/containerizer/launch"
	"github.com/meso-project/meso/internal/users"
)

// Launcher starts a container's first process and keeps track of every
// process of the container (Mesos's Launcher): "posix" by process group and
// process tree, "linux" by a cgroup, with the namespaces isolators ask for.
//
// Contract: methods are safe for concurrent use for different containers;
// the containerizer never calls two of them for the same container at once.
// Fork returns a process held by the launch helper: it runs nothing until
// Release, and everything it forks afterwards is tracked. Signal and
// Destroy reach every process of the container, including those whose
// parent died. Destroy returns once none is left (or ctx ends) and releases
// what the launcher holds for the container; it is idempotent.
type Launcher interface {
	Name() string
	Fork(ctx context.Context, id string, spec ForkSpec) (*Process, error)
	// Signal sends sig to every process of the container; pid is its first
	// process (which may have exited).
	Signal(id string, pid int, sig syscall.Signal) error
	Destroy(ctx context.Context, id string, pid int) error
	// Recover lists the containers an earlier run of the agent left behind
	// that the launcher can find by itself (their cgroups still exist);
	// the containerizer destroys those the agent does not recover.
	Recover(ctx context.Context) ([]string, error)
}

// ForkSpec is what a launcher needs to start a container's first process.
type ForkSpec struct {
	Command        []string
	Env            []string
	Dir            string
	Stdout, Stderr string
	User           string
	// Launch holds the isolators' requests: namespaces, mounts, environment.
	Launch LaunchInfo
	// Stdio, when set, are the container's stdin, stdout and stderr (an IO
	// switchboard's ends) instead of Stdout and Stderr; TTY says they are a
	// terminal, which becomes the container's controlling terminal.
	Stdio *[3]*os.File
	TTY   bool
	// Helper is the argv of the launch helper ({"/path/meso", "launch"}).
	// Without it the command starts at once, unheld; mounts then cannot be
	// made and Fork fails if any are asked for.
	Helper []string
	// Fetch is the container's fetch plan (ContainerConfig.Fetch): the
	// helper runs it once released, before the command; WaitFetched
	// reports how it went. It needs the helper.
	Fetch []byte
}

// Exit is how a process ended.
type Exit struct {
	// Status is the raw wait status; ExitCode is -1 when signalled.
	Status, ExitCode, Signal int
	// Err is set when the process could not be waited for.
	Err error
}

// Process is a container's first process as a launcher started it.
type Process struct {
	pid     int
	cmd     *exec.Cmd // nil for an adopted process
	release *os.File  // write end of the release pipe; nil without a helper
	fetched *os.File  // read end of the fetch pipe; nil without a fetch
	done    chan struct{}
	exit    Exit
}

// Pid is the process's pid in the agent's pid namespace.
func (p *Process) Pid() int { return p.pid }

// Done is closed once the process has ended and been reaped; Exit then
// says how.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exit is valid once Done is closed.
func (p *Process) Exit() Exit { return p.exit }

// Release lets the held process run its command. It is a no-op without a
// helper.
func (p *Process) Release() error {
	if p.release == nil {
		return nil
	}
	defer func() { p.release.Close(); p.release = nil }()
	if _, err := p.release.Write([]byte{launch.Release}); err != nil {
		return fmt.Errorf("releasing the launch helper: %w", err)
	}
	return nil
}

// Abort makes a held process exit without running its command.
func (p *Process) Abort() {
	if p.release != nil {
		p.release.Close()
		p.release = nil
	}
	if p.fetched != nil {
		p.fetched.Close()
		p.fetched = nil
	}
}

// WaitFetched waits, after Release, for the helper's fetch (ForkSpec.Fetch)
// to end; nil at once when there is none. A failed fetch is an error
// wrapping ErrFetch with the fetcher's message; so is a helper that ended
// (was killed) before it told. A failure to prepare the container is a
// plain error. ctx ending stops the wait.
func (p *Process) WaitFetched(ctx context.Context) error {
	f := p.fetched
	if f == nil {
		return nil
	}
	defer func() { f.Close(); p.fetched = nil }()
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()
	msg, err := io.ReadAll(io.LimitReader(f, 64<<10))
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: waiting for the fetch: %w", ErrFetch, ctx.Err())
	case err != nil:
		return fmt.Errorf("%w: reading the fetch's outcome: %w", ErrFetch, err)
	case len(msg) == 0:
		return fmt.Errorf("%w: the container's first process ended during the fetch", ErrFetch)
	}
	switch text := string(msg[1:]); msg[0] {
	case launch.FetchOK:
		return nil
	case launch.FetchFailed:
		return &fetchError{text}
	case launch.SetupFailed:
		return errors.New(text)
	default:
		return fmt.Errorf("%w: unexpected report %q from the launch helper", ErrFetch, msg)
	}
}

// fetchError is a failed fetch: its text is the fetcher's, unwrapped.
type fetchError struct{ msg string }

func (e *fetchError) Error() string { return e.msg }
func (e *fetchError) Unwrap() error { return ErrFetch }

// heldScript is the launch helper's hold (launch.Run) in the shell: read
// the release byte on launch.ReleaseFD, exit launch.ExitAborted when the
// pipe closes without it, else close the pipe and exec the command (a
// failed exec exits 127 or 126, as launch.ExitExecFailed).
const heldScript = `IFS= read -r r <&3; [ "$r" = R ] || exit 125; exec 3<&-; exec "$@"`

// StartHeld starts spec's command through the launch helper with attr (the
// launcher's process attributes: process group, namespaces) and returns it
// held. The caller places the pid under its control, then calls Release.
func StartHeld(spec ForkSpec, attr *syscall.SysProcAttr) (*Process, error) {
	if len(spec.Command) == 0 {
		return nil, errors.New("no command to run")
	}
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	var stdin, stdout, stderr *os.File
	if spec.Stdio != nil {
		stdin, stdout, stderr = spec.Stdio[0], spec.Stdio[1], spec.Stdio[2]
		if spec.TTY {
			// The terminal (fd 0 in the child) becomes the controlling
			// terminal of the container's session.
			attr.Setsid, attr.Setctty, attr.Ctty = true, true, 0
		}
	} else {
		var err error
		if stdout, err = openOutput(spec.Stdout); err != nil {
			return nil, err
		}
		defer stdout.Close()
		if stderr, err = openOutput(spec.Stderr); err != nil {
			return nil, err
		}
		defer stderr.Close()
	}

	env := append(append([]string{}, spec.Env...), spec.Launch.Env...)
	argv := spec.Command
	info := launch.Info{Mounts: spec.Launch.Mounts}
	if spec.User != "" && os.Geteuid() == 0 {
		cred, err := users.Credential(spec.User)
		if err != nil {
			return nil, err
		}
		if len(info.Mounts) > 0 {
			// The helper must stay root to mount; it drops to the user
			// right before it runs the command.
			info.User = &launch.User{UID: cred.Uid, GID: cred.Gid, Groups: cred.Groups}
		} else {
			attr.Credential = cred
		}
	}
	var r, w, fr, fw, plan *os.File
	var err error
	if len(spec.Fetch) > 0 {
		if len(spec.Helper) == 0 {
			return nil, errors.New("fetching inside the container needs the launch helper")
		}
		info.Fetch = true
		if plan, err = planFile(spec.Fetch); err != nil {
			return nil, err
		}
		defer plan.Close()
		if fr, fw, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("fetch pipe: %w", err)
		}
		defer fw.Close()
	}
	if len(spec.Helper) > 0 {
		if r, w, err = os.Pipe(); err != nil {
			if fr != nil {
				fr.Close()
			}
			return nil, fmt.Errorf("release pipe: %w", err)
		}
		defer r.Close()
		if len(info.Mounts) > 0 || info.User != nil || info.Fetch {
			b, err := json.Marshal(info)
			if err != nil {
				w.Close()
				if fr != nil {
					fr.Close()
				}
				return nil, err
			}
			argv = launch.Wrap(append(append([]string{}, spec.Helper...), "--launch_info="+string(b)), argv)
		} else {
			// Nothing to do between the release and the exec: the
			// shell holds the process as the helper would, for a fifth of
			// the helper's start-up cost (a Go binary's start costs ~5 ms
			// of CPU, /bin/sh's ~1 ms: a command task's launch starts
			// one of them and then the executor).
			argv = append([]string{"/bin/sh", "-c", heldScript, "meso-launch"}, argv...)
		}
	} else if len(info.Mounts) > 0 {
		return nil, errors.New("the isolators need mounts in the container, which needs the launch helper")
	}

	// Not exec.CommandContext: the container outlives the request context.
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = spec.Dir
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = attr
	if r != nil {
		cmd.ExtraFiles = []*os.File{r} // fd 3 = launch.ReleaseFD
	}
	if fw != nil {
		// fd 4 = launch.FetchFD, fd 5 = launch.FetchPlanFD
		cmd.ExtraFiles = append(cmd.ExtraFiles, fw, plan)
	}
	if err := cmd.Start(); err != nil {
		if w != nil {
			w.Close()
		}
		if fr != nil {
			fr.Close()
		}
		return nil, err
	}
	p := &Process{pid: cmd.Process.Pid, cmd: cmd, release: w, fetched: fr, done: make(chan struct{})}
	go p.wait()
	return p, nil
}

// planFile is an unlinked file holding plan, read from its start by the
// helper (a pipe could not hold a large plan before the helper runs).
func planFile(plan []byte) (*os.File, error) {
	f, err := os.CreateTemp("", "meso-fetch-plan-")
	if err != nil {
		return nil, fmt.Errorf("fetch plan: %w", err)
	}
	_ = os.Remove(f.Name())
	if _, err := f.Write(plan); err != nil {
		f.Close()
		return nil, fmt.Errorf("fetch plan: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("fetch plan: %w", err)
	}
	return f, nil
}

func (p *Process) wait() {
	err := p.cmd.Wait()
	e := Exit{ExitCode: -1}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		e.Status = int(ws)
		switch {
		case ws.Exited():
			e.ExitCode = ws.ExitStatus()
		case ws.Signaled():
			e.Signal = int(ws.Signal())
		}
	} else if err != nil {
		e.Err = err
	}
	p.exit = e
	close(p.done)
}

func openOutput(path string) (*os.File, error) {
	if path == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

// ErrUnknownStatus is the Exit.Err of an adopted process: it is not the
// agent's child, so how it ended cannot be known.
var ErrUnknownStatus = errors.New("the exit status of a process started by an earlier agent is unknown")

// AdoptProcess takes over a container's first process that an earlier run
// of the agent started (it is not this process's child): Done is closed
// when it ends, seen through a pidfd, and Exit reports ErrUnknownStatus. It
// fails when no process has pid.
func AdoptProcess(pid int) (*Process, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("adopting pid %d: %w", pid, syscall.ESRCH)
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("adopting pid %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("adopting pid %d: %w", pid, err)
	}
	p := &Process{pid: pid, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer f.Close()
		// A pidfd polls readable once its process has exited.
		err := rc.Read(func(fd uintptr) bool {
			for {
				n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
				if err == unix.EINTR {
					continue // the Go runtime's preemption signal, not an exit
				}
				return err != nil || n > 0
			}
		})
		p.exit = Exit{Status: -1, ExitCode: -1, Err: ErrUnknownStatus}
		if err != nil {
			p.exit.Err = fmt.Errorf("waiting for pid %d: %w", pid, err)
		}
	}()
	return p, nil
}

// exitedProcess is a container's first process that was gone before the
// agent could adopt it.
func exitedProcess() *Process {
	p := &Process{done: make(chan struct{}), exit: Exit{Status: -1, ExitCode: -1, Err: ErrUnknownStatus}}
	close(p.done)
	return p
}
