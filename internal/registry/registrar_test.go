package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/meso-project/meso/api/v1/maintenancepb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/internal/pb/registrypb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func cmpSorted() cmp.Option { return cmpopts.SortSlices(func(a, b string) bool { return a < b }) }

func masterInfo(id string) *mesospb.MasterInfo {
	return &mesospb.MasterInfo{Id: proto.String(id), Ip: proto.Uint32(0x7f000001), Port: proto.Uint32(5050),
		Hostname: proto.String("master-" + id)}
}

func agentID(id string) *mesospb.AgentID { return &mesospb.AgentID{Value: proto.String(id)} }

func scalar(name string, v float64) *mesospb.Resource {
	return &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_SCALAR.Enum(),
		Scalar: &mesospb.Value_Scalar{Value: proto.Float64(v)}}
}

func agentInfo(id string) *mesospb.AgentInfo {
	return &mesospb.AgentInfo{
		Hostname:  proto.String(id + ".example.com"),
		Port:      proto.Int32(5051),
		Id:        agentID(id),
		Resources: []*mesospb.Resource{scalar("cpus", 2), scalar("mem", 1024)},
		Attributes: []*mesospb.Attribute{
			{Name: proto.String("rack"), Type: mesospb.Value_TEXT.Enum(), Text: &mesospb.Value_Text{Value: proto.String("r1")}},
			{Name: proto.String("zone"), Type: mesospb.Value_TEXT.Enum(), Text: &mesospb.Value_Text{Value: proto.String("z1")}},
		},
	}
}

func weight(role string, w float64) *mesospb.WeightInfo {
	return &mesospb.WeightInfo{Role: proto.String(role), Weight: proto.Float64(w)}
}

func quotaConfig(role string, guarantees, limits map[string]float64) *quotapb.QuotaConfig {
	c := &quotapb.QuotaConfig{Role: proto.String(role)}
	for k, v := range guarantees {
		if c.Guarantees == nil {
			c.Guarantees = map[string]*mesospb.Value_Scalar{}
		}
		c.Guarantees[k] = &mesospb.Value_Scalar{Value: proto.Float64(v)}
	}
	for k, v := range limits {
		if c.Limits == nil {
			c.Limits = map[string]*mesospb.Value_Scalar{}
		}
		c.Limits[k] = &mesospb.Value_Scalar{Value: proto.Float64(v)}
	}
	return c
}

func machine(host string) *mesospb.MachineID { return &mesospb.MachineID{Hostname: proto.String(host)} }

func schedule(hosts ...string) *maintenancepb.Schedule {
	w := &maintenancepb.Window{Unavailability: &mesospb.Unavailability{
		Start: &mesospb.TimeInfo{Nanoseconds: proto.Int64(1000)}}}
	for _, h := range hosts {
		w.MachineIds = append(w.MachineIds, machine(h))
	}
	return &maintenancepb.Schedule{Windows: []*maintenancepb.Window{w}}
}

var t0 = time.Unix(1_700_000_000, 0)

// newRegistrar returns a recovered registrar on store, closed at the end of
// the test.
func newRegistrar(t testing.TB, store Store, cfg Config) *Registrar {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	r, err := New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := r.Recover(context.Background(), masterInfo("m1")); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	return r
}

func mustApply(t testing.TB, r *Registrar, ops ...Operation) {
	t.Helper()
	for _, op := range ops {
		if _, err := r.Apply(context.Background(), op); err != nil {
			t.Fatalf("%s: %v", op.Name(), err)
		}
	}
}

func agentIDs(reg *registrypb.Registry) []string {
	var out []string
	for _, s := range reg.GetSlaves().GetSlaves() {
		out = append(out, s.GetInfo().GetId().GetValue())
	}
	return out
}

// summary is a registry in short, for tables.
type summary struct {
	Agents      []string // "<id>[ <drain state>][ deactivated]"
	Unreachable []string // the same, plus "@<seconds after t0>"
	Gone        []string // "<id>@<seconds after t0>"
	Machines    []string // "<hostname>:<mode>"
	Schedules   []string // machines of each schedule, joined with ","
	Weights     map[string]float64
	Quotas      []string // roles of quota_configs
	Caps        []string
}

func summarize(reg *registrypb.Registry) summary {
	var s summary
	flags := func(id string, drain *mesospb.DrainInfo, deactivated bool) string {
		if drain != nil {
			id += " " + drain.GetState().String()
		}
		if deactivated {
			id += " deactivated"
		}
		return id
	}
	at := func(ts *mesospb.TimeInfo) string {
		return fmt.Sprintf("@%d", (ts.GetNanoseconds()-t0.UnixNano())/int64(time.Second))
	}
	for _, a := range reg.GetSlaves().GetSlaves() {
		s.Agents = append(s.Agents, flags(a.GetInfo().GetId().GetValue(), a.GetDrainInfo(), a.GetDeactivated()))
	}
	for _, u := range reg.GetUnreachable().GetSlaves() {
		s.Unreachable = append(s.Unreachable, flags(u.GetId().GetValue(), u.GetDrainInfo(), u.GetDeactivated())+at(u.GetTimestamp()))
	}
	for _, g := range reg.GetGone().GetSlaves() {
		s.Gone = append(s.Gone, g.GetId().GetValue()+at(g.GetTimestamp()))
	}
	for _, m := range reg.GetMachines().GetMachines() {
		s.Machines = append(s.Machines, m.GetInfo().GetId().GetHostname()+":"+m.GetInfo().GetMode().String())
	}
	for _, sc := range reg.GetSchedules() {
		var hosts []string
		for _, w := range sc.GetWindows() {
			for _, id := range w.GetMachineIds() {
				hosts = append(hosts, id.GetHostname())
			}
		}
		s.Schedules = append(s.Schedules, strings.Join(hosts, ","))
	}
	for _, w := range reg.GetWeights() {
		if s.Weights == nil {
			s.Weights = map[string]float64{}
		}
		s.Weights[w.GetInfo().GetRole()] = w.GetInfo().GetWeight()
	}
	for _, q := range reg.GetQuotaConfigs() {
		s.Quotas = append(s.Quotas, q.GetRole())
	}
	for _, c := range reg.GetMinimumCapabilities() {
		s.Caps = append(s.Caps, c.GetCapability())
	}
	return s
}

