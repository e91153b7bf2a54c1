// Package cli implements meso's command-line verbs.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/user"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/resources"
	"github.com/meso-project/meso/pkg/scheduler"
	"github.com/meso-project/meso/pkg/taskstate"
	"github.com/meso-project/meso/pkg/tlsconfig"
)

// Defaults of `meso execute`.
const (
	DefaultExecuteResources     = "cpus:0.1;mem:32"
	DefaultExecuteFrameworkName = "meso-execute instance"
	// defaultExecutorID and defaultExecutorResources are those of the
	// DEFAULT executor mesos-execute launches a task group with.
	defaultExecutorID        = "default-executor"
	defaultExecutorResources = "cpus:0.1;mem:32;disk:32"
)

// Tunables of Execute (variables so tests can shorten them).
var (
	// declineRefuse is the filter put on offers we do not use: we need
	// exactly one offer, so keep the others away for long.
	declineRefuse = time.Hour.Seconds()
	// connectAttempts is how many consecutive failed subscription attempts
	// are tolerated before the first SUBSCRIBED, and reconnectAttempts after
	// it (the backoff grows to 15 s, so 10 is about a minute and a half).
	connectAttempts   = 3
	reconnectAttempts = 10
	// teardownTimeout bounds the final TEARDOWN call.
	teardownTimeout = 5 * time.Second
)

// ExecuteConfig is the configuration of `meso execute`, a one-shot
// framework in the spirit of Mesos's mesos-execute: it runs one command
// task and exits with its outcome.
type ExecuteConfig struct {
	// Task is the --task value: a TaskInfo in JSON (the Mesos JSON
	// dialect), or the path of a file holding one ("/path" or
	// "file:///path"). The task is launched as given, with the offer's agent
	// id and its resources taken from the offer. Exclusive with TaskGroup
	// and with Name, Command and Env.
	Task string
	// TaskGroup is the --task_group value: a TaskGroupInfo in JSON, or a
	// path as for Task. Its tasks are launched together (LAUNCH_GROUP) with
	// a DEFAULT executor ("default-executor", cpus:0.1;mem:32;disk:32).
	TaskGroup string
	// Master is the --master value: host:port, master@host:port,
	// http://host:port, or zk://host:port[,...]/path (the leader is found
	// and followed through ZooKeeper).
	Master string
	// Name is the task name and task id (required without Task and
	// TaskGroup).
	Name string
	// Command is the command to run (required when Shell).
	Command string
	// Shell runs Command with /bin/sh -c (CommandInfo.shell=true). When
	// false, Command is split on white space into argv (no quoting rules)
	// and exec'ed directly. NewExecuteConfig sets it to true.
	Shell bool
	// Env is a JSON object of environment variables for the task
	// ({"NAME": "value"}), or "file:///path" of a file holding one.
	Env string
	// Resources the task needs (default "cpus:0.1;mem:32").
	Resources string
	// FrameworkName is FrameworkInfo.name (default "meso-execute instance").
	FrameworkName string
	// Role is FrameworkInfo.role (default "*"), the deprecated single role.
	Role string
	// Checkpoint sets FrameworkInfo.checkpoint.
	Checkpoint bool
	// PartitionAware adds the PARTITION_AWARE capability, as
	// mesos-execute's --partition_aware (NewExecuteConfig sets it to true):
	// the framework then sees TASK_UNREACHABLE, TASK_DROPPED, TASK_GONE...
	// rather than TASK_LOST.
	PartitionAware bool
	// KillAfter, when positive, kills the task that long after it reports
	// TASK_RUNNING.
	KillAfter time.Duration
	// ContentType of the scheduler API: codec.Protobuf (default) or
	// codec.JSON; "protobuf" and "json" are accepted too.
	ContentType codec.MediaType
	// User is FrameworkInfo.user (default: the current user).
	User string
	// Logger receives the scheduler library's logs (default: discarded).
	Logger *slog.Logger
	// TLS is the LIBPROCESS_SSL_* setting (nil: plain http to the master).
	TLS *tlsconfig.Config
	// Principal is FrameworkInfo.principal (--principal); with Secret
	// (--secret) it is also the credential the framework authenticates
	// with, as mesos-execute does.
	Principal, Secret string
	// HasSecret tells an empty --secret from none.
	HasSecret bool
}

