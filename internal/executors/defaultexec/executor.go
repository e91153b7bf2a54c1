package defaultexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/executor"
	"github.com/meso-project/meso/pkg/tlsconfig"
)

// Timing constants, as in Mesos's default executor.
const (
	// defaultKillGracePeriod is the SIGTERM→SIGKILL grace when neither the
	// KILL event nor the TaskInfo has a kill policy, and on SHUTDOWN.
	defaultKillGracePeriod = 3 * time.Second
	// ackTimeout is how long the executor waits, once nothing runs, for the
	// acknowledgements of its last updates before it exits anyway.
	ackTimeout = 60 * time.Second
	// retryInterval is the delay before a WAIT_NESTED_CONTAINER whose
	// connection broke (or that the recovering agent refused with 503) is
	// sent again, and before a failed SIGKILL is retried.
	retryInterval = time.Second
)

// Environment variables the executor sets for its tasks.
const (
	envContainerIP    = "MESOS_CONTAINER_IP"
	envAllocationRole = "MESOS_ALLOCATION_ROLE"
)

// Main runs the default executor: the process `meso default-executor`
// becomes, started by the agent for a task group whose ExecutorInfo is of
// type DEFAULT.
//
// args are the flags after the subcommand (see usage); env looks up the
// executor's MESOS_* variables (os.LookupEnv in production); stdout and
// stderr are the executor's own, normally the sandbox's files: the
// executor logs to stderr. Main returns the process exit status: 0 when
// the executor finished as Mesos's does (no task left and every update
// acknowledged, or 60 s after the last task ended without those
// acknowledgements), 1 on errors. When ctx ends Main returns 1; the tasks'
// containers are the agent's to destroy with the executor's.
func Main(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	errw := &syncWriter{w: stderr}
	opts, err := parseFlags(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(errw, "%v\n\n%s", err, usage)
		return 1
	}
	log := slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: opts.level}))
	cfg, api, err := configFromEnv(env)
	if err != nil {
		fmt.Fprintln(errw, err)
		return 1
	}
	cfg.Logger = log.With("component", "executor-driver")
	x := newDefaultExecutor(cfg, api, opts, log)
	return x.run(ctx)
}

// configFromEnv builds the driver's Config and the operator API client from
// the environment. Like mesos-default-executor, it needs MESOS_SANDBOX and
// talks to the operator API at the agent of MESOS_SLAVE_PID
// ("http://ip:port/slave(1)/api/v1"), or MESOS_AGENT_ENDPOINT ("/api/v1")
// when only that is set; over MESOS_DOMAIN_SOCKET when given.
func configFromEnv(env func(string) (string, bool)) (executor.Config, *agentAPI, error) {
	cfg, err := executor.FromEnv(env)
	if err != nil {
		return executor.Config{}, nil, err
	}
	sandbox, ok := env(executor.EnvSandbox)
	if !ok || sandbox == "" {
		return executor.Config{}, nil, fmt.Errorf("Expecting '%s' to be set in the environment", executor.EnvSandbox)
	}
	cfg.Sandbox = sandbox
	// As mesos-default-executor: the agent of MESOS_SLAVE_PID (id@ip:port)
	// at /<id>/api/v1, else MESOS_AGENT_ENDPOINT at /api/v1.
	host, path := cfg.AgentEndpoint, "/api/v1"
	if pid, ok := env(executor.EnvAgentPID); ok && pid != "" {
		id, addr, _ := strings.Cut(pid, "@")
		if _, _, err := net.SplitHostPort(addr); err != nil || id == "" {
			return executor.Config{}, nil, fmt.Errorf("Failed to parse %s '%s'", executor.EnvAgentPID, pid)
		}
		host, path = addr, "/"+id+"/api/v1"
	}
	if cfg.DomainSocket != "" {
		host = "localhost"
	}
	// As mesos-default-executor: https when LIBPROCESS_SSL_ENABLED, except
	// over the agent's Unix socket.
	scheme, tc := cfg.TLS.Scheme(), cfg.TLS
	if cfg.DomainSocket != "" {
		scheme, tc = "http", nil
	}
	api := &agentAPI{url: scheme + "://" + host + path, client: apiClient(cfg.DomainSocket, tc)}
	if cfg.AuthenticationToken != "" {
		api.auth = "Bearer " + cfg.AuthenticationToken
	}
	return cfg, api, nil
}

