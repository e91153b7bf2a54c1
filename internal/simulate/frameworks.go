package simulate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/scheduler"
	"github.com/meso-project/meso/pkg/taskstate"
)

// callWorkers is the number of calls (ACCEPT, DECLINE, ACKNOWLEDGE) one
// framework has in flight at once: the event handler hands them off so
// that it keeps reading events.
const callWorkers = 16

// taskStats are the counts every framework adds to.
type taskStats struct {
	launched, running, finished, failed atomic.Int64
	offers, declined                    atomic.Int64
	callErrors                          atomic.Int64
	lastErr                             atomic.Value // string
	subscribed                          atomic.Int64
}

// frameworkConfig is one synthetic framework.
type frameworkConfig struct {
	index    int
	name     string
	roles    []string
	tasks    int // to launch; ignored by the probe
	accept   float64
	refuse   float64
	perOffer int
	need     map[string]float64 // a task's scalar resources
	duration Distribution
	probe    bool
	// busy tells the probe whether the other frameworks still have tasks
	// to launch (the cluster is saturated): only then does it keep its
	// samples.
	busy  func() bool
	local *net.TCPAddr // nil: any
	det   detector.Detector
	stats *taskStats
}

// framework is a synthetic framework on pkg/scheduler. Its event handler
// runs on one goroutine (pkg/scheduler's); calls go to a small pool.
type framework struct {
	cfg    frameworkConfig
	client *scheduler.Client
	calls  chan *schedulerpb.Call
	wg     sync.WaitGroup

	// Touched only by the handler.
	offeredAt  map[string]time.Time // task ID → when its offer arrived, until TASK_RUNNING
	busyAt     map[string]bool      // the probe's tasks offered while the cluster was busy
	live       map[string]bool      // tasks launched and not yet ended
	launched   int
	ended      int
	inFlight   bool // the probe has a task that is not done
	suppressed bool

	mu        sync.Mutex
	latencies []time.Duration // offer → TASK_RUNNING
	done      chan struct{}   // closed once every task ended (not the probe)
	closed    bool
}

func newFramework(cfg frameworkConfig) (*framework, error) {
	var transport http.RoundTripper = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: 15 * time.Second, LocalAddr: cfg.local}
			if cfg.local == nil {
				d.LocalAddr = nil
			}
			return d.DialContext(ctx, network, addr)
		},
		DisableCompression:  true,
		MaxIdleConnsPerHost: callWorkers + 1,
	}
	info := &mesospb.FrameworkInfo{
		User:     proto.String("meso-simulate"),
		Name:     proto.String(cfg.name),
		Hostname: proto.String("meso-simulate"),
		Capabilities: []*mesospb.FrameworkInfo_Capability{
			{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()},
			{Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()},
		},
		Roles: cfg.roles,
	}
	c, err := scheduler.New(scheduler.Config{
		Detector:   cfg.det,
		Framework:  info,
		HTTPClient: &http.Client{Transport: transport},
		MaxBackoff: 2 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	return &framework{
		cfg:       cfg,
		client:    c,
		calls:     make(chan *schedulerpb.Call, 4096),
		offeredAt: map[string]time.Time{},
		busyAt:    map[string]bool{},
		live:      map[string]bool{},
		done:      make(chan struct{}),
	}, nil
}

// run drives the framework until ctx ends; teardown ends it for good
// (TEARDOWN) when asked to.
func (f *framework) run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range callWorkers {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.callLoop(runCtx)
		}()
	}
	defer f.wg.Wait()
	err := f.client.Run(runCtx, f.handle)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (f *framework) callLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-f.calls:
			if err := f.client.Call(ctx, c); err != nil && ctx.Err() == nil {
				f.cfg.stats.callErrors.Add(1)
				f.cfg.stats.lastErr.Store(err.Error())
			}
		}
	}
}

func (f *framework) call(ctx context.Context, c *schedulerpb.Call) {
	select {
	case f.calls <- c:
	case <-ctx.Done():
	}
}

// teardown removes the framework from the master.
func (f *framework) teardown(ctx context.Context) error {
	if f.client.StreamID() == "" {
		return nil
	}
	return f.client.Call(ctx, scheduler.Teardown())
}

func (f *framework) handle(ctx context.Context, ev *schedulerpb.Event) error {
	switch ev.GetType() {
	case schedulerpb.Event_SUBSCRIBED:
		f.cfg.stats.subscribed.Add(1)
		if f.suppressed {
			// A re-subscription: the master forgot the suppression.
			f.call(ctx, scheduler.Suppress())
		}
	case schedulerpb.Event_OFFERS:
		now := time.Now()
		for _, o := range ev.GetOffers().GetOffers() {
			f.cfg.stats.offers.Add(1)
			f.offer(ctx, o, now)
		}
	case schedulerpb.Event_UPDATE:
		f.update(ctx, ev.GetUpdate().GetStatus())
	}
	return nil
}

