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
//
// When the container has namespaces of its own (the linux launcher with
// namespaces/pid or filesystem/linux) the helper is also where the
// container's mounts are made: the containerizer passes them, and the user
// to become, as --launch_info=JSON before "--". The helper makes them once
// released, in the container's mount namespace, drops to the user, then
// execs (Mesos's mesos-containerizer launch does the same with its
// ContainerLaunchInfo).
//
// When the container has a fetch (Info.Fetch; the agent's plan comes on
// FetchPlanFD, an unlinked file, not on the command line where every user
// could read its URIs), the helper also runs it once released and switched to the user, inside the
// container, with the FetchFunc the composition root gives Run, and
// reports the outcome on a second pipe (FetchFD) that the containerizer
// waits on before Launch returns; the command runs only after a successful
// fetch. Mesos fetches at the same point, between isolation and exec.
package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// ReleaseFD is the descriptor the helper reads the release byte from,
// FetchFD the one it reports the fetch on, and FetchPlanFD the one it reads
// the fetch's plan from (the last two only when Info.Fetch is set).
const (
	ReleaseFD   = 3
	FetchFD     = 4
	FetchPlanFD = 5
)

// What the helper writes on FetchFD: FetchOK, or FetchFailed or
// SetupFailed followed by the error's text; then it closes it.
const (
	FetchOK     = 'F'
	FetchFailed = 'E'
	SetupFailed = 'A'
)

// FetchFunc runs a container's fetch plan (opaque here) with
// the fetcher's lines written to log (the sandbox's stderr). The
// composition root (cmd/meso) passes the agent's fetcher.
type FetchFunc func(ctx context.Context, plan []byte, log io.Writer) error

// ExitAborted is the helper's exit code when it was not released, and
// ExitExecFailed when the command could not be executed (as a shell does).
const (
	ExitAborted    = 125
	ExitExecFailed = 127
)

// Release is the byte that lets the helper exec.
const Release = 'R'

// Info is what the helper does between its release and the exec.
type Info struct {
	// Mounts are made in order (mount(2)); a failure aborts the launch.
	Mounts []Mount `json:"mounts,omitempty"`
	// User, when set, is who the command runs as; the helper starts as
	// root so that it can mount, and switches right before the exec.
	User *User `json:"user,omitempty"`
	// Fetch says the container has a fetch, whose plan is on FetchPlanFD:
	// once released (and switched to the user), the helper runs it inside
	// the container with its FetchFunc, reports on FetchFD, and execs only
	// if it succeeded (Mesos fetches between isolating the container and
	// exec'ing it).
	Fetch bool `json:"fetch,omitempty"`
}

// Mount is one mount(2) call.
type Mount struct {
	Source string  `json:"source,omitempty"`
	Target string  `json:"target"`
	FSType string  `json:"fstype,omitempty"`
	Flags  uintptr `json:"flags,omitempty"`
	Data   string  `json:"data,omitempty"`
}

// User is a resolved user.
type User struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
}

const infoFlag = "--launch_info="

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
func Main(args []string, stderr io.Writer) int { return Run(args, stderr, nil) }

// Run is Main with the function that runs a container's fetch; a launch
// asking for a fetch fails when it is nil.
func Run(args []string, stderr io.Writer, fetch FetchFunc) int {
	var info Info
	for len(args) > 0 && strings.HasPrefix(args[0], infoFlag) {
		if err := json.Unmarshal([]byte(strings.TrimPrefix(args[0], infoFlag)), &info); err != nil {
			fmt.Fprintf(stderr, "meso launch: bad %s: %v\n", strings.TrimSuffix(infoFlag, "="), err)
			return ExitAborted
		}
		args = args[1:]
	}
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
	var report *os.File
	var plan []byte
	if info.Fetch {
		report = os.NewFile(FetchFD, "fetch")
		planFile := os.NewFile(FetchPlanFD, "fetch plan")
		if report == nil || planFile == nil {
			fmt.Fprintln(stderr, "meso launch: no fetch pipe on fd 4 or plan on fd 5; this is an internal helper of the agent")
			return ExitAborted
		}
		var err error
		plan, err = io.ReadAll(planFile)
		planFile.Close()
		if err != nil {
			err = fmt.Errorf("reading the fetch plan: %w", err)
			fmt.Fprintf(stderr, "meso launch: %v\n", err)
			reportTo(report, SetupFailed, err)
			return ExitAborted
		}
	}
	if err := setup(info); err != nil {
		err = fmt.Errorf("preparing the container: %w", err)
		fmt.Fprintf(stderr, "meso launch: %v\n", err)
		reportTo(report, SetupFailed, err)
		return ExitAborted
	}
	if report != nil {
		err := errors.New("the launch helper has no fetcher")
		if fetch != nil {
			err = fetch(context.Background(), plan, stderr)
		}
		if err != nil {
			reportTo(report, FetchFailed, err)
			return 1 // mesos-fetcher's EXIT_FAILURE
		}
		reportTo(report, FetchOK, nil)
	}

	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "meso launch: %v\n", err)
		return ExitExecFailed
	}
	err = syscall.Exec(path, args, os.Environ())
	fmt.Fprintf(stderr, "meso launch: exec %s: %v\n", path, err)
	return ExitExecFailed
}

// reportTo writes the fetch's outcome and closes the pipe, so that the
// command does not inherit it.
func reportTo(f *os.File, code byte, err error) {
	if f == nil {
		return
	}
	msg := []byte{code}
	if err != nil {
		msg = append(msg, err.Error()...)
	}
	_, _ = f.Write(msg)
	f.Close()
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

// setup makes the mounts and switches to the user.
func setup(info Info) error {
	for _, m := range info.Mounts {
		if err := syscall.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data); err != nil {
			return fmt.Errorf("mounting %s at %s: %w", firstNonEmpty(m.Source, m.FSType), m.Target, err)
		}
	}
	if u := info.User; u != nil {
		groups := make([]int, len(u.Groups))
		for i, g := range u.Groups {
			groups[i] = int(g)
		}
		if err := syscall.Setgroups(groups); err != nil {
			return fmt.Errorf("setting supplementary groups: %w", err)
		}
		if err := syscall.Setgid(int(u.GID)); err != nil {
			return fmt.Errorf("setting gid %d: %w", u.GID, err)
		}
		if err := syscall.Setuid(int(u.UID)); err != nil {
			return fmt.Errorf("setting uid %d: %w", u.UID, err)
		}
	}
	return nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
