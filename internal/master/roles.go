package master

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/pkg/resources"
)

// Role bookkeeping: weights, quota and the per-role resource breakdown
// (Master::RoleResourceBreakdown) that /roles and UPDATE_QUOTA use.
//
// Weights and quota live only in memory for now: Mesos persists them in the
// registry (and the registry wins over --weights after a failover); that
// arrives with the registry, a later issue.

// quantities is Mesos's ResourceQuantities / ResourceLimits: name -> amount.
type quantities map[string]float64

func (q quantities) add(o quantities) quantities {
	out := maps.Clone(q)
	if out == nil {
		out = quantities{}
	}
	for k, v := range o {
		out[k] = resources.Round(out[k] + v)
	}
	return out
}

func (q quantities) sub(o quantities) quantities {
	out := quantities{}
	for k, v := range q {
		if d := resources.Round(v - o[k]); d > 0 {
			out[k] = d
		}
	}
	return out
}

// contains is ResourceQuantities::contains: every amount of o is covered.
func (q quantities) contains(o quantities) bool {
	for k, v := range o {
		if v > 0 && q[k] < v {
			return false
		}
	}
	return true
}

// limitsContain is ResourceLimits::contains: every limited name of limits is
// at least o's amount; names without a limit are unlimited.
func limitsContain(limits, o quantities) bool {
	for k, lim := range limits {
		if o[k] > lim {
			return false
		}
	}
	return true
}

// String renders quantities as Mesos prints them: "cpus:1; mem:128", "{}"
// when empty.
func (q quantities) String() string {
	if len(q) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(q))
	for _, k := range slices.Sorted(maps.Keys(q)) {
		parts = append(parts, k+":"+strconv.FormatFloat(q[k], 'f', -1, 64))
	}
	return strings.Join(parts, "; ")
}

func quantitiesOf(rs []*mesospb.Resource) quantities {
	return quantities(resources.Resources(rs).Quantities())
}

func scalarMap(m map[string]*mesospb.Value_Scalar) quantities {
	out := quantities{}
	for k, v := range m {
		out[k] = v.GetValue()
	}
	return out
}

// inRoleSubtree reports whether role is root or one of its descendants.
func inRoleSubtree(role, root string) bool {
	return role == root || strings.HasPrefix(role, root+"/")
}

// allocatedToSubtree keeps the resources allocated to root's subtree.
func allocatedToSubtree(rs []*mesospb.Resource, root string) resources.Resources {
	return resources.Resources(rs).Filter(func(r *mesospb.Resource) bool {
		return r.AllocationInfo != nil && inRoleSubtree(r.GetAllocationInfo().GetRole(), root)
	})
}

// reservedToSubtree keeps the resources reserved to root's subtree.
func reservedToSubtree(rs []*mesospb.Resource, root string) resources.Resources {
	return resources.Resources(rs).Filter(func(r *mesospb.Resource) bool {
		return resources.IsReserved(r) && inRoleSubtree(resources.ReservationRole(r), root)
	})
}

// agentUsed is what tasks (non-terminal, reachable) and executors use on
// an agent, with allocation_info.
func agentUsed(a *agent) resources.Resources {
	var used resources.Resources
	for _, byTask := range a.tasks {
		for _, t := range byTask {
			if usesResources(t) {
				used = used.Add(t.GetResources())
			}
		}
	}
	for _, execs := range a.executors {
		for _, e := range execs {
			used = used.Add(e.GetResources())
		}
	}
	return used
}

// roleAllocated is what the role subtree's tasks and executors use.
func (s *state) roleAllocated(role string) quantities {
	var used resources.Resources
	for _, a := range s.agents {
		used = used.Add(allocatedToSubtree(agentUsed(a), role))
	}
	return quantitiesOf(used)
}

// roleOffered is what outstanding offers hold for the role subtree.
func (s *state) roleOffered(role string) quantities {
	var offered resources.Resources
	for _, o := range s.offers {
		offered = offered.Add(allocatedToSubtree(o.resources, role))
	}
	return quantitiesOf(offered)
}

// roleReserved is what the agents reserve to the role subtree.
func (s *state) roleReserved(role string) quantities {
	var reserved resources.Resources
	for _, a := range s.agents {
		reserved = reserved.Add(reservedToSubtree(a.total, role))
	}
	return quantitiesOf(reserved)
}

