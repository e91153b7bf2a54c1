// Command tasks measures how fast meso runs tasks end to end, on one machine
// with real processes: a local cluster (internal/local) with one agent, the
// real command executor (the meso binary), and real frameworks.
//
//   - latency: the wall time from starting `meso execute --command=true` to
//     its exit after TASK_FINISHED (median, min and max of -runs);
//   - throughput: a framework (pkg/scheduler) launches -tasks `true` tasks
//     in one ACCEPT; tasks per second from the ACCEPT to the last
//     TASK_FINISHED. It is measured for each containerizer configuration of
//     -configs in the same run, alternating for -rounds rounds on a fresh
//     cluster each time: "posix" (--launcher=posix, posix/cpu,posix/mem)
//     and "cgroups" (--launcher=linux, cgroups/cpu,cgroups/mem; needs root),
//     so that the cost of isolation is a same-run ratio; "+checkpoint"
//     after either (e.g. posix+checkpoint) runs a framework with
//     FrameworkInfo.checkpoint, for the cost of the agent's checkpoints.
//
// Usage (from the repository root; `make bench` does both steps):
//
//	go build -o bin/meso ./cmd/meso
//	go run ./bench/tasks -meso=bin/meso -runs=10 -tasks=200 -rounds=3 -configs=posix,cgroups
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/agent"
	"github.com/meso-project/meso/internal/builtin"
	"github.com/meso-project/meso/internal/local"
	"github.com/meso-project/meso/internal/master"
	"github.com/meso-project/meso/pkg/resources"
	"github.com/meso-project/meso/pkg/scheduler"
)

// configs are the containerizer configurations the throughput is measured
// with.
var configs = map[string]builtin.Containerizer{
	"posix":   {Launcher: "posix", Isolation: "posix/cpu,posix/mem"},
	"cgroups": {Launcher: "linux", Isolation: "cgroups/cpu,cgroups/mem", CgroupsRoot: "meso-bench"},
}

