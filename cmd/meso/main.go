// Command meso is Apache Mesos rebuilt in Go, as one binary: the master, the
// agent, a one-command local cluster, a mesos-execute style task runner and
// the built-in command executor.
//
// This package is the composition root: it turns Mesos-style flags
// (--name=value, --no-name, MESOS_<NAME> environment variables, file://
// values) into the Config structs of the components and picks concrete
// implementations (the allocator) from explicit tables. It holds no logic of
// its own.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// exitError carries a process exit code out of a cobra command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(args []string) int {
	root := &cobra.Command{
		Use:   "meso",
		Short: "Apache Mesos, rebuilt in Go as one binary",
		Long: `meso is a two-level cluster resource manager that speaks Mesos's wire protocols:
frameworks, executors and tools written for Apache Mesos work against it unchanged.

Start a local cluster with 'meso local', then run a task on it with
'meso execute --master=127.0.0.1:5050 --name=hello --command="echo hello"'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	agent := agentCommand()
	agent.AddCommand(agentSubcommands()...)
	root.AddCommand(
		masterCommand(),
		agent,
		localCommand(),
		executeCommand(),
		executorCommand(),
		defaultExecutorSubcommand(),
		launchCommand(),
		simulateCommand(),
		versionCommand(),
		// The operator CLI (ops.go).
		clusterCommand(),
		frameworkCommand(),
		taskCommand(),
		rolesCommand(),
		quotaCommand(),
		weightsCommand(),
		whyCommand(),
	)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		if e, ok := err.(exitError); ok {
			return e.code
		}
		fmt.Fprintf(os.Stderr, "meso: %v\n", err)
		return 1
	}
	return 0
}
