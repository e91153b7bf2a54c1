package registry

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/meso-project/meso/api/v1/maintenancepb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/internal/pb/registrypb"
	"google.golang.org/protobuf/proto"
)

// entry is one entry of the registry in memory: its message, which is never
// modified once stored (a change stores a new message), and its seq, the
// position in its list (see registrypb.Record).
type entry struct {
	seq uint64
	msg proto.Message
}

// state is the registry as the Registrar's loop holds it: the entries of
// each kind by name. Only the loop goroutine touches it.
type state struct {
	kinds   map[Kind]map[string]*entry
	nextSeq uint64
}

func newState() *state {
	s := &state{kinds: make(map[Kind]map[string]*entry, len(Kinds)), nextSeq: 1}
	for _, k := range Kinds {
		s.kinds[k] = map[string]*entry{}
	}
	return s
}

// ordered returns the entries of kind k by ascending seq, with their names.
func (s *state) ordered(k Kind) ([]string, []*entry) {
	m := s.kinds[k]
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		sa, sb := m[a].seq, m[b].seq
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
	es := make([]*entry, len(names))
	for i, n := range names {
		es[i] = m[n]
	}
	return names, es
}

// nameOf is the record name an entry of kind k is stored under (schedules
// are stored by position and have no name of their own).
func nameOf(k Kind, msg proto.Message) (string, error) {
	switch m := msg.(type) {
	case *registrypb.Registry_Master:
		if k == KindMaster {
			return masterName, nil
		}
	case *registrypb.Registry_Slave:
		if k == KindAgents {
			if m.GetInfo().GetId().GetValue() == "" {
				return "", fmt.Errorf("agent without an ID")
			}
			return escapeName(m.GetInfo().GetId().GetValue()), nil
		}
	case *registrypb.Registry_UnreachableSlave:
		if k == KindUnreachable {
			if m.GetId().GetValue() == "" {
				return "", fmt.Errorf("unreachable agent without an ID")
			}
			return escapeName(m.GetId().GetValue()), nil
		}
	case *registrypb.Registry_GoneSlave:
		if k == KindGone {
			if m.GetId().GetValue() == "" {
				return "", fmt.Errorf("gone agent without an ID")
			}
			return escapeName(m.GetId().GetValue()), nil
		}
	case *registrypb.Registry_Machine:
		if k == KindMachines {
			return machineName(m.GetInfo().GetId()), nil
		}
	case *registrypb.Registry_Quota:
		if k == KindQuotas {
			return escapeName(m.GetInfo().GetRole()), nil
		}
	case *quotapb.QuotaConfig:
		if k == KindQuotaConfigs {
			return escapeName(m.GetRole()), nil
		}
	case *registrypb.Registry_Weight:
		if k == KindWeights {
			return escapeName(m.GetInfo().GetRole()), nil
		}
	case *registrypb.Registry_MinimumCapability:
		if k == KindMinimumCapabilities {
			return escapeName(m.GetCapability()), nil
		}
	}
	return "", fmt.Errorf("a %T is not a record of kind %s", msg, k)
}

// encodeRecord encodes an entry of kind k as the value a store keeps.
func encodeRecord(k Kind, e *entry) ([]byte, error) {
	r := &registrypb.Record{Seq: proto.Uint64(e.seq)}
	switch m := e.msg.(type) {
	case *registrypb.Registry_Master:
		r.Entry = &registrypb.Record_Master{Master: m}
	case *registrypb.Registry_Slave:
		r.Entry = &registrypb.Record_Agent{Agent: m}
	case *registrypb.Registry_UnreachableSlave:
		r.Entry = &registrypb.Record_Unreachable{Unreachable: m}
	case *registrypb.Registry_GoneSlave:
		r.Entry = &registrypb.Record_Gone{Gone: m}
	case *registrypb.Registry_Machine:
		r.Entry = &registrypb.Record_Machine{Machine: m}
	case *maintenancepb.Schedule:
		r.Entry = &registrypb.Record_Schedule{Schedule: m}
	case *registrypb.Registry_Quota:
		r.Entry = &registrypb.Record_Quota{Quota: m}
	case *quotapb.QuotaConfig:
		r.Entry = &registrypb.Record_QuotaConfig{QuotaConfig: m}
	case *registrypb.Registry_Weight:
		r.Entry = &registrypb.Record_Weight{Weight: m}
	case *registrypb.Registry_MinimumCapability:
		r.Entry = &registrypb.Record_MinimumCapability{MinimumCapability: m}
	default:
		return nil, fmt.Errorf("registry: cannot encode a %T", e.msg)
	}
	return proto.Marshal(r)
}

