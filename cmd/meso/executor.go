package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/meso-project/meso/internal/agent/fetcher"
	"github.com/meso-project/meso/internal/containerizer/launch"
	"github.com/meso-project/meso/internal/executors/command"
	"github.com/meso-project/meso/internal/executors/defaultexec"
)

// executorCommand is the built-in command executor (Mesos's mesos-executor).
// Agents start it with the MESOS_* environment of the executor API; its flags
// are parsed by the executor itself.
func executorCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "executor",
		Short:              "The built-in command executor (started by agents)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := command.Main(context.Background(), args, os.LookupEnv, os.Stdout, os.Stderr); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
}

// launchCommand is the launch helper (package launch): the containerizer
// starts it in place of a container's first process, isolates its pid, then
// releases it to exec the real command.
func launchCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "launch -- COMMAND [ARGS...]",
		Short:              "Internal: holds a container's first process until it is isolated",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			// The fetch step runs the agent's fetcher inside the container.
			return exitError{launch.Run(args, os.Stderr, fetcher.RunJSON)}
		},
	}
}

// defaultExecutorSubcommand is the built-in default executor (Mesos's
// mesos-default-executor): agents start it for task groups whose
// ExecutorInfo is of type DEFAULT. Its flags are parsed by the executor.
func defaultExecutorSubcommand() *cobra.Command {
	return &cobra.Command{
		Use:                "default-executor",
		Short:              "The built-in default executor for task groups (started by agents)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := defaultexec.Main(context.Background(), args, os.LookupEnv, os.Stdout, os.Stderr); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
}
