package registry

import (
	"errors"
	"fmt"
	"time"

	"github.com/meso-project/meso/api/v1/maintenancepb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/internal/pb/registrypb"
	"github.com/meso-project/meso/pkg/resources"
	"google.golang.org/protobuf/proto"
)

// Operation is one change to the registry, applied with Registrar.Apply.
// The operations are those of Mesos 1.11's registrar (registry_operations,
// weights, quota, maintenance), with the same rules for when they fail and
// when they change nothing. An operation either fails and changes nothing
// or succeeds and reports whether it changed the registry. Operations copy
// what they store, so the caller may reuse its messages afterwards.
type Operation interface {
	// Name is the operation's name, as in logs and errors ("AdmitAgent").
	Name() string

	// apply performs the operation on the batch being built.
	apply(t *txn) (mutated bool, err error)
}

// ErrRejected is wrapped by the error of an operation that was not
// permitted (Mesos's registrar answers false): an agent admitted twice, an
// unknown agent, an invalid quota. The registry is unchanged and the
// registrar carries on.
var ErrRejected = errors.New("registry: operation rejected")

// RejectedError is the error of a rejected operation. Reason is Mesos's
// text for it, e.g. "Agent already admitted".
type RejectedError struct {
	Op     string
	Reason string
}

func (e *RejectedError) Error() string { return "registry: " + e.Op + " rejected: " + e.Reason }

// Is makes errors.Is(err, ErrRejected) hold.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

func reject(op Operation, format string, args ...any) error {
	return &RejectedError{Op: op.Name(), Reason: fmt.Sprintf(format, args...)}
}

// Minimum capabilities the operations add and remove (MasterInfo capability
// names).
const (
	CapabilityAgentDraining = "AGENT_DRAINING"
	CapabilityQuotaV2       = "QUOTA_V2"
)

func timeInfo(t time.Time) *mesospb.TimeInfo {
	return &mesospb.TimeInfo{Nanoseconds: proto.Int64(t.UnixNano())}
}

func clone[T proto.Message](m T) T { return proto.Clone(m).(T) }

// checkAgentInfo rejects an AgentInfo without an ID (Mesos CHECKs this) or
// without its required fields (it could not be stored).
func checkAgentInfo(op Operation, info *mesospb.AgentInfo) error {
	if info == nil || info.GetId().GetValue() == "" {
		return reject(op, "AgentInfo is missing the 'id' field")
	}
	if err := proto.CheckInitialized(info); err != nil {
		return reject(op, "invalid AgentInfo: %v", err)
	}
	return nil
}

func checkAgentID(op Operation, id *mesospb.AgentID) error {
	if id.GetValue() == "" {
		return reject(op, "missing agent ID")
	}
	return nil
}

func (t *txn) agent(name string) *registrypb.Registry_Slave {
	m, _ := t.get(KindAgents, name).(*registrypb.Registry_Slave)
	return m
}

func (t *txn) unreachable(name string) *registrypb.Registry_UnreachableSlave {
	m, _ := t.get(KindUnreachable, name).(*registrypb.Registry_UnreachableSlave)
	return m
}

// AdmitAgent adds a newly registered agent to the admitted agents (Mesos's
// AdmitSlave). Rejected with "Agent already admitted" if its ID is.
type AdmitAgent struct {
	Info *mesospb.AgentInfo
}

func (*AdmitAgent) Name() string { return "AdmitAgent" }

func (op *AdmitAgent) apply(t *txn) (bool, error) {
	if err := checkAgentInfo(op, op.Info); err != nil {
		return false, err
	}
	name := escapeName(op.Info.GetId().GetValue())
	if t.agent(name) != nil {
		return false, reject(op, "Agent already admitted")
	}
	t.put(KindAgents, name, &registrypb.Registry_Slave{Info: clone(op.Info)})
	return true, nil
}

