package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/bench/internal/benchutil"
	"github.com/meso-project/meso/internal/agent"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/recordio"
	"github.com/meso-project/meso/pkg/resources"
)

const (
	contentTypeProtobuf = "application/x-protobuf"
	streamIDHeader      = "Mesos-Stream-Id"
	agentResources      = "cpus:4;mem:8192;disk:10240;ports:[31000-32000]"
	// firstAgentPort is the port in the first simulated agent's pid; the
	// others follow. Nothing listens there: the master only needs distinct
	// pids.
	firstAgentPort = 10000
)

var errShutdown = errors.New("the master shut the agent down")

// leaderWatch follows one ZooKeeper detector for all simulated agents and
// wakes them on every change, as each real agent's own detector would.
type leaderWatch struct {
	mu      sync.Mutex
	leader  *detector.Leader
	changed chan struct{} // closed and replaced on every change
	history []leaderChange
}

type leaderChange struct {
	at     time.Time
	leader *detector.Leader
}

func newLeaderWatch() *leaderWatch { return &leaderWatch{changed: make(chan struct{})} }

// run follows d until ctx ends or d fails.
func (w *leaderWatch) run(ctx context.Context, d detector.Detector) {
	var prev *detector.Leader
	for {
		l, err := d.Detect(ctx, prev)
		if err != nil {
			return
		}
		prev = l
		w.mu.Lock()
		w.leader = l
		w.history = append(w.history, leaderChange{time.Now(), l})
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
	}
}

// current is the leader as last detected (nil: none) and a channel closed
// at the next change.
func (w *leaderWatch) current() (*detector.Leader, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.leader, w.changed
}

// firstChangeAfter is when the detector first reported something after t.
func (w *leaderWatch) firstChangeAfter(t time.Time) (leaderChange, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.history {
		if c.at.After(t) {
			return c, true
		}
	}
	return leaderChange{}, false
}

// fleet is the simulated agents.
type fleet struct {
	watch   *leaderWatch
	factor  time.Duration // --registration_backoff_factor
	streams *http.Client  // REGISTER / REREGISTER streams: no timeout
	calls   *http.Client  // PONGs
	agents  []*simAgent
	wg      sync.WaitGroup
}

// simAgent is one simulated agent. info is touched only by its goroutine.
type simAgent struct {
	pid          string
	info         *mesospb.AgentInfo
	registeredAt atomic.Int64 // UnixNano of the last REGISTERED / REREGISTERED
	attempts     atomic.Int64 // registration streams opened (or tried)
}

func newFleet(n int, factor time.Duration, watch *leaderWatch) (*fleet, error) {
	res, err := resources.Parse(agentResources, "*")
	if err != nil {
		return nil, err
	}
	f := &fleet{
		watch:  watch,
		factor: factor,
		streams: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 16, DisableCompression: true}},
		calls: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, DisableCompression: true}},
	}
	for i := range n {
		port := firstAgentPort + i
		f.agents = append(f.agents, &simAgent{
			pid: "slave(1)@127.0.0.1:" + strconv.Itoa(port),
			info: &mesospb.AgentInfo{
				Hostname:  proto.String("127.0.0.1"),
				Port:      proto.Int32(int32(port)),
				Resources: res, // shared, never changed
			},
		})
	}
	return f, nil
}

// start runs every agent until ctx ends; wait waits for them.
func (f *fleet) start(ctx context.Context) {
	for _, a := range f.agents {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.run(ctx, a)
		}()
	}
}

func (f *fleet) wait() {
	f.wg.Wait()
	f.streams.CloseIdleConnections()
	f.calls.CloseIdleConnections()
}

// registeredSince returns the times at which agents (re-)registered after
// t, sorted, as offsets from t.
func (f *fleet) registeredSince(t time.Time) []time.Duration {
	var out []time.Duration
	for _, a := range f.agents {
		if at := a.registeredAt.Load(); at > t.UnixNano() {
			out = append(out, time.Duration(at-t.UnixNano()))
		}
	}
	slices.Sort(out)
	return out
}

// attempts is the number of registration streams tried so far.
func (f *fleet) attempts() int64 {
	var n int64
	for _, a := range f.agents {
		n += a.attempts.Load()
	}
	return n
}

