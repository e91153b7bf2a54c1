// Package zookeeper is the ZooKeeper layer of Mesos's master high
// availability: zk:// URLs, sessions, and Mesos's group membership
// (src/zookeeper/{url,group}.cpp), on github.com/go-zookeeper/zk.
//
// The three pieces:
//
//   - [ParseURL] reads "zk://[user:password@]host1:port1,host2:port2/path"
//     (and "file:///path" holding one). Credentials mean "digest"
//     authentication and the ACL "world:read + creator:all" on created
//     znodes; without them znodes are open.
//   - [Connect] opens a [Session]. A session is one ZooKeeper session and
//     never silently becomes another: when it expires — ZooKeeper said so,
//     or a disconnected client has not heard from ZooKeeper for the session
//     timeout — [Session.Expired] is closed, its ephemeral znodes are gone
//     and every operation fails with [ErrSessionExpired]. Operations retry
//     connection loss every [RetryInterval], as Mesos does, and honour
//     contexts.
//   - A [Group] is the children of one znode (a master's --zk path). Join
//     adds an EPHEMERAL|SEQUENTIAL child "<label>_<sequence>"
//     (json.info_0000000007); Watch reports the members when they change;
//     Data reads one. The member with the smallest sequence is the oldest —
//     the leader, for pkg/detector and internal/master/contender.
//
// What happens on expiry is the caller's choice: Mesos's master exits when
// it loses leadership, detectors connect again.
package zookeeper
