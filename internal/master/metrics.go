package master

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/metrics"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/taskstate"
)

// This file holds the master's metrics (Mesos's src/master/metrics.cpp:
// Metrics and FrameworkMetrics, and the allocator's allocation timers):
// the bookkeeping the loop does per event — O(1) increments — and the
// snapshot behind /metrics/snapshot, /metrics (Prometheus) and
// GET_METRICS. A snapshot is taken in two steps: the loop copies the
// numbers (masterSample), then the HTTP goroutine names them, so that the
// thousands of per-framework names are built off the loop.

// message indexes the master/messages_* counters that counters (state.go)
// does not hold itself.
type message int

const (
	msgRegisterFramework message = iota
	msgReregisterFramework
	msgUnregisterFramework
	msgDeactivateFramework
	msgStatusUpdateAck
	msgOperationStatusUpdateAck
	msgResourceRequest
	msgReviveOffers
	msgSuppressOffers
	msgReconcileOperations
	msgFrameworkToExecutor
	msgExecutorToFramework
	msgRegisterSlave
	msgReregisterSlave
	msgUnregisterSlave
	msgStatusUpdate
	msgOperationStatusUpdate
	msgExitedExecutor
	msgUpdateSlave
	msgAuthenticate
	validFrameworkToExecutor
	invalidFrameworkToExecutor
	validExecutorToFramework
	invalidExecutorToFramework
	validOperationStatusUpdates
	invalidOperationStatusUpdates
	validOperationStatusUpdateAcks
	invalidOperationStatusUpdateAcks
	droppedMessages
	httpCacheHits
	slaveShutdownsScheduled
	slaveShutdownsCompleted
	slaveShutdownsCanceled
	numMessages
)

var messageNames = [numMessages]string{
	msgRegisterFramework:             "master/messages_register_framework",
	msgReregisterFramework:           "master/messages_reregister_framework",
	msgUnregisterFramework:           "master/messages_unregister_framework",
	msgDeactivateFramework:           "master/messages_deactivate_framework",
	msgStatusUpdateAck:               "master/messages_status_update_acknowledgement",
	msgOperationStatusUpdateAck:      "master/messages_operation_status_update_acknowledgement",
	msgResourceRequest:               "master/messages_resource_request",
	msgReviveOffers:                  "master/messages_revive_offers",
	msgSuppressOffers:                "master/messages_suppress_offers",
	msgReconcileOperations:           "master/messages_reconcile_operations",
	msgFrameworkToExecutor:           "master/messages_framework_to_executor",
	msgExecutorToFramework:           "master/messages_executor_to_framework",
	msgRegisterSlave:                 "master/messages_register_slave",
	msgReregisterSlave:               "master/messages_reregister_slave",
	msgUnregisterSlave:               "master/messages_unregister_slave",
	msgStatusUpdate:                  "master/messages_status_update",
	msgOperationStatusUpdate:         "master/messages_operation_status_update",
	msgExitedExecutor:                "master/messages_exited_executor",
	msgUpdateSlave:                   "master/messages_update_slave",
	msgAuthenticate:                  "master/messages_authenticate",
	validFrameworkToExecutor:         "master/valid_framework_to_executor_messages",
	invalidFrameworkToExecutor:       "master/invalid_framework_to_executor_messages",
	validExecutorToFramework:         "master/valid_executor_to_framework_messages",
	invalidExecutorToFramework:       "master/invalid_executor_to_framework_messages",
	validOperationStatusUpdates:      "master/valid_operation_status_updates",
	invalidOperationStatusUpdates:    "master/invalid_operation_status_updates",
	validOperationStatusUpdateAcks:   "master/valid_operation_status_update_acknowledgements",
	invalidOperationStatusUpdateAcks: "master/invalid_operation_status_update_acknowledgements",
	droppedMessages:                  "master/dropped_messages",
	httpCacheHits:                    "master/http_cache_hits",
	slaveShutdownsScheduled:          "master/slave_shutdowns_scheduled",
	slaveShutdownsCompleted:          "master/slave_shutdowns_completed",
	slaveShutdownsCanceled:           "master/slave_shutdowns_canceled",
}

