// Command scale measures the master at scale (issue 13): a real `meso
// master` process and -agents simulated agents, each running -tasks
// tasks, on loopback.
//
//  1. register: the agents REGISTER (at most -concurrency at once) and the
//     master admits them in its registry (--registry=replicated_log, a
//     bbolt file in its --work_dir);
//  2. reregister: the master is killed (SIGKILL) and started again on the
//     same registry; once it is elected and has recovered the registry,
//     every agent REREGISTERs at once (or after a random delay in
//     [0, -jitter]) reporting its frameworks and running tasks, from which
//     the new leader rebuilds them. Measured: from the moment the agents
//     start until the last one has its REREGISTERED, and until the
//     master reports them all in master/slaves_connected;
//  3. memory: the master's VmRSS and VmHWM (/proc/<pid>/status) once the
//     agents are back (after -settle);
//  4. reads: a framework (pkg/scheduler) subscribes, suppresses its offers
//     and sends a call every -call_interval (RECONCILE of an unknown task,
//     SUPPRESS) while /master/state, GET_STATE in JSON and GET_STATE in
//     protobuf are each read -reads times, one after the other. Measured:
//     each read's time to the last byte and size, and the latency of the
//     scheduler calls (p50, p99, max) during the reads, against a quiet
//     baseline of -baseline before them.
//
// The agents are simulated in this process (internal/agent's protocol: a
// REGISTER / REREGISTER protobuf stream on /master/internal/agent, PONGs on
// their own POSTs), from source addresses 127.2.x.y, -per_ip agents each:
// the master admits at most 1,024 connections from one IP. Each agent has
// its own pid slave(1)@127.0.0.1:<port>, resources
// cpus:4;mem:8192;disk:10240;ports:[31000-32000], and -tasks command tasks
// (cpus:0.1;mem:32, TASK_RUNNING with one status from the executor, the
// container's ID and IP) spread over -frameworks frameworks. The process
// raises RLIMIT_NOFILE (the master inherits it): that needs root above the
// hard limit.
//
// Usage (from the repository root):
//
//	make build
//	go run ./bench/scale -agents=40000 -reads=0
//	go run ./bench/scale -agents=20000 -reads=5
//
// MESO_BENCH_KEEP=1 keeps the work directory (the master's logs).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/meso-project/meso/bench/internal/benchutil"
	"github.com/meso-project/meso/internal/procstat"
)

