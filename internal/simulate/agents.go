package simulate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/buildinfo"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/recordio"
	"github.com/meso-project/meso/pkg/taskstate"
)

const (
	contentTypeProtobuf = "application/x-protobuf"
	streamIDHeader      = "Mesos-Stream-Id"
	agentPath           = "/master/internal/agent"
	// defaultPingTimeout is internal/agent's, used until REGISTERED says.
	defaultPingTimeout = 75 * time.Second
	maxEventSize       = 64 << 20
	// registrationBackoff is the first wait before re-registering after a
	// broken stream (internal/agent's --registration_backoff_factor); it
	// doubles up to maxRegistrationBackoff.
	registrationBackoff    = 100 * time.Millisecond
	maxRegistrationBackoff = 10 * time.Second
	// registering caps the agents opening their stream at once, so that
	// thousands of agents do not overflow the master's accept queue.
	registering = 256
)

// errShutdown ends an agent the master shut down (Event SHUTDOWN).
var errShutdown = errors.New("the master shut the agent down")

// fleetConfig is what the simulated agents share.
type fleetConfig struct {
	n         int
	resources []*mesospb.Resource
	// duration is used for tasks whose command is not "sleep <seconds>".
	duration Distribution
	starting bool
	retry    time.Duration
	senders  int
	// loopback: dial from distinct 127.0.0.0/8 source addresses.
	loopback bool
	log      *slog.Logger
}

// fleet is the simulated agents. Each agent has one goroutine that holds
// its event stream open; calls to the master (status updates, PONGs,
// EXECUTOR_EXITED) go through a shared pool of senders, each with its own
// keep-alive connection. Agent state is guarded by the agent's mutex: it is
// touched by the stream goroutine and by the task and retry timers.
type fleet struct {
	cfg     fleetConfig
	leader  *leaderWatch
	streams *http.Client // registration streams: no timeout
	calls   *http.Client
	ready   chan *simAgent // agents with calls to post, each at most once
	agents  []*simAgent
	regSem  chan struct{}
	ctx     context.Context // the run's, set by start

	wg      sync.WaitGroup // agent goroutines
	senders sync.WaitGroup

	registered   atomic.Int64 // agents registered now
	updatesSent  atomic.Int64 // STATUS_UPDATE calls posted (retries included)
	retries      atomic.Int64 // status updates re-sent for want of an acknowledgement
	acks         atomic.Int64 // ACKNOWLEDGE_UPDATE events that matched the head
	staleAcks    atomic.Int64 // acknowledgements of no update in flight
	callErrors   atomic.Int64 // calls the master did not accept (or that failed)
	streamBreaks atomic.Int64 // event streams that ended while running
	lastErr      atomic.Value // string
}

// outCall is a call for the master on one agent's stream; sent, if set,
// runs once it was posted (whatever the answer).
type outCall struct {
	url, streamID string
	call          *agentapipb.Call
	sent          func()
}

// localAddrKey carries the source address a connection is to be dialed
// from in a request's context.
type localAddrKey struct{}

func dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 15 * time.Second}
	if la, ok := ctx.Value(localAddrKey{}).(*net.TCPAddr); ok {
		d.LocalAddr = la
	}
	return d.DialContext(ctx, network, addr)
}

// loopbackAddr is the n-th source address of block b (1: agents, 2:
// senders, 3: frameworks): 127.b.x.y, y never 0 or 255. The master admits
// at most 1024 connections from one address.
func loopbackAddr(block, n int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, byte(block), byte(n/250), byte(1+n%250))}
}

func newFleet(cfg fleetConfig, leader *leaderWatch) *fleet {
	f := &fleet{
		cfg:    cfg,
		leader: leader,
		streams: &http.Client{Transport: &http.Transport{
			DialContext: dial, DisableCompression: true, MaxIdleConnsPerHost: 1,
			ResponseHeaderTimeout: time.Minute,
		}},
		calls: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			DialContext: dial, DisableCompression: true,
			MaxIdleConns: cfg.senders, MaxIdleConnsPerHost: cfg.senders,
		}},
		ready:  make(chan *simAgent, cfg.n),
		regSem: make(chan struct{}, registering),
	}
	for i := range cfg.n {
		a := &simAgent{
			f:          f,
			idx:        i,
			frameworks: map[string]*mesospb.FrameworkInfo{},
			tasks:      map[string]*simTask{},
			executors:  map[string]*simExecutor{},
		}
		host := "127.0.0.1"
		if cfg.loopback {
			a.local = loopbackAddr(1, i)
			host = a.local.IP.String()
		}
		port := 10000 + i%50000
		a.pid = "slave(1)@" + host + ":" + strconv.Itoa(port)
		a.info = &mesospb.AgentInfo{
			Hostname:  proto.String(fmt.Sprintf("sim-agent-%d", i)),
			Port:      proto.Int32(int32(port)),
			Resources: cfg.resources,
		}
		f.agents = append(f.agents, a)
	}
	return f
}