// UpdateAgent replaces an admitted agent's AgentInfo, keeping its drain
// and deactivation state (Mesos's UpdateSlave). Rejected with "Agent not
// yet admitted." for an agent that is not admitted; a no-op when the info
// is equal to the stored one as Mesos compares AgentInfos (resources and
// attributes regardless of order).
type UpdateAgent struct {
	Info *mesospb.AgentInfo
}

func (*UpdateAgent) Name() string { return "UpdateAgent" }

func (op *UpdateAgent) apply(t *txn) (bool, error) {
	if err := checkAgentInfo(op, op.Info); err != nil {
		return false, err
	}
	name := escapeName(op.Info.GetId().GetValue())
	prev := t.agent(name)
	if prev == nil {
		return false, reject(op, "Agent not yet admitted.")
	}
	if agentInfoEqual(prev.GetInfo(), op.Info) {
		return false, nil
	}
	next := &registrypb.Registry_Slave{Info: clone(op.Info), DrainInfo: prev.DrainInfo, Deactivated: prev.Deactivated}
	t.put(KindAgents, name, next)
	return true, nil
}

// agentInfoEqual is Mesos's SlaveInfo equality: hostname, port, ID,
// domain and the deprecated checkpoint flag equal; resources equal as
// resource sets; the same attributes in any order.
func agentInfoEqual(a, b *mesospb.AgentInfo) bool {
	if a.GetHostname() != b.GetHostname() || a.GetPort() != b.GetPort() ||
		!proto.Equal(a.GetId(), b.GetId()) || !proto.Equal(a.GetDomain(), b.GetDomain()) {
		return false
	}
	if !resources.Resources(a.GetResources()).Equal(b.GetResources()) {
		return false
	}
	if len(a.GetAttributes()) != len(b.GetAttributes()) {
		return false
	}
	contains := func(in []*mesospb.Attribute, x *mesospb.Attribute) bool {
		for _, y := range in {
			if proto.Equal(x, y) {
				return true
			}
		}
		return false
	}
	for _, x := range a.GetAttributes() {
		if !contains(b.GetAttributes(), x) {
			return false
		}
	}
	for _, x := range b.GetAttributes() {
		if !contains(a.GetAttributes(), x) {
			return false
		}
	}
	return true
}

// MarkAgentUnreachable moves an admitted agent to the end of the
// unreachable list, with the time it was found unreachable and its drain
// and deactivation state (Mesos's MarkSlaveUnreachable). Rejected with
// "Agent not yet admitted" for an agent that is not admitted.
type MarkAgentUnreachable struct {
	ID   *mesospb.AgentID
	Time time.Time
}

func (*MarkAgentUnreachable) Name() string { return "MarkAgentUnreachable" }

func (op *MarkAgentUnreachable) apply(t *txn) (bool, error) {
	if err := checkAgentID(op, op.ID); err != nil {
		return false, err
	}
	name := escapeName(op.ID.GetValue())
	prev := t.agent(name)
	if prev == nil {
		return false, reject(op, "Agent not yet admitted")
	}
	t.del(KindAgents, name)
	t.del(KindUnreachable, name) // never there; keeps the entry at the list's end if it were
	t.put(KindUnreachable, name, &registrypb.Registry_UnreachableSlave{
		Id:          clone(op.ID),
		Timestamp:   timeInfo(op.Time),
		DrainInfo:   prev.DrainInfo,
		Deactivated: proto.Bool(prev.GetDeactivated()),
	})
	return true, nil
}

// MarkAgentReachable admits an agent that re-registers (Mesos's
// MarkSlaveReachable). An agent that is admitted already (it re-registered
// after a master failover before it was found unreachable) is a no-op. An
// unreachable agent leaves the unreachable list, keeping its drain and
// deactivation state. An agent in neither list (its unreachable entry was
// garbage collected) is admitted anyway, with a warning, as in Mesos.
type MarkAgentReachable struct {
	Info *mesospb.AgentInfo
}

func (*MarkAgentReachable) Name() string { return "MarkAgentReachable" }

