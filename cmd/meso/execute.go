package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
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
	return flagCommand("execute", "Run one task or task group on a cluster (like mesos-execute)",
		`Registers a one-shot framework, launches one task on the first offer that fits, prints
every status update, and exits 0 when the task finishes (TASK_FINISHED), non-zero otherwise.

The task is either built from --name, --command, --env and --resources, or given whole
with --task (a TaskInfo); --task_group launches several tasks together (a TaskGroupInfo,
LAUNCH_GROUP) under a DEFAULT executor (id "default-executor", cpus:0.1;mem:32;disk:32).
--task and --task_group take JSON (Mesos's protobuf JSON, as mesos-execute reads it) or the
path of a file holding it: /path/to/file or file:///path/to/file. The agent_id field is
required by the format but filled in from the offer (give {"value": ""}); the task's
resources are taken from the offer, reserved ones of --role first. With --task_group,
meso execute exits once every task of the group is terminal: 0 if all finished.
--task and --task_group exclude each other and --name, --command and --env.

Examples:
  meso execute --master=127.0.0.1:5050 --name=hello --command='echo hello'
  meso execute --master=127.0.0.1:5050 --task='{"name": "web", "task_id": {"value": "web"},
    "agent_id": {"value": ""}, "command": {"value": "python3 -m http.server 8080"},
    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                  {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}],
    "health_check": {"type": "HTTP", "http": {"port": 8080}}}'
  meso execute --master=127.0.0.1:5050 --task_group=file:///tmp/group.json`,
		false, func(fs *flag.FlagSet) runFunc {
			fs.StringVar(&cfg.Master, "master", cfg.Master, "the master: host:port, or zk://host:port[,host:port]/path to follow the leader of several masters")
			fs.StringVar(&cfg.Task, "task", "", "the task to launch: a JSON TaskInfo, or /path or file:///path of a file holding one (instead of --name/--command)")
			fs.StringVar(&cfg.TaskGroup, "task_group", "", "tasks to launch together with the DEFAULT executor: a JSON TaskGroupInfo ({\"tasks\": [TaskInfo, ...]}), or /path or file:///path of a file holding one")
			fs.StringVar(&cfg.Name, "name", "", "name and ID of the task (required without --task or --task_group)")
			fs.StringVar(&cfg.Command, "command", "", "the command to run (required without --task or --task_group)")
			shell := fs.Bool("shell", true, "run the command through /bin/sh -c (otherwise exec it directly)")
			fs.StringVar(&cfg.Env, "env", "", `environment of the task as a JSON object, e.g. '{"GREETING":"hi"}'`)
			fs.StringVar(&cfg.Resources, "resources", cfg.Resources, "resources the --command task needs")
			fs.StringVar(&cfg.FrameworkName, "framework_name", cfg.FrameworkName, "name of the framework")
			fs.StringVar(&cfg.Role, "role", cfg.Role, "role to take resources from")
			fs.BoolVar(&cfg.Checkpoint, "checkpoint", false, "ask the agent to checkpoint the task so it survives agent restarts")
			fs.BoolVar(&cfg.PartitionAware, "partition_aware", cfg.PartitionAware, "subscribe with the PARTITION_AWARE capability (TASK_UNREACHABLE, TASK_DROPPED, TASK_GONE rather than TASK_LOST)")
			fs.Var(&killAfter, "kill_after", "kill each task this long after it runs, e.g. 10secs")
			fs.StringVar(&contentType, "content_type", "protobuf", "how to talk to the master: protobuf or json")
			fs.StringVar(&cfg.Principal, "principal", "", "the principal to use for framework authentication (also FrameworkInfo.principal)")
			fs.Func("secret", "the secret to use for framework authentication (with --principal)", func(v string) error {
				cfg.Secret, cfg.HasSecret = v, true
				return nil
			})
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
				if cfg.Task == "" && cfg.TaskGroup == "" && (cfg.Name == "" || cfg.Command == "") {
					return fmt.Errorf("--name and --command are required (or --task or --task_group), e.g. meso execute --name=hello --command='echo hello'")
				}
				tc, err := tlsFromEnv(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
				if err != nil {
					return err
				}
				cfg.TLS = tc
				if code := cli.Execute(ctx, cfg, cmdStdout()); code != 0 {
					return exitError{code}
				}
				return nil
			}
		})
}
