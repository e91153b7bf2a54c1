package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-zookeeper/zk"
)

var (
	// ErrNoMember is returned (wrapped) when a member's znode does not
	// exist (any more), and is a [Membership]'s Err when its znode was
	// deleted by someone else.
	ErrNoMember = errors.New("zookeeper: no such member")
	// ErrCancelled is a [Membership]'s Err after [Membership.Cancel].
	ErrCancelled = errors.New("zookeeper: membership cancelled")
)

// Group is a Mesos group (src/zookeeper/group.cpp): the children of one
// znode, each an ephemeral, sequential node "<label>_<sequence>" holding a
// member's data. Masters join the group at their --zk path with the label
// "json.info"; the member with the smallest sequence leads.
//
// A Group lives on one [Session]: when the session expires or is closed,
// the group's memberships are cancelled and its operations fail with the
// session's Err. Make a new session and group to carry on. A Group is safe
// for concurrent use.
type Group struct {
	s    *Session
	path string

	joinMu sync.Mutex // one Join at a time, so that an orphaned create is ours

	mu      sync.Mutex
	created bool                   // the group's znode is known to exist
	owned   map[string]*Membership // live memberships, by znode path
}

// NewGroup returns the group at path (e.g. URL.Path, "/mesos") on s.
func NewGroup(s *Session, path string) *Group {
	return &Group{s: s, path: path, owned: make(map[string]*Membership)}
}

// Path is the group's znode.
func (g *Group) Path() string { return g.path }

// Session is the group's session.
func (g *Group) Session() *Session { return g.s }

// Member is a member of a group as any client sees it.
type Member struct {
	// ID is the member's sequence number, the ZooKeeper-assigned suffix of
	// its znode. The oldest member has the smallest.
	ID int64
	// Label is the name's prefix before the last '_' ("json.info"); ""
	// for the legacy label-less members named by a bare sequence number.
	Label string
	// Path is the member's znode, e.g. "/mesos/json.info_0000000007".
	Path string
}

// Name is the member's znode name, e.g. "json.info_0000000007".
func (m Member) Name() string { return path.Base(m.Path) }

// ParseMember parses the name of a child of a group's znode as Mesos does:
// the text after the last '_' (or the whole name when there is none) must
// be a sequence number; the text before it is the label. Other children
// (e.g. "log_replicas") are not members: ok is false.
func ParseMember(groupPath, name string) (m Member, ok bool) {
	label, seq := "", name
	if i := strings.LastIndexByte(name, '_'); i >= 0 {
		label, seq = name[:i], name[i+1:]
	}
	if seq == "" || len(seq) > 19 || strings.Trim(seq, "0123456789") != "" {
		return Member{}, false
	}
	id, err := strconv.ParseInt(seq, 10, 64)
	if err != nil {
		return Member{}, false
	}
	return Member{ID: id, Label: label, Path: groupPath + "/" + name}, true
}

// Membership is a membership this client holds (Mesos's
// Group::Membership from join()). Its znode is ephemeral: it goes away when
// cancelled, when someone deletes it and when the session ends.
type Membership struct {
	Member
	g *Group

	stop       context.CancelFunc // stops the watcher
	cancelling atomic.Bool        // Cancel is deleting the znode
	cancelled  chan struct{}
	once       sync.Once
	err        error // set before cancelled is closed
}

// Cancelled is closed when the membership ends: [Membership.Cancel], its
// znode was deleted, or the session expired or was closed. Err says which.
func (m *Membership) Cancelled() <-chan struct{} { return m.cancelled }

// Err is nil while the membership lives; then [ErrCancelled],
// [ErrNoMember] (the znode was deleted) or the session's Err
// ([ErrSessionExpired], [ErrSessionClosed]).
func (m *Membership) Err() error {
	select {
	case <-m.cancelled:
		return m.err
	default:
		return nil
	}
}

// Cancel deletes the membership's znode (retrying connection loss until
// ctx ends). A membership that is already gone is not an error.
func (m *Membership) Cancel(ctx context.Context) error {
	m.cancelling.Store(true)
	err := m.g.s.Do(ctx, func(c *zk.Conn) error { return c.Delete(m.Path, -1) })
	switch {
	case err == nil, errors.Is(err, zk.ErrNoNode):
		m.end(ErrCancelled)
		return nil
	case m.g.s.Err() != nil:
		// The session is over: so is the ephemeral znode.
		m.end(m.g.s.Err())
		return nil
	}
	m.cancelling.Store(false)
	return fmt.Errorf("zookeeper: cancelling membership %s: %w", m.Path, err)
}

