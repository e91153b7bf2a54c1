package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// BoltStore keeps the registry in a bbolt file, for a master without
// ZooKeeper. Every Write is one bbolt transaction, fsynced before Write
// returns (bbolt's default), so what the Registrar acknowledges survives a
// crash of the process or the machine. The file is locked (flock) while
// open: a second master on the same file fails to open it with ErrLocked
// after the lock timeout, which is what fences it.
type BoltStore struct {
	db        *bolt.DB
	path      string
	recovered atomic.Bool
	closed    atomic.Bool
}

var _ Store = (*BoltStore)(nil)

// DefaultBoltLockTimeout is how long OpenBoltStore waits for the file's
// lock.
const DefaultBoltLockTimeout = time.Second

// BoltFileName is the registry file's conventional name in the master's
// --work_dir.
const BoltFileName = "registry.db"

// The file's schema, declared once: one bucket per Kind (named as the kind)
// holding records by name, and a meta bucket with the format version.
var (
	boltMeta      = []byte("meta")
	boltFormatKey = []byte("format")
	boltFormat    = []byte("meso-registry-1")
)

// OpenBoltStore opens (creating it if needed) the registry file at path and
// takes its lock, waiting at most lockTimeout (0: DefaultBoltLockTimeout).
// A file held by another master gives an error wrapping ErrLocked.
func OpenBoltStore(path string, lockTimeout time.Duration) (*BoltStore, error) {
	if lockTimeout <= 0 {
		lockTimeout = DefaultBoltLockTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (its lock was not free within %s; is another master using it?)", ErrLocked, path, lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("registry: opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(boltMeta)
		if err != nil {
			return err
		}
		switch f := meta.Get(boltFormatKey); {
		case f == nil:
			if err := meta.Put(boltFormatKey, boltFormat); err != nil {
				return err
			}
		case !bytes.Equal(f, boltFormat):
			return fmt.Errorf("unknown format %q (want %q)", f, boltFormat)
		}
		for _, k := range Kinds {
			if _, err := tx.CreateBucketIfNotExists([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("registry: initializing %s: %w", path, err)
	}
	return &BoltStore{db: db, path: path}, nil
}

// Recover implements Store. The file's lock already keeps other masters
// out, so there is nothing to fence.
func (s *BoltStore) Recover(ctx context.Context) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, k := range Kinds {
			b := tx.Bucket([]byte(k))
			if b == nil {
				return fmt.Errorf("bucket %s is missing", k)
			}
			err := b.ForEach(func(name, value []byte) error {
				out = append(out, Entry{Key: Key{Kind: k, Name: string(name)}, Value: slices.Clone(value)})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("reading", err)
	}
	s.recovered.Store(true)
	return out, nil
}

// Write implements Store: one transaction, fsynced on commit.
func (s *BoltStore) Write(ctx context.Context, changes []Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case s.closed.Load():
		return ErrClosed
	case !s.recovered.Load():
		return ErrNotRecovered
	}
	for _, c := range changes {
		if err := c.Key.Valid(); err != nil {
			return err
		}
	}
	if len(changes) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, c := range changes {
			b := tx.Bucket([]byte(c.Key.Kind))
			if c.Value == nil {
				if err := b.Delete([]byte(c.Key.Name)); err != nil {
					return err
				}
				continue
			}
			if err := b.Put([]byte(c.Key.Name), c.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.wrap("writing", err)
	}
	return nil
}

func (s *BoltStore) wrap(what string, err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return fmt.Errorf("registry: %s %s: %w", what, s.path, err)
}

// Close implements Store: it closes the file and releases its lock.
func (s *BoltStore) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}
