package agent

import (
	"encoding/json"
	"maps"
	"net/http"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/buildinfo"
	"github.com/meso-project/meso/internal/files"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/resources"
)

// actorID is the agent's libprocess actor id: its routes are served under
// /slave(1) and, through libprocess's delegation, at the root (spec §0.5).
const actorID = "slave(1)"

// routes builds the agent's HTTP API on a libprocess-style router (see
// httpapi.Router): /state/ and /slave(1)/state/x reach /state.
func (a *Agent) routes() http.Handler {
	rt := httpapi.NewRouter(actorID)
	rt.Wrap = a.authenticateRoute // authn.go
	route := func(path string, h http.HandlerFunc) { rt.Handle(actorID, path, h) }
	// /files, with the authorization of the path read (authz.go).
	rt.HandleFunc(files.ProcessID, "/browse", a.guardFiles(a.files.ServeBrowse))
	rt.HandleFunc(files.ProcessID, "/read", a.guardFiles(a.files.ServeRead))
	rt.HandleFunc(files.ProcessID, "/download", a.guardFiles(a.files.ServeDownload))
	rt.HandleFunc(files.ProcessID, "/debug", a.guard(authz.GetEndpointWithPath, "/files/debug", a.files.ServeDebug))
	route("/api/v1/executor", a.executorAPI)
	route("/api/v1", a.serveOperatorAPI)
	route("/state", a.serveState)
	// The name Mesos used before 1.7, which old tools still ask for.
	route("/state.json", a.serveState)
	route("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	route("/flags", a.guard(authz.ViewFlags, "", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, r, http.StatusOK, map[string]any{"flags": a.flags()})
	}))
	version := func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, r, http.StatusOK, versionJSON())
	}
	// /version and /metrics/snapshot are process-wide in Mesos (their own
	// libprocess processes, not under /slave(1)); meso also serves them
	// under /slave(1), as it always has.
	rt.HandleFunc("version", "/", version)
	route("/version", version)
	rt.HandleFunc("metrics", "/snapshot", a.guard(authz.GetEndpointWithPath, "/metrics/snapshot", a.serveMetrics))
	// /metrics itself is the Prometheus scrape (metrics.go).
	// The scrape shows the same numbers: the same ACL guards it.
	rt.HandleFunc("metrics", "/", a.guard(authz.GetEndpointWithPath, "/metrics/snapshot", a.servePrometheus))
	route("/metrics/snapshot", a.guard(authz.GetEndpointWithPath, "/metrics/snapshot", a.serveMetrics))
	route("/monitor/statistics", a.guard(authz.GetEndpointWithPath, "/monitor/statistics", a.serveStatistics))
	// The name Mesos used before 1.0, which old tools still ask for.
	route("/monitor/statistics.json", a.guard(authz.GetEndpointWithPath, "/monitor/statistics", a.serveStatistics))
	route("/containers", a.guard(authz.GetEndpointWithPath, "/containers", a.serveContainers))
	if a.cfg.EnablePprof {
		httpapi.RegisterPprof(rt, func(h http.HandlerFunc) http.HandlerFunc {
			return a.guard(authz.GetEndpointWithPath, "/debug/pprof", h)
		})
	}
	return rt
}

func capabilityNames() []string {
	out := make([]string, 0, len(agentCapabilities))
	for _, c := range agentCapabilities {
		out = append(out, c.String())
	}
	return out
}

func versionJSON() map[string]any {
	return map[string]any{"version": Version, "build_date": buildinfo.BuildDate,
		"build_time": buildinfo.BuildTime, "build_user": buildinfo.BuildUser}
}

func (a *Agent) flags() map[string]string {
	if a.cfg.Flags == nil {
		return map[string]string{}
	}
	return a.cfg.Flags
}

func (a *Agent) serveState(w http.ResponseWriter, r *http.Request) {
	var state map[string]any
	view := a.viewerFor(r)
	if err := a.call(r.Context(), func() { a.viewing(view, func() { state = a.state() }) }); err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running"))
		return
	}
	httpapi.WriteJSON(w, r, http.StatusOK, state)
}

