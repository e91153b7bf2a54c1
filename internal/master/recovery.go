package master

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/pb/registrypb"
	"github.com/meso-project/meso/internal/registry"
)

// recover runs once this master is elected (Master::recover): it reads the
// registry off the loop, then rebuilds what the registry knows
// (finishRecovery) and opens the gates. Frameworks and tasks are not in the
// registry; they come back as agents re-register and schedulers
// re-subscribe.
func (s *state) recover() {
	reg := s.cfg.Registrar
	if reg == nil {
		s.finishRecovery(nil)
		return
	}
	m, info := s.m, proto.Clone(s.info).(*mesospb.MasterInfo)
	go func() {
		r, err := reg.Recover(m.ctx, info)
		m.post(func() {
			if err != nil {
				if m.ctx.Err() == nil {
					s.failed = fmt.Errorf("%w: recovering the registry: %w", ErrRegistry, err)
					m.log.Error("cannot recover the registry; the master stops", "err", err)
				}
				return
			}
			s.finishRecovery(r)
		})
	}()
}

// finishRecovery is Master::_recover: the registry's admitted agents are
// "recovered" (expected to re-register within AgentReregisterTimeout),
// unreachable and gone agents and quota are restored, and the registry's
// weights win over --weights (which are written to the registry when it
// has none).
func (s *state) finishRecovery(r *registrypb.Registry) {
	if missing := registry.MissingCapabilities(s.info, r); r != nil && len(missing) > 0 {
		// Written by a newer master: this one would misread it.
		s.failed = fmt.Errorf("%w: this master is missing the registry's minimum capabilities %v (see Mesos's downgrade documentation)", ErrRegistry, missing)
		return
	}
	if r != nil {
		for _, sl := range r.GetSlaves().GetSlaves() {
			id := sl.GetInfo().GetId().GetValue()
			if s.agents[id] == nil {
				s.recovered[id] = proto.Clone(sl.GetInfo()).(*mesospb.AgentInfo)
			}
			// An operator's deactivation is durable (Master::_recover).
			if sl.GetDeactivated() {
				s.deactivated[id] = true
			}
		}
		s.registryAgents = len(r.GetSlaves().GetSlaves())
		for _, u := range r.GetUnreachable().GetSlaves() {
			s.unreachable[u.GetId().GetValue()] = time.Unix(0, u.GetTimestamp().GetNanoseconds())
			if u.GetDeactivated() {
				s.deactivated[u.GetId().GetValue()] = true
			}
		}
		for _, g := range r.GetGone().GetSlaves() {
			s.gone[g.GetId().GetValue()] = time.Unix(0, g.GetTimestamp().GetNanoseconds())
		}
		for _, q := range r.GetQuotas() {
			// A pre-1.9 quota: its guarantee is both guarantee and limit.
			c := &quotapb.QuotaConfig{Role: q.GetInfo().Role, Guarantees: map[string]*mesospb.Value_Scalar{},
				Limits: map[string]*mesospb.Value_Scalar{}}
			for _, res := range q.GetInfo().GetGuarantee() {
				v := res.GetScalar().GetValue()
				c.Guarantees[res.GetName()] = &mesospb.Value_Scalar{Value: &v}
				c.Limits[res.GetName()] = &mesospb.Value_Scalar{Value: &v}
			}
			s.applyQuota(c)
		}
		for _, c := range r.GetQuotaConfigs() {
			s.applyQuota(proto.Clone(c).(*quotapb.QuotaConfig))
		}
		if len(r.GetWeights()) > 0 {
			if len(s.weights) > 0 {
				s.log.Warn("ignoring --weights and recovering the weights from the registry")
			}
			s.weights = map[string]float64{}
			for _, w := range r.GetWeights() {
				s.weights[w.GetInfo().GetRole()] = w.GetInfo().GetWeight()
			}
			s.alloc().UpdateWeights(s.weights)
		} else if len(s.weights) > 0 {
			s.persist(&registry.UpdateWeights{Weights: s.weightInfos()}, nil)
		}
		s.log.Info("recovered the registry", "agents", len(r.GetSlaves().GetSlaves()),
			"unreachable", len(s.unreachable), "gone", len(s.gone),
			"reregister_timeout", s.cfg.AgentReregisterTimeout.String())
		if len(s.recovered) > 0 {
			s.recoveredTimer = s.m.after(s.cfg.AgentReregisterTimeout, s.recoveredAgentsTimeout)
		}
		s.m.after(s.cfg.RegistryGCInterval, s.pruneRegistry)
	}
	s.serving = true
	close(s.m.ready)
}