// taskStateKey names a master/<state>/<source>/<reason> counter.
type taskStateKey struct {
	state  mesospb.TaskState
	source mesospb.TaskStatus_Source
	reason mesospb.TaskStatus_Reason
}

// allocationTimerWindow is the window of the allocator's timers
// (Timer("allocator/mesos/allocation_run", Hours(1))).
const allocationTimerWindow = time.Hour

// metricsState is the loop's bookkeeping for the metrics counters does
// not hold.
type metricsState struct {
	messages   [numMessages]uint64
	taskStates map[taskStateKey]uint64

	// Allocation runs (allocator/mesos/allocation_runs) and their timers:
	// how long Allocate took (allocation_run_ms) and how long a triggered
	// allocation waited for its run (allocation_run_latency_ms).
	allocationRuns uint64
	allocRun       *metrics.Timer
	allocLatency   *metrics.Timer
	// triggered is when the pending allocation was asked for (zero when
	// none is pending or the run is the periodic one).
	triggered time.Time
}

func (m *metricsState) count(msg message) { m.messages[msg]++ }

// Enum-indexed per-framework counters; the arrays cover every value the
// v1 enums declare (checked in TestMasterMetricNames through the names).
const (
	maxCallType  = 32
	maxEventType = 16
	maxOpType    = 16
	maxTaskState = 16
)

// frameworkMetrics are Mesos's FrameworkMetrics for one framework.
type frameworkMetrics struct {
	calls                                                       [maxCallType]uint64
	events                                                      [maxEventType]uint64
	operations                                                  [maxOpType]uint64
	terminal                                                    [maxTaskState]uint64
	callsTotal, eventsTotal, operationsTotal                    uint64
	offersSent, offersAccepted, offersDeclined, offersRescinded uint64
	// heartbeats counts the HEARTBEATs the stream writer adds on its own
	// (scheduler_api.go), off the loop.
	heartbeats atomic.Uint64
}

func (fm *frameworkMetrics) countEvent(t schedulerpb.Event_Type) {
	if fm == nil {
		return
	}
	if int(t) < maxEventType {
		fm.events[t]++
	}
	fm.eventsTotal++
}

func (fm *frameworkMetrics) countCall(t schedulerpb.Call_Type) {
	if fm == nil {
		return
	}
	if int(t) < maxCallType {
		fm.calls[t]++
	}
	fm.callsTotal++
}

// timeAllocate runs Allocate and records allocation_runs, its duration and
// the delay since it was triggered. The timers use the wall clock, not
// Config.Now (which tests may stop): they measure work, not schedule it.
func (s *state) timeAllocate(now time.Time) []allocator.Allocation {
	mx := &s.mx
	if mx.allocRun == nil {
		mx.allocRun = metrics.NewTimer(allocationTimerWindow)
		mx.allocLatency = metrics.NewTimer(allocationTimerWindow)
	}
	start := time.Now()
	latency := time.Duration(0)
	if !mx.triggered.IsZero() {
		latency = start.Sub(mx.triggered)
		mx.triggered = time.Time{}
	}
	mx.allocLatency.Record(latency, start)
	mx.allocationRuns++
	allocs := s.alloc().Allocate(now)
	end := time.Now()
	mx.allocRun.Record(end.Sub(start), end)
	return allocs
}

// allocationTriggered notes when an allocation was first asked for since
// the last run (Mesos starts allocation_run_latency in generateOffers).
func (s *state) allocationTriggered() {
	if !s.allocationPending && s.mx.triggered.IsZero() {
		s.mx.triggered = time.Now()
	}
}

// countSubscribe counts a SUBSCRIBE before it is processed
// (Master::subscribe: messages_register_framework without an ID,
// messages_reregister_framework with one).
func (s *state) countSubscribe(sub *schedulerpb.Call_Subscribe) {
	if sub.GetFrameworkInfo().GetId().GetValue() == "" {
		s.mx.count(msgRegisterFramework)
	} else {
		s.mx.count(msgReregisterFramework)
	}
}

