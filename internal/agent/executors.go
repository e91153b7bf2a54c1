package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/agent/fetcher"
	"github.com/meso-project/meso/internal/agent/paths"
	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/internal/users"
	"github.com/meso-project/meso/pkg/taskstate"
)

// Executor overhead the agent adds to a command task's resources (Mesos's
// DEFAULT_EXECUTOR_CPUS / DEFAULT_EXECUTOR_MEM).
const (
	commandExecutorCPUs  = 0.1
	commandExecutorMemMB = 32
)

// runTask handles RUN_TASK: the task goes to its executor, which is launched
// first when it does not run yet.
func (a *Agent) runTask(fwInfo *mesospb.FrameworkInfo, task *mesospb.TaskInfo) {
	log := a.log.With("framework_id", fwInfo.GetId().GetValue(), "task_id", task.GetTaskId().GetValue())
	if a.terminating {
		log.Warn("ignoring task: the agent is shutting down")
		return
	}
	fw := a.ensureFramework(fwInfo)
	if fw.state == frameworkTerminating {
		log.Warn("ignoring task: its framework is shutting down")
		return
	}
	switch {
	case task.GetExecutor() != nil:
		info := proto.Clone(task.GetExecutor()).(*mesospb.ExecutorInfo)
		if info.FrameworkId == nil {
			info.FrameworkId = fwInfo.GetId()
		}
		a.launch(fw, info, false, launchItem{task: task})
	case task.GetCommand() != nil:
		a.launch(fw, a.commandExecutorInfo(fwInfo, task), true, launchItem{task: task})
	default:
		a.agentUpdate(fw, nil, task.GetTaskId().GetValue(), mesospb.TaskState_TASK_ERROR,
			mesospb.TaskStatus_REASON_TASK_INVALID, "Task has neither a command nor an executor")
	}
}

// runTaskGroup handles RUN_TASK_GROUP. The group goes to its executor as
// LAUNCH_GROUP: for an ExecutorInfo of type DEFAULT (which has no command;
// the master checks that) the agent runs the built-in default executor,
// Config.DefaultExecutorCommand, as Mesos runs mesos-default-executor; a
// further group for the same executor ID joins the running executor.
func (a *Agent) runTaskGroup(fwInfo *mesospb.FrameworkInfo, exInfo *mesospb.ExecutorInfo, group *mesospb.TaskGroupInfo) {
	if a.terminating {
		return
	}
	if len(group.GetTasks()) == 0 {
		// As Mesos: a group without tasks is ignored.
		a.log.Error("ignoring a task group without tasks", "framework_id", fwInfo.GetId().GetValue())
		return
	}
	fw := a.ensureFramework(fwInfo)
	if fw.state == frameworkTerminating {
		return
	}
	if isDefaultExecutor(exInfo) && exInfo.GetCommand() != nil {
		// The master refuses these (Mesos's agent CHECKs it): the agent
		// would otherwise drop the framework's command for its own.
		for _, t := range group.GetTasks() {
			a.agentUpdate(fw, nil, t.GetTaskId().GetValue(), mesospb.TaskState_TASK_ERROR,
				mesospb.TaskStatus_REASON_TASK_GROUP_INVALID, "'ExecutorInfo.command' must not be set for 'DEFAULT' executor")
		}
		return
	}
	info := proto.Clone(exInfo).(*mesospb.ExecutorInfo)
	if info.FrameworkId == nil {
		info.FrameworkId = fwInfo.GetId()
	}
	a.launch(fw, info, false, launchItem{group: group})
}

// isDefaultExecutor reports whether info names Mesos's default executor.
func isDefaultExecutor(info *mesospb.ExecutorInfo) bool {
	return info.GetType() == mesospb.ExecutorInfo_DEFAULT
}

// launchCommand is the CommandInfo the executor's container runs: the
// ExecutorInfo's, or for a DEFAULT executor the default executor's command
// (Mesos's defaultExecutorCommandInfo, as the framework's user). Like
// Mesos, the agent keeps the ExecutorInfo as the framework gave it (what
// the master and the executor see) and generates the command only to
// launch it. Nil when there is none.
func (a *Agent) launchCommand(ex *executor) *mesospb.CommandInfo {
	if !isDefaultExecutor(ex.info) {
		return ex.info.GetCommand()
	}
	if len(a.cfg.DefaultExecutorCommand) == 0 {
		return nil
	}
	c := &mesospb.CommandInfo{
		Shell:     proto.Bool(false),
		Value:     proto.String(a.cfg.DefaultExecutorCommand[0]),
		Arguments: slices.Clone(a.cfg.DefaultExecutorCommand),
	}
	if u := ex.fw.info.GetUser(); u != "" {
		c.User = proto.String(u)
	}
	return c
}

