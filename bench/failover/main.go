// Command failover measures how long a highly available meso cluster takes
// to recover from the loss of its leading master (MTTR). Three `meso
// master` processes share a standalone ZooKeeper server (--zk, --quorum=2,
// --zk_session_timeout=-session); -agents simulated agents and one
// framework find the leader through ZooKeeper. -rounds times, the leading
// master is killed with SIGKILL, and the round prints the time from the
// SIGKILL to
//
//   - elected: another master reports master/elected 1 in /metrics/snapshot
//     (meso reports it once the new leader has also recovered the registry);
//   - agents: that master reports master/slaves_connected = -agents and
//     every simulated agent has received its REREGISTERED;
//   - framework: the framework (pkg/scheduler) receives SUBSCRIBED again;
//
// each also less the session timeout (the goal is a bound on that), and
// all three counted from the session's expiry. No other master can be
// elected before the old leader's ZooKeeper session expires, which happens
// between two thirds of the timeout and the timeout after the kill (the
// client pings every third of it; the server expires a session a timeout
// after it last heard from it). Details follow: when the agents' detector
// saw the new leader, when the new leader's contender won and its registry
// was recovered (its log), and the agents' own REREGISTERED times. The
// killed master is started again as a standby before the next round.
//
// The agents are simulated in this process (1,000 `meso agent` processes
// would not fit on a small machine): each speaks internal/agent's protocol
// to the master (a REGISTER / REREGISTER stream on /master/internal/agent,
// PONGs) with its own pid slave(1)@127.0.0.1:<port>, and follows the
// leader through one shared ZooKeeper detector (pkg/detector), retrying
// and backing off as internal/agent does with
// --registration_backoff_factor=-backoff: after a new leader is detected,
// each agent waits a random delay in [0, -backoff] before re-registering.
//
// Usage (from the repository root):
//
//	make build
//	go run ./bench/failover -meso=bin/meso -agents=1000 -rounds=5 -session=2s
//
// MESO_BENCH_KEEP=1 keeps the work directory (ZooKeeper and master logs).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/meso-project/meso/bench/internal/benchutil"
	"github.com/meso-project/meso/pkg/detector"
)

type config struct {
	bin     string
	agents  int
	rounds  int
	masters int
	session time.Duration
	backoff time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.bin, "meso", "bin/meso", "path to the meso binary (make build)")
	flag.IntVar(&cfg.agents, "agents", 1000, "simulated agents")
	flag.IntVar(&cfg.rounds, "rounds", 5, "failovers (each kills the leading master)")
	flag.IntVar(&cfg.masters, "masters", 3, "masters")
	flag.DurationVar(&cfg.session, "session", 2*time.Second, "the masters' --zk_session_timeout")
	flag.DurationVar(&cfg.backoff, "backoff", 100*time.Millisecond,
		"the agents' --registration_backoff_factor: each re-registers after a random delay in [0, backoff]")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

// round is what one failover measured; offsets are from the SIGKILL.
type round struct {
	elected, agents, framework time.Duration
	all                        time.Duration // the last of the three

	agentsMetric time.Duration // the new leader's master/slaves_connected reached -agents

	detected    time.Duration // the agents' detector named the new leader
	contender   time.Duration // the new leader's contender won (its log)
	loop        time.Duration // the new leader's loop took the election (its log)
	recovered   time.Duration // the new leader recovered the registry (its log)
	agentTimes  []time.Duration
	fwFailures  []time.Duration // the framework's stream ending, failed subscription attempts
	regAttempts int64           // registration streams the agents opened or tried
}

