package master

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync/atomic"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/resources"
)

// state is everything the master knows. Only the actor loop touches it.
type state struct {
	m         *Master
	log       *slog.Logger
	cfg       *Config
	info      *mesospb.MasterInfo
	startTime time.Time
	// electedTime is when this master became the leader: for now, when
	// Serve starts leading (right after start).
	electedTime time.Time

	// view, while a read is built for one reader, filters what it shows
	// (authz.go); nil: everything.
	view *viewer

	frameworks          map[string]*framework // registered (incl. recovered/disconnected)
	completedFrameworks []*framework          // oldest first, bounded

	agents      map[string]*agent    // registered agents (connected or not)
	agentOrder  []*agent             // agents by ID (sortedAgents); nil: to be made
	byPID       map[string][]*agent  // s.agents by pid (agentAtPID); see setAgent
	intern      interner             // what re-registered tasks share (intern.go)
	unreachable map[string]time.Time // agents marked unreachable, by ID
	gone        map[string]time.Time // agents marked gone (MARK_AGENT_GONE; operator_agents.go)
	// deactivated are the agents an operator deactivated (DEACTIVATE_AGENT),
	// registered, recovered or unreachable: Mesos's slaves.deactivated.
	// Durable in the registry; a deactivated agent stays inactive across
	// re-registration until REACTIVATE_AGENT.
	deactivated map[string]bool
	// recovered holds the agents of the registry that have not
	// re-registered since this master recovered it (recovery.go);
	// reconciliation stays silent about their tasks (spec §1.12).
	recovered map[string]*mesospb.AgentInfo
	// markingUnreachable and admitting are agents whose registry write is
	// in flight (Mesos's slaves.markingUnreachable, slaves.registering).
	markingUnreachable map[string]bool
	markingGone        map[string]bool // MARK_AGENT_GONE in flight (slaves.markingGone)
	removing           map[string]bool // RemoveAgent in flight (slaves.removing)
	admitting          map[string]bool // by pid
	reregistering      map[string]bool // by agent ID

	offers map[string]*offer

	// weights and quotas by role, as operators set them (roles.go).
	weights map[string]float64
	quotas  map[string]*quotapb.QuotaConfig

	nextFrameworkID int
	nextAgentID     int
	nextOfferID     int

	allocationPending bool

	// serving is set once this master leads and has recovered its
	// registry (recovery.go): only then does it allocate and ping.
	serving bool
	// failed stops the loop: a registry write failed (Mesos's master
	// aborts then, as its books would no longer match the registry).
	failed error

	// regQueue holds registry operations not yet handed to the writer;
	// regBusy is set while a batch is being written (registry.go).
	regQueue    []pendingOp
	regBusy     bool
	heldReplies []heldReply
	// recoveredTimer fires AgentReregisterTimeout after recovery
	// (recovery.go); registryAgents is how many agents the registry had.
	recoveredTimer *time.Timer
	registryAgents int

	metrics counters
	// mx is the rest of the metrics bookkeeping (metrics.go).
	mx metricsState

	// subscribers are the operator event streams, oldest first
	// (operator_stream.go).
	subscribers []*opSubscriber

	// logLevel is the verbosity of GET/SET_LOGGING_LEVEL (operator_read.go).
	logLevel logLevel
}

// counters are the monotonic metrics of /metrics/snapshot.
type counters struct {
	tasksFinished, tasksFailed, tasksKilled, tasksLost, tasksError,
	tasksDropped, tasksGone, tasksGoneByOperator int
	validStatusUpdates, invalidStatusUpdates                     int
	validAcks, invalidAcks                                       int
	slaveRemovals, slaveRegistrations, slaveReregistrations      int
	frameworkRemovals                                            int
	messagesLaunchTasks, messagesDeclineOffers, messagesKillTask int
	messagesReconcile, messagesStatusUpdate                      int
	invalidSchedulerCalls                                        int

	// slaveRemovals by reason (master/slave_removals/reason_*): missed
	// pings, UNREGISTER, a new agent registering at the same address.
	slaveRemovalsUnhealthy, slaveRemovalsUnregistered, slaveRemovalsRegistered int

	// Agents marked unreachable after a failover: scheduled and completed
	// (master/slave_unreachable_{scheduled,completed}).
	slaveUnreachableScheduled, slaveUnreachableCompleted int
}

