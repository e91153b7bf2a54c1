package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"runtime"
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
	"github.com/meso-project/meso/pkg/recordio"
	"github.com/meso-project/meso/pkg/resources"
)

const (
	contentTypeProtobuf = "application/x-protobuf"
	streamIDHeader      = "Mesos-Stream-Id"
	agentResources      = "cpus:4;mem:8192;disk:10240;ports:[31000-32000]"
	taskResources       = "cpus:0.1;mem:32"
	// firstAgentPort is the port in the first simulated agent's pid; the
	// others follow. Nothing listens there: the master only needs distinct
	// pids.
	firstAgentPort = 10000
)

// fleet is the simulated agents. They connect from many loopback source
// addresses (127.2.x.y), perIP agents each, because the master admits at
// most httpapi.DefaultMaxConnectionsPerIP (1,024) connections from one IP.
type fleet struct {
	master     string // host:port
	agents     []*simAgent
	transports []*http.Transport // two per source address: streams, PONGs
	frameworks int
	tasks      int // per agent
	wg         sync.WaitGroup
	pongs      atomic.Int64
}

// simAgent is one simulated agent: REGISTER, then REREGISTER reporting
// its frameworks and running tasks (as internal/agent's registrationCall
// fills it), PONGs on their own POSTs.
type simAgent struct {
	i            int
	pid          string
	info         *mesospb.AgentInfo
	tr, pongs    *http.Transport // this agent's source address's
	registeredAt atomic.Int64    // UnixNano of the last REGISTERED / REREGISTERED
	connectedAt  atomic.Int64    // UnixNano of the last TCP connection to the master
	err          atomic.Value    // string: why the last stream failed
	// body is the encoded registration call prepared ahead (prepare), so
	// that building it is not counted in the re-registration.
	body []byte
}

// prepare encodes every agent's next registration call now, on every
// core, so that the timed re-registration does not pay for building 18,000
// REREGISTERs (which a real fleet builds on its own machines).
func (f *fleet) prepare() error {
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := w; i < len(f.agents); i += runtime.GOMAXPROCS(0) {
				a := f.agents[i]
				b, err := proto.Marshal(f.registrationCall(a))
				if err != nil {
					failed.Store(err)
					return
				}
				a.body = b
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return err
	}
	return nil
}

func newFleet(master string, n, perIP, frameworks, tasks int) (*fleet, error) {
	res, err := resources.Parse(agentResources, "*")
	if err != nil {
		return nil, err
	}
	f := &fleet{master: master, frameworks: frameworks, tasks: tasks}
	for g := 0; g*perIP < n; g++ {
		ip := net.IPv4(127, 2, byte(g/250), byte(g%250+1))
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 30 * time.Second, KeepAlive: -1}
		// One transport for the streams (one connection each), one for
		// the PONGs: at most 4 connections per source address, so that
		// the agents' PINGs, which come in bursts, do not take more
		// descriptors than RLIMIT_NOFILE leaves.
		f.transports = append(f.transports, &http.Transport{
			DialContext: d.DialContext, DisableCompression: true,
		}, &http.Transport{
			DialContext: d.DialContext, MaxConnsPerHost: 4, MaxIdleConnsPerHost: 4, DisableCompression: true,
			IdleConnTimeout: time.Minute,
		})
	}
	for i := range n {
		port := firstAgentPort + i
		f.agents = append(f.agents, &simAgent{
			i:   i,
			pid: "slave(1)@127.0.0.1:" + strconv.Itoa(port),
			info: &mesospb.AgentInfo{
				Hostname:  proto.String("127.0.0.1"),
				Port:      proto.Int32(int32(port)),
				Resources: res, // shared, never changed
			},
			tr: f.transports[2*(i/perIP)], pongs: f.transports[2*(i/perIP)+1],
		})
	}
	return f, nil
}

// connectAll runs every agent's registration stream (REGISTER without an
// ID, else REREGISTER with its tasks) until ctx ends or the master closes
// it, at most concurrency opening at once (0: all at once), after a
// random delay in [0, jitter]. It returns once every agent is registered
// on its stream, or failed (the count of those).
func (f *fleet) connectAll(ctx context.Context, concurrency int, jitter time.Duration) (registered time.Duration, failed int) {
	start := time.Now()
	var sem chan struct{}
	if concurrency > 0 {
		sem = make(chan struct{}, concurrency)
	}
	var ready sync.WaitGroup
	var failures atomic.Int64
	for _, a := range f.agents {
		ready.Add(1)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if jitter > 0 {
				time.Sleep(randDuration(a.i, jitter))
			}
			if sem != nil {
				sem <- struct{}{}
			}
			once := sync.OnceFunc(func() {
				if sem != nil {
					<-sem
				}
				ready.Done()
			})
			defer once()
			if err := f.stream(ctx, a, once); err != nil && a.registeredAt.Load() < start.UnixNano() {
				a.err.Store(err.Error())
				failures.Add(1)
			}
		}()
	}
	ready.Wait()
	return time.Since(start), int(failures.Load())
}

