package master

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/verbosity"
)

// The read calls of the v1 operator API — GET_STATE, GET_AGENTS,
// GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_OPERATIONS, GET_METRICS —
// and GET_LOGGING_LEVEL/SET_LOGGING_LEVEL, built on the loop from the
// master's books as Mesos's ReadOnlyHandler builds them
// (readonly_handler.cpp, protobuf::master::event::createAgentResponse and
// model(Framework) in http.cpp). Mesos walks hashmaps; we walk by ID so
// that answers are stable.

// timeInfo is a TimeInfo of t's nanoseconds.
func timeInfo(t time.Time) *mesospb.TimeInfo {
	return &mesospb.TimeInfo{Nanoseconds: ptr(t.UnixNano())}
}

// getAgents is _getAgents: every registered agent
// (createAgentResponse), then the recovered agents' AgentInfo.
func (s *state) getAgents() *masterpb.Response_GetAgents {
	return s.viewAgents()()
}

// viewAgents takes, on the loop, what getAgents answers, and returns the
// function that builds the answer from it, which may run off the loop.
// Reads filtered by authorization are built on the loop.
func (s *state) viewAgents() func() *masterpb.Response_GetAgents {
	return s.viewAgentsWith(nil)
}

// viewAgentsWith is viewAgents; when tasks is set (and the view is not
// filtered), the agents' used resources are summed off the loop from
// tasks(), every framework's live task snapshots, rather than read from
// each agent's tasks on the loop.
func (s *state) viewAgentsWith(tasks func() [][]*mesospb.Task) func() *masterpb.Response_GetAgents {
	var recovered []*mesospb.AgentInfo
	for _, id := range sortedKeys(s.recovered) {
		recovered = append(recovered, s.recovered[id]) // replaced, never edited
	}
	if s.view != nil {
		out := &masterpb.Response_GetAgents{}
		for _, a := range s.sortedAgents() {
			out.Agents = append(out.Agents, s.viewAgent(a).model(s.visibleResources))
		}
		return func() *masterpb.Response_GetAgents {
			for _, info := range recovered {
				out.RecoveredAgents = append(out.RecoveredAgents, proto.CloneOf(info))
			}
			return out
		}
	}
	var views []*agentView
	for _, a := range s.sortedAgents() {
		if tasks != nil {
			views = append(views, s.viewAgentOnly(a))
		} else {
			views = append(views, s.viewAgent(a))
		}
	}
	return func() *masterpb.Response_GetAgents {
		if tasks != nil {
			used := usedByAgent(tasks())
			for i, v := range views {
				views[i] = new(*v) // the agent's shared view: added to on a copy
				views[i].usedTasks = used[v.id]
			}
		}
		out := &masterpb.Response_GetAgents{Agents: make([]*masterpb.Response_GetAgents_Agent, len(views))}
		forEachParallel(len(views), func(i int) {
			out.Agents[i] = views[i].model(func(rs []*mesospb.Resource) []*mesospb.Resource { return rs })
		})
		for _, info := range recovered {
			out.RecoveredAgents = append(out.RecoveredAgents, proto.CloneOf(info))
		}
		return out
	}
}

// agentModel is createAgentResponse, on the loop.
func (s *state) agentModel(a *agent) *masterpb.Response_GetAgents_Agent {
	return s.viewAgent(a).model(s.visibleResources)
}