// commandExecutorInfo synthesizes the ExecutorInfo of the command executor
// for a command task, as Mesos's Slave::getExecutorInfo does.
func (a *Agent) commandExecutorInfo(fwInfo *mesospb.FrameworkInfo, task *mesospb.TaskInfo) *mesospb.ExecutorInfo {
	taskID := task.GetTaskId().GetValue()
	cmd := task.GetCommand()
	name := "(Task: " + taskID + ") "
	switch {
	case cmd.GetShell() && cmd.Value == nil:
		name += "(Command: NO COMMAND)"
	case cmd.GetShell():
		v := cmd.GetValue()
		if len(v) > 15 {
			v = v[:12] + "..."
		}
		name += "(Command: sh -c '" + v + "')"
	case cmd.Value == nil:
		name += "(Command: NO EXECUTABLE)"
	default:
		args := cmd.GetValue() + ", " + strings.Join(cmd.GetArguments(), ", ")
		if len(args) > 15 {
			args = args[:12] + "..."
		}
		name += "(Command: [" + args + "])"
	}
	info := &mesospb.ExecutorInfo{
		ExecutorId:  &mesospb.ExecutorID{Value: proto.String(taskID)},
		FrameworkId: fwInfo.GetId(),
		Name:        proto.String("Command Executor " + name),
		Source:      proto.String(taskID),
		Container:   task.GetContainer(),
		Labels:      task.GetLabels(),
		Discovery:   task.GetDiscovery(),
		Resources:   executorOverhead(task.GetResources()),
		Command: &mesospb.CommandInfo{
			Uris:        cmd.GetUris(),
			Environment: cmd.GetEnvironment(),
			Shell:       proto.Bool(false),
		},
	}
	if u := cmd.GetUser(); u != "" {
		info.Command.User = proto.String(u)
	}
	if len(a.cfg.ExecutorCommand) > 0 {
		info.Command.Value = proto.String(a.cfg.ExecutorCommand[0])
		info.Command.Arguments = slices.Clone(a.cfg.ExecutorCommand)
	}
	if g := task.GetKillPolicy().GetGracePeriod(); g != nil {
		// Leave the executor time to send TASK_KILLED before its container
		// is destroyed (Mesos adds MAX_REAP_INTERVAL + 1 s).
		ns := g.GetNanoseconds() + int64(2*time.Second)
		info.ShutdownGracePeriod = &mesospb.DurationInfo{Nanoseconds: &ns}
	}
	return info
}

// executorOverhead is the command executor's own resources, 0.1 cpus and
// 32 MB mem, allocated to the role of the task's resources: Mesos's
// allowance for the executors it generates (the container gets the task's
// resources on top, so it is a small overcommit the master does not charge).
func executorOverhead(taskResources []*mesospb.Resource) []*mesospb.Resource {
	var alloc *mesospb.Resource_AllocationInfo
	for _, r := range taskResources {
		if r.GetAllocationInfo() != nil {
			alloc = r.GetAllocationInfo()
			break
		}
	}
	return []*mesospb.Resource{
		{Name: proto.String("cpus"), Type: mesospb.Value_SCALAR.Enum(),
			Scalar: &mesospb.Value_Scalar{Value: proto.Float64(commandExecutorCPUs)}, AllocationInfo: alloc},
		{Name: proto.String("mem"), Type: mesospb.Value_SCALAR.Enum(),
			Scalar: &mesospb.Value_Scalar{Value: proto.Float64(commandExecutorMemMB)}, AllocationInfo: alloc},
	}
}