func (m *Membership) end(err error) {
	if errors.Is(err, ErrNoMember) && m.cancelling.Load() {
		err = ErrCancelled // our own Cancel deleted it
	}
	m.once.Do(func() {
		m.err = err
		close(m.cancelled)
		m.stop()
		m.g.mu.Lock()
		delete(m.g.owned, m.Path)
		m.g.mu.Unlock()
		if !errors.Is(err, ErrCancelled) && !errors.Is(err, ErrSessionClosed) {
			m.g.s.log.Warn("ZooKeeper group membership lost", "znode", m.Path, "error", err)
		}
	})
}

// watch follows the membership's znode until it is gone.
func (m *Membership) watch(ctx context.Context) {
	s := m.g.s
	for {
		var exists bool
		var events <-chan zk.Event
		err := s.Do(ctx, func(c *zk.Conn) error {
			var err error
			exists, _, events, err = c.ExistsW(m.Path)
			return err
		})
		switch {
		case ctx.Err() != nil:
			return
		case s.Err() != nil:
			m.end(s.Err())
			return
		case err != nil:
			// Not expected (ACLs do not guard exists); try again later.
			s.log.Warn("ZooKeeper: watching membership", "znode", m.Path, "error", err)
			if s.waitRetry(ctx) != nil {
				if s.Err() != nil {
					m.end(s.Err())
				}
				return
			}
			continue
		case !exists:
			m.end(fmt.Errorf("%w: %s was deleted", ErrNoMember, m.Path))
			return
		}
		select {
		case ev := <-events:
			if ev.Type == zk.EventNodeDeleted {
				m.end(fmt.Errorf("%w: %s was deleted", ErrNoMember, m.Path))
				return
			}
			// Data changed or the watch was dropped: look again.
		case <-ctx.Done():
			return
		case <-s.gone:
			m.end(s.Err())
			return
		}
	}
}

// Join creates an EPHEMERAL|SEQUENTIAL member "<path>/<label>_" holding
// data ("<path>/" without a label), creating the group's znode (and its
// parents) first when missing, and returns the membership. Connection loss
// is retried without ever leaving a second znode behind: a create whose
// outcome is unknown is followed by a search for a znode this session owns
// but does not know, which is then adopted. When ctx ends while a create
// is in flight, a znode it still makes is deleted.
func (g *Group) Join(ctx context.Context, label string, data []byte) (*Membership, error) {
	if strings.Contains(label, "/") {
		return nil, fmt.Errorf("zookeeper: join %s: label %q contains '/'", g.path, label)
	}
	g.joinMu.Lock()
	defer g.joinMu.Unlock()
	prefix := g.path + "/"
	if label != "" {
		prefix += label + "_"
	}
	conn := g.s.Conn()
	unknown := false // a create may have succeeded unseen
	for {
		if err := g.s.Err(); err != nil {
			return nil, err
		}
		if err := g.ensurePath(ctx); err != nil {
			return nil, fmt.Errorf("zookeeper: join %s: %w", g.path, err)
		}
		if unknown {
			p, err := g.findOrphan(ctx, label)
			if err != nil {
				return nil, fmt.Errorf("zookeeper: join %s: %w", g.path, err)
			}
			if p != "" {
				g.s.log.Debug("ZooKeeper: adopting a membership created before a connection loss", "znode", p)
				return g.adopt(p)
			}
			unknown = false
		}
		type result struct {
			path string
			err  error
		}
		res := make(chan result, 1)
		go func() {
			p, err := conn.Create(prefix, data, zk.FlagEphemeralSequential, g.s.ACL())
			res <- result{p, err}
		}()
		var r result
		select {
		case r = <-res:
		case <-ctx.Done():
			go func() {
				// Nobody would know of a znode made now; it must not stay
				// a candidate.
				if r := <-res; r.err == nil {
					_ = conn.Delete(r.path, -1)
				}
			}()
			return nil, ctx.Err()
		case <-g.s.gone:
			return nil, g.s.Err()
		}
		switch {
		case r.err == nil:
			return g.adopt(r.path)
		case errors.Is(r.err, zk.ErrNoNode):
			// The group's znode was deleted under us.
			g.mu.Lock()
			g.created = false
			g.mu.Unlock()
			continue
		case !retryable(r.err):
			return nil, fmt.Errorf("zookeeper: join %s: %w", g.path, g.s.translate(r.err))
		}
		unknown = !errors.Is(r.err, zk.ErrNoServer) // ErrNoServer: never sent
		g.s.log.Debug("ZooKeeper: join failed, retrying", "znode", prefix, "error", r.err)
		if err := g.s.waitRetry(ctx); err != nil {
			return nil, err
		}
	}
}