// subscribed counts the subscribed framework's SUBSCRIBE call and lets
// conn's stream writer count its HEARTBEATs into the framework's metrics.
// The writer starts after this returns, so the pointer needs no lock.
func (s *state) subscribed(frameworkID string, conn *schedConn) {
	if f := s.frameworks[frameworkID]; f != nil && f.fm != nil {
		f.fm.countCall(schedulerpb.Call_SUBSCRIBE)
		conn.heartbeats = &f.fm.heartbeats
	}
}

// countSchedulerCall counts a non-SUBSCRIBE call of a subscribed
// framework on its stream (FrameworkMetrics::incrementCall, after the
// stream checks as in Master::Http::scheduler) and the master's
// messages_* for it that the handlers do not count themselves.
func (s *state) countSchedulerCall(f *framework, call *schedulerpb.Call) {
	f.fm.countCall(call.GetType())
	switch call.GetType() {
	case schedulerpb.Call_TEARDOWN:
		s.mx.count(msgUnregisterFramework)
	case schedulerpb.Call_REVIVE:
		s.mx.count(msgReviveOffers)
	case schedulerpb.Call_SUPPRESS:
		s.mx.count(msgSuppressOffers)
	case schedulerpb.Call_ACKNOWLEDGE:
		s.mx.count(msgStatusUpdateAck)
	case schedulerpb.Call_ACKNOWLEDGE_OPERATION_STATUS:
		// No operation is ever pending an acknowledgement (no operation
		// feedback yet), so every one is invalid.
		s.mx.count(msgOperationStatusUpdateAck)
		s.mx.count(invalidOperationStatusUpdateAcks)
	case schedulerpb.Call_RECONCILE_OPERATIONS:
		s.mx.count(msgReconcileOperations)
	case schedulerpb.Call_REQUEST:
		s.mx.count(msgResourceRequest)
	case schedulerpb.Call_MESSAGE:
		s.mx.count(msgFrameworkToExecutor)
		// Master::frameworkMessage: valid when the agent is registered
		// and connected (meso sends nothing otherwise).
		if a := s.agents[call.GetMessage().GetAgentId().GetValue()]; a != nil && a.connected() {
			s.mx.count(validFrameworkToExecutor)
		} else {
			s.mx.count(invalidFrameworkToExecutor)
		}
	}
}

// countInvalidSchedulerCall is Metrics::incrementInvalidSchedulerCalls: a
// call that failed validation counts against its kind.
func (s *state) countInvalidSchedulerCall(call *schedulerpb.Call) {
	s.metrics.invalidSchedulerCalls++
	switch call.GetType() {
	case schedulerpb.Call_ACKNOWLEDGE:
		s.metrics.invalidAcks++
	case schedulerpb.Call_ACKNOWLEDGE_OPERATION_STATUS:
		s.mx.count(invalidOperationStatusUpdateAcks)
	case schedulerpb.Call_MESSAGE:
		s.mx.count(invalidFrameworkToExecutor)
	}
}

// countAgentCall counts an agent's call as the message Mesos's agent
// would have sent (messages_register_slave, messages_status_update, ...).
func (s *state) countAgentCall(call *agentapipb.Call) {
	switch call.GetType() {
	case agentapipb.Call_REGISTER:
		s.mx.count(msgRegisterSlave)
	case agentapipb.Call_REREGISTER:
		s.mx.count(msgReregisterSlave)
	case agentapipb.Call_UNREGISTER:
		s.mx.count(msgUnregisterSlave)
	case agentapipb.Call_STATUS_UPDATE:
		s.mx.count(msgStatusUpdate)
	case agentapipb.Call_EXECUTOR_EXITED:
		s.mx.count(msgExitedExecutor)
	case agentapipb.Call_EXECUTOR_MESSAGE:
		s.mx.count(msgExecutorToFramework)
		// Master::executorMessage: invalid when the framework is unknown
		// or not connected.
		if f := s.frameworks[call.GetExecutorMessage().GetFrameworkId().GetValue()]; f != nil && f.connected() {
			s.mx.count(validExecutorToFramework)
		} else {
			s.mx.count(invalidExecutorToFramework)
		}
	}
}