// start runs the senders and every agent until ctx ends.
func (f *fleet) start(ctx context.Context) {
	f.ctx = ctx
	for i := range f.cfg.senders {
		f.senders.Add(1)
		go func() {
			defer f.senders.Done()
			f.send(ctx, i)
		}()
	}
	for _, a := range f.agents {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			a.run(ctx)
		}()
	}
}

// wait waits for the agents and senders to end (after ctx ended).
func (f *fleet) wait() {
	f.wg.Wait()
	f.senders.Wait()
	for _, a := range f.agents {
		a.stopTimers()
	}
	f.streams.CloseIdleConnections()
	f.calls.CloseIdleConnections()
}

// send posts calls until ctx ends. The senders take one call at a time
// from the agents with calls waiting, round-robin, so that one agent's
// backlog does not hold up the others (each real agent has its own
// connection to the master).
func (f *fleet) send(ctx context.Context, i int) {
	sctx := ctx
	if f.cfg.loopback {
		sctx = context.WithValue(ctx, localAddrKey{}, loopbackAddr(2, i))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-f.ready:
			a.mu.Lock()
			if len(a.pending) == 0 {
				a.scheduled = false
				a.mu.Unlock()
				continue
			}
			c := a.pending[0]
			a.pending[0] = outCall{}
			a.pending = a.pending[1:]
			more := len(a.pending) > 0
			a.scheduled = more
			a.mu.Unlock()
			if more {
				f.ready <- a // never blocks: a was just taken out, and is in at most once
			}
			if err := f.post(sctx, c); err != nil && ctx.Err() == nil {
				f.callErrors.Add(1)
				f.lastErr.Store(err.Error())
				f.cfg.log.Debug("call to the master failed", "err", err)
			}
			if c.sent != nil {
				c.sent()
			}
		}
	}
}

func (f *fleet) post(ctx context.Context, c outCall) error {
	body, err := proto.Marshal(c.call)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentTypeProtobuf)
	req.Header.Set("Accept", contentTypeProtobuf)
	req.Header.Set(streamIDHeader, c.streamID)
	resp, err := f.calls.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", c.call.GetType(), err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", c.call.GetType(), resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// simAgent is one simulated agent.
type simAgent struct {
	f     *fleet
	idx   int
	local *net.TCPAddr // source address; nil: any
	pid   string

	mu         sync.Mutex
	info       *mesospb.AgentInfo // Id once registered
	url        string             // the agent endpoint of the live stream
	streamID   string             // "" while not registered
	frameworks map[string]*mesospb.FrameworkInfo
	tasks      map[string]*simTask     // by taskKey
	executors  map[string]*simExecutor // frameworks' executors, by taskKey(framework, executor)
	pending    []outCall               // calls for the senders, oldest first
	scheduled  bool                    // the agent is in f.ready (or a sender holds it)
	kick       bool                    // to put in f.ready once mu is released
}

// simTask is a task "running" on a simulated agent: its state and its
// unacknowledged status updates, head first (the status update manager's
// stream for the task).
type simTask struct {
	key     string
	fwID    string
	info    *mesospb.TaskInfo
	execKey string // "" for a command task (the agent's own executor)
	state   mesospb.TaskState
	updates []*mesospb.TaskStatus
	finish  *time.Timer // ends the task after its duration
	retry   *time.Timer // re-sends the head
	backoff time.Duration
}

// simExecutor is a framework's executor (custom or default): it lives
// while it has tasks and exits when the last one is done.
type simExecutor struct {
	fwID  string
	info  *mesospb.ExecutorInfo
	tasks int // tasks not yet completed (terminal and acknowledged)
}

func taskKey(fwID, id string) string { return fwID + "/" + id }

