package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/checks"
	"github.com/meso-project/meso/internal/flags"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/executor"
)

// Timing constants, as in Mesos's command executor.
const (
	// defaultKillGracePeriod is the SIGTERM→SIGKILL grace when neither the
	// KILL event nor the TaskInfo has a kill policy.
	defaultKillGracePeriod = 3 * time.Second
	// shutdownBuffer is kept from the executor shutdown grace period so the
	// forced kill and TASK_KILLED happen before the agent destroys the container.
	shutdownBuffer = 2 * time.Second
	// ackTimeout is how long the executor waits for the acknowledgement of the
	// terminal update before giving up (exit status 1).
	ackTimeout = 60 * time.Second
)

// Main runs the command executor: the process `meso executor` becomes, started
// by the agent for a TaskInfo that has a CommandInfo and no ExecutorInfo.
//
// args are the flags after the subcommand (Mesos-style --name=value; see
// usage); env looks up the executor's MESOS_* variables (os.LookupEnv in
// production); stdout and stderr are the executor's own, normally the
// sandbox's stdout/stderr files, which the task inherits. Main returns the
// process exit status: 0 once the terminal update of the task is
// acknowledged, 1 on errors (including no acknowledgement within 60 s). When
// ctx ends, the task's process group is killed and Main returns 1.
//
// The task's environment is the executor's process environment (os.Environ)
// with the MESOS_* values env gives overlaid, without
// MESOS_EXECUTOR_AUTHENTICATION_TOKEN, plus --task_environment, the
// CommandInfo's variables and MESOS_ALLOCATION_ROLE.
func Main(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	out := &syncWriter{w: stdout}
	errw := &syncWriter{w: stderr}
	opts, err := parseFlags(args, errw)
	if errors.Is(err, errHelp) {
		fmt.Fprint(out, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(errw, "%v\n\n%s", err, usage)
		return 1
	}
	cfg, err := executor.FromEnv(env)
	if err != nil {
		fmt.Fprintln(errw, err)
		return 1
	}
	cfg.Logger = slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: slog.LevelWarn}))

	if err := becomeSubreaper(); err != nil {
		fmt.Fprintf(errw, "Failed to become a child subreaper: %v\n", err)
	}

	x := &commandExecutor{
		opts:    opts,
		env:     env,
		cfg:     cfg,
		out:     out,
		errw:    errw,
		taskOut: taskWriter(stdout, out),
		taskErr: taskWriter(stderr, errw),
		events:  make(chan *executorpb.Event, 16),
		reaped:  make(chan exitResult, 1),
		healthC: make(chan checks.HealthStatus, 16),
		checkC:  make(chan *mesospb.CheckStatusInfo, 16),
		quit:    make(chan struct{}),
	}
	if opts.taskCommand != "" {
		c := new(mesospb.CommandInfo)
		if err := codec.Unmarshal(codec.JSON, []byte(opts.taskCommand), c); err != nil {
			fmt.Fprintf(errw, "Failed to parse --task_command: %v\n", err)
			return 1
		}
		x.taskCommand = c
	}
	if opts.taskEnvironment != "" {
		e := new(mesospb.Environment)
		if err := codec.Unmarshal(codec.JSON, []byte(opts.taskEnvironment), e); err != nil {
			fmt.Fprintf(errw, "Failed to parse --task_environment: %v\n", err)
			return 1
		}
		x.taskEnvironment = e
	}
	return x.run(ctx)
}

// taskWriter is what the task's stdout/stderr are set to: the executor's file
// itself when it is one (the task then writes straight into the sandbox
// file), else the executor's serialized writer.
func taskWriter(raw io.Writer, locked *syncWriter) io.Writer {
	if f, ok := raw.(*os.File); ok {
		return f
	}
	return locked
}