// NewExecuteConfig returns an ExecuteConfig with the defaults filled in
// (notably Shell: true, which a zero ExecuteConfig cannot express).
func NewExecuteConfig() ExecuteConfig {
	return ExecuteConfig{
		Master:         "127.0.0.1:5050",
		Shell:          true,
		Resources:      DefaultExecuteResources,
		FrameworkName:  DefaultExecuteFrameworkName,
		Role:           "*",
		ContentType:    codec.Protobuf,
		PartitionAware: true,
	}
}

// errFinished ends Run once the task reached a terminal state.
var errFinished = errors.New("task reached a terminal state")

// Execute subscribes a framework to the master, launches one task (or a task
// group) on the first offer that holds its resources, prints the status
// updates, and returns the process exit code once every task is terminal:
// 0 when they all finished (TASK_FINISHED), 1 otherwise (task failed, killed, lost...; bad configuration; the master
// unreachable or refusing the framework). The framework is torn down before
// Execute returns, also when ctx is cancelled. Progress and errors are
// written to out.
func Execute(ctx context.Context, cfg ExecuteConfig, out io.Writer) int {
	p := &printer{w: out}
	x, err := newExecution(cfg, p)
	if err != nil {
		p.printf("meso execute: %v\n", err)
		return 1
	}
	return x.run(ctx)
}

type execution struct {
	cfg ExecuteConfig
	out *printer
	// tasks are templates: agent id and resources from the offer are set at
	// launch; their resources are the requirement.
	tasks  []*mesospb.TaskInfo
	group  bool // launch tasks as a task group (--task_group)
	client *scheduler.Client

	// Owned by the event handler goroutine.
	launched bool
	final    map[string]*mesospb.TaskStatus // terminal updates by task id
	killers  map[string]*time.Timer         // --kill_after, by task id; guarded by killMu

	stopping atomic.Bool // interrupted: tearing down, do not reconnect

	killMu sync.Mutex // guards killer
	killWG sync.WaitGroup
}

// printer serialises writes to out (the kill timer prints too).
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

func newExecution(cfg ExecuteConfig, out *printer) (*execution, error) {
	if cfg.Master == "" {
		return nil, errors.New("missing required option --master")
	}
	if cfg.Task != "" && cfg.TaskGroup != "" {
		return nil, errors.New("Either task or task group should be set but not both. Provide either '--task' OR '--task_group'")
	}
	if cfg.Task != "" || cfg.TaskGroup != "" {
		if cfg.Name != "" || cfg.Command != "" || cfg.Env != "" {
			return nil, errors.New("'--name, --command, --env, --appc_image, --docker_image, --volumes' can only be set when both '--task' and '--task_group' are not set")
		}
	} else {
		if cfg.Name == "" {
			return nil, errors.New("missing required option --name")
		}
		if cfg.Command == "" {
			return nil, errors.New("missing required option --command")
		}
	}
	if cfg.Resources == "" {
		cfg.Resources = DefaultExecuteResources
	}
	if cfg.FrameworkName == "" {
		cfg.FrameworkName = DefaultExecuteFrameworkName
	}
	if cfg.Role == "" {
		cfg.Role = "*"
	}
	switch strings.ToLower(string(cfg.ContentType)) {
	case "", "protobuf", string(codec.Protobuf):
		cfg.ContentType = codec.Protobuf
	case "json", string(codec.JSON):
		cfg.ContentType = codec.JSON
	default:
		return nil, fmt.Errorf("invalid content type '%s' (want 'protobuf' or 'json')", cfg.ContentType)
	}
	if cfg.User == "" {
		u, err := currentUser()
		if err != nil {
			return nil, err
		}
		cfg.User = u
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	x := &execution{cfg: cfg, out: out, final: map[string]*mesospb.TaskStatus{}, killers: map[string]*time.Timer{}}
	switch {
	case cfg.Task != "":
		task := new(mesospb.TaskInfo)
		if err := loadJSON("task", cfg.Task, task); err != nil {
			return nil, err
		}
		x.tasks = []*mesospb.TaskInfo{task}
	case cfg.TaskGroup != "":
		group := new(mesospb.TaskGroupInfo)
		if err := loadJSON("task_group", cfg.TaskGroup, group); err != nil {
			return nil, err
		}
		if len(group.GetTasks()) == 0 {
			return nil, errors.New("failed to load flag 'task_group': the task group has no tasks")
		}
		x.tasks, x.group = group.GetTasks(), true
	default:
		task, err := commandTask(cfg)
		if err != nil {
			return nil, err
		}
		x.tasks = []*mesospb.TaskInfo{task}
	}

	client, err := scheduler.New(scheduler.Config{
		Master:       cfg.Master,
		Framework:    x.frameworkInfo(),
		ContentType:  cfg.ContentType,
		Logger:       cfg.Logger,
		TLS:          cfg.TLS,
		OnDisconnect: x.onDisconnect,
		Credential:   x.credential(),
	})
	if err != nil {
		return nil, err
	}
	x.client = client
	return x, nil
}

// loadJSON reads a --task or --task_group value into m: JSON, or the path of
// a file holding it when the value starts with "/" or "file://" (Mesos's
// rule for flags of message types).
func loadJSON(flag, value string, m proto.Message) error {
	text := strings.TrimSpace(value)
	path, isFile := strings.CutPrefix(text, "file://")
	if !isFile && strings.HasPrefix(text, "/") {
		path, isFile = text, true
	}
	if isFile {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("failed to load flag '%s': %w", flag, err)
		}
		text = string(b)
	}
	if err := codec.Unmarshal(codec.JSON, []byte(text), m); err != nil {
		return fmt.Errorf("failed to load flag '%s': %w", flag, err)
	}
	return nil
}