// apiClient is the operator API's HTTP client: no timeout (waits last as
// long as the tasks), over the agent's Unix socket when it gave one.
func apiClient(socket string, tc *tlsconfig.Config) *http.Client {
	tr := tc.Transport(nil)
	if socket != "" {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}
	}
	return &http.Client{Transport: tr}
}

// syncWriter serializes writes to the executor's stderr.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// container is a task's child container (Mesos's DefaultExecutor::Container).
type container struct {
	id    *mesospb.ContainerID
	task  *mesospb.TaskInfo
	group *mesospb.TaskGroupInfo // the task group the task came in

	lastStatus *mesospb.TaskStatus

	// launchDone: the agent answered the launch (successfully or not).
	launchDone bool
	// launched: the agent launched the container (200 to the launch call).
	launched bool
	// launchError is the agent's answer to a failed launch.
	launchError *string
	// acknowledged: the agent acknowledged an update of the task.
	acknowledged bool
	// killing: the container is being killed (KILL, SHUTDOWN, its group).
	killing bool
	// killingTaskGroup: its task group is being killed.
	killingTaskGroup bool
	// killedByCompletionTimeout: killed for its max_completion_time.
	killedByCompletionTimeout bool

	maxCompletionTimer *time.Timer
	// waitCancel ends the outstanding WAIT_NESTED_CONTAINER, nil if none.
	waitCancel context.CancelFunc

	// check and health are the task's check and health check, nil if
	// none or stopped.
	check, health checker
}

// defaultExecutor is the state of the executor, owned by the goroutine in
// run (an actor): events from the driver, answers of the agent and timers
// arrive there as closures on actions.
type defaultExecutor struct {
	cfg  executor.Config
	api  *agentAPI
	opts options
	log  *slog.Logger
	drv  *executor.Executor

	events  chan *executorpb.Event
	actions chan func()
	quit    chan struct{} // closed when run returns
	ctx     context.Context
	senders sync.WaitGroup // goroutines started for agent calls

	updates *updateQueue

	frameworkInfo       *mesospb.FrameworkInfo
	executorContainerID *mesospb.ContainerID
	// generation counts subscriptions: waits started under an earlier one
	// are stale (Mesos's connectionId).
	generation int

	containers []*container // in launch order (Mesos's LinkedHashMap)
	byTask     map[string]*container
	unacked    map[string]bool // uuids of updates not acknowledged yet

	shuttingDown bool
	unhealthy    bool // some task was killed for failing its health check
	exitTimer    *time.Timer
	done         bool
	exitCode     int
}

func newDefaultExecutor(cfg executor.Config, api *agentAPI, opts options, log *slog.Logger) *defaultExecutor {
	return &defaultExecutor{
		cfg:     cfg,
		api:     api,
		opts:    opts,
		log:     log,
		events:  make(chan *executorpb.Event, 16),
		actions: make(chan func(), 16),
		quit:    make(chan struct{}),
		byTask:  make(map[string]*container),
		unacked: make(map[string]bool),
	}
}

// post runs f on the actor; it is dropped once the executor ended.
func (x *defaultExecutor) post(f func()) {
	select {
	case x.actions <- f:
	case <-x.quit:
	}
}

// goCall runs f off the actor (agent calls); run waits for it on the way out.
func (x *defaultExecutor) goCall(f func(ctx context.Context)) {
	x.senders.Add(1)
	go func() {
		defer x.senders.Done()
		f(x.ctx)
	}()
}

// after runs f on the actor after d.
func (x *defaultExecutor) after(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() { x.post(f) })
}

func (x *defaultExecutor) run(ctx context.Context) int {
	x.drv = executor.New(x.cfg)
	runCtx, cancel := context.WithCancel(ctx)
	x.ctx = runCtx
	x.updates = newUpdateQueue(x.drv, x.log)
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
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		x.updates.run(runCtx)
	}()
	defer func() {
		close(x.quit)
		x.drv.Stop()
		cancel()
		<-runDone
		x.updates.close()
		<-sendDone
		x.senders.Wait()
		x.api.client.CloseIdleConnections()
		x.cfg.HTTPClient.CloseIdleConnections()
		for _, c := range x.containers {
			x.stopContainerTimers(c)
		}
		if x.exitTimer != nil {
			x.exitTimer.Stop()
		}
	}()

	for !x.done {
		select {
		case <-ctx.Done():
			x.log.Error("aborting", "err", ctx.Err())
			return 1
		case err := <-runDone:
			runDone <- err // for the deferred wait
			if err != nil {
				x.log.Error("executor driver stopped", "err", err)
				return 1
			}
			return x.exitCode
		case ev := <-x.events:
			x.received(ev)
		case f := <-x.actions:
			f()
		}
	}
	return x.exitCode
}

