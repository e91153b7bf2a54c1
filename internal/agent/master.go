package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/agent/paths"
	"github.com/meso-project/meso/internal/authn"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/recordio"
	"github.com/meso-project/meso/pkg/tlsconfig"
)

const (
	contentTypeProtobuf = "application/x-protobuf"
	streamIDHeader      = "Mesos-Stream-Id"
	maxEventSize        = 64 << 20
)

var (
	errProtocol = errors.New("agent: master protocol error")
	// errSuperseded ends the stream to a master that no longer leads.
	errSuperseded = errors.New("agent: another master leads now")
)

// linkState is the actor's view of the connection to the master.
type linkState struct {
	gen       int    // generation of the connection the stream belongs to
	streamID  string // Mesos-Stream-Id of the current stream
	connected bool   // registered on the current stream
}

// masterEndpoint is the agent protocol's URL on a master: https when the
// agent's TLS is on, as libprocess connects.
func masterEndpoint(leader *detector.Leader, tc *tlsconfig.Config) string {
	return tc.Scheme() + "://" + leader.Address() + "/master/internal/agent"
}

// runMasterLink keeps the agent registered with the leading master, as
// Mesos's Slave::detected and doReliableRegistration do. It follows the
// detector: once a leader is known it opens the REGISTER / REREGISTER stream
// to it after a random delay in [0, backoff] and feeds its events to the
// actor. When the stream breaks or no PING arrives in time it tries the same
// leader again, the backoff doubling from RegistrationBackoffFactor up to a
// minute while attempts fail and starting over after a registration. When
// the detector names another leader (or none) the current stream is dropped
// at once and its undelivered events discarded; the agent waits for a
// leader, then registers with it after a delay in [0, factor] (Mesos cancels
// its registration timer on a new master). It returns nil when ctx ends, and
// an error when the detector fails (Mesos's agent then exits).
func (a *Agent) runMasterLink(ctx context.Context) error {
	// No timeout: the response is a long-lived stream. The agent's
	// --credential authenticates it (--authenticate_agents).
	client := a.cfg.TLS.Client(0)
	client.Transport = authn.BasicTransport(client.Transport, a.cfg.Credential)
	defer client.CloseIdleConnections()
	watchCtx, stopWatch := context.WithCancel(ctx)
	leaders, watchDone := watchLeader(watchCtx, a.det)
	defer func() { stopWatch(); <-watchDone }()

	factor := a.cfg.RegistrationBackoffFactor
	backoff := factor
	var leader *detector.Leader
	// follow takes a detection: the new leader (nil: none) with a fresh
	// backoff, or the detector's failure.
	follow := func(d detection) error {
		if d.err != nil {
			return fmt.Errorf("agent: failed to detect a master: %w", d.err)
		}
		if d.leader == nil {
			a.log.Warn("lost the leading master; waiting for a new one", "master", leader.String())
		} else {
			a.log.Info("detected a new leading master", "master", d.leader.String(), "previous", leader.String())
		}
		leader, backoff = d.leader, factor
		l, ip := d.leader, ""
		if l != nil && a.routedIP {
			ip = outboundIP(l.Address()) // off the actor: it may resolve a name
		}
		a.post(func() { a.leaderChanged(l, ip) })
		return nil
	}
	for gen := 1; ; {
		if leader == nil {
			select {
			case <-ctx.Done():
				return nil
			case d := <-leaders:
				if err := follow(d); err != nil {
					return err
				}
			}
			continue
		}
		t := time.NewTimer(randDuration(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case d := <-leaders:
			t.Stop()
			if err := follow(d); err != nil {
				return err
			}
			continue
		case <-t.C:
		}

		res, changed := a.runStream(ctx, client, leader, gen, leaders)
		if ctx.Err() != nil {
			return nil
		}
		if changed == nil {
			a.log.Info("lost the master stream; re-registering", "master", leader.String(), "err", res.err,
				"registered", res.registered)
		}
		g := gen
		a.post(func() { a.masterDisconnected(g) })
		gen++
		if changed != nil {
			if err := follow(*changed); err != nil {
				return err
			}
			continue
		}
		if res.registered {
			backoff = factor
		} else {
			backoff = min(2*backoff, MaxRegistrationBackoff)
		}
	}
}

// streamResult is how a registration stream ended.
type streamResult struct {
	registered bool // the master accepted the agent on it
	err        error
}

// runStream runs one registration stream with leader while watching the
// detector. It returns when the stream ends (changed == nil) or, at once,
// when the detector reports something (changed != nil): the stream is then
// cancelled and whatever the old leader still sends is not acted on.
func (a *Agent) runStream(ctx context.Context, client *http.Client, leader *detector.Leader, gen int,
	leaders <-chan detection) (res streamResult, changed *detection) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var superseded atomic.Bool
	done := make(chan streamResult, 1)
	go func() {
		registered, err := a.connect(ctx, client, leader, gen, &superseded)
		done <- streamResult{registered, err}
	}()
	select {
	case res = <-done:
		return res, nil
	case d := <-leaders:
		superseded.Store(true)
		cancel()
		return <-done, &d
	}
}

