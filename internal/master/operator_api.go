package master

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/buildinfo"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/master/validation"
	"github.com/meso-project/meso/internal/registry"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/resources"
)

// The v1 operator API (POST /api/v1, /master/api/v1), following
// Master::Http::api: leadership, method, content type, body, call
// validation, Accept, then the call. Implemented: GET_HEALTH, GET_FLAGS,
// GET_VERSION, GET_MASTER, GET_ROLES, GET_WEIGHTS, UPDATE_WEIGHTS,
// GET_QUOTA, UPDATE_QUOTA, the deprecated SET_QUOTA/REMOVE_QUOTA,
// RESERVE_RESOURCES/UNRESERVE_RESOURCES (operator_reserve.go), TEARDOWN
// (teardown.go), the reads GET_STATE, GET_AGENTS, GET_FRAMEWORKS,
// GET_EXECUTORS, GET_TASKS, GET_OPERATIONS, GET_METRICS and
// GET_LOGGING_LEVEL/SET_LOGGING_LEVEL (operator_read.go),
// DEACTIVATE_AGENT/REACTIVATE_AGENT and MARK_AGENT_GONE
// (operator_agents.go), LIST_FILES/READ_FILE (files.go), SUBSCRIBE
// (operator_stream.go). DRAIN_AGENT, the maintenance and the volume calls
// are answered 501 with a message naming the call (unimplementedMessage).
// The legacy /weights, /quota, /reserve and /unreserve endpoints share the
// same code.

// opResult is the actor's answer to an operator call: a Response to
// write (200), an empty status, or an error.
type opResult struct {
	outcome outcome
	resp    *masterpb.Response
	err     error
	// wait, when set, delivers the real result once the registry write
	// the call needs is durable (see durably).
	wait <-chan opResult
	// later, when set, builds resp off the loop from snapshots the loop
	// took (the large reads: GET_STATE, GET_AGENTS, GET_FRAMEWORKS).
	later func() *masterpb.Response
}

// durably writes op to the registry and then, on the loop, runs apply
// and answers with its result: an operator's change is answered only once
// it is durable (Mesos's weights and quota handlers chain on the
// registrar's future). A rejected op is a 500 with the registrar's reason.
func (s *state) durably(op registry.Operation, apply func() opResult) opResult {
	done := make(chan opResult, 1)
	s.persist(op, func(_ bool, rejected error) {
		if rejected != nil {
			done <- opFailed(ErrInternal, "Failed to update the registry: %v", rejected)
			return
		}
		done <- apply()
	})
	return opResult{wait: done}
}

// settle waits for a result that depends on a registry write.
func (m *Master) settle(r *http.Request, res opResult) (opResult, error) {
	if res.wait == nil {
		return res, nil
	}
	select {
	case out := <-res.wait:
		return out, nil
	case <-m.done:
		return opResult{}, ErrStopped
	case <-r.Context().Done():
		return opResult{}, r.Context().Err()
	}
}

func opOK() opResult { return opResult{outcome: outcomeDone} }

func opFailed(kind error, format string, args ...any) opResult {
	return opResult{err: rejectf(kind, format, args...)}
}