func run(ctx context.Context, cfg config) error {
	if cfg.masters < 2 || cfg.agents < 1 || cfg.rounds < 1 {
		return errors.New("need -masters >= 2, -agents >= 1, -rounds >= 1")
	}
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (build it first: make build)", err)
	}
	work, err := os.MkdirTemp("", "meso-bench-failover-")
	if err != nil {
		return err
	}
	if os.Getenv("MESO_BENCH_KEEP") != "" {
		defer fmt.Printf("logs kept in %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	printMachine(cfg)

	zkDir := filepath.Join(work, "zk")
	if err := os.MkdirAll(zkDir, 0o755); err != nil {
		return err
	}
	zk, zkAddr, err := startZooKeeper(ctx, zkDir)
	if err != nil {
		return err
	}
	defer zk.kill()
	zkURL := "zk://" + zkAddr + "/mesos"

	c, err := newCluster(bin, work, zkURL, cfg.session, cfg.masters)
	if err != nil {
		return err
	}
	defer c.stop()
	for _, m := range c.masters {
		if err := c.start(m); err != nil {
			return err
		}
	}
	var leader *master
	if err := poll(ctx, time.Minute, 20*time.Millisecond, "a leading master", func() (bool, error) {
		var err error
		leader, err = c.leader(ctx, nil)
		return leader != nil, err
	}); err != nil {
		return err
	}
	for _, m := range c.masters {
		if m != leader {
			if err := c.waitStandby(ctx, m); err != nil {
				return err
			}
		}
	}
	fmt.Printf("ZooKeeper at %s; master %d (%s) leads\n", zkAddr, leader.id, leader.addr)

	// The agents and the framework run until the end.
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	det, err := detector.NewZooKeeper(zkURL, detector.Options{})
	if err != nil {
		return err
	}
	watch := newLeaderWatch()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		watch.run(simCtx, det)
	}()
	defer func() { stopSim(); det.Close(); <-watchDone }()
	fl, err := newFleet(cfg.agents, cfg.backoff, watch)
	if err != nil {
		return err
	}
	begin := time.Now()
	fl.start(simCtx)
	defer func() { stopSim(); fl.wait() }()
	if err := waitAgents(ctx, c, leader, cfg.agents, 5*time.Minute); err != nil {
		return err
	}
	fmt.Printf("%d agents registered in %v\n", cfg.agents, time.Since(begin).Round(time.Millisecond))
	fw, err := startFramework(simCtx, zkURL)
	if err != nil {
		return err
	}
	defer func() { stopSim(); fw.stop() }()
	if _, ok := fw.subscribedAfter(ctx, time.Time{}, time.Minute); !ok {
		return errors.New("the framework did not subscribe")
	}
	if err := settle(ctx, c, leader); err != nil {
		return err
	}

	var results []round
	for i := range cfg.rounds {
		r, next, err := failover(ctx, c, fl, fw, leader, cfg)
		if err != nil {
			return fmt.Errorf("round %d: %w", i+1, err)
		}
		results = append(results, r)
		printRound(i+1, leader, next, r, cfg)
		// The killed master comes back as a standby.
		if err := c.start(leader); err != nil {
			return err
		}
		if err := c.waitStandby(ctx, leader); err != nil {
			return err
		}
		leader = next
		if err := settle(ctx, c, leader); err != nil {
			return err
		}
	}
	printSummary(results, cfg)
	return nil
}

// failover kills leader and measures until the new one has every agent and
// the framework back.
func failover(ctx context.Context, c *cluster, fl *fleet, fw *framework, leader *master, cfg config) (round, *master, error) {
	var r round
	attempts := fl.attempts()
	t0 := time.Now()
	leader.proc.kill()

	var next *master
	if err := poll(ctx, 5*time.Minute, 5*time.Millisecond, "a new leader", func() (bool, error) {
		var err error
		next, err = c.leader(ctx, leader)
		return next != nil, err
	}); err != nil {
		return r, nil, err
	}
	r.elected = time.Since(t0)
	if err := waitAgents(ctx, c, next, cfg.agents, 5*time.Minute); err != nil {
		return r, nil, err
	}
	r.agentsMetric = time.Since(t0)
	// The master counts an agent connected as it queues REREGISTERED; the
	// agent has it a little later. Both views must be complete.
	if err := poll(ctx, time.Minute, 5*time.Millisecond, "the agents' REREGISTERED", func() (bool, error) {
		return len(fl.registeredSince(t0)) == cfg.agents, nil
	}); err != nil {
		return r, nil, err
	}
	r.agentTimes = fl.registeredSince(t0)
	r.agents = max(r.agentsMetric, r.agentTimes[len(r.agentTimes)-1])
	sub, ok := fw.subscribedAfter(ctx, t0, 5*time.Minute)
	if !ok {
		return r, nil, errors.New("the framework did not re-subscribe")
	}
	r.framework = sub.Sub(t0)
	r.all = max(r.elected, r.agents, r.framework)

	if ch, ok := fl.watch.firstChangeAfter(t0); ok {
		r.detected = ch.at.Sub(t0)
	}
	if t, ok := logTime(next.logPath, "contender: elected as the leading master"); ok {
		r.contender = t.Sub(t0)
	}
	if t, ok := logTime(next.logPath, "elected as the leading master"); ok {
		r.loop = t.Sub(t0)
	}
	if t, ok := logTime(next.logPath, "recovered the registry"); ok {
		r.recovered = t.Sub(t0)
	}
	r.fwFailures = fw.disconnectsBetween(t0, sub)
	r.regAttempts = fl.attempts() - attempts
	return r, next, nil
}

// waitAgents waits until m reports n connected agents, polling every 5 ms.
func waitAgents(ctx context.Context, c *cluster, m *master, n int, timeout time.Duration) error {
	return poll(ctx, timeout, 5*time.Millisecond, fmt.Sprintf("%d agents on master %d", n, m.id), func() (bool, error) {
		if !m.proc.running() {
			return false, fmt.Errorf("master %d exited; see %s", m.id, m.logPath)
		}
		s, err := c.metrics(ctx, m)
		return err == nil && s["master/slaves_connected"] == float64(n), nil
	})
}