// state builds the /state document (spec §3.4) on the actor.
func (a *Agent) state() map[string]any {
	total := resources.Resources(a.resources)
	used := resources.Resources(a.usedResources()).Unallocate()
	s := map[string]any{
		"version":                        Version,
		"start_time":                     float64(a.startTime.UnixNano()) / 1e9,
		"id":                             a.info.GetId().GetValue(),
		"pid":                            a.pid(),
		"hostname":                       a.info.GetHostname(),
		"capabilities":                   capabilityNames(),
		"resources":                      total.LegacyMap(),
		"reserved_resources":             reservedLegacy(total),
		"unreserved_resources":           total.Unreserved().LegacyMap(),
		"reserved_resources_full":        reservedFull(total),
		"unreserved_resources_full":      protoList([]*mesospb.Resource(total.Unreserved().ToEndpointFormat())),
		"reserved_resources_allocated":   reservedLegacy(used),
		"unreserved_resources_allocated": used.Unreserved().LegacyMap(),
		"resource_providers":             []any{},
		"attributes":                     resources.AttributesLegacyMap(a.attributes),
		"frameworks":                     []any{},
		"completed_frameworks":           []any{},
	}
	if a.view.flags() {
		s["flags"] = a.flags()
	}
	if h := a.masterHostname(); h != "" {
		s["master_hostname"] = h
	}
	var fws, done []any
	for _, fw := range a.sortedFrameworks() {
		if a.view.framework(fw) {
			fws = append(fws, a.frameworkJSON(fw))
		}
	}
	for _, fw := range a.completed {
		if a.view.framework(fw) {
			done = append(done, a.frameworkJSON(fw))
		}
	}
	if fws != nil {
		s["frameworks"] = fws
	}
	if done != nil {
		s["completed_frameworks"] = done
	}
	return s
}

// masterHostname is /state's "master_hostname": the leading master's host
// while one is detected (Mesos omits the key otherwise), as the master
// describes itself once the agent registered with it, else as the detector
// knows it.
func (a *Agent) masterHostname() string {
	if a.leader == nil {
		return ""
	}
	for _, h := range []string{a.masterInfo.GetHostname(), a.leader.Info.GetHostname(), a.leader.Info.GetAddress().GetHostname()} {
		if h != "" {
			return h
		}
	}
	return a.leader.Host
}

func (a *Agent) frameworkJSON(fw *framework) map[string]any {
	info := fw.info
	m := map[string]any{
		"id":                  fw.id,
		"name":                info.GetName(),
		"user":                info.GetUser(),
		"failover_timeout":    info.GetFailoverTimeout(),
		"checkpoint":          info.GetCheckpoint(),
		"hostname":            info.GetHostname(),
		"executors":           []any{},
		"completed_executors": []any{},
	}
	if info.Principal != nil {
		m["principal"] = info.GetPrincipal()
	}
	if len(info.GetRoles()) > 0 {
		m["roles"] = info.GetRoles()
	} else {
		m["role"] = info.GetRole()
	}
	var exs, done []any
	for _, ex := range fw.sortedExecutors() {
		if a.view.executor(fw, ex) {
			exs = append(exs, a.executorJSON(ex))
		}
	}
	for _, ex := range fw.completedExecutors {
		if a.view.executor(fw, ex) {
			done = append(done, a.executorJSON(ex))
		}
	}
	if exs != nil {
		m["executors"] = exs
	}
	if done != nil {
		m["completed_executors"] = done
	}
	return m
}

func (a *Agent) executorJSON(ex *executor) map[string]any {
	m := map[string]any{
		"id":              ex.id,
		"name":            ex.info.GetName(),
		"source":          ex.info.GetSource(),
		"container":       ex.containerID,
		"directory":       ex.directory,
		"resources":       resources.Resources(ex.allocated("")).LegacyMap(),
		"tasks":           []any{},
		"queued_tasks":    []any{},
		"completed_tasks": []any{},
	}
	if ex.info.Type != nil {
		m["type"] = ex.info.GetType().String()
	}
	if ex.info.Labels != nil {
		m["labels"] = protoJSON(ex.info.GetLabels())["labels"]
	}
	if role := allocationRole(ex.info.GetResources()); role != "" {
		m["role"] = role
	}
	var tasks, queued, completed []any
	for _, t := range a.visibleTasks(ex.fw, ex.launchedTasks()) {
		tasks = append(tasks, taskJSON(t))
	}
	for _, t := range ex.queuedTasks() {
		if a.view.taskInfo(ex.fw, t) {
			queued = append(queued, taskInfoJSON(t, ex))
		}
	}
	for _, t := range a.visibleTasks(ex.fw, ex.completed) {
		completed = append(completed, taskJSON(t))
	}
	if tasks != nil {
		m["tasks"] = tasks
	}
	if queued != nil {
		m["queued_tasks"] = queued
	}
	if completed != nil {
		m["completed_tasks"] = completed
	}
	return m
}

func allocationRole(rs []*mesospb.Resource) string {
	for _, r := range rs {
		if role := r.GetAllocationInfo().GetRole(); role != "" {
			return role
		}
	}
	return ""
}