// syncWriter serializes writes from the executor and the task's copiers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// commandExecutor is the state of the executor, owned by the goroutine in
// run (an actor): events from the driver, the reaper's result and timers all
// arrive there over channels.
type commandExecutor struct {
	opts            options
	env             func(string) (string, bool)
	cfg             executor.Config
	drv             *executor.Executor
	out, errw       io.Writer
	taskOut         io.Writer
	taskErr         io.Writer
	taskCommand     *mesospb.CommandInfo // --task_command
	taskEnvironment *mesospb.Environment // --task_environment

	events  chan *executorpb.Event
	reaped  chan exitResult
	healthC chan checks.HealthStatus      // from healthChecker
	checkC  chan *mesospb.CheckStatusInfo // from checker
	quit    chan struct{}                 // closed when run returns; unblocks the handler

	healthChecker *checks.HealthChecker // nil without a (valid) health check
	checker       *checks.Checker       // nil without a (valid) check
	// lastStatus is the last update sent: health and check updates are
	// copies of it, as Mesos's command executor keeps its lastTaskStatus.
	lastStatus          *mesospb.TaskStatus
	killedByHealthCheck bool
	cred                *syscall.Credential // the task's user, when switched to

	frameworkInfo *mesospb.FrameworkInfo
	task          *mesospb.TaskInfo
	killPolicy    *mesospb.KillPolicy
	pid           int // the task's pid, also its process group id

	launched       bool
	killed         bool
	killedByMaxCT  bool
	terminated     bool // the task's process was reaped (or never started)
	killStart      time.Time
	killDeadline   time.Time
	escalate       *time.Timer
	completion     *time.Timer
	ackWait        *time.Timer
	terminalUUID   []byte // uuid of the terminal update whose ack ends the executor
	exitCode       int
	done           bool
	escalatedGrace time.Duration
}

func (x *commandExecutor) logf(format string, args ...any) {
	fmt.Fprintf(x.out, format+"\n", args...)
}