func TestOperations(t *testing.T) {
	a1, a2 := agentID("a1"), agentID("a2")
	moved := agentInfo("a1")
	moved.Hostname = proto.String("moved.example.com")
	reordered := agentInfo("a1")
	slices.Reverse(reordered.Resources)
	slices.Reverse(reordered.Attributes)
	noID := agentInfo("a1")
	noID.Id = nil
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	admit := func(ids ...string) []Operation {
		var ops []Operation
		for _, id := range ids {
			ops = append(ops, &AdmitAgent{Info: agentInfo(id)})
		}
		return ops
	}
	with := func(a []Operation, more ...Operation) []Operation { return append(slices.Clone(a), more...) }

	tests := []struct {
		name     string
		setup    []Operation
		op       Operation
		mutated  bool
		rejected string // the RejectedError's Reason; "" for success
		want     summary
	}{
		{name: "admit", op: &AdmitAgent{Info: agentInfo("a1")}, mutated: true,
			want: summary{Agents: []string{"a1"}}},
		{name: "admit twice", setup: admit("a1"), op: &AdmitAgent{Info: agentInfo("a1")},
			rejected: "Agent already admitted", want: summary{Agents: []string{"a1"}}},
		{name: "admit without an ID", op: &AdmitAgent{Info: noID}, rejected: "AgentInfo is missing the 'id' field"},
		{name: "admit keeps order", setup: admit("b", "a"), op: &AdmitAgent{Info: agentInfo("c")}, mutated: true,
			want: summary{Agents: []string{"b", "a", "c"}}},

		{name: "update unknown", op: &UpdateAgent{Info: agentInfo("a1")}, rejected: "Agent not yet admitted."},
		{name: "update equal regardless of order", setup: admit("a1"), op: &UpdateAgent{Info: reordered},
			want: summary{Agents: []string{"a1"}}},
		{name: "update keeps drain state", setup: with(admit("a1", "a2"), &DrainAgent{ID: a1}),
			op: &UpdateAgent{Info: moved}, mutated: true,
			want: summary{Agents: []string{"a1 DRAINING deactivated", "a2"}, Caps: []string{"AGENT_DRAINING"}}},

		{name: "unreachable unknown", op: &MarkAgentUnreachable{ID: a1, Time: at(1)}, rejected: "Agent not yet admitted"},
		{name: "unreachable", setup: admit("a1", "a2"), op: &MarkAgentUnreachable{ID: a1, Time: at(5)}, mutated: true,
			want: summary{Agents: []string{"a2"}, Unreachable: []string{"a1@5"}}},
		{name: "unreachable keeps drain state", setup: with(admit("a1"), &DrainAgent{ID: a1}),
			op: &MarkAgentUnreachable{ID: a1, Time: at(5)}, mutated: true,
			want: summary{Unreachable: []string{"a1 DRAINING deactivated@5"}, Caps: []string{"AGENT_DRAINING"}}},
		{name: "unreachable in order", setup: with(admit("a1", "a2"), &MarkAgentUnreachable{ID: a2, Time: at(9)}),
			op: &MarkAgentUnreachable{ID: a1, Time: at(3)}, mutated: true,
			want: summary{Unreachable: []string{"a2@9", "a1@3"}}},

		{name: "reachable when admitted", setup: admit("a1"), op: &MarkAgentReachable{Info: agentInfo("a1")},
			want: summary{Agents: []string{"a1"}}},
		{name: "reachable from unreachable", setup: with(admit("a1", "a2"), &DeactivateAgent{ID: a1},
			&MarkAgentUnreachable{ID: a1, Time: at(1)}),
			op: &MarkAgentReachable{Info: agentInfo("a1")}, mutated: true,
			want: summary{Agents: []string{"a2", "a1 deactivated"}, Caps: []string{"AGENT_DRAINING"}}},
		{name: "reachable when unknown", op: &MarkAgentReachable{Info: agentInfo("a9")}, mutated: true,
			want: summary{Agents: []string{"a9"}}},

		{name: "gone from admitted", setup: admit("a1", "a2"), op: &MarkAgentGone{ID: a1, Time: at(7)}, mutated: true,
			want: summary{Agents: []string{"a2"}, Gone: []string{"a1@7"}}},
		{name: "gone from unreachable", setup: with(admit("a1"), &MarkAgentUnreachable{ID: a1, Time: at(1)}),
			op: &MarkAgentGone{ID: a1, Time: at(7)}, mutated: true, want: summary{Gone: []string{"a1@7"}}},
		{name: "gone twice", setup: with(admit("a1"), &MarkAgentGone{ID: a1, Time: at(1)}),
			op: &MarkAgentGone{ID: a1, Time: at(7)}, rejected: "Agent a1 already marked as gone",
			want: summary{Gone: []string{"a1@1"}}},
		{name: "gone unknown", op: &MarkAgentGone{ID: agentID("a9"), Time: at(7)}, rejected: "Failed to find agent a9"},

		{name: "remove", setup: admit("a1", "a2"), op: &RemoveAgent{ID: a1}, mutated: true,
			want: summary{Agents: []string{"a2"}}},
		{name: "remove unknown", op: &RemoveAgent{ID: a1}, rejected: "Agent not yet admitted"},
		{name: "remove unreachable", setup: with(admit("a1"), &MarkAgentUnreachable{ID: a1, Time: at(1)}),
			op: &RemoveAgent{ID: a1}, rejected: "Agent not yet admitted", want: summary{Unreachable: []string{"a1@1"}}},

		{name: "prune", setup: with(admit("a1", "a2", "a3"), &MarkAgentUnreachable{ID: a1, Time: at(1)},
			&MarkAgentUnreachable{ID: a2, Time: at(2)}, &MarkAgentGone{ID: agentID("a3"), Time: at(3)}),
			op:      &Prune{Unreachable: []*mesospb.AgentID{a2, agentID("a9")}, Gone: []*mesospb.AgentID{agentID("a3")}},
			mutated: true, want: summary{Unreachable: []string{"a1@1"}}},
		{name: "prune nothing", setup: with(admit("a1"), &MarkAgentUnreachable{ID: a1, Time: at(1)}),
			op:   &Prune{Unreachable: []*mesospb.AgentID{a2}, Gone: []*mesospb.AgentID{a1}},
			want: summary{Unreachable: []string{"a1@1"}}},

		{name: "drain", setup: admit("a1"), op: &DrainAgent{ID: a1, MarkGone: true}, mutated: true,
			want: summary{Agents: []string{"a1 DRAINING deactivated"}, Caps: []string{"AGENT_DRAINING"}}},
		{name: "drain unreachable", setup: with(admit("a1"), &MarkAgentUnreachable{ID: a1, Time: at(1)}),
			op: &DrainAgent{ID: a1}, mutated: true,
			want: summary{Unreachable: []string{"a1 DRAINING deactivated@1"}, Caps: []string{"AGENT_DRAINING"}}},
		{name: "drain unknown", op: &DrainAgent{ID: a1}},
		{name: "drained", setup: with(admit("a1"), &DrainAgent{ID: a1}), op: &MarkAgentDrained{ID: a1}, mutated: true,
			want: summary{Agents: []string{"a1 DRAINED deactivated"}, Caps: []string{"AGENT_DRAINING"}}},
		{name: "drained when not draining", setup: admit("a1"), op: &MarkAgentDrained{ID: a1},
			rejected: "Agent a1 is not DRAINING", want: summary{Agents: []string{"a1"}}},
		{name: "drained unknown", op: &MarkAgentDrained{ID: a1}},
		{name: "deactivate", setup: admit("a1"), op: &DeactivateAgent{ID: a1}, mutated: true,
			want: summary{Agents: []string{"a1 deactivated"}, Caps: []string{"AGENT_DRAINING"}}},
		{name: "deactivate unknown", op: &DeactivateAgent{ID: a1}},
		{name: "reactivate the last one", setup: with(admit("a1", "a2"), &DrainAgent{ID: a1}),
			op: &ReactivateAgent{ID: a1}, mutated: true, want: summary{Agents: []string{"a1", "a2"}}},
		{name: "reactivate with another deactivated",
			setup: with(admit("a1", "a2"), &DrainAgent{ID: a1}, &DeactivateAgent{ID: a2}, &MarkAgentUnreachable{ID: a2, Time: at(1)}),
			op:    &ReactivateAgent{ID: a1}, mutated: true,
			want: summary{Agents: []string{"a1"}, Unreachable: []string{"a2 deactivated@1"}, Caps: []string{"AGENT_DRAINING"}}},
		{name: "reactivate unknown", op: &ReactivateAgent{ID: a1}},

		{name: "weights none", op: &UpdateWeights{}},
		{name: "weights new", op: &UpdateWeights{Weights: []*mesospb.WeightInfo{weight("eng", 2), weight("eng/web", 3)}},
			mutated: true, want: summary{Weights: map[string]float64{"eng": 2, "eng/web": 3}}},
		{name: "weights same", setup: []Operation{&UpdateWeights{Weights: []*mesospb.WeightInfo{weight("eng", 2)}}},
			op:   &UpdateWeights{Weights: []*mesospb.WeightInfo{weight("eng", 2)}},
			want: summary{Weights: map[string]float64{"eng": 2}}},
		{name: "weights changed", setup: []Operation{&UpdateWeights{Weights: []*mesospb.WeightInfo{weight("eng", 2)}}},
			op:      &UpdateWeights{Weights: []*mesospb.WeightInfo{weight("eng", 2), weight("ops", 1), weight("eng", 4)}},
			mutated: true, want: summary{Weights: map[string]float64{"eng": 4, "ops": 1}}},

		{name: "quota set", op: &UpdateQuota{Configs: []*quotapb.QuotaConfig{
			quotaConfig("eng", map[string]float64{"cpus": 1}, map[string]float64{"cpus": 2})}},
			mutated: true, want: summary{Quotas: []string{"eng"}, Caps: []string{"QUOTA_V2"}}},
		{name: "quota limits only", op: &UpdateQuota{Configs: []*quotapb.QuotaConfig{
			quotaConfig("eng", nil, map[string]float64{"cpus": 0})}},
			mutated: true, want: summary{Quotas: []string{"eng"}, Caps: []string{"QUOTA_V2"}}},
		{name: "quota removed by the default quota",
			setup: []Operation{&UpdateQuota{Configs: []*quotapb.QuotaConfig{
				quotaConfig("eng", map[string]float64{"cpus": 1}, nil), quotaConfig("ops", map[string]float64{"mem": 1}, nil)}}},
			op: &UpdateQuota{Configs: []*quotapb.QuotaConfig{
				quotaConfig("eng", map[string]float64{"cpus": 0}, nil), quotaConfig("ops", nil, nil)}},
			mutated: true},
		{name: "quota removal of none still counts", op: &UpdateQuota{Configs: []*quotapb.QuotaConfig{quotaConfig("eng", nil, nil)}},
			mutated: true},
		{name: "quota invalid role", op: &UpdateQuota{Configs: []*quotapb.QuotaConfig{
			quotaConfig("-eng", map[string]float64{"cpus": 1}, nil)}},
			rejected: `Invalid quota config '{"role":"-eng","guarantees":{"cpus":{"value":1}}}': Invalid 'QuotaConfig.role': role component '-eng' is invalid because it starts with a dash`},
		{name: "quota guarantee above limit", op: &UpdateQuota{Configs: []*quotapb.QuotaConfig{
			quotaConfig("eng", map[string]float64{"cpus": 3}, map[string]float64{"cpus": 2})}},
			rejected: `Invalid quota config '{"role":"eng","guarantees":{"cpus":{"value":3}},"limits":{"cpus":{"value":2}}}': 'QuotaConfig.guarantees' { cpus: 3 } is not contained within the 'QuotaConfig.limits' { cpus: 2 }`},
		{name: "quota negative", op: &UpdateQuota{Configs: []*quotapb.QuotaConfig{
			quotaConfig("eng", map[string]float64{"cpus": -1}, nil)}},
			rejected: `Invalid quota config '{"role":"eng","guarantees":{"cpus":{"value":-1}}}': Invalid guarantee configuration {'cpus': -1}: Negative values not supported`},
		{name: "quota too large", op: &UpdateQuota{Configs: []*quotapb.QuotaConfig{
			quotaConfig("eng", nil, map[string]float64{"mem": 1e13})}},
			rejected: `Invalid quota config '{"role":"eng","limits":{"mem":{"value":10000000000000}}}': Invalid 'QuotaConfig.limits': {'mem': 10000000000000} is invalid: values greater than 1 exabyte (1099511627776) are not supported`},
		{name: "quota without a role", op: &UpdateQuota{Configs: []*quotapb.QuotaConfig{{}}},
			rejected: `Invalid quota config '{}': 'QuotaConfig.role' must be set`},

		{name: "schedule", op: &UpdateSchedule{Schedule: schedule("h1", "h2")}, mutated: true,
			want: summary{Machines: []string{"h1:DRAINING", "h2:DRAINING"}, Schedules: []string{"h1,h2"}}},
		{name: "schedule replaced", setup: []Operation{&UpdateSchedule{Schedule: schedule("h1", "h2")},
			&StartMaintenance{Machines: []*mesospb.MachineID{machine("h2")}}},
			op: &UpdateSchedule{Schedule: schedule("H2", "h3")}, mutated: true,
			want: summary{Machines: []string{"h2:DOWN", "h3:DRAINING"}, Schedules: []string{"H2,h3"}}},
		{name: "start maintenance", setup: []Operation{&UpdateSchedule{Schedule: schedule("h1", "h2")}},
			op:      &StartMaintenance{Machines: []*mesospb.MachineID{machine("h1"), machine("h9")}},
			mutated: true, want: summary{Machines: []string{"h1:DOWN", "h2:DRAINING"}, Schedules: []string{"h1,h2"}}},
		{name: "start maintenance unknown", op: &StartMaintenance{Machines: []*mesospb.MachineID{machine("h9")}}},
		{name: "stop maintenance", setup: []Operation{&UpdateSchedule{Schedule: schedule("h1", "h2")},
			&StartMaintenance{Machines: []*mesospb.MachineID{machine("h1")}}},
			op:      &StopMaintenance{Machines: []*mesospb.MachineID{machine("h1")}},
			mutated: true, want: summary{Machines: []string{"h2:DRAINING"}, Schedules: []string{"h2"}}},
		{name: "stop maintenance of the last machine", setup: []Operation{&UpdateSchedule{Schedule: schedule("h1")}},
			op: &StopMaintenance{Machines: []*mesospb.MachineID{machine("h1")}}, mutated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := NewMemoryStore()
			r := newRegistrar(t, store, Config{})
			mustApply(t, r, tt.setup...)
			before := proto.Clone(r.Registry())
			mutated, err := r.Apply(context.Background(), tt.op)
			if tt.rejected != "" {
				var re *RejectedError
				if !errors.As(err, &re) || !errors.Is(err, ErrRejected) {
					t.Fatalf("Apply = %v, want a RejectedError", err)
				}
				if re.Reason != tt.rejected || re.Op != tt.op.Name() {
					t.Errorf("rejected by %s with %q\nwant %s with %q", re.Op, re.Reason, tt.op.Name(), tt.rejected)
				}
				if diff := cmp.Diff(before, r.Registry(), protocmp.Transform()); diff != "" {
					t.Errorf("a rejected operation changed the registry (-before +after):\n%s", diff)
				}
			} else if err != nil {
				t.Fatalf("Apply = %v", err)
			}
			if mutated != tt.mutated {
				t.Errorf("mutated = %v, want %v", mutated, tt.mutated)
			}
			if diff := cmp.Diff(tt.want, summarize(r.Registry())); diff != "" {
				t.Errorf("registry (-want +got):\n%s", diff)
			}
			// What is visible is what a new master recovers.
			again := newRegistrar(t, store.Reopen(), Config{})
			if diff := cmp.Diff(r.Registry(), again.Registry(), protocmp.Transform(),
				protocmp.IgnoreFields(&registrypb.Registry{}, "master")); diff != "" {
				t.Errorf("recovered registry (-applied +recovered):\n%s", diff)
			}
		})
	}
}