type config struct {
	bin          string
	agents       int
	tasks        int
	frameworks   int
	perIP        int
	concurrency  int
	jitter       time.Duration
	settle       time.Duration
	reads        int
	baseline     time.Duration
	callInterval time.Duration
	masterFlags  string
	masterEnv    string
	cpuProfile   string
	trace        string
	profilePhase string
	profileFor   time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.bin, "meso", "bin/meso", "path to the meso binary (make build)")
	flag.IntVar(&cfg.agents, "agents", 20000, "simulated agents")
	flag.IntVar(&cfg.tasks, "tasks", 10, "running tasks per agent")
	flag.IntVar(&cfg.frameworks, "frameworks", 10, "frameworks the tasks belong to")
	flag.IntVar(&cfg.perIP, "per_ip", 500, "agents per source address (the master admits 1,024 connections per IP)")
	flag.IntVar(&cfg.concurrency, "concurrency", 2000, "REGISTERs in flight at once in the first phase")
	flag.DurationVar(&cfg.jitter, "jitter", 0, "each agent re-registers after a random delay in [0, jitter] (0: all at once)")
	flag.DurationVar(&cfg.settle, "settle", 5*time.Second, "wait after the re-registration before measuring memory")
	flag.IntVar(&cfg.reads, "reads", 5, "times each state read is made (0: no reads)")
	flag.DurationVar(&cfg.baseline, "baseline", 5*time.Second, "scheduler calls measured before the reads")
	flag.DurationVar(&cfg.callInterval, "call_interval", 20*time.Millisecond, "time between the scheduler's calls")
	flag.StringVar(&cfg.masterFlags, "master_flags", "", "more flags for `meso master`, space-separated")
	flag.StringVar(&cfg.masterEnv, "master_env", "", "more environment for `meso master` (NAME=value ...), space-separated")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the master during -profile_phase to this file (runs the master with --enable_pprof)")
	flag.StringVar(&cfg.trace, "trace", "", "write an execution trace of the master during -profile_phase to this file (go tool trace; runs the master with --enable_pprof)")
	flag.StringVar(&cfg.profilePhase, "profile_phase", "reregister", "what -cpuprofile and -trace cover: reregister or reads")
	flag.DurationVar(&cfg.profileFor, "profile_for", 10*time.Second, "how long -cpuprofile and -trace record, from the phase's start")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	if cfg.agents < 1 || cfg.tasks < 0 || cfg.frameworks < 1 || cfg.perIP < 1 || cfg.perIP > 1000 {
		return errors.New("need -agents >= 1, -tasks >= 0, -frameworks >= 1, 1 <= -per_ip <= 1000")
	}
	if cfg.profilePhase != "reregister" && cfg.profilePhase != "reads" {
		return fmt.Errorf("-profile_phase=%q: want reregister or reads", cfg.profilePhase)
	}
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (build it first: make build)", err)
	}
	// Each agent holds a stream, in this process and in the master (which
	// inherits the limit); PONGs reuse a few connections per source
	// address.
	if err := raiseNoFile(uint64(cfg.agents + 1000)); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "meso-bench-scale-")
	if err != nil {
		return err
	}
	if os.Getenv("MESO_BENCH_KEEP") != "" {
		defer fmt.Printf("logs kept in %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	printMachine(cfg)

	extra := strings.Fields(cfg.masterFlags)
	if cfg.cpuProfile != "" || cfg.trace != "" {
		extra = append(extra, "--enable_pprof")
	}
	m, err := newMasterProc(bin, work, extra, strings.Fields(cfg.masterEnv))
	if err != nil {
		return err
	}
	defer m.kill()
	if err := m.start(); err != nil {
		return err
	}
	if err := m.waitElected(ctx); err != nil {
		return err
	}
	fl, err := newFleet(m.addr, cfg.agents, cfg.perIP, cfg.frameworks, cfg.tasks)
	if err != nil {
		return err
	}

	// 1. register.
	regCtx, stopReg := context.WithCancel(ctx)
	took, failed := fl.connectAll(regCtx, cfg.concurrency, 0)
	if failed > 0 {
		stopReg()
		return fmt.Errorf("%d agents failed to register; %s", failed, fl.firstError())
	}
	if err := m.waitMetric(ctx, "master/slaves_connected", float64(cfg.agents), time.Minute); err != nil {
		stopReg()
		return err
	}
	fmt.Printf("register: %d agents registered in %v (%d at once)\n", cfg.agents, ms(took), cfg.concurrency)

	// 2. reregister with a new leader.
	m.kill()
	stopReg()
	fl.wait()
	if err := fl.prepare(); err != nil {
		return err
	}
	restart := time.Now()
	if err := m.start(); err != nil {
		return err
	}
	if err := m.waitElected(ctx); err != nil {
		return err
	}
	elected := time.Since(restart)
	simCtx, stopSim := context.WithCancel(ctx)
	defer func() { stopSim(); fl.wait() }()
	profiled := m.record(ctx, cfg, "reregister")
	t0, masterCPU0, ownCPU0 := time.Now(), m.cpu(), ownCPU()
	took, failed = fl.connectAll(simCtx, 0, cfg.jitter)
	if failed > 0 {
		return fmt.Errorf("%d agents failed to re-register; %s", failed, fl.firstError())
	}
	if err := m.waitMetric(ctx, "master/slaves_connected", float64(cfg.agents), 5*time.Minute); err != nil {
		return err
	}
	connected := time.Since(t0)
	masterCPU, agentsCPU := m.cpu()-masterCPU0, ownCPU()-ownCPU0
	times := fl.registeredSince(t0)
	if len(times) != cfg.agents {
		return fmt.Errorf("%d of %d agents re-registered", len(times), cfg.agents)
	}
	logLast := ""
	if t, ok := m.logTime("agent re-registered"); ok {
		logLast = fmt.Sprintf("; the master logged the last at %v", ms(t.Sub(t0)))
	}
	conns := fl.connectedSince(t0)
	if len(conns) > 0 {
		fmt.Printf("reregister: TCP connections established (listen backlog: net.core.somaxconn) after: median %v, p99 %v, last %v\n",
			ms(conns[len(conns)/2]), ms(quantile(conns, 0.99)), ms(conns[len(conns)-1]))
	}
	fmt.Printf("reregister: new leader elected (registry of %d agents recovered) %v after its start\n", cfg.agents, ms(elected))
	fmt.Printf("reregister: %d agents with %d tasks each (%d tasks, %d frameworks) re-registered at once (jitter %v): "+
		"all REREGISTERED %v after they started (first %v, median %v, p99 %v), master/slaves_connected = %d after %v%s\n",
		cfg.agents, cfg.tasks, cfg.agents*cfg.tasks, cfg.frameworks, cfg.jitter, ms(took),
		ms(times[0]), ms(times[len(times)/2]), ms(quantile(times, 0.99)), cfg.agents, ms(connected), logLast)

	fmt.Printf("reregister: CPU meanwhile: master %v (%v per agent), the simulated agents (this process) %v; %d cores × %v = %v\n",
		ms(masterCPU), (masterCPU / time.Duration(cfg.agents)).Round(time.Microsecond), ms(agentsCPU), runtime.NumCPU(), ms(connected),
		ms(time.Duration(runtime.NumCPU())*connected))

	if err := profiled(); err != nil {
		return err
	}

	// 3. memory.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(cfg.settle):
	}
	rss, hwm, err := m.memory()
	if err != nil {
		return err
	}
	s, err := m.metrics(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("memory: master VmRSS %s, VmHWM %s at %d agents, %v tasks (master/tasks_running); %s per agent all told\n",
		mib(rss), mib(hwm), cfg.agents, s["master/tasks_running"], kib(rss/int64(cfg.agents)))

	// 4. reads.
	if cfg.reads == 0 {
		return nil
	}
	sc, err := startScheduler(simCtx, m.addr, cfg.callInterval)
	if err != nil {
		return err
	}
	defer func() { stopSim(); <-sc.done }()
	time.Sleep(time.Second) // the first allocation and the scheduler's SUPPRESS
	b0 := time.Now()
	time.Sleep(cfg.baseline)
	base := sc.between(b0, time.Now())
	fmt.Printf("scheduler calls, baseline (%v, %d calls): p50 %v, p99 %v, max %v\n",
		cfg.baseline, len(base), us(quantile(base, 0.5)), us(quantile(base, 0.99)), us(quantile(base, 1)))
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	profiled = m.record(ctx, cfg, "reads")
	r0 := time.Now()
	for _, rd := range reads {
		var durs []time.Duration
		size := 0
		for range cfg.reads {
			start := time.Now()
			n, err := rd.do(ctx, client, m.addr)
			if err != nil {
				return fmt.Errorf("%s: %w", rd.name, err)
			}
			durs = append(durs, time.Since(start))
			size = n
			_, hwm2, _ := m.memory()
			hwm = max(hwm, hwm2)
		}
		calls := sc.between(start(durs, time.Now()), time.Now())
		fmt.Printf("read %-19s %d times, %s: %v (min %v, max %v); scheduler calls meanwhile (%d): p50 %v, p99 %v, max %v\n",
			rd.name, cfg.reads, mib(int64(size)), fmtDurs(durs), ms(slicesMin(durs)), ms(slicesMax(durs)),
			len(calls), us(quantile(calls, 0.5)), us(quantile(calls, 0.99)), us(quantile(calls, 1)))
	}
	all := sc.between(r0, time.Now())
	rss, hwm2, _ := m.memory()
	fmt.Printf("scheduler calls during all reads (%d): p50 %v, p99 %v, max %v; %d failed\n",
		len(all), us(quantile(all, 0.5)), us(quantile(all, 0.99)), us(quantile(all, 1)), sc.fails)
	fmt.Printf("memory after the reads: VmRSS %s, VmHWM %s\n", mib(rss), mib(max(hwm, hwm2)))
	return profiled()
}

// start is when a run of reads of durations durs that ended at end began.
func start(durs []time.Duration, end time.Time) time.Time {
	t := end
	for _, d := range durs {
		t = t.Add(-d)
	}
	return t
}

func slicesMin(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = min(m, x)
	}
	return m
}