func (op *MarkAgentReachable) apply(t *txn) (bool, error) {
	if err := checkAgentInfo(op, op.Info); err != nil {
		return false, err
	}
	name := escapeName(op.Info.GetId().GetValue())
	if t.agent(name) != nil {
		return false, nil
	}
	admitted := &registrypb.Registry_Slave{Info: clone(op.Info)}
	if u := t.unreachable(name); u != nil {
		admitted.DrainInfo = u.DrainInfo
		admitted.Deactivated = proto.Bool(u.GetDeactivated())
		t.del(KindUnreachable, name)
	} else {
		t.log.Warn("registry: allowing UNKNOWN agent to reregister", "agent_id", op.Info.GetId().GetValue(),
			"hostname", op.Info.GetHostname())
	}
	t.put(KindAgents, name, admitted)
	return true, nil
}

// MarkAgentGone moves an admitted or unreachable agent to the end of the
// gone list (Mesos's MarkSlaveGone). Rejected with "Agent <id> already
// marked as gone" for a gone agent and "Failed to find agent <id>" for an
// unknown one.
type MarkAgentGone struct {
	ID   *mesospb.AgentID
	Time time.Time
}

func (*MarkAgentGone) Name() string { return "MarkAgentGone" }

func (op *MarkAgentGone) apply(t *txn) (bool, error) {
	if err := checkAgentID(op, op.ID); err != nil {
		return false, err
	}
	id := op.ID.GetValue()
	name := escapeName(id)
	if t.get(KindGone, name) != nil {
		return false, reject(op, "Agent %s already marked as gone", id)
	}
	if !t.del(KindAgents, name) && !t.del(KindUnreachable, name) {
		return false, reject(op, "Failed to find agent %s", id)
	}
	t.put(KindGone, name, &registrypb.Registry_GoneSlave{Id: clone(op.ID), Timestamp: timeInfo(op.Time)})
	return true, nil
}

// RemoveAgent removes an admitted agent from the registry altogether
// (Mesos's RemoveSlave: an agent that shut down or was removed by the
// master). Rejected with "Agent not yet admitted" if it is not admitted.
type RemoveAgent struct {
	ID *mesospb.AgentID
}

func (*RemoveAgent) Name() string { return "RemoveAgent" }

func (op *RemoveAgent) apply(t *txn) (bool, error) {
	if err := checkAgentID(op, op.ID); err != nil {
		return false, err
	}
	if !t.del(KindAgents, escapeName(op.ID.GetValue())) {
		return false, reject(op, "Agent not yet admitted")
	}
	return true, nil
}

// Prune drops the given agents from the unreachable and gone lists (Mesos's
// Prune, the registry's garbage collection; see PruneCandidates). IDs that
// are not in their list are skipped: an agent may have re-registered since
// the candidates were chosen. It changes the registry if it dropped any.
type Prune struct {
	Unreachable []*mesospb.AgentID
	Gone        []*mesospb.AgentID
}

func (*Prune) Name() string { return "Prune" }

func (op *Prune) apply(t *txn) (bool, error) {
	mutated := false
	for _, id := range op.Unreachable {
		if t.del(KindUnreachable, escapeName(id.GetValue())) {
			mutated = true
		}
	}
	for _, id := range op.Gone {
		if t.del(KindGone, escapeName(id.GetValue())) {
			mutated = true
		}
	}
	return mutated, nil
}

// updateAgentFlags finds an agent in the admitted list, else in the
// unreachable list, and stores a changed copy of its drain and deactivation
// state. It reports whether it found the agent.
func (t *txn) updateAgentFlags(name string, f func(drain **mesospb.DrainInfo, deactivated **bool) error) (bool, error) {
	if a := t.agent(name); a != nil {
		next := clone(a)
		if err := f(&next.DrainInfo, &next.Deactivated); err != nil {
			return true, err
		}
		t.put(KindAgents, name, next)
		return true, nil
	}
	if u := t.unreachable(name); u != nil {
		next := clone(u)
		if err := f(&next.DrainInfo, &next.Deactivated); err != nil {
			return true, err
		}
		t.put(KindUnreachable, name, next)
		return true, nil
	}
	return false, nil
}