// launch queues item on the executor, launching the executor first when it
// is not running; a running (subscribed) executor gets it at once.
func (a *Agent) launch(fw *framework, info *mesospb.ExecutorInfo, command bool, item launchItem) {
	exID := info.GetExecutorId().GetValue()
	ex := fw.executors[exID]
	if ex != nil && (ex.state == executorTerminating || ex.state == executorTerminated) {
		state := mesospb.TaskState_TASK_LOST
		if fw.partitionAware() {
			state = mesospb.TaskState_TASK_DROPPED
		}
		for _, t := range item.tasks() {
			a.agentUpdate(fw, nil, t.GetTaskId().GetValue(), state, mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED,
				"Executor "+strings.ToLower(ex.state.String()))
		}
		return
	}
	fresh := ex == nil
	if fresh {
		ex = newExecutor(fw, info, command)
		fw.executors[exID] = ex
	}
	ex.queue = append(ex.queue, item)
	for _, t := range item.tasks() {
		ex.queued[t.GetTaskId().GetValue()] = t
		if !fresh {
			a.checkpointTask(ex, ex.newTask(t, mesospb.TaskState_TASK_STAGING))
		}
	}
	switch {
	case fresh:
		a.launchExecutor(ex)
	case ex.state == executorRunning:
		a.growThenDeliver(ex)
	}
}

// deliver sends the executor every queued launch (LAUNCH / LAUNCH_GROUP).
func (a *Agent) deliver(ex *executor) {
	for _, item := range ex.queue {
		ev := &executorpb.Event{Type: executorpb.Event_LAUNCH.Enum()}
		if item.group != nil {
			ev = &executorpb.Event{Type: executorpb.Event_LAUNCH_GROUP.Enum(),
				LaunchGroup: &executorpb.Event_LaunchGroup{TaskGroup: item.group}}
		} else {
			ev.Launch = &executorpb.Event_Launch{Task: item.task}
		}
		for _, t := range item.tasks() {
			ex.addLaunched(ex.newTask(t, mesospb.TaskState_TASK_STAGING))
		}
		ex.send(ev)
		ex.everSentTask = true
	}
	ex.queue = nil
	clear(ex.queued)
}

// promoteQueued turns the queued launch holding taskID (the whole group)
// into launched STAGING tasks, so that updates for them find a Task.
func (ex *executor) promoteQueued(taskID string) {
	for _, t := range ex.removeQueued(taskID) {
		ex.addLaunched(ex.newTask(t, mesospb.TaskState_TASK_STAGING))
	}
}

// launchExecutor creates the sandbox and launches the executor's container
// off the actor; executorLaunched gets the outcome.
func (a *Agent) launchExecutor(ex *executor) {
	fw := ex.fw
	ex.containerID = uuid.NewString()
	ex.launchedAt = time.Now()
	ex.state = executorRegistering
	log := a.log.With("framework_id", fw.id, "executor_id", ex.id, "container_id", ex.containerID)
	fail := func(err error) {
		log.Error("cannot launch executor", "err", err)
		a.metrics.containerLaunchErrors++
		ex.pending = &termination{mesospb.TaskState_TASK_FAILED, mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED,
			"Failed to launch container: " + err.Error()}
		a.executorTerminated(ex)
	}
	command := a.launchCommand(ex)
	argv := commandArgv(command)
	switch {
	case len(argv) == 0 && isDefaultExecutor(ex.info):
		fail(fmt.Errorf("the default executor is not configured on this agent"))
		return
	case len(argv) == 0:
		fail(fmt.Errorf("executor %s has no command (is the command executor configured?)", ex.id))
		return
	}
	a.unscheduleFor(ex)
	dir, err := paths.CreateExecutorRunDir(a.cfg.WorkDir, a.info.GetId().GetValue(), fw.id, ex.id, ex.containerID)
	if err != nil {
		fail(err)
		return
	}
	ex.directory = dir
	a.attachSandbox(ex)
	for _, name := range []string{"stdout", "stderr"} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fail(err)
			return
		}
		f.Close()
	}
	runAs := a.executorUser(ex)
	if runAs != "" {
		if err := chownSandbox(dir, runAs); err != nil {
			fail(err)
			return
		}
	}
	cfg := containerizer.ContainerConfig{
		ID:            ex.containerID,
		Command:       argv,
		Env:           a.executorEnv(ex),
		Dir:           dir,
		Stdout:        filepath.Join(dir, "stdout"),
		Stderr:        filepath.Join(dir, "stderr"),
		User:          runAs,
		Resources:     ex.allocated(""),
		Limits:        ex.limits("", a.cfg.CgroupsEnableCFS),
		ContainerInfo: ex.info.GetContainer(),
		CommandInfo:   command,
	}
	if ex.command {
		if ts := ex.queuedTasks(); len(ts) == 1 {
			cfg.TaskInfo = ts[0]
		}
	}
	persist := a.executorCheckpoints(ex)
	if persist != nil {
		cfg.OnForked = checkpointPID(paths.ForkedPIDPath(a.cfg.WorkDir, a.agentID(), fw.id, ex.id, ex.containerID))
	}
	cid, ctx := ex.containerID, a.ctx
	ex.regTimer = time.AfterFunc(a.cfg.ExecutorRegistrationTimeout, func() {
		a.post(func() { a.registrationTimedOut(ex, cid) })
	})
	uris := command.GetUris()
	go func() {
		if persist != nil {
			persist()
		}
		err := a.fetchAndLaunch(ctx, cfg, runAs, uris)
		if ctx.Err() != nil && err == nil {
			return
		}
		a.post(func() { a.executorLaunched(ex, cid, err) })
	}()
}