// run keeps the agent registered until ctx ends or the master shuts it
// down: after a broken stream it re-registers (REREGISTER with its tasks)
// after a jittered, doubling backoff, as internal/agent does.
func (a *simAgent) run(ctx context.Context) {
	backoff := registrationBackoff
	for ctx.Err() == nil {
		registered, err := a.connect(ctx)
		if errors.Is(err, errShutdown) || ctx.Err() != nil {
			return
		}
		if err != nil {
			a.f.lastErr.Store(err.Error())
			a.f.cfg.log.Debug("agent stream ended", "agent", a.idx, "registered", registered, "err", err)
		}
		if registered {
			a.f.streamBreaks.Add(1)
			backoff = registrationBackoff
		}
		t := time.NewTimer(rand.N(backoff + 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxRegistrationBackoff)
	}
}

// connect runs one registration stream until it ends.
func (a *simAgent) connect(ctx context.Context) (registered bool, err error) {
	leader, err := a.f.leader.wait(ctx)
	if err != nil {
		return false, err
	}
	select {
	case a.f.regSem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	held := true
	release := func() {
		if held {
			held = false
			<-a.f.regSem
		}
	}
	defer release()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if a.local != nil {
		ctx = context.WithValue(ctx, localAddrKey{}, a.local)
	}
	a.mu.Lock()
	body, err := proto.Marshal(a.registrationCall())
	a.mu.Unlock()
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+leader+agentPath, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", contentTypeProtobuf)
	req.Header.Set("Accept", contentTypeProtobuf)
	resp, err := a.f.streams.Do(req) // follows a standby's 307
	if err != nil {
		return false, fmt.Errorf("agent %d: registering: %w", a.idx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return false, fmt.Errorf("agent %d: registering: %s: %s", a.idx, resp.Status, bytes.TrimSpace(msg))
	}
	url := resp.Request.URL.String()
	streamID := resp.Header.Get(streamIDHeader)
	reader := recordio.NewReader(resp.Body, maxEventSize)
	pingTimeout := defaultPingTimeout
	watchdog := time.AfterFunc(pingTimeout, cancel)
	defer watchdog.Stop()
	defer func() {
		a.mu.Lock()
		if a.streamID == streamID && streamID != "" {
			a.streamID, a.url = "", ""
			a.f.registered.Add(-1)
		}
		a.mu.Unlock()
	}()
	for {
		rec, err := reader.ReadRecord()
		if err != nil {
			return registered, err
		}
		ev := &agentapipb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			return registered, fmt.Errorf("agent %d: decoding event: %w", a.idx, err)
		}
		if !registered {
			t := ev.GetType()
			if t != agentapipb.Event_REGISTERED && t != agentapipb.Event_REREGISTERED || ev.GetRegistered() == nil {
				return false, fmt.Errorf("agent %d: first event is %v, want REGISTERED", a.idx, t)
			}
			registered = true
			release()
			if s := ev.GetRegistered().GetPingTimeoutSeconds(); s > 0 {
				// The master pings every ping timeout and gives up after
				// several missed ones; a few intervals without any event
				// mean the stream is dead.
				pingTimeout = 3 * time.Duration(s*float64(time.Second))
			}
		}
		// The watchdog is about the master: it does not run while the
		// agent waits for its own senders.
		watchdog.Stop()
		if err := a.handle(url, streamID, ev); err != nil {
			return registered, err
		}
		watchdog.Reset(pingTimeout)
	}
}

// registrationCall is REGISTER, or REREGISTER with what the agent runs
// once it has an ID. Called with a.mu held.
func (a *simAgent) registrationCall() *agentapipb.Call {
	info := proto.CloneOf(a.info)
	pid, version := a.pid, buildinfo.MesosVersion
	if info.GetId().GetValue() == "" {
		info.Id = nil
		return &agentapipb.Call{
			Type:     agentapipb.Call_REGISTER.Enum(),
			Register: &agentapipb.Call_Register{AgentInfo: info, Pid: &pid, Version: &version, Capabilities: capabilities()},
		}
	}
	rr := &agentapipb.Call_Reregister{AgentInfo: info, Pid: &pid, Version: &version, Capabilities: capabilities()}
	fws := map[string]bool{}
	for _, t := range a.tasks {
		fws[t.fwID] = true
		task := &mesospb.Task{
			Name:        t.info.Name,
			TaskId:      t.info.TaskId,
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(t.fwID)},
			AgentId:     info.Id,
			State:       t.state.Enum(),
			Resources:   t.info.Resources,
		}
		if t.execKey != "" {
			task.ExecutorId = a.executors[t.execKey].info.ExecutorId
		}
		if len(t.updates) > 0 {
			task.StatusUpdateState = t.updates[0].State
			task.StatusUpdateUuid = t.updates[0].Uuid
		}
		rr.Tasks = append(rr.Tasks, task)
	}
	for _, ex := range a.executors {
		fws[ex.fwID] = true
		rr.Executors = append(rr.Executors, ex.info)
	}
	for id := range fws {
		if fw := a.frameworks[id]; fw != nil {
			rr.Frameworks = append(rr.Frameworks, fw)
		}
	}
	return &agentapipb.Call{Type: agentapipb.Call_REREGISTER.Enum(), AgentId: info.Id, Reregister: rr}
}

// capabilities are internal/agent's.
func capabilities() []*mesospb.AgentInfo_Capability {
	var out []*mesospb.AgentInfo_Capability
	for _, c := range []mesospb.AgentInfo_Capability_Type{
		mesospb.AgentInfo_Capability_MULTI_ROLE,
		mesospb.AgentInfo_Capability_HIERARCHICAL_ROLE,
		mesospb.AgentInfo_Capability_RESERVATION_REFINEMENT,
		mesospb.AgentInfo_Capability_TASK_RESOURCE_LIMITS,
	} {
		out = append(out, &mesospb.AgentInfo_Capability{Type: c.Enum()})
	}
	return out
}

// handle applies one event, as internal/agent's handleEvent does.
func (a *simAgent) handle(url, streamID string, ev *agentapipb.Event) error {
	a.mu.Lock()
	var err error
	switch ev.GetType() {
	case agentapipb.Event_REGISTERED, agentapipb.Event_REREGISTERED:
		a.info.Id = ev.GetRegistered().GetAgentId()
		a.url, a.streamID = url, streamID
		a.f.registered.Add(1)
		// The status update manager resumes: every head goes out again.
		for _, t := range a.tasks {
			if len(t.updates) > 0 {
				a.sendHead(t)
			}
		}
	case agentapipb.Event_RUN_TASK:
		rt := ev.GetRunTask()
		fw := a.ensureFramework(rt.GetFrameworkInfo())
		execKey := ""
		if e := rt.GetTask().GetExecutor(); e != nil {
			execKey = a.ensureExecutor(fw, e)
		}
		a.launch(fw, rt.GetTask(), execKey)
	case agentapipb.Event_RUN_TASK_GROUP:
		rg := ev.GetRunTaskGroup()
		fw := a.ensureFramework(rg.GetFrameworkInfo())
		execKey := a.ensureExecutor(fw, rg.GetExecutor())
		for _, t := range rg.GetTaskGroup().GetTasks() {
			a.launch(fw, t, execKey)
		}
	case agentapipb.Event_KILL_TASK:
		k := ev.GetKillTask()
		a.kill(k.GetFrameworkId().GetValue(), k.GetTaskId())
	case agentapipb.Event_ACKNOWLEDGE_UPDATE:
		ack := ev.GetAcknowledgeUpdate()
		a.acknowledge(ack.GetFrameworkId().GetValue(), ack.GetTaskId().GetValue(), ack.GetUuid())
	case agentapipb.Event_SHUTDOWN_FRAMEWORK:
		a.shutdownFramework(ev.GetShutdownFramework().GetFrameworkId().GetValue())
	case agentapipb.Event_SHUTDOWN_EXECUTOR:
		se := ev.GetShutdownExecutor()
		a.shutdownExecutor(se.GetFrameworkId().GetValue(), se.GetExecutorId().GetValue())
	case agentapipb.Event_UPDATE_FRAMEWORK:
		info := ev.GetUpdateFramework().GetFrameworkInfo()
		if id := info.GetId().GetValue(); a.frameworks[id] != nil {
			a.frameworks[id] = info
		}
	case agentapipb.Event_CHECKPOINT_RESOURCES:
		a.info.Resources = ev.GetCheckpointResources().GetResources()
	case agentapipb.Event_PING:
		a.call(&agentapipb.Call{Type: agentapipb.Call_PONG.Enum()})
	case agentapipb.Event_SHUTDOWN:
		err = errShutdown
	}
	a.unlock()
	return err
}

// unlock releases a.mu and hands the agent to the senders when it has
// new calls.
func (a *simAgent) unlock() {
	kick := a.kick
	a.kick = false
	a.mu.Unlock()
	if kick {
		a.f.ready <- a // never blocks: the agent is in at most once
	}
}

// call queues c for the live stream (dropped while there is none: status
// updates go out again on re-registration); a PONG goes first, as the
// master counts missed pings. Called with a.mu held.
func (a *simAgent) call(c *agentapipb.Call) {
	if a.streamID == "" {
		return
	}
	c.AgentId = a.info.GetId()
	oc := outCall{url: a.url, streamID: a.streamID, call: c}
	if c.GetType() == agentapipb.Call_PONG {
		a.pending = append([]outCall{oc}, a.pending...)
	} else {
		a.pending = append(a.pending, oc)
	}
	if !a.scheduled {
		a.scheduled, a.kick = true, true
	}
}

func (a *simAgent) ensureFramework(info *mesospb.FrameworkInfo) string {
	id := info.GetId().GetValue()
	if a.frameworks[id] == nil {
		a.frameworks[id] = info
	}
	return id
}

func (a *simAgent) ensureExecutor(fwID string, info *mesospb.ExecutorInfo) string {
	key := taskKey(fwID, info.GetExecutorId().GetValue())
	if a.executors[key] == nil {
		info = proto.CloneOf(info)
		if info.FrameworkId == nil {
			info.FrameworkId = &mesospb.FrameworkID{Value: proto.String(fwID)}
		}
		a.executors[key] = &simExecutor{fwID: fwID, info: info}
	}
	return key
}

// launch starts a task: TASK_RUNNING (after TASK_STARTING when asked) at
// once, TASK_FINISHED after its duration. Called with a.mu held.
func (a *simAgent) launch(fwID string, info *mesospb.TaskInfo, execKey string) {
	key := taskKey(fwID, info.GetTaskId().GetValue())
	if a.tasks[key] != nil {
		return // a duplicate RUN_TASK
	}
	t := &simTask{key: key, fwID: fwID, info: info, execKey: execKey, state: mesospb.TaskState_TASK_STAGING}
	a.tasks[key] = t
	if execKey != "" {
		a.executors[execKey].tasks++
	}
	if a.f.cfg.starting {
		a.update(t, mesospb.TaskState_TASK_STARTING, mesospb.TaskStatus_SOURCE_EXECUTOR, nil, "")
	}
	a.update(t, mesospb.TaskState_TASK_RUNNING, mesospb.TaskStatus_SOURCE_EXECUTOR, nil, "")
	d, ok := sleepDuration(info.GetCommand())
	if !ok {
		d = a.f.cfg.duration.Draw()
	}
	t.finish = time.AfterFunc(d, func() { a.end(key) })
}

// sleepDuration reads the task's duration from a "sleep <seconds>"
// command, the form the synthetic frameworks give their tasks.
func sleepDuration(c *mesospb.CommandInfo) (time.Duration, bool) {
	v, ok := strings.CutPrefix(c.GetValue(), "sleep ")
	if !ok {
		return 0, false
	}
	s, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || s < 0 {
		return 0, false
	}
	return time.Duration(s * float64(time.Second)), true
}

// end finishes a task whose duration is over.
func (a *simAgent) end(key string) {
	a.mu.Lock()
	if t := a.tasks[key]; t != nil && !taskstate.IsTerminal(t.state) {
		a.update(t, mesospb.TaskState_TASK_FINISHED, mesospb.TaskStatus_SOURCE_EXECUTOR, nil, "Command exited with status 0")
	}
	a.unlock()
}

// kill handles KILL_TASK: a running task becomes TASK_KILLED; an unknown
// one TASK_LOST (TASK_DROPPED for a partition-aware framework), as
// internal/agent's killTask says "Cannot find executor".
func (a *simAgent) kill(fwID string, id *mesospb.TaskID) {
	key := taskKey(fwID, id.GetValue())
	t := a.tasks[key]
	if t == nil {
		fw := a.frameworks[fwID]
		if fw == nil {
			return
		}
		t = &simTask{key: key, fwID: fwID, info: &mesospb.TaskInfo{TaskId: id}, state: mesospb.TaskState_TASK_STAGING}
		a.tasks[key] = t
		state := mesospb.TaskState_TASK_LOST
		for _, c := range fw.GetCapabilities() {
			if c.GetType() == mesospb.FrameworkInfo_Capability_PARTITION_AWARE {
				state = mesospb.TaskState_TASK_DROPPED
			}
		}
		reason := mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED
		a.update(t, state, mesospb.TaskStatus_SOURCE_AGENT, &reason, "Cannot find executor")
		return
	}
	if taskstate.IsTerminal(t.state) {
		return
	}
	if t.finish != nil {
		t.finish.Stop()
	}
	a.update(t, mesospb.TaskState_TASK_KILLED, mesospb.TaskStatus_SOURCE_EXECUTOR, nil, "Command terminated with signal Killed")
}

// update adds a status update to the task's stream; it goes out at once
// when nothing else waits for an acknowledgement. Called with a.mu held.
func (a *simAgent) update(t *simTask, state mesospb.TaskState, source mesospb.TaskStatus_Source, reason *mesospb.TaskStatus_Reason, message string) {
	id := uuid.New() // the master checks that it is an RFC 4122 UUID
	st := &mesospb.TaskStatus{
		TaskId:    t.info.GetTaskId(),
		State:     state.Enum(),
		Source:    source.Enum(),
		Reason:    reason,
		Uuid:      id[:],
		AgentId:   a.info.GetId(),
		Timestamp: proto.Float64(float64(time.Now().UnixNano()) / 1e9),
	}
	if message != "" {
		st.Message = proto.String(message)
	}
	switch {
	case t.execKey != "":
		st.ExecutorId = a.executors[t.execKey].info.GetExecutorId()
	case t.info.GetCommand() != nil:
		st.ExecutorId = &mesospb.ExecutorID{Value: t.info.GetTaskId().Value} // the command executor's ID is its task's
	}
	t.state = state
	t.updates = append(t.updates, st)
	if len(t.updates) == 1 {
		t.backoff = a.f.cfg.retry
		a.sendHead(t)
	}
}

// sendHead posts the task's oldest unacknowledged update; its retry is
// armed once it has been posted (the senders may be behind: a retry while
// the first copy still waits for a sender would only add load). Called
// with a.mu held.
func (a *simAgent) sendHead(t *simTask) {
	if t.retry != nil {
		t.retry.Stop()
		t.retry = nil
	}
	if a.streamID == "" {
		return // re-sent on re-registration
	}
	key, uuid, backoff := t.key, t.updates[0].GetUuid(), t.backoff
	a.f.updatesSent.Add(1)
	a.call(&agentapipb.Call{
		Type: agentapipb.Call_STATUS_UPDATE.Enum(),
		StatusUpdate: &agentapipb.Call_StatusUpdate{
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(t.fwID)},
			Status:      t.updates[0],
			LatestState: t.state.Enum(),
		},
	})
	a.pending[len(a.pending)-1].sent = func() { a.armRetry(key, uuid, backoff) }
}