// commandTask is the task of --name, --command, --env and --resources.
func commandTask(cfg ExecuteConfig) (*mesospb.TaskInfo, error) {
	required, err := resources.Parse(cfg.Resources, "*")
	if err != nil {
		return nil, fmt.Errorf("failed to parse resources '%s': %w", cfg.Resources, err)
	}
	env, err := parseEnv(cfg.Env)
	if err != nil {
		return nil, err
	}

	command := &mesospb.CommandInfo{Shell: proto.Bool(cfg.Shell)}
	if cfg.Shell {
		command.Value = proto.String(cfg.Command)
	} else {
		argv := strings.Fields(cfg.Command)
		if len(argv) == 0 {
			return nil, errors.New("missing required option --command")
		}
		command.Value = proto.String(argv[0])
		command.Arguments = argv
	}
	if len(env) > 0 {
		command.Environment = &mesospb.Environment{}
		for _, name := range slices.Sorted(maps.Keys(env)) {
			command.Environment.Variables = append(command.Environment.Variables, &mesospb.Environment_Variable{
				Name:  proto.String(name),
				Type:  mesospb.Environment_Variable_VALUE.Enum(),
				Value: proto.String(env[name]),
			})
		}
	}
	return &mesospb.TaskInfo{
		Name:      proto.String(cfg.Name),
		TaskId:    &mesospb.TaskID{Value: proto.String(cfg.Name)},
		Resources: required,
		Command:   command,
	}, nil
}

func currentUser() (string, error) {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username, nil
	}
	if u := os.Getenv("USER"); u != "" {
		return u, nil
	}
	return "", fmt.Errorf("failed to get the current user name (set --user)")
}

// parseEnv reads --env: a JSON object of strings, or file:///path to one.
func parseEnv(text string) (map[string]string, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	if path, ok := strings.CutPrefix(text, "file://"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("failed to read --env: %w", err)
		}
		text = string(b)
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(text), &env); err != nil {
		return nil, fmt.Errorf("failed to parse --env (want a JSON object of strings, e.g. {\"NAME\": \"value\"}): %w", err)
	}
	return env, nil
}

// frameworkInfo is what mesos-execute subscribes with: the deprecated single
// role (hence no MULTI_ROLE capability), RESERVATION_REFINEMENT (offers in
// the reservation-stack format), TASK_KILLING_STATE, REVOCABLE_RESOURCES
// (offered, never used: see fit) and, unless disabled, PARTITION_AWARE.
func (x *execution) frameworkInfo() *mesospb.FrameworkInfo {
	capability := func(t mesospb.FrameworkInfo_Capability_Type) *mesospb.FrameworkInfo_Capability {
		return &mesospb.FrameworkInfo_Capability{Type: t.Enum()}
	}
	var principal *string
	if x.cfg.Principal != "" {
		principal = proto.String(x.cfg.Principal)
	}
	caps := []*mesospb.FrameworkInfo_Capability{
		capability(mesospb.FrameworkInfo_Capability_RESERVATION_REFINEMENT),
		capability(mesospb.FrameworkInfo_Capability_TASK_KILLING_STATE),
		capability(mesospb.FrameworkInfo_Capability_REVOCABLE_RESOURCES),
	}
	if x.cfg.PartitionAware {
		caps = append(caps, capability(mesospb.FrameworkInfo_Capability_PARTITION_AWARE))
	}
	return &mesospb.FrameworkInfo{
		Principal:    principal,
		User:         proto.String(x.cfg.User),
		Name:         proto.String(x.cfg.FrameworkName),
		Role:         proto.String(x.cfg.Role),
		Checkpoint:   proto.Bool(x.cfg.Checkpoint),
		Capabilities: caps,
	}
}

