package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// ErrUnavailable marks a transient failure of an attempt: the check's result
// is not available (the agent is unreachable, a nested container could not
// be removed, ...). Mesos discards such attempts silently: no result is
// reported and the next attempt runs after the interval. A CommandRunner
// wraps it in its error for those cases.
var ErrUnavailable = errors.New("checks: check result not available")

// ErrNoRunner is returned for a COMMAND check when Config.Runner is nil.
var ErrNoRunner = errors.New("checks: a COMMAND check needs a command runner")

// CommandRunner runs the command of a COMMAND check or health check.
//
// Run starts command, waits for it, and returns its exit code. A command that
// did not exit normally (killed by a signal, not started) returns an error;
// the attempt then counts as failed, unless the error wraps ErrUnavailable.
// ctx ends when the check's timeout expires or the checker stops: Run must
// then kill what it started (the whole process tree or container) and return
// promptly; the checker reports the timeout itself. A checker calls Run from
// one goroutine, never concurrently with itself; distinct checkers may share a
// runner, so implementations must be safe for concurrent use.
type CommandRunner interface {
	Run(ctx context.Context, command *mesospb.CommandInfo) (exitCode int, err error)
}

// LocalRunner runs check commands as children of the calling process, as
// Mesos's command executor does (the "plain" runtime): `/bin/sh -c value`
// for shell commands, else value exec'd with arguments as argv; stdin is
// /dev/null; the environment is Env (the process's own when nil) overlaid
// with the CommandInfo's variables. Each command gets its own process group,
// which is SIGKILLed when ctx ends.
type LocalRunner struct {
	// Env is the base environment; nil means os.Environ().
	Env []string
	// Dir is the working directory; "" means the current one.
	Dir string
	// Output receives the command's stdout and stderr (Mesos sends both to
	// the executor's stderr); nil discards them.
	Output io.Writer
	// Credential, when set, is the user the command runs as (the task's,
	// when the executor switches to it for the task itself).
	Credential *syscall.Credential
}

var _ CommandRunner = (*LocalRunner)(nil)

// Run implements CommandRunner.
func (r *LocalRunner) Run(ctx context.Context, command *mesospb.CommandInfo) (int, error) {
	var cmd *exec.Cmd
	if command.GetShell() {
		cmd = exec.Command("/bin/sh", "-c", command.GetValue())
	} else {
		cmd = exec.Command(command.GetValue())
		if args := command.GetArguments(); len(args) > 0 {
			cmd.Args = slices.Clone(args)
		}
	}
	env := r.Env
	if env == nil {
		env = os.Environ()
	}
	env = slices.Clone(env)
	for _, v := range command.GetEnvironment().GetVariables() {
		if v.GetType() != mesospb.Environment_Variable_VALUE {
			continue // secrets are resolved by the agent before a check runs
		}
		env = append(env, v.GetName()+"="+v.GetValue())
	}
	cmd.Env = env // later duplicates win (os/exec dedups keeping the last)
	cmd.Dir = r.Dir
	cmd.Stdout, cmd.Stderr = r.Output, r.Output
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: r.Credential}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("Failed to create subprocess: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
		return 0, ctx.Err()
	}
	// The group goes with its leader, as os::killtree would take it.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return 0, fmt.Errorf("Failed to reap the command process: %v", err)
	case ws.Exited():
		return ws.ExitStatus(), nil
	case ws.Signaled():
		return 0, fmt.Errorf("Command terminated with signal %s", ws.Signal())
	default:
		return 0, fmt.Errorf("Failed to reap the command process: %v", err)
	}
}