func (t *txn) addCapability(c string) {
	if t.get(KindMinimumCapabilities, escapeName(c)) == nil {
		t.put(KindMinimumCapabilities, escapeName(c), &registrypb.Registry_MinimumCapability{Capability: proto.String(c)})
	}
}

func (t *txn) removeCapability(c string) { t.del(KindMinimumCapabilities, escapeName(c)) }

// DrainAgent marks an admitted or unreachable agent DRAINING with the given
// drain configuration and deactivates it, and adds the AGENT_DRAINING
// minimum capability (Mesos's DrainAgent). A grace period left unset keeps
// the one already stored. An unknown agent is a no-op.
type DrainAgent struct {
	ID             *mesospb.AgentID
	MaxGracePeriod *mesospb.DurationInfo
	MarkGone       bool
}

func (*DrainAgent) Name() string { return "DrainAgent" }

func (op *DrainAgent) apply(t *txn) (bool, error) {
	found, _ := t.updateAgentFlags(escapeName(op.ID.GetValue()), func(drain **mesospb.DrainInfo, deactivated **bool) error {
		if *drain == nil {
			*drain = &mesospb.DrainInfo{}
		}
		(*drain).State = mesospb.DrainState_DRAINING.Enum()
		if (*drain).Config == nil {
			(*drain).Config = &mesospb.DrainConfig{}
		}
		if op.MaxGracePeriod != nil {
			(*drain).Config.MaxGracePeriod = clone(op.MaxGracePeriod)
		}
		(*drain).Config.MarkGone = proto.Bool(op.MarkGone)
		*deactivated = proto.Bool(true)
		return nil
	})
	if found {
		t.addCapability(CapabilityAgentDraining)
	}
	return found, nil
}

// MarkAgentDrained moves a DRAINING agent (admitted or unreachable) to
// DRAINED (Mesos's MarkAgentDrained). Rejected with "Agent <id> is not
// DRAINING" if it is not draining; an unknown agent is a no-op.
type MarkAgentDrained struct {
	ID *mesospb.AgentID
}

func (*MarkAgentDrained) Name() string { return "MarkAgentDrained" }

func (op *MarkAgentDrained) apply(t *txn) (bool, error) {
	return t.updateAgentFlags(escapeName(op.ID.GetValue()), func(drain **mesospb.DrainInfo, _ **bool) error {
		if *drain == nil || (*drain).GetState() != mesospb.DrainState_DRAINING {
			return reject(op, "Agent %s is not DRAINING", op.ID.GetValue())
		}
		(*drain).State = mesospb.DrainState_DRAINED.Enum()
		return nil
	})
}

// DeactivateAgent deactivates an admitted or unreachable agent and adds the
// AGENT_DRAINING minimum capability (Mesos's DeactivateAgent). An unknown
// agent is a no-op.
type DeactivateAgent struct {
	ID *mesospb.AgentID
}

func (*DeactivateAgent) Name() string { return "DeactivateAgent" }

func (op *DeactivateAgent) apply(t *txn) (bool, error) {
	found, _ := t.updateAgentFlags(escapeName(op.ID.GetValue()), func(_ **mesospb.DrainInfo, deactivated **bool) error {
		*deactivated = proto.Bool(true)
		return nil
	})
	if found {
		t.addCapability(CapabilityAgentDraining)
	}
	return found, nil
}

// ReactivateAgent clears an agent's drain and deactivation state (Mesos's
// ReactivateAgent), and removes the AGENT_DRAINING minimum capability when
// no other agent is deactivated. An unknown agent is a no-op.
type ReactivateAgent struct {
	ID *mesospb.AgentID
}

func (*ReactivateAgent) Name() string { return "ReactivateAgent" }