func (m *Master) serveOperator(w http.ResponseWriter, r *http.Request) {
	if !m.gateLeader(w, r) {
		return
	}
	call := &masterpb.Call{}
	if _, err := httpapi.DecodeCall(r, call); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := validation.MasterCall(call); err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Failed to validate master::Call: %v", err))
		return
	}
	mt, err := httpapi.Accept(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var res opResult
	switch call.GetType() {
	case masterpb.Call_UNKNOWN:
		// libprocess's NotImplemented().
		res = opFailed(ErrUnimplemented, "501 Not Implemented.")
	case masterpb.Call_SUBSCRIBE:
		m.serveOperatorSubscribe(w, r, mt)
		return
	case masterpb.Call_GET_HEALTH:
		res = opResult{resp: &masterpb.Response{
			Type:      masterpb.Response_GET_HEALTH.Enum(),
			GetHealth: &masterpb.Response_GetHealth{Healthy: proto.Bool(true)},
		}}
	case masterpb.Call_GET_VERSION:
		res = opResult{resp: &masterpb.Response{
			Type: masterpb.Response_GET_VERSION.Enum(),
			GetVersion: &masterpb.Response_GetVersion{VersionInfo: &mesospb.VersionInfo{
				Version: ptr(MesosVersion), BuildDate: ptr(buildinfo.BuildDate), BuildTime: ptr(buildinfo.BuildTime), BuildUser: ptr(buildinfo.BuildUser),
			}},
		}}
	case masterpb.Call_GET_FLAGS, masterpb.Call_GET_MASTER, masterpb.Call_GET_WEIGHTS, masterpb.Call_GET_QUOTA,
		masterpb.Call_UPDATE_WEIGHTS, masterpb.Call_UPDATE_QUOTA, masterpb.Call_SET_QUOTA, masterpb.Call_REMOVE_QUOTA,
		masterpb.Call_RESERVE_RESOURCES, masterpb.Call_UNRESERVE_RESOURCES, masterpb.Call_GET_ROLES,
		masterpb.Call_TEARDOWN, masterpb.Call_GET_STATE, masterpb.Call_GET_AGENTS, masterpb.Call_GET_FRAMEWORKS,
		masterpb.Call_GET_EXECUTORS, masterpb.Call_GET_TASKS, masterpb.Call_GET_OPERATIONS, masterpb.Call_GET_METRICS,
		masterpb.Call_GET_LOGGING_LEVEL, masterpb.Call_SET_LOGGING_LEVEL,
		masterpb.Call_DEACTIVATE_AGENT, masterpb.Call_REACTIVATE_AGENT, masterpb.Call_MARK_AGENT_GONE:
		op := m.authorizedOp(r, call, func() opResult { return m.st.operatorCall(call) })
		if err := m.do(r.Context(), func() { res = op() }); err != nil {
			writeStopped(w, err)
			return
		}
		if res, err = m.settle(r, res); err != nil {
			writeStopped(w, err)
			return
		}
		if res.later != nil {
			res.resp = res.later() // off the loop
		}
	case masterpb.Call_LIST_FILES, masterpb.Call_READ_FILE:
		// Mesos serves these from its files process, not the master actor.
		if m.allowed(r.Context(), authz.Request{Action: authz.AccessMesosLog, Subject: authz.HTTPSubject(r)}) {
			res = m.fileCall(call)
		} else {
			res = opResult{err: rejectf(ErrForbidden, "")}
		}
	default:
		res = opFailed(ErrUnimplemented, "%s", unimplementedMessage(call.GetType()))
	}
	switch {
	case res.err != nil:
		httpapi.WriteError(w, toHTTP(res.err))
	case res.resp != nil:
		// Built from the master's state, every part of which was checked
		// as it came in (decoded messages) or made here complete; the
		// tests decode these answers with the check.
		_ = httpapi.WriteMessageUnchecked(w, http.StatusOK, mt, res.resp)
	default:
		w.WriteHeader(statusOf(res.outcome))
	}
}