// armRetry starts the retry timer of a head that was posted, unless it
// was acknowledged meanwhile.
func (a *simAgent) armRetry(key string, uuid []byte, backoff time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tasks[key]
	if t == nil || len(t.updates) == 0 || !bytes.Equal(t.updates[0].GetUuid(), uuid) {
		return
	}
	if t.retry != nil {
		t.retry.Stop()
	}
	t.retry = time.AfterFunc(backoff, func() { a.retryHead(key, uuid) })
}

// retryHead re-sends a head that is still unacknowledged, the interval
// doubling up to 10 minutes (Mesos's status update manager).
func (a *simAgent) retryHead(key string, uuid []byte) {
	a.mu.Lock()
	t := a.tasks[key]
	if t != nil && len(t.updates) > 0 && bytes.Equal(t.updates[0].GetUuid(), uuid) && a.streamID != "" {
		a.f.retries.Add(1)
		t.backoff = min(2*t.backoff, maxStatusUpdateRetry)
		a.sendHead(t)
	}
	a.unlock()
}

// acknowledge handles ACKNOWLEDGE_UPDATE: the head is done and the next
// update goes out; an acknowledged terminal update completes the task,
// and an executor without tasks exits. Called with a.mu held.
func (a *simAgent) acknowledge(fwID, taskID string, uuid []byte) {
	t := a.tasks[taskKey(fwID, taskID)]
	if t == nil || len(t.updates) == 0 || !bytes.Equal(t.updates[0].GetUuid(), uuid) {
		a.f.staleAcks.Add(1)
		return
	}
	a.f.acks.Add(1)
	if t.retry != nil {
		t.retry.Stop()
		t.retry = nil
	}
	acked := t.updates[0]
	t.updates[0] = nil
	t.updates = t.updates[1:]
	if len(t.updates) > 0 {
		t.backoff = a.f.cfg.retry
		a.sendHead(t)
		return
	}
	if taskstate.IsTerminal(acked.GetState()) {
		a.complete(t)
	}
}