// model is createAgentResponse: total, allocated (what non-terminal,
// reachable tasks and executors use, with allocation_info) and offered
// resources in the endpoint format, registered_time always,
// reregistered_time once the agent re-registered. visible filters
// resources for the reader.
func (v *agentView) model(visible func([]*mesospb.Resource) []*mesospb.Resource) *masterpb.Response_GetAgents_Agent {
	// Summed once (sumRes), not task by task (addRes normalises the
	// running sum again each time).
	used, offered := sumRes(v.used()), sumRes(v.offered)
	// The agent's info is shared, not copied: the loop replaces an agent's
	// AgentInfo, it never edits one that has been seen (its ID is set
	// before it is admitted).
	info := v.info
	if info.Id == nil {
		info = proto.CloneOf(info)
		info.Id = &mesospb.AgentID{Value: ptr(v.id)}
	}
	// All of the total visible: the agent's shared copy (totalMaps).
	totalEndpoint := visible(v.total)
	if sameList(totalEndpoint, v.total) {
		totalEndpoint = v.totalMaps().endpoint
	} else {
		totalEndpoint = endpointFormat(totalEndpoint)
	}
	m := &masterpb.Response_GetAgents_Agent{
		AgentInfo:          info,
		Active:             ptr(v.active),
		Deactivated:        ptr(v.deactivated),
		Version:            ptr(v.version),
		Pid:                ptr(v.pid),
		RegisteredTime:     timeInfo(v.registered),
		TotalResources:     totalEndpoint,
		AllocatedResources: endpointFormat(visible(used)),
		OfferedResources:   endpointFormat(visible(offered)),
	}
	if !v.reregistered.IsZero() {
		m.ReregisteredTime = timeInfo(v.reregistered)
	}
	for _, c := range v.capabilities {
		m.Capabilities = append(m.Capabilities, &mesospb.AgentInfo_Capability{Type: c.Enum()})
	}
	return m
}

func cloneRes(rs []*mesospb.Resource) []*mesospb.Resource {
	out := make([]*mesospb.Resource, len(rs))
	for i, r := range rs {
		out[i] = proto.Clone(r).(*mesospb.Resource)
	}
	return out
}

// getFrameworks is _getFrameworks: registered, then completed frameworks.
func (s *state) getFrameworks() *masterpb.Response_GetFrameworks {
	return s.viewFrameworks()()
}

// viewFrameworks takes getFrameworks's answer on the loop but for the
// sums of resources, which the function it returns adds off the loop.
func (s *state) viewFrameworks() func() *masterpb.Response_GetFrameworks {
	return s.viewFrameworksWith(nil)
}

// viewFrameworksWith is viewFrameworks; when live is set (every
// framework's live task snapshots, in allFrameworks's order, with no view
// filter) the frameworks' used resources are summed off the loop from it
// rather than read from their tasks on the loop.
func (s *state) viewFrameworksWith(live [][]*mesospb.Task) func() *masterpb.Response_GetFrameworks {
	out := &masterpb.Response_GetFrameworks{}
	var finish []func()
	active := s.sortedFrameworks()
	for i, f := range slices.Concat(active, s.completedFrameworks) { // allFrameworks
		if !s.view.framework(f) {
			continue
		}
		var m *masterpb.Response_GetFrameworks_Framework
		var fin func()
		if live != nil && s.view == nil {
			m, fin = frameworkModelFrom(f, live[i])
		} else {
			m, fin = frameworkModel(f)
		}
		if i < len(active) {
			out.Frameworks = append(out.Frameworks, m)
		} else {
			out.CompletedFrameworks = append(out.CompletedFrameworks, m)
		}
		finish = append(finish, fin)
	}
	return func() *masterpb.Response_GetFrameworks {
		forEachParallel(len(finish), func(i int) { finish[i]() })
		return out
	}
}

// frameworkModel is model(Framework) of http.cpp: the times only when
// set, the outstanding offers as the master holds them, allocated and
// offered resources with allocation_info in the endpoint format, and an
// empty offer_constraints (meso keeps none). The resources are summed by
// finish, which may run off the loop.
func frameworkModel(f *framework) (m *masterpb.Response_GetFrameworks_Framework, finish func()) {
	// The tasks' resources are put in task ID order, and summed, by
	// finish: off the loop.
	byTask := make([]keyedResources, 0, len(f.tasks))
	for id, t := range f.tasks {
		if usesResources(t) {
			byTask = append(byTask, keyedResources{id: id, rs: t.GetResources()})
		}
	}
	return frameworkModelUsing(f, func() []keyedResources { return byTask })
}