// randDuration is a fixed pseudo-random delay in [0, d] for agent i.
func randDuration(i int, d time.Duration) time.Duration {
	x := uint64(i)*0x9E3779B97F4A7C15 + 1
	x ^= x >> 31
	return time.Duration(x % uint64(d+1))
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

// connectedSince returns how long after t the agents' TCP connections
// were established, sorted.
func (f *fleet) connectedSince(t time.Time) []time.Duration {
	var out []time.Duration
	for _, a := range f.agents {
		if at := a.connectedAt.Load(); at > t.UnixNano() {
			out = append(out, time.Duration(at-t.UnixNano()))
		}
	}
	slices.Sort(out)
	return out
}

// firstError is one failed agent's error, if any.
func (f *fleet) firstError() string {
	for _, a := range f.agents {
		if s, ok := a.err.Load().(string); ok {
			return fmt.Sprintf("agent %d: %s", a.i, s)
		}
	}
	return ""
}

func (f *fleet) wait() {
	f.wg.Wait()
	for _, t := range f.transports {
		t.CloseIdleConnections()
	}
}

// stream runs one registration stream; registered is called once the
// master accepted the agent (or the stream failed before).
func (f *fleet) stream(ctx context.Context, a *simAgent, registered func()) error {
	body := a.body
	a.body = nil
	if body == nil {
		var err error
		if body, err = proto.Marshal(f.registrationCall(a)); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+f.master+"/master/internal/agent", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentTypeProtobuf)
	req.Header.Set("Accept", contentTypeProtobuf)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				a.connectedAt.Store(time.Now().UnixNano())
			}
		},
	}))
	resp, err := a.tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	streamID := resp.Header.Get(streamIDHeader)
	reader := recordio.NewReader(resp.Body, 64<<20)
	first := true
	for {
		rec, err := reader.ReadRecord()
		if err != nil {
			if first {
				return fmt.Errorf("stream ended before REGISTERED: %w", err)
			}
			return nil // the master went away
		}
		ev := &agentapipb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			return fmt.Errorf("decoding event: %w", err)
		}
		if first {
			t := ev.GetType()
			if t != agentapipb.Event_REGISTERED && t != agentapipb.Event_REREGISTERED || ev.GetRegistered() == nil {
				return fmt.Errorf("first event is %v, want REGISTERED", t)
			}
			first = false
			a.info.Id = ev.GetRegistered().GetAgentId()
			a.registeredAt.Store(time.Now().UnixNano())
			registered()
		}
		switch ev.GetType() {
		case agentapipb.Event_PING:
			f.pong(ctx, a, streamID)
		case agentapipb.Event_SHUTDOWN:
			return errors.New("the master shut the agent down")
		}
	}
}

// pong answers a PING with a PONG call on its own POST, off the stream.
func (f *fleet) pong(ctx context.Context, a *simAgent, streamID string) {
	f.pongs.Add(1)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		_ = benchutil.Pong(ctx, a.pongs.RoundTrip, "http://"+f.master+"/master/internal/agent", streamID, a.info.GetId())
	}()
}

// registrationCall is REGISTER, or REREGISTER once the agent has an ID:
// f.tasks command tasks running (TASK_RUNNING, one status from the
// executor with the container's ID and IP, as internal/agent reports
// them), spread over f.frameworks frameworks, and those frameworks'
// FrameworkInfo. Command executors are not reported, as internal/agent
// does not.
func (f *fleet) registrationCall(a *simAgent) *agentapipb.Call {
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
	rr := &agentapipb.Call_Reregister{AgentInfo: info, Pid: &pid, Version: &version, Capabilities: caps}
	seen := map[int]bool{}
	for j := range f.tasks {
		fw := (a.i + j) % f.frameworks
		fid := &mesospb.FrameworkID{Value: proto.String(fmt.Sprintf("bench-scale-framework-%03d", fw))}
		if !seen[fw] {
			seen[fw] = true
			rr.Frameworks = append(rr.Frameworks, &mesospb.FrameworkInfo{
				Id: fid, Name: proto.String(fmt.Sprintf("bench-scale-%03d", fw)), User: proto.String("root"),
				Roles: []string{"*"}, FailoverTimeout: proto.Float64(7 * 24 * 3600), Checkpoint: proto.Bool(true),
				Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}},
			})
		}
		tid := &mesospb.TaskID{Value: proto.String(fmt.Sprintf("task-%06d-%02d", a.i, j))}
		res, _ := resources.Parse(taskResources, "*")
		for _, r := range res {
			r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("*")}
		}
		status := &mesospb.TaskStatus{
			TaskId: tid, State: mesospb.TaskState_TASK_RUNNING.Enum(), Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
			AgentId: info.Id, ExecutorId: &mesospb.ExecutorID{Value: tid.Value}, Timestamp: proto.Float64(1.7e9),
			Uuid: make([]byte, 16),
			ContainerStatus: &mesospb.ContainerStatus{
				ContainerId:  &mesospb.ContainerID{Value: proto.String(fmt.Sprintf("%08d-%04d-0000-0000-000000000000", a.i, j))},
				NetworkInfos: []*mesospb.NetworkInfo{{IpAddresses: []*mesospb.NetworkInfo_IPAddress{{IpAddress: proto.String("127.0.0.1")}}}},
			},
		}
		rr.Tasks = append(rr.Tasks, &mesospb.Task{
			Name: proto.String("sleep"), TaskId: tid, FrameworkId: fid, ExecutorId: status.ExecutorId, AgentId: info.Id,
			State: mesospb.TaskState_TASK_RUNNING.Enum(), Resources: res, Statuses: []*mesospb.TaskStatus{status},
			StatusUpdateState: mesospb.TaskState_TASK_RUNNING.Enum(), StatusUpdateUuid: make([]byte, 16),
			User: proto.String("root"),
		})
	}
	return &agentapipb.Call{Type: agentapipb.Call_REREGISTER.Enum(), AgentId: info.Id, Reregister: rr}
}
