package command

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// options are the command-line flags of the command executor. The names are
// those of Mesos's mesos-executor; the agent passes them as --name=value.
type options struct {
	user             string // --user: run the task as this user (overrides CommandInfo/FrameworkInfo user)
	taskCommand      string // --task_command: JSON CommandInfo overriding the TaskInfo's
	taskEnvironment  string // --task_environment: JSON Environment added to the task's environment
	workingDirectory string // --working_directory: the task's cwd (default: the sandbox)
	switchUser       bool   // --switch_user (meso only, default true): allow changing to the task's user
	help             bool
}

// ignoredFlags are mesos-executor flags that meso accepts but does not act on.
var ignoredFlags = map[string]bool{
	"launcher_dir":              true,
	"sandbox_directory":         true,
	"effective_capabilities":    true,
	"bounding_capabilities":     true,
	"tty_slave_path":            true,
	"task_launch_info":          true,
	"task_supplementary_groups": true,
}

var errHelp = errors.New("help requested")

const usage = `Usage: meso executor [options]

The built-in command executor: runs the command of one TaskInfo, started by
the agent with the MESOS_* environment of an executor.

Options:
  --user=NAME                 run the task as NAME (when running as root)
  --task_command=JSON         a CommandInfo (JSON) to run instead of the task's command
  --task_environment=JSON     an Environment (JSON) added to the task's environment
  --working_directory=PATH    the task's working directory (default: MESOS_DIRECTORY)
  --[no-]switch_user          change to the task's user when running as root (default: true)
  --help                      print this help
`

// parseFlags parses Mesos-style flags: --name=value, --name (true), --no-name
// (false). Unknown flags are reported on warn and ignored.
func parseFlags(args []string, warn io.Writer) (options, error) {
	o := options{switchUser: true}
	for _, arg := range args {
		if arg == "--" {
			break
		}
		name, ok := strings.CutPrefix(arg, "--")
		if !ok {
			return o, fmt.Errorf("unexpected argument %q", arg)
		}
		name, value, hasValue := strings.Cut(name, "=")
		negated := false
		if !hasValue {
			if n, ok := strings.CutPrefix(name, "no-"); ok {
				name, negated = n, true
			}
		}
		boolValue := func() (bool, error) {
			if !hasValue {
				return !negated, nil
			}
			b, err := strconv.ParseBool(value)
			if err != nil {
				return false, fmt.Errorf("flag --%s: invalid boolean %q", name, value)
			}
			return b, nil
		}
		needValue := func() error {
			if !hasValue {
				return fmt.Errorf("flag --%s needs a value", name)
			}
			return nil
		}
		var err error
		switch name {
		case "help":
			o.help, err = boolValue()
		case "switch_user":
			o.switchUser, err = boolValue()
		case "user":
			err = needValue()
			o.user = value
		case "task_command":
			err = needValue()
			o.taskCommand = value
		case "task_environment":
			err = needValue()
			o.taskEnvironment = value
		case "working_directory":
			err = needValue()
			o.workingDirectory = value
		case "rootfs":
			err = fmt.Errorf("flag --rootfs is not supported by meso's command executor")
		default:
			if !ignoredFlags[name] {
				fmt.Fprintf(warn, "Ignoring unknown flag --%s\n", name)
			}
		}
		if err != nil {
			return o, err
		}
	}
	if o.help {
		return o, errHelp
	}
	return o, nil
}