func main() {
	bin := flag.String("meso", "bin/meso", "path to the meso binary (run by the agent as the executor)")
	runs := flag.Int("runs", 10, "meso execute runs for the latency measurement (posix configuration)")
	tasks := flag.Int("tasks", 200, "tasks launched at once for the throughput measurement")
	rounds := flag.Int("rounds", 3, "throughput rounds per configuration")
	names := flag.String("configs", "posix,cgroups", "containerizer configurations to measure: posix, cgroups")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the master and agent (this process) to the file")
	starts := flag.Int("starts", 200, "processes started to measure the CPU cost of starting the meso binary and /bin/sh (the floor of a task's cost)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		log.Fatalf("%v (build it first: go build -o bin/meso ./cmd/meso)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	fmt.Printf("machine: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())

	if *starts > 0 {
		for _, argv := range [][]string{{abs, "version"}, {"/bin/sh", "-c", "true"}} {
			_, c0 := cpuTimes()
			for range *starts {
				if err := exec.CommandContext(ctx, argv[0], argv[1:]...).Run(); err != nil {
					log.Fatalf("%v: %v", argv, err)
				}
			}
			_, c1 := cpuTimes()
			fmt.Printf("process start: %s: %.2f ms of CPU each (%d runs)\n", strings.Join(argv, " "),
				float64((c1-c0).Microseconds())/1e3/float64(*starts), *starts)
		}
	}

	if *runs > 0 {
		c, stop := start(ctx, abs, *tasks, configs["posix"])
		var lat []time.Duration
		for i := range *runs {
			begin := time.Now()
			out, err := exec.CommandContext(ctx, abs, "execute", "--master="+c.MasterAddr,
				fmt.Sprintf("--name=lat-%d", i), "--command=true").CombinedOutput()
			d := time.Since(begin)
			if err != nil || !strings.Contains(string(out), "TASK_FINISHED") {
				log.Fatalf("meso execute run %d: %v\n%s", i, err, out)
			}
			lat = append(lat, d)
		}
		stop()
		slices.Sort(lat)
		fmt.Printf("latency: meso execute --command=true to TASK_FINISHED: median %v, min %v, max %v (%d runs)\n",
			lat[len(lat)/2].Round(time.Millisecond), lat[0].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), *runs)
	}

	order := strings.Split(*names, ",")
	results := map[string][]float64{}
	for round := range *rounds {
		for _, name := range order {
			base, checkpoint := strings.CutSuffix(name, "+checkpoint")
			cfg, ok := configs[base]
			if !ok {
				log.Fatalf("unknown configuration %q (known: posix, cgroups, either with +checkpoint)", name)
			}
			c, stop := start(ctx, abs, *tasks, cfg)
			self0, children0 := cpuTimes()
			elapsed, err := throughput(ctx, c.MasterAddr, *tasks, checkpoint)
			self1, children1 := cpuTimes()
			stop()
			if err != nil {
				log.Fatalf("%s: %v", name, err)
			}
			rate := float64(*tasks) / elapsed.Seconds()
			results[name] = append(results[name], rate)
			fmt.Printf("throughput round %d, %s (%s): %d `true` tasks in %v: %.1f tasks/s\n",
				round+1, name, cfg.Isolation, *tasks, elapsed.Round(time.Millisecond), rate)
			fmt.Printf("  CPU per task: master+agent %.2f ms, executors and tasks %.2f ms (children that exited)\n",
				float64((self1-self0).Microseconds())/1e3/float64(*tasks),
				float64((children1-children0).Microseconds())/1e3/float64(*tasks))
		}
	}
	for _, name := range order {
		r := slices.Sorted(slices.Values(results[name]))
		if len(r) == 0 {
			continue
		}
		fmt.Printf("throughput %s: median %.1f tasks/s (min %.1f, max %.1f, %d rounds)\n",
			name, r[len(r)/2], r[0], r[len(r)-1], len(r))
	}
	if p, c := results["posix"], results["cgroups"]; len(p) > 0 && len(c) > 0 {
		ps, cs := slices.Sorted(slices.Values(p)), slices.Sorted(slices.Values(c))
		fmt.Printf("cgroups/posix throughput ratio (medians): %.2f\n", cs[len(cs)/2]/ps[len(ps)/2])
	}
	if p, c := results["posix"], results["posix+checkpoint"]; len(p) > 0 && len(c) > 0 {
		ps, cs := slices.Sorted(slices.Values(p)), slices.Sorted(slices.Values(c))
		fmt.Printf("posix+checkpoint/posix throughput ratio (medians): %.2f\n", cs[len(cs)/2]/ps[len(ps)/2])
	}
}

// cpuTimes returns the user+system CPU time of this process (the master
// and the agent) and of its children that have exited (executors, the
// launch helper, tasks).
func cpuTimes() (self, children time.Duration) {
	var ru syscall.Rusage
	tv := func() time.Duration {
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		self = tv()
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err == nil {
		children = tv()
	}
	return self, children
}

// start starts a local cluster with one agent and the given containerizer,
// waits until the agent registered, and returns a function that stops it.
func start(ctx context.Context, bin string, tasks int, cz builtin.Containerizer) (*local.Cluster, func()) {
	work, err := os.MkdirTemp("", "meso-bench-")
	if err != nil {
		log.Fatal(err)
	}
	cz.Helper = []string{bin, "launch"}
	c, err := local.Start(ctx, local.Config{
		WorkDir:   work,
		NumAgents: 1,
		Master:    master.Config{}, // Mesos defaults: 1s allocation interval
		Agent: agent.Config{
			// Room for every task at once (executor overhead is not
			// charged by the master, as in Mesos).
			Resources:       fmt.Sprintf("cpus:%d;mem:%d", tasks, tasks*64),
			ExecutorCommand: []string{bin, "executor"},
		},
		Containerizer: cz,
	})
	if err != nil {
		log.Fatal(err)
	}
	waitForAgent(ctx, c.MasterAddr)
	return c, func() {
		if err := c.Stop(); err != nil {
			log.Printf("stopping the cluster: %v", err)
		}
		os.RemoveAll(work)
	}
}

// waitForAgent waits until the master has offered something, i.e. the agent
// registered, by running a throwaway framework that suppresses right away.
func waitForAgent(ctx context.Context, masterAddr string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cli, err := scheduler.New(scheduler.Config{Master: masterAddr, Framework: &mesospb.FrameworkInfo{
		User: proto.String(user()), Name: proto.String("bench-wait")}})
	if err != nil {
		log.Fatal(err)
	}
	err = cli.Run(ctx, func(ctx context.Context, ev *schedulerpb.Event) error {
		if ev.GetType() == schedulerpb.Event_OFFERS {
			_ = cli.Call(ctx, scheduler.Teardown())
			return errDone
		}
		return nil
	})
	if err != errDone {
		log.Fatalf("agent did not register: %v", err)
	}
}

var errDone = fmt.Errorf("done")

// throughput launches n tasks in one ACCEPT and returns the time from the
// ACCEPT to the last TASK_FINISHED.
func throughput(ctx context.Context, masterAddr string, n int, checkpoint bool) (time.Duration, error) {
	cli, err := scheduler.New(scheduler.Config{Master: masterAddr, Framework: &mesospb.FrameworkInfo{
		User: proto.String(user()), Name: proto.String("bench-throughput"), Checkpoint: proto.Bool(checkpoint)}})
	if err != nil {
		return 0, err
	}
	var (
		start    time.Time
		launched bool
		finished = map[string]bool{}
	)
	res, err := resources.Parse("cpus:0.1;mem:32", "*")
	if err != nil {
		return 0, err
	}
	err = cli.Run(ctx, func(ctx context.Context, ev *schedulerpb.Event) error {
		switch ev.GetType() {
		case schedulerpb.Event_OFFERS:
			for _, o := range ev.GetOffers().GetOffers() {
				if launched {
					_ = cli.Call(ctx, scheduler.Decline([]*mesospb.OfferID{o.GetId()}, scheduler.RefuseFor(3600)))
					continue
				}
				var infos []*mesospb.TaskInfo
				for i := range n {
					id := fmt.Sprintf("t%d", i)
					infos = append(infos, &mesospb.TaskInfo{
						Name:      proto.String(id),
						TaskId:    &mesospb.TaskID{Value: proto.String(id)},
						AgentId:   o.GetAgentId(),
						Resources: withRole(res, o),
						Command:   &mesospb.CommandInfo{Value: proto.String("true")},
					})
				}
				launched = true
				start = time.Now()
				if err := cli.Call(ctx, scheduler.LaunchTasks(o, infos...)); err != nil {
					return err
				}
			}
		case schedulerpb.Event_UPDATE:
			st := ev.GetUpdate().GetStatus()
			if len(st.GetUuid()) > 0 {
				if err := cli.Call(ctx, scheduler.Acknowledge(st)); err != nil {
					return err
				}
			}
			switch st.GetState() {
			case mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING:
			case mesospb.TaskState_TASK_FINISHED:
				// The handler runs on Run's goroutine only: no locking needed.
				finished[st.GetTaskId().GetValue()] = true
				if len(finished) == n {
					return errDone
				}
			default:
				return fmt.Errorf("task %s: %v: %s", st.GetTaskId().GetValue(), st.GetState(), st.GetMessage())
			}
		}
		return nil
	})
	if err != errDone {
		return 0, fmt.Errorf("throughput run: %v (finished %d of %d)", err, len(finished), n)
	}
	elapsed := time.Since(start)
	_ = cli.Call(ctx, scheduler.Teardown())
	return elapsed, nil
}

// withRole gives task resources the offer's allocation info, as frameworks
// must (the offer's resources carry it).
func withRole(res resources.Resources, o *mesospb.Offer) []*mesospb.Resource {
	if len(o.GetResources()) > 0 && o.GetResources()[0].GetAllocationInfo() != nil {
		return res.Allocate(o.GetResources()[0].GetAllocationInfo().GetRole())
	}
	return res
}

// user is the user tasks run as: the process's own user, so that the
// executor (which switches to the framework's user when running as root)
// never has to become someone else.
func user() string {
	if u, err := osuser.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "root"
}
