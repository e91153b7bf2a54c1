// Package contender enters a master into the election for leadership
// (Mesos's MasterContender): [Standalone] for a master without --zk, which
// leads at once, and [ZooKeeper] for masters sharing a --zk group, where
// the oldest member leads.
//
// How the master uses it (Mesos's Master::contended and lostCandidacy):
//
//	lost, err := c.Contend(ctx, info) // blocks until this master is elected
//	if err != nil { ... }             // the election failed, or the candidacy was lost first
//	// recover the registry, then serve as the leader
//	<-lost                            // no longer the leader: exit the process
//
// A master that loses leadership exits ("commits suicide", in Mesos's
// words) and leaves the restart to its supervisor, rather than trying to
// step down in place: its in-memory state (frameworks, offers, tasks)
// describes a cluster that another leader may already be changing, and the
// only safe way to drop all of it is to start afresh. For that to be safe
// the loss must be known promptly: a [ZooKeeper] contender reports it as
// soon as its ZooKeeper client learns that its session expired, and a
// partitioned one no later than the session timeout after it last heard
// from ZooKeeper — about when ZooKeeper itself expires the session and
// lets another master be elected.
package contender

import (
	"context"
	"errors"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// ErrLost is returned (wrapped, with the reason) by Contend when the
// candidacy ended before this master was elected: its ZooKeeper session
// expired or its znode was deleted.
var ErrLost = errors.New("contender: candidacy lost")

// Contender enters this master into the election.
//
// Contract: Contend makes this master a candidate, publishing info (for
// ZooKeeper: in a znode that detectors read), and blocks until it is
// elected. It then returns lost, a channel closed when the candidacy ends:
// the leadership is lost, or ctx ended. ctx scopes the whole candidacy, not
// only the call: when it ends the candidacy is withdrawn (for ZooKeeper:
// its znode is deleted, so the next master is elected at once). Contend
// returns ctx's error if ctx ends before the election, and an error
// wrapping [ErrLost] if the candidacy ends before it. A master calls
// Contend once; a standby whose candidacy was lost may call it again.
// Contend is safe for concurrent use, but concurrent calls are separate
// candidates.
type Contender interface {
	Contend(ctx context.Context, info *mesospb.MasterInfo) (lost <-chan struct{}, err error)
}

// Standalone is the contender of a master without ZooKeeper (Mesos's
// StandaloneMasterContender): Contend returns at once, elected, and the
// leadership is only lost when ctx ends.
type Standalone struct{}

var _ Contender = Standalone{}

// Contend implements [Contender].
func (Standalone) Contend(ctx context.Context, _ *mesospb.MasterInfo) (<-chan struct{}, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ctx.Done(), nil
}