func (op *ReactivateAgent) apply(t *txn) (bool, error) {
	name := escapeName(op.ID.GetValue())
	found, _ := t.updateAgentFlags(name, func(drain **mesospb.DrainInfo, deactivated **bool) error {
		*drain, *deactivated = nil, nil
		return nil
	})
	if !found {
		return false, nil
	}
	others := false
	for _, k := range []Kind{KindAgents, KindUnreachable} {
		for n, e := range t.st.kinds[k] {
			var deactivated bool
			switch m := e.msg.(type) {
			case *registrypb.Registry_Slave:
				deactivated = m.GetDeactivated()
			case *registrypb.Registry_UnreachableSlave:
				deactivated = m.GetDeactivated()
			}
			if n != name && deactivated {
				others = true
			}
		}
	}
	if !others {
		t.removeCapability(CapabilityAgentDraining)
	}
	return true, nil
}

// UpdateWeights sets roles' weights (Mesos's weights::UpdateWeights): a
// role's entry is added, or replaced when its weight differs. It changes
// the registry if any weight was added or changed; an empty list is a
// no-op.
type UpdateWeights struct {
	Weights []*mesospb.WeightInfo
}

func (*UpdateWeights) Name() string { return "UpdateWeights" }

func (op *UpdateWeights) apply(t *txn) (bool, error) {
	for _, w := range op.Weights {
		if err := proto.CheckInitialized(w); err != nil {
			return false, reject(op, "invalid WeightInfo: %v", err)
		}
	}
	mutated := false
	for _, w := range op.Weights {
		name := escapeName(w.GetRole())
		if prev, ok := t.get(KindWeights, name).(*registrypb.Registry_Weight); ok && prev.GetInfo().GetWeight() == w.GetWeight() {
			continue
		}
		t.put(KindWeights, name, &registrypb.Registry_Weight{Info: clone(w)})
		mutated = true
	}
	return mutated, nil
}

// UpdateQuota sets roles' quota configs (Mesos's quota::UpdateQuota). A
// config whose guarantees are all zero and whose limits are empty (the
// default quota) removes the role's config; any other replaces or adds it.
// A role's pre-1.9 quota entry is dropped either way. The QUOTA_V2 minimum
// capability is present exactly while some config is. Rejected with
// "Invalid quota config '<json>': <reason>" for a config that fails Mesos's
// validation; otherwise it always counts as a change, as in Mesos.
type UpdateQuota struct {
	Configs []*quotapb.QuotaConfig
}

func (*UpdateQuota) Name() string { return "UpdateQuota" }

func (op *UpdateQuota) apply(t *txn) (bool, error) {
	for _, c := range op.Configs {
		if err := validateQuotaConfig(c); err != nil {
			return false, reject(op, "Invalid quota config '%s': %v", quotaConfigJSON(c), err)
		}
	}
	for _, c := range op.Configs {
		name := escapeName(c.GetRole())
		if isDefaultQuota(c) {
			t.del(KindQuotaConfigs, name)
		} else {
			t.put(KindQuotaConfigs, name, clone(c))
		}
		t.del(KindQuotas, name)
	}
	if len(t.st.kinds[KindQuotaConfigs]) > 0 {
		t.addCapability(CapabilityQuotaV2)
	} else {
		t.removeCapability(CapabilityQuotaV2)
	}
	return true, nil
}

// UpdateSchedule replaces the maintenance schedule (Mesos's
// maintenance::UpdateSchedule; the master validates it first). Machines
// that stay in the schedule get their new unavailability, machines that
// leave it are dropped, and new machines are added in DRAINING mode. It
// always counts as a change.
type UpdateSchedule struct {
	Schedule *maintenancepb.Schedule
}

func (*UpdateSchedule) Name() string { return "UpdateSchedule" }