func TestOperationsCopyTheirInput(t *testing.T) {
	r := newRegistrar(t, NewMemoryStore(), Config{})
	info := agentInfo("a1")
	mustApply(t, r, &AdmitAgent{Info: info})
	info.Hostname = proto.String("changed")
	if got := r.Registry().GetSlaves().GetSlaves()[0].GetInfo().GetHostname(); got != "a1.example.com" {
		t.Fatalf("stored hostname changed with the caller's message: %q", got)
	}
}

func TestUpdateQuotaDropsLegacyQuota(t *testing.T) {
	store := NewMemoryStore()
	// A registry written before 1.9 holds quotas, not quota_configs.
	legacy, err := encodeRecord(KindQuotas, &entry{seq: 1, msg: &registrypb.Registry_Quota{Info: &quotapb.QuotaInfo{
		Role: proto.String("eng"), Guarantee: []*mesospb.Resource{scalar("cpus", 1)}}}})
	if err != nil {
		t.Fatal(err)
	}
	seed := store.Reopen()
	if _, err := seed.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := seed.Write(context.Background(), []Entry{{Key: Key{Kind: KindQuotas, Name: "eng"}, Value: legacy}}); err != nil {
		t.Fatal(err)
	}
	r := newRegistrar(t, store, Config{})
	if got := len(r.Registry().GetQuotas()); got != 1 {
		t.Fatalf("recovered %d legacy quotas, want 1", got)
	}
	mustApply(t, r, &UpdateQuota{Configs: []*quotapb.QuotaConfig{quotaConfig("eng", map[string]float64{"cpus": 2}, nil)}})
	if got := len(r.Registry().GetQuotas()); got != 0 {
		t.Errorf("%d legacy quotas left after UpdateQuota of the role", got)
	}
	if got := summarize(r.Registry()).Quotas; !cmp.Equal(got, []string{"eng"}) {
		t.Errorf("quota configs = %v", got)
	}
}