// connectError is how Execute gives up on an unreachable master.
type connectError struct {
	master     string
	err        error
	subscribed bool
}

func (e *connectError) Error() string {
	var b strings.Builder
	if e.subscribed {
		fmt.Fprintf(&b, "lost the connection to the master at %s: %v", e.master, e.err)
	} else {
		fmt.Fprintf(&b, "failed to subscribe to the master at %s: %v", e.master, e.err)
	}
	var se *scheduler.StatusError
	switch {
	case errors.As(e.err, &se):
		fmt.Fprintf(&b, "\nThe master answered %s; is it the leading master, and has it finished starting?", se.Status)
	case isConnRefused(e.err):
		fmt.Fprintf(&b, "\nIs a master running at %s? Start one with `meso local`, or point --master at a running master.", e.master)
	default:
		fmt.Fprintf(&b, "\nCheck that --master=%s names a reachable Mesos master (host:port, or zk://host:port/path).", e.master)
	}
	return b.String()
}

func isConnRefused(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}

// onDisconnect decides whether to keep trying (on Run's goroutine).
func (x *execution) onDisconnect(err error, failures int, subscribed bool) error {
	if x.stopping.Load() {
		return err // interrupted; the stream ended because of our TEARDOWN
	}
	limit := connectAttempts
	if subscribed {
		limit = reconnectAttempts
	}
	if failures >= limit {
		return &connectError{master: x.cfg.Master, err: err, subscribed: subscribed}
	}
	if subscribed && failures == 1 {
		x.out.printf("Disconnected from the master (%v); reconnecting\n", err)
	}
	return nil
}

func (x *execution) run(ctx context.Context) int {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()

	// On interruption, tear the framework down while the stream is still
	// open (calls need it), then stop Run.
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		close(interrupted)
		x.stopping.Store(true)
		x.teardown()
		cancel()
	})
	defer stop()

	err := x.client.Run(runCtx, x.handle)
	_ = x.client.Close() // a zk:// master's detector and its session
	x.stopKiller()
	x.killWG.Wait() // a kill in flight finishes printing before we return

	select {
	case <-interrupted:
		x.out.printf("Interrupted: %v\n", context.Cause(ctx))
		return 1
	default:
	}
	var ee *scheduler.EventError
	var ce *connectError
	var se *scheduler.StatusError
	switch {
	case errors.Is(err, errFinished):
		for _, st := range x.final {
			if st.GetState() != mesospb.TaskState_TASK_FINISHED {
				return 1
			}
		}
		return 0
	case errors.As(err, &ee):
		x.out.printf("Received an ERROR event: %s\n", ee.Message)
	case errors.As(err, &ce):
		x.out.printf("meso execute: %v\n", ce)
	case errors.As(err, &se):
		x.out.printf("meso execute: the master at %s refused the framework: %s %s\n", se.Master, se.Status, se.Body)
	case err != nil:
		x.out.printf("meso execute: %v\n", err)
	}
	return 1
}

// teardown removes the framework (best effort; bounded in time).
func (x *execution) teardown() {
	if x.client.StreamID() == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer cancel()
	if err := x.client.Call(ctx, scheduler.Teardown()); err != nil {
		x.out.printf("Failed to tear down the framework: %v\n", err)
	}
}

// handle runs on the scheduler library's event goroutine.
func (x *execution) handle(ctx context.Context, ev *schedulerpb.Event) error {
	switch ev.GetType() {
	case schedulerpb.Event_SUBSCRIBED:
		x.out.printf("Subscribed with ID %s\n", ev.GetSubscribed().GetFrameworkId().GetValue())
	case schedulerpb.Event_OFFERS:
		return x.offers(ctx, ev.GetOffers().GetOffers())
	case schedulerpb.Event_UPDATE:
		return x.update(ctx, ev.GetUpdate().GetStatus())
	}
	// HEARTBEAT, RESCIND, FAILURE, MESSAGE, inverse offers: nothing to do.
	// ERROR is returned by Run.
	return nil
}