// operatorCall runs the stateful operator calls on the actor.
func (s *state) operatorCall(call *masterpb.Call) opResult {
	if res, ok := s.readCall(call); ok {
		return res
	}
	if res, ok := s.agentOperatorCall(call); ok {
		return res
	}
	switch call.GetType() {
	case masterpb.Call_GET_FLAGS:
		resp := &masterpb.Response{Type: masterpb.Response_GET_FLAGS.Enum(), GetFlags: &masterpb.Response_GetFlags{}}
		flags := s.flags()
		for _, name := range slices.Sorted(maps.Keys(flags)) {
			resp.GetFlags.Flags = append(resp.GetFlags.Flags, &mesospb.Flag{Name: ptr(name), Value: ptr(flags[name])})
		}
		return opResult{resp: resp}
	case masterpb.Call_GET_MASTER:
		return opResult{resp: &masterpb.Response{
			Type: masterpb.Response_GET_MASTER.Enum(),
			GetMaster: &masterpb.Response_GetMaster{
				MasterInfo:  proto.Clone(s.info).(*mesospb.MasterInfo),
				StartTime:   ptr(secs(s.startTime)),
				ElectedTime: ptr(secs(s.electedTime)),
			},
		}}
	case masterpb.Call_GET_WEIGHTS:
		resp := &masterpb.Response{Type: masterpb.Response_GET_WEIGHTS.Enum()}
		// Mesos fills get_weights through add_weight_infos only, so with no
		// weights the field stays unset.
		if infos := s.weightInfos(); len(infos) > 0 {
			resp.GetWeights = &masterpb.Response_GetWeights{WeightInfos: infos}
		}
		return opResult{resp: resp}
	case masterpb.Call_UPDATE_WEIGHTS:
		return s.updateWeights(call.GetUpdateWeights().GetWeightInfos())
	case masterpb.Call_GET_QUOTA:
		return opResult{resp: &masterpb.Response{
			Type:     masterpb.Response_GET_QUOTA.Enum(),
			GetQuota: &masterpb.Response_GetQuota{Status: s.quotaStatus()},
		}}
	case masterpb.Call_UPDATE_QUOTA:
		u := call.GetUpdateQuota()
		return s.updateQuota(u.GetQuotaConfigs(), u.GetForce())
	case masterpb.Call_SET_QUOTA:
		return s.setQuota(call.GetSetQuota().GetQuotaRequest())
	case masterpb.Call_REMOVE_QUOTA:
		return s.removeQuota(call.GetRemoveQuota().GetRole(), "")
	case masterpb.Call_RESERVE_RESOURCES:
		c := call.GetReserveResources()
		return s.operatorReserve(c.GetAgentId().GetValue(), c.GetSource(), c.GetResources())
	case masterpb.Call_UNRESERVE_RESOURCES:
		c := call.GetUnreserveResources()
		return s.operatorUnreserve(c.GetAgentId().GetValue(), c.GetResources())
	case masterpb.Call_GET_ROLES:
		return opResult{resp: s.getRoles()}
	case masterpb.Call_TEARDOWN:
		return s.teardown(call.GetTeardown().GetFrameworkId().GetValue())
	}
	return opFailed(ErrUnimplemented, "")
}

// weightInfos lists the weights set (by --weights or operators), by role.
func (s *state) weightInfos() []*mesospb.WeightInfo {
	out := []*mesospb.WeightInfo{}
	for _, role := range slices.Sorted(maps.Keys(s.weights)) {
		if s.view.role(role) {
			out = append(out, &mesospb.WeightInfo{Role: ptr(role), Weight: ptr(s.weights[role])})
		}
	}
	return out
}

// updateWeights is WeightsHandler::_updateWeights and __updateWeights:
// roles must be valid and weights positive (all or nothing); the
// allocator learns them, and when one of the roles has frameworks every
// outstanding offer is rescinded so the new weights take effect.
func (s *state) updateWeights(infos []*mesospb.WeightInfo) opResult {
	valid := map[string]float64{}
	var order []string
	for _, wi := range infos {
		role := strings.TrimSpace(wi.GetRole())
		if err := validation.Role(role); err != nil {
			return opFailed(ErrInvalid,
				"Failed to validate update weights request JSON: Invalid role '%s': %v", role, err)
		}
		if w := wi.GetWeight(); !(w > 0) {
			return opFailed(ErrInvalid,
				"Failed to validate update weights request JSON for role '%s': Invalid weight '%s': Weights must be positive",
				role, strconv.FormatFloat(w, 'g', -1, 64))
		}
		if w := wi.GetWeight(); math.IsInf(w, 0) {
			return opFailed(ErrInvalid,
				"Failed to validate update weights request JSON for role '%s': Invalid weight '%s': Infinite values not supported",
				role, strconv.FormatFloat(w, 'g', -1, 64))
		}
		if _, seen := valid[role]; !seen {
			order = append(order, role)
		}
		valid[role] = wi.GetWeight()
	}
	infosToStore := make([]*mesospb.WeightInfo, 0, len(order))
	for _, role := range order {
		infosToStore = append(infosToStore, &mesospb.WeightInfo{Role: ptr(role), Weight: ptr(valid[role])})
	}
	return s.durably(&registry.UpdateWeights{Weights: infosToStore}, func() opResult {
		rescind := false
		for _, role := range order {
			s.weights[role] = valid[role]
			if len(s.roleFrameworks(role)) > 0 {
				rescind = true
			}
		}
		s.alloc().UpdateWeights(valid)
		s.log.Info("updated weights", "weights", valid)
		if rescind {
			for _, o := range sortedOffers(s.offers) {
				s.rescindOffer(o)
			}
		}
		s.triggerAllocation()
		return opOK()
	})
}

