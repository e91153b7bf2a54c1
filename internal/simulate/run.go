package simulate

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meso-project/meso/internal/procstat"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/resources"
)

// Run runs one simulation and returns its summary. The summary is returned
// (with Complete false and the reason in Errors) also when the run timed
// out or the master failed; err is for a run that could not start.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	agentRes, err := resources.Parse(cfg.AgentResources, "*")
	if err != nil {
		return nil, fmt.Errorf("%w: agent resources: %w", ErrConfig, err)
	}
	need, err := parseTaskResources(cfg.TaskResources)
	if err != nil {
		return nil, err
	}
	frameworks := cfg.Frameworks
	if cfg.Probe {
		frameworks++
	}
	if err := raiseFileLimit(descriptorsNeeded(cfg.Agents, cfg.Senders, frameworks)); err != nil {
		return nil, err
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	sum := &Summary{Agents: cfg.Agents, Frameworks: cfg.Frameworks, Tasks: cfg.Tasks, Probe: cfg.Probe}

	// The master.
	var (
		child  *childMaster
		det    detector.Detector
		leader = newLeaderWatch()
	)
	if cfg.Master == "" {
		child, err = startMaster(ctx, cfg.MesoBinary, cfg.MasterFlags)
		if err != nil {
			return nil, err
		}
		defer child.stop()
		l, err := detector.Parse(child.addr)
		if err != nil {
			return nil, err
		}
		det = detector.NewStandalone(l)
		leader.set(child.addr)
		sum.Master = child.addr
		sum.MasterProcess = fmt.Sprintf("meso master child process, pid %d (CPU and RSS from /proc)", child.cmd.Process.Pid)
	} else {
		det, err = detector.New(cfg.Master)
		if err != nil {
			return nil, fmt.Errorf("%w: --master %q: %w", ErrConfig, cfg.Master, err)
		}
		defer det.Close()
		go leader.run(ctx, det)
		if _, err := leader.wait(ctx); err != nil {
			return nil, fmt.Errorf("simulate: no leading master found at %s: %w", cfg.Master, err)
		}
		sum.Master = leader.current()
		sum.MasterProcess = "remote master: its CPU and RSS are not measured"
	}
	loopback := isLoopback(leader.current())

	// The agents.
	fl := newFleet(fleetConfig{
		n: cfg.Agents, resources: agentRes, duration: cfg.TaskDuration, starting: cfg.Starting,
		retry: cfg.StatusUpdateRetry, senders: cfg.Senders, loopback: loopback, log: cfg.Logger,
	}, leader)
	fleetCtx, stopFleet := context.WithCancel(context.WithoutCancel(ctx))
	fl.start(fleetCtx)
	defer func() {
		stopFleet()
		fl.wait()
	}()

	stats := &taskStats{}
	probeStats := &taskStats{}
	prog := &progress{cfg: cfg, fleet: fl, stats: stats, start: start}
	stopProgress := prog.run(ctx)
	defer stopProgress()

	// Wait for the agents to register.
	for fl.registered.Load() < int64(cfg.Agents) {
		if err := masterAlive(child); err != nil {
			return finish(sum, err)
		}
		select {
		case <-ctx.Done():
			sum.Errors = append(sum.Errors, fmt.Sprintf("only %d of %d agents registered", fl.registered.Load(), cfg.Agents))
			return finish(sum, nil)
		case <-time.After(20 * time.Millisecond):
		}
	}
	sum.AgentsRegistered = int(fl.registered.Load())
	sum.SetupSeconds = time.Since(start).Seconds()
	var before procstat.Stats
	if child != nil {
		before, _ = procstat.Read(child.cmd.Process.Pid)
	}

	// The frameworks.
	runStart := time.Now()
	prog.markRun(runStart)
	var fws []*framework
	for i := range cfg.Frameworks {
		n := cfg.Tasks / cfg.Frameworks
		if i < cfg.Tasks%cfg.Frameworks {
			n++
		}
		var local *net.TCPAddr
		if loopback {
			local = loopbackAddr(3, i)
		}
		f, err := newFramework(frameworkConfig{
			index: i, name: fmt.Sprintf("sim-%d", i), roles: []string{cfg.Roles[i%len(cfg.Roles)]},
			tasks: n, accept: cfg.AcceptRatio, refuse: cfg.RefuseSeconds, perOffer: cfg.TasksPerOffer,
			need: need, duration: cfg.TaskDuration, local: local, det: det, stats: stats,
		})
		if err != nil {
			return nil, err
		}
		if n == 0 {
			f.closed = true
			close(f.done)
		}
		fws = append(fws, f)
	}
	fwCtx, stopFrameworks := context.WithCancel(ctx)
	var fwWG sync.WaitGroup
	fwErrs := make(chan error, len(fws)+1)
	runFramework := func(ctx context.Context, f *framework, wg *sync.WaitGroup) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.run(ctx); err != nil {
				fwErrs <- fmt.Errorf("framework %s: %w", f.cfg.name, err)
			}
		}()
	}
	for _, f := range fws {
		runFramework(fwCtx, f, &fwWG)
	}
	var (
		probe               *framework
		probeWG             sync.WaitGroup
		probeCtx, stopProbe = context.WithCancel(fwCtx)
	)
	defer stopProbe()
	if cfg.Probe {
		var local *net.TCPAddr
		if loopback {
			local = loopbackAddr(3, cfg.Frameworks)
		}
		probe, err = newFramework(frameworkConfig{
			index: cfg.Frameworks, name: "sim-probe", roles: []string{cfg.Roles[0]},
			accept: 1, refuse: 0.01, perOffer: 1, need: need,
			duration: Distribution{Kind: Constant, A: cfg.ProbeTaskDuration},
			probe:    true, local: local, det: det, stats: probeStats,
			busy: func() bool { return stats.launched.Load() < int64(cfg.Tasks) },
		})
		if err != nil {
			stopFrameworks()
			return nil, err
		}
		runFramework(probeCtx, probe, &probeWG)
	}
	stopAll := func() {
		stopFrameworks()
		fwWG.Wait()
		probeWG.Wait()
		for _, f := range append(fws, probe) {
			if f != nil {
				f.client.Close()
			}
		}
	}

	var runErr error