func (x *execution) offers(ctx context.Context, offers []*mesospb.Offer) error {
	var decline []*mesospb.OfferID
	for _, offer := range offers {
		if x.launched {
			decline = append(decline, offer.GetId())
			continue
		}
		tasks, ok := x.fitTasks(offer)
		if !ok {
			x.cfg.Logger.Debug("offer does not hold the tasks' resources", "offer_id", offer.GetId().GetValue(), "agent_id", offer.GetAgentId().GetValue())
			decline = append(decline, offer.GetId())
			continue
		}
		op, err := x.launchOperation(tasks)
		if err != nil {
			return err
		}
		call := scheduler.Accept([]*mesospb.OfferID{offer.GetId()}, []*mesospb.Offer_Operation{op}, nil)
		if err := x.client.Call(ctx, call); err != nil {
			return fmt.Errorf("failed to launch %s: %w", x.what(), err)
		}
		if x.group {
			ids := make([]string, len(tasks))
			for i, t := range tasks {
				ids[i] = t.GetTaskId().GetValue()
			}
			x.out.printf("Submitted task group with tasks [ %s ] to agent '%s'\n", strings.Join(ids, ", "), offer.GetAgentId().GetValue())
		} else {
			x.out.printf("Submitted task '%s' to agent '%s'\n", tasks[0].GetName(), offer.GetAgentId().GetValue())
		}
		x.launched = true
	}
	if len(decline) > 0 {
		if err := x.client.Call(ctx, scheduler.Decline(decline, scheduler.RefuseFor(declineRefuse))); err != nil {
			x.cfg.Logger.Warn("failed to decline offers", "error", err)
		}
	}
	return nil
}

func (x *execution) what() string {
	if x.group {
		return "the task group"
	}
	return fmt.Sprintf("task '%s'", x.tasks[0].GetName())
}

// fitTasks checks that offer holds all the tasks' resources together, then
// gives each task its resources from the offer and the offer's agent id, as
// mesos-execute does.
func (x *execution) fitTasks(offer *mesospb.Offer) ([]*mesospb.TaskInfo, bool) {
	var all []*mesospb.Resource
	for _, t := range x.tasks {
		all = append(all, t.GetResources()...)
	}
	if _, ok := fit(offer, all, x.cfg.Role); !ok {
		return nil, false
	}
	out := make([]*mesospb.TaskInfo, len(x.tasks))
	for i, t := range x.tasks {
		res, ok := fit(offer, t.GetResources(), x.cfg.Role)
		if !ok {
			return nil, false
		}
		task := proto.CloneOf(t)
		task.AgentId = proto.CloneOf(offer.GetAgentId())
		task.Resources = res
		out[i] = task
	}
	return out, true
}

// launchOperation is LAUNCH of the task, or LAUNCH_GROUP of the group with
// mesos-execute's DEFAULT executor.
func (x *execution) launchOperation(tasks []*mesospb.TaskInfo) (*mesospb.Offer_Operation, error) {
	if !x.group {
		return scheduler.LaunchOperation(tasks[0]), nil
	}
	res, err := resources.Parse(defaultExecutorResources, "*")
	if err != nil {
		return nil, fmt.Errorf("default executor resources: %w", err)
	}
	return &mesospb.Offer_Operation{
		Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(),
		LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
			Executor: &mesospb.ExecutorInfo{
				Type:        mesospb.ExecutorInfo_DEFAULT.Enum(),
				ExecutorId:  &mesospb.ExecutorID{Value: proto.String(defaultExecutorID)},
				FrameworkId: proto.CloneOf(x.client.FrameworkID()),
				Resources:   res,
			},
			TaskGroup: &mesospb.TaskGroupInfo{Tasks: tasks},
		},
	}, nil
}

func (x *execution) update(ctx context.Context, status *mesospb.TaskStatus) error {
	x.printStatus(status)

	if ack := scheduler.Acknowledge(status); ack != nil {
		if err := x.client.Call(ctx, ack); err != nil {
			// The agent will resend the update; not fatal.
			x.out.printf("Failed to acknowledge status update %s for task '%s': %v\n", status.GetState(), status.GetTaskId().GetValue(), err)
		}
	}
	id := status.GetTaskId().GetValue()
	if !x.ours(id) {
		return nil
	}
	if x.cfg.KillAfter > 0 && status.GetState() == mesospb.TaskState_TASK_RUNNING {
		x.scheduleKill(status.GetTaskId(), status.GetAgentId())
	}
	if taskstate.IsTerminal(status.GetState()) {
		x.final[id] = status
		if len(x.final) < len(x.tasks) {
			return nil
		}
		x.stopKiller()
		x.teardown()
		return errFinished
	}
	return nil
}

