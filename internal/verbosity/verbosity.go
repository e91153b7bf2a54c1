// Package verbosity maps glog's verbosity (FLAGS_v), the "logging level"
// that Mesos's GET_LOGGING_LEVEL and SET_LOGGING_LEVEL operator calls read
// and set on the master and the agent, onto slog levels.
//
// Verbosity 0 logs at the level the process was started with
// (--logging_level); each step above it adds one level of detail: 1 is
// DEBUG (or the start level, if that is already lower), and every further
// step is one slog level below that.
package verbosity

import "log/slog"

// maxSteps bounds how far below DEBUG a verbosity reaches; glog's
// verbosity is an int32 and nothing logs that deep.
const maxSteps = 16

// Level is the slog level for verbosity v when the process started at base.
func Level(base slog.Level, v uint32) slog.Level {
	if v == 0 {
		return base
	}
	return min(base, slog.LevelDebug) - slog.Level(min(v-1, maxSteps))
}
