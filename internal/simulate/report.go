package simulate

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"
	"time"
)

// Summary is what a run measured. Rates are over the run phase: from the
// frameworks' start to the last task's end (the agents' registration is
// the setup phase).
type Summary struct {
	Master        string `json:"master"`
	MasterProcess string `json:"master_process"`

	Agents           int  `json:"agents"`
	AgentsRegistered int  `json:"agents_registered"`
	Frameworks       int  `json:"frameworks"`
	Tasks            int  `json:"tasks"`
	Probe            bool `json:"probe"`

	// Complete is true when every task ended within the run.
	Complete      bool  `json:"complete"`
	TasksLaunched int64 `json:"tasks_launched"`
	TasksFinished int64 `json:"tasks_finished"`
	// TasksFailed ended in another terminal state (lost, killed, error...).
	TasksFailed int64 `json:"tasks_failed"`

	WallSeconds       float64 `json:"wall_seconds"`
	SetupSeconds      float64 `json:"setup_seconds"`
	RunSeconds        float64 `json:"run_seconds"`
	LaunchedPerSecond float64 `json:"launched_per_second"`
	FinishedPerSecond float64 `json:"finished_per_second"`

	// OfferToRunning is, per task, from the framework receiving the
	// offer to it receiving TASK_RUNNING, in milliseconds.
	OfferToRunning Percentiles `json:"offer_to_running_ms"`
	// ProbeOfferToRunning is the probe's, for offers it received while
	// the other frameworks still had tasks to launch (a saturated
	// cluster).
	ProbeOfferToRunning *Percentiles `json:"probe_offer_to_running_ms,omitempty"`
	// ProbeTasks is the number of tasks the probe launched (not counted
	// in TasksLaunched).
	ProbeTasks int64 `json:"probe_tasks,omitempty"`

	// From the master's /metrics/snapshot: allocator/mesos/allocation_runs
	// and allocation_run_ms (the time one allocation cycle took).
	AllocationRuns  int64       `json:"allocation_runs"`
	AllocationRunMs Percentiles `json:"allocation_run_ms"`

	// The master's process (a child master only): CPU seconds over the
	// whole run and over the run phase, peak resident set.
	MasterCPUSeconds    float64 `json:"master_cpu_seconds"`
	MasterCPUSecondsRun float64 `json:"master_cpu_seconds_run"`
	MasterPeakRSSBytes  int64   `json:"master_peak_rss_bytes"`
	// The simulator's own process (agents and frameworks).
	SimulatorCPUSeconds   float64 `json:"simulator_cpu_seconds"`
	SimulatorPeakRSSBytes int64   `json:"simulator_peak_rss_bytes"`

	StatusUpdates       int64 `json:"status_updates"`
	StatusUpdateRetries int64 `json:"status_update_retries"`
	AgentCallErrors     int64 `json:"agent_call_errors"`
	FrameworkCallErrors int64 `json:"framework_call_errors"`
	AgentStreamBreaks   int64 `json:"agent_stream_breaks"`

	// MasterAfter is the master's books once the tasks are done.
	MasterAfter *MasterBooks `json:"master_after,omitempty"`
	Errors      []string     `json:"errors,omitempty"`
}

// MasterBooks is what the master's metrics say about tasks and resources.
type MasterBooks struct {
	TasksActive   int     `json:"tasks_active"` // staging, starting, running, killing
	TasksFinished int64   `json:"tasks_finished"`
	CPUsUsed      float64 `json:"cpus_used"`
	MemUsed       float64 `json:"mem_used"`
	AgentsActive  int     `json:"agents_active"`
}