func (op *UpdateSchedule) apply(t *txn) (bool, error) {
	if err := proto.CheckInitialized(op.Schedule); err != nil {
		return false, reject(op, "invalid Schedule: %v", err)
	}
	existing := map[string]bool{}
	t.each(KindSchedules, func(_ string, m proto.Message) {
		for _, w := range m.(*maintenancepb.Schedule).GetWindows() {
			for _, id := range w.GetMachineIds() {
				existing[machineName(id)] = true
			}
		}
	})
	updated := map[string]*mesospb.Unavailability{}
	for _, w := range op.Schedule.GetWindows() {
		for _, id := range w.GetMachineIds() {
			updated[machineName(id)] = w.GetUnavailability()
		}
	}
	t.each(KindMachines, func(name string, m proto.Message) {
		u, ok := updated[name]
		if !ok {
			t.del(KindMachines, name)
			return
		}
		next := clone(m.(*registrypb.Registry_Machine))
		next.Info.Unavailability = clone(u)
		t.put(KindMachines, name, next)
	})
	for _, w := range op.Schedule.GetWindows() {
		for _, id := range w.GetMachineIds() {
			name := machineName(id)
			if existing[name] || t.get(KindMachines, name) != nil {
				continue
			}
			t.put(KindMachines, name, &registrypb.Registry_Machine{Info: &mesospb.MachineInfo{
				Id:             clone(id),
				Mode:           mesospb.MachineInfo_DRAINING.Enum(),
				Unavailability: clone(w.GetUnavailability()),
			}})
		}
	}
	t.each(KindSchedules, func(name string, _ proto.Message) { t.del(KindSchedules, name) })
	t.put(KindSchedules, scheduleName(0), clone(op.Schedule))
	return true, nil
}

// StartMaintenance puts machines in DOWN mode (Mesos's
// maintenance::StartMaintenance). It changes the registry if any of them is
// in the registry.
type StartMaintenance struct {
	Machines []*mesospb.MachineID
}

func (*StartMaintenance) Name() string { return "StartMaintenance" }

func (op *StartMaintenance) apply(t *txn) (bool, error) {
	changed := false
	for _, id := range op.Machines {
		name := machineName(id)
		m, ok := t.get(KindMachines, name).(*registrypb.Registry_Machine)
		if !ok {
			continue
		}
		next := clone(m)
		next.Info.Mode = mesospb.MachineInfo_DOWN.Enum()
		t.put(KindMachines, name, next)
		changed = true
	}
	return changed, nil
}

// StopMaintenance brings machines back UP (Mesos's
// maintenance::StopMaintenance): their entries are dropped, and they are
// removed from the schedule, dropping windows and schedules left empty. It
// changes the registry if any of the machines had an entry.
type StopMaintenance struct {
	Machines []*mesospb.MachineID
}

func (*StopMaintenance) Name() string { return "StopMaintenance" }

func (op *StopMaintenance) apply(t *txn) (bool, error) {
	stop := map[string]bool{}
	changed := false
	for _, id := range op.Machines {
		name := machineName(id)
		stop[name] = true
		if t.del(KindMachines, name) {
			changed = true
		}
	}
	t.each(KindSchedules, func(name string, m proto.Message) {
		s := m.(*maintenancepb.Schedule)
		next := &maintenancepb.Schedule{}
		edited := false
		for _, w := range s.GetWindows() {
			var keep []*mesospb.MachineID
			for _, id := range w.GetMachineIds() {
				if stop[machineName(id)] {
					edited = true
					continue
				}
				keep = append(keep, id)
			}
			if len(keep) == 0 {
				continue
			}
			nw := clone(w)
			nw.MachineIds = keep
			next.Windows = append(next.Windows, nw)
		}
		switch {
		case !edited:
		case len(next.Windows) == 0:
			t.del(KindSchedules, name)
		default:
			t.put(KindSchedules, name, next)
		}
	})
	return changed, nil
}

// recoverMaster stores the recovering master's MasterInfo (Mesos's
// registrar-internal Recover operation). It always counts as a change.
type recoverMaster struct {
	info *mesospb.MasterInfo
}

func (*recoverMaster) Name() string { return "Recover" }

func (op *recoverMaster) apply(t *txn) (bool, error) {
	if err := proto.CheckInitialized(op.info); err != nil {
		return false, reject(op, "invalid MasterInfo: %v", err)
	}
	t.put(KindMaster, masterName, &registrypb.Registry_Master{Info: clone(op.info)})
	return true, nil
}