// settle waits until the leader has no offer outstanding (the framework
// declined what the new leader offered) and a moment more, so that a round
// starts from a quiet cluster.
func settle(ctx context.Context, c *cluster, m *master) error {
	err := poll(ctx, time.Minute, 50*time.Millisecond, "the offers to be declined", func() (bool, error) {
		s, err := c.metrics(ctx, m)
		return err == nil && s["master/outstanding_offers"] == 0 && s["master/frameworks_connected"] == 1, nil
	})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Second):
		return nil
	}
}

func printMachine(cfg config) {
	model, load := benchutil.Machine()
	zkVersion := zkJar
	if jars, _ := filepath.Glob("/usr/share/java/zookeeper-[0-9]*.jar"); len(jars) > 0 {
		zkVersion = strings.TrimSuffix(filepath.Base(jars[0]), ".jar")
	}
	fmt.Printf("command: %s\n", strings.Join(append([]string{"go run ./bench/failover"}, os.Args[1:]...), " "))
	fmt.Printf("machine: %s/%s, nproc %d, CPU %q, %s, ZooKeeper %s, load average %s\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model, runtime.Version(), zkVersion, load)
	fmt.Printf("setup: %d masters, %d simulated agents (re-registration jitter [0, %v]), 1 framework; --zk_session_timeout=%s\n",
		cfg.masters, cfg.agents, cfg.backoff, mesosDuration(cfg.session))
}

func printRound(i int, killed, next *master, r round, cfg config) {
	s := cfg.session
	fmt.Printf("round %d: killed master %d; master %d elected %s, %d agents %s, framework %s; all %s, %v after the expiry\n",
		i, killed.id, next.id, beyond(r.elected, s), cfg.agents, beyond(r.agents, s), beyond(r.framework, s), beyond(r.all, s),
		ms(r.all-r.detected))
	a := r.agentTimes
	agents := "none"
	if len(a) > 0 {
		agents = fmt.Sprintf("first %v, median %v, last %v (%d)", ms(a[0]), ms(a[len(a)/2]), ms(a[len(a)-1]), len(a))
	}
	var fails []string
	for _, d := range r.fwFailures {
		fails = append(fails, ms(d).String())
	}
	fmt.Printf("  session expired (agents' detector saw master %d) %v; contender won %v; loop elected %v; registry recovered %v;"+
		" slaves_connected %v; agents' REREGISTERED %s; %d registration attempts; framework's stream ended / SUBSCRIBE failed at [%s]\n",
		next.id, ms(r.detected), ms(r.contender), ms(r.loop), ms(r.recovered), ms(r.agentsMetric), agents, r.regAttempts, strings.Join(fails, " "))
}

func printSummary(results []round, cfg config) {
	s := cfg.session
	fmt.Printf("over %d rounds, %d agents, session timeout %v, agents' jitter [0, %v]:\n", len(results), cfg.agents, s, cfg.backoff)
	phase := func(name string, get func(round) time.Duration) time.Duration {
		var d []time.Duration
		for _, r := range results {
			d = append(d, get(r))
		}
		slices.Sort(d)
		fmt.Printf("  %-10s median %s, min %s, max %s\n", name, beyond(d[len(d)/2], s), beyond(d[0], s), beyond(d[len(d)-1], s))
		return d[len(d)/2]
	}
	phase("elected", func(r round) time.Duration { return r.elected })
	phase("agents", func(r round) time.Duration { return r.agents })
	phase("framework", func(r round) time.Duration { return r.framework })
	median := phase("all", func(r round) time.Duration { return r.all })
	var after []time.Duration
	for _, r := range results {
		after = append(after, r.all-r.detected)
	}
	slices.Sort(after)
	fmt.Printf("  all, counted from the session's expiry (the agents' detector seeing the new leader): median %v, min %v, max %v\n",
		ms(after[len(after)/2]), ms(after[0]), ms(after[len(after)-1]))
	met := 0
	for _, r := range results {
		if r.all-s < 2*time.Second {
			met++
		}
	}
	verdict := "met"
	if median-s >= 2*time.Second {
		verdict = "NOT met"
	}
	fmt.Printf("goal (< 2s beyond the session timeout): %s by the median; %d of %d rounds under it\n", verdict, met, len(results))
}

// beyond formats d and how far it is beyond the session timeout s.
func beyond(d, s time.Duration) string {
	return fmt.Sprintf("%v (%+.3fs)", ms(d), (d - s).Seconds())
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
