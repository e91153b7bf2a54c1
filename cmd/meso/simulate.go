package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meso-project/meso/internal/flags"
	"github.com/meso-project/meso/internal/simulate"
)

const simulateHelp = `Drives a real master with simulated agents and synthetic frameworks, for capacity
planning: "how many agents can one master drive at this churn?"

The master is a real 'meso master' started as a child process of this command (in-memory
registry, temporary work directory; add its flags with --master_flags), or a running one
given with --master=host:port (or zk://...). The --agents simulated agents speak the real
agent protocol but run no processes: a task becomes TASK_RUNNING at once and TASK_FINISHED
after its duration; status updates are retried until acknowledged, as a real agent's are.
The --frameworks synthetic frameworks use the real v1 scheduler API: each accepts
--accept_ratio of its offers (declining the rest with --refuse_seconds), packs tasks of
--task_resources into them (at most --tasks_per_offer), draws each task's duration from
--task_duration, acknowledges every update and suppresses offers once its share of --tasks
is launched. --probe adds a framework that launches one task at a time while the others
keep the cluster busy, and measures its offer -> TASK_RUNNING latency on its own (only for
offers it gets while the other frameworks still have tasks to launch: a saturated cluster;
size --tasks and --task_duration so that they do for a while).

A progress line goes to stderr every second; the summary goes to stdout when every task has
ended (--json for scripts). Reading it:
  tasks/s            tasks launched and finished per second of the run phase (from the
                     frameworks' start to the last task's end; agent registration is setup)
  offer -> RUNNING   per task, from the framework receiving the offer to it receiving
                     TASK_RUNNING: the master's, the simulator's and the network's latency
                     under this load (it grows with the backlog when the churn is above
                     what the master or the machine sustains)
  allocation cycle   the allocator's allocation_run_ms from the master's /metrics/snapshot
  master CPU, RSS    of the child master process, from /proc/<pid> (not measured for a
                     remote --master); CPU as a share of a core tells how close the master's
                     loop is to saturation, the simulator's own CPU is shown apart
  master after       the master's books once the run is over: no active tasks and no
                     resources in use, or something leaked

Thousands of agents need file descriptors (the limit is raised, the hard one too with CAP_SYS_RESOURCE)
and, on loopback, dial from distinct 127.x.y.z source addresses (the master admits at most
1024 connections per client address). Example, the acceptance run of issue 13:
  meso simulate --agents=5000 --frameworks=100 --tasks=100000

A --scenario file is JSON with the same knobs, e.g.
  {"agents": 2000, "frameworks": 20, "tasks": 50000, "roles": ["web", "batch"],
   "accept_ratio": 0.8, "task_resources": "cpus:0.5;mem:256", "task_duration": "exponential:2s"}
Flags given on the command line override it.`