func (x *commandExecutor) errorf(format string, args ...any) {
	fmt.Fprintf(x.errw, format+"\n", args...)
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

func (x *commandExecutor) run(ctx context.Context) int {
	x.drv = executor.New(x.cfg)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runDone := make(chan error, 1)
	go func() {
		runDone <- x.drv.Run(runCtx, executor.HandlerFunc(func(_ context.Context, ev *executorpb.Event) error {
			select {
			case x.events <- ev:
			case <-x.quit:
			}
			return nil
		}))
	}()
	defer func() {
		close(x.quit)
		x.drv.Stop()
		cancel()
		<-runDone
		stopTimer(&x.escalate)
		stopTimer(&x.completion)
		stopTimer(&x.ackWait)
		if x.healthChecker != nil {
			x.healthChecker.Stop()
		}
		if x.checker != nil {
			x.checker.Stop()
		}
	}()

	for !x.done {
		select {
		case <-ctx.Done():
			x.errorf("Aborting: %v", ctx.Err())
			x.abortTask()
			return 1
		case err := <-runDone:
			runDone <- err // for the deferred wait
			x.abortTask()
			if err != nil {
				x.errorf("Executor driver stopped: %v", err)
				return 1
			}
			return x.exitCode
		case ev := <-x.events:
			x.handle(ctx, ev)
		case res := <-x.reaped:
			x.onReaped(ctx, res)
		case hs := <-x.healthC:
			x.onHealth(ctx, hs)
		case cs := <-x.checkC:
			x.onCheck(ctx, cs)
		case <-timerC(x.escalate):
			x.escalate = nil
			x.onEscalate()
		case <-timerC(x.completion):
			x.completion = nil
			x.onMaxCompletionTime(ctx)
		case <-timerC(x.ackWait):
			x.ackWait = nil
			x.errorf("Did not receive ACK for the terminal status update from the agent")
			return 1
		}
	}
	return x.exitCode
}

// abortTask kills whatever is left of the task when the executor goes away
// without having seen it end (libmesos kills the executor's process group
// for the same reason).
func (x *commandExecutor) abortTask() {
	if x.launched && !x.terminated {
		_ = killGroup(x.pid, syscall.SIGKILL)
	}
}

func (x *commandExecutor) handle(ctx context.Context, ev *executorpb.Event) {
	x.logf("Received %s event", ev.GetType())
	switch ev.GetType() {
	case executorpb.Event_SUBSCRIBED:
		x.frameworkInfo = ev.GetSubscribed().GetFrameworkInfo()
		x.logf("Subscribed executor on %s", ev.GetSubscribed().GetAgentInfo().GetHostname())
	case executorpb.Event_LAUNCH:
		x.launch(ctx, ev.GetLaunch().GetTask())
	case executorpb.Event_LAUNCH_GROUP:
		// Only the default executor runs task groups.
		x.errorf("LAUNCH_GROUP event is not supported")
		x.shutdown(ctx)
	case executorpb.Event_KILL:
		x.kill(ctx, ev.GetKill().GetTaskId(), ev.GetKill().GetKillPolicy())
	case executorpb.Event_ACKNOWLEDGED:
		if x.terminalUUID != nil && bytes.Equal(ev.GetAcknowledged().GetUuid(), x.terminalUUID) {
			x.done = true
		}
	case executorpb.Event_SHUTDOWN:
		x.shutdown(ctx)
	case executorpb.Event_ERROR:
		x.errorf("Error: %s", ev.GetError().GetMessage())
	}
}

// update sends a status update for taskID and returns it (uuid filled in).
func (x *commandExecutor) update(ctx context.Context, taskID *mesospb.TaskID, state mesospb.TaskState, reason *mesospb.TaskStatus_Reason, message string, mutate func(*mesospb.TaskStatus)) *mesospb.TaskStatus {
	st := &mesospb.TaskStatus{TaskId: taskID, State: state.Enum(), Reason: reason}
	if message != "" {
		st.Message = proto.String(message)
	}
	// Every update of a task with a check carries a check_status, empty
	// until the first result (Mesos's createTaskStatus).
	if ci := x.task.GetCheck(); ci != nil {
		st.CheckStatus = checks.EmptyStatus(ci)
	}
	if mutate != nil {
		mutate(st)
	}
	x.send(ctx, st)
	return st
}

// send forwards st and remembers it as the last status.
func (x *commandExecutor) send(ctx context.Context, st *mesospb.TaskStatus) {
	if err := x.drv.SendUpdate(ctx, st); err != nil {
		x.errorf("Failed to send %s update for task %s: %v", st.GetState(), st.GetTaskId().GetValue(), err)
	}
	x.lastStatus = proto.CloneOf(st)
}

// terminal sends the task's terminal update; its acknowledgement ends the
// executor, or 60 s without one.
func (x *commandExecutor) terminal(ctx context.Context, taskID *mesospb.TaskID, state mesospb.TaskState, reason *mesospb.TaskStatus_Reason, message string, mutate func(*mesospb.TaskStatus)) {
	st := x.update(ctx, taskID, state, reason, message, mutate)
	x.terminalUUID = st.GetUuid()
	stopTimer(&x.ackWait)
	x.ackWait = time.NewTimer(ackTimeout)
}

func (x *commandExecutor) launch(ctx context.Context, task *mesospb.TaskInfo) {
	if x.task != nil {
		x.update(ctx, task.GetTaskId(), mesospb.TaskState_TASK_FAILED, nil,
			`Attempted to run multiple tasks using a "command" executor`, nil)
		return
	}
	x.task = task
	taskID := task.GetTaskId()
	x.update(ctx, taskID, mesospb.TaskState_TASK_STARTING, nil, "", nil)
	x.killPolicy = task.GetKillPolicy()

	command := task.GetCommand()
	if x.taskCommand != nil {
		command = x.taskCommand
	}
	if command == nil {
		x.failLaunch(ctx, fmt.Errorf("expecting task '%s' to have a command", taskID.GetValue()))
		return
	}

	name := x.opts.user
	if name == "" {
		name = command.GetUser()
	}
	if name == "" {
		name = x.frameworkInfo.GetUser()
	}
	cred, err := credential(name, x.opts.switchUser)
	if err != nil {
		x.failLaunch(ctx, err)
		return
	}
	x.cred = cred
	dir := x.opts.workingDirectory
	if dir == "" {
		dir = x.cfg.Directory
	}
	cmd, err := buildCmd(launchSpec{
		command: command,
		env:     x.taskEnv(task, command),
		dir:     dir,
		cred:    cred,
		stdout:  x.taskOut,
		stderr:  x.taskErr,
	})
	if err != nil {
		x.failLaunch(ctx, err)
		return
	}

	if d := task.GetMaxCompletionTime().GetNanoseconds(); d > 0 {
		x.logf("Task %s has a max completion time of %s", taskID.GetValue(), flags.FormatDuration(time.Duration(d)))
		x.completion = time.NewTimer(time.Duration(d))
	}

	x.logf("Starting task %s", taskID.GetValue())
	if err := cmd.Start(); err != nil {
		stopTimer(&x.completion)
		x.failLaunch(ctx, err)
		return
	}
	x.pid = cmd.Process.Pid
	x.launched = true
	x.logf("Forked command at %d", x.pid)
	x.startChecks(task)
	go func(cmd *exec.Cmd) {
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = nil // a non-zero status is reported through the state
		}
		x.reaped <- exitResult{state: cmd.ProcessState, err: err}
	}(cmd)

	// No container_status: the agent fills it in from the containerizer,
	// as Mesos's command executor leaves it to its agent.
	x.update(ctx, taskID, mesospb.TaskState_TASK_RUNNING, nil, "", nil)
}