// quotaStatus is QuotaStatus: configs, and the deprecated infos (the
// guarantees as resources).
func (s *state) quotaStatus() *quotapb.QuotaStatus {
	st := &quotapb.QuotaStatus{}
	for _, role := range slices.Sorted(maps.Keys(s.quotas)) {
		if !s.view.quota(role) {
			continue
		}
		c := s.quotas[role]
		info := &quotapb.QuotaInfo{Role: ptr(role)}
		for _, name := range slices.Sorted(maps.Keys(c.GetGuarantees())) {
			info.Guarantee = append(info.Guarantee, &mesospb.Resource{
				Name: ptr(name), Type: mesospb.Value_SCALAR.Enum(),
				Scalar: &mesospb.Value_Scalar{Value: ptr(c.GetGuarantees()[name].GetValue())},
			})
		}
		st.Infos = append(st.Infos, info)
		st.Configs = append(st.Configs, proto.Clone(c).(*quotapb.QuotaConfig))
	}
	return st
}

// Quota values above these are refused (quota::validate).
const (
	exabyteInMegabytes = 1024 * 1024 * 1024 * 1024
	quotaOtherLimit    = 1000 * 1000 * 1000 * 1000
)

// validateQuotaConfig is quota::validate(QuotaConfig).
func validateQuotaConfig(c *quotapb.QuotaConfig) error {
	if c.Role == nil {
		return fmt.Errorf("'QuotaConfig.role' must be set")
	}
	if err := validation.Role(c.GetRole()); err != nil {
		return fmt.Errorf("Invalid 'QuotaConfig.role': %v", err)
	}
	tooLarge := func(field string, m map[string]*mesospb.Value_Scalar) error {
		for _, name := range slices.Sorted(maps.Keys(m)) {
			v := m[name].GetValue()
			if (name == "mem" || name == "disk") && v > exabyteInMegabytes {
				return fmt.Errorf("Invalid 'QuotaConfig.%s': {'%s': %s} is invalid: values greater than 1 exabyte (%d) are not supported",
					field, name, resources.FormatScalar(v), int64(exabyteInMegabytes))
			}
			if name != "mem" && name != "disk" && v > quotaOtherLimit {
				return fmt.Errorf("Invalid 'QuotaConfig.%s': {'%s': %s} is invalid: values greater than 1 trillion (%d) are not supported",
					field, name, resources.FormatScalar(v), int64(quotaOtherLimit))
			}
		}
		return nil
	}
	if err := tooLarge("guarantees", c.GetGuarantees()); err != nil {
		return err
	}
	if err := tooLarge("limits", c.GetLimits()); err != nil {
		return err
	}
	for _, kind := range []struct {
		name string
		m    map[string]*mesospb.Value_Scalar
	}{{"guarantee", c.GetGuarantees()}, {"limit", c.GetLimits()}} {
		for _, name := range slices.Sorted(maps.Keys(kind.m)) {
			v := kind.m[name].GetValue()
			if msg := scalarInputError(v); msg != "" {
				return fmt.Errorf("Invalid %s configuration {'%s': %s}: %s", kind.name, name, resources.FormatScalar(v), msg)
			}
		}
	}
	if g, l := scalarMap(c.GetGuarantees()), scalarMap(c.GetLimits()); !limitsContain(l, g) {
		return fmt.Errorf("'QuotaConfig.guarantees' %s is not contained within the 'QuotaConfig.limits' %s",
			stoutMap(g), stoutMap(l))
	}
	return nil
}