// detection is one answer of the detector: a leader (nil: none) or a failure.
type detection struct {
	leader *detector.Leader
	err    error
}

// watchLeader reports the leading master on leaders as soon as one is known
// and then every change, and a failure of the detector last. It stops when
// ctx ends; done is closed then.
func watchLeader(ctx context.Context, d detector.Detector) (leaders <-chan detection, done <-chan struct{}) {
	ch := make(chan detection)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var prev *detector.Leader
		for {
			l, err := d.Detect(ctx, prev)
			if ctx.Err() != nil {
				return
			}
			select {
			case ch <- detection{l, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			prev = l
		}
	}()
	return ch, stopped
}

// leaderChanged records the leader the detector reports (nil: none), which
// /state shows; the MasterInfo of the previous one no longer applies. ip,
// when set, is the address the route to the new leader leaves from, which
// the agent advertises from now on (routedIP).
func (a *Agent) leaderChanged(leader *detector.Leader, ip string) {
	a.leader = leader
	a.masterInfo = nil
	if ip != "" && ip != a.ip {
		a.log.Info("advertising the address the new leading master is reached from", "ip", ip, "previous", a.ip)
		a.ip = ip
	}
}

func randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// connect runs one registration stream with leader until it ends. registered
// reports whether the master accepted the agent on it. Once superseded is
// set (the leader changed) the events still read are dropped, on the link
// and on the actor.
func (a *Agent) connect(ctx context.Context, client *http.Client, leader *detector.Leader, gen int,
	superseded *atomic.Bool) (registered bool, err error) {
	var call *agentapipb.Call
	if err := a.call(ctx, func() { call = a.registrationCall() }); err != nil {
		return false, err
	}
	body, err := proto.Marshal(call)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	url := masterEndpoint(leader, a.cfg.TLS)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", contentTypeProtobuf)
	req.Header.Set("Accept", contentTypeProtobuf)
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return false, fmt.Errorf("%w: %s: %s", errProtocol, resp.Status, bytes.TrimSpace(msg))
	}
	streamID := resp.Header.Get(streamIDHeader)
	reader := recordio.NewReader(resp.Body, maxEventSize)

	pingTimeout := DefaultPingTimeout
	watchdog := time.AfterFunc(pingTimeout, cancel)
	defer watchdog.Stop()
	var agentID *mesospb.AgentID
	for {
		rec, err := reader.ReadRecord()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: stream ended", errProtocol)
			}
			return registered, err
		}
		if superseded.Load() {
			return registered, errSuperseded
		}
		ev := &agentapipb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			return registered, fmt.Errorf("%w: decoding event: %w", errProtocol, err)
		}
		if !registered {
			t := ev.GetType()
			if t != agentapipb.Event_REGISTERED && t != agentapipb.Event_REREGISTERED || ev.GetRegistered() == nil {
				return false, fmt.Errorf("%w: first event is %v, want REGISTERED", errProtocol, t)
			}
			registered = true
			agentID = ev.GetRegistered().GetAgentId()
			if s := ev.GetRegistered().GetPingTimeoutSeconds(); s > 0 {
				pingTimeout = time.Duration(s * float64(time.Second))
			}
			// Calls on this stream go to this master, until it ends.
			a.out.attach(url, streamID)
			defer a.out.detach(streamID)
		}
		watchdog.Reset(pingTimeout)
		if ev.GetType() == agentapipb.Event_PING {
			// Answered here rather than by the actor: liveness of the link.
			a.out.send(streamID, &agentapipb.Call{Type: agentapipb.Call_PONG.Enum(), AgentId: agentID})
			continue
		}
		if !a.post(func() {
			if !superseded.Load() {
				a.handleEvent(gen, streamID, ev)
			}
		}) {
			return registered, errStopped
		}
	}
}