// Percentiles of a series, in milliseconds.
type Percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(q*float64(len(s)-1) + 0.5)
		return ms(s[i])
	}
	return Percentiles{Count: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (p Percentiles) String() string {
	if p.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %.1f  p90 %.1f  p99 %.1f  max %.1f ms  (n=%d)", p.P50, p.P90, p.P99, p.Max, p.Count)
}

// WriteText writes the summary as a table for people.
func (s *Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, f string, args ...any) { fmt.Fprintf(tw, "%s\t"+f+"\n", append([]any{k}, args...)...) }
	status := "complete"
	if !s.Complete {
		status = "INCOMPLETE"
	}
	fmt.Fprintf(tw, "meso simulate: %s\n", status)
	row("master", "%s — %s", s.Master, s.MasterProcess)
	row("agents", "%d registered of %d", s.AgentsRegistered, s.Agents)
	row("frameworks", "%d%s", s.Frameworks, map[bool]string{true: " + probe", false: ""}[s.Probe])
	row("tasks", "%d launched, %d finished, %d failed (of %d)", s.TasksLaunched, s.TasksFinished, s.TasksFailed, s.Tasks)
	row("wall time", "%.1fs (setup %.1fs: master and agent registration; run %.1fs)", s.WallSeconds, s.SetupSeconds, s.RunSeconds)
	row("tasks/s", "%.0f launched, %.0f finished (over the run)", s.LaunchedPerSecond, s.FinishedPerSecond)
	row("offer → RUNNING", "%s", s.OfferToRunning)
	if s.ProbeOfferToRunning != nil {
		row("probe offer → RUNNING", "%s (while the others still had tasks to launch; %d probe tasks)", *s.ProbeOfferToRunning, s.ProbeTasks)
	}
	row("allocation cycle", "%s (%d runs)", s.AllocationRunMs, s.AllocationRuns)
	if s.MasterPeakRSSBytes > 0 {
		row("master CPU", "%.1fs total, %.1fs during the run (%.0f%% of a core)", s.MasterCPUSeconds, s.MasterCPUSecondsRun,
			100*s.MasterCPUSecondsRun/max(s.RunSeconds, 1e-9))
		row("master peak RSS", "%.0f MB", float64(s.MasterPeakRSSBytes)/(1<<20))
	} else {
		row("master CPU, RSS", "not measured (remote master)")
	}
	row("simulator", "%.1fs CPU, peak RSS %.0f MB (agents and frameworks)", s.SimulatorCPUSeconds, float64(s.SimulatorPeakRSSBytes)/(1<<20))
	row("status updates", "%d sent, %d retried; call errors: agents %d, frameworks %d; agent streams broken %d",
		s.StatusUpdates, s.StatusUpdateRetries, s.AgentCallErrors, s.FrameworkCallErrors, s.AgentStreamBreaks)
	if m := s.MasterAfter; m != nil {
		row("master after", "%d active tasks, %.2f cpus and %.0f MB mem used, %d agents active",
			m.TasksActive, m.CPUsUsed, m.MemUsed, m.AgentsActive)
	}
	for _, e := range s.Errors {
		row("error", "%s", e)
	}
	return tw.Flush()
}

// progress prints a line every second.
type progress struct {
	cfg   Config
	fleet *fleet
	stats *taskStats
	start time.Time

	mu       sync.Mutex
	runStart time.Time
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func (p *progress) markRun(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runStart = t
}

// run starts printing until stop or ctx's end; it returns stop.
func (p *progress) run(ctx context.Context) func() {
	p.quit, p.done = make(chan struct{}), make(chan struct{})
	if p.cfg.Progress == nil {
		close(p.done)
		return p.stop
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastFinished int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.quit:
				return
			case <-t.C:
			}
			fin := p.stats.finished.Load()
			fmt.Fprintf(p.cfg.Progress, "[%6.1fs] agents %d/%d | tasks launched %d running %d finished %d failed %d | %d finished/s\n",
				time.Since(p.start).Seconds(), p.fleet.registered.Load(), p.cfg.Agents,
				p.stats.launched.Load(), p.stats.running.Load(), fin, p.stats.failed.Load(), fin-lastFinished)
			lastFinished = fin
		}
	}()
	return p.stop
}

func (p *progress) stop() {
	p.once.Do(func() { close(p.quit) })
	<-p.done
}