// framework is a framework known to the master.
type framework struct {
	id   string
	info *mesospb.FrameworkInfo

	// conn is the current SUBSCRIBE stream; nil when disconnected.
	conn *schedConn
	// active frameworks get offers (connected and not deactivated).
	active bool
	// recovered frameworks were learned from a re-registering agent after a
	// master failover and have not subscribed to this master yet.
	recovered bool

	registeredTime, reregisteredTime, unregisteredTime time.Time
	// failoverGen invalidates failover timers armed for an older disconnect.
	failoverGen   int
	failoverTimer *time.Timer

	suppressed map[string]bool // suppressed roles

	tasks map[string]*mesospb.Task // non-terminal and terminal-unacked
	// live is a list of tasks' values for the reads (liveTasks), made by
	// the first read after tasks changed and shared by the later ones;
	// liveOK says it is current. Nothing writes to it once made.
	live             []*mesospb.Task
	liveOK           bool
	completedTasks   []*mesospb.Task // bounded, oldest first
	unreachableTasks []*mesospb.Task // bounded, oldest first
	offers           map[string]*offer
	// executors by agent ID then executor ID.
	executors map[string]map[string]*mesospb.ExecutorInfo

	// fm are the framework's own metrics (master/frameworks/...).
	fm *frameworkMetrics
}

func (f *framework) connected() bool { return f.conn != nil }

func (f *framework) hasCapability(c mesospb.FrameworkInfo_Capability_Type) bool {
	return hasCapability(f.info, c)
}

func hasCapability(fi *mesospb.FrameworkInfo, c mesospb.FrameworkInfo_Capability_Type) bool {
	for _, cap := range fi.GetCapabilities() {
		if cap.GetType() == c {
			return true
		}
	}
	return false
}

func (f *framework) partitionAware() bool {
	return f.hasCapability(mesospb.FrameworkInfo_Capability_PARTITION_AWARE)
}

// roles returns the framework's roles: `roles` for MULTI_ROLE frameworks,
// else the single (deprecated) `role`, "*" by default.
func frameworkRoles(fi *mesospb.FrameworkInfo) []string {
	if hasCapability(fi, mesospb.FrameworkInfo_Capability_MULTI_ROLE) {
		return fi.GetRoles()
	}
	return []string{fi.GetRole()}
}

// send queues an event on the framework's stream; dropped when disconnected
// (Mesos drops events for disconnected frameworks too).
func (f *framework) send(ev *schedulerpb.Event) {
	f.fm.countEvent(ev.GetType()) // counted even when disconnected, as Mesos's Framework::send does
	if f.conn != nil {
		f.conn.out.push(ev)
	}
}

// schedConn is one SUBSCRIBE stream.
type schedConn struct {
	streamID string
	out      *outbox[*schedulerpb.Event]
	// heartbeats counts the writer's HEARTBEATs for the framework's
	// metrics; set on the loop before the writer starts (metrics.go).
	heartbeats *atomic.Uint64
}

// agent is a registered agent.
type agent struct {
	id           string
	pingHash     uint64 // 1 + a hash of id, for its ping group (pingGroupOf); 0: not yet taken
	info         *mesospb.AgentInfo
	pid          string // slave(1)@ip:port
	ip           string
	port         int
	version      string
	capabilities []mesospb.AgentInfo_Capability_Type
	total        resources.Resources // replaced when it changes, never edited
	// totalMaps are total's /state maps, made by the first read after
	// total changed (agentView.totalMaps) and shared by the later ones.
	totalMaps atomic.Pointer[totalMaps]

	conn *agentConn // nil when the stream is lost
	// active agents get offers: connected and not deactivated by an
	// operator (state.deactivated, which /state shows as "deactivated").
	active bool

	registeredTime, reregisteredTime time.Time
	missedPings                      int
	pongPending                      bool

	// tasks by framework ID then task ID (same pointers as framework.tasks).
	tasks map[string]map[string]*mesospb.Task
	// executors by framework ID then executor ID.
	executors map[string]map[string]*mesospb.ExecutorInfo
	offers    map[string]*offer
	// killed remembers kills sent while the agent might not have got them.
	killed map[string]map[string]bool

	// executorsGen and offersGen count the changes to executors and
	// offers (maps the loop edits in place), for the view's key.
	executorsGen, offersGen uint64
	// view is the agent's last unfiltered agentView and viewKey what it
	// was made from (viewAgentOnly): the reads share it while the key
	// holds. Nothing writes to a view once made.
	view    *agentView
	viewKey agentViewKey
}

func (a *agent) connected() bool { return a.conn != nil }

func (a *agent) send(ev *agentapipb.Event) {
	if a.conn != nil {
		a.conn.out.push(ev)
	}
}

