package registry

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/go-zookeeper/zk"
)

// ZKStore keeps the registry in ZooKeeper, for masters in HA: any master
// can recover it after a failover. The layout under the master's ZooKeeper
// path (--zk's path, e.g. /mesos):
//
//	<path>/registry                      persistent, empty
//	<path>/registry/fence                persistent, empty; its data version is the fencing token
//	<path>/registry/<kind>               one per Kind
//	<path>/registry/<kind>/<name>        one per record, data = the encoded record
//
// One znode per record keeps every write small, well under ZooKeeper's
// 1 MB request limit whatever the size of the cluster. Detectors ignore the
// "registry" child of <path>: it is not a sequence node.
//
// Fencing: Recover bumps the fence's data version and remembers the new
// version; every Write is a ZooKeeper multi that starts with a check of that
// version, so once another master has recovered, every multi of this one
// fails as a whole (ErrFenced) and changes nothing. A Write too large for one
// multi (more than zkMaxMultiBytes) is split into several, each fenced,
// applied in order.
//
// The store uses the *zk.Conn it is given and never closes it. When the
// session expires the conn's calls fail, and so do Writes: the Registrar
// aborts and the master, having lost its leadership anyway, exits.
type ZKStore struct {
	conn  *zk.Conn
	root  string // <path>/registry
	fence string
	acl   []zk.ACL

	mu        sync.Mutex
	version   int32 // the fence's version at Recover
	recovered bool
	broken    error // set when a multi was abandoned and its outcome is unknown
	closed    bool
	exists    map[Key]bool // the records as this store last knew them
}

var _ Store = (*ZKStore)(nil)

// zkMaxMultiBytes bounds the data and paths of one multi, leaving ample
// room under ZooKeeper's default jute.maxbuffer (1 MB) for headers.
const zkMaxMultiBytes = 512 << 10

// zkReaders is how many records Recover reads at once (the conn pipelines
// them; 40,000 records read in about 4 s on a 2-core machine).
const zkReaders = 64

// NewZKStore returns a store under zkPath (e.g. "/mesos") on conn. acl is
// given to the znodes it creates; nil means open (world:anyone, all), as
// Mesos's contender uses without credentials.
func NewZKStore(conn *zk.Conn, zkPath string, acl []zk.ACL) (*ZKStore, error) {
	if conn == nil {
		return nil, errors.New("registry: nil ZooKeeper connection")
	}
	if !strings.HasPrefix(zkPath, "/") {
		return nil, fmt.Errorf("registry: ZooKeeper path %q is not absolute", zkPath)
	}
	if acl == nil {
		acl = zk.WorldACL(zk.PermAll)
	}
	root := path.Join(zkPath, "registry")
	return &ZKStore{conn: conn, root: root, fence: root + "/fence", acl: acl}, nil
}

func (s *ZKStore) dir(k Kind) string { return s.root + "/" + string(k) }

func (s *ZKStore) znode(k Key) string { return s.root + "/" + string(k.Kind) + "/" + k.Name }

// Recover implements Store: it creates the layout if needed, bumps the fence
// and then reads every record (after the bump, so that no write of an
// earlier master can land unseen).
func (s *ZKStore) Recover(ctx context.Context) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.recovered = false
	for _, p := range s.layout() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := s.conn.Create(p, nil, 0, s.acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return nil, fmt.Errorf("registry: creating %s: %w", p, err)
		}
	}
	stat, err := s.conn.Set(s.fence, nil, -1)
	if err != nil {
		return nil, fmt.Errorf("registry: bumping the fence %s: %w", s.fence, err)
	}
	var keys []Key
	for _, k := range Kinds {
		names, _, err := s.conn.Children(s.dir(k))
		if err != nil {
			return nil, fmt.Errorf("registry: listing %s: %w", s.dir(k), err)
		}
		for _, n := range names {
			keys = append(keys, Key{Kind: k, Name: n})
		}
	}
	entries, err := s.readAll(ctx, keys)
	if err != nil {
		return nil, err
	}
	s.exists = make(map[Key]bool, len(entries))
	for _, e := range entries {
		s.exists[e.Key] = true
	}
	s.version, s.recovered, s.broken = stat.Version, true, nil
	return entries, nil
}

// layout lists the znodes Recover makes sure exist, parents first.
func (s *ZKStore) layout() []string {
	var out []string
	parts := strings.Split(strings.TrimPrefix(s.root, "/"), "/")
	for i := range parts {
		out = append(out, "/"+strings.Join(parts[:i+1], "/"))
	}
	out = append(out, s.fence)
	for _, k := range Kinds {
		out = append(out, s.dir(k))
	}
	return out
}

