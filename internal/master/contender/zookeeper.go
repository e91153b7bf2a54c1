package contender

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/zookeeper"
)

// Label is the label of masters' znodes, "json.info" (the data is
// MasterInfo in the Mesos JSON dialect, as Mesos writes it from its v0
// MasterInfo: capability 3 is "QUOTA_V2"). Detectors know it as
// detector.LabelJSON.
const Label = "json.info"

// withdrawTimeout bounds the deletion of a withdrawn candidacy's znode;
// should it fail, the znode goes with the session.
const withdrawTimeout = 5 * time.Second

// ZooKeeper is the contender of masters sharing a ZooKeeper group (Mesos's
// ZooKeeperMasterContender). A candidacy is an EPHEMERAL|SEQUENTIAL znode
// "<path>/json.info_<sequence>" holding the master's MasterInfo as compact
// Mesos JSON — what a Mesos master writes, so that Mesos's own detectors
// (agents, schedulers, CLIs) find a meso master. It is elected when it is
// the group's oldest member (smallest sequence, whatever the members'
// labels, as detectors count), and lost when its znode goes: the session
// expired (see [zookeeper.Session] for how soon a partitioned client
// knows) or someone deleted it.
//
// The session belongs to the caller, who may share it with the registry's
// ZooKeeper store so that leadership and registry access end together. A
// contender never replaces it: once it has expired, Contend fails with
// [zookeeper.ErrSessionExpired] and the caller makes a new session (or, as
// a master does, exits).
type ZooKeeper struct {
	session *zookeeper.Session
	path    string
	log     *slog.Logger
}

var _ Contender = (*ZooKeeper)(nil)

// NewZooKeeper returns a contender in the group at path (the --zk URL's
// path) on session. A nil logger discards.
func NewZooKeeper(session *zookeeper.Session, path string, logger *slog.Logger) *ZooKeeper {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ZooKeeper{session: session, path: path, log: logger}
}

// Contend implements [Contender]. info must have its required fields.
func (z *ZooKeeper) Contend(ctx context.Context, info *mesospb.MasterInfo) (<-chan struct{}, error) {
	data, err := codec.MarshalJSONV0(info)
	if err != nil {
		return nil, fmt.Errorf("contender: MasterInfo: %w", err)
	}
	g := zookeeper.NewGroup(z.session, z.path)
	m, err := g.Join(ctx, Label, data)
	if err != nil {
		return nil, fmt.Errorf("contender: joining %s: %w", z.path, err)
	}
	z.log.Info("contender: this master is a candidate for leadership", "znode", m.Path)
	elected := make(chan struct{})
	lost := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		z.follow(ctx, g, m, elected, lost)
	}()
	select {
	case <-elected:
		return lost, nil
	case <-lost:
		<-done
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrLost, m.Path, m.Err())
	}
}

// follow runs a candidacy: it closes elected once the membership is the
// group's oldest, and lost when the membership ends or ctx does (deleting
// the znode then). elected is never closed after lost.
func (z *ZooKeeper) follow(ctx context.Context, g *zookeeper.Group, m *zookeeper.Membership, elected, lost chan struct{}) {
	watchCtx, stopWatch := context.WithCancel(ctx)
	won := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if z.watchElection(watchCtx, g, m) {
			close(won)
		}
	}()
	leading := false
	for over := false; !over; {
		select {
		case <-won:
			won = nil
			if m.Err() == nil {
				leading = true
				z.log.Info("contender: elected as the leading master", "znode", m.Path)
				close(elected)
			}
		case <-m.Cancelled():
			over = true
			if leading {
				z.log.Error("contender: leadership lost", "znode", m.Path, "error", m.Err())
			} else {
				z.log.Warn("contender: candidacy lost", "znode", m.Path, "error", m.Err())
			}
		case <-ctx.Done():
			over = true
			// Withdrawn: let the next master in without waiting for the
			// session to end.
			cctx, cancel := context.WithTimeout(context.Background(), withdrawTimeout)
			if err := m.Cancel(cctx); err != nil {
				z.log.Warn("contender: deleting a withdrawn candidacy's znode", "znode", m.Path, "error", err)
			}
			cancel()
		}
	}
	close(lost)
	stopWatch()
	<-watched
}

// watchElection waits until the membership is the group's oldest member
// and reports true; false when ctx or the session ends first. Nobody can
// become older, so once elected there is nothing more to watch.
func (z *ZooKeeper) watchElection(ctx context.Context, g *zookeeper.Group, m *zookeeper.Membership) bool {
	var members []zookeeper.Member
	for {
		var err error
		members, err = g.Watch(ctx, members)
		if err != nil {
			return false // the session or ctx ended: follow reports it
		}
		if len(members) > 0 && members[0].Path == m.Path {
			return true
		}
		// Not the oldest, or no longer in the group (Cancelled will say).
	}
}