// complete forgets a task whose terminal update was acknowledged.
func (a *simAgent) complete(t *simTask) {
	delete(a.tasks, t.key)
	if t.execKey == "" {
		return
	}
	ex := a.executors[t.execKey]
	if ex.tasks--; ex.tasks > 0 {
		return
	}
	a.executorExited(t.execKey, ex)
}

// executorExited removes an executor and tells the master (only for the
// executors the master knows: frameworks', not the command executors).
func (a *simAgent) executorExited(key string, ex *simExecutor) {
	delete(a.executors, key)
	status := int32(0)
	a.call(&agentapipb.Call{
		Type: agentapipb.Call_EXECUTOR_EXITED.Enum(),
		ExecutorExited: &agentapipb.Call_ExecutorExited{
			FrameworkId: &mesospb.FrameworkID{Value: proto.String(ex.fwID)},
			ExecutorId:  ex.info.GetExecutorId(),
			Status:      &status,
		},
	})
}

// shutdownFramework drops a framework's tasks and executors without
// updates: nobody would acknowledge them (internal/agent's terminating
// framework).
func (a *simAgent) shutdownFramework(fwID string) {
	for key, t := range a.tasks {
		if t.fwID == fwID {
			t.stop()
			delete(a.tasks, key)
		}
	}
	for key, ex := range a.executors {
		if ex.fwID == fwID {
			delete(a.executors, key)
		}
	}
	delete(a.frameworks, fwID)
}