// decodeRecord decodes the value stored under key and checks that it
// belongs there: the entry is of the key's kind and would be stored under
// the key's name.
func decodeRecord(key Key, value []byte) (*entry, error) {
	if err := key.Valid(); err != nil {
		return nil, err
	}
	var r registrypb.Record
	if err := proto.Unmarshal(value, &r); err != nil {
		return nil, fmt.Errorf("registry: record %s: %w", key, err)
	}
	var msg proto.Message
	switch e := r.Entry.(type) {
	case *registrypb.Record_Master:
		msg = e.Master
	case *registrypb.Record_Agent:
		msg = e.Agent
	case *registrypb.Record_Unreachable:
		msg = e.Unreachable
	case *registrypb.Record_Gone:
		msg = e.Gone
	case *registrypb.Record_Machine:
		msg = e.Machine
	case *registrypb.Record_Schedule:
		msg = e.Schedule
	case *registrypb.Record_Quota:
		msg = e.Quota
	case *registrypb.Record_QuotaConfig:
		msg = e.QuotaConfig
	case *registrypb.Record_Weight:
		msg = e.Weight
	case *registrypb.Record_MinimumCapability:
		msg = e.MinimumCapability
	}
	if msg == nil || !msg.ProtoReflect().IsValid() {
		return nil, fmt.Errorf("registry: record %s holds no entry", key)
	}
	if _, isSchedule := msg.(*maintenancepb.Schedule); isSchedule {
		if key.Kind != KindSchedules {
			return nil, fmt.Errorf("registry: record %s holds a schedule", key)
		}
		if _, err := strconv.ParseUint(key.Name, 10, 31); err != nil {
			return nil, fmt.Errorf("registry: record %s: a schedule's name must be its position", key)
		}
	} else {
		name, err := nameOf(key.Kind, msg)
		if err != nil {
			return nil, fmt.Errorf("registry: record %s: %w", key, err)
		}
		if name != key.Name {
			return nil, fmt.Errorf("registry: record %s holds the entry of %s/%s", key, key.Kind, name)
		}
	}
	return &entry{seq: r.GetSeq(), msg: msg}, nil
}

// loadState builds the state from a store's records. An agent found in
// more than one of the admitted, unreachable and gone lists (what a torn
// write can leave; see Store) is kept only in the entry with the highest
// seq, the newest.
func loadState(records []Entry, log *slog.Logger) (*state, error) {
	s := newState()
	var maxSeq uint64
	for _, rec := range records {
		e, err := decodeRecord(rec.Key, rec.Value)
		if err != nil {
			return nil, err
		}
		if _, dup := s.kinds[rec.Key.Kind][rec.Key.Name]; dup {
			return nil, fmt.Errorf("registry: record %s appears twice", rec.Key)
		}
		s.kinds[rec.Key.Kind][rec.Key.Name] = e
		maxSeq = max(maxSeq, e.seq)
	}
	s.nextSeq = maxSeq + 1
	agentKinds := []Kind{KindAgents, KindUnreachable, KindGone}
	for i, a := range agentKinds {
		for _, b := range agentKinds[i+1:] {
			for name, ea := range s.kinds[a] {
				eb, both := s.kinds[b][name]
				if !both {
					continue
				}
				drop := a
				if ea.seq > eb.seq {
					drop = b
				}
				log.Warn("registry: agent found in two lists; keeping the newer entry",
					"agent_id", name, "lists", []Kind{a, b}, "dropped", drop)
				delete(s.kinds[drop], name)
			}
		}
	}
	return s, nil
}

// snapshot builds the registry the Registrar publishes. Lists of kinds not
// in dirty are taken from prev (published snapshots are never modified, so
// they can share them); a nil prev rebuilds everything. The list wrappers
// (slaves, unreachable, gone, machines) are always set, even when empty.
func (s *state) snapshot(prev *registrypb.Registry, dirty map[Kind]bool) *registrypb.Registry {
	re := func(k Kind) bool { return prev == nil || dirty[k] }
	r := &registrypb.Registry{}
	if re(KindMaster) {
		if e := s.kinds[KindMaster][masterName]; e != nil {
			r.Master = e.msg.(*registrypb.Registry_Master)
		}
	} else {
		r.Master = prev.Master
	}
	if re(KindAgents) {
		r.Slaves = &registrypb.Registry_Slaves{Slaves: list[*registrypb.Registry_Slave](s, KindAgents)}
	} else {
		r.Slaves = prev.Slaves
	}
	if re(KindUnreachable) {
		r.Unreachable = &registrypb.Registry_UnreachableSlaves{Slaves: list[*registrypb.Registry_UnreachableSlave](s, KindUnreachable)}
	} else {
		r.Unreachable = prev.Unreachable
	}
	if re(KindGone) {
		r.Gone = &registrypb.Registry_GoneSlaves{Slaves: list[*registrypb.Registry_GoneSlave](s, KindGone)}
	} else {
		r.Gone = prev.Gone
	}
	if re(KindMachines) {
		r.Machines = &registrypb.Registry_Machines{Machines: list[*registrypb.Registry_Machine](s, KindMachines)}
	} else {
		r.Machines = prev.Machines
	}
	if re(KindSchedules) {
		r.Schedules = list[*maintenancepb.Schedule](s, KindSchedules)
	} else {
		r.Schedules = prev.Schedules
	}
	if re(KindQuotas) {
		r.Quotas = list[*registrypb.Registry_Quota](s, KindQuotas)
	} else {
		r.Quotas = prev.Quotas
	}
	if re(KindQuotaConfigs) {
		r.QuotaConfigs = list[*quotapb.QuotaConfig](s, KindQuotaConfigs)
	} else {
		r.QuotaConfigs = prev.QuotaConfigs
	}
	if re(KindWeights) {
		r.Weights = list[*registrypb.Registry_Weight](s, KindWeights)
	} else {
		r.Weights = prev.Weights
	}
	if re(KindMinimumCapabilities) {
		r.MinimumCapabilities = list[*registrypb.Registry_MinimumCapability](s, KindMinimumCapabilities)
	} else {
		r.MinimumCapabilities = prev.MinimumCapabilities
	}
	return r
}