// failLaunch reports a task that could not be started. Mesos aborts the
// executor in most of these cases, and the agent then fails the task; meso
// reports TASK_FAILED itself, with the reason.
func (x *commandExecutor) failLaunch(ctx context.Context, err error) {
	x.terminated = true
	msg := "Failed to launch command: " + err.Error()
	x.errorf("%s", msg)
	x.terminal(ctx, x.task.GetTaskId(), mesospb.TaskState_TASK_FAILED,
		mesospb.TaskStatus_REASON_COMMAND_EXECUTOR_FAILED.Enum(), msg, nil)
}

// taskEnv builds the task's environment (see Main).
func (x *commandExecutor) taskEnv(task *mesospb.TaskInfo, command *mesospb.CommandInfo) []string {
	var order []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			set(k, v)
		}
	}
	for _, k := range executorEnvKeys {
		if v, ok := x.env(k); ok {
			set(k, v)
		}
	}
	add := func(e *mesospb.Environment) {
		for _, v := range e.GetVariables() {
			// Secrets are resolved to values by the agent; an unresolved one is skipped.
			if v.GetType() == mesospb.Environment_Variable_SECRET {
				continue
			}
			set(v.GetName(), v.GetValue())
		}
	}
	add(x.taskEnvironment)
	add(command.GetEnvironment())
	if rs := task.GetResources(); len(rs) > 0 && rs[0].GetAllocationInfo().GetRole() != "" {
		set("MESOS_ALLOCATION_ROLE", rs[0].GetAllocationInfo().GetRole())
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		if k == executor.EnvAuthenticationToken {
			continue // never visible to the task
		}
		env = append(env, k+"="+vals[k])
	}
	return env
}

// executorEnvKeys are the agent-set variables passed on to the task from the
// lookup function given to Main (they are normally in os.Environ too).
var executorEnvKeys = []string{
	executor.EnvFrameworkID, executor.EnvExecutorID, executor.EnvAgentID,
	executor.EnvDirectory, executor.EnvSandbox, executor.EnvAgentEndpoint,
	executor.EnvAgentPID, executor.EnvCheckpoint, executor.EnvRecoveryTimeout,
	executor.EnvSubscriptionBackoffMax, executor.EnvShutdownGracePeriod,
	"MESOS_HTTP_COMMAND_EXECUTOR",
}

// kill handles a KILL event: the grace period is the event's kill policy,
// else the TaskInfo's, else 3 s.
func (x *commandExecutor) kill(ctx context.Context, taskID *mesospb.TaskID, override *mesospb.KillPolicy) {
	stopTimer(&x.completion)
	grace := defaultKillGracePeriod
	if override.GetGracePeriod() != nil {
		grace = time.Duration(override.GetGracePeriod().GetNanoseconds())
	} else if x.killPolicy.GetGracePeriod() != nil {
		grace = time.Duration(x.killPolicy.GetGracePeriod().GetNanoseconds())
	}
	x.logf("Received kill for task %s with grace period of %s", taskID.GetValue(), flags.FormatDuration(grace))

	if x.task == nil {
		// Mesos aborts on a kill before the launch; meso answers TASK_KILLED
		// for the task it will not run and exits after the acknowledgement.
		if x.terminalUUID == nil {
			x.terminated = true
			x.terminal(ctx, taskID, mesospb.TaskState_TASK_KILLED,
				mesospb.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH.Enum(), "Task killed before it was launched", nil)
		}
		return
	}
	if x.task.GetTaskId().GetValue() != taskID.GetValue() {
		x.errorf("Ignoring kill for task %s: this executor runs task %s", taskID.GetValue(), x.task.GetTaskId().GetValue())
		return
	}
	x.killTask(ctx, grace)
}

// shutdown handles SHUTDOWN: kill the task with the executor's shutdown grace
// period less a buffer, or exit at once when nothing runs.
func (x *commandExecutor) shutdown(ctx context.Context) {
	x.logf("Shutting down")
	if !x.launched {
		if x.terminalUUID == nil {
			x.done = true
		}
		return
	}
	x.killTask(ctx, max(0, x.cfg.ShutdownGracePeriod-shutdownBuffer))
}