func (x *defaultExecutor) stopContainerTimers(c *container) {
	if c.maxCompletionTimer != nil {
		c.maxCompletionTimer.Stop()
		c.maxCompletionTimer = nil
	}
	if c.waitCancel != nil {
		c.waitCancel()
		c.waitCancel = nil
	}
	x.stopChecks(c)
}

// terminate ends the executor (Mesos's terminate(self())).
func (x *defaultExecutor) terminate() {
	x.log.Info("terminating")
	x.done = true
}

func (x *defaultExecutor) received(ev *executorpb.Event) {
	x.log.Info("Received " + ev.GetType().String() + " event")
	switch ev.GetType() {
	case executorpb.Event_SUBSCRIBED:
		x.subscribed(ev.GetSubscribed())
	case executorpb.Event_LAUNCH:
		// A LAUNCH never goes to the default executor.
		x.log.Error("LAUNCH event is not supported")
		x.shutdown()
	case executorpb.Event_LAUNCH_GROUP:
		x.launchGroup(ev.GetLaunchGroup().GetTaskGroup())
	case executorpb.Event_KILL:
		x.killTask(ev.GetKill().GetTaskId().GetValue(), ev.GetKill().GetKillPolicy())
	case executorpb.Event_ACKNOWLEDGED:
		x.acknowledged(ev.GetAcknowledged())
	case executorpb.Event_SHUTDOWN:
		x.shutdown()
	case executorpb.Event_ERROR:
		x.log.Error("Error: " + ev.GetError().GetMessage())
	}
}

func (x *defaultExecutor) subscribed(s *executorpb.Event_Subscribed) {
	x.log.Info("Subscribed executor on " + s.GetAgentInfo().GetHostname())
	x.frameworkInfo = s.GetFrameworkInfo()
	if s.GetContainerId() == nil {
		// Mesos CHECKs this: an agent always names the executor's container.
		x.log.Error("SUBSCRIBED event without the executor's container ID")
		x.exitCode = 1
		x.terminate()
		return
	}
	x.executorContainerID = s.GetContainerId()
	x.generation++
	// After a re-subscription (the agent restarted) the waits start again;
	// those of the old connection are dropped.
	var ids []string
	for _, c := range x.containers {
		if c.waitCancel != nil {
			c.waitCancel()
			c.waitCancel = nil
		}
		if c.launchDone {
			ids = append(ids, c.task.GetTaskId().GetValue())
		}
	}
	if len(ids) > 0 {
		x.wait(ids)
	}
	for _, c := range x.containers {
		for _, ch := range []checker{c.check, c.health} {
			if ch != nil {
				ch.Resume()
			}
		}
	}
}

func (x *defaultExecutor) acknowledged(ack *executorpb.Event_Acknowledged) {
	key := string(ack.GetUuid())
	if !x.unacked[key] {
		x.log.Warn("Received acknowledgement for unknown status update", "task_id", ack.GetTaskId().GetValue())
		return
	}
	delete(x.unacked, key)
	if c := x.byTask[ack.GetTaskId().GetValue()]; c != nil {
		c.acknowledged = true
	}
	if len(x.containers) == 0 && len(x.unacked) == 0 {
		x.terminate()
	}
}

// containerIP is what tasks get as MESOS_CONTAINER_IP: the address
// libprocess would bind (LIBPROCESS_IP), else the agent's, which is the
// container's on the host network the tasks share.
func (x *defaultExecutor) containerIP() string {
	if ip := os.Getenv("LIBPROCESS_IP"); ip != "" {
		return ip
	}
	if host, _, err := net.SplitHostPort(x.cfg.AgentEndpoint); err == nil {
		return host
	}
	return "127.0.0.1"
}