// shutdownExecutor kills the executor's tasks; it exits once their
// updates are acknowledged (at once when it has none).
func (a *simAgent) shutdownExecutor(fwID, execID string) {
	key := taskKey(fwID, execID)
	ex := a.executors[key]
	if ex == nil {
		return
	}
	if ex.tasks == 0 {
		a.executorExited(key, ex)
		return
	}
	reason := mesospb.TaskStatus_REASON_EXECUTOR_TERMINATED
	for _, t := range a.tasks {
		if t.execKey == key && !taskstate.IsTerminal(t.state) {
			if t.finish != nil {
				t.finish.Stop()
			}
			a.update(t, mesospb.TaskState_TASK_KILLED, mesospb.TaskStatus_SOURCE_EXECUTOR, &reason, "Executor shut down")
		}
	}
}

func (t *simTask) stop() {
	if t.finish != nil {
		t.finish.Stop()
	}
	if t.retry != nil {
		t.retry.Stop()
	}
}

func (a *simAgent) stopTimers() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.tasks {
		t.stop()
	}
}

// tasksHeld counts the tasks the agents still hold (running, or waiting
// for an acknowledgement).
func (f *fleet) tasksHeld() int {
	n := 0
	for _, a := range f.agents {
		a.mu.Lock()
		n += len(a.tasks)
		a.mu.Unlock()
	}
	return n
}

// unregister tells the master the agents are gone for good (UNREGISTER),
// so a remote master does not keep them; it waits for the calls at most
// until ctx ends.
func (f *fleet) unregister(ctx context.Context) {
	var calls []outCall
	for _, a := range f.agents {
		a.mu.Lock()
		if a.streamID != "" {
			calls = append(calls, outCall{url: a.url, streamID: a.streamID,
				call: &agentapipb.Call{Type: agentapipb.Call_UNREGISTER.Enum(), AgentId: a.info.GetId()}})
		}
		a.mu.Unlock()
	}
	var wg sync.WaitGroup
	ch := make(chan outCall)
	for i := range min(f.cfg.senders, len(calls)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx := ctx
			if f.cfg.loopback {
				sctx = context.WithValue(ctx, localAddrKey{}, loopbackAddr(2, i))
			}
			for c := range ch {
				_ = f.post(sctx, c)
			}
		}()
	}
	for _, c := range calls {
		select {
		case ch <- c:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
}