func slicesMax(d []time.Duration) time.Duration {
	m := d[0]
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

func fmtDurs(d []time.Duration) string {
	var s []string
	for _, x := range d {
		s = append(s, ms(x).String())
	}
	return "[" + strings.Join(s, " ") + "]"
}

func printMachine(cfg config) {
	model, load := benchutil.Machine()
	fmt.Printf("command: %s\n", strings.Join(append([]string{"go run ./bench/scale"}, os.Args[1:]...), " "))
	fmt.Printf("machine: %s/%s, nproc %d, CPU %q, %s, load average %s, transparent huge pages %s\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model, runtime.Version(), load, hugePages())
}

// hugePages is the kernel's transparent huge pages mode: with "always" a
// Go heap gets huge pages, with "madvise" it does not (the Go runtime asks
// for none), and a master whose heap grows by gigabytes spends much of its
// time faulting in 4 KiB pages (BENCHMARKS.md).
func hugePages() string {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return "unknown"
	}
	s := string(b)
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	return strings.TrimSpace(s)
}

// ownCPU is this process's CPU time: the simulated agents'.
func ownCPU() time.Duration {
	st, _ := procstat.Read(os.Getpid())
	return st.CPU
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
func us(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
func mib(n int64) string               { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
func kib(n int64) string               { return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10)) }