// killTask starts (or shortens) the SIGTERM→SIGKILL escalation. A repeated
// kill can only shorten the remaining grace period, never extend it.
func (x *commandExecutor) killTask(ctx context.Context, grace time.Duration) {
	if x.terminated || !x.launched {
		return
	}
	if x.killed {
		if !x.killStart.Add(grace).Before(x.killDeadline) || x.escalate == nil {
			return
		}
		remaining := max(0, grace-time.Since(x.killStart))
		x.logf("Rescheduling escalation to SIGKILL in %s from now", flags.FormatDuration(remaining))
		stopTimer(&x.escalate)
		x.escalate = time.NewTimer(remaining)
		x.killDeadline = x.killStart.Add(grace)
		x.escalatedGrace = grace
		return
	}
	if !x.killedByMaxCT && hasCapability(x.frameworkInfo, mesospb.FrameworkInfo_Capability_TASK_KILLING_STATE) {
		x.update(ctx, x.task.GetTaskId(), mesospb.TaskState_TASK_KILLING, nil, "", nil)
	}
	x.pauseChecks()
	x.logf("Sending SIGTERM to process tree at pid %d", x.pid)
	if err := killGroup(x.pid, syscall.SIGTERM); err != nil {
		x.errorf("Failed to kill the process tree rooted at pid %d: %v", x.pid, err)
		_ = syscall.Kill(x.pid, syscall.SIGTERM)
	}
	x.logf("Scheduling escalation to SIGKILL in %s from now", flags.FormatDuration(grace))
	x.killed = true
	x.killStart = time.Now()
	x.killDeadline = x.killStart.Add(grace)
	x.escalatedGrace = grace
	x.escalate = time.NewTimer(grace)
}

func (x *commandExecutor) onEscalate() {
	if x.terminated {
		return
	}
	x.logf("Process %d did not terminate after %s, sending SIGKILL to process tree at %d",
		x.pid, flags.FormatDuration(x.escalatedGrace), x.pid)
	if err := killGroup(x.pid, syscall.SIGKILL); err != nil {
		x.errorf("Failed to kill the process tree rooted at pid %d: %v", x.pid, err)
		_ = syscall.Kill(x.pid, syscall.SIGKILL)
	}
}

func (x *commandExecutor) onMaxCompletionTime(ctx context.Context) {
	if x.terminated || x.killed {
		return
	}
	x.logf("Killing task %s which exceeded its maximum completion time of %s",
		x.task.GetTaskId().GetValue(), flags.FormatDuration(time.Duration(x.task.GetMaxCompletionTime().GetNanoseconds())))
	x.killedByMaxCT = true
	x.killTask(ctx, 0)
}

func (x *commandExecutor) onReaped(ctx context.Context, res exitResult) {
	x.terminated = true
	x.pauseChecks()
	stopTimer(&x.escalate)
	stopTimer(&x.completion)
	// What the task left behind in its process group goes with it (Mesos's
	// launcher destroys the container, and with it the group, once the
	// executor exits).
	_ = killGroup(x.pid, syscall.SIGKILL)
	go reapGroup(x.pid)

	var (
		state   mesospb.TaskState
		reason  *mesospb.TaskStatus_Reason
		message string
	)
	switch {
	case res.err != nil || res.state == nil:
		state = mesospb.TaskState_TASK_FAILED
		message = fmt.Sprintf("Failed to get exit status for Command: %v", res.err)
	default:
		msg, success := describeExit(res.state)
		message = msg
		switch {
		case x.killedByMaxCT:
			state = mesospb.TaskState_TASK_FAILED
			reason = mesospb.TaskStatus_REASON_MAX_COMPLETION_TIME_REACHED.Enum()
		case x.killed:
			state = mesospb.TaskState_TASK_KILLED
		case success:
			state = mesospb.TaskState_TASK_FINISHED
		default:
			state = mesospb.TaskState_TASK_FAILED
		}
	}
	x.logf("%s (pid: %d)", message, x.pid)
	var mutate func(*mesospb.TaskStatus)
	if x.killed && x.killedByHealthCheck {
		// Mesos marks the terminal update of a task killed for failing its
		// health check healthy:false (and gives no particular reason).
		mutate = func(st *mesospb.TaskStatus) { st.Healthy = proto.Bool(false) }
	}
	x.terminal(ctx, x.task.GetTaskId(), state, reason, message, mutate)
}

func hasCapability(fi *mesospb.FrameworkInfo, t mesospb.FrameworkInfo_Capability_Type) bool {
	for _, c := range fi.GetCapabilities() {
		if c.GetType() == t {
			return true
		}
	}
	return false
}