func (x *execution) ours(taskID string) bool {
	for _, t := range x.tasks {
		if t.GetTaskId().GetValue() == taskID {
			return true
		}
	}
	return false
}

func (x *execution) printStatus(s *mesospb.TaskStatus) {
	var b strings.Builder
	fmt.Fprintf(&b, "Received status update %s for task '%s'\n", s.GetState(), s.GetTaskId().GetValue())
	if s.Message != nil {
		fmt.Fprintf(&b, "  message: '%s'\n", s.GetMessage())
	}
	if s.Source != nil {
		fmt.Fprintf(&b, "  source: %s\n", s.GetSource())
	}
	if s.Reason != nil {
		fmt.Fprintf(&b, "  reason: %s\n", s.GetReason())
	}
	if s.Healthy != nil {
		healthy := 0 // printed as C++ iostreams print a bool
		if s.GetHealthy() {
			healthy = 1
		}
		fmt.Fprintf(&b, "  healthy?: %d\n", healthy)
	}
	if s.CheckStatus != nil {
		fmt.Fprintf(&b, "  check status: %s\n", checkStatusString(s.GetCheckStatus()))
	}
	if r := s.GetLimitation().GetResources(); len(r) > 0 {
		fmt.Fprintf(&b, "  resource limit violation: %s\n", resources.Resources(r).String())
	}
	x.out.printf("%s", b.String())
}

// checkStatusString is Mesos's operator<< for a CheckStatusInfo, which
// mesos-execute prints: "COMMAND exit code 0", "HTTP status code 200",
// "TCP connection success" / "TCP connection failure"; the type alone
// before the first result; nothing for a type whose field is missing.
func checkStatusString(cs *mesospb.CheckStatusInfo) string {
	switch cs.GetType() {
	case mesospb.CheckInfo_COMMAND:
		if cs.Command == nil {
			return ""
		}
		if cs.Command.ExitCode != nil {
			return fmt.Sprintf("COMMAND exit code %d", cs.GetCommand().GetExitCode())
		}
		return "COMMAND"
	case mesospb.CheckInfo_HTTP:
		if cs.Http == nil {
			return ""
		}
		if cs.Http.StatusCode != nil {
			return fmt.Sprintf("HTTP status code %d", cs.GetHttp().GetStatusCode())
		}
		return "HTTP"
	case mesospb.CheckInfo_TCP:
		if cs.Tcp == nil {
			return ""
		}
		switch {
		case cs.Tcp.Succeeded == nil:
			return "TCP"
		case cs.GetTcp().GetSucceeded():
			return "TCP connection success"
		default:
			return "TCP connection failure"
		}
	case mesospb.CheckInfo_UNKNOWN:
		return "UNKNOWN"
	}
	return ""
}

// scheduleKill arms --kill_after once per task (on its first TASK_RUNNING).
func (x *execution) scheduleKill(taskID *mesospb.TaskID, agentID *mesospb.AgentID) {
	x.killMu.Lock()
	defer x.killMu.Unlock()
	if x.killers[taskID.GetValue()] != nil || x.killers == nil {
		return
	}
	taskID, agentID = proto.CloneOf(taskID), proto.CloneOf(agentID)
	x.killWG.Add(1)
	x.killers[taskID.GetValue()] = time.AfterFunc(x.cfg.KillAfter, func() {
		defer x.killWG.Done()
		x.out.printf("Asked to kill task '%s' on agent '%s'\n", taskID.GetValue(), agentID.GetValue())
		ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
		defer cancel()
		if err := x.client.Call(ctx, scheduler.Kill(taskID, agentID)); err != nil {
			x.out.printf("Failed to kill task '%s': %v\n", taskID.GetValue(), err)
		}
	})
}

// stopKiller disarms every --kill_after timer for good.
func (x *execution) stopKiller() {
	x.killMu.Lock()
	defer x.killMu.Unlock()
	for _, k := range x.killers {
		if k.Stop() {
			x.killWG.Done() // it will never run
		}
	}
	x.killers = nil
}

// credential is mesos-execute's: --principal with --secret.
func (x *execution) credential() *mesospb.Credential {
	if x.cfg.Principal == "" || !x.cfg.HasSecret {
		return nil
	}
	return &mesospb.Credential{Principal: proto.String(x.cfg.Principal), Secret: proto.String(x.cfg.Secret)}
}
