package master

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/resources"
)

// Snapshots of tasks for the reads that build or encode off the loop
// (/state's task lists, GET_STATE and GET_TASKS).
//
// A task the master keeps (in a framework's and an agent's books, or in a
// framework's completed and unreachable lists) is never changed in place:
// the loop changes a task by making a new version of it (copyTask), changing
// that, and putting it in the books in the old one's place (editTask,
// replaceTask). A read on the loop therefore takes only the pointers: the
// tasks they point to stay as they were while the read builds and encodes
// its answer off the loop, whatever the loop does meanwhile. At 200,000
// tasks a copy of each task per read was ~100 ms of the loop's time, during
// which every scheduler call waited; the pointers are a few milliseconds.
// TestReadsWhileTasksChange checks under -race that no read shares
// anything the loop writes.

// copyTask is a new version of t for the loop to change: a shallow copy
// with a Statuses slice of its own (with room for one more status). The
// messages its fields point to are shared with t; the loop never edits
// them, it replaces them. Every field of mesospb.Task must be copied
// (TestCopyTaskCopiesEveryField).
func copyTask(t *mesospb.Task) *mesospb.Task {
	c := &mesospb.Task{
		Name:              t.Name,
		TaskId:            t.TaskId,
		FrameworkId:       t.FrameworkId,
		ExecutorId:        t.ExecutorId,
		AgentId:           t.AgentId,
		State:             t.State,
		Resources:         t.Resources,
		StatusUpdateState: t.StatusUpdateState,
		StatusUpdateUuid:  t.StatusUpdateUuid,
		Labels:            t.Labels,
		Discovery:         t.Discovery,
		Container:         t.Container,
		HealthCheck:       t.HealthCheck,
		KillPolicy:        t.KillPolicy,
		User:              t.User,
		Limits:            t.Limits,
	}
	if t.Statuses != nil {
		c.Statuses = make([]*mesospb.TaskStatus, len(t.Statuses), len(t.Statuses)+1)
		copy(c.Statuses, t.Statuses)
	}
	return c
}

// snapshotTasks is a list of the tasks ts holds that the loop's later
// changes to ts do not reach: a copy of the pointers, for the lists the
// loop edits in place (completed and unreachable tasks are trimmed and
// filtered where they are). The tasks need no copy (above).
func snapshotTasks(ts []*mesospb.Task) []*mesospb.Task {
	return slices.Clone(ts)
}

// taskList is a list of task snapshots that the encoder writes as /state
// writes tasks (taskJSON), sorted by task ID first when sort is set.
type taskList struct {
	tasks []*mesospb.Task
	sort  bool
}

func (l taskList) appendJSON(b []byte) []byte {
	if l.sort {
		l.tasks = sortedTasksByID(nil, l.tasks)
	}
	b = append(b, '[')
	for i, t := range l.tasks {
		if i > 0 {
			b = append(b, ',')
			if i%256 == 0 {
				// A framework's tasks at 200,000 tasks are ~100 ms of
				// encoding: let the loop and other requests have the
				// processor in between.
				runtime.Gosched()
			}
		}
		if i+1 < len(l.tasks) {
			codec.Touch(l.tasks[i+1])
		}
		b = appendTaskJSON(b, t)
	}
	return append(b, ']')
}

// liveTasks are f.tasks's values, in no order, for the reads: shared
// with the other reads until f.tasks changes, so callers must not change
// the list (sortedTasksByID sorts a copy). At 200,000 tasks listing them
// on every /state and GET_STATE was a third of each read's time on the
// loop.
func (s *state) liveTasks(f *framework) []*mesospb.Task {
	if !f.liveOK {
		f.live = slices.Collect(maps.Values(f.tasks))
		f.liveOK = true
	} else if checkReadCaches {
		fresh := slices.Collect(maps.Values(f.tasks))
		if !sameTasks(fresh, f.live) {
			panic(fmt.Sprintf("framework %s: a shared task list outlived a change to its tasks", f.id))
		}
	}
	return f.live
}

