package master

import (
	"cmp"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/buildinfo"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/resources"
)

// The legacy read-only JSON endpoints (/state, /frameworks, /slaves,
// /tasks, /flags, /version, /metrics/snapshot), shaped like Mesos's
// readonly_handler.cpp (spec §3.2, §3.3). Models are built on the actor
// loop as plain maps and encoded by the handler (jsonenc.go); the large
// parts of /state (agents, tasks) are snapshots on the loop whose objects
// the encoder builds off it (deferred, taskList).

type object = map[string]any

// versionObject holds the build keys Mesos writes in /version and /state.
func versionObject() object {
	return object{
		"version":    MesosVersion,
		"build_date": buildinfo.BuildDate,
		"build_time": buildinfo.BuildTime,
		"build_user": buildinfo.BuildUser,
	}
}

// versionEndpoint is /version: Mesos's keys plus meso_version, meso's own
// release (clients read the keys they know and ignore the others; /state
// stays strictly Mesos's shape).
func versionEndpoint() object {
	o := versionObject()
	o["meso_version"] = Version
	return o
}

// leaderInfoJSON is Mesos's json(MasterInfo) writer: id, pid, port,
// hostname and, when set, domain.
func leaderInfoJSON(mi *mesospb.MasterInfo) object {
	o := object{"id": mi.GetId(), "pid": mi.GetPid(), "port": mi.GetPort(), "hostname": mi.GetHostname()}
	if mi.Domain != nil {
		o["domain"] = protoJSON(mi.GetDomain())
	}
	return o
}

// serveRead runs build on the actor loop and writes its result as JSON
// off it (the deferred parts of the model are built then).
func (m *Master) serveRead(build func(r *http.Request) any, gate bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if gate && !m.gateLeader(w, r) {
			return
		}
		var v any
		view := m.viewerFor(r)
		if err := m.do(r.Context(), func() { m.st.viewing(view, func() { v = build(r) }) }); err != nil {
			writeStopped(w, err)
			return
		}
		writeModel(w, r, v)
	}
}