func simulateCommand() *cobra.Command {
	var (
		cfg                                     simulate.Config
		roles, masterFlags, scenario, allocIntv string
		probeDuration                           = flags.Duration{Duration: simulate.DefaultProbeTaskDuration}
		retry                                   = flags.Duration{Duration: simulate.DefaultStatusUpdateRetry}
		timeout                                 = flags.Duration{Duration: simulate.DefaultTimeout}
		asJSON, progress                        bool
	)
	cfg.TaskDuration = simulate.Distribution{Kind: simulate.Uniform, A: 0, B: time.Second}
	return flagCommand("simulate", "Drive a real master with simulated agents and frameworks (capacity planning)",
		simulateHelp, false, func(fs *flag.FlagSet) runFunc {
			fs.StringVar(&cfg.Master, "master", "", "a running master to drive (host:port or zk://...); default: start one as a child process")
			fs.StringVar(&masterFlags, "master_flags", "", "extra flags for the child master, space-separated, e.g. '--offer_timeout=30secs'")
			fs.StringVar(&allocIntv, "allocation_interval", "", "the child master's --allocation_interval (default: the master's, 1secs)")
			fs.IntVar(&cfg.Agents, "agents", 100, "number of simulated agents")
			fs.StringVar(&cfg.AgentResources, "agent_resources", simulate.DefaultAgentResources, "resources of each simulated agent")
			fs.IntVar(&cfg.Frameworks, "frameworks", 10, "number of synthetic frameworks")
			fs.IntVar(&cfg.Tasks, "tasks", 10000, "tasks to launch and finish, shared among the frameworks")
			fs.StringVar(&roles, "roles", "*", "comma-separated roles, handed to the frameworks round-robin")
			fs.Float64Var(&cfg.AcceptRatio, "accept_ratio", 1, "share of offers a framework accepts; it declines the others")
			fs.Float64Var(&cfg.RefuseSeconds, "refuse_seconds", simulate.DefaultRefuseSeconds, "refuse_seconds of the filter on declined offers")
			fs.StringVar(&cfg.TaskResources, "task_resources", simulate.DefaultTaskResources, "one task's resources (scalars)")
			fs.IntVar(&cfg.TasksPerOffer, "tasks_per_offer", 0, "most tasks launched on one offer (0: as many as fit)")
			fs.Var(&cfg.TaskDuration, "task_duration", "how long a task runs: constant:D (or D), uniform:D1,D2 or exponential:MEAN")
			fs.BoolVar(&cfg.Starting, "starting", false, "agents send TASK_STARTING before TASK_RUNNING, as the command executor does")
			fs.BoolVar(&cfg.Probe, "probe", false, "add a framework that launches one task at a time and measures offer -> TASK_RUNNING")
			fs.Var(&probeDuration, "probe_task_duration", "how long each probe task runs")
			fs.Var(&retry, "status_update_retry", "first interval before an agent re-sends an unacknowledged status update (then doubling)")
			fs.Var(&timeout, "timeout", "give up (and print what was measured) after this long")
			fs.IntVar(&cfg.Senders, "senders", simulate.DefaultSenders, "connections the simulated agents share for their calls to the master")
			fs.StringVar(&scenario, "scenario", "", "JSON file with the knobs above (the flags' names); flags given override it")
			fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
			fs.BoolVar(&progress, "progress", true, "print a progress line every second on stderr")
			return func(ctx context.Context, _ []string) error {
				set := map[string]bool{}
				fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
				if scenario != "" {
					sc := cfg
					if err := simulate.LoadScenario(scenario, &sc); err != nil {
						return err
					}
					// Flags given on the command line win over the file.
					override(&sc, cfg, set)
					cfg = sc
				}
				if set["roles"] || scenario == "" {
					cfg.Roles = strings.Split(roles, ",")
				}
				cfg.MasterFlags = append(cfg.MasterFlags, strings.Fields(masterFlags)...)
				if allocIntv != "" {
					cfg.MasterFlags = append(cfg.MasterFlags, "--allocation_interval="+allocIntv)
				}
				cfg.ProbeTaskDuration = probeDuration.Duration
				cfg.StatusUpdateRetry = retry.Duration
				cfg.Timeout = timeout.Duration
				if cfg.Master == "" {
					exe, err := os.Executable()
					if err != nil {
						return fmt.Errorf("cannot find the meso binary to run the master: %w", err)
					}
					cfg.MesoBinary = exe
				}
				if progress {
					cfg.Progress = os.Stderr
				}
				if os.Getenv("GOGC") == "" {
					// The simulator's heap is mostly long-lived (agents,
					// connections, tasks): collecting it less often saves
					// CPU for the master. The child master keeps the
					// default, as it would run in production.
					debug.SetGCPercent(400)
				}
				sum, err := simulate.Run(ctx, cfg)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(os.Stdout)
					enc.SetIndent("", "  ")
					if err := enc.Encode(sum); err != nil {
						return err
					}
				} else if err := sum.WriteText(os.Stdout); err != nil {
					return err
				}
				if !sum.Complete {
					return exitError{code: 2}
				}
				return nil
			}
		})
}

// override copies the fields of the flags given on the command line from
// flagged into sc.
func override(sc *simulate.Config, flagged simulate.Config, set map[string]bool) {
	fields := map[string]func(){
		"master":          func() { sc.Master = flagged.Master },
		"agents":          func() { sc.Agents = flagged.Agents },
		"agent_resources": func() { sc.AgentResources = flagged.AgentResources },
		"frameworks":      func() { sc.Frameworks = flagged.Frameworks },
		"tasks":           func() { sc.Tasks = flagged.Tasks },
		"accept_ratio":    func() { sc.AcceptRatio = flagged.AcceptRatio },
		"refuse_seconds":  func() { sc.RefuseSeconds = flagged.RefuseSeconds },
		"task_resources":  func() { sc.TaskResources = flagged.TaskResources },
		"tasks_per_offer": func() { sc.TasksPerOffer = flagged.TasksPerOffer },
		"task_duration":   func() { sc.TaskDuration = flagged.TaskDuration },
		"starting":        func() { sc.Starting = flagged.Starting },
		"probe":           func() { sc.Probe = flagged.Probe },
		"senders":         func() { sc.Senders = flagged.Senders },
	}
	for name, apply := range fields {
		if set[name] {
			apply()
		}
	}
}