// sameTasks reports whether a and b hold the same tasks (pointers), in
// any order.
func sameTasks(a, b []*mesospb.Task) bool {
	if len(a) != len(b) {
		return false
	}
	in := make(map[*mesospb.Task]bool, len(a))
	for _, t := range a {
		in[t] = true
	}
	for _, t := range b {
		if !in[t] {
			return false
		}
	}
	return true
}

// sortedTasksByID appends ts to dst in the order of their task IDs. It
// sorts the IDs beside the tasks rather than reading each through its
// task on every comparison: at 200,000 tasks the reads' sorts were mostly
// cache misses. ts is not changed (it may be a shared list, liveTasks).
func sortedTasksByID(dst, ts []*mesospb.Task) []*mesospb.Task {
	type keyed struct {
		id string
		t  *mesospb.Task
	}
	ks := make([]keyed, len(ts))
	for i, t := range ts {
		ks[i] = keyed{t.GetTaskId().GetValue(), t}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.id, b.id) })
	dst = slices.Grow(dst, len(ks))
	for _, k := range ks {
		dst = append(dst, k.t)
	}
	return dst
}

// MarshalJSON lets encoding/json encode models holding a taskList.
func (l taskList) MarshalJSON() ([]byte, error) { return l.appendJSON(nil), nil }

// appendTaskJSON appends taskJSON(t) as appendJSON would, without building
// the map: the keys in sorted order, each written as taskJSON sets it
// (TestAppendTaskJSON).
func appendTaskJSON(b []byte, t *mesospb.Task) []byte {
	key := func(b []byte, k string, first bool) []byte {
		if !first {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		return append(b, '"', ':')
	}
	b = append(b, '{')
	first := true
	field := func(k string) {
		b = key(b, k, first)
		first = false
	}
	if t.Container != nil {
		field("container")
		b = append(b, protoJSON(t.GetContainer())...)
	}
	if t.Discovery != nil {
		field("discovery")
		b = append(b, protoJSON(t.GetDiscovery())...)
	}
	field("executor_id")
	b = appendJSONString(b, t.GetExecutorId().GetValue())
	field("framework_id")
	b = appendJSONString(b, t.GetFrameworkId().GetValue())
	if t.HealthCheck != nil {
		field("health_check")
		b = append(b, protoJSON(t.GetHealthCheck())...)
	}
	field("id")
	b = appendJSONString(b, t.GetTaskId().GetValue())
	if t.Labels != nil {
		field("labels")
		b = appendJSON(b, labelsJSON(t.GetLabels()))
	}
	if len(t.GetLimits()) > 0 {
		field("limits")
		lim := object{}
		for k, v := range t.GetLimits() {
			lim[k] = v.GetValue()
		}
		b = appendJSON(b, lim)
	}
	field("name")
	b = appendJSONString(b, t.GetName())
	field("resources")
	b = appendLegacyMap(b, t.GetResources())
	field("role")
	role := ""
	if rs := t.GetResources(); len(rs) > 0 {
		role = rs[0].GetAllocationInfo().GetRole()
	}
	b = appendJSONString(b, role)
	field("slave_id")
	b = appendJSONString(b, t.GetAgentId().GetValue())
	field("state")
	b = appendJSONString(b, t.GetState().String())
	field("statuses")
	b = append(b, '[')
	for i, st := range t.GetStatuses() {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		sfirst := true
		if st.ContainerStatus != nil {
			b = key(b, "container_status", sfirst)
			sfirst = false
			b = appendContainerStatusJSON(b, st.GetContainerStatus())
		}
		if st.Healthy != nil {
			b = key(b, "healthy", sfirst)
			sfirst = false
			b = appendJSON(b, st.GetHealthy())
		}
		if st.Labels != nil {
			b = key(b, "labels", sfirst)
			sfirst = false
			b = appendJSON(b, labelsJSON(st.GetLabels()))
		}
		b = key(b, "state", sfirst)
		b = appendJSONString(b, st.GetState().String())
		b = key(b, "timestamp", false)
		b = appendJSONFloat(b, st.GetTimestamp(), 64)
		b = append(b, '}')
	}
	b = append(b, ']')
	if t.User != nil {
		field("user")
		b = appendJSONString(b, t.GetUser())
	}
	return append(b, '}')
}

var _ json.Marshaler = taskList{}

// appendLegacyMap appends legacyMap(rs) as appendJSON would. A task's
// resources are mostly a few non-revocable scalars: those are summed and
// written here; anything else goes through legacyMap.
func appendLegacyMap(b []byte, rs []*mesospb.Resource) []byte {
	type sum struct {
		name  string
		value float64
	}
	var buf [8]sum
	sums := append(buf[:0], sum{"cpus", 0}, sum{"disk", 0}, sum{"gpus", 0}, sum{"mem", 0})
next:
	for _, r := range rs {
		if r == nil {
			continue
		}
		if r.GetType() != mesospb.Value_SCALAR || r.Revocable != nil || r.GetScalar().GetValue() <= 0 {
			return appendJSON(b, legacyMap(rs))
		}
		for i := range sums {
			if sums[i].name == r.GetName() {
				sums[i].value = resources.AddScalar(sums[i].value, r.GetScalar().GetValue())
				continue next
			}
		}
		sums = append(sums, sum{r.GetName(), r.GetScalar().GetValue()})
		sums[len(sums)-1].value = resources.AddScalar(0, sums[len(sums)-1].value)
	}
	slices.SortFunc(sums, func(a, b sum) int { return cmp.Compare(a.name, b.name) })
	b = append(b, '{')
	for i, s := range sums {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s.name)
		b = append(b, ':')
		b = appendJSONFloat(b, s.value, 64)
	}
	return append(b, '}')
}