// recoveredAgentsTimeout is Master::recoveredSlavesTimeout: the agents of
// the registry that did not re-register within AgentReregisterTimeout are
// marked unreachable — unless there are more of them than
// RecoveryAgentRemovalLimit allows, in which case the master stops (Mesos
// exits: "Post-recovery agent removal limit exceeded!") so that an operator
// can look before a large part of the cluster is written off.
func (s *state) recoveredAgentsTimeout() {
	s.recoveredTimer = nil
	if len(s.recovered) == 0 || s.registryAgents == 0 {
		return
	}
	share := float64(len(s.recovered)) / float64(s.registryAgents)
	if limit := *s.cfg.RecoveryAgentRemovalLimit; share > limit {
		s.failed = fmt.Errorf("master: post-recovery agent removal limit exceeded: after %v, %d agents (%.0f%%) of the registry had not re-registered; the limit is %.0f%% (--recovery_agent_removal_limit): investigate, or raise the limit",
			s.cfg.AgentReregisterTimeout, len(s.recovered), share*100, limit*100)
		s.log.Error("post-recovery agent removal limit exceeded", "err", s.failed)
		return
	}
	for _, id := range sortedKeys(s.recovered) {
		s.markRecoveredUnreachable(id)
	}
}

// markRecoveredUnreachable marks an agent of the registry that did not
// re-register after a failover unreachable (Master::markUnreachable with
// duringMasterFailover). The master knows no tasks of it, so nobody else
// hears of it; if the agent comes back later it is admitted again.
func (s *state) markRecoveredUnreachable(id string) {
	s.metrics.slaveUnreachableScheduled++
	if s.markingGone[id] || !s.gone[id].IsZero() {
		// Master::markUnreachable skips an agent that is (being) marked
		// gone; like Mesos, it stays among the recovered agents.
		s.log.Warn("not marking agent unreachable: it is marked gone", "agent_id", id)
		return
	}
	now := s.now()
	s.markingUnreachable[id] = true
	s.persist(&registry.MarkAgentUnreachable{ID: &mesospb.AgentID{Value: ptr(id)}, Time: now},
		func(_ bool, rejected error) {
			delete(s.markingUnreachable, id)
			if rejected != nil {
				s.log.Warn("cannot mark agent unreachable", "agent_id", id, "err", rejected)
				return
			}
			delete(s.recovered, id)
			s.unreachable[id] = now
			s.metrics.slaveUnreachableCompleted++
			// Master::_markUnreachable → sendSlaveLost: every framework
			// hears that the agent is lost.
			for _, f := range s.sortedFrameworks() {
				f.send(&schedulerpb.Event{
					Type:    schedulerpb.Event_FAILURE.Enum(),
					Failure: &schedulerpb.Event_Failure{AgentId: &mesospb.AgentID{Value: ptr(id)}},
				})
			}
			s.log.Info("marked agent unreachable: did not re-register after master failover",
				"agent_id", id, "timeout", s.cfg.AgentReregisterTimeout.String())
		})
}

// pruneRegistry drops unreachable and gone agents older than
// RegistryMaxAgentAge, and the oldest beyond RegistryMaxAgentCount
// (Master::doRegistryGc), then runs again after RegistryGCInterval.
func (s *state) pruneRegistry() {
	defer s.m.after(s.cfg.RegistryGCInterval, s.pruneRegistry)
	p := registry.PruneCandidates(s.registryView(), s.now(), s.cfg.RegistryMaxAgentAge, s.cfg.RegistryMaxAgentCount)
	unreachable, gone := p.Unreachable, p.Gone
	if len(unreachable) == 0 && len(gone) == 0 {
		return
	}
	s.persist(&registry.Prune{Unreachable: unreachable, Gone: gone}, func(_ bool, rejected error) {
		if rejected != nil {
			s.log.Warn("registry garbage collection failed", "err", rejected)
			return
		}
		for _, id := range unreachable {
			delete(s.unreachable, id.GetValue())
			// Master::_doRegistryGc: the agent's unreachable tasks go too.
			for _, f := range s.frameworks {
				f.unreachableTasks = slices.DeleteFunc(f.unreachableTasks, func(t *mesospb.Task) bool {
					return t.GetAgentId().GetValue() == id.GetValue()
				})
			}
		}
		for _, id := range gone {
			delete(s.gone, id.GetValue())
		}
		s.log.Info("pruned the registry", "unreachable", len(unreachable), "gone", len(gone))
	})
}

// registryView is the registry as the loop knows it, for pruning: the
// registrar's last durable registry.
func (s *state) registryView() *registrypb.Registry {
	if r, ok := s.cfg.Registrar.(interface{ Registry() *registrypb.Registry }); ok {
		return r.Registry()
	}
	return &registrypb.Registry{}
}