// taskJSON follows Mesos's model(Task).
func taskJSON(t *mesospb.Task) map[string]any {
	m := map[string]any{
		"id":           t.GetTaskId().GetValue(),
		"name":         t.GetName(),
		"framework_id": t.GetFrameworkId().GetValue(),
		"executor_id":  t.GetExecutorId().GetValue(),
		"slave_id":     t.GetAgentId().GetValue(),
		"state":        t.GetState().String(),
		"resources":    resources.Resources(t.GetResources()).LegacyMap(),
	}
	if role := allocationRole(t.GetResources()); role != "" {
		m["role"] = role
	}
	if t.User != nil {
		m["user"] = t.GetUser()
	}
	statuses := []any{}
	for _, st := range t.GetStatuses() {
		sm := map[string]any{"state": st.GetState().String(), "timestamp": st.GetTimestamp()}
		if st.Healthy != nil {
			sm["healthy"] = st.GetHealthy()
		}
		if st.ContainerStatus != nil {
			sm["container_status"] = protoJSON(st.GetContainerStatus())
		}
		if st.Labels != nil {
			sm["labels"] = protoJSON(st.GetLabels())["labels"]
		}
		statuses = append(statuses, sm)
	}
	m["statuses"] = statuses
	if t.Labels != nil {
		m["labels"] = protoJSON(t.GetLabels())["labels"]
	}
	for key, msg := range map[string]proto.Message{
		"discovery": t.GetDiscovery(), "container": t.GetContainer(),
		"health_check": t.GetHealthCheck(), "kill_policy": t.GetKillPolicy(),
	} {
		if msg.ProtoReflect().IsValid() {
			m[key] = protoJSON(msg)
		}
	}
	return m
}

// taskInfoJSON follows Mesos's model(TaskInfo) for queued tasks.
func taskInfoJSON(t *mesospb.TaskInfo, ex *executor) map[string]any {
	m := map[string]any{
		"id":        t.GetTaskId().GetValue(),
		"name":      t.GetName(),
		"slave_id":  t.GetAgentId().GetValue(),
		"resources": resources.Resources(t.GetResources()).LegacyMap(),
	}
	if role := allocationRole(t.GetResources()); role != "" {
		m["role"] = role
	}
	if t.Command != nil {
		m["command"] = protoJSON(t.GetCommand())
	}
	if !ex.command {
		m["executor_id"] = ex.id
	}
	if t.Discovery != nil {
		m["discovery"] = protoJSON(t.GetDiscovery())
	}
	return m
}

// protoJSON renders a message in the Mesos JSON dialect as a generic value.
func protoJSON(m proto.Message) map[string]any {
	b, err := codec.MarshalJSON(m)
	if err != nil {
		return map[string]any{}
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return map[string]any{}
	}
	return v
}

func protoList[M proto.Message](ms []M) []any {
	out := make([]any, 0, len(ms))
	for _, m := range ms {
		out = append(out, protoJSON(m))
	}
	return out
}

// byReservationRole groups reserved resources by their current
// (innermost) reservation role.
func byReservationRole(rs resources.Resources) map[string]resources.Resources {
	out := map[string]resources.Resources{}
	for _, r := range rs.Reserved() {
		role := resources.ReservationRole(r)
		out[role] = append(out[role], r)
	}
	return out
}

// reservedLegacy is reserved_resources: role -> resource map.
func reservedLegacy(rs resources.Resources) map[string]any {
	out := map[string]any{}
	for role, r := range byReservationRole(rs) {
		out[role] = r.LegacyMap()
	}
	return out
}

// reservedFull is reserved_resources_full: role -> resources in the
// endpoint format.
func reservedFull(rs resources.Resources) map[string]any {
	out := map[string]any{}
	for role, r := range byReservationRole(rs) {
		out[role] = protoList([]*mesospb.Resource(r.ToEndpointFormat()))
	}
	return out
}

// usedResources sums the resources of live executors and their tasks
// (Mesos's executors' allocatedResources).
func (a *Agent) usedResources() []*mesospb.Resource {
	var used []*mesospb.Resource
	for _, fw := range a.frameworks {
		for _, ex := range fw.executors {
			if ex.state != executorTerminated {
				used = append(used, ex.allocated("")...)
			}
		}
	}
	return used
}

// metrics are the agent's counters; gauges are computed on demand.
type metrics struct {
	registrations, reregistrations  uint64
	validUpdates, invalidUpdates    uint64
	frameworkMessages               uint64
	invalidFrameworkMessages        uint64
	executorMessages                uint64
	tasksFinished, tasksFailed      uint64
	tasksKilled, tasksLost          uint64
	tasksGone, tasksDropped         uint64
	tasksError, executorsTerminated uint64
	containerLaunchErrors           uint64
	// recoveryErrors counts checkpoints skipped at recovery (--strict=false);
	// recoveryTime is how long recovery took (zero before it ended).
	recoveryErrors uint64
	recoveryTime   time.Duration
}

