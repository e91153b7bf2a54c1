package command

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/users"
)

// exitResult is what the reaper goroutine reports for the task's process.
type exitResult struct {
	state *os.ProcessState
	err   error
}

// launchSpec is everything needed to start the task's process.
type launchSpec struct {
	command *mesospb.CommandInfo
	env     []string
	dir     string
	cred    *syscall.Credential
	stdout  io.Writer // an *os.File is handed to the task as is
	stderr  io.Writer
}

// buildCmd turns a CommandInfo into an exec.Cmd: shell form runs
// `/bin/sh -c <value>` (arguments ignored), argv form execs value with
// argv = arguments (arguments[0] is argv[0]; [value] when empty). The task
// gets its own session and process group (setsid, as Mesos's launcher does),
// so that killing -pgid reaches every process it started.
func buildCmd(spec launchSpec) (*exec.Cmd, error) {
	c := spec.command
	if c.GetValue() == "" {
		if c.GetShell() {
			return nil, errors.New("shell command is not specified")
		}
		return nil, errors.New("executable is not specified")
	}
	var cmd *exec.Cmd
	if c.GetShell() {
		cmd = &exec.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", c.GetValue()}}
	} else {
		path := c.GetValue()
		if !strings.Contains(path, "/") {
			p, err := lookPath(path, spec.env)
			if err != nil {
				return nil, err
			}
			path = p
		}
		args := slices.Clone(c.GetArguments())
		if len(args) == 0 {
			args = []string{c.GetValue()}
		}
		cmd = &exec.Cmd{Path: path, Args: args}
	}
	cmd.Env = spec.env
	cmd.Dir = spec.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: spec.cred}
	cmd.Stdout, cmd.Stderr = spec.stdout, spec.stderr
	// If the task's output goes through pipes (stdout is not a file) and a
	// process it leaves behind keeps them open, do not wait for it forever.
	cmd.WaitDelay = time.Second
	return cmd, nil
}

// lookPath resolves file on the PATH of the task's environment (as execvp
// in the task would), falling back to the executor's.
func lookPath(file string, env []string) (string, error) {
	for _, kv := range slices.Backward(env) {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, dir := range strings.Split(p, ":") {
				if dir == "" {
					dir = "."
				}
				cand := dir + "/" + file
				if fi, err := os.Stat(cand); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
					return cand, nil
				}
			}
			break
		}
	}
	return exec.LookPath(file)
}

// credential returns the credential to run the task as name, or nil when no
// change is needed (same user, not root, or switching disabled).
func credential(name string, switchUser bool) (*syscall.Credential, error) {
	if name == "" || !switchUser || os.Geteuid() != 0 {
		return nil, nil
	}
	if cur, err := user.Current(); err == nil && cur.Username == name {
		return nil, nil
	}
	cred, err := users.Credential(name)
	if err != nil {
		return nil, fmt.Errorf("failed to switch to user '%s': %w", name, err)
	}
	return cred, nil
}

// killGroup signals the task's whole process group; a group that is already
// gone is not an error.
func killGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 0 {
		return nil
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// reapGroup waits for every child of this process still in process group
// pgid: the orphans of the task, reparented to the executor (a subreaper),
// once the group has been SIGKILLed. It returns when there are none left.
func reapGroup(pgid int) {
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(-pgid, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return // ECHILD: none left
		}
	}
}

// describeExit words a wait status as Mesos's WSTRINGIFY does, prefixed by
// "Command ": "Command exited with status N" or "Command terminated with
// signal Killed" (the signal's strsignal(3) text).
func describeExit(ps *os.ProcessState) (msg string, success bool) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return fmt.Sprintf("Command exited with status %d", ps.ExitCode()), ps.Success()
	case ws.Exited():
		return fmt.Sprintf("Command exited with status %d", ws.ExitStatus()), ws.ExitStatus() == 0
	case ws.Signaled():
		return "Command terminated with signal " + signalText(ws.Signal()), false
	default:
		return fmt.Sprintf("Command exited with wait status %d", int(ws)), false
	}
}

// signalText is strsignal(3) for sig: Go's names ("terminated", "killed",
// "segmentation fault") with glibc's capital first letter.
func signalText(sig syscall.Signal) string {
	s := sig.String()
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