// registrationCall builds REGISTER, or REREGISTER (reporting frameworks,
// executors and tasks) once the agent has an ID.
func (a *Agent) registrationCall() *agentapipb.Call {
	info := proto.Clone(a.info).(*mesospb.AgentInfo)
	pid, version := a.pid(), Version
	if info.GetId().GetValue() == "" {
		info.Id = nil
		return &agentapipb.Call{
			Type: agentapipb.Call_REGISTER.Enum(),
			Register: &agentapipb.Call_Register{
				AgentInfo: info, Pid: &pid, Version: &version, Capabilities: capabilities(),
			},
		}
	}
	rr := &agentapipb.Call_Reregister{AgentInfo: info, Pid: &pid, Version: &version, Capabilities: capabilities()}
	for _, fw := range a.sortedFrameworks() {
		if fw.state == frameworkTerminating {
			continue
		}
		rr.Frameworks = append(rr.Frameworks, fw.info)
		for _, ex := range fw.sortedExecutors() {
			// Like Mesos, the executors the agent generates for command tasks
			// are not sent: the master does not keep them (their resources
			// are an overcommit it never charged).
			if ex.state != executorTerminated && !ex.command {
				rr.Executors = append(rr.Executors, ex.info)
			}
			for _, t := range ex.allTasks() {
				rr.Tasks = append(rr.Tasks, t)
			}
		}
	}
	return &agentapipb.Call{Type: agentapipb.Call_REREGISTER.Enum(), AgentId: info.Id, Reregister: rr}
}

// agentCapabilities are what the agent supports: resources are opaque to
// it, so multi-role allocations, hierarchical roles and refined reservations
// pass through unchanged; tasks' resource limits (TaskInfo.limits) size
// their containers, enforced by the cgroups isolators, as in Mesos 1.11.
var agentCapabilities = []mesospb.AgentInfo_Capability_Type{
	mesospb.AgentInfo_Capability_MULTI_ROLE,
	mesospb.AgentInfo_Capability_HIERARCHICAL_ROLE,
	mesospb.AgentInfo_Capability_RESERVATION_REFINEMENT,
	mesospb.AgentInfo_Capability_TASK_RESOURCE_LIMITS,
}

func capabilities() []*mesospb.AgentInfo_Capability {
	out := make([]*mesospb.AgentInfo_Capability, 0, len(agentCapabilities))
	for _, c := range agentCapabilities {
		out = append(out, &mesospb.AgentInfo_Capability{Type: c.Enum()})
	}
	return out
}

// handleEvent dispatches one master event on the actor.
func (a *Agent) handleEvent(gen int, streamID string, ev *agentapipb.Event) {
	if gen < a.link.gen {
		return // a stream older than the current one
	}
	switch ev.GetType() {
	case agentapipb.Event_REGISTERED, agentapipb.Event_REREGISTERED:
		a.registered(gen, streamID, ev.GetType(), ev.GetRegistered())
		return
	}
	if gen != a.link.gen || !a.link.connected {
		return // a stale stream
	}
	switch ev.GetType() {
	case agentapipb.Event_RUN_TASK:
		rt := ev.GetRunTask()
		a.runTask(rt.GetFrameworkInfo(), rt.GetTask())
	case agentapipb.Event_RUN_TASK_GROUP:
		g := ev.GetRunTaskGroup()
		a.runTaskGroup(g.GetFrameworkInfo(), g.GetExecutor(), g.GetTaskGroup())
	case agentapipb.Event_KILL_TASK:
		k := ev.GetKillTask()
		a.killTask(k.GetFrameworkId().GetValue(), k.GetTaskId().GetValue(), k.GetKillPolicy())
	case agentapipb.Event_ACKNOWLEDGE_UPDATE:
		ack := ev.GetAcknowledgeUpdate()
		a.acknowledgeUpdate(ack.GetFrameworkId().GetValue(), ack.GetTaskId().GetValue(), ack.GetUuid())
	case agentapipb.Event_SHUTDOWN_FRAMEWORK:
		a.shutdownFramework(ev.GetShutdownFramework().GetFrameworkId().GetValue())
	case agentapipb.Event_SHUTDOWN_EXECUTOR:
		se := ev.GetShutdownExecutor()
		a.shutdownExecutorByID(se.GetFrameworkId().GetValue(), se.GetExecutorId().GetValue())
	case agentapipb.Event_FRAMEWORK_MESSAGE:
		fm := ev.GetFrameworkMessage()
		a.frameworkMessage(fm.GetFrameworkId().GetValue(), fm.GetExecutorId().GetValue(), fm.GetData())
	case agentapipb.Event_UPDATE_FRAMEWORK:
		a.updateFramework(ev.GetUpdateFramework().GetFrameworkInfo())
	case agentapipb.Event_CHECKPOINT_RESOURCES:
		a.checkpointResources(ev.GetCheckpointResources().GetResources())
	case agentapipb.Event_SHUTDOWN:
		a.log.Warn("the master asked the agent to shut down", "message", ev.GetShutdown().GetMessage())
		a.shutdownAgent()
	default:
		a.log.Warn("ignoring unknown master event", "type", ev.GetType())
	}
}