// fetchAndLaunch fetches the executor's URIs into its sandbox and
// launches its container (off the actor), as Mesos's containerizer fetches
// between isolating the container and running its command. The fetcher
// cache plans the fetch (which URIs come through the cache); with a launch
// helper the fetch runs inside the container (its cgroups and namespaces,
// as the executor's user), otherwise here before the launch. Either way
// the fetcher's lines go to the sandbox's stderr, the fetched files belong
// to the executor's user, and a failure fails the launch: the tasks end
// TASK_FAILED with REASON_CONTAINER_LAUNCH_FAILED and "Failed to fetch all
// URIs for container '<id>': Failed to fetch '<uri>': <cause>".
func (a *Agent) fetchAndLaunch(ctx context.Context, cfg containerizer.ContainerConfig, runAs string, uris []*mesospb.CommandInfo_URI) error {
	cache := a.fetchCache.Load()
	if len(uris) == 0 || cache == nil {
		err := a.cz.Launch(ctx, cfg)
		if cache != nil && err == nil {
			// Mesos runs its fetcher for every container and counts a
			// fetch of no URIs as a success.
			cache.Count(nil)
		}
		return err
	}
	lease, err := cache.Prepare(ctx, fetcher.Request{ContainerID: cfg.ID, Sandbox: cfg.Dir, User: runAs, URIs: uris})
	if err != nil {
		return &containerizer.LaunchError{ID: cfg.ID,
			Err: fmt.Errorf("Failed to fetch all URIs for container '%s': %w", cfg.ID, err)}
	}
	if f, ok := a.cz.(containerizer.InContainerFetcher); ok && f.FetchesInContainer() {
		plan, err := json.Marshal(lease.Plan)
		if err != nil {
			cache.Finish(lease, false, nil)
			return &containerizer.LaunchError{ID: cfg.ID, Err: err}
		}
		cfg.Fetch = plan
		err = a.cz.Launch(ctx, cfg)
		switch {
		case err == nil:
			cache.Finish(lease, true, nil)
		case errors.Is(err, containerizer.ErrFetch):
			cache.Finish(lease, true, err)
		default:
			cache.Finish(lease, false, nil) // the launch failed before the fetch
		}
		return err
	}
	err = fetchInAgent(ctx, lease.Plan, runAs)
	cache.Finish(lease, true, err)
	if err != nil {
		return &containerizer.LaunchError{ID: cfg.ID, Err: err}
	}
	return a.cz.Launch(ctx, cfg)
}

// executorUser is who ex runs as: its command's user, else its
// framework's; "" when the agent does not switch users.
func (a *Agent) executorUser(ex *executor) string {
	if !a.cfg.SwitchUser {
		return ""
	}
	if u := a.launchCommand(ex).GetUser(); u != "" {
		return u
	}
	return ex.fw.info.GetUser()
}