func (a *agent) hasCapability(c mesospb.AgentInfo_Capability_Type) bool {
	for _, x := range a.capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// agentConn is one agent event stream.
type agentConn struct {
	streamID string
	out      *outbox[*agentapipb.Event]
}

// offer is an outstanding offer.
type offer struct {
	id          string
	frameworkID string
	agentID     string
	role        string
	// resources in the internal format: post-refinement, with allocation_info.
	resources resources.Resources
	msg       *mesospb.Offer // internal form (allocation_info everywhere)
	timer     *time.Timer
	since     time.Time // when it was made (the explainer shows it)
}

func newState(m *Master) *state {
	return &state{
		m:                  m,
		log:                m.log,
		cfg:                &m.cfg,
		frameworks:         map[string]*framework{},
		agents:             map[string]*agent{},
		byPID:              map[string][]*agent{},
		unreachable:        map[string]time.Time{},
		gone:               map[string]time.Time{},
		deactivated:        map[string]bool{},
		recovered:          map[string]*mesospb.AgentInfo{},
		markingUnreachable: map[string]bool{},
		markingGone:        map[string]bool{},
		removing:           map[string]bool{},
		admitting:          map[string]bool{},
		reregistering:      map[string]bool{},
		offers:             map[string]*offer{},
		weights:            maps.Clone(m.cfg.Weights),
		quotas:             map[string]*quotapb.QuotaConfig{},
		logLevel:           logLevel{base: baseLevel(m.cfg.LogLevel)},
	}
}

// baseLevel is the level Config.LogLevel starts at (INFO without one).
func baseLevel(lv *slog.LevelVar) slog.Level {
	if lv == nil {
		return slog.LevelInfo
	}
	return lv.Level()
}

func (s *state) start(addr *net.TCPAddr) {
	s.info = buildMasterInfo(s.m.id, s.cfg.Hostname, addr)
	s.startTime = s.cfg.Now()
}

// elected records that this master now leads.
func (s *state) elected() {
	s.electedTime = s.cfg.Now()
}

// shutdown closes every stream so that HTTP handlers return.
func (s *state) shutdown() {
	for _, f := range s.frameworks {
		if f.failoverTimer != nil {
			f.failoverTimer.Stop()
		}
		if f.conn != nil {
			f.conn.out.close()
		}
	}
	for _, a := range s.agents {
		if a.conn != nil {
			a.conn.out.close()
		}
	}
	for _, o := range s.offers {
		if o.timer != nil {
			o.timer.Stop()
		}
	}
	if s.logLevel.timer != nil {
		s.logLevel.timer.Stop()
	}
}

func (s *state) now() time.Time { return s.cfg.Now() }

func (s *state) newFrameworkID() string {
	id := fmt.Sprintf("%s-%04d", s.m.id, s.nextFrameworkID)
	s.nextFrameworkID++
	return id
}

func (s *state) newAgentID() string {
	id := fmt.Sprintf("%s-S%d", s.m.id, s.nextAgentID)
	s.nextAgentID++
	return id
}

func (s *state) newOfferID() string {
	id := fmt.Sprintf("%s-O%d", s.m.id, s.nextOfferID)
	s.nextOfferID++
	return id
}

func (s *state) triggerAllocation() {
	s.allocationTriggered()
	s.allocationPending = true
}

func (s *state) isCompletedFramework(id string) bool {
	for _, f := range s.completedFrameworks {
		if f.id == id {
			return true
		}
	}
	return false
}

// newFramework creates and registers a framework record (not yet told to
// the allocator).
func (s *state) newFramework(info *mesospb.FrameworkInfo) *framework {
	f := &framework{
		id:             info.GetId().GetValue(),
		info:           info,
		registeredTime: s.now(),
		suppressed:     map[string]bool{},
		tasks:          map[string]*mesospb.Task{},
		offers:         map[string]*offer{},
		executors:      map[string]map[string]*mesospb.ExecutorInfo{},
		fm:             &frameworkMetrics{},
	}
	s.frameworks[f.id] = f
	return f
}

// newRecoveredFramework registers a framework learned from an agent or
// from a scheduler re-subscribing with an ID this master never saw
// (Master::recoverFramework): it has no registration time (Mesos's
// recovered Framework starts at Time(), shown as 0) until it subscribes.
func (s *state) newRecoveredFramework(info *mesospb.FrameworkInfo) *framework {
	f := s.newFramework(info)
	f.recovered = true
	f.registeredTime = time.Time{}
	return f
}

func appendBounded[T any](list []T, v T, limit int) []T {
	list = append(list, v)
	if len(list) > limit {
		list = append(list[:0:0], list[len(list)-limit:]...)
	}
	return list
}

func secs(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