// countOperations counts an ACCEPT's operations for the framework
// (FrameworkMetrics::incrementOperation) and its accepted offers.
func (f *framework) countAccept(acc *schedulerpb.Call_Accept) {
	if f.fm == nil {
		return
	}
	f.fm.offersAccepted += uint64(len(acc.GetOfferIds()))
	for _, op := range acc.GetOperations() {
		if t := op.GetType(); t != mesospb.Offer_Operation_UNKNOWN {
			if int(t) < maxOpType {
				f.fm.operations[t]++
			}
			f.fm.operationsTotal++
		}
	}
}

// countTaskStatus counts a terminal status by state, source and reason
// (Metrics::incrementTasksStates), for statuses that carry a reason.
func (s *state) countTaskStatus(st *mesospb.TaskStatus) {
	if st.Reason == nil || !taskstate.IsTerminal(st.GetState()) {
		return
	}
	if s.mx.taskStates == nil {
		s.mx.taskStates = map[taskStateKey]uint64{}
	}
	s.mx.taskStates[taskStateKey{st.GetState(), st.GetSource(), st.GetReason()}]++
}

// countTaskTransition counts a known task's move to a terminal state for
// its framework (FrameworkMetrics::incrementTaskState) and by reason.
// Active states are counted from the tasks themselves at snapshot time.
func (s *state) countTaskTransition(t *mesospb.Task, st *mesospb.TaskStatus) {
	s.countTaskStatus(st)
	if f := s.frameworks[t.GetFrameworkId().GetValue()]; f != nil && f.fm != nil {
		if x := st.GetState(); taskstate.IsTerminal(x) && int(x) < maxTaskState {
			f.fm.terminal[x]++
		}
	}
}

// frameworkSample is one framework's numbers, copied on the loop.
type frameworkSample struct {
	name, id   string
	subscribed bool
	calls      [maxCallType]uint64
	events     [maxEventType]uint64
	operations [maxOpType]uint64
	terminal   [maxTaskState]uint64
	active     [maxTaskState]uint64

	callsTotal, eventsTotal, operationsTotal                    uint64
	offersSent, offersAccepted, offersDeclined, offersRescinded uint64
	heartbeats                                                  uint64
	roles                                                       []string
	suppressed                                                  []bool
}

// masterSample is a snapshot in the making: the master-wide metrics,
// already named, and the frameworks' numbers still to be named.
type masterSample struct {
	snap       *metrics.Snapshot
	frameworks []frameworkSample
}

// sampleMetrics copies the numbers of a snapshot; it runs on the loop.
func (s *state) sampleMetrics() *masterSample {
	out := &masterSample{snap: metrics.NewSnapshot(256)}
	s.addMasterMetrics(out.snap)
	out.frameworks = make([]frameworkSample, 0, len(s.frameworks))
	for _, f := range s.frameworks {
		fs := frameworkSample{name: f.info.GetName(), id: f.id, subscribed: f.connected()}
		if fm := f.fm; fm != nil {
			fs.calls, fs.events, fs.operations, fs.terminal = fm.calls, fm.events, fm.operations, fm.terminal
			fs.callsTotal, fs.eventsTotal, fs.operationsTotal = fm.callsTotal, fm.eventsTotal, fm.operationsTotal
			fs.offersSent, fs.offersAccepted, fs.offersDeclined, fs.offersRescinded = fm.offersSent, fm.offersAccepted, fm.offersDeclined, fm.offersRescinded
			fs.heartbeats = fm.heartbeats.Load()
		}
		for _, t := range f.tasks {
			if x := t.GetState(); !taskstate.IsTerminal(x) && int(x) < maxTaskState {
				fs.active[x]++
			}
		}
		fs.roles = frameworkRoles(f.info)
		fs.suppressed = make([]bool, len(fs.roles))
		for i, r := range fs.roles {
			fs.suppressed[i] = f.suppressed[r]
		}
		out.frameworks = append(out.frameworks, fs)
	}
	return out
}

