package master

import (
	"strconv"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// Sharing what tasks have in common (issue 13).
//
// A master rebuilt from 20,000 re-registering agents holds 200,000 tasks
// decoded from their REREGISTERs, each a tree of some forty allocations:
// its own copies of the framework's and the agent's IDs (twice: in the
// task and in its status), of the same few resources ("cpus:0.1" for role
// "*") and strings. internTask points those at one shared copy. The
// master never edits a task's sub-messages in place (it replaces fields,
// see state_snapshot.go), so sharing them is safe, and it is what lets
// the snapshots be read off the loop in the first place. Fewer objects
// also make each garbage collection's marking cheaper, which the loop
// feels as latency.

// maxInterned bounds each table: past it, values are kept as they are.
const maxInterned = 4096

type interner struct {
	resources map[string]*mesospb.Resource
	strings   map[string]*string
}

// resource is the shared copy of r when r is a plain scalar (a name, a
// value, at most an allocation role), else r.
func (in *interner) resource(r *mesospb.Resource) *mesospb.Resource {
	if r == nil || r.GetType() != mesospb.Value_SCALAR || r.Scalar == nil || r.Scalar.Value == nil || r.Name == nil ||
		r.Ranges != nil || r.Set != nil || r.Role != nil || r.Reservation != nil || len(r.Reservations) > 0 ||
		r.Disk != nil || r.Revocable != nil || r.Shared != nil || r.ProviderId != nil ||
		len(r.ProtoReflect().GetUnknown()) > 0 || len(r.Scalar.ProtoReflect().GetUnknown()) > 0 {
		return r
	}
	key := r.GetName() + "\x00" + strconv.FormatFloat(r.GetScalar().GetValue(), 'g', -1, 64)
	if ai := r.AllocationInfo; ai != nil {
		if len(ai.ProtoReflect().GetUnknown()) > 0 {
			return r
		}
		key += "\x00" + strconv.FormatBool(ai.Role != nil) + ai.GetRole()
	}
	if shared, ok := in.resources[key]; ok {
		return shared
	}
	if len(in.resources) < maxInterned {
		if in.resources == nil {
			in.resources = map[string]*mesospb.Resource{}
		}
		in.resources[key] = r
	}
	return r
}

// str is the shared pointer to a string equal to *p.
func (in *interner) str(p *string) *string {
	if p == nil {
		return nil
	}
	if shared, ok := in.strings[*p]; ok {
		return shared
	}
	if len(in.strings) < maxInterned {
		if in.strings == nil {
			in.strings = map[string]*string{}
		}
		in.strings[*p] = p
	}
	return p
}

// internTask makes t, a task the master takes from a re-registering agent
// (which it owns), share what it has in common with other tasks: its
// framework's ID (fid, the FrameworkInfo's), its agent's (aid), plain
// scalar resources, its name and user, and, in its statuses, the task's,
// agent's and executor's IDs.
func (in *interner) internTask(t *mesospb.Task, fid *mesospb.FrameworkID, aid *mesospb.AgentID) {
	if fid != nil && fid.GetValue() == t.GetFrameworkId().GetValue() && len(t.GetFrameworkId().ProtoReflect().GetUnknown()) == 0 {
		t.FrameworkId = fid
	}
	if aid != nil && aid.GetValue() == t.GetAgentId().GetValue() {
		t.AgentId = aid
	}
	for i, r := range t.Resources {
		t.Resources[i] = in.resource(r)
	}
	t.Name = in.str(t.Name)
	t.User = in.str(t.User)
	for _, st := range t.Statuses {
		if st.TaskId != nil && st.TaskId.GetValue() == t.GetTaskId().GetValue() && len(st.TaskId.ProtoReflect().GetUnknown()) == 0 {
			st.TaskId = t.TaskId
		}
		if st.AgentId != nil && st.AgentId.GetValue() == t.GetAgentId().GetValue() && len(st.AgentId.ProtoReflect().GetUnknown()) == 0 {
			st.AgentId = t.AgentId
		}
		if st.ExecutorId != nil && st.ExecutorId.GetValue() == t.GetExecutorId().GetValue() && len(st.ExecutorId.ProtoReflect().GetUnknown()) == 0 {
			st.ExecutorId = t.ExecutorId
		}
	}
}