// launchGroup launches every task of group in a container nested under the
// executor's (Mesos's launchGroup/_launchGroup/__launchGroup).
func (x *defaultExecutor) launchGroup(group *mesospb.TaskGroupInfo) {
	if x.shuttingDown {
		x.log.Warn("Ignoring the launch group operation as the executor is shutting down")
		return
	}
	ip := x.containerIP()
	x.log.Info("Setting '" + envContainerIP + "' to: " + ip)
	var (
		launched []*container
		calls    []*agentpb.Call_LaunchContainer
	)
	for _, task := range group.GetTasks() {
		c := &container{
			id: &mesospb.ContainerID{
				Value:  proto.String(uuid.NewString()),
				Parent: proto.CloneOf(x.executorContainerID),
			},
			task:  task,
			group: group,
		}
		x.addContainer(c)
		launched = append(launched, c)
		x.forward(x.newStatus(c, mesospb.TaskState_TASK_STARTING))
		calls = append(calls, launchCall(c, ip))
	}
	x.goCall(func(ctx context.Context) {
		resps := make([]response, len(calls))
		var err error
		for i, call := range calls {
			if resps[i], err = x.api.launch(ctx, call); err != nil {
				break
			}
		}
		x.post(func() { x.groupLaunched(group, launched, resps, err) })
	})
}

// launchCall is the LAUNCH_CONTAINER call for c's task.
func launchCall(c *container, ip string) *agentpb.Call_LaunchContainer {
	task := c.task
	l := &agentpb.Call_LaunchContainer{
		ContainerId: c.id,
		Command:     proto.CloneOf(task.GetCommand()),
		Resources:   task.GetResources(),
		Limits:      task.GetLimits(),
	}
	if task.GetContainer() != nil {
		l.Container = proto.CloneOf(task.GetContainer())
	}
	// Disk volumes are mounted in the executor's container; the task sees
	// them through a SANDBOX_PATH volume of its parent's sandbox, as Mesos
	// sets up.
	for _, r := range task.GetResources() {
		v := r.GetDisk().GetVolume()
		if v == nil {
			continue
		}
		if l.Container == nil {
			l.Container = &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum()}
		}
		l.Container.Volumes = append(l.Container.Volumes, &mesospb.Volume{
			Mode:          v.Mode,
			ContainerPath: v.ContainerPath,
			Source: &mesospb.Volume_Source{
				Type: mesospb.Volume_Source_SANDBOX_PATH.Enum(),
				SandboxPath: &mesospb.Volume_Source_SandboxPath{
					Type: mesospb.Volume_Source_SandboxPath_PARENT.Enum(),
					Path: v.ContainerPath,
				},
			},
		})
	}
	if l.Command == nil {
		l.Command = &mesospb.CommandInfo{}
	}
	if l.Command.Environment == nil {
		l.Command.Environment = &mesospb.Environment{}
	}
	role := ""
	if rs := task.GetResources(); len(rs) > 0 {
		role = rs[0].GetAllocationInfo().GetRole()
	}
	l.Command.Environment.Variables = append(l.Command.Environment.Variables,
		&mesospb.Environment_Variable{Name: proto.String(envContainerIP), Value: proto.String(ip)},
		&mesospb.Environment_Variable{Name: proto.String(envAllocationRole), Value: proto.String(role)},
	)
	return l
}

func (x *defaultExecutor) addContainer(c *container) {
	x.containers = append(x.containers, c)
	x.byTask[c.task.GetTaskId().GetValue()] = c
}

func (x *defaultExecutor) removeContainer(c *container) {
	x.stopContainerTimers(c)
	delete(x.byTask, c.task.GetTaskId().GetValue())
	for i, o := range x.containers {
		if o == c {
			x.containers = append(x.containers[:i], x.containers[i+1:]...)
			break
		}
	}
}