// stoutMap renders a name -> scalar map as stout stringifies a map:
// "{ cpus: 2, mem: 10 }", "{  }" when empty (sorted by name here; protobuf
// map order is unspecified in Mesos).
func stoutMap(q quantities) string {
	parts := make([]string, 0, len(q))
	for _, k := range slices.Sorted(maps.Keys(q)) {
		parts = append(parts, k+": "+resources.FormatScalar(q[k]))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// scalarInputError is common::validation::validateInputScalarValue.
func scalarInputError(v float64) string {
	switch {
	case math.IsInf(v, 0):
		return "Infinite values not supported"
	case math.IsNaN(v):
		return "NaN not supported"
	case v != 0 && math.Abs(v) < 0x1p-1022:
		return "Subnormal values not supported"
	case v < 0:
		return "Negative values not supported"
	}
	return ""
}

// clusterCapacity is the non-revocable scalar total of registered agents
// (connected or not).
func (s *state) clusterCapacity() quantities {
	var total resources.Resources
	for _, a := range s.agents {
		total = total.Add(a.total.NonRevocable().Filter(func(r *mesospb.Resource) bool {
			return r.GetType() == mesospb.Value_SCALAR
		}))
	}
	return quantitiesOf(total)
}

// updateQuota is QuotaHandler::update and _update (UPDATE_QUOTA): all
// configs are validated first (nested roles are not supported yet, as in
// Mesos); a limit below what the role already consumes, and guarantees
// beyond the cluster's capacity, need `force`. Then the quotas change,
// the allocator learns them, and offers are rescinded so that roles stay
// under their new limits and guarantees can be met.
func (s *state) updateQuota(configs []*quotapb.QuotaConfig, force bool) opResult {
	configs = lastConfigPerRole(configs)
	for _, c := range configs {
		if strings.Contains(c.GetRole(), "/") {
			return opFailed(ErrInvalid, "Updating quota on nested role '%s' is not supported yet", c.GetRole())
		}
		if err := validateQuotaConfig(c); err != nil {
			return opFailed(ErrInvalid, "Invalid QuotaConfig: %v", err)
		}
	}
	for _, c := range configs {
		limits, consumed := scalarMap(c.GetLimits()), s.roleConsumedQuota(c.GetRole())
		if !limitsContain(limits, consumed) {
			if !force {
				return opFailed(ErrInvalid,
					"Invalid QuotaConfig: Role '%s' is already consuming '%s'; this is more than the requested limits '%s' (use 'force' flag to bypass this check)",
					c.GetRole(), consumed, limits)
			}
			s.log.Info("quota limit below current consumption; forced", "role", c.GetRole())
		}
	}
	guarantees := quantities{}
	for role, q := range s.quotas {
		if !slices.ContainsFunc(configs, func(c *quotapb.QuotaConfig) bool { return c.GetRole() == role }) {
			guarantees = guarantees.add(scalarMap(q.GetGuarantees()))
		}
	}
	for _, c := range configs {
		guarantees = guarantees.add(scalarMap(c.GetGuarantees()))
	}
	if capacity := s.clusterCapacity(); !capacity.contains(guarantees) {
		if !force {
			return opFailed(ErrInvalid,
				"Invalid QuotaConfig: total quota guarantees '%s' exceed cluster capacity '%s' (use 'force' flag to bypass this check)",
				guarantees, capacity)
		}
		s.log.Info("using the force flag to override the quota overcommit check")
	}
	return s.durably(&registry.UpdateQuota{Configs: configs}, func() opResult {
		for _, c := range configs {
			s.applyQuota(proto.Clone(c).(*quotapb.QuotaConfig))
		}
		for _, c := range configs {
			s.rescindForQuota(c.GetRole(), scalarMap(c.GetLimits()), scalarMap(c.GetGuarantees()))
		}
		s.triggerAllocation()
		return opOK()
	})
}

// lastConfigPerRole collapses configs naming the same role: the last one
// wins (Mesos keys the configs by role before the overcommit check), in
// the order each role first appears.
func lastConfigPerRole(configs []*quotapb.QuotaConfig) []*quotapb.QuotaConfig {
	last := map[string]*quotapb.QuotaConfig{}
	var order []string
	for _, c := range configs {
		if _, seen := last[c.GetRole()]; !seen {
			order = append(order, c.GetRole())
		}
		last[c.GetRole()] = c
	}
	out := make([]*quotapb.QuotaConfig, 0, len(order))
	for _, role := range order {
		out = append(out, last[role])
	}
	return out
}

// applyQuota records a role's quota (an empty config removes it) and tells
// the allocator.
func (s *state) applyQuota(c *quotapb.QuotaConfig) {
	role := c.GetRole()
	// Zero guarantees are no guarantees (Mesos stores the config with them
	// dropped); zero limits are kept.
	for name, v := range c.GetGuarantees() {
		if v.GetValue() == 0 {
			delete(c.Guarantees, name)
		}
	}
	if len(c.GetGuarantees()) == 0 && len(c.GetLimits()) == 0 {
		delete(s.quotas, role)
	} else {
		s.quotas[role] = c
	}
	s.alloc().UpdateQuota(role, allocatorQuota(c))
	s.log.Info("updated quota", "role", role, "guarantees", scalarMap(c.GetGuarantees()).String(),
		"limits", scalarMap(c.GetLimits()).String())
}

// rescindForQuota is the best-effort rescinding of QuotaHandler::_update:
// first offers of the role's subtree until consumed plus offered fits the
// limits, then offers of other roles until what was rescinded plus the
// role's consumption covers its guarantees.
func (s *state) rescindForQuota(role string, limits, guarantees quantities) {
	consumedAndOffered := s.roleConsumedQuota(role).add(s.roleOffered(role))
	inSubtree := func(o *offer) bool { return inRoleSubtree(o.role, role) }
	for _, f := range s.sortedFrameworks() {
		for _, o := range sortedOffers(f.offers) {
			if limitsContain(limits, consumedAndOffered) {
				break
			}
			if !inSubtree(o) {
				continue
			}
			consumedAndOffered = consumedAndOffered.sub(quantitiesOf(o.resources))
			s.rescindOffer(o)
		}
	}
	rescinded := quantities{}
	for _, a := range s.sortedAgents() {
		for _, o := range sortedOffers(a.offers) {
			if rescinded.add(consumedAndOffered).contains(guarantees) {
				return
			}
			if inSubtree(o) {
				continue
			}
			rescinded = rescinded.add(quantitiesOf(o.resources))
			s.rescindOffer(o)
		}
	}
}

// rescindForSetQuota is QuotaHandler::rescindOffers(QuotaInfo) for
// SET_QUOTA and POST /quota: walk the connected, active agents and rescind
// every offer on each, until what was rescinded covers the guarantee and
// at least as many agents with offers were visited as the role has
// connected, active frameworks (so that each of them can get an offer).
func (s *state) rescindForSetQuota(role string, guarantee resources.Resources) {
	frameworks := 0
	for _, f := range s.sortedFrameworks() {
		if f.connected() && f.active && slices.Contains(frameworkRoles(f.info), role) {
			frameworks++
		}
	}
	var rescinded resources.Resources
	visited := 0
	for _, a := range s.sortedAgents() {
		if rescinded.Contains(guarantee) && visited >= frameworks {
			return
		}
		if !a.connected() || !a.active {
			continue
		}
		offers := sortedOffers(a.offers)
		for _, o := range offers {
			rescinded = rescinded.Add(unallocated(o.resources))
			s.rescindOffer(o)
		}
		if len(offers) > 0 {
			visited++ // only agents that had offers count
		}
	}
}

// setQuota is the deprecated SET_QUOTA and POST /quota (QuotaHandler::_set
// and __set): a QuotaRequest whose guarantee becomes both guarantees and
// limits, for a role without quota; overcommitting the cluster is a 409
// unless forced.
func (s *state) setQuota(req *quotapb.QuotaRequest) opResult {
	if err := resources.Validate(req.GetGuarantee()); err != nil {
		return opFailed(ErrInvalid, "Failed to validate set quota request: QuotaInfo with invalid resource: %v", err)
	}
	guarantee := resources.Resources(req.GetGuarantee()).FromPreRefinement()
	if err := validateQuotaInfo(req.Role, guarantee); err != nil {
		return opFailed(ErrInvalid, "Failed to validate set quota request: %v", err)
	}
	role := req.GetRole()
	if s.quotas[role] != nil {
		return opFailed(ErrInvalid,
			"Failed to validate set quota request: Cannot set quota for role '%s' which already has quota", role)
	}
	if strings.Contains(role, "/") {
		return opFailed(ErrInvalid, "Setting quota on nested role '%s' is not supported yet", role)
	}
	q := quantitiesOf(guarantee)
	if !req.GetForce() {
		total := q
		for _, c := range s.quotas {
			total = total.add(scalarMap(c.GetGuarantees()))
		}
		if capacity := s.clusterCapacity(); !capacity.contains(total) {
			return opFailed(ErrConflict,
				"Quota guarantees overcommit the cluster (use 'force' to bypass this check): Total quota guarantees '%s' exceed cluster capacity '%s'",
				total, capacity)
		}
	}
	c := &quotapb.QuotaConfig{Role: ptr(role), Guarantees: map[string]*mesospb.Value_Scalar{}, Limits: map[string]*mesospb.Value_Scalar{}}
	for name, v := range q {
		c.Guarantees[name] = &mesospb.Value_Scalar{Value: ptr(v)}
		c.Limits[name] = &mesospb.Value_Scalar{Value: ptr(v)}
	}
	return s.durably(&registry.UpdateQuota{Configs: []*quotapb.QuotaConfig{c}}, func() opResult {
		s.applyQuota(c)
		s.rescindForSetQuota(role, guarantee)
		s.triggerAllocation()
		return opOK()
	})
}

// validateQuotaInfo is quota::validation::quotaInfo.
func validateQuotaInfo(role *string, guarantee resources.Resources) error {
	if role == nil {
		return fmt.Errorf("QuotaInfo must specify a role")
	}
	if err := validation.Role(*role); err != nil {
		return fmt.Errorf("QuotaInfo with invalid role: %v", err)
	}
	if len(guarantee) == 0 {
		return fmt.Errorf("QuotaInfo with empty 'guarantee'")
	}
	names := map[string]bool{}
	for _, r := range guarantee {
		switch {
		case len(r.GetReservations()) > 0:
			return fmt.Errorf("QuotaInfo must not contain any ReservationInfo")
		case r.Disk != nil:
			return fmt.Errorf("QuotaInfo must not contain DiskInfo")
		case r.Revocable != nil:
			return fmt.Errorf("QuotaInfo must not contain RevocableInfo")
		case r.GetType() != mesospb.Value_SCALAR:
			return fmt.Errorf("QuotaInfo must not include non-scalar resources")
		case names[r.GetName()]:
			return fmt.Errorf("QuotaInfo contains duplicate resource name '%s'", r.GetName())
		}
		names[r.GetName()] = true
	}
	return nil
}

// removeQuota is the deprecated REMOVE_QUOTA and DELETE /quota/<role>.
// path is the request path for the legacy endpoint's messages ("" for the
// operator API).
func (s *state) removeQuota(role, path string) opResult {
	if s.quotas[role] == nil {
		if path != "" {
			return opFailed(ErrInvalid, "Failed to remove quota for path '%s': Role '%s' has no quota set", path, role)
		}
		return opFailed(ErrInvalid, "Failed to remove quota: Role '%s' has no quota set", role)
	}
	c := &quotapb.QuotaConfig{Role: ptr(role)}
	return s.durably(&registry.UpdateQuota{Configs: []*quotapb.QuotaConfig{c}}, func() opResult {
		s.applyQuota(c)
		s.triggerAllocation()
		return opOK()
	})
}

// serveWeights is /weights: GET lists the weights, PUT sets them from a
// JSON array of WeightInfo.
func (m *Master) serveWeights(w http.ResponseWriter, r *http.Request) {
	if !m.gateLeader(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet:
		var infos []*mesospb.WeightInfo
		view := m.viewerFor(r)
		if err := m.do(r.Context(), func() { m.st.viewing(view, func() { infos = m.st.weightInfos() }) }); err != nil {
			writeStopped(w, err)
			return
		}
		out := make([]json.RawMessage, 0, len(infos))
		for _, wi := range infos {
			out = append(out, protoJSON(wi))
		}
		httpapi.WriteJSON(w, r, http.StatusOK, out)
	case http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(r.Body, httpapi.MaxBodySize))
		if err != nil {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Failed to read request body: %v", err))
			return
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest,
				"Failed to parse update weights request JSON '%s': %v", body, err))
			return
		}
		infos := make([]*mesospb.WeightInfo, 0, len(raw))
		for _, item := range raw {
			wi := &mesospb.WeightInfo{}
			if err := codec.UnmarshalJSON(item, wi); err != nil {
				httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest,
					"Failed to convert weights JSON array to protobuf '%s': %v", body, err))
				return
			}
			infos = append(infos, wi)
		}
		call := &masterpb.Call{Type: masterpb.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &masterpb.Call_UpdateWeights{WeightInfos: infos}}
		m.writeOpResult(w, r, m.authorizedOp(r, call, func() opResult { return m.st.updateWeights(infos) }))
	default:
		methodNotAllowed(w, r, http.MethodGet, http.MethodPut)
	}
}