func list[T proto.Message](s *state, k Kind) []T {
	_, es := s.ordered(k)
	if len(es) == 0 {
		return nil
	}
	out := make([]T, len(es))
	for i, e := range es {
		out[i] = e.msg.(T)
	}
	return out
}

// txn applies a batch of operations to the state, remembering which keys
// changed (to write them) and, for the operation in progress, what they
// held before (to undo an operation that fails half-way).
type txn struct {
	st    *state
	log   *slog.Logger
	dirty map[Key]bool
	order []Key
	undo  []undoRecord
}

type undoRecord struct {
	key  Key
	prev *entry // nil: the key did not exist
	seq  uint64 // st.nextSeq before the change
}

func newTxn(st *state, log *slog.Logger) *txn {
	return &txn{st: st, log: log, dirty: map[Key]bool{}}
}

// get returns the entry of kind k named name, or nil.
func (t *txn) get(k Kind, name string) proto.Message {
	if e := t.st.kinds[k][name]; e != nil {
		return e.msg
	}
	return nil
}

func (t *txn) touch(key Key) {
	t.undo = append(t.undo, undoRecord{key: key, prev: t.st.kinds[key.Kind][key.Name], seq: t.st.nextSeq})
	if !t.dirty[key] {
		t.dirty[key] = true
		t.order = append(t.order, key)
	}
}

// put stores msg (which must not be modified afterwards) under its name. An
// existing entry keeps its place in the list; a new one goes to the end.
func (t *txn) put(k Kind, name string, msg proto.Message) {
	key := Key{Kind: k, Name: name}
	t.touch(key)
	seq := t.st.nextSeq
	if e := t.st.kinds[k][name]; e != nil {
		seq = e.seq
	} else {
		t.st.nextSeq++
	}
	t.st.kinds[k][name] = &entry{seq: seq, msg: msg}
}

// del removes the entry of kind k named name and reports whether there was
// one.
func (t *txn) del(k Kind, name string) bool {
	if t.st.kinds[k][name] == nil {
		return false
	}
	t.touch(Key{Kind: k, Name: name})
	delete(t.st.kinds[k], name)
	return true
}

// each calls f with every entry of kind k in list order.
func (t *txn) each(k Kind, f func(name string, msg proto.Message)) {
	names, es := t.st.ordered(k)
	for i, n := range names {
		f(n, es[i].msg)
	}
}

// begin starts an operation.
func (t *txn) begin() { t.undo = t.undo[:0] }

// rollback undoes the operation in progress. Its keys stay in the dirty set;
// writing their unchanged values again is harmless.
func (t *txn) rollback() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		u := t.undo[i]
		if u.prev == nil {
			delete(t.st.kinds[u.key.Kind], u.key.Name)
		} else {
			t.st.kinds[u.key.Kind][u.key.Name] = u.prev
		}
		t.st.nextSeq = u.seq
	}
	t.undo = t.undo[:0]
}

// changes returns what the batch changed, as a store write: the current
// value of every changed key that still exists first, then the deletions.
func (t *txn) changes() ([]Entry, map[Kind]bool, error) {
	var puts, dels []Entry
	kinds := map[Kind]bool{}
	for _, key := range t.order {
		kinds[key.Kind] = true
		e := t.st.kinds[key.Kind][key.Name]
		if e == nil {
			dels = append(dels, Entry{Key: key})
			continue
		}
		v, err := encodeRecord(key.Kind, e)
		if err != nil {
			return nil, nil, fmt.Errorf("registry: encoding %s: %w", key, err)
		}
		puts = append(puts, Entry{Key: key, Value: v})
	}
	return append(puts, dels...), kinds, nil
}