// groupLaunched takes the agent's answers to the launch calls of a group.
func (x *defaultExecutor) groupLaunched(group *mesospb.TaskGroupInfo, cs []*container, resps []response, err error) {
	if x.shuttingDown {
		x.log.Warn("Ignoring the launch group operation as the executor is shutting down")
		return
	}
	if err != nil {
		// The agent went away during the launch: Mesos gives up.
		x.log.Error("Unable to receive a response from the agent for the LAUNCH_CONTAINER call: " + err.Error())
		x.shutdownNow()
		return
	}
	var ids []string
	for i, c := range cs {
		taskID := c.task.GetTaskId().GetValue()
		ids = append(ids, taskID)
		if x.byTask[taskID] != c {
			continue // gone meanwhile
		}
		c.launchDone = true
		resp := resps[i]
		if resp.code != http.StatusOK {
			x.log.Error(fmt.Sprintf("Received '%s' (%s) while launching child container %s of task '%s'",
				resp.status, resp.text(), containerIDString(c.id), taskID))
			c.launchError = proto.String(resp.text())
			continue
		}
		c.launched = true
		if err := x.startChecks(c); err != nil {
			x.log.Error(err.Error())
			x.shutdownNow()
			return
		}
		if d := c.task.GetMaxCompletionTime().GetNanoseconds(); d > 0 {
			dur := time.Duration(d)
			c.maxCompletionTimer = x.after(dur, func() { x.maxCompletion(c, dur) })
		}
		x.linkTaskSandbox(c)
		x.forward(x.newStatus(c, mesospb.TaskState_TASK_RUNNING))
	}
	x.log.Info(fmt.Sprintf("Finished launching tasks %v in child containers", ids))
	x.wait(ids)
}

// linkTaskSandbox makes tasks/<task id> a link to the task's sandbox,
// containers/<container id>, in the executor's sandbox, as Mesos does for
// the web UI (the agent does not map nested containers to tasks).
func (x *defaultExecutor) linkTaskSandbox(c *container) {
	tasks := filepath.Join(x.cfg.Sandbox, "tasks")
	if err := os.MkdirAll(tasks, 0o755); err != nil {
		x.log.Error("Unable to create task directory: " + err.Error())
		return
	}
	target := filepath.Join(x.cfg.Sandbox, "containers", c.id.GetValue())
	if err := os.Symlink(target, filepath.Join(tasks, c.task.GetTaskId().GetValue())); err != nil {
		x.log.Error(fmt.Sprintf("Unable to create symbolic link for container %s of task '%s' due to: %v",
			containerIDString(c.id), c.task.GetTaskId().GetValue(), err))
	}
}

// wait sends WAIT_NESTED_CONTAINER for each of the tasks' containers.
func (x *defaultExecutor) wait(taskIDs []string) {
	x.log.Info(fmt.Sprintf("Waiting on child containers of tasks %v", taskIDs))
	for _, id := range taskIDs {
		if c := x.byTask[id]; c != nil && c.waitCancel == nil {
			x.waitOne(c)
		}
	}
}

func (x *defaultExecutor) waitOne(c *container) {
	gen := x.generation
	ctx, cancel := context.WithCancel(x.ctx)
	c.waitCancel = cancel
	x.log.Info(fmt.Sprintf("Waiting for child container %s of task '%s'", containerIDString(c.id), c.task.GetTaskId().GetValue()))
	x.goCall(func(context.Context) {
		resp, err := x.api.wait(ctx, c.id)
		if ctx.Err() != nil {
			return // cancelled: a newer wait, or the executor is ending
		}
		x.post(func() { x.waited(gen, c, resp, err) })
	})
}