// countTerminal counts a task reaching a terminal state.
func (m *metrics) countTerminal(s mesospb.TaskState) {
	switch s {
	case mesospb.TaskState_TASK_FINISHED:
		m.tasksFinished++
	case mesospb.TaskState_TASK_FAILED:
		m.tasksFailed++
	case mesospb.TaskState_TASK_KILLED:
		m.tasksKilled++
	case mesospb.TaskState_TASK_LOST:
		m.tasksLost++
	case mesospb.TaskState_TASK_GONE, mesospb.TaskState_TASK_GONE_BY_OPERATOR:
		m.tasksGone++
	case mesospb.TaskState_TASK_DROPPED:
		m.tasksDropped++
	case mesospb.TaskState_TASK_ERROR:
		m.tasksError++
	}
}

// metricsSnapshot uses Mesos's agent metric names.
func (a *Agent) metricsSnapshot() map[string]float64 {
	m := a.metrics
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	states := map[mesospb.TaskState]float64{}
	execs := map[executorState]float64{}
	for _, fw := range a.frameworks {
		for _, ex := range fw.executors {
			execs[ex.state]++
			for _, t := range ex.launchedTasks() {
				states[t.GetState()]++
			}
			states[mesospb.TaskState_TASK_STAGING] += float64(len(ex.queued))
		}
	}
	used := a.usedResources()
	snap := map[string]float64{
		"slave/registered":                 b(a.link.connected),
		"slave/uptime_secs":                time.Since(a.startTime).Seconds(),
		"slave/frameworks_active":          float64(len(a.frameworks)),
		"slave/tasks_staging":              states[mesospb.TaskState_TASK_STAGING],
		"slave/tasks_starting":             states[mesospb.TaskState_TASK_STARTING],
		"slave/tasks_running":              states[mesospb.TaskState_TASK_RUNNING],
		"slave/tasks_killing":              states[mesospb.TaskState_TASK_KILLING],
		"slave/tasks_finished":             float64(m.tasksFinished),
		"slave/tasks_failed":               float64(m.tasksFailed),
		"slave/tasks_killed":               float64(m.tasksKilled),
		"slave/tasks_lost":                 float64(m.tasksLost),
		"slave/tasks_gone":                 float64(m.tasksGone),
		"slave/tasks_dropped":              float64(m.tasksDropped),
		"slave/tasks_error":                float64(m.tasksError),
		"slave/executors_registering":      execs[executorRegistering],
		"slave/executors_running":          execs[executorRunning],
		"slave/executors_terminating":      execs[executorTerminating],
		"slave/executors_terminated":       float64(m.executorsTerminated),
		"slave/valid_status_updates":       float64(m.validUpdates),
		"slave/invalid_status_updates":     float64(m.invalidUpdates),
		"slave/valid_framework_messages":   float64(m.frameworkMessages),
		"slave/invalid_framework_messages": float64(m.invalidFrameworkMessages),
		// meso has no QoS controller to preempt executors.
		"slave/executors_preempted":                     0,
		"slave/executor_messages":                       float64(m.executorMessages),
		"slave/registrations":                           float64(m.registrations),
		"slave/reregistrations":                         float64(m.reregistrations),
		"slave/status_updates_pending":                  float64(a.updates.Len()),
		"slave/recovery_errors":                         float64(m.recoveryErrors),
		"slave/container_launch_errors":                 float64(m.containerLaunchErrors),
		"slave/executor_directory_max_allowed_age_secs": 0,
	}
	if a.gc != nil {
		maps.Copy(snap, a.gc.Metrics())
		snap["slave/executor_directory_max_allowed_age_secs"] = a.gc.MaxAllowedAge().Seconds()
	}
	if m.recoveryTime > 0 {
		snap["slave/recovery_time_secs"] = m.recoveryTime.Seconds()
	}
	for _, name := range []string{"cpus", "mem", "disk", "gpus"} {
		total, use := scalar(a.resources, name), scalar(used, name)
		snap["slave/"+name+"_total"] = total
		snap["slave/"+name+"_used"] = use
		pct := 0.0
		if total > 0 {
			pct = use / total
		}
		snap["slave/"+name+"_percent"] = pct
		// No resource estimator: an agent has no revocable resources.
		snap["slave/"+name+"_revocable_total"] = 0
		snap["slave/"+name+"_revocable_used"] = 0
		snap["slave/"+name+"_revocable_percent"] = 0
	}
	return snap
}

func scalar(rs []*mesospb.Resource, name string) float64 {
	sum := 0.0
	for _, r := range rs {
		if r.GetName() == name && r.GetType() == mesospb.Value_SCALAR {
			sum += r.GetScalar().GetValue()
		}
	}
	return float64(int64(sum*1000+0.5)) / 1000
}
