package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meso-project/meso/internal/cli"
	"github.com/meso-project/meso/internal/flags"
	"github.com/meso-project/meso/pkg/codec"
)

func executeCommand() *cobra.Command {
	var (
		cfg         = cli.NewExecuteConfig()
		killAfter   flags.Duration
		contentType string
	)
	return flagCommand("execute", "Run one task on a cluster (like mesos-execute)",
		`Registers a one-shot framework, launches one command task on the first offer that
fits, prints every status update, and exits 0 when the task finishes (TASK_FINISHED),
non-zero otherwise.

Example: meso execute --master=127.0.0.1:5050 --name=hello --command='echo hello'`,
		false, func(fs *flag.FlagSet) runFunc {
			fs.StringVar(&cfg.Master, "master", cfg.Master, "the master: host:port, or zk://host:port[,host:port]/path to follow the leader of several masters")
			fs.StringVar(&cfg.Name, "name", "", "name and ID of the task (required)")
			fs.StringVar(&cfg.Command, "command", "", "the command to run (required)")
			shell := fs.Bool("shell", true, "run the command through /bin/sh -c (otherwise exec it directly)")
			fs.StringVar(&cfg.Env, "env", "", `environment of the task as a JSON object, e.g. '{"GREETING":"hi"}'`)
			fs.StringVar(&cfg.Resources, "resources", cfg.Resources, "resources the task needs")
			fs.StringVar(&cfg.FrameworkName, "framework_name", cfg.FrameworkName, "name of the framework")
			fs.StringVar(&cfg.Role, "role", cfg.Role, "role to take resources from")
			fs.BoolVar(&cfg.Checkpoint, "checkpoint", false, "ask the agent to checkpoint the task so it survives agent restarts")
			fs.Var(&killAfter, "kill_after", "kill the task after this long, e.g. 10secs")
			fs.StringVar(&contentType, "content_type", "protobuf", "how to talk to the master: protobuf or json")
			return func(ctx context.Context, _ []string) error {
				cfg.Shell = *shell
				cfg.KillAfter = time.Duration(killAfter.Duration)
				switch contentType {
				case "protobuf":
					cfg.ContentType = codec.Protobuf
				case "json":
					cfg.ContentType = codec.JSON
				default:
					return fmt.Errorf("unknown --content_type %q (use protobuf or json)", contentType)
				}
				if cfg.Name == "" || cfg.Command == "" {
					return fmt.Errorf("--name and --command are required, e.g. meso execute --name=hello --command='echo hello'")
				}
				if code := cli.Execute(ctx, cfg, cmdStdout()); code != 0 {
					return exitError{code}
				}
				return nil
			}
		})
}
