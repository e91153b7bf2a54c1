package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meso-project/meso/internal/cli"
	"github.com/meso-project/meso/pkg/operator"
)

// opFlags are the flags every operator verb takes.
type opFlags struct {
	master, principal, secret string
	json                      bool
}

// opCommand makes an operator verb: cobra flags (--master, --principal,
// --secret, --json, and those define adds), a client for the cluster, and
// run on it.
func opCommand(use, short, example string, args cobra.PositionalArgs, define func(c *cobra.Command) func(ctx context.Context, o *cli.Ops, args []string) error) *cobra.Command {
	var f opFlags
	c := &cobra.Command{Use: use, Short: short, Example: example, Args: args}
	master := os.Getenv("MESOS_MASTER")
	if master == "" {
		master = "127.0.0.1:5050"
	}
	c.Flags().StringVar(&f.master, "master", master, "the master: host:port, http(s)://host:port or zk://host:port[,host:port]/path (env MESOS_MASTER)")
	c.Flags().StringVar(&f.principal, "principal", os.Getenv("MESOS_PRINCIPAL"), "principal for HTTP authentication (env MESOS_PRINCIPAL)")
	c.Flags().StringVar(&f.secret, "secret", os.Getenv("MESOS_SECRET"), "secret for HTTP authentication (env MESOS_SECRET)")
	c.Flags().BoolVar(&f.json, "json", false, "print JSON for scripts instead of tables")
	// Not the agent's Mesos-style help, which `meso agent list` would inherit.
	c.SetHelpFunc(func(c *cobra.Command, args []string) { c.Root().HelpFunc()(c, args) })
	run := define(c)
	newClient := func() (*operator.Client, error) {
		tc, err := tlsFromEnv(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			return nil, err
		}
		client, err := operator.New(operator.Config{Master: f.master, Principal: f.principal, Secret: f.secret, TLS: tc})
		if err != nil {
			return nil, fmt.Errorf("%w\nPass --master=host:port, http(s)://host:port or zk://host:port/path", err)
		}
		return client, nil
	}
	c.RunE = func(c *cobra.Command, args []string) error {
		client, err := newClient()
		if err != nil {
			return err
		}
		defer client.Close()
		ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return run(ctx, &cli.Ops{Client: client, Out: c.OutOrStdout(), Err: c.ErrOrStderr(), JSON: f.json}, args)
	}
	if kind := completes[use]; kind != "" {
		// Shell completion of the argument asks the cluster (--master and
		// the credentials given so far on the command line).
		c.ValidArgsFunction = func(c *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			client, err := newClient()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(c.Context(), 5*time.Second)
			defer cancel()
			return (&cli.Ops{Client: client}).Completions(ctx, kind), cobra.ShellCompDirectiveNoFileComp
		}
	}
	return c
}

// completes names what shell completion offers for a verb's argument.
var completes = map[string]string{
	"logs TASK":                     "task",
	"exec TASK -- COMMAND [ARG...]": "task",
	"task ID":                       "task",
	"framework ID|NAME":             "framework",
	"deactivate AGENT_ID":           "agent",
	"reactivate AGENT_ID":           "agent",
	"drain AGENT_ID":                "agent",
}

// simple is a verb without flags of its own.
func simple(fn func(o *cli.Ops, ctx context.Context) error) func(*cobra.Command) func(context.Context, *cli.Ops, []string) error {
	return func(*cobra.Command) func(context.Context, *cli.Ops, []string) error {
		return func(ctx context.Context, o *cli.Ops, _ []string) error { return fn(o, ctx) }
	}
}

func clusterCommand() *cobra.Command {
	return opCommand("cluster", "Summarize the cluster: leader, agents, frameworks, tasks, resources",
		"  meso cluster --master=127.0.0.1:5050", cobra.NoArgs, simple((*cli.Ops).Cluster))
}

// agentSubcommands are `meso agent list|deactivate|reactivate|drain`,
// beside `meso agent --master=... --work_dir=...` which runs an agent.
func agentSubcommands() []*cobra.Command {
	list := opCommand("list", "List the agents", "  meso agent list", cobra.NoArgs, simple((*cli.Ops).AgentList))
	var out []*cobra.Command
	out = append(out, list)
	for _, a := range []struct{ verb, short string }{
		{"deactivate", "Stop offering an agent's resources (its tasks keep running)"},
		{"reactivate", "Offer a deactivated agent's resources again"},
		{"drain", "Drain an agent: kill its tasks and stop offering it (if the master implements DRAIN_AGENT)"},
	} {
		verb := a.verb
		out = append(out, opCommand(verb+" AGENT_ID", a.short, "  meso agent "+verb+" 2c1f...-S0", cobra.ExactArgs(1),
			func(*cobra.Command) func(context.Context, *cli.Ops, []string) error {
				return func(ctx context.Context, o *cli.Ops, args []string) error { return o.AgentAction(ctx, verb, args[0]) }
			}))
	}
	return out
}

func frameworkCommand() *cobra.Command {
	c := &cobra.Command{Use: "framework", Short: "Inspect frameworks (list)"}
	c.AddCommand(opCommand("list", "List the frameworks", "  meso framework list --all", cobra.NoArgs,
		func(c *cobra.Command) func(context.Context, *cli.Ops, []string) error {
			all := c.Flags().Bool("all", false, "include completed frameworks")
			return func(ctx context.Context, o *cli.Ops, _ []string) error { return o.FrameworkList(ctx, *all) }
		}))
	return c
}