// frameworkModelFrom is frameworkModel with the tasks' resources read off
// the loop from snaps, snapshots of all of f's live tasks.
func frameworkModelFrom(f *framework, snaps []*mesospb.Task) (*masterpb.Response_GetFrameworks_Framework, func()) {
	return frameworkModelUsing(f, func() []keyedResources {
		byTask := make([]keyedResources, 0, len(snaps))
		for _, t := range snaps {
			if usesResources(t) {
				byTask = append(byTask, keyedResources{id: t.GetTaskId().GetValue(), rs: t.GetResources()})
			}
		}
		return byTask
	})
}

// frameworkModelUsing is frameworkModel with its tasks' resources given by
// byTask, called by finish, off the loop.
func frameworkModelUsing(f *framework, tasksUsed func() []keyedResources) (m *masterpb.Response_GetFrameworks_Framework, finish func()) {
	var execUsed, offeredList []*mesospb.Resource
	for _, agentID := range sortedKeys(f.executors) {
		for _, eid := range sortedKeys(f.executors[agentID]) {
			execUsed = append(execUsed, f.executors[agentID][eid].GetResources()...)
		}
	}
	m = &masterpb.Response_GetFrameworks_Framework{
		FrameworkInfo:    proto.Clone(f.info).(*mesospb.FrameworkInfo),
		Active:           ptr(f.active),
		Connected:        ptr(f.connected()),
		Recovered:        ptr(f.recovered),
		OfferConstraints: &schedulerpb.OfferConstraints{},
	}
	for _, o := range sortedOffers(f.offers) {
		m.Offers = append(m.Offers, proto.Clone(o.msg).(*mesospb.Offer))
		offeredList = append(offeredList, o.resources...)
	}
	if !f.registeredTime.IsZero() {
		m.RegisteredTime = timeInfo(f.registeredTime)
	}
	if !f.unregisteredTime.IsZero() {
		m.UnregisteredTime = timeInfo(f.unregisteredTime)
	}
	// Mesos's Framework starts with reregisteredTime = registeredTime.
	if re := cmpOr(f.reregisteredTime, f.registeredTime); !re.IsZero() {
		m.ReregisteredTime = timeInfo(re)
	}
	return m, func() {
		// Summed once (sumRes), not task by task; endpointFormat copies.
		byTask := tasksUsed()
		slices.SortFunc(byTask, compareKeyed)
		var usedList []*mesospb.Resource
		for _, k := range byTask {
			usedList = append(usedList, k.rs...)
		}
		m.AllocatedResources = endpointFormat(sumRes(usedList, execUsed))
		m.OfferedResources = endpointFormat(sumRes(offeredList))
	}
}

func cmpOr(a, b time.Time) time.Time {
	if a.IsZero() {
		return b
	}
	return a
}

// allFrameworks are the registered frameworks then the completed ones, the
// order in which Mesos's GET_TASKS and GET_EXECUTORS walk them.
func (s *state) allFrameworks() []*framework {
	return append(s.sortedFrameworks(), s.completedFrameworks...)
}

// getExecutors is _getExecutors: each framework's executors, with the
// agent they run on.
func (s *state) getExecutors() *masterpb.Response_GetExecutors {
	out := &masterpb.Response_GetExecutors{}
	for _, f := range s.allFrameworks() {
		if !s.view.framework(f) {
			continue
		}
		for _, agentID := range sortedKeys(f.executors) {
			for _, eid := range sortedKeys(f.executors[agentID]) {
				if !s.view.executor(f, f.executors[agentID][eid]) {
					continue
				}
				out.Executors = append(out.Executors, &masterpb.Response_GetExecutors_Executor{
					ExecutorInfo: proto.Clone(f.executors[agentID][eid]).(*mesospb.ExecutorInfo),
					AgentId:      &mesospb.AgentID{Value: ptr(agentID)},
				})
			}
		}
	}
	return out
}

// getTasks is _getTasks: the tasks (non-terminal, and terminal ones not yet
// acknowledged), unreachable and completed tasks of every framework. meso
// authorizes synchronously (authz.go), so no task is ever pending and
// pending_tasks stays empty, as do the deprecated orphan_tasks.
func (s *state) getTasks() *masterpb.Response_GetTasks {
	return s.viewTasks()()
}