// appendContainerStatusJSON appends containerStatusJSON(cs) as appendJSON
// would; a container ID without a parent, the usual case, is written here.
func appendContainerStatusJSON(b []byte, cs *mesospb.ContainerStatus) []byte {
	id := cs.GetContainerId()
	if id == nil || id.Parent != nil || cs.CgroupInfo != nil || !plainNetworkInfos(cs.GetNetworkInfos()) {
		return appendJSON(b, containerStatusJSON(cs))
	}
	b = append(b, `{"container_id":{"value":`...)
	b = appendJSONString(b, id.GetValue())
	b = append(b, '}')
	if nets := cs.GetNetworkInfos(); len(nets) > 0 {
		b = append(b, `,"network_infos":[`...)
		for i, n := range nets {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			if ips := n.GetIpAddresses(); len(ips) > 0 {
				b = append(b, `"ip_addresses":[`...)
				for j, ip := range ips {
					if j > 0 {
						b = append(b, ',')
					}
					// protoJSON(ip): the dialect writes protocol's default.
					b = append(b, `{"protocol":"IPv4","ip_address":`...)
					b = appendJSONString(b, ip.GetIpAddress())
					b = append(b, '}')
				}
				b = append(b, ']')
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// plainNetworkInfos reports whether nets hold nothing but IP addresses
// with only ip_address set (what an agent reports for a container on the
// host's network), which appendContainerStatusJSON writes itself.
func plainNetworkInfos(nets []*mesospb.NetworkInfo) bool {
	for _, n := range nets {
		if len(n.Groups) > 0 || n.Labels != nil || n.Name != nil || len(n.PortMappings) > 0 ||
			len(n.ProtoReflect().GetUnknown()) > 0 {
			return false
		}
		for _, ip := range n.IpAddresses {
			if ip.Protocol != nil || ip.IpAddress == nil || len(ip.ProtoReflect().GetUnknown()) > 0 {
				return false
			}
		}
	}
	return true
}