// protoJSON renders a message in the Mesos JSON dialect for embedding.
func protoJSON(m proto.Message) json.RawMessage {
	b, err := codec.MarshalJSON(m)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

func labelsJSON(l *mesospb.Labels) []object {
	out := []object{}
	for _, x := range l.GetLabels() {
		o := object{"key": x.GetKey()}
		if x.Value != nil {
			o["value"] = x.GetValue()
		}
		out = append(out, o)
	}
	return out
}

func (s *state) stateJSON(*http.Request) any {
	var active, inactive int
	for _, a := range s.agents {
		if a.active {
			active++
		} else {
			inactive++
		}
	}
	// Mesos writes these from its v0 MasterInfo, whose Type_Name knows
	// QUOTA_V2.
	caps := []string{}
	for _, c := range s.info.GetCapabilities() {
		caps = append(caps, codec.EnumNameV0(c.GetType()))
	}
	o := versionObject()
	o["start_time"] = secs(s.startTime)
	o["elected_time"] = secs(s.electedTime)
	o["id"] = s.info.GetId()
	o["pid"] = s.info.GetPid()
	o["hostname"] = s.info.GetHostname()
	o["capabilities"] = caps
	o["activated_slaves"] = active
	o["deactivated_slaves"] = inactive
	o["unreachable_slaves"] = len(s.unreachable)
	if s.info.Domain != nil {
		o["domain"] = protoJSON(s.info.GetDomain())
	}
	o["leader"] = s.info.GetPid()
	o["leader_info"] = leaderInfoJSON(s.info)
	if s.cfg.Cluster != "" {
		o["cluster"] = s.cfg.Cluster
	}
	if s.view.flags() {
		o["flags"] = s.flags()
	}
	// The loop takes a snapshot of each agent and task; the encoder builds
	// and writes their objects off the loop (jsonenc.go).
	// Unfiltered, the agents' used resources are summed off the loop from
	// the frameworks' task snapshots (usedByAgent) rather than read from
	// each agent's tasks on it.
	var usedByTask func() map[string][]*mesospb.Task
	agents := s.sortedAgents()
	slaves := make([]any, 0, len(agents))
	for _, a := range agents {
		var v *agentView
		if s.view == nil {
			v = s.viewAgentOnly(a)
		} else {
			v = s.viewAgent(a)
		}
		slaves = append(slaves, deferred(func() any {
			if usedByTask != nil {
				v = new(*v) // the agent's shared view: added to on a copy
				v.usedTasks = usedByTask()[v.id]
			}
			return v.object()
		}))
	}
	o["slaves"] = slaves
	o["recovered_slaves"] = s.recoveredSlavesJSON()
	fws, completed := s.frameworksJSON("", false)
	if s.view == nil {
		// The lists are read, never changed: the encoder sorts a copy.
		var lists [][]*mesospb.Task
		for _, f := range slices.Concat(fws, completed) {
			if l, ok := f["tasks"].(taskList); ok {
				lists = append(lists, l.tasks)
			}
		}
		usedByTask = sync.OnceValue(func() map[string][]*mesospb.Task { return usedByAgent(lists) })
		// Started now, off the loop, so that it is ready when the encoder
		// reaches the agents (after the frameworks), rather than one
		// core grouping 200,000 tasks while the other waits for it.
		go usedByTask()
	}
	o["frameworks"] = fws
	o["completed_frameworks"] = completed
	o["orphan_tasks"] = []object{}
	o["unregistered_frameworks"] = []object{}
	return o
}

func (s *state) flags() map[string]string {
	out := map[string]string{}
	for k, v := range s.cfg.Flags {
		out[k] = v
	}
	return out
}

func (s *state) recoveredSlavesJSON() []object {
	out := []object{}
	// Mesos writes each recovered agent's SlaveInfo.
	for _, id := range sortedKeys(s.recovered) {
		info := s.recovered[id]
		out = append(out, object{
			"id":         id,
			"hostname":   info.GetHostname(),
			"port":       info.GetPort(),
			"resources":  legacyMap(info.GetResources()),
			"attributes": attributesMap(info.GetAttributes()),
		})
	}
	return out
}

// agentView is what /state and GET_AGENTS write of an agent, copied on
// the loop: the lists are fresh, the resources and AgentInfo they point to
// are never changed in place (the loop replaces a.total, never edits it).
type agentView struct {
	id, pid, version         string
	info                     *mesospb.AgentInfo
	registered, reregistered time.Time
	total                    []*mesospb.Resource
	// used are the resources of each non-terminal, reachable task, in no
	// order (used() sorts them), then of each executor, by ID;
	// offered are the offers' resources, by offer ID.
	usedByTask, usedByExecutor []keyedResources
	// usedTasks are more tasks whose resources are used, keyed into
	// usedByTask by used() (usedByAgent's, read off the loop).
	usedTasks           []*mesospb.Task
	offered             []*mesospb.Resource
	reserved            map[string]resources.Resources // visible roles only
	active, deactivated bool
	capabilities        []mesospb.AgentInfo_Capability_Type
	maps                *atomic.Pointer[totalMaps] // the agent's (totalMaps)
}

// totalMaps are an agent's total resources as the reads show them: its
// /state "resources" and "unreserved_resources", and its GET_AGENTS
// total_resources (endpoint format, all of them visible). They change
// only with the total, which the loop replaces rather than edits, so the
// reads share them: at 19,000 agents making them on every read was a
// third of the agents' share of a /state and of its garbage. Nothing
// writes to them.
type totalMaps struct {
	of                    []*mesospb.Resource // the total they were made from
	resources, unreserved map[string]any
	endpoint              []*mesospb.Resource
}

// sameList reports whether a and b are the same list (not equal ones).
func sameList(a, b []*mesospb.Resource) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// totalMaps returns the maps of v's total: the agent's, if made from the
// same total, or new ones (kept for the next read).
func (v *agentView) totalMaps() *totalMaps {
	if v.maps != nil {
		if m := v.maps.Load(); m != nil && sameList(m.of, v.total) {
			return m
		}
	}
	m := &totalMaps{of: v.total, resources: legacyMap(v.total), unreserved: legacyMap(unreserved(v.total)),
		endpoint: endpointFormat(v.total)}
	if v.maps != nil {
		v.maps.Store(m)
	}
	return m
}

// keyedResources are a task's or an executor's resources and its
// framework's and its own ID, to be put in order off the loop.
type keyedResources struct {
	framework, id string
	rs            []*mesospb.Resource
}

func compareKeyed(a, b keyedResources) int {
	if c := strings.Compare(a.framework, b.framework); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// viewAgent takes the snapshot of a for agentView's writers.
func (s *state) viewAgent(a *agent) *agentView {
	v := new(*s.viewAgentOnly(a))
	// Sized up front: this runs for every agent of every /state and
	// GET_STATE, on the loop.
	n := 0
	for _, byTask := range a.tasks {
		n += len(byTask)
	}
	v.usedByTask = make([]keyedResources, 0, n)
	for fid, byTask := range a.tasks {
		for tid, t := range byTask {
			if usesResources(t) {
				v.usedByTask = append(v.usedByTask, keyedResources{fid, tid, t.GetResources()})
			}
		}
	}
	return v
}

// usedByAgent groups what the tasks of snapshots (every framework's live
// tasks) use by agent, for viewAgentOnly's views: the same as viewAgent
// reads from each agent's tasks on the loop, found off it.
func usedByAgent(snapshots [][]*mesospb.Task) map[string][]*mesospb.Task {
	// Grouped by the AgentID message first: the tasks of an agent share
	// it (intern.go), so this reads neither the IDs' strings nor hashes
	// them per task, which at 200,000 tasks was most of the time (cache
	// misses). The keys are read per agent (used()), on every core.
	slot := map[*mesospb.AgentID]int{}
	var counts []int
	for _, ts := range snapshots {
		for _, t := range ts {
			if usesResources(t) {
				i, ok := slot[t.AgentId]
				if !ok {
					i = len(counts)
					slot[t.AgentId] = i
					counts = append(counts, 0)
				}
				counts[i]++
			}
		}
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	lists := make([][]*mesospb.Task, len(counts))
	slab := make([]*mesospb.Task, total)
	for i, n := range counts {
		lists[i], slab = slab[:0:n], slab[n:]
	}
	for _, ts := range snapshots {
		for _, t := range ts {
			if usesResources(t) {
				i := slot[t.AgentId]
				lists[i] = append(lists[i], t)
			}
		}
	}
	out := make(map[string][]*mesospb.Task, len(slot))
	for p, i := range slot {
		id := p.GetValue()
		if prev, ok := out[id]; ok { // the agent's tasks did not all share its ID
			out[id] = append(slices.Clip(prev), lists[i]...)
		} else {
			out[id] = lists[i]
		}
	}
	return out
}

// viewAgentOnly is viewAgent without the agent's tasks (usedByTask is
// nil): GET_STATE, which snapshots every task anyway, fills it off the
// loop (usedByAgent).
//
// Unfiltered, the view is the agent's shared one (agent.view) while what
// it was made from holds (agentViewKey): at 20,000 agents making every
// agent's view on every read was half of GET_STATE's time on the loop
// (~20 ms), during which every scheduler call waited. Callers that add to
// a view (usedTasks, usedByTask) add to a copy.
func (s *state) viewAgentOnly(a *agent) *agentView {
	if s.view != nil {
		return s.makeAgentView(a)
	}
	key := s.agentViewKey(a)
	if a.view == nil || a.viewKey != key {
		a.view, a.viewKey = s.makeAgentView(a), key
	} else if checkReadCaches {
		if fresh := s.makeAgentView(a); !reflect.DeepEqual(fresh, a.view) {
			panic(fmt.Sprintf("agent %s: a shared view outlived a change its key missed:\n%+v\n%+v", a.id, a.view, fresh))
		}
	}
	return a.view
}

// checkReadCaches makes the reads compare what they share with what they
// would make anew (viewAgentOnly, liveTasks) on every read; the package's
// tests set it, so that a change the sharing misses fails the test that
// made it.
var checkReadCaches bool

// agentViewKey is what an agent's view is made from, as far as it can
// change: the messages and lists the loop replaces (compared by pointer),
// the scalars, and counts of the changes to the maps it edits in place.
type agentViewKey struct {
	pid, version             string
	info                     *mesospb.AgentInfo
	registered, reregistered time.Time
	total                    **mesospb.Resource
	totalLen                 int
	capabilities             *mesospb.AgentInfo_Capability_Type
	capabilitiesLen          int
	active, deactivated      bool
	executorsGen, offersGen  uint64
}

func (s *state) agentViewKey(a *agent) agentViewKey {
	return agentViewKey{
		pid: a.pid, version: a.version, info: a.info,
		registered: a.registeredTime, reregistered: a.reregisteredTime,
		total: unsafe.SliceData(a.total), totalLen: len(a.total),
		capabilities: unsafe.SliceData(a.capabilities), capabilitiesLen: len(a.capabilities),
		active: a.active, deactivated: s.deactivated[a.id],
		executorsGen: a.executorsGen, offersGen: a.offersGen,
	}
}

// makeAgentView is viewAgentOnly's view, made anew.
func (s *state) makeAgentView(a *agent) *agentView {
	v := &agentView{
		id: a.id, pid: a.pid, version: a.version, info: a.info,
		registered: a.registeredTime, reregistered: a.reregisteredTime,
		total: a.total, active: a.active, deactivated: s.deactivated[a.id],
		capabilities: a.capabilities, maps: &a.totalMaps,
	}
	for fid, execs := range a.executors {
		for eid, e := range execs {
			v.usedByExecutor = append(v.usedByExecutor, keyedResources{fid, eid, e.GetResources()})
		}
	}
	slices.SortFunc(v.usedByExecutor, compareKeyed) // here: a shared view is not sorted by its readers
	if len(a.offers) > 0 {
		for _, o := range sortedOffers(a.offers) {
			v.offered = append(v.offered, o.resources...)
		}
	}
	if !slices.ContainsFunc(a.total, func(r *mesospb.Resource) bool { return len(r.GetReservations()) > 0 }) {
		return v // no reservations: nothing to copy
	}
	for role, rs := range reservations(a.total) {
		if s.view.role(role) {
			if v.reserved == nil {
				v.reserved = map[string]resources.Resources{}
			}
			v.reserved[role] = rs
		}
	}
	return v
}

// used is every resource the agent's tasks, then its executors, use, in
// the order of their IDs, unsummed.
func (v *agentView) used() []*mesospb.Resource {
	byTask := v.usedByTask
	if len(v.usedTasks) > 0 {
		byTask = slices.Grow(slices.Clip(byTask), len(v.usedTasks))
		for _, t := range v.usedTasks {
			byTask = append(byTask, keyedResources{t.GetFrameworkId().GetValue(), t.GetTaskId().GetValue(), t.GetResources()})
		}
	}
	slices.SortFunc(byTask, compareKeyed)
	var out []*mesospb.Resource
	for _, k := range byTask {
		out = append(out, k.rs...)
	}
	for _, k := range v.usedByExecutor {
		out = append(out, k.rs...)
	}
	return out
}

// object is Mesos's json(Summary<Slave>) writer; it reads only v, so it
// may run off the loop.
func (v *agentView) object() object {
	caps := []string{}
	for _, c := range v.capabilities {
		caps = append(caps, c.String())
	}
	reserved := object{}
	for role, rs := range v.reserved {
		reserved[role] = legacyMap(rs)
	}
	maps := v.totalMaps()
	o := object{
		"id":                   v.id,
		"hostname":             v.info.GetHostname(),
		"port":                 v.info.GetPort(),
		"attributes":           attributesMap(v.info.GetAttributes()),
		"pid":                  v.pid,
		"registered_time":      secs(v.registered),
		"resources":            maps.resources,
		"used_resources":       legacyMap(v.used()),
		"offered_resources":    legacyMap(v.offered),
		"reserved_resources":   reserved,
		"unreserved_resources": maps.unreserved,
		"active":               v.active,
		"deactivated":          v.deactivated,
		"version":              v.version,
		"capabilities":         caps,
	}
	if !v.reregistered.IsZero() {
		o["reregistered_time"] = secs(v.reregistered)
	}
	if d := v.info.GetDomain(); d != nil {
		o["domain"] = protoJSON(d)
	}
	return o
}

// agentJSON is the agent's /state object, built on the loop; full adds
// the _full resources of /slaves (Mesos renders slave->usedResources and
// offeredResources in endpoint format, with allocation_info).
func (s *state) agentJSON(a *agent, full bool) object {
	v := s.viewAgent(a)
	o := v.object()
	if full {
		reservedFull := object{}
		for role, rs := range v.reserved {
			reservedFull[role] = resourcesJSON(s.visibleResources(rs))
		}
		o["reserved_resources_full"] = reservedFull
		o["unreserved_resources_full"] = resourcesJSON(s.visibleResources(unreserved(a.total)))
		o["used_resources_full"] = resourcesJSON(s.visibleResources(sumRes(v.used())))
		o["offered_resources_full"] = resourcesJSON(s.visibleResources(sumRes(v.offered)))
	}
	return o
}

func resourcesJSON(rs []*mesospb.Resource) []json.RawMessage {
	out := []json.RawMessage{}
	for _, r := range endpointFormat(rs) {
		out = append(out, protoJSON(r))
	}
	return out
}

// frameworksJSON models registered and completed frameworks; with
// selected set, only the one(s) whose ID is id (Mesos's IDAcceptor).
func (s *state) frameworksJSON(id string, selected bool) ([]object, []object) {
	fws, completed := []object{}, []object{}
	for _, f := range s.sortedFrameworks() {
		if (!selected || f.id == id) && s.view.framework(f) {
			fws = append(fws, s.frameworkJSON(f))
		}
	}
	for _, f := range s.completedFrameworks {
		if (!selected || f.id == id) && s.view.framework(f) {
			completed = append(completed, s.frameworkJSON(f))
		}
	}
	return fws, completed
}

// frameworkResources are what the framework uses (non-terminal,
// reachable tasks and executors) and is offered, unsummed, for legacyMap.
func frameworkResources(f *framework) (used, offered []*mesospb.Resource) {
	return tasksUsed(maps.Values(f.tasks), frameworkExecutorResources(f)), frameworkOffered(f)
}

// tasksUsed is what the non-terminal, reachable tasks of ts use, then
// execs, unsummed.
func tasksUsed(ts iter.Seq[*mesospb.Task], execs []*mesospb.Resource) []*mesospb.Resource {
	var used []*mesospb.Resource
	for t := range ts {
		if usesResources(t) {
			used = append(used, t.GetResources()...)
		}
	}
	return append(used, execs...)
}

// frameworkExecutorResources is what f's executors use, unsummed.
func frameworkExecutorResources(f *framework) []*mesospb.Resource {
	var used []*mesospb.Resource
	for _, execs := range f.executors {
		for _, e := range execs {
			used = append(used, e.GetResources()...)
		}
	}
	return used
}

// frameworkOffered is what f is offered, unsummed.
func frameworkOffered(f *framework) []*mesospb.Resource {
	var offered []*mesospb.Resource
	for _, o := range f.offers {
		offered = append(offered, o.resources...)
	}
	return offered
}

// frameworkSummaryJSON is Mesos's json(Summary<Framework>) writer. HTTP
// frameworks have no pid, so it is never written.
func (s *state) frameworkSummaryJSON(f *framework) object {
	used, offered := frameworkResources(f)
	return s.frameworkSummaryOf(f, func() []*mesospb.Resource { return used }, offered)
}

// frameworkSummaryOf is frameworkSummaryJSON with the framework's used
// resources given by used, called off the loop (at most once).
func (s *state) frameworkSummaryOf(f *framework, used func() []*mesospb.Resource, offered []*mesospb.Resource) object {
	caps := []string{}
	for _, c := range f.info.GetCapabilities() {
		caps = append(caps, c.GetType().String())
	}
	return object{
		"id":                f.id,
		"name":              f.info.GetName(),
		"used_resources":    deferred(func() any { return legacyMap(used()) }),
		"offered_resources": deferred(func() any { return legacyMap(offered) }),
		"capabilities":      caps,
		"hostname":          f.info.GetHostname(),
		"webui_url":         f.info.GetWebuiUrl(),
		"active":            f.active,
		"connected":         f.connected(),
		"recovered":         f.recovered,
	}
}

// frameworkJSON is Mesos's FullFrameworkWriter.
func (s *state) frameworkJSON(f *framework) object {
	// The tasks (state_snapshot.go: the pointers are the snapshot), written
	// off the loop (sorted by ID there).
	var live []*mesospb.Task
	if s.view == nil {
		live = s.liveTasks(f)
	} else {
		live = s.visibleTasks(f, sortedTasks(f.tasks))
	}
	tasks := taskList{tasks: live, sort: true}
	// What the framework uses is summed off the loop: from the snapshots
	// when they are all its tasks, else (a filtered view) from the lists
	// taken here.
	var used func() []*mesospb.Resource
	offered := frameworkOffered(f)
	if s.view == nil {
		snaps, execs := tasks.tasks, frameworkExecutorResources(f)
		used = sync.OnceValue(func() []*mesospb.Resource { return tasksUsed(slices.Values(snaps), execs) })
	} else {
		u, _ := frameworkResources(f)
		used = func() []*mesospb.Resource { return u }
	}
	completed := taskList{tasks: snapshotTasks(s.visibleTasks(f, f.completedTasks))}
	unreachable := taskList{tasks: snapshotTasks(s.visibleTasks(f, f.unreachableTasks))}
	offers := []object{}
	for _, o := range sortedOffers(f.offers) {
		offers = append(offers, object{
			"id":              o.id,
			"framework_id":    o.frameworkID,
			"slave_id":        o.agentID,
			"allocation_info": protoJSON(o.msg.GetAllocationInfo()),
			"resources":       legacyMap(o.resources),
		})
	}
	executors := []object{}
	for _, agentID := range sortedKeys(f.executors) {
		for _, eid := range sortedKeys(f.executors[agentID]) {
			if s.view.executor(f, f.executors[agentID][eid]) {
				executors = append(executors, executorJSON(f.executors[agentID][eid], agentID))
			}
		}
	}
	o := s.frameworkSummaryOf(f, used, offered)
	o["user"] = f.info.GetUser()
	o["failover_timeout"] = f.info.GetFailoverTimeout()
	o["checkpoint"] = f.info.GetCheckpoint()
	o["registered_time"] = zeroSecs(f.registeredTime)
	o["unregistered_time"] = zeroSecs(f.unregisteredTime)
	o["resources"] = deferred(func() any { return legacyMap(slices.Concat(used(), offered)) })
	o["tasks"] = tasks
	o["unreachable_tasks"] = unreachable
	o["completed_tasks"] = completed
	o["offers"] = offers
	o["executors"] = executors
	o["offer_constraints"] = object{}
	if f.info.Principal != nil {
		o["principal"] = f.info.GetPrincipal()
	}
	if !f.reregisteredTime.IsZero() && !f.reregisteredTime.Equal(f.registeredTime) {
		o["reregistered_time"] = secs(f.reregisteredTime)
	}
	if f.hasCapability(mesospb.FrameworkInfo_Capability_MULTI_ROLE) {
		o["roles"] = append([]string{}, f.info.GetRoles()...)
	} else {
		o["role"] = f.info.GetRole()
	}
	if f.info.Labels != nil {
		o["labels"] = labelsJSON(f.info.GetLabels())
	}
	return o
}

func zeroSecs(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return secs(t)
}

func taskJSON(t *mesospb.Task) object {
	statuses := []object{}
	for _, st := range t.GetStatuses() {
		so := object{"state": st.GetState().String(), "timestamp": st.GetTimestamp()}
		if st.Labels != nil {
			so["labels"] = labelsJSON(st.GetLabels())
		}
		if st.ContainerStatus != nil {
			so["container_status"] = containerStatusJSON(st.GetContainerStatus())
		}
		if st.Healthy != nil {
			so["healthy"] = st.GetHealthy()
		}
		statuses = append(statuses, so)
	}
	role := ""
	if rs := t.GetResources(); len(rs) > 0 {
		role = rs[0].GetAllocationInfo().GetRole()
	}
	o := object{
		"id":           t.GetTaskId().GetValue(),
		"name":         t.GetName(),
		"framework_id": t.GetFrameworkId().GetValue(),
		"executor_id":  t.GetExecutorId().GetValue(),
		"slave_id":     t.GetAgentId().GetValue(),
		"state":        t.GetState().String(),
		"resources":    legacyMap(t.GetResources()),
		"role":         role,
		"statuses":     statuses,
	}
	if len(t.GetLimits()) > 0 {
		lim := object{}
		for k, v := range t.GetLimits() {
			lim[k] = v.GetValue()
		}
		o["limits"] = lim
	}
	if t.User != nil {
		o["user"] = t.GetUser()
	}
	if t.Labels != nil {
		o["labels"] = labelsJSON(t.GetLabels())
	}
	if t.Discovery != nil {
		o["discovery"] = protoJSON(t.GetDiscovery())
	}
	if t.Container != nil {
		o["container"] = protoJSON(t.GetContainer())
	}
	if t.HealthCheck != nil {
		o["health_check"] = protoJSON(t.GetHealthCheck())
	}
	return o
}

// executorJSON is Mesos's json(ExecutorInfo) writer plus slave_id.
func executorJSON(e *mesospb.ExecutorInfo, agentID string) object {
	o := object{
		"executor_id":  e.GetExecutorId().GetValue(),
		"name":         e.GetName(),
		"framework_id": e.GetFrameworkId().GetValue(),
		"command":      commandJSON(e.GetCommand()),
		"resources":    legacyMap(e.GetResources()),
		"slave_id":     agentID,
	}
	// Executors cannot mix roles (MESOS-6636): the first resource's
	// allocation role is the executor's, written whenever it has resources.
	if rs := e.GetResources(); len(rs) > 0 {
		o["role"] = rs[0].GetAllocationInfo().GetRole()
	}
	if e.Labels != nil {
		o["labels"] = labelsJSON(e.GetLabels())
	}
	if e.Type != nil {
		o["type"] = e.GetType().String()
	}
	return o
}

// commandJSON is Mesos's json(CommandInfo) writer: argv and uris always.
func commandJSON(c *mesospb.CommandInfo) object {
	if c == nil {
		c = &mesospb.CommandInfo{}
	}
	cmd := object{"argv": append([]string{}, c.GetArguments()...)}
	if c.Shell != nil {
		cmd["shell"] = c.GetShell()
	}
	if c.Value != nil {
		cmd["value"] = c.GetValue()
	}
	if c.Environment != nil {
		cmd["environment"] = protoJSON(c.GetEnvironment())
	}
	uris := []object{}
	for _, u := range c.GetUris() {
		uris = append(uris, object{"value": u.GetValue(), "executable": u.GetExecutable()})
	}
	cmd["uris"] = uris
	return cmd
}

// containerStatusJSON is Mesos's json(ContainerStatus) writer: only
// container_id, network_infos and cgroup_info.
func containerStatusJSON(cs *mesospb.ContainerStatus) object {
	o := object{}
	if cs.ContainerId != nil {
		o["container_id"] = protoJSON(cs.GetContainerId())
	}
	if len(cs.GetNetworkInfos()) > 0 {
		nets := []object{}
		for _, n := range cs.GetNetworkInfos() {
			nets = append(nets, networkInfoJSON(n))
		}
		o["network_infos"] = nets
	}
	if cs.CgroupInfo != nil {
		o["cgroup_info"] = protoJSON(cs.GetCgroupInfo())
	}
	return o
}

// networkInfoJSON is Mesos's json(NetworkInfo) writer: labels as a plain
// array of labels, the other fields only when set.
func networkInfoJSON(n *mesospb.NetworkInfo) object {
	o := object{}
	if len(n.GetGroups()) > 0 {
		o["groups"] = append([]string{}, n.GetGroups()...)
	}
	if n.Labels != nil {
		labels := []json.RawMessage{}
		for _, l := range n.GetLabels().GetLabels() {
			labels = append(labels, protoJSON(l))
		}
		o["labels"] = labels
	}
	if len(n.GetIpAddresses()) > 0 {
		ips := []json.RawMessage{}
		for _, ip := range n.GetIpAddresses() {
			ips = append(ips, protoJSON(ip))
		}
		o["ip_addresses"] = ips
	}
	if n.Name != nil {
		o["name"] = n.GetName()
	}
	if len(n.GetPortMappings()) > 0 {
		pms := []json.RawMessage{}
		for _, pm := range n.GetPortMappings() {
			pms = append(pms, protoJSON(pm))
		}
		o["port_mappings"] = pms
	}
	return o
}

// frameworksEndpoint is /frameworks?framework_id= (ReadOnlyHandler::frameworks).
// A framework_id parameter, even an empty one, selects by ID.
func (s *state) frameworksEndpoint(r *http.Request) any {
	fws, completed := s.frameworksJSON(httpapi.QueryValue(r.URL.Query(), "framework_id"))
	return object{"frameworks": fws, "completed_frameworks": completed, "unregistered_frameworks": []object{}}
}

// slavesEndpoint is /slaves?slave_id= (ReadOnlyHandler::slaves).
func (s *state) slavesEndpoint(r *http.Request) any {
	id, selected := httpapi.QueryValue(r.URL.Query(), "slave_id")
	slaves := []object{}
	for _, a := range s.sortedAgents() {
		if !selected || a.id == id {
			slaves = append(slaves, s.agentJSON(a, true))
		}
	}
	return object{"slaves": slaves, "recovered_slaves": s.recoveredSlavesJSON()}
}

// taskLimit is /tasks's default limit (Mesos's TASK_LIMIT).
const taskLimit = 100

// tasksEndpoint is /tasks?framework_id=&task_id=&limit=100&offset=0&order=des
// (ReadOnlyHandler::tasks): the tasks, unreachable and completed tasks of
// registered and then completed frameworks, sorted by their first status's
// timestamp — newest first unless order=asc; tasks without a status come
// last, resp. first — and then the [offset, offset+limit) window.
//
// limit and offset are parsed as C ints (a value that does not parse is the
// default) and used as size_t, as Mesos does: limit=-1 is no limit, a
// negative offset selects nothing, and offset+limit wraps around
// (offset=5&limit=-1 selects nothing either).
func (s *state) tasksEndpoint(r *http.Request) any {
	q := r.URL.Query()
	limit, offset := uint64(taskLimit), uint64(0)
	if v, ok := httpapi.QueryValue(q, "limit"); ok {
		if n, err := numifyInt(v); err == nil {
			limit = uint64(int64(n))
		}
	}
	if v, ok := httpapi.QueryValue(q, "offset"); ok {
		if n, err := numifyInt(v); err == nil {
			offset = uint64(int64(n))
		}
	}
	asc := false
	if v, _ := httpapi.QueryValue(q, "order"); v == "asc" {
		asc = true
	}
	fid, byFramework := httpapi.QueryValue(q, "framework_id")
	tid, byTask := httpapi.QueryValue(q, "task_id")
	var all []*mesospb.Task
	collect := func(f *framework) {
		if byFramework && f.id != fid || !s.view.framework(f) {
			return
		}
		for _, t := range f.tasks {
			if s.view.task(f, t) {
				all = append(all, t)
			}
		}
		all = append(all, s.visibleTasks(f, f.unreachableTasks)...)
		all = append(all, s.visibleTasks(f, f.completedTasks)...)
	}
	for _, f := range s.sortedFrameworks() {
		collect(f)
	}
	for _, f := range s.completedFrameworks {
		collect(f)
	}
	if byTask {
		all = slices.DeleteFunc(all, func(t *mesospb.Task) bool { return t.GetTaskId().GetValue() != tid })
	}
	// TaskComparator::ascending and ::descending.
	slices.SortStableFunc(all, func(a, b *mesospb.Task) int {
		as, bs := a.GetStatuses(), b.GetStatuses()
		switch {
		case len(as) == 0 && len(bs) == 0:
			return 0
		case len(as) == 0:
			if asc {
				return -1
			}
			return 1
		case len(bs) == 0:
			if asc {
				return 1
			}
			return -1
		}
		c := cmp.Compare(as[0].GetTimestamp(), bs[0].GetTimestamp())
		if asc {
			return c
		}
		return -c
	})
	tasks := []object{}
	end := min(offset+limit, uint64(len(all))) // wraps as size_t does
	for i := offset; i < end; i++ {
		tasks = append(tasks, taskJSON(all[i]))
	}
	return object{"tasks": tasks}
}

// numifyInt is stout's numify<int>: a decimal or 0x-prefixed hexadecimal
// number, either with a '-', that fits a C int.
func numifyInt(v string) (int32, error) {
	digits, base := v, 10
	neg := strings.HasPrefix(v, "-")
	if h := strings.TrimPrefix(v, "-"); strings.HasPrefix(h, "0x") || strings.HasPrefix(h, "0X") {
		digits, base = h[2:], 16
		if neg {
			digits = "-" + digits
		}
	}
	n, err := strconv.ParseInt(digits, base, 32)
	return int32(n), err
}

// metricsSnapshot computes a subset of Mesos's master metrics (spec §3.5).
func (s *state) metricsSnapshot(*http.Request) any {
	elected := 0.0
	if s.serving && s.m.leaseValid() {
		elected = 1
	}
	out := map[string]float64{
		"master/elected":     elected,
		"master/uptime_secs": s.now().Sub(s.startTime).Seconds(),
	}
	var connected, disconnected, active, inactive int
	for _, a := range s.agents {
		if a.connected() {
			connected++
		} else {
			disconnected++
		}
		if a.active {
			active++
		} else {
			inactive++
		}
	}
	out["master/slaves_connected"] = float64(connected)
	out["master/slaves_disconnected"] = float64(disconnected)
	out["master/slaves_active"] = float64(active)
	out["master/slaves_inactive"] = float64(inactive)
	out["master/slaves_unreachable"] = float64(len(s.unreachable))
	var fc, fd, fa, fi int
	states := map[mesospb.TaskState]int{}
	for _, f := range s.frameworks {
		if f.connected() {
			fc++
		} else {
			fd++
		}
		if f.active {
			fa++
		} else {
			fi++
		}
		for _, t := range f.tasks {
			states[t.GetState()]++
		}
	}
	out["master/frameworks_connected"] = float64(fc)
	out["master/frameworks_disconnected"] = float64(fd)
	out["master/frameworks_active"] = float64(fa)
	out["master/frameworks_inactive"] = float64(fi)
	out["master/tasks_staging"] = float64(states[mesospb.TaskState_TASK_STAGING])
	out["master/tasks_starting"] = float64(states[mesospb.TaskState_TASK_STARTING])
	out["master/tasks_running"] = float64(states[mesospb.TaskState_TASK_RUNNING])
	out["master/tasks_killing"] = float64(states[mesospb.TaskState_TASK_KILLING])
	out["master/tasks_unreachable"] = float64(states[mesospb.TaskState_TASK_UNREACHABLE])
	m := s.metrics
	out["master/tasks_finished"] = float64(m.tasksFinished)
	out["master/tasks_failed"] = float64(m.tasksFailed)
	out["master/tasks_killed"] = float64(m.tasksKilled)
	out["master/tasks_lost"] = float64(m.tasksLost)
	out["master/tasks_error"] = float64(m.tasksError)
	out["master/tasks_dropped"] = float64(m.tasksDropped)
	out["master/tasks_gone"] = float64(m.tasksGone)
	out["master/tasks_gone_by_operator"] = float64(m.tasksGoneByOperator)
	out["master/outstanding_offers"] = float64(len(s.offers))
	out["master/valid_status_updates"] = float64(m.validStatusUpdates)
	out["master/invalid_status_updates"] = float64(m.invalidStatusUpdates)
	out["master/valid_status_update_acknowledgements"] = float64(m.validAcks)
	out["master/invalid_status_update_acknowledgements"] = float64(m.invalidAcks)
	out["master/slave_registrations"] = float64(m.slaveRegistrations)
	out["master/slave_reregistrations"] = float64(m.slaveReregistrations)
	out["master/slave_removals"] = float64(m.slaveRemovals)
	out["master/slave_removals/reason_unhealthy"] = float64(m.slaveRemovalsUnhealthy)
	out["master/slave_removals/reason_unregistered"] = float64(m.slaveRemovalsUnregistered)
	out["master/slave_removals/reason_registered"] = float64(m.slaveRemovalsRegistered)
	out["master/frameworks_removed"] = float64(m.frameworkRemovals)
	out["master/slave_unreachable_scheduled"] = float64(m.slaveUnreachableScheduled)
	out["master/slave_unreachable_completed"] = float64(m.slaveUnreachableCompleted)
	out["master/slave_unreachable_canceled"] = 0
	out["master/recovery_slave_removals"] = float64(m.slaveUnreachableCompleted)
	if r, ok := s.cfg.Registrar.(interface{ Metrics() map[string]float64 }); ok {
		for k, v := range r.Metrics() {
			out[k] = v
		}
	}
	out["master/messages_launch_tasks"] = float64(m.messagesLaunchTasks)
	out["master/messages_decline_offers"] = float64(m.messagesDeclineOffers)
	out["master/messages_kill_task"] = float64(m.messagesKillTask)
	out["master/messages_reconcile_tasks"] = float64(m.messagesReconcile)
	out["master/invalid_scheduler_calls"] = float64(m.invalidSchedulerCalls)
	out["master/event_queue_messages"] = 0
	out["master/event_queue_dispatches"] = 0
	out["master/event_queue_http_requests"] = 0

	// scalarOf sums by name: the lists need not be summed as resources
	// first (which, with addRes in this loop, was quadratic in the tasks).
	var total, used []*mesospb.Resource
	for _, a := range s.agents {
		total = append(total, a.total...)
		for _, byTask := range a.tasks {
			for _, t := range byTask {
				if usesResources(t) {
					used = append(used, t.GetResources()...)
				}
			}
		}
		for _, execs := range a.executors {
			for _, e := range execs {
				used = append(used, e.GetResources()...)
			}
		}
	}
	for _, name := range []string{"cpus", "mem", "disk", "gpus"} {
		t, u := scalarOf(total, name), scalarOf(used, name)
		out["master/"+name+"_total"] = t
		out["master/"+name+"_used"] = u
		pct := 0.0
		if t > 0 {
			pct = u / t
		}
		out["master/"+name+"_percent"] = pct
		out["master/"+name+"_revocable_total"] = 0
		out["master/"+name+"_revocable_used"] = 0
		out["master/"+name+"_revocable_percent"] = 0
	}
	return out
}
