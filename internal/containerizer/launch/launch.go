// Package launch is the launch helper: the small program a containerizer
// starts in place of a container's first process so that the process can be
// isolated (placed in its cgroups, ...) before it runs anything.
//
// Go cannot fork without exec, so the containerizer cannot run code in the
// child between fork and exec the way Mesos's launcher does. Instead it
// starts the meso binary's hidden `launch` subcommand with the real argv
// after "--" and the read end of a pipe as file descriptor 3. The helper
// blocks on that pipe. The containerizer isolates the helper's pid, then
// writes one byte and closes the pipe; the helper execs the real command,
// which keeps the pid, and so everything it forks stays isolated. When the
// pipe is closed without the byte (isolation failed, the agent died), the
// helper exits with ExitAborted and the command never runs.
package launch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// ReleaseFD is the descriptor the helper reads the release byte from.
const ReleaseFD = 3

// ExitAborted is the helper's exit code when it was not released, and
// ExitExecFailed when the command could not be executed (as a shell does).
const (
	ExitAborted    = 125
	ExitExecFailed = 127
)

// Release is the byte that lets the helper exec.
const Release = 'R'

// Wrap returns the argv that runs argv through the helper: helper, "--", argv.
func Wrap(helper, argv []string) []string {
	out := make([]string, 0, len(helper)+1+len(argv))
	out = append(out, helper...)
	out = append(out, "--")
	return append(out, argv...)
}

// Main runs the helper: args are what follows the subcommand ("--" then the
// command's argv). It returns only on failure, with the exit code to use;
// on success the process image is replaced by the command.
func Main(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "meso launch: no command given (usage: meso launch -- COMMAND [ARGS...]); this is an internal helper of the agent")
		return ExitExecFailed
	}
	pipe := os.NewFile(ReleaseFD, "release")
	if pipe == nil {
		fmt.Fprintln(stderr, "meso launch: no release pipe on fd 3; this is an internal helper of the agent")
		return ExitAborted
	}
	if err := waitForRelease(pipe); err != nil {
		fmt.Fprintf(stderr, "meso launch: not released: %v\n", err)
		return ExitAborted
	}
	pipe.Close()

	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "meso launch: %v\n", err)
		return ExitExecFailed
	}
	err = syscall.Exec(path, args, os.Environ())
	fmt.Fprintf(stderr, "meso launch: exec %s: %v\n", path, err)
	return ExitExecFailed
}

var errAborted = errors.New("the release pipe was closed without the release byte")

func waitForRelease(r io.Reader) error {
	var b [1]byte
	n, err := r.Read(b[:])
	switch {
	case n == 1 && b[0] == Release:
		return nil
	case n == 1:
		return fmt.Errorf("unexpected byte %q on the release pipe", b[0])
	case err == nil || errors.Is(err, io.EOF):
		return errAborted
	default:
		return err
	}
}