func (a *Agent) registered(gen int, streamID string, typ agentapipb.Event_Type, reg *agentapipb.Event_Registered) {
	id := reg.GetAgentId().GetValue()
	if old := a.info.GetId().GetValue(); old != "" && old != id {
		a.log.Warn("the master gave the agent a new ID", "agent_id", id, "old_agent_id", old)
	}
	a.info.Id = &mesospb.AgentID{Value: &id}
	a.masterInfo = reg.GetMasterInfo()
	a.link = linkState{gen: gen, streamID: streamID, connected: true}
	if _, err := paths.CreateAgentDir(a.cfg.WorkDir, id); err != nil {
		a.log.Error("cannot create the agent directory", "agent_id", id, "err", err)
	}
	if !a.checkpointed {
		a.checkpointAgent()
		a.checkpointed = true
	}
	a.log.Info("registered with the master", "agent_id", id, "event", typ, "master", a.masterInfo.GetPid())
	if typ == agentapipb.Event_REGISTERED {
		a.metrics.registrations++
	} else {
		a.metrics.reregistrations++
	}
	// Re-send every pending status update (Mesos resumes its status update
	// manager after (re-)registration).
	for _, u := range a.updates.Resume(time.Now()) {
		a.forwardUpdate(u.FrameworkID, u.Status)
	}
	a.scheduleRetry()
}

func (a *Agent) masterDisconnected(gen int) {
	if gen != a.link.gen || !a.link.connected {
		return
	}
	a.link.connected = false
	a.updates.Pause()
	a.scheduleRetry()
}

// sendToMaster posts c on the current stream; it is dropped while the agent
// is not registered (status updates are re-sent after re-registration).
func (a *Agent) sendToMaster(c *agentapipb.Call) bool {
	if !a.link.connected {
		return false
	}
	c.AgentId = a.info.GetId()
	a.out.send(a.link.streamID, c)
	return true
}

// sender posts calls to the master one at a time, in order. Calls go to
// the master of the live stream (attach); those of any other stream — one
// that ended, or whose master no longer leads — are dropped (status updates
// are re-sent after re-registration).
type sender struct {
	log    *slog.Logger
	client *http.Client

	mu     sync.Mutex // guards the fields below (shared by the actor, the link and run)
	url    string     // the agent endpoint of the live stream's master
	stream string     // the live stream's Mesos-Stream-Id; "" when none
	queue  []outCall  // a FIFO between the actor and run
	wake   chan struct{}
}

type outCall struct {
	streamID string
	call     *agentapipb.Call
}

func newSender(log *slog.Logger, tc *tlsconfig.Config) *sender {
	return &sender{log: log, client: tc.Client(15 * time.Second), wake: make(chan struct{}, 1)}
}

// attach makes streamID, opened with the master at url, the live stream.
func (s *sender) attach(url, streamID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.url, s.stream = url, streamID
}

// detach ends streamID: its calls not yet posted are dropped.
func (s *sender) detach(streamID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream == streamID {
		s.url, s.stream = "", ""
	}
}

func (s *sender) send(streamID string, c *agentapipb.Call) {
	s.mu.Lock()
	s.queue = append(s.queue, outCall{streamID, c})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sender) run(ctx context.Context) {
	defer s.client.CloseIdleConnections()
	for {
		s.mu.Lock()
		var (
			next *outCall
			url  string
		)
		if len(s.queue) > 0 {
			next = &s.queue[0]
			s.queue = s.queue[1:]
			url = s.url
			if next.streamID != s.stream || s.stream == "" {
				url = ""
			}
		}
		s.mu.Unlock()
		if next == nil {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
			continue
		}
		if url == "" {
			s.log.Debug("dropping a call for a stream that ended", "type", next.call.GetType())
			continue
		}
		if err := s.post(ctx, url, *next); err != nil && ctx.Err() == nil {
			s.log.Debug("call to the master failed", "type", next.call.GetType(), "err", err)
		}
	}
}

func (s *sender) post(ctx context.Context, url string, c outCall) error {
	body, err := proto.Marshal(c.call)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentTypeProtobuf)
	req.Header.Set("Accept", contentTypeProtobuf)
	req.Header.Set(streamIDHeader, c.streamID)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s: %s", errProtocol, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