// waited handles the end of a WAIT_NESTED_CONTAINER (Mesos's waited).
func (x *defaultExecutor) waited(gen int, c *container, resp response, err error) {
	if gen != x.generation || x.byTask[c.task.GetTaskId().GetValue()] != c {
		return
	}
	c.waitCancel = nil
	taskID := c.task.GetTaskId().GetValue()
	retry := func() {
		x.after(retryInterval, func() {
			if gen == x.generation && x.byTask[taskID] == c && c.waitCancel == nil {
				x.waitOne(c)
			}
		})
	}
	switch {
	case err != nil:
		x.log.Error(fmt.Sprintf("Connection for waiting on child container %s of task '%s' interrupted: %v",
			containerIDString(c.id), taskID, err))
		retry()
		return
	case resp.code == http.StatusServiceUnavailable:
		x.log.Warn(fmt.Sprintf("Received '%s' (%s) waiting on child container %s of task '%s'",
			resp.status, resp.text(), containerIDString(c.id), taskID))
		retry()
		return
	case resp.code != http.StatusOK && resp.code != http.StatusNotFound:
		x.log.Error(fmt.Sprintf("Received '%s' (%s) waiting on child container %s of task '%s'",
			resp.status, resp.text(), containerIDString(c.id), taskID))
		x.shutdownNow()
		return
	}
	x.stopChecks(c)

	var (
		state      mesospb.TaskState
		message    *string
		reason     *mesospb.TaskStatus_Reason
		limitation *mesospb.TaskResourceLimitation
	)
	if resp.code == http.StatusNotFound {
		// A failed launch, or a race with the container's end.
		switch {
		case c.killing:
			state = mesospb.TaskState_TASK_KILLED
		case c.launchError != nil:
			state = mesospb.TaskState_TASK_FAILED
			message = c.launchError
		default:
			state = mesospb.TaskState_TASK_FAILED
			message = proto.String("Unable to retrieve command's termination information")
		}
	} else {
		r := &agentpb.Response{}
		if err := proto.Unmarshal(resp.body, r); err != nil {
			x.log.Error("cannot decode the answer to WAIT_NESTED_CONTAINER", "err", err)
			x.shutdownNow()
			return
		}
		w := r.GetWaitNestedContainer()
		if w.ExitStatus == nil {
			state = mesospb.TaskState_TASK_FAILED
			if c.launchError != nil {
				message = c.launchError
			} else {
				message = proto.String("Command terminated with unknown status")
			}
		} else {
			status := syscall.WaitStatus(uint32(w.GetExitStatus()))
			switch {
			case c.killedByCompletionTimeout:
				state = mesospb.TaskState_TASK_FAILED
				reason = mesospb.TaskStatus_REASON_MAX_COMPLETION_TIME_REACHED.Enum()
			case c.killing:
				state = mesospb.TaskState_TASK_KILLED
			case status.Exited() && status.ExitStatus() == 0:
				state = mesospb.TaskState_TASK_FINISHED
			default:
				state = mesospb.TaskState_TASK_FAILED
			}
			message = proto.String("Command " + describeStatus(status))
		}
		// The agent knows more about why the container ended (a resource
		// limit): its state, reason and message win.
		if w.State != nil {
			state = w.GetState()
		}
		if w.Reason != nil {
			reason = w.Reason
		}
		if w.Message != nil {
			if message != nil {
				message = proto.String(*message + ": " + w.GetMessage())
			} else {
				message = w.Message
			}
		}
		limitation = w.GetLimitation()
	}

	st := x.newStatus(c, state)
	st.Reason = reason
	st.Message = message
	st.Limitation = limitation
	if x.unhealthy {
		st.Healthy = proto.Bool(false)
	}
	x.forward(st)
	logMsg := fmt.Sprintf("Child container %s of task '%s' completed in state %s", containerIDString(c.id), taskID, state)
	if message != nil {
		logMsg += ": " + *message
	}
	x.log.Info(logMsg)

	// Mesos's restart policy for a task group: when one task fails or is
	// killed, the others of its group are killed.
	if !x.shuttingDown && !c.killingTaskGroup &&
		(state == mesospb.TaskState_TASK_FAILED || state == mesospb.TaskState_TASK_KILLED) {
		var ids []string
		for _, t := range c.group.GetTasks() {
			ids = append(ids, t.GetTaskId().GetValue())
		}
		x.log.Info(fmt.Sprintf("Killing task group containing tasks %v", ids))
		c.killingTaskGroup = true
		for _, t := range c.group.GetTasks() {
			other := x.byTask[t.GetTaskId().GetValue()]
			if other == nil || other == c {
				continue
			}
			other.killingTaskGroup = true
			if other.killing {
				continue // being killed already (MESOS-8051)
			}
			x.kill(other, defaultKillGracePeriod, nil)
		}
	}

	x.removeContainer(c)
	if len(x.containers) == 0 {
		x.shutdownNow()
	}
}

// describeStatus is Mesos's WSTRINGIFY of a wait status.
func describeStatus(s syscall.WaitStatus) string {
	switch {
	case s.Exited():
		return fmt.Sprintf("exited with status %d", s.ExitStatus())
	case s.Signaled():
		return "terminated with signal " + signalText(int(s.Signal()))
	default:
		return fmt.Sprintf("wait status %d", int(s))
	}
}