wait:
	for _, f := range fws {
		for {
			if err := masterAlive(child); err != nil {
				runErr = err
				break wait
			}
			select {
			case <-f.done:
				continue wait
			case err := <-fwErrs:
				runErr = err
				break wait
			case <-ctx.Done():
				sum.Errors = append(sum.Errors, "the run timed out (--timeout)")
				break wait
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	runEnd := time.Now()
	stopProbe() // it would go on launching while the books settle
	probeWG.Wait()
	prog.stop()
	sum.RunSeconds = runEnd.Sub(runStart).Seconds()
	sum.TasksLaunched = stats.launched.Load()
	sum.TasksFinished = stats.finished.Load()
	sum.TasksFailed = stats.failed.Load()
	sum.Complete = runErr == nil && ctx.Err() == nil && sum.TasksFinished+sum.TasksFailed >= int64(cfg.Tasks)
	if sum.RunSeconds > 0 {
		sum.LaunchedPerSecond = float64(sum.TasksLaunched) / sum.RunSeconds
		sum.FinishedPerSecond = float64(sum.TasksFinished) / sum.RunSeconds
	}
	var lat []time.Duration
	for _, f := range fws {
		f.mu.Lock()
		lat = append(lat, f.latencies...)
		f.mu.Unlock()
	}
	sum.OfferToRunning = percentiles(lat)
	if probe != nil {
		probe.mu.Lock()
		p := percentiles(probe.latencies)
		probe.mu.Unlock()
		sum.ProbeOfferToRunning = &p
		sum.ProbeTasks = probeStats.launched.Load()
	}
	if child != nil {
		if after, err := procstat.Read(child.cmd.Process.Pid); err == nil {
			sum.MasterCPUSecondsRun = (after.CPU - before.CPU).Seconds()
		}
	}

	// What the master's books say once the tasks are done.
	if ctx.Err() == nil && runErr == nil {
		sum.MasterAfter = settle(ctx, leader.current())
		if m := sum.MasterAfter; m != nil && (m.TasksActive > 0 || m.CPUsUsed > 1e-9 || m.MemUsed > 1e-9) {
			sum.Errors = append(sum.Errors, fmt.Sprintf("the master still books %d active tasks, %.2f cpus and %.0f MB mem", m.TasksActive, m.CPUsUsed, m.MemUsed))
		}
	}
	if m, err := metricsSnapshot(ctx, leader.current()); err == nil {
		sum.AllocationRuns = int64(m["allocator/mesos/allocation_runs"])
		sum.AllocationRunMs = Percentiles{
			Count: int(m["allocator/mesos/allocation_run_ms/count"]),
			P50:   m["allocator/mesos/allocation_run_ms/p50"],
			P90:   m["allocator/mesos/allocation_run_ms/p90"],
			P99:   m["allocator/mesos/allocation_run_ms/p99"],
			Max:   m["allocator/mesos/allocation_run_ms/max"],
		}
	}
	sum.StatusUpdates = fl.updatesSent.Load()
	sum.StatusUpdateRetries = fl.retries.Load()
	sum.AgentCallErrors = fl.callErrors.Load()
	sum.FrameworkCallErrors = stats.callErrors.Load() + probeStats.callErrors.Load()
	sum.AgentStreamBreaks = fl.streamBreaks.Load()
	if e, ok := fl.lastErr.Load().(string); ok && sum.AgentCallErrors > 0 {
		sum.Errors = append(sum.Errors, "last agent error: "+e)
	}
	if e, ok := stats.lastErr.Load().(string); ok && sum.FrameworkCallErrors > 0 {
		sum.Errors = append(sum.Errors, "last framework error: "+e)
	}

	// Leave a remote master as it was: frameworks torn down, agents gone.
	if child == nil {
		tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		for _, f := range append(fws, probe) {
			if f != nil {
				_ = f.teardown(tctx)
			}
		}
		stopAll()
		fl.unregister(tctx)
		tcancel()
	} else {
		stopAll()
		if st, err := procstat.Read(child.cmd.Process.Pid); err == nil {
			sum.MasterCPUSeconds = st.CPU.Seconds()
			sum.MasterPeakRSSBytes = st.PeakRSS
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		sum.SimulatorCPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		sum.SimulatorPeakRSSBytes = ru.Maxrss << 10
	}
	sum.WallSeconds = time.Since(start).Seconds()
	return finish(sum, runErr)
}

func finish(sum *Summary, err error) (*Summary, error) {
	if err != nil {
		sum.Errors = append(sum.Errors, err.Error())
	}
	return sum, nil
}

// masterAlive reports a child master that exited.
func masterAlive(m *childMaster) error {
	if m == nil {
		return nil
	}
	if done, err := m.exited(); done {
		return fmt.Errorf("the master exited (%v); its log was in %s", err, m.dir)
	}
	return nil
}

// settle waits (up to 10 s) for the master's books to show no active task
// and no resources in use, and returns what they show last.
func settle(ctx context.Context, addr string) *MasterBooks {
	var last *MasterBooks
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := metricsSnapshot(ctx, addr)
		if err != nil {
			return last
		}
		last = &MasterBooks{
			TasksActive: int(m["master/tasks_staging"] + m["master/tasks_starting"] + m["master/tasks_running"] +
				m["master/tasks_killing"]),
			TasksFinished: int64(m["master/tasks_finished"]),
			CPUsUsed:      m["master/cpus_used"],
			MemUsed:       m["master/mem_used"],
			AgentsActive:  int(m["master/slaves_active"]),
		}
		if last.TasksActive == 0 && last.CPUsUsed < 1e-9 && last.MemUsed < 1e-9 || time.Now().After(deadline) {
			return last
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	return host == "localhost"
}

// descriptorsNeeded is a bound on the descriptors one side (the simulator,
// or the master) holds: a stream per agent, the senders' connections, each
// framework's stream and call connections, and room for the rest.
func descriptorsNeeded(agents, senders, frameworks int) uint64 {
	return uint64(agents + senders + frameworks*(callWorkers+2) + 1024)
}

// raiseFileLimit raises RLIMIT_NOFILE to at least n (the child master
// inherits it), the hard limit too when allowed (CAP_SYS_RESOURCE).
func raiseFileLimit(n uint64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= n {
		return nil
	}
	want := unix.Rlimit{Cur: n, Max: max(lim.Max, n)}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err == nil {
		return nil
	}
	return fmt.Errorf("simulate: this run needs %d open files (agents, connections) but the limit is %d and cannot be raised "+
		"(above the hard limit that needs CAP_SYS_RESOURCE, which root has outside a restricted container): "+
		"raise it first (ulimit -Hn %d; ulimit -n %d) or simulate fewer agents", n, lim.Max, n, n)
}