// serveQuota is the legacy /quota: GET returns QuotaStatus as JSON, POST
// sets a QuotaRequest, DELETE /quota/<role> removes a role's quota.
func (m *Master) serveQuota(w http.ResponseWriter, r *http.Request) {
	if !m.gateLeader(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet:
		var st *quotapb.QuotaStatus
		view := m.viewerFor(r)
		if err := m.do(r.Context(), func() { m.st.viewing(view, func() { st = m.st.quotaStatus() }) }); err != nil {
			writeStopped(w, err)
			return
		}
		httpapi.WriteJSON(w, r, http.StatusOK, protoJSON(st))
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, httpapi.MaxBodySize))
		if err != nil {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Failed to read request body: %v", err))
			return
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest,
				"Failed to parse set quota request JSON '%s': %v", body, err))
			return
		}
		req := &quotapb.QuotaRequest{}
		if err := codec.UnmarshalJSON(body, req); err != nil {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest,
				"Failed to validate set quota request JSON '%s': %v", body, err))
			return
		}
		call := &masterpb.Call{Type: masterpb.Call_SET_QUOTA.Enum(), SetQuota: &masterpb.Call_SetQuota{QuotaRequest: req}}
		m.writeOpResult(w, r, m.authorizedOp(r, call, func() opResult { return m.st.setQuota(req) }))
	case http.MethodDelete:
		// The path is /quota/<role> or /master/quota/<role>; the role may
		// contain slashes.
		path := "/master" + strings.TrimPrefix(r.URL.Path, "/master")
		role, ok := strings.CutPrefix(path, "/master/quota/")
		if !ok || role == "" {
			n := len(strings.FieldsFunc(path, func(c rune) bool { return c == '/' }))
			httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest,
				"Failed to parse remove quota request for path '%s': expected 3 tokens, found %d tokens", path, n))
			return
		}
		call := &masterpb.Call{Type: masterpb.Call_REMOVE_QUOTA.Enum(), RemoveQuota: &masterpb.Call_RemoveQuota{Role: &role}}
		m.writeOpResult(w, r, m.authorizedOp(r, call, func() opResult { return m.st.removeQuota(role, path) }))
	default:
		methodNotAllowed(w, r, http.MethodGet, http.MethodPost, http.MethodDelete)
	}
}

func (m *Master) writeOpResult(w http.ResponseWriter, r *http.Request, fn func() opResult) {
	var res opResult
	err := m.do(r.Context(), func() { res = fn() })
	if err == nil {
		res, err = m.settle(r, res)
	}
	if err != nil {
		writeStopped(w, err)
		return
	}
	if res.err != nil {
		httpapi.WriteError(w, toHTTP(res.err))
		return
	}
	w.WriteHeader(statusOf(res.outcome))
}

// methodNotAllowed is libprocess's MethodNotAllowed.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed ...string) {
	httpapi.WriteError(w, httpapi.MethodNotAllowed(r.Method, allowed...))
}