// signalText is strsignal(3) for sig: Go's names ("terminated", "killed")
// with glibc's capital first letter.
func signalText(sig int) string {
	s := syscall.Signal(sig).String()
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// shutdown handles SHUTDOWN: every container is killed with the default
// grace period, and the executor ends once they are gone.
func (x *defaultExecutor) shutdown() {
	if x.shuttingDown {
		x.log.Warn("Ignoring shutdown since it is in progress")
		return
	}
	x.log.Info("Shutting down")
	x.shuttingDown = true
	if len(x.containers) == 0 {
		x.shutdownNow()
		return
	}
	for _, c := range x.containers {
		if c.killing {
			continue
		}
		x.kill(c, defaultKillGracePeriod, func(err error) {
			// The agent failed while the containers were being killed.
			x.log.Error("Unable to complete the operation of killing child containers: " + err.Error())
			x.shutdownNow()
		})
	}
}

// shutdownNow ends the executor once its updates are acknowledged, or
// after ackTimeout in case the agent never acknowledges them (Mesos's
// _shutdown).
func (x *defaultExecutor) shutdownNow() {
	if len(x.unacked) == 0 {
		x.terminate()
		return
	}
	if x.exitTimer != nil {
		return
	}
	x.log.Info("Terminating after " + ackTimeout.String())
	x.exitTimer = x.after(ackTimeout, x.terminate)
}

// kill starts killing c: SIGTERM now, SIGKILL after grace (Mesos's
// kill(Container*)). onFail, if set, gets the failure of the SIGTERM call.
func (x *defaultExecutor) kill(c *container, grace time.Duration, onFail func(error)) {
	if !c.launched {
		// A container that failed to launch: nothing to kill.
		return
	}
	if c.maxCompletionTimer != nil {
		c.maxCompletionTimer.Stop()
		c.maxCompletionTimer = nil
	}
	c.killing = true
	x.stopChecks(c)
	taskID := c.task.GetTaskId().GetValue()
	x.log.Info(fmt.Sprintf("Killing task %s running in child container %s with SIGTERM signal", taskID, containerIDString(c.id)))
	x.log.Info(fmt.Sprintf("Scheduling escalation to SIGKILL in %s from now", grace))
	x.after(grace, func() { x.escalated(c, grace) })
	if !c.killedByCompletionTimeout && hasCapability(x.frameworkInfo, mesospb.FrameworkInfo_Capability_TASK_KILLING_STATE) {
		x.forward(x.newStatus(c, mesospb.TaskState_TASK_KILLING))
	}
	id := c.id
	x.goCall(func(ctx context.Context) {
		err := x.api.kill(ctx, id, int(syscall.SIGTERM))
		if err == nil || ctx.Err() != nil {
			return
		}
		x.post(func() {
			x.log.Warn(fmt.Sprintf("Failed to kill the task '%s' running in child container %s: %v", taskID, containerIDString(id), err))
			if onFail != nil {
				onFail(err)
			}
		})
	})
}

// escalated sends SIGKILL to a container that outlived its grace period,
// retrying every second while the agent fails to.
func (x *defaultExecutor) escalated(c *container, grace time.Duration) {
	taskID := c.task.GetTaskId().GetValue()
	if x.byTask[taskID] != c {
		x.log.Warn(fmt.Sprintf("Ignoring escalation to SIGKILL since the task '%s' running in child container %s has already terminated",
			taskID, containerIDString(c.id)))
		return
	}
	x.log.Info(fmt.Sprintf("Task '%s' running in child container %s did not terminate after %s, sending SIGKILL to the container",
		taskID, containerIDString(c.id), grace))
	x.goCall(func(ctx context.Context) {
		err := x.api.kill(ctx, c.id, int(syscall.SIGKILL))
		if err == nil || ctx.Err() != nil {
			return
		}
		x.post(func() {
			x.log.Warn(fmt.Sprintf("Escalation to SIGKILL the task '%s' running in child container %s failed: %v; Retrying in %s",
				taskID, containerIDString(c.id), err, retryInterval))
			x.after(retryInterval, func() { x.escalated(c, grace) })
		})
	})
}

// killTask handles KILL: the event's kill policy, else the task's, else 3 s.
func (x *defaultExecutor) killTask(taskID string, policy *mesospb.KillPolicy) {
	if x.shuttingDown {
		x.log.Warn("Ignoring kill for task '" + taskID + "' since the executor is shutting down")
		return
	}
	x.log.Info("Received kill for task '" + taskID + "'")
	c := x.byTask[taskID]
	if c == nil {
		x.log.Warn("Ignoring kill for task '" + taskID + "' as it is no longer active")
		return
	}
	if c.killing {
		x.log.Warn("Ignoring kill for task '" + taskID + "' as it is in the process of getting killed")
		return
	}
	grace := defaultKillGracePeriod
	if policy.GetGracePeriod() != nil {
		grace = time.Duration(policy.GetGracePeriod().GetNanoseconds())
	} else if g := c.task.GetKillPolicy().GetGracePeriod(); g != nil {
		grace = time.Duration(g.GetNanoseconds())
	}
	x.kill(c, grace, nil)
}

// maxCompletion kills a task that ran past its max_completion_time.
func (x *defaultExecutor) maxCompletion(c *container, d time.Duration) {
	if x.byTask[c.task.GetTaskId().GetValue()] != c || c.maxCompletionTimer == nil {
		return
	}
	x.log.Info(fmt.Sprintf("Killing task %s which exceeded its maximum completion time of %s", c.task.GetTaskId().GetValue(), d))
	c.maxCompletionTimer = nil
	c.killedByCompletionTimeout = true
	if c.killing {
		return
	}
	x.kill(c, 0, nil)
}

// newStatus is a fresh status of c's task (Mesos's createTaskStatus): the
// task's container ID in container_status, and an empty check_status of the
// check's type when the task has a check.
func (x *defaultExecutor) newStatus(c *container, state mesospb.TaskState) *mesospb.TaskStatus {
	u := uuid.New()
	st := &mesospb.TaskStatus{
		TaskId:          c.task.GetTaskId(),
		State:           state.Enum(),
		Uuid:            u[:],
		Timestamp:       proto.Float64(float64(time.Now().UnixNano()) / 1e9),
		ExecutorId:      &mesospb.ExecutorID{Value: proto.String(x.cfg.ExecutorID)},
		Source:          mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
		ContainerStatus: &mesospb.ContainerStatus{ContainerId: proto.CloneOf(c.id)},
	}
	if chk := c.task.GetCheck(); chk != nil {
		cs := &mesospb.CheckStatusInfo{Type: chk.Type}
		switch chk.GetType() {
		case mesospb.CheckInfo_COMMAND:
			cs.Command = &mesospb.CheckStatusInfo_Command{}
		case mesospb.CheckInfo_HTTP:
			cs.Http = &mesospb.CheckStatusInfo_Http{}
		case mesospb.CheckInfo_TCP:
			cs.Tcp = &mesospb.CheckStatusInfo_Tcp{}
		}
		st.CheckStatus = cs
	}
	return st
}

// forward sends a status update, keeping it as unacknowledged and as the
// task's last status.
func (x *defaultExecutor) forward(st *mesospb.TaskStatus) {
	x.unacked[string(st.GetUuid())] = true
	if c := x.byTask[st.GetTaskId().GetValue()]; c != nil {
		c.lastStatus = st
	}
	x.updates.push(proto.CloneOf(st))
}

func hasCapability(fi *mesospb.FrameworkInfo, t mesospb.FrameworkInfo_Capability_Type) bool {
	for _, c := range fi.GetCapabilities() {
		if c.GetType() == t {
			return true
		}
	}
	return false
}

// updateQueue sends status updates in order, off the actor (an UPDATE may
// wait for a recovering agent).
type updateQueue struct {
	drv *executor.Executor
	log *slog.Logger

	mu     sync.Mutex
	queue  []*mesospb.TaskStatus
	closed bool
	notify chan struct{}
}

func newUpdateQueue(drv *executor.Executor, log *slog.Logger) *updateQueue {
	return &updateQueue{drv: drv, log: log, notify: make(chan struct{}, 1)}
}

func (q *updateQueue) push(st *mesospb.TaskStatus) {
	q.mu.Lock()
	q.queue = append(q.queue, st)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *updateQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// run sends queued updates until close. A failed send is not retried here:
// the driver keeps the update and resends it on the next SUBSCRIBE.
func (q *updateQueue) run(ctx context.Context) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return
		}
		var st *mesospb.TaskStatus
		if len(q.queue) > 0 {
			st = q.queue[0]
			q.queue = q.queue[1:]
		}
		q.mu.Unlock()
		if st == nil {
			<-q.notify
			continue
		}
		if err := q.drv.SendUpdate(ctx, st); err != nil && ctx.Err() == nil {
			q.log.Warn("failed to send a status update", "task_id", st.GetTaskId().GetValue(),
				"state", st.GetState().String(), "err", err)
		}
	}
}