// addMasterMetrics adds every master-wide metric: the existing subset
// (state_json.go), the counters of this file, the allocator's and the
// registrar's (system/* is added off the loop, in snapshot).
func (s *state) addMasterMetrics(snap *metrics.Snapshot) {
	base, _ := s.metricsSnapshot(nil).(map[string]float64)
	for name, v := range base {
		if isMasterCounter(name) {
			snap.Counter(name, v)
		} else {
			snap.Gauge(name, v)
		}
	}
	m := &s.mx
	for i, name := range messageNames {
		snap.Counter(name, float64(m.messages[i]))
	}
	for k, n := range m.taskStates {
		snap.Counter("master/"+strings.ToLower(k.state.String())+"/"+
			v0Name(k.source.String())+"/"+v0Name(k.reason.String()), float64(n))
	}
	// The operator API's SUBSCRIBE streams (operator_stream.go).
	snap.Gauge("master/operator_event_stream_subscribers", float64(len(s.subscribers)))

	// Offer operations with feedback (master/operations/*): meso accepts
	// no operation with an ID, so every gauge is 0, as in a Mesos master
	// whose frameworks use none.
	addOperationStates(snap, "master/operations/")
	for t := mesospb.Offer_Operation_Type(1); int(t) < maxOpType; t++ {
		name, ok := mesospb.Offer_Operation_Type_name[int32(t)]
		if !ok || t == mesospb.Offer_Operation_LAUNCH || t == mesospb.Offer_Operation_LAUNCH_GROUP {
			continue
		}
		addOperationStates(snap, "master/operations/"+strings.ToLower(name)+"/")
	}

	// allocator/mesos/*: the master runs the allocator on its loop, so
	// its event queue is always empty.
	snap.Counter("allocator/mesos/allocation_runs", float64(m.allocationRuns))
	snap.Gauge("allocator/mesos/event_queue_dispatches", 0)
	snap.Gauge("allocator/event_queue_dispatches", 0)
	if m.allocRun != nil {
		m.allocRun.AddTo(snap, "allocator/mesos/allocation_run_ms")
		m.allocLatency.AddTo(snap, "allocator/mesos/allocation_run_latency_ms")
	}
	if r, ok := s.alloc().(allocator.MetricsReporter); ok {
		snap.Gauges(r.Metrics(s.now()))
	}
}

func addOperationStates(snap *metrics.Snapshot, prefix string) {
	for _, st := range []string{"total", "pending", "recovering", "unreachable", "finished", "failed", "error", "dropped", "gone_by_operator"} {
		snap.Gauge(prefix+st, 0)
	}
}

// v0Name is the v0 name Mesos's metric names use for a v1 enum value name:
// "SOURCE_AGENT" is source_slave, "REASON_AGENT_REMOVED" reason_slave_removed.
func v0Name(v1 string) string {
	return strings.ToLower(strings.ReplaceAll(v1, "AGENT", "SLAVE"))
}

// isMasterCounter tells the counters among the names metricsSnapshot
// (state_json.go) builds: the rest are gauges.
func isMasterCounter(name string) bool {
	switch name {
	case "master/tasks_finished", "master/tasks_failed", "master/tasks_killed", "master/tasks_lost",
		"master/tasks_error", "master/tasks_dropped", "master/tasks_gone", "master/tasks_gone_by_operator",
		"master/recovery_slave_removals":
		return true
	}
	return strings.HasPrefix(name, "master/messages_") ||
		strings.HasPrefix(name, "master/slave_") ||
		strings.HasPrefix(name, "master/valid_") || strings.HasPrefix(name, "master/invalid_") ||
		name == "master/frameworks_removed"
}

// snapshot names the sampled numbers; it runs off the loop.
func (ms *masterSample) snapshot() *metrics.Snapshot {
	snap := ms.snap
	metrics.AddSystem(snap) // reads /proc: off the loop
	for i := range ms.frameworks {
		ms.frameworks[i].addTo(snap)
	}
	return snap
}