// roleConsumedQuota is what counts against the role's quota: what its
// subtree uses plus its unused reservations (outstanding offers do not
// count).
func (s *state) roleConsumedQuota(role string) quantities {
	unused := quantities{}
	for _, a := range s.agents {
		total := quantitiesOf(reservedToSubtree(a.total, role))
		used := quantitiesOf(reservedToSubtree(unallocated(agentUsed(a)), role))
		unused = unused.add(total.sub(used))
	}
	return s.roleAllocated(role).add(unused)
}

// roleFrameworks lists the registered frameworks subscribed to role.
func (s *state) roleFrameworks(role string) []string {
	ids := []string{}
	for _, f := range s.sortedFrameworks() {
		if slices.Contains(frameworkRoles(f.info), role) {
			ids = append(ids, f.id)
		}
	}
	return ids
}

// knownRoles is Master::knownRoles: roles of frameworks, of reservations,
// with weights or quota, and all their ancestors, sorted.
func (s *state) knownRoles() []string {
	set := map[string]bool{}
	add := func(role string) {
		if role == "" {
			return
		}
		set[role] = true
		for i := strings.LastIndexByte(role, '/'); i > 0; i = strings.LastIndexByte(role[:i], '/') {
			set[role[:i]] = true
		}
	}
	for _, f := range s.frameworks {
		for _, r := range frameworkRoles(f.info) {
			add(r)
		}
	}
	for _, a := range s.agents {
		for role := range reservations(a.total) {
			add(role)
		}
	}
	for role := range s.weights {
		add(role)
	}
	for role := range s.quotas {
		add(role)
	}
	return slices.Sorted(maps.Keys(set))
}

func (s *state) weight(role string) float64 {
	if w, ok := s.weights[role]; ok {
		return w
	}
	return 1
}

// quotaConfig returns the role's quota (an empty config when none).
func (s *state) quotaConfig(role string) *quotapb.QuotaConfig {
	if q := s.quotas[role]; q != nil {
		return q
	}
	return &quotapb.QuotaConfig{Role: ptr(role)}
}

// allocatorQuota converts a QuotaConfig for the allocator.
func allocatorQuota(c *quotapb.QuotaConfig) allocator.Quota {
	q := allocator.Quota{}
	if len(c.GetGuarantees()) > 0 {
		q.Guarantees = scalarMap(c.GetGuarantees())
	}
	if len(c.GetLimits()) > 0 {
		q.Limits = scalarMap(c.GetLimits())
	}
	return q
}

// rolesEndpoint is /roles (ReadOnlyHandler::roles).
func (s *state) rolesEndpoint(*http.Request) any {
	out := []object{}
	for _, role := range s.knownRoles() {
		if !s.view.role(role) {
			continue
		}
		q := s.quotaConfig(role)
		allocated, offered := s.roleAllocated(role), s.roleOffered(role)
		out = append(out, object{
			"name":   role,
			"weight": s.weight(role),
			"quota": object{
				"role":      role,
				"guarantee": map[string]float64(scalarMap(q.GetGuarantees())),
				"limit":     map[string]float64(scalarMap(q.GetLimits())),
				"consumed":  map[string]float64(s.roleConsumedQuota(role)),
			},
			"resources":  map[string]float64(allocated.add(offered)),
			"allocated":  map[string]float64(allocated),
			"offered":    map[string]float64(offered),
			"reserved":   map[string]float64(s.roleReserved(role)),
			"frameworks": s.roleFrameworks(role),
		})
	}
	return object{"roles": out}
}

// getRoles is GET_ROLES (ReadOnlyHandler::getRoles): every known role with
// its weight, its frameworks and, as SCALAR resources, the cpus, disk, gpus
// and mem it has allocated or offered.
func (s *state) getRoles() *masterpb.Response {
	out := &masterpb.Response_GetRoles{}
	for _, name := range s.knownRoles() {
		if !s.view.role(name) {
			continue
		}
		role := &mesospb.Role{Name: ptr(name), Weight: ptr(s.weight(name))}
		q := s.roleAllocated(name).add(s.roleOffered(name))
		for _, res := range slices.Sorted(maps.Keys(q)) {
			switch res {
			case "cpus", "mem", "disk", "gpus":
				role.Resources = append(role.Resources, &mesospb.Resource{
					Name: ptr(res), Type: mesospb.Value_SCALAR.Enum(),
					Scalar: &mesospb.Value_Scalar{Value: ptr(q[res])},
				})
			}
		}
		for _, id := range s.roleFrameworks(name) {
			role.Frameworks = append(role.Frameworks, &mesospb.FrameworkID{Value: ptr(id)})
		}
		out.Roles = append(out.Roles, role)
	}
	return &masterpb.Response{Type: masterpb.Response_GET_ROLES.Enum(), GetRoles: out}
}