// run keeps a registered with the leading master, as internal/agent's
// runMasterLink does: once a leader is known it opens the registration
// stream after a random delay in [0, backoff]; when the stream breaks it
// tries the same leader again, the backoff doubling from the factor up to
// a minute while attempts fail and starting over after a registration;
// when the detector names another leader the stream is dropped at once and
// the agent registers with the new one after a delay in [0, factor].
func (f *fleet) run(ctx context.Context, a *simAgent) {
	backoff := f.factor
	leader, changed := f.watch.current()
	for ctx.Err() == nil {
		if leader == nil {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				leader, changed = f.watch.current()
				backoff = f.factor
			}
			continue
		}
		t := time.NewTimer(randDuration(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-changed:
			t.Stop()
			leader, changed = f.watch.current()
			backoff = f.factor
			continue
		case <-t.C:
		}
		registered, superseded, err := f.connect(ctx, a, leader, changed)
		switch {
		case errors.Is(err, errShutdown):
			return
		case superseded:
			leader, changed = f.watch.current()
			backoff = f.factor
		case registered:
			backoff = f.factor
		default:
			backoff = min(2*backoff, agent.MaxRegistrationBackoff)
		}
	}
}

func randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// connect runs one registration stream with leader until it ends or the
// detector reports a change (superseded). registered reports whether the
// master accepted the agent on it.
func (f *fleet) connect(ctx context.Context, a *simAgent, leader *detector.Leader, changed <-chan struct{}) (registered, superseded bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	var sup atomic.Bool
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		select {
		case <-changed:
			sup.Store(true)
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		cancel()
		<-watching
		superseded = sup.Load()
	}()

	body, err := proto.Marshal(a.registrationCall())
	if err != nil {
		return false, false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+leader.Address()+"/master/internal/agent", bytes.NewReader(body))
	if err != nil {
		return false, false, err
	}
	req.Header.Set("Content-Type", contentTypeProtobuf)
	req.Header.Set("Accept", contentTypeProtobuf)
	a.attempts.Add(1)
	resp, err := f.streams.Do(req) // follows a standby's 307, as the agent's client does
	if err != nil {
		return false, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return false, false, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	callURL := resp.Request.URL.String() // after redirects
	streamID := resp.Header.Get(streamIDHeader)
	reader := recordio.NewReader(resp.Body, 64<<20)
	pingTimeout := agent.DefaultPingTimeout
	watchdog := time.AfterFunc(pingTimeout, cancel)
	defer watchdog.Stop()
	for {
		rec, err := reader.ReadRecord()
		if err != nil {
			return registered, false, err
		}
		if sup.Load() {
			return registered, false, nil
		}
		ev := &agentapipb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			return registered, false, fmt.Errorf("decoding event: %w", err)
		}
		if !registered {
			t := ev.GetType()
			if t != agentapipb.Event_REGISTERED && t != agentapipb.Event_REREGISTERED || ev.GetRegistered() == nil {
				return false, false, fmt.Errorf("first event is %v, want REGISTERED", t)
			}
			registered = true
			a.info.Id = ev.GetRegistered().GetAgentId()
			a.registeredAt.Store(time.Now().UnixNano())
			if s := ev.GetRegistered().GetPingTimeoutSeconds(); s > 0 {
				pingTimeout = time.Duration(s * float64(time.Second))
			}
		}
		watchdog.Reset(pingTimeout)
		switch ev.GetType() {
		case agentapipb.Event_PING:
			f.pong(ctx, callURL, streamID, a.info.GetId())
		case agentapipb.Event_SHUTDOWN:
			return registered, false, errShutdown
		}
	}
}

// pong answers a PING with a PONG call on its own POST, off the stream.
func (f *fleet) pong(ctx context.Context, url, streamID string, id *mesospb.AgentID) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		_ = benchutil.Pong(ctx, f.calls.Do, url, streamID, id)
	}()
}

// registrationCall is REGISTER, or REREGISTER (with no frameworks,
// executors or tasks) once the agent has an ID.
func (a *simAgent) registrationCall() *agentapipb.Call {
	info := proto.CloneOf(a.info)
	pid, version := a.pid, agent.Version
	var caps []*mesospb.AgentInfo_Capability
	for _, c := range benchutil.AgentCapabilities {
		caps = append(caps, &mesospb.AgentInfo_Capability{Type: c.Enum()})
	}
	if info.GetId().GetValue() == "" {
		info.Id = nil
		return &agentapipb.Call{
			Type:     agentapipb.Call_REGISTER.Enum(),
			Register: &agentapipb.Call_Register{AgentInfo: info, Pid: &pid, Version: &version, Capabilities: caps},
		}
	}
	return &agentapipb.Call{
		Type:       agentapipb.Call_REREGISTER.Enum(),
		AgentId:    info.Id,
		Reregister: &agentapipb.Call_Reregister{AgentInfo: info, Pid: &pid, Version: &version, Capabilities: caps},
	}
}
