package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Store keeps the registry's records durably: a set of keys, each holding
// one encoded entry of the registry (an agent, a role's weight, ...). The
// Registrar is its only user; it reads everything once (Recover) and then
// writes what each batch of operations changed (Write). Three
// implementations live beside it: MemoryStore (tests, --registry=in_memory),
// BoltStore (a file, for a single master) and ZKStore (ZooKeeper, for
// masters in HA).
//
// Lifecycle. A Store is created by its constructor without touching the
// data (BoltStore's constructor does take the file's lock). Recover must
// succeed before Write; Close ends the store, after which every method
// returns ErrClosed. Close does not close what the caller handed in (a
// *zk.Conn).
//
// Concurrency. Methods are safe for concurrent use. Writes never overlap:
// concurrent calls are applied one after the other, in an unspecified order.
// The Registrar issues one call at a time.
//
// Atomicity. Write applies its changes in order and all or nothing, with one
// exception: a store whose transactions are bounded in size (ZooKeeper's
// requests are limited to about 1 MB) splits a write that does not fit into
// several transactions, applied in order. When such a write fails, a prefix
// of those transactions may have been applied. The Registrar writes new and
// changed entries before deletions, so a torn write leaves an entry in two
// places rather than in none, and Recover resolves that by the entries'
// sequence numbers.
//
// Durability. When Write returns nil its changes are durable: they survive
// a crash of this process (BoltStore: the file is fsynced; ZKStore: a quorum
// of ZooKeeper servers has logged them) and are seen by Recover of any
// later store on the same data. A Write that fails or is cut short by ctx
// may or may not have been applied; the Registrar then stops writing.
//
// Fencing. Recover makes this store the only writer of its data. A store on
// the same data that recovered before (a deposed leader still running)
// fails every later Write with an error wrapping ErrFenced, and applies
// none of that write. Stores that cannot be shared satisfy this by refusing
// to open a second time (BoltStore: ErrLocked).
type Store interface {
	// Recover takes over the data for this store (fencing out earlier
	// writers) and returns every record, in no particular order. It may be
	// called again; each call fences anew and reads everything.
	Recover(ctx context.Context) ([]Entry, error)

	// Write applies changes in order: an Entry with a non-nil Value puts
	// that value under its key, one with a nil Value deletes the key
	// (deleting a missing key is not an error). Every key must be valid
	// (Key.Valid). An empty write succeeds without touching the data.
	Write(ctx context.Context, changes []Entry) error

	// Close releases the store. It is idempotent.
	Close() error
}

// Errors of the stores.
var (
	// ErrFenced means another store recovered the same data after this one:
	// this store's master has been deposed and must stop writing.
	ErrFenced = errors.New("registry: fenced: another master has recovered the registry since this one did")

	// ErrLocked means a BoltStore's file is held by another process (or
	// another BoltStore in this one).
	ErrLocked = errors.New("registry: registry file is locked by another master")

	// ErrNotRecovered is returned by a Store's Write, and wrapped by the
	// Registrar's Apply, before Recover has succeeded.
	ErrNotRecovered = errors.New("registry: not recovered")

	// ErrClosed is returned after Close (of a Store or the Registrar).
	ErrClosed = errors.New("registry: closed")

	// ErrInvalidKey is returned for a key of an unknown kind or with an
	// invalid name.
	ErrInvalidKey = errors.New("registry: invalid key")
)

// Kind is the part of the registry a record belongs to: a bucket in bbolt, a
// directory znode in ZooKeeper.
type Kind string

// The kinds of records, one per list of the registry. This is the stores'
// schema, declared once: BoltStore creates one bucket per kind and ZKStore
// one znode per kind, in this order.
const (
	KindMaster              Kind = "master"               // the one record "info": the last leader's MasterInfo
	KindAgents              Kind = "agents"               // admitted agents, by agent ID
	KindUnreachable         Kind = "unreachable"          // unreachable agents, by agent ID
	KindGone                Kind = "gone"                 // gone agents, by agent ID
	KindMachines            Kind = "machines"             // machines under maintenance, by machine ID
	KindSchedules           Kind = "schedules"            // maintenance schedules, by position
	KindQuotas              Kind = "quotas"               // pre-1.9 quotas, by role
	KindQuotaConfigs        Kind = "quota_configs"        // quota configs, by role
	KindWeights             Kind = "weights"              // weights, by role
	KindMinimumCapabilities Kind = "minimum_capabilities" // minimum capabilities, by name
)

// Kinds lists every kind.
var Kinds = []Kind{
	KindMaster, KindAgents, KindUnreachable, KindGone, KindMachines, KindSchedules,
	KindQuotas, KindQuotaConfigs, KindWeights, KindMinimumCapabilities,
}

func (k Kind) valid() bool {
	for _, kk := range Kinds {
		if k == kk {
			return true
		}
	}
	return false
}

// Key names one record: its kind and its name within the kind. Names are
// made by the Registrar from IDs and roles with every byte outside
// [A-Za-z0-9._-] percent-escaped, so they are valid bbolt keys and znode
// names; String gives "<kind>/<name>".
type Key struct {
	Kind Kind
	Name string
}

func (k Key) String() string { return string(k.Kind) + "/" + k.Name }

// Valid reports whether k can be stored: a known kind and a non-empty name
// that is not "." or ".." and holds no '/' and no NUL.
func (k Key) Valid() error {
	if !k.Kind.valid() {
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidKey, k.Kind)
	}
	if k.Name == "" || k.Name == "." || k.Name == ".." || strings.ContainsAny(k.Name, "/\x00") {
		return fmt.Errorf("%w: bad name %q in %s", ErrInvalidKey, k.Name, k.Kind)
	}
	return nil
}

// Entry is a record (Recover) or a change (Write): a key and its value. A
// value is an encoded registrypb.Record; stores treat it as opaque bytes. In
// a Write, a nil Value deletes the key.
type Entry struct {
	Key   Key
	Value []byte
}