// readAll reads the records of keys, zkReaders at a time (the conn
// pipelines the requests). A record deleted meanwhile is skipped.
func (s *ZKStore) readAll(ctx context.Context, keys []Key) ([]Entry, error) {
	type res struct {
		e   Entry
		ok  bool
		err error
	}
	work := make(chan Key)
	results := make(chan res, len(keys))
	var wg sync.WaitGroup
	for range min(zkReaders, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				data, _, err := s.conn.Get(s.znode(k))
				switch {
				case errors.Is(err, zk.ErrNoNode):
					results <- res{}
				case err != nil:
					results <- res{err: fmt.Errorf("registry: reading %s: %w", s.znode(k), err)}
				default:
					results <- res{e: Entry{Key: k, Value: data}, ok: true}
				}
			}
		}()
	}
	var ctxErr error
	for _, k := range keys {
		if ctxErr = ctx.Err(); ctxErr != nil {
			break
		}
		work <- k
	}
	close(work)
	wg.Wait()
	close(results)
	if ctxErr != nil {
		return nil, ctxErr
	}
	out := make([]Entry, 0, len(keys))
	for r := range results {
		if r.err != nil {
			return nil, r.err
		}
		if r.ok {
			out = append(out, r.e)
		}
	}
	return out, nil
}

// Write implements Store: the changes become creates, sets and deletes
// (this store knows which records exist: it is their only writer since it
// recovered), grouped into fenced multis of at most zkMaxMultiBytes.
func (s *ZKStore) Write(ctx context.Context, changes []Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, c := range changes {
		if err := c.Key.Valid(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case !s.recovered:
		return ErrNotRecovered
	case s.broken != nil:
		return s.broken
	}
	type op struct {
		req    any
		key    Key
		exists bool // after the op
		size   int
	}
	var ops []op
	exists := map[Key]bool{} // overlay of this write's own changes
	has := func(k Key) bool {
		if e, ok := exists[k]; ok {
			return e
		}
		return s.exists[k]
	}
	for _, c := range changes {
		p := s.znode(c.Key)
		switch {
		case c.Value == nil && has(c.Key):
			ops = append(ops, op{req: &zk.DeleteRequest{Path: p, Version: -1}, key: c.Key, size: len(p) + 16})
			exists[c.Key] = false
		case c.Value == nil:
		case has(c.Key):
			ops = append(ops, op{req: &zk.SetDataRequest{Path: p, Data: c.Value, Version: -1}, key: c.Key, exists: true, size: len(p) + len(c.Value) + 16})
			exists[c.Key] = true
		default:
			ops = append(ops, op{req: &zk.CreateRequest{Path: p, Data: c.Value, Acl: s.acl}, key: c.Key, exists: true, size: len(p) + len(c.Value) + 64})
			exists[c.Key] = true
		}
	}
	for len(ops) > 0 {
		n, size := 0, 0
		for n < len(ops) && (n == 0 || size+ops[n].size <= zkMaxMultiBytes) {
			size += ops[n].size
			n++
		}
		reqs := make([]any, 0, n+1)
		reqs = append(reqs, &zk.CheckVersionRequest{Path: s.fence, Version: s.version})
		for _, o := range ops[:n] {
			reqs = append(reqs, o.req)
		}
		if err := s.multi(ctx, reqs); err != nil {
			return err
		}
		for _, o := range ops[:n] {
			if o.exists {
				s.exists[o.key] = true
			} else {
				delete(s.exists, o.key)
			}
		}
		ops = ops[n:]
	}
	return nil
}

// multi runs one multi, or gives up when ctx ends first (the multi's
// outcome is then unknown, and the store refuses further writes until it
// recovers again).
func (s *ZKStore) multi(ctx context.Context, reqs []any) error {
	type res struct {
		resp []zk.MultiResponse
		err  error
	}
	done := make(chan res, 1)
	go func() {
		resp, err := s.conn.Multi(reqs...)
		done <- res{resp, err}
	}()
	var r res
	select {
	case r = <-done:
	case <-ctx.Done():
		s.broken = fmt.Errorf("registry: a ZooKeeper write was abandoned (%w); its outcome is unknown", ctx.Err())
		return ctx.Err()
	}
	if r.err == nil {
		return nil
	}
	if len(r.resp) > 0 && (errors.Is(r.resp[0].Error, zk.ErrBadVersion) || errors.Is(r.resp[0].Error, zk.ErrNoNode)) {
		return fmt.Errorf("%w (the fence %s is no longer at version %d)", ErrFenced, s.fence, s.version)
	}
	// The multi's error is its failing op's; ops after it report a runtime
	// inconsistency.
	for i, x := range r.resp {
		if i > 0 && i < len(reqs) && errors.Is(x.Error, r.err) {
			return fmt.Errorf("registry: ZooKeeper multi failed at %s: %w", opPath(reqs[i]), r.err)
		}
	}
	return fmt.Errorf("registry: ZooKeeper multi failed: %w", r.err)
}

func opPath(req any) string {
	switch r := req.(type) {
	case *zk.CreateRequest:
		return r.Path
	case *zk.SetDataRequest:
		return r.Path
	case *zk.DeleteRequest:
		return r.Path
	case *zk.CheckVersionRequest:
		return r.Path
	}
	return "?"
}

// Close implements Store. It does not close the conn.
func (s *ZKStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