// viewTasks takes getTasks's tasks on the loop (their pointers: the loop
// never changes a kept task in place, state_snapshot.go), and returns the
// function that puts them in order, which may run off the loop: sorting
// 200,000 tasks on the loop was most of what GET_STATE left there.
func (s *state) viewTasks() func() *masterpb.Response_GetTasks {
	build, _ := s.viewTasksLive()
	return build
}

// viewTasksLive is viewTasks, and also returns every framework's live
// task snapshots (before build sorts them), for GET_STATE's agents.
func (s *state) viewTasksLive() (build func() *masterpb.Response_GetTasks, live [][]*mesospb.Task) {
	out := &masterpb.Response_GetTasks{}
	for _, f := range s.allFrameworks() {
		var ts []*mesospb.Task
		if s.view == nil {
			ts = s.liveTasks(f)
		} else {
			ts = s.visibleTasks(f, sortedTasks(f.tasks))
		}
		live = append(live, ts)
	}
	for _, f := range s.allFrameworks() {
		out.UnreachableTasks = append(out.UnreachableTasks, snapshotTasks(s.visibleTasks(f, f.unreachableTasks))...)
	}
	for _, f := range s.allFrameworks() {
		out.CompletedTasks = append(out.CompletedTasks, snapshotTasks(s.visibleTasks(f, f.completedTasks))...)
	}
	return func() *masterpb.Response_GetTasks {
		for _, ts := range live {
			out.Tasks = sortedTasksByID(out.Tasks, ts)
		}
		return out
	}, live
}

// getState is _getState: tasks, executors, frameworks and agents.
func (s *state) getState() *masterpb.Response_GetState {
	return s.viewState()()
}

// viewState takes getState's answer on the loop as snapshots and returns
// the function that builds it from them, off the loop: at 20,000 agents
// and 200,000 tasks, building it on the loop stalled every other call.
func (s *state) viewState() func() *masterpb.Response_GetState {
	tasks, live := s.viewTasksLive()
	executors := s.getExecutors()
	var frameworks func() *masterpb.Response_GetFrameworks
	var agents func() *masterpb.Response_GetAgents
	if s.view == nil {
		frameworks = s.viewFrameworksWith(live)
		// The agents' used resources come from the same snapshots, off
		// the loop (in any order: used() sorts them by ID).
		agents = s.viewAgentsWith(func() [][]*mesospb.Task { return live })
	} else {
		frameworks, agents = s.viewFrameworks(), s.viewAgents()
	}
	return func() *masterpb.Response_GetState {
		// The agents are built beside the tasks and frameworks: grouping
		// 200,000 tasks by agent is memory-bound work on one core that
		// would otherwise leave the other idle. Both read the lists, and
		// tasks() sorts copies.
		var byAgent *masterpb.Response_GetAgents
		var wg sync.WaitGroup
		wg.Go(func() { byAgent = agents() })
		out := &masterpb.Response_GetState{
			GetTasks:      tasks(),
			GetExecutors:  executors,
			GetFrameworks: frameworks(),
		}
		wg.Wait()
		out.GetAgents = byAgent
		return out
	}
}

// getMetrics answers GET_METRICS from the same metrics as
// /metrics/snapshot, by name. Mesos passes get_metrics.timeout to
// process::metrics::snapshot, where it bounds how long slow gauges may
// take; meso's metrics are all read at once on the loop, so the timeout
// never cuts one off.
func (s *state) getMetrics() *masterpb.Response_GetMetrics {
	snap := s.sampleMetrics().snapshot().Values()
	out := &masterpb.Response_GetMetrics{}
	for _, name := range sortedKeys(snap) {
		out.Metrics = append(out.Metrics, &mesospb.Metric{Name: ptr(name), Value: ptr(snap[name])})
	}
	return out
}

// The logging level of GET_LOGGING_LEVEL and SET_LOGGING_LEVEL is glog's
// verbosity (FLAGS_v): 0 logs at the configured level, each step above
// it one level of detail more (slog: --logging_level's level for 0,
// DEBUG for 1, then one slog level below per step). SET_LOGGING_LEVEL
// changes it for `duration`, after which it reverts to the level the
// master started with (libprocess's Logging::set_level and revert: only
// the latest change's timer reverts).
type logLevel struct {
	v uint32
	// gen identifies the latest change; an older revert timer is stale.
	gen   int
	timer *time.Timer
	// base is Config.LogLevel's level when the master started.
	base slog.Level
}

