package defaultexec

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// options are the command-line flags of the default executor, named as
// mesos-default-executor's (its own and those of Mesos's logging flags it
// understands). The agent passes --launcher_dir.
type options struct {
	launcherDir string     // --launcher_dir: where the Mesos (meso) binaries are
	level       slog.Level // --logging_level: INFO, WARNING or ERROR
	help        bool
}

var errHelp = errors.New("help requested")

const usage = `Usage: meso default-executor [options]

The built-in default executor (Mesos's mesos-default-executor): runs task
groups, each task in a container nested under the executor's, through the
agent's operator API. Started by the agent with the MESOS_* environment of
an executor.

Options:
  --launcher_dir=DIR          directory of the meso binary (passed by the agent)
  --logging_level=LEVEL       INFO, WARNING or ERROR (default: INFO)
  --help                      print this help
`

// parseFlags parses --name=value flags. Unknown flags are an error, as
// stout's flags loader makes them for mesos-default-executor.
func parseFlags(args []string) (options, error) {
	o := options{level: slog.LevelInfo}
	for _, arg := range args {
		name, ok := strings.CutPrefix(arg, "--")
		if !ok {
			return o, fmt.Errorf("Failed to load non-flag argument %q", arg)
		}
		name, value, hasValue := strings.Cut(name, "=")
		switch name {
		case "help":
			o.help = true
			if hasValue {
				b, err := strconv.ParseBool(value)
				if err != nil {
					return o, fmt.Errorf("Failed to load flag 'help': invalid boolean %q", value)
				}
				o.help = b
			}
		case "no-help":
			o.help = false
		case "launcher_dir":
			if !hasValue {
				return o, fmt.Errorf("Failed to load flag 'launcher_dir': missing value")
			}
			o.launcherDir = value
		case "logging_level":
			switch strings.ToUpper(value) {
			case "INFO":
				o.level = slog.LevelInfo
			case "WARNING":
				o.level = slog.LevelWarn
			case "ERROR":
				o.level = slog.LevelError
			default:
				return o, fmt.Errorf("'%s' is not a valid logging level. Possible values for 'logging_level' flag are: 'INFO', 'WARNING', 'ERROR'", value)
			}
		default:
			return o, fmt.Errorf("Failed to load unknown flag '%s'", name)
		}
	}
	if o.help {
		return o, errHelp
	}
	return o, nil
}
