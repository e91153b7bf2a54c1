package registry

import (
	"cmp"
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
// each kind by name, and the lists of the last snapshot in list order. Only
// the loop goroutine touches it.
type state struct {
	kinds   map[Kind]map[string]*entry
	nextSeq uint64
	lists   map[Kind][]named // as of the last snapshot
}

// named is an entry with its name.
type named struct {
	name string
	e    *entry
}

func newState() *state {
	s := &state{kinds: make(map[Kind]map[string]*entry, len(Kinds)), nextSeq: 1, lists: map[Kind][]named{}}
	for _, k := range Kinds {
		s.kinds[k] = map[string]*entry{}
	}
	return s
}

// ordered returns the entries of kind k by ascending seq.
func (s *state) ordered(k Kind) []named {
	m := s.kinds[k]
	out := make([]named, 0, len(m))
	for n, e := range m {
		out = append(out, named{n, e})
	}
	slices.SortFunc(out, func(a, b named) int { return cmp.Compare(a.e.seq, b.e.seq) })
	return out
}

// changed names an entry a batch changed, with the seq it had before the
// batch (0: it did not exist).
type changed struct {
	name    string
	origSeq uint64
}

// relist brings the list of kind k up to date after a batch changed the
// entries in ch, in O(len(list) + len(ch) log len(list)): an entry replaced
// in place keeps its seq and so its position (found by binary search); an
// entry added has a seq above every seq of the list (seqs only grow), so
// additions go to the end.
func (s *state) relist(k Kind, ch []changed) {
	const tombstone = "\x00"
	out := s.lists[k] // the loop's own; snapshots get copies (list)
	dropped := false
	var added []named
	for _, c := range ch {
		cur := s.kinds[k][c.name]
		if c.origSeq != 0 {
			i, found := slices.BinarySearchFunc(out, c.origSeq, func(it named, seq uint64) int { return cmp.Compare(it.e.seq, seq) })
			if found && out[i].name == c.name {
				if cur != nil && cur.seq == c.origSeq {
					out[i] = named{c.name, cur}
					continue
				}
				out[i].name, dropped = tombstone, true
			}
		}
		if cur != nil {
			added = append(added, named{c.name, cur})
		}
	}
	if dropped {
		out = slices.DeleteFunc(out, func(it named) bool { return it.name == tombstone })
	}
	slices.SortFunc(added, func(a, b named) int { return cmp.Compare(a.e.seq, b.e.seq) })
	s.lists[k] = append(out, added...)
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
	// Unmarshal does not always catch a missing required field of a message
	// inside a oneof; a record that could not be written back is corrupt.
	if err := proto.CheckInitialized(msg); err != nil {
		return nil, fmt.Errorf("registry: record %s: %w", key, err)
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

// snapshot builds the registry the Registrar publishes, after the entries
// named in changed (by kind) changed. Lists of kinds that did not change
// are taken from prev (published snapshots are never modified, so they can
// share them); a nil prev rebuilds everything. The list wrappers (slaves,
// unreachable, gone, machines) are always set, even when empty.
func (s *state) snapshot(prev *registrypb.Registry, changes map[Kind][]changed) *registrypb.Registry {
	re := func(k Kind) bool {
		if prev == nil {
			s.lists[k] = s.ordered(k)
			return true
		}
		if ch, ok := changes[k]; ok {
			s.relist(k, ch)
			return true
		}
		return false
	}
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

// list returns the messages of the current list of kind k.
func list[T proto.Message](s *state, k Kind) []T {
	l := s.lists[k]
	if len(l) == 0 {
		return nil
	}
	out := make([]T, len(l))
	for i, it := range l {
		out[i] = it.e.msg.(T)
	}
	return out
}

// txn applies a batch of operations to the state, remembering which keys
// changed (to write them) and, for the operation in progress, what they
// held before (to undo an operation that fails half-way).
type txn struct {
	st    *state
	log   *slog.Logger
	orig  map[Key]*entry // what each changed key held before the batch
	order []Key          // the changed keys, in the order first changed
	undo  []undoRecord
}

type undoRecord struct {
	key  Key
	prev *entry // nil: the key did not exist
	seq  uint64 // st.nextSeq before the change
}

func newTxn(st *state, log *slog.Logger) *txn {
	return &txn{st: st, log: log, orig: map[Key]*entry{}}
}

// get returns the entry of kind k named name, or nil.
func (t *txn) get(k Kind, name string) proto.Message {
	if e := t.st.kinds[k][name]; e != nil {
		return e.msg
	}
	return nil
}

func (t *txn) touch(key Key) {
	prev := t.st.kinds[key.Kind][key.Name]
	t.undo = append(t.undo, undoRecord{key: key, prev: prev, seq: t.st.nextSeq})
	if _, seen := t.orig[key]; !seen {
		t.orig[key] = prev
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
	for _, it := range t.st.ordered(k) {
		f(it.name, it.e.msg)
	}
}

// begin starts an operation.
func (t *txn) begin() { t.undo = t.undo[:0] }

// rollback undoes the operation in progress. Its keys stay in the changed set;
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
func (t *txn) changes() ([]Entry, map[Kind][]changed, error) {
	var puts, dels []Entry
	kinds := map[Kind][]changed{}
	for _, key := range t.order {
		var origSeq uint64
		if o := t.orig[key]; o != nil {
			origSeq = o.seq
		}
		kinds[key.Kind] = append(kinds[key.Kind], changed{key.Name, origSeq})
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