func (s *state) setLoggingLevel(v uint32, d time.Duration) opResult {
	s.applyVerbosity(v)
	s.logLevel.gen++
	if s.logLevel.timer != nil {
		s.logLevel.timer.Stop()
		s.logLevel.timer = nil
	}
	if v != 0 {
		gen := s.logLevel.gen
		s.logLevel.timer = s.m.after(d, func() {
			if s.logLevel.gen == gen {
				s.applyVerbosity(0)
				s.logLevel.timer = nil
			}
		})
	}
	return opOK()
}

func (s *state) applyVerbosity(v uint32) {
	s.logLevel.v = v
	if s.cfg.LogLevel != nil {
		s.cfg.LogLevel.Set(verbosity.Level(s.logLevel.base, v))
	}
	s.log.Info("logging level set", "verbosity", v)
}

// readCall answers the read-only calls of this file; ok is false for any
// other call.
func (s *state) readCall(call *masterpb.Call) (opResult, bool) {
	resp := &masterpb.Response{}
	switch call.GetType() {
	case masterpb.Call_GET_STATE:
		build := s.viewState()
		return opResult{later: func() *masterpb.Response {
			return &masterpb.Response{Type: masterpb.Response_GET_STATE.Enum(), GetState: build()}
		}}, true
	case masterpb.Call_GET_AGENTS:
		build := s.viewAgents()
		return opResult{later: func() *masterpb.Response {
			return &masterpb.Response{Type: masterpb.Response_GET_AGENTS.Enum(), GetAgents: build()}
		}}, true
	case masterpb.Call_GET_FRAMEWORKS:
		build := s.viewFrameworks()
		return opResult{later: func() *masterpb.Response {
			return &masterpb.Response{Type: masterpb.Response_GET_FRAMEWORKS.Enum(), GetFrameworks: build()}
		}}, true
	case masterpb.Call_GET_EXECUTORS:
		resp.Type, resp.GetExecutors = masterpb.Response_GET_EXECUTORS.Enum(), s.getExecutors()
	case masterpb.Call_GET_TASKS:
		resp.Type, resp.GetTasks = masterpb.Response_GET_TASKS.Enum(), s.getTasks()
	case masterpb.Call_GET_OPERATIONS:
		// meso keeps no operations (no operation feedback): Mesos answers
		// an empty get_operations then.
		resp.Type = masterpb.Response_GET_OPERATIONS.Enum()
		resp.GetOperations = &masterpb.Response_GetOperations{}
	case masterpb.Call_GET_METRICS:
		resp.Type, resp.GetMetrics = masterpb.Response_GET_METRICS.Enum(), s.getMetrics()
	case masterpb.Call_GET_LOGGING_LEVEL:
		resp.Type = masterpb.Response_GET_LOGGING_LEVEL.Enum()
		resp.GetLoggingLevel = &masterpb.Response_GetLoggingLevel{Level: ptr(s.logLevel.v)}
	case masterpb.Call_SET_LOGGING_LEVEL:
		c := call.GetSetLoggingLevel()
		return s.setLoggingLevel(c.GetLevel(), time.Duration(c.GetDuration().GetNanoseconds())), true
	default:
		return opResult{}, false
	}
	return opResult{resp: resp}, true
}

// readCalls are the calls readCall answers.
var readCalls = []masterpb.Call_Type{
	masterpb.Call_GET_STATE, masterpb.Call_GET_AGENTS, masterpb.Call_GET_FRAMEWORKS,
	masterpb.Call_GET_EXECUTORS, masterpb.Call_GET_TASKS, masterpb.Call_GET_OPERATIONS,
	masterpb.Call_GET_METRICS, masterpb.Call_GET_LOGGING_LEVEL, masterpb.Call_SET_LOGGING_LEVEL,
}

func isReadCall(t masterpb.Call_Type) bool { return slices.Contains(readCalls, t) }
