package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// logFlags are Mesos's --log_dir and --external_log_file
// (src/logging/flags.cpp), shared by master, agent and local.
type logFlags struct {
	logDir, externalLogFile string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.logDir, "log_dir", "",
		"directory for a log file, written besides stderr and shown in the file browser\n"+
			"(/files/read?path=/master/log, /slave/log): <log_dir>/mesos-master.<LEVEL> (mesos-slave.<LEVEL>,\n"+
			"mesos-local.<LEVEL>), <LEVEL> being --logging_level (INFO for DEBUG). Unlike glog, meso appends to\n"+
			"that one plain file, in slog's text format: no per-run file behind a symlink, no rotation")
	fs.StringVar(&l.externalLogFile, "external_log_file", "",
		"a log file written by something else (syslog, journald, ...): meso does not write it, only\n"+
			"shows it in the file browser, in place of --log_dir's file (which is still written)")
}

// logger builds the process logger at level (see newLevelLogger), writing
// to stderr and, with --log_dir, also to <log_dir>/<base>.<LEVEL>, as glog
// does with --log_dir (logging::initialize). It returns the file the file
// browser shows (Mesos's master.cpp and slave.cpp: --external_log_file,
// else --log_dir's file; "" for none) and a func closing what it opened.
func (l *logFlags) logger(level, base string) (*slog.Logger, *slog.LevelVar, string, func(), error) {
	var w io.Writer = os.Stderr
	closeFn := func() {}
	attach := l.externalLogFile
	if l.logDir != "" {
		if err := os.MkdirAll(l.logDir, 0o755); err != nil {
			return nil, nil, "", nil, fmt.Errorf("Could not initialize logging: Failed to create directory %s: %w", l.logDir, err)
		}
		path := filepath.Join(l.logDir, base+"."+glogSeverity(level))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, "", nil, fmt.Errorf("Could not initialize logging: %w", err)
		}
		w = io.MultiWriter(os.Stderr, f)
		closeFn = func() { _ = f.Close() }
		if attach == "" {
			attach = path
		}
	}
	logger, lv, err := newLevelLoggerTo(level, w)
	if err != nil {
		closeFn()
		return nil, nil, "", nil, err
	}
	return logger, lv, attach, closeFn, nil
}

// glogSeverity names the log file of --logging_level as glog's
// getLogFile(getLogSeverity(level)) does: INFO, WARNING or ERROR; meso's
// DEBUG (glog's verbose logging) goes to the INFO file, as VLOG does.
func glogSeverity(level string) string {
	switch strings.ToUpper(level) {
	case "WARNING", "WARN":
		return "WARNING"
	case "ERROR":
		return "ERROR"
	}
	return "INFO"
}
