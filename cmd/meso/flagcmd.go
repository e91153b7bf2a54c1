package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meso-project/meso/internal/flags"
)

// runFunc runs a command once its flags are parsed; args are the positional
// arguments left over.
type runFunc func(ctx context.Context, args []string) error

// flagCommand builds a cobra command whose flags follow Mesos's rules
// (internal/flags) rather than cobra's: Mesos users bring their flag names,
// --no-<name> booleans and MESOS_<NAME> environment variables with them.
// define registers the flags on fs and returns the function to run.
func flagCommand(use, short, long string, hidden bool, define func(fs *flag.FlagSet) runFunc) *cobra.Command {
	fs := flag.NewFlagSet(use, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	run := define(fs)
	cmd := &cobra.Command{
		Use:                use,
		Short:              short,
		Long:               long,
		Hidden:             hidden,
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "--help" || a == "-h" || a == "-help" || a == "--h" {
					printUsage(c.OutOrStdout(), c, fs)
					return nil
				}
			}
			rest, err := flags.Parse(fs, args, "MESOS_", os.LookupEnv)
			if err != nil {
				return fmt.Errorf("%w\nSee 'meso %s --help' for the flags it takes.", err, use)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, rest)
		},
	}
	cmd.SetHelpFunc(func(c *cobra.Command, _ []string) { printUsage(c.OutOrStdout(), c, fs) })
	return cmd
}

func printUsage(w io.Writer, c *cobra.Command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: meso %s [flags]\n\n", c.Use)
	if c.Long != "" {
		fmt.Fprintf(w, "%s\n\n", c.Long)
	} else {
		fmt.Fprintf(w, "%s\n\n", c.Short)
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	fmt.Fprintln(w, "Flags (each can also be set as the environment variable MESOS_<NAME>; booleans take --no-<name>):")
	for _, n := range names {
		f := fs.Lookup(n)
		fmt.Fprintf(w, "  --%s\n", n)
		usage := strings.ReplaceAll(f.Usage, "\n", "\n      ")
		if f.DefValue != "" && f.DefValue != "false" {
			usage += fmt.Sprintf(" (default: %s)", f.DefValue)
		}
		fmt.Fprintf(w, "      %s\n", usage)
	}
}

// newLevelLoggerTo builds the process logger from --logging_level
// (Mesos's names: INFO, WARNING, ERROR; plus DEBUG), writing to w
// (logfile.go: stderr and --log_dir's file), and returns the level
// variable of its handler, which SET_LOGGING_LEVEL changes.
func newLevelLoggerTo(level string, w io.Writer) (*slog.Logger, *slog.LevelVar, error) {
	lv := &slog.LevelVar{}
	switch strings.ToUpper(level) {
	case "DEBUG", "VERBOSE":
		lv.Set(slog.LevelDebug)
	case "", "INFO":
		lv.Set(slog.LevelInfo)
	case "WARNING", "WARN":
		lv.Set(slog.LevelWarn)
	case "ERROR":
		lv.Set(slog.LevelError)
	default:
		return nil, nil, fmt.Errorf("unknown --logging_level %q (use INFO, WARNING, ERROR or DEBUG)", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv})), lv, nil
}

// ignoreCanceled maps a clean shutdown (the context was cancelled by a
// signal) to success.
func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