func taskCommand() *cobra.Command {
	c := &cobra.Command{Use: "task", Short: "Inspect tasks (list, logs, exec)"}
	c.AddCommand(
		opCommand("list", "List the tasks (running ones; --all adds completed ones)", "  meso task list --all", cobra.NoArgs,
			func(c *cobra.Command) func(context.Context, *cli.Ops, []string) error {
				all := c.Flags().Bool("all", false, "include completed tasks")
				return func(ctx context.Context, o *cli.Ops, _ []string) error { return o.TaskList(ctx, *all) }
			}),
		opCommand("logs TASK", "Print a task's stdout (or --stderr) from its sandbox", "  meso task logs hello --follow",
			cobra.ExactArgs(1), func(c *cobra.Command) func(context.Context, *cli.Ops, []string) error {
				follow := c.Flags().BoolP("follow", "f", false, "keep printing what the task writes until it ends")
				stderr := c.Flags().Bool("stderr", false, "print stderr instead of stdout")
				return func(ctx context.Context, o *cli.Ops, args []string) error {
					return o.TaskLogs(ctx, args[0], *stderr, *follow, time.Second)
				}
			}),
		opCommand("exec TASK -- COMMAND [ARG...]", "Run a command inside a running task's container (stdin and stdout attached)",
			"  meso task exec web -- ls -l\n  meso task exec web -- 'echo $HOME'",
			cobra.MinimumNArgs(2), func(c *cobra.Command) func(context.Context, *cli.Ops, []string) error {
				noStdin := c.Flags().Bool("no-stdin", false, "do not attach stdin")
				return func(ctx context.Context, o *cli.Ops, args []string) error {
					if c.ArgsLenAtDash() != 1 {
						return fmt.Errorf("write the command after --, e.g. meso task exec %s -- ls", args[0])
					}
					var in io.Reader = os.Stdin
					if *noStdin {
						in = nil
					}
					code, err := o.TaskExec(ctx, args[0], args[1:], in)
					if err != nil {
						return err
					}
					if code != 0 {
						return exitError{code}
					}
					return nil
				}
			}),
	)
	return c
}

func rolesCommand() *cobra.Command {
	return opCommand("roles", "List the roles with their weights, frameworks and allocations", "  meso roles",
		cobra.NoArgs, simple((*cli.Ops).Roles))
}

func quotaCommand() *cobra.Command {
	c := &cobra.Command{Use: "quota", Short: "Get or set roles' quota"}
	c.AddCommand(
		opCommand("get", "Print the roles' quota", "  meso quota get", cobra.NoArgs, simple((*cli.Ops).QuotaGet)),
		opCommand("set ROLE", "Set a role's quota guarantees and limits", "  meso quota set dev --guarantees='cpus:1;mem:512' --limits='cpus:4;mem:4096'",
			cobra.ExactArgs(1), func(c *cobra.Command) func(context.Context, *cli.Ops, []string) error {
				g := c.Flags().String("guarantees", "", "guaranteed quantities, e.g. 'cpus:1;mem:512' (empty: none)")
				l := c.Flags().String("limits", "", "limits, e.g. 'cpus:4;mem:4096' (empty: none)")
				force := c.Flags().Bool("force", false, "skip the master's check that the guarantees fit the cluster")
				return func(ctx context.Context, o *cli.Ops, args []string) error {
					return o.QuotaSet(ctx, args[0], *g, *l, *force)
				}
			}),
	)
	return c
}

func weightsCommand() *cobra.Command {
	c := &cobra.Command{Use: "weights", Short: "Get or set roles' weights"}
	c.AddCommand(
		opCommand("get", "Print the roles' weights", "  meso weights get", cobra.NoArgs, simple((*cli.Ops).WeightsGet)),
		opCommand("set ROLE=WEIGHT...", "Set roles' weights", "  meso weights set dev=2 prod=3", cobra.MinimumNArgs(1),
			func(*cobra.Command) func(context.Context, *cli.Ops, []string) error {
				return func(ctx context.Context, o *cli.Ops, args []string) error { return o.WeightsSet(ctx, args) }
			}),
	)
	return c
}

func whyCommand() *cobra.Command {
	c := &cobra.Command{Use: "why", Short: "Explain why a framework gets no offers, or why a task is not running (meso's explainer)"}
	c.AddCommand(
		opCommand("framework ID|NAME", "Why does a framework get no offers (or fewer than it wants)?", "  meso why framework my-framework",
			cobra.ExactArgs(1), func(*cobra.Command) func(context.Context, *cli.Ops, []string) error {
				return func(ctx context.Context, o *cli.Ops, args []string) error { return o.WhyFramework(ctx, args[0]) }
			}),
		opCommand("task ID", "Where is a task in its life, and why is it not running?", "  meso why task hello",
			cobra.ExactArgs(1), func(c *cobra.Command) func(context.Context, *cli.Ops, []string) error {
				fw := c.Flags().String("framework", "", "the task's framework (ID or name), when several have a task of that ID")
				return func(ctx context.Context, o *cli.Ops, args []string) error { return o.WhyTask(ctx, args[0], *fw) }
			}),
	)
	return c
}