// offer accepts (with as many tasks as fit, up to perOffer) or declines.
func (f *framework) offer(ctx context.Context, o *mesospb.Offer, now time.Time) {
	remaining := f.cfg.tasks - f.launched
	switch {
	case f.cfg.probe && !f.inFlight:
		remaining = 1
	case f.cfg.probe:
		remaining = 0
	}
	if remaining <= 0 || f.cfg.accept < 1 && rand.Float64() >= f.cfg.accept {
		refuse := f.cfg.refuse
		if f.cfg.probe {
			refuse = 0.01 // the probe wants the next offer soon
		} else if remaining <= 0 {
			refuse = 3600
		}
		f.cfg.stats.declined.Add(1)
		f.call(ctx, scheduler.Decline([]*mesospb.OfferID{o.GetId()}, scheduler.RefuseFor(refuse)))
		return
	}
	n := fit(o, f.cfg.need)
	n = min(n, remaining)
	if f.cfg.perOffer > 0 {
		n = min(n, f.cfg.perOffer)
	}
	if n == 0 {
		f.cfg.stats.declined.Add(1)
		f.call(ctx, scheduler.Decline([]*mesospb.OfferID{o.GetId()}, scheduler.RefuseFor(f.cfg.refuse)))
		return
	}
	role := o.GetAllocationInfo().GetRole()
	tasks := make([]*mesospb.TaskInfo, 0, n)
	for range n {
		id := strconv.Itoa(f.cfg.index) + "-" + strconv.Itoa(f.launched)
		f.launched++
		d := f.cfg.duration.Draw()
		tasks = append(tasks, &mesospb.TaskInfo{
			Name:      proto.String(id),
			TaskId:    &mesospb.TaskID{Value: proto.String(id)},
			AgentId:   o.GetAgentId(),
			Resources: taskResources(f.cfg.need, role),
			Command: &mesospb.CommandInfo{
				Value: proto.String("sleep " + strconv.FormatFloat(d.Seconds(), 'f', -1, 64)),
			},
		})
		f.offeredAt[id] = now
		if f.cfg.probe && f.cfg.busy != nil && f.cfg.busy() {
			f.busyAt[id] = true
		}
		f.live[id] = true
	}
	f.cfg.stats.launched.Add(int64(n))
	if f.cfg.probe {
		f.inFlight = true
	}
	// The offer's unused resources are declined with the master's default
	// filter (5 s), as most frameworks do; refuse_seconds 0 would also make
	// the master run an allocation cycle for every ACCEPT.
	f.call(ctx, scheduler.Accept([]*mesospb.OfferID{o.GetId()},
		[]*mesospb.Offer_Operation{scheduler.LaunchOperation(tasks...)}, nil))
	if !f.cfg.probe && f.launched >= f.cfg.tasks && !f.suppressed {
		f.suppressed = true
		f.call(ctx, scheduler.Suppress())
	}
}

// fit is how many tasks of size need the offer's unreserved scalars hold.
func fit(o *mesospb.Offer, need map[string]float64) int {
	have := map[string]float64{}
	for _, r := range o.GetResources() {
		unreserved := len(r.GetReservations()) == 0 && r.GetReservation() == nil && (r.GetRole() == "" || r.GetRole() == "*")
		if r.GetType() == mesospb.Value_SCALAR && unreserved {
			have[r.GetName()] += r.GetScalar().GetValue()
		}
	}
	n := math.MaxInt
	for name, q := range need {
		if q <= 0 {
			continue
		}
		n = min(n, int(math.Floor(have[name]/q+1e-9)))
	}
	if n == math.MaxInt {
		return 0
	}
	return n
}

func taskResources(need map[string]float64, role string) []*mesospb.Resource {
	out := make([]*mesospb.Resource, 0, len(need))
	for name, q := range need {
		out = append(out, &mesospb.Resource{
			Name:           proto.String(name),
			Type:           mesospb.Value_SCALAR.Enum(),
			Scalar:         &mesospb.Value_Scalar{Value: proto.Float64(q)},
			AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String(role)},
		})
	}
	return out
}

// update counts a status update and acknowledges it. An update may come
// more than once (the agent re-sends it until the acknowledgement reaches
// it); only the first counts.
func (f *framework) update(ctx context.Context, st *mesospb.TaskStatus) {
	id := st.GetTaskId().GetValue()
	switch s := st.GetState(); {
	case !f.live[id]:
	case s == mesospb.TaskState_TASK_RUNNING:
		if at, ok := f.offeredAt[id]; ok {
			delete(f.offeredAt, id)
			busy := f.busyAt[id]
			delete(f.busyAt, id)
			if !f.cfg.probe || busy {
				f.mu.Lock()
				f.latencies = append(f.latencies, time.Since(at))
				f.mu.Unlock()
			}
			f.cfg.stats.running.Add(1)
		}
	case taskstate.IsTerminal(s):
		delete(f.live, id)
		if _, ok := f.offeredAt[id]; ok {
			// Ended without running.
			delete(f.offeredAt, id)
		} else {
			f.cfg.stats.running.Add(-1)
		}
		if s == mesospb.TaskState_TASK_FINISHED {
			f.cfg.stats.finished.Add(1)
		} else {
			f.cfg.stats.failed.Add(1)
		}
		f.ended++
		f.inFlight = false
		if !f.cfg.probe && f.ended >= f.cfg.tasks {
			f.mu.Lock()
			if !f.closed {
				f.closed = true
				close(f.done)
			}
			f.mu.Unlock()
		}
	}
	if ack := scheduler.Acknowledge(st); ack != nil {
		f.call(ctx, ack)
	}
}

// parseTaskResources turns "cpus:0.1;mem:32" into scalar quantities.
func parseTaskResources(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for part := range strings.SplitSeq(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, v, ok := strings.Cut(part, ":")
		q, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || q <= 0 || strings.ContainsAny(name, "()[]") {
			return nil, fmt.Errorf("%w: task resources %q: want scalars like cpus:0.1;mem:32", ErrConfig, s)
		}
		out[name] += q
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: task resources are empty", ErrConfig)
	}
	return out, nil
}