// fetchInAgent runs plan in the agent's process, for a containerizer
// that cannot fetch inside the container, then gives the fetched files to
// the executor's user.
func fetchInAgent(ctx context.Context, plan fetcher.Plan, runAs string) error {
	// A nested container's sandbox is made by its launch, after the fetch.
	if err := os.MkdirAll(plan.SandboxDirectory, 0o755); err != nil {
		return fmt.Errorf("Failed to fetch all URIs for container '%s': %w", plan.ContainerID, err)
	}
	stderr, err := os.OpenFile(filepath.Join(plan.SandboxDirectory, "stderr"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("Failed to fetch all URIs for container '%s': %w", plan.ContainerID, err)
	}
	defer stderr.Close()
	if err := fetcher.Run(ctx, plan, fetcher.Options{Log: stderr}); err != nil {
		return err
	}
	if err := chownSandbox(plan.SandboxDirectory, runAs); err != nil {
		return fmt.Errorf("Failed to fetch all URIs for container '%s': %w", plan.ContainerID, err)
	}
	return nil
}

// executorLaunched handles the outcome of a container launch (Mesos's
// Slave::executorLaunched).
func (a *Agent) executorLaunched(ex *executor, containerID string, err error) {
	if ex.containerID != containerID || ex.state == executorTerminated {
		return
	}
	log := a.log.With("framework_id", ex.fw.id, "executor_id", ex.id, "container_id", containerID)
	if err != nil {
		a.metrics.containerLaunchErrors++
		switch {
		case errors.Is(err, containerizer.ErrNotSupported):
			// Mesos's NOT_SUPPORTED: no containerizer took the container,
			// so waiting for it finds an unknown container.
			log.Error("none of the enabled containerizers could create a container for the executor",
				"containerizers", "mesos", "err", err)
			ex.unknownContainer = true
		case ex.state == executorTerminating:
			// Destroyed on purpose during the launch; the termination the
			// agent decided stands.
			log.Info("container destroyed during its launch")
		default:
			log.Error("container failed to start", "err", err)
			cause := err
			if le := (*containerizer.LaunchError)(nil); errors.As(err, &le) {
				cause = le.Err
			}
			ex.pending = &termination{mesospb.TaskState_TASK_FAILED, mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED,
				"Failed to launch container: " + cause.Error()}
		}
		ex.exit = &containerizer.Termination{Status: -1, ExitCode: -1}
		a.executorTerminated(ex)
		return
	}
	log.Info("executor launched", "directory", ex.directory)
	a.waitContainer(ex, containerID)
}

// commandArgv turns a CommandInfo into argv: shell commands run under
// /bin/sh -c; otherwise value is executed with arguments[1:] (arguments[0]
// is argv[0] by Mesos's convention).
func commandArgv(c *mesospb.CommandInfo) []string {
	if c == nil || c.Value == nil {
		return nil
	}
	if c.GetShell() {
		return []string{"/bin/sh", "-c", c.GetValue()}
	}
	argv := []string{c.GetValue()}
	if len(c.GetArguments()) > 1 {
		argv = append(argv, c.GetArguments()[1:]...)
	}
	return argv
}

// chownSandbox gives the sandbox to the user the executor runs as, when the
// agent runs as root.
func chownSandbox(dir, name string) error {
	if name == "" || os.Geteuid() != 0 {
		return nil
	}
	cred, err := users.Credential(name)
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	})
}