// addTo adds a framework's metrics under
// master/frameworks/<encoded name>/<id>/ (getFrameworkMetricPrefix).
func (fs *frameworkSample) addTo(snap *metrics.Snapshot) {
	p := "master/frameworks/" + encodeName(fs.name) + "/" + fs.id + "/"
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	snap.Gauge(p+"subscribed", b2f(fs.subscribed))
	snap.Counter(p+"offers/sent", float64(fs.offersSent))
	snap.Counter(p+"offers/accepted", float64(fs.offersAccepted))
	snap.Counter(p+"offers/declined", float64(fs.offersDeclined))
	snap.Counter(p+"offers/rescinded", float64(fs.offersRescinded))
	snap.Counter(p+"calls", float64(fs.callsTotal))
	for n, name := range schedulerpb.Call_Type_name {
		if n != 0 && int(n) < maxCallType {
			snap.Counter(p+"calls/"+strings.ToLower(name), float64(fs.calls[n]))
		}
	}
	snap.Counter(p+"events", float64(fs.eventsTotal+fs.heartbeats))
	for n, name := range schedulerpb.Event_Type_name {
		if n != 0 && int(n) < maxEventType {
			v := fs.events[n]
			if schedulerpb.Event_Type(n) == schedulerpb.Event_HEARTBEAT {
				v += fs.heartbeats
			}
			snap.Counter(p+"events/"+strings.ToLower(name), float64(v))
		}
	}
	for n, name := range mesospb.TaskState_name {
		st := mesospb.TaskState(n)
		if int(n) >= maxTaskState {
			continue
		}
		if taskstate.IsTerminal(st) {
			snap.Counter(p+"tasks/terminal/"+strings.ToLower(name), float64(fs.terminal[n]))
		} else {
			snap.Gauge(p+"tasks/active/"+strings.ToLower(name), float64(fs.active[n]))
		}
	}
	snap.Counter(p+"operations", float64(fs.operationsTotal))
	for n, name := range mesospb.Offer_Operation_Type_name {
		if n != 0 && int(n) < maxOpType {
			snap.Counter(p+"operations/"+strings.ToLower(name), float64(fs.operations[n]))
		}
	}
	for i, r := range fs.roles {
		snap.Gauge(p+"roles/"+r+"/suppressed", b2f(fs.suppressed[i]))
	}
}

// encodeName is libprocess's http::encode: reserved and unsafe characters,
// controls and non-ASCII bytes become %XX (upper-case hex).
func encodeName(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7f || strings.IndexByte("$&+,/:;=?@ \"<>#%{}|\\^~[]`", c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// takeSnapshot samples the metrics on the loop, within timeout when one
// is given, and names them here. Past the timeout (a busy loop), the
// answer has only what needs no loop: system/*, as libprocess leaves out
// the gauges that did not answer in time.
func (m *Master) takeSnapshot(r *http.Request, timeout time.Duration, hasTimeout bool) (*metrics.Snapshot, error) {
	ctx := r.Context()
	if hasTimeout {
		var cancel func()
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var sample *masterSample
	if err := m.do(ctx, func() { sample = m.st.sampleMetrics() }); err != nil {
		if hasTimeout && ctx.Err() != nil && r.Context().Err() == nil {
			snap := metrics.NewSnapshot(8)
			metrics.AddSystem(snap)
			return snap, nil
		}
		return nil, err
	}
	return sample.snapshot(), nil
}

// serveMetricsSnapshot is /metrics/snapshot: ?timeout= and ?jsonp= as
// libprocess's MetricsProcess answers them. A standby master answers too
// (its master/elected is 0).
func (m *Master) serveMetricsSnapshot(w http.ResponseWriter, r *http.Request) {
	timeout, hasTimeout, err := metrics.ParseTimeout(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	snap, err := m.takeSnapshot(r, timeout, hasTimeout)
	if err != nil {
		writeStopped(w, err)
		return
	}
	metrics.WriteJSON(w, r, snap)
}

// servePrometheus is /metrics: the same metrics for Prometheus (an
// addition: Mesos has no such endpoint).
func (m *Master) servePrometheus(w http.ResponseWriter, r *http.Request) {
	snap, err := m.takeSnapshot(r, 0, false)
	if err != nil {
		writeStopped(w, err)
		return
	}
	metrics.ServePrometheus(w, r, snap)
}