func TestRecover(t *testing.T) {
	ctx := context.Background()
	t.Run("ApplyBeforeRecover", func(t *testing.T) {
		r, err := New(NewMemoryStore(), Config{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = r.Apply(ctx, &AdmitAgent{Info: agentInfo("a1")})
		if !errors.Is(err, ErrNotRecovered) || !strings.Contains(err.Error(), "Attempted to apply the operation before recovering") {
			t.Fatalf("Apply before Recover = %v", err)
		}
		if r.Registry() != nil {
			t.Error("Registry before Recover is not nil")
		}
		if _, err := r.GC(ctx, t0); !errors.Is(err, ErrNotRecovered) {
			t.Errorf("GC before Recover = %v", err)
		}
	})
	t.Run("StoresTheMasterInfo", func(t *testing.T) {
		store := NewMemoryStore()
		r := newRegistrar(t, store, Config{})
		mustApply(t, r, &AdmitAgent{Info: agentInfo("a1")})
		r2, err := New(store.Reopen(), Config{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Close()
		reg, err := r2.Recover(ctx, masterInfo("m2"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(masterInfo("m2"), reg.GetMaster().GetInfo(), protocmp.Transform()); diff != "" {
			t.Errorf("registry's master (-want +got):\n%s", diff)
		}
		if got := agentIDs(reg); !cmp.Equal(got, []string{"a1"}) {
			t.Errorf("recovered agents %v", got)
		}
		// Recover again: the first outcome, whatever the info.
		again, err := r2.Recover(ctx, masterInfo("m3"))
		if err != nil || again.GetMaster().GetInfo().GetId() != "m2" {
			t.Errorf("second Recover = %v, %v", again.GetMaster(), err)
		}
	})
	t.Run("ApplyDuringRecoveryWaits", func(t *testing.T) {
		gs := newGatedStore(NewMemoryStore())
		gs.gateRecover = make(chan struct{})
		r, err := New(gs, Config{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		recovered := make(chan error, 1)
		go func() {
			_, err := r.Recover(ctx, masterInfo("m1"))
			recovered <- err
		}()
		<-gs.recovering
		applied := make(chan error, 1)
		go func() {
			_, err := r.Apply(ctx, &AdmitAgent{Info: agentInfo("a1")})
			applied <- err
		}()
		select {
		case err := <-applied:
			t.Fatalf("Apply returned during recovery: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		close(gs.gateRecover)
		if err := <-recovered; err != nil {
			t.Fatal(err)
		}
		if err := <-applied; err != nil {
			t.Fatal(err)
		}
		if got := agentIDs(r.Registry()); !cmp.Equal(got, []string{"a1"}) {
			t.Errorf("agents %v", got)
		}
	})
	t.Run("FetchFails", func(t *testing.T) {
		gs := newGatedStore(NewMemoryStore())
		gs.recoverErr = errors.New("disk on fire")
		r, err := New(gs, Config{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = r.Recover(ctx, masterInfo("m1"))
		if !errors.Is(err, ErrRecovery) || !strings.Contains(err.Error(), "Failed to recover registrar: disk on fire") {
			t.Fatalf("Recover = %v", err)
		}
		if _, err2 := r.Apply(ctx, &AdmitAgent{Info: agentInfo("a1")}); !errors.Is(err2, ErrRecovery) {
			t.Fatalf("Apply after a failed recovery = %v", err2)
		}
	})
	t.Run("FetchTimesOut", func(t *testing.T) {
		gs := newGatedStore(NewMemoryStore())
		gs.gateRecover = make(chan struct{}) // never opened: Recover waits for its ctx
		r, err := New(gs, Config{Logger: discardLogger(), FetchTimeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = r.Recover(ctx, masterInfo("m1"))
		if !errors.Is(err, ErrRecovery) || !errors.Is(err, context.DeadlineExceeded) ||
			!strings.Contains(err.Error(), "Failed to recover registrar: Failed to perform fetch within 50ms") {
			t.Fatalf("Recover = %v", err)
		}
	})
	t.Run("StoringTheMasterInfoFails", func(t *testing.T) {
		gs := newGatedStore(NewMemoryStore())
		gs.writeErr = errors.New("read-only")
		r, err := New(gs, Config{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = r.Recover(ctx, masterInfo("m1"))
		if !errors.Is(err, ErrRecovery) || !errors.Is(err, ErrAborted) ||
			!strings.Contains(err.Error(), "Failed to recover registrar: Failed to persist MasterInfo: registry: registrar aborted: Failed to update registry: read-only") {
			t.Fatalf("Recover = %v", err)
		}
	})
	t.Run("CorruptRecord", func(t *testing.T) {
		store := NewMemoryStore()
		seed := store.Reopen()
		seed.Recover(ctx)
		seed.Write(ctx, []Entry{{Key: Key{Kind: KindAgents, Name: "a1"}, Value: []byte("\xff\xff")}})
		r, err := New(store, Config{Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := r.Recover(ctx, masterInfo("m1")); !errors.Is(err, ErrRecovery) {
			t.Fatalf("Recover of a corrupt registry = %v", err)
		}
	})
	t.Run("Strict", func(t *testing.T) {
		if _, err := New(NewMemoryStore(), Config{Strict: true}); !errors.Is(err, ErrStrict) ||
			err.Error() != "Support for '--registry_strict' has been disabled and will be removed in a future version of Mesos" {
			t.Fatalf("New with Strict = %v", err)
		}
	})
}

func TestTornWriteIsRepairedBySeq(t *testing.T) {
	rec := func(kind Kind, seq uint64, msg proto.Message) Entry {
		v, err := encodeRecord(kind, &entry{seq: seq, msg: msg})
		if err != nil {
			t.Fatal(err)
		}
		name, err := nameOf(kind, msg)
		if err != nil {
			t.Fatal(err)
		}
		return Entry{Key: Key{Kind: kind, Name: name}, Value: v}
	}
	ts := &mesospb.TimeInfo{Nanoseconds: proto.Int64(1)}
	// a1 was marked unreachable (seq 7) but the deletion of its admitted
	// entry (seq 5) was lost; a2 was admitted again (seq 9) after being
	// unreachable (seq 8).
	st, err := loadState([]Entry{
		rec(KindAgents, 5, &registrypb.Registry_Slave{Info: agentInfo("a1")}),
		rec(KindUnreachable, 7, &registrypb.Registry_UnreachableSlave{Id: agentID("a1"), Timestamp: ts}),
		rec(KindUnreachable, 8, &registrypb.Registry_UnreachableSlave{Id: agentID("a2"), Timestamp: ts}),
		rec(KindAgents, 9, &registrypb.Registry_Slave{Info: agentInfo("a2")}),
	}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	got := summarize(st.snapshot(nil, nil))
	want := summary{Agents: []string{"a2"}, Unreachable: []string{"a1" + fmt.Sprintf("@%d", (1-t0.UnixNano())/int64(time.Second))}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("repaired registry (-want +got):\n%s", diff)
	}
	if st.nextSeq != 10 {
		t.Errorf("nextSeq = %d, want 10", st.nextSeq)
	}
}

func TestDecodeRecordChecksTheKey(t *testing.T) {
	v, err := encodeRecord(KindAgents, &entry{seq: 1, msg: &registrypb.Registry_Slave{Info: agentInfo("a1")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []Key{{Kind: KindAgents, Name: "a2"}, {Kind: KindUnreachable, Name: "a1"}, {Kind: "x", Name: "a1"}} {
		if _, err := decodeRecord(key, v); err == nil {
			t.Errorf("record of agents/a1 decoded under %s", key)
		}
	}
	if _, err := decodeRecord(Key{Kind: KindAgents, Name: "a1"}, v); err != nil {
		t.Errorf("decodeRecord: %v", err)
	}
}

// gatedStore wraps a store to hold, fail and count its calls.
type gatedStore struct {
	Store
	mu          sync.Mutex
	writes      [][]Entry
	writeErr    error
	recoverErr  error
	gateRecover chan struct{} // when set, Recover waits for it to close (or its ctx)
	gateWrite   chan struct{} // when set, Write waits for it to close (or its ctx)
	recovering  chan struct{} // gets a value when Recover starts
	writing     chan struct{} // gets a value when Write starts
}

func newGatedStore(s Store) *gatedStore {
	return &gatedStore{Store: s, recovering: make(chan struct{}, 100), writing: make(chan struct{}, 100)}
}

func (g *gatedStore) Recover(ctx context.Context) ([]Entry, error) {
	g.recovering <- struct{}{}
	g.mu.Lock()
	gate, err := g.gateRecover, g.recoverErr
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	return g.Store.Recover(ctx)
}

func (g *gatedStore) Write(ctx context.Context, changes []Entry) error {
	g.writing <- struct{}{}
	g.mu.Lock()
	gate, err := g.gateWrite, g.writeErr
	g.writes = append(g.writes, changes)
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	return g.Store.Write(ctx, changes)
}

func (g *gatedStore) setGate(c chan struct{}) {
	g.mu.Lock()
	g.gateWrite = c
	g.mu.Unlock()
}

func (g *gatedStore) writeCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.writes)
}

func TestBatching(t *testing.T) {
	ctx := context.Background()
	gs := newGatedStore(NewMemoryStore())
	r := newRegistrar(t, gs, Config{})
	<-gs.writing // the MasterInfo
	gate := make(chan struct{})
	gs.setGate(gate)

	// The first operation's write blocks; the next ones queue behind it.
	first := make(chan error, 1)
	go func() {
		_, err := r.Apply(ctx, &AdmitAgent{Info: agentInfo("a0")})
		first <- err
	}()
	<-gs.writing
	const n = 20
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = r.Apply(ctx, &AdmitAgent{Info: agentInfo(fmt.Sprintf("a%d", i+1))})
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.Metrics()[MetricQueuedOperations] != n {
		if time.Now().After(deadline) {
			t.Fatalf("queued operations = %v, want %d", r.Metrics()[MetricQueuedOperations], n)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-first:
		t.Fatalf("Apply returned before its write was durable: %v", err)
	default:
	}
	if got := agentIDs(r.Registry()); len(got) != 0 {
		t.Fatalf("registry shows agents %v before they are durable", got)
	}
	close(gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range results {
		if err != nil {
			t.Errorf("Apply %d: %v", i, err)
		}
	}
	// MasterInfo, a0, then all the queued ones in one write.
	if got := gs.writeCount(); got != 3 {
		t.Errorf("%d writes, want 3", got)
	}
	if got := len(gs.writes[2]); got != n {
		t.Errorf("the batch wrote %d records, want %d", got, n)
	}
	if got := len(agentIDs(r.Registry())); got != n+1 {
		t.Errorf("%d agents, want %d", got, n+1)
	}
	if got := r.Metrics()[MetricQueuedOperations]; got != 0 {
		t.Errorf("queued operations = %v after the batch", got)
	}
}

func TestApplyAllInOneBatch(t *testing.T) {
	gs := newGatedStore(NewMemoryStore())
	r := newRegistrar(t, gs, Config{})
	a1 := agentID("a1")
	out, err := r.ApplyAll(context.Background(), []Operation{
		&AdmitAgent{Info: agentInfo("a1")},
		&AdmitAgent{Info: agentInfo("a1")}, // rejected: the first one is applied already
		&MarkAgentUnreachable{ID: a1, Time: t0},
		&MarkAgentReachable{Info: agentInfo("a1")},
		&UpdateWeights{},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Outcome{{Mutated: true}, {Err: &RejectedError{Op: "AdmitAgent", Reason: "Agent already admitted"}},
		{Mutated: true}, {Mutated: true}, {}}
	if diff := cmp.Diff(want, out, cmp.Comparer(func(a, b error) bool { return fmt.Sprint(a) == fmt.Sprint(b) })); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if got := gs.writeCount(); got != 2 {
		t.Errorf("%d writes, want 2 (the MasterInfo, then the batch)", got)
	}
	// The agent went to unreachable and back within the batch: one record
	// written, and the unreachable one deleted (it never reached the store).
	if diff := cmp.Diff(summary{Agents: []string{"a1"}}, summarize(r.Registry())); diff != "" {
		t.Errorf("registry (-want +got):\n%s", diff)
	}
}

func TestNoOpBatchIsNotWritten(t *testing.T) {
	gs := newGatedStore(NewMemoryStore())
	r := newRegistrar(t, gs, Config{})
	mustApply(t, r, &AdmitAgent{Info: agentInfo("a1")})
	n := gs.writeCount()
	mustApply(t, r, &MarkAgentReachable{Info: agentInfo("a1")}, &UpdateWeights{}, &Prune{})
	if _, err := r.Apply(context.Background(), &RemoveAgent{ID: agentID("nope")}); !errors.Is(err, ErrRejected) {
		t.Fatal(err)
	}
	if got := gs.writeCount(); got != n {
		t.Errorf("%d writes for operations that change nothing", got-n)
	}
}

func TestStoreFailureAborts(t *testing.T) {
	ctx := context.Background()
	gs := newGatedStore(NewMemoryStore())
	r := newRegistrar(t, gs, Config{})
	<-gs.writing
	mustApply(t, r, &AdmitAgent{Info: agentInfo("a1")})
	<-gs.writing
	before := r.Registry()

	gate := make(chan struct{})
	gs.setGate(gate)
	gs.mu.Lock()
	gs.writeErr = errors.New("disk full")
	gs.mu.Unlock()
	inflight := make(chan error, 1)
	go func() {
		_, err := r.Apply(ctx, &AdmitAgent{Info: agentInfo("a2")})
		inflight <- err
	}()
	<-gs.writing
	queued := make(chan error, 1)
	go func() {
		_, err := r.Apply(ctx, &AdmitAgent{Info: agentInfo("a3")})
		queued <- err
	}()
	for r.Metrics()[MetricQueuedOperations] != 1 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	for _, ch := range []chan error{inflight, queued} {
		err := <-ch
		if !errors.Is(err, ErrAborted) || !strings.HasSuffix(err.Error(), "Failed to update registry: disk full") {
			t.Errorf("Apply = %v, want ErrAborted: ...Failed to update registry: disk full", err)
		}
	}
	if _, err := r.Apply(ctx, &AdmitAgent{Info: agentInfo("a4")}); !errors.Is(err, ErrAborted) {
		t.Errorf("Apply after the abort = %v", err)
	}
	if r.Registry() != before {
		t.Error("the registry changed after a failed write")
	}
}

func TestStoreTimeoutAborts(t *testing.T) {
	gs := newGatedStore(NewMemoryStore())
	r := newRegistrar(t, gs, Config{StoreTimeout: 50 * time.Millisecond})
	gs.setGate(make(chan struct{})) // never opened
	_, err := r.Apply(context.Background(), &AdmitAgent{Info: agentInfo("a1")})
	if !errors.Is(err, ErrAborted) || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.HasSuffix(err.Error(), "Failed to update registry: Failed to perform store within 50ms") {
		t.Fatalf("Apply = %v", err)
	}
}

func TestWithdrawOnContext(t *testing.T) {
	gs := newGatedStore(NewMemoryStore())
	r := newRegistrar(t, gs, Config{})
	<-gs.writing
	gate := make(chan struct{})
	gs.setGate(gate)
	inflight := make(chan error, 1)
	go func() {
		_, err := r.Apply(context.Background(), &AdmitAgent{Info: agentInfo("a1")})
		inflight <- err
	}()
	<-gs.writing
	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	go func() {
		_, err := r.Apply(ctx, &AdmitAgent{Info: agentInfo("a2")})
		queued <- err
	}()
	for r.Metrics()[MetricQueuedOperations] != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-queued; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued Apply with a canceled context = %v", err)
	}
	close(gate)
	if err := <-inflight; err != nil {
		t.Fatal(err)
	}
	if got := agentIDs(r.Registry()); !cmp.Equal(got, []string{"a1"}) {
		t.Errorf("agents %v, want [a1]: the withdrawn operation was applied", got)
	}
}

func TestClose(t *testing.T) {
	gs := newGatedStore(NewMemoryStore())
	r := newRegistrar(t, gs, Config{})
	<-gs.writing
	gs.setGate(make(chan struct{})) // the write waits for its ctx, which Close cancels
	inflight := make(chan error, 1)
	go func() {
		_, err := r.Apply(context.Background(), &AdmitAgent{Info: agentInfo("a1")})
		inflight <- err
	}()
	<-gs.writing
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-inflight; !errors.Is(err, ErrClosed) {
		t.Errorf("in-flight Apply = %v, want ErrClosed", err)
	}
	if _, err := r.Apply(context.Background(), &AdmitAgent{Info: agentInfo("a2")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close = %v", err)
	}
	if _, err := r.Recover(context.Background(), masterInfo("m")); !errors.Is(err, ErrClosed) {
		t.Errorf("Recover after Close = %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestPruneCandidates(t *testing.T) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Hour) }
	reg := func(unreachable, gone map[string]int, order ...string) *registrypb.Registry {
		r := &registrypb.Registry{Unreachable: &registrypb.Registry_UnreachableSlaves{}, Gone: &registrypb.Registry_GoneSlaves{}}
		for _, id := range order {
			if h, ok := unreachable[id]; ok {
				r.Unreachable.Slaves = append(r.Unreachable.Slaves, &registrypb.Registry_UnreachableSlave{Id: agentID(id), Timestamp: timeInfo(at(h))})
			}
			if h, ok := gone[id]; ok {
				r.Gone.Slaves = append(r.Gone.Slaves, &registrypb.Registry_GoneSlave{Id: agentID(id), Timestamp: timeInfo(at(h))})
			}
		}
		return r
	}
	ids := func(in []*mesospb.AgentID) []string {
		var out []string
		for _, id := range in {
			out = append(out, id.GetValue())
		}
		return out
	}
	tests := []struct {
		name              string
		reg               *registrypb.Registry
		now               int
		maxAge            time.Duration
		maxCount          int
		unreachable, gone []string
	}{
		{name: "nothing qualifies", reg: reg(map[string]int{"u1": 0}, map[string]int{"g1": 0}, "u1", "g1"),
			now: 10, maxAge: 24 * time.Hour, maxCount: 5},
		{name: "oldest first by count", reg: reg(map[string]int{"u1": 5, "u2": 1, "u3": 2, "u4": 3}, nil, "u1", "u2", "u3", "u4"),
			now: 6, maxAge: 24 * time.Hour, maxCount: 2, unreachable: []string{"u1", "u2"}},
		{name: "by age anywhere in the list", reg: reg(map[string]int{"u1": 50, "u2": 1, "u3": 40}, map[string]int{"g1": 2, "g2": 48}, "u1", "u2", "u3", "g1", "g2"),
			now: 50, maxAge: 24 * time.Hour, maxCount: 100, unreachable: []string{"u2"}, gone: []string{"g1"}},
		{name: "age is strict", reg: reg(map[string]int{"u1": 0}, nil, "u1"), now: 24, maxAge: 24 * time.Hour, maxCount: 10},
		{name: "count zero keeps none", reg: reg(map[string]int{"u1": 0}, map[string]int{"g1": 0}, "u1", "g1"),
			now: 0, maxAge: 24 * time.Hour, maxCount: 0, unreachable: []string{"u1"}, gone: []string{"g1"}},
		{name: "count and age together", reg: reg(map[string]int{"u1": 9, "u2": 0, "u3": 9, "u4": 9}, nil, "u1", "u2", "u3", "u4"),
			now: 30, maxAge: 24 * time.Hour, maxCount: 3, unreachable: []string{"u1", "u2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := PruneCandidates(tt.reg, at(tt.now), tt.maxAge, tt.maxCount)
			if tt.unreachable == nil && tt.gone == nil {
				if op != nil {
					t.Fatalf("PruneCandidates = %v, want nil", op)
				}
				return
			}
			if op == nil {
				t.Fatal("PruneCandidates = nil")
			}
			if diff := cmp.Diff(tt.unreachable, ids(op.Unreachable)); diff != "" {
				t.Errorf("unreachable (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.gone, ids(op.Gone)); diff != "" {
				t.Errorf("gone (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGC(t *testing.T) {
	gs := newGatedStore(NewMemoryStore())
	r := newRegistrar(t, gs, Config{MaxAgentCount: 2, MaxAgentAge: time.Hour})
	for i := range 4 {
		id := fmt.Sprintf("a%d", i)
		mustApply(t, r, &AdmitAgent{Info: agentInfo(id)},
			&MarkAgentUnreachable{ID: agentID(id), Time: t0.Add(time.Duration(i) * time.Minute)})
	}
	pruned, err := r.GC(context.Background(), t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if pruned == nil || len(pruned.Unreachable) != 2 || pruned.Unreachable[0].GetValue() != "a0" || pruned.Unreachable[1].GetValue() != "a1" {
		t.Fatalf("GC pruned %v, want a0 and a1", pruned)
	}
	want := summary{Unreachable: []string{"a2@120", "a3@180"}}
	if diff := cmp.Diff(want, summarize(r.Registry())); diff != "" {
		t.Errorf("registry after GC (-want +got):\n%s", diff)
	}
	n := gs.writeCount()
	if pruned, err := r.GC(context.Background(), t0.Add(10*time.Minute)); pruned != nil || err != nil {
		t.Errorf("second GC = %v, %v; want nothing to prune", pruned, err)
	}
	if gs.writeCount() != n {
		t.Error("a GC with nothing to prune wrote")
	}
	if pruned, _ := r.GC(context.Background(), t0.Add(2*time.Hour)); pruned == nil || len(pruned.Unreachable) != 2 {
		t.Errorf("GC by age pruned %v, want a2 and a3", pruned)
	}
}

func TestConfigDefaults(t *testing.T) {
	r, err := New(NewMemoryStore(), Config{MaxAgentCount: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := r.Config()
	want := DefaultConfig()
	want.MaxAgentCount = 0
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Config{}, "Logger")); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if got.Logger == nil {
		t.Error("no default logger")
	}
	if d := DefaultConfig(); d.StoreTimeout != 20*time.Second || d.FetchTimeout != time.Minute ||
		d.MaxAgentAge != 14*24*time.Hour || d.MaxAgentCount != 102400 || d.GCInterval != 15*time.Minute || d.Strict {
		t.Errorf("DefaultConfig = %+v, not Mesos's defaults", d)
	}
}

func TestMetrics(t *testing.T) {
	r, err := New(NewMemoryStore(), Config{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if diff := cmp.Diff(map[string]float64{MetricQueuedOperations: 0}, r.Metrics()); diff != "" {
		t.Errorf("metrics before recovery (-want +got):\n%s", diff)
	}
	if _, err := r.Recover(context.Background(), masterInfo("m1")); err != nil {
		t.Fatal(err)
	}
	m := r.Metrics()
	for _, k := range []string{MetricRegistrySizeBytes, MetricStateFetchMS, MetricStateStoreMS} {
		if _, ok := m[k]; !ok {
			t.Errorf("metric %s missing after recovery: %v", k, m)
		}
	}
	if _, ok := m[MetricStateStoreMS+"/count"]; ok {
		t.Error("statistics after a single write")
	}
	mustApply(t, r, &AdmitAgent{Info: agentInfo("a1")})
	m = r.Metrics()
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	want := []string{
		"registrar/queued_operations", "registrar/registry_size_bytes", "registrar/state_fetch_ms",
		"registrar/state_store_ms", "registrar/state_store_ms/count", "registrar/state_store_ms/max",
		"registrar/state_store_ms/min", "registrar/state_store_ms/p50", "registrar/state_store_ms/p90",
		"registrar/state_store_ms/p95", "registrar/state_store_ms/p99", "registrar/state_store_ms/p999",
		"registrar/state_store_ms/p9999",
	}
	if diff := cmp.Diff(want, keys, cmpSorted()); diff != "" {
		t.Errorf("metric keys (-want +got):\n%s", diff)
	}
	if got, want := m[MetricRegistrySizeBytes], float64(proto.Size(r.Registry())); got != want {
		t.Errorf("registry size %v, want %v", got, want)
	}
	if m[MetricStateStoreMS+"/count"] != 2 {
		t.Errorf("store count %v, want 2", m[MetricStateStoreMS+"/count"])
	}
}

func TestTimer(t *testing.T) {
	tm := &timer{name: "t", window: time.Hour}
	now := t0
	for i := 1; i <= 5; i++ {
		tm.record(time.Duration(i)*time.Millisecond, now)
		now = now.Add(time.Second)
	}
	m := map[string]float64{}
	tm.snapshot(m)
	want := map[string]float64{"t": 5, "t/count": 5, "t/min": 1, "t/max": 5, "t/p50": 3, "t/p90": 4.6,
		"t/p95": 4.8, "t/p99": 4.96, "t/p999": 4.996, "t/p9999": 4.9996}
	if diff := cmp.Diff(want, m, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
	// Values leave the window; at least one stays.
	tm.record(time.Millisecond, now.Add(2*time.Hour))
	m = map[string]float64{}
	tm.snapshot(m)
	if _, ok := m["t/count"]; ok {
		t.Errorf("statistics over one value: %v", m)
	}
	// The series never holds more than its capacity, and thins out old
	// values while keeping recent ones.
	for i := range 5000 {
		tm.record(time.Duration(i), now.Add(2*time.Hour+time.Duration(i)*time.Millisecond))
	}
	if n := len(tm.values); n > timeSeriesCapacity {
		t.Errorf("series holds %d values", n)
	}
	if last := tm.values[len(tm.values)-1]; last != float64(4999)/1e6 {
		t.Errorf("latest value %v lost", last)
	}
}

func TestMissingCapabilities(t *testing.T) {
	reg := &registrypb.Registry{MinimumCapabilities: []*registrypb.Registry_MinimumCapability{
		{Capability: proto.String("QUOTA_V2")}, {Capability: proto.String("AGENT_DRAINING")}, {Capability: proto.String("FUTURE")}}}
	info := masterInfo("m")
	info.Capabilities = []*mesospb.MasterInfo_Capability{{Type: mesospb.MasterInfo_Capability_Type(3).Enum()}} // v0's QUOTA_V2
	if diff := cmp.Diff([]string{"AGENT_DRAINING", "FUTURE"}, MissingCapabilities(info, reg)); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
}