// executorEnv is the executor's environment (spec §2.2): the agent's
// environment, Config.ExecutorEnvironmentVariables, the MESOS_* variables,
// then the executor command's own environment.
func (a *Agent) executorEnv(ex *executor) []string {
	env := make(map[string]string)
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	// Executors inherit the agent's LIBPROCESS_SSL_* (Mesos passes its
	// environment through), also when the agent's TLS came from its Config.
	maps.Copy(env, a.cfg.TLS.Env())
	maps.Copy(env, a.cfg.ExecutorEnvironmentVariables)
	checkpoint := ex.fw.info.GetCheckpoint()
	env["MESOS_FRAMEWORK_ID"] = ex.fw.id
	env["MESOS_EXECUTOR_ID"] = ex.id
	env["MESOS_DIRECTORY"] = ex.directory
	env["MESOS_SANDBOX"] = ex.directory
	env["MESOS_AGENT_ENDPOINT"] = a.endpoint()
	env["MESOS_SLAVE_ID"] = a.info.GetId().GetValue()
	env["MESOS_SLAVE_PID"] = a.pid()
	env["MESOS_CHECKPOINT"] = boolEnv(checkpoint)
	env["MESOS_HTTP_COMMAND_EXECUTOR"] = "1"
	env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] = formatDuration(a.shutdownGrace(ex))
	env["LIBPROCESS_PORT"] = "0"
	if checkpoint {
		env["MESOS_RECOVERY_TIMEOUT"] = formatDuration(a.cfg.RecoveryTimeout)
		// As in Mesos: an executor retries at least once within the time
		// a restarted agent waits for it.
		env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = formatDuration(a.cfg.ExecutorReregistrationTimeout)
	}
	for _, v := range ex.info.GetCommand().GetEnvironment().GetVariables() {
		if v.GetType() == mesospb.Environment_Variable_SECRET {
			continue // resolved by the environment_secret isolator
		}
		env[v.GetName()] = v.GetValue()
	}
	if key := a.cfg.ExecutorSecretKey; key != nil {
		// Set last: the executor's own environment cannot replace it.
		env[authn.ExecutorTokenEnv] = authn.SignJWT(authn.ExecutorClaims(ex.fw.id, ex.id, ex.containerID), key)
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

func boolEnv(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// formatDuration prints d in Mesos's form: the largest unit giving a whole
// number ("5secs", "1mins", "250ms").
func formatDuration(d time.Duration) string {
	units := []struct {
		d    time.Duration
		name string
	}{
		{7 * 24 * time.Hour, "weeks"}, {24 * time.Hour, "days"}, {time.Hour, "hrs"},
		{time.Minute, "mins"}, {time.Second, "secs"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"},
	}
	for _, u := range units {
		if d != 0 && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// shutdownGrace is ExecutorInfo.shutdown_grace_period, else the flag.
func (a *Agent) shutdownGrace(ex *executor) time.Duration {
	if g := ex.info.GetShutdownGracePeriod(); g != nil && g.GetNanoseconds() > 0 {
		return time.Duration(g.GetNanoseconds())
	}
	return a.cfg.ExecutorShutdownGracePeriod
}

func (a *Agent) registrationTimedOut(ex *executor, containerID string) {
	if ex.containerID != containerID || ex.state != executorRegistering {
		return
	}
	a.log.Warn("executor did not register in time; destroying its container",
		"framework_id", ex.fw.id, "executor_id", ex.id, "container_id", containerID)
	ex.pending = &termination{mesospb.TaskState_TASK_FAILED, mesospb.TaskStatus_REASON_EXECUTOR_REGISTRATION_TIMEOUT,
		"Executor did not register within " + formatDuration(a.cfg.ExecutorRegistrationTimeout)}
	ex.state = executorTerminating
	a.destroy(ex, 0)
}

// destroy destroys the executor's container off the actor; its end is
// reported by the wait goroutine.
func (a *Agent) destroy(ex *executor, grace time.Duration) {
	cid, ctx := ex.containerID, a.ctx
	go func() {
		if err := a.cz.Destroy(ctx, cid, grace); err != nil && ctx.Err() == nil {
			a.log.Debug("destroying container", "container_id", cid, "err", err)
		}
	}()
}

// shutdownExecutor asks the executor to shut down (SHUTDOWN event) and
// destroys its container after the shutdown grace period; an executor that
// never subscribed is destroyed at once (SIGTERM, SIGKILL after the grace).
func (a *Agent) shutdownExecutor(ex *executor, pending *termination) {
	if ex.state == executorTerminating || ex.state == executorTerminated {
		return
	}
	ex.state = executorTerminating
	if ex.pending == nil {
		ex.pending = pending
	}
	if ex.regTimer != nil {
		ex.regTimer.Stop()
	}
	grace := a.shutdownGrace(ex)
	a.log.Info("shutting down executor", "framework_id", ex.fw.id, "executor_id", ex.id, "grace", grace)
	if ex.send(&executorpb.Event{Type: executorpb.Event_SHUTDOWN.Enum()}) {
		cid := ex.containerID
		ex.killTimer = time.AfterFunc(grace, func() {
			a.post(func() {
				if ex.containerID == cid && ex.state == executorTerminating {
					a.destroy(ex, 0)
				}
			})
		})
		return
	}
	a.destroy(ex, grace)
}

func (a *Agent) shutdownExecutorByID(fwID, exID string) {
	fw := a.frameworks[fwID]
	if fw == nil || fw.executors[exID] == nil {
		a.log.Warn("cannot shut down unknown executor", "framework_id", fwID, "executor_id", exID)
		return
	}
	a.shutdownExecutor(fw.executors[exID], nil)
}

// executorExited is called when the executor's container ended.
func (a *Agent) executorExited(ex *executor, containerID string, term containerizer.Termination) {
	if ex.containerID != containerID || ex.state == executorTerminated {
		return
	}
	a.log.Info("executor exited", "framework_id", ex.fw.id, "executor_id", ex.id,
		"container_id", containerID, "status", term.Message, "limited", term.Limitation != nil)
	ex.exit = &term
	// Let the containerizer forget the container.
	a.destroy(ex, 0)
	a.executorTerminated(ex)
}

// executorTerminated fails the executor's unfinished tasks (Mesos's
// sendExecutorTerminatedStatusUpdate), tells the master, and removes the
// executor once nothing waits for an acknowledgement. Updates the executor
// sent before it ended are handled first.
func (a *Agent) executorTerminated(ex *executor) {
	fw := ex.fw
	ex.state = executorTerminated
	ex.stopTimers()
	ex.closeConn()
	if len(ex.updateQueue) > 0 {
		ex.terminateAfterUpdates = true
		return
	}
	a.metrics.executorsTerminated++
	for len(ex.queue) > 0 {
		ex.promoteQueued(ex.queue[0].tasks()[0].GetTaskId().GetValue())
	}
	if fw.state == frameworkTerminating {
		// Nobody acknowledges updates of a removed framework.
		for _, id := range slices.Clone(ex.order) {
			ex.completeTask(id)
		}
	} else {
		defer func() {
			// --recover=cleanup: the updates are checkpointed, for the
			// next agent to deliver; this one stops once its executors
			// are gone (Mesos's TERMINATING agent).
			if a.cleaningUp {
				for _, id := range slices.Clone(ex.order) {
					ex.completeTask(id)
				}
				a.removeExecutor(ex)
			}
		}()
		state, reason, message, limitation := ex.terminationUpdate()
		for _, t := range ex.launchedTasks() {
			if !taskstate.IsTerminal(t.GetState()) {
				a.agentUpdateWith(fw, ex, t.GetTaskId().GetValue(), state, reason, message, func(st *mesospb.TaskStatus) {
					if limitation != nil {
						st.Limitation = &mesospb.TaskResourceLimitation{Resources: limitation.Resources}
					}
				})
			}
		}
	}
	// Like Mesos, only for executors the master knows: not the ones the
	// agent generates for command tasks.
	if ex.exit != nil && !ex.command {
		status := int32(ex.exit.Status)
		a.sendToMaster(&agentapipb.Call{
			Type: agentapipb.Call_EXECUTOR_EXITED.Enum(),
			ExecutorExited: &agentapipb.Call_ExecutorExited{
				FrameworkId: fw.info.GetId(),
				ExecutorId:  ex.info.GetExecutorId(),
				Status:      &status,
			},
		})
	}
	a.maybeRemoveExecutor(ex)
}

// terminationUpdate is what the executor's unfinished tasks become, as
// Mesos decides it: the containerizer's termination (a resource limitation)
// first, then what the agent decided (pendingTermination), else
// TASK_FAILED / REASON_EXECUTOR_TERMINATED "Executor terminated".
func (ex *executor) terminationUpdate() (mesospb.TaskState, mesospb.TaskStatus_Reason, string, *containerizer.Limitation) {
	state, reason := mesospb.TaskState_TASK_FAILED, mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED
	var messages []string
	var lim *containerizer.Limitation
	if ex.exit != nil {
		lim = ex.exit.Limitation
	}
	if ex.pending != nil {
		state, reason = ex.pending.state, ex.pending.reason
		if ex.pending.message != "" {
			messages = append(messages, ex.pending.message)
		}
	}
	switch {
	case lim != nil:
		state, reason = mesospb.TaskState_TASK_FAILED, lim.Reason
		messages = append(messages, lim.Message)
	case ex.unknownContainer:
		messages = append(messages, "Abnormal executor termination: unknown container")
	}
	if len(messages) == 0 {
		return state, reason, "Executor terminated", lim
	}
	return state, reason, strings.Join(messages, "; "), lim
}

// killTask handles KILL_TASK (Mesos's Slave::killTask).
func (a *Agent) killTask(fwID, taskID string, policy *mesospb.KillPolicy) {
	log := a.log.With("framework_id", fwID, "task_id", taskID)
	fw := a.frameworks[fwID]
	if fw == nil || fw.state == frameworkTerminating {
		log.Warn("ignoring kill of a task of an unknown or terminating framework")
		return
	}
	ex := fw.executorOf(taskID)
	if ex == nil {
		state := mesospb.TaskState_TASK_LOST
		if fw.partitionAware() {
			state = mesospb.TaskState_TASK_DROPPED
		}
		a.agentUpdate(fw, nil, taskID, state, mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED, "Cannot find executor")
		return
	}
	if ex.queued[taskID] != nil {
		// Not delivered yet: killed here, with every task of its group.
		// Mesos words it for the group while the executor has not
		// subscribed, and as for a single task once it runs.
		message := "Killed before delivery to the executor"
		if ex.queuedInGroup(taskID) && ex.state != executorRunning {
			message = "A task within the task group was killed before delivery to the executor"
		}
		removed := ex.removeQueued(taskID)
		for _, t := range removed {
			ex.addLaunched(ex.newTask(t, mesospb.TaskState_TASK_STAGING))
		}
		for _, t := range removed {
			a.agentUpdate(fw, ex, t.GetTaskId().GetValue(), mesospb.TaskState_TASK_KILLED,
				mesospb.TaskStatus_REASON_TASK_KILLED_DURING_LAUNCH, message)
		}
		// The executor would wait forever for a task (MESOS-8411); it is shut
		// down once it subscribes, or here when it already has.
		if ex.state == executorRunning && !ex.everSentTask && len(ex.queue) == 0 {
			a.shutdownExecutor(ex, nil)
		}
		return
	}
	switch ex.state {
	case executorTerminating, executorTerminated:
		log.Warn("ignoring kill: the executor is " + ex.state.String())
	case executorRunning:
		ev := &executorpb.Event{Type: executorpb.Event_KILL.Enum(), Kill: &executorpb.Event_Kill{
			TaskId: &mesospb.TaskID{Value: proto.String(taskID)}, KillPolicy: policy}}
		if !ex.send(ev) {
			log.Warn("cannot forward kill: the executor is disconnected")
		}
	}
}

// shutdownFramework handles SHUTDOWN_FRAMEWORK: every executor is shut down
// and the framework is removed once they all ended.
func (a *Agent) shutdownFramework(fwID string) {
	fw := a.frameworks[fwID]
	if fw == nil {
		return
	}
	a.log.Info("shutting down framework", "framework_id", fwID)
	fw.state = frameworkTerminating
	for _, ex := range fw.sortedExecutors() {
		switch ex.state {
		case executorTerminated:
			for _, id := range slices.Clone(ex.order) {
				ex.completeTask(id)
			}
			a.removeExecutor(ex)
		default:
			a.shutdownExecutor(ex, nil)
		}
	}
	if len(fw.executors) == 0 {
		a.removeFramework(fw)
	}
}

func (a *Agent) frameworkMessage(fwID, exID string, data []byte) {
	fw := a.frameworks[fwID]
	var ex *executor
	if fw != nil {
		ex = fw.executors[exID]
	}
	if ex == nil || !ex.send(&executorpb.Event{Type: executorpb.Event_MESSAGE.Enum(),
		Message: &executorpb.Event_Message{Data: data}}) {
		a.log.Warn("dropping framework message for an unknown or unsubscribed executor",
			"framework_id", fwID, "executor_id", exID)
		a.metrics.invalidFrameworkMessages++
		return
	}
	a.metrics.frameworkMessages++
}

func (a *Agent) updateFramework(info *mesospb.FrameworkInfo) {
	if fw := a.frameworks[info.GetId().GetValue()]; fw != nil && fw.state == frameworkRunning {
		fw.info = info
		fw.checkpointed = false
	}
}

// shutdownAgent handles the master's SHUTDOWN: every framework is shut down,
// then Serve returns ErrShutdown (at the latest after the longest shutdown
// grace plus 10 s).
func (a *Agent) shutdownAgent() {
	if a.terminating {
		return
	}
	a.terminating = true
	wait := a.cfg.ExecutorShutdownGracePeriod
	for _, fw := range a.sortedFrameworks() {
		for _, ex := range fw.executors {
			wait = max(wait, a.shutdownGrace(ex))
		}
		a.shutdownFramework(fw.id)
	}
	if len(a.frameworks) == 0 {
		a.finishShutdown()
		return
	}
	time.AfterFunc(wait+10*time.Second, func() { a.post(a.finishShutdown) })
}

func (a *Agent) finishShutdown() {
	select {
	case <-a.shutdown:
	default:
		close(a.shutdown)
	}
}