// adopt makes a Membership of a znode this session has created.
func (g *Group) adopt(p string) (*Membership, error) {
	mem, ok := ParseMember(g.path, path.Base(p))
	if !ok {
		return nil, fmt.Errorf("zookeeper: join %s: unexpected znode %q", g.path, p)
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Membership{Member: mem, g: g, stop: stop, cancelled: make(chan struct{})}
	g.mu.Lock()
	g.owned[m.Path] = m
	g.mu.Unlock()
	go m.watch(ctx)
	return m, nil
}

// findOrphan looks for a member with label whose ephemeral owner is this
// session but that no Membership holds: a create that succeeded although
// its reply was lost.
func (g *Group) findOrphan(ctx context.Context, label string) (string, error) {
	members, err := g.Members(ctx)
	if err != nil {
		return "", err
	}
	id := g.s.ID()
	for _, m := range members {
		g.mu.Lock()
		_, known := g.owned[m.Path]
		g.mu.Unlock()
		if known || m.Label != label {
			continue
		}
		var stat *zk.Stat
		var exists bool
		err := g.s.Do(ctx, func(c *zk.Conn) error {
			var err error
			exists, stat, err = c.Exists(m.Path)
			return err
		})
		if err != nil {
			return "", err
		}
		if exists && stat.EphemeralOwner == id {
			return m.Path, nil
		}
	}
	return "", nil
}

// ensurePath creates the group's znode and its parents (persistent, empty,
// with the session's ACL) unless they are known to exist. As in Mesos,
// "exists" and "not authorized" are fine: a parent's ACL may forbid
// creating siblings while the group's znode itself is usable.
func (g *Group) ensurePath(ctx context.Context) error {
	g.mu.Lock()
	created := g.created
	g.mu.Unlock()
	if created {
		return nil
	}
	err := g.s.Do(ctx, func(c *zk.Conn) error {
		if ok, _, err := c.Exists(g.path); err != nil || ok {
			return err
		}
		for i := 1; i <= len(g.path); i++ {
			if i < len(g.path) && g.path[i] != '/' {
				continue
			}
			_, err := c.Create(g.path[:i], nil, zk.FlagPersistent, g.s.ACL())
			if err != nil && !errors.Is(err, zk.ErrNodeExists) && !errors.Is(err, zk.ErrNoAuth) {
				return fmt.Errorf("creating %s: %w", g.path[:i], err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.created = true
	g.mu.Unlock()
	return nil
}

// Members lists the group's members, ordered by ID. A group whose znode
// does not exist has none.
func (g *Group) Members(ctx context.Context) ([]Member, error) {
	var names []string
	err := g.s.Do(ctx, func(c *zk.Conn) error {
		var err error
		names, _, err = c.Children(g.path)
		return err
	})
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("zookeeper: listing %s: %w", g.path, err)
	}
	return g.parse(names), nil
}

// Watch returns the group's members (ordered by ID) as soon as they differ
// from expected, which it compares as a set; with nil expected, as soon as
// the group has a member. It waits with a children watch, so every change
// is seen, and creates the group's znode when missing (as Mesos's group
// does on connecting). It fails when ctx ends or the session ends.
func (g *Group) Watch(ctx context.Context, expected []Member) ([]Member, error) {
	want := slices.Clone(expected)
	sortMembers(want)
	for {
		if err := g.ensurePath(ctx); err != nil {
			return nil, fmt.Errorf("zookeeper: watching %s: %w", g.path, err)
		}
		var names []string
		var events <-chan zk.Event
		err := g.s.Do(ctx, func(c *zk.Conn) error {
			var err error
			names, _, events, err = c.ChildrenW(g.path)
			return err
		})
		switch {
		case errors.Is(err, zk.ErrNoNode):
			g.mu.Lock()
			g.created = false
			g.mu.Unlock()
			continue
		case err != nil:
			return nil, fmt.Errorf("zookeeper: watching %s: %w", g.path, err)
		}
		members := g.parse(names)
		if !slices.Equal(members, want) {
			return members, nil
		}
		select {
		case <-events:
			// Children changed, the group's znode was deleted, or the
			// watch was dropped with the session: look again.
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-g.s.gone:
			return nil, g.s.Err()
		}
	}
}

// Data returns a member's data; [ErrNoMember] (wrapped) when its znode is
// gone.
func (g *Group) Data(ctx context.Context, m Member) ([]byte, error) {
	var data []byte
	err := g.s.Do(ctx, func(c *zk.Conn) error {
		var err error
		data, _, err = c.Get(m.Path)
		return err
	})
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return nil, fmt.Errorf("%w: %s", ErrNoMember, m.Path)
	case err != nil:
		return nil, fmt.Errorf("zookeeper: reading %s: %w", m.Path, err)
	}
	return data, nil
}

func (g *Group) parse(names []string) []Member {
	var members []Member
	for _, name := range names {
		if m, ok := ParseMember(g.path, name); ok {
			members = append(members, m)
		}
	}
	sortMembers(members)
	return members
}

func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int {
		if a.ID != b.ID {
			if a.ID < b.ID {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Path, b.Path)
	})
}
