package detector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/zookeeper"
)

// The labels of masters' group members (spec §5.2).
const (
	// LabelJSON is what Mesos masters since 0.24 write: MasterInfo in the
	// Mesos JSON dialect.
	LabelJSON = "json.info"
	// LabelProtobuf is the older binary protobuf MasterInfo.
	LabelProtobuf = "info"
)

// ErrMasterData is returned (wrapped) for a leading member whose data
// cannot be understood.
var ErrMasterData = errors.New("detector: bad master data in ZooKeeper")

// Options configure a [ZooKeeper] detector.
type Options struct {
	// SessionTimeout is the ZooKeeper session timeout
	// (zookeeper.DefaultSessionTimeout, 10 s, when zero).
	SessionTimeout time.Duration
	// Logger receives leader changes and ZooKeeper trouble (discarded when
	// nil).
	Logger *slog.Logger
}

// ZooKeeper detects the leading master from the masters' ZooKeeper group
// (Mesos's ZooKeeperMasterDetector): the member with the smallest sequence
// leads, and its data says where it is (see [DecodeLeader]).
//
// It connects on the first Detect and then follows the group with a
// children watch, reading the leader's data whenever the leading member
// changes. A leading member whose data cannot be read or understood is
// logged and means "no leader" until the group changes. When its session
// expires, the detector keeps reporting the last leader it knew while it
// connects again with a new session, then carries on from what the group
// holds by then.
type ZooKeeper struct {
	url *zookeeper.URL
	opt Options
	log *slog.Logger
	st  *Standalone // the current leader, and waking waiters

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

var _ Detector = (*ZooKeeper)(nil)

// NewZooKeeper returns a detector for a "zk://" URL (or a "file://" path
// holding one). It does not connect before the first Detect.
func NewZooKeeper(url string, opts Options) (*ZooKeeper, error) {
	u, err := zookeeper.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMaster, err)
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = zookeeper.DefaultSessionTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &ZooKeeper{
		url: u,
		opt: opts,
		log: opts.Logger.With("zk", u.Redacted()),
		st:  NewStandalone(nil),
	}, nil
}

// Detect implements [Detector].
func (d *ZooKeeper) Detect(ctx context.Context, previous *Leader) (*Leader, error) {
	d.start()
	return d.st.Detect(ctx, previous)
}

// Close stops following the group, closes the session and wakes waiting
// callers with [ErrClosed]. It is idempotent.
func (d *ZooKeeper) Close() error {
	d.mu.Lock()
	closed, started := d.closed, d.started
	d.closed = true
	d.mu.Unlock()
	if closed {
		return nil
	}
	if started {
		d.cancel()
		<-d.done
	}
	return d.st.Close()
}

func (d *ZooKeeper) start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.closed {
		return
	}
	d.started = true
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go d.run(ctx)
}

// follower is the state of the goroutine following the group.
type follower struct {
	d      *ZooKeeper
	leader *Leader // what Detect reports
	member string  // the leading member's znode whose data gave leader
}

func (d *ZooKeeper) run(ctx context.Context) {
	defer close(d.done)
	f := &follower{d: d}
	for ctx.Err() == nil {
		s, err := zookeeper.Connect(ctx, d.url, d.opt.SessionTimeout, d.log)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.log.Warn("detector: connecting to ZooKeeper", "error", err)
			select {
			case <-time.After(zookeeper.RetryInterval):
			case <-ctx.Done():
				return
			}
			continue
		}
		err = f.follow(ctx, zookeeper.NewGroup(s, d.url.Path))
		s.Close()
		if ctx.Err() == nil {
			d.log.Warn("detector: lost the ZooKeeper session; connecting again", "error", err)
		}
	}
}

// follow tracks the group until the session ends (or ctx).
func (f *follower) follow(ctx context.Context, g *zookeeper.Group) error {
	// The group may have changed in any way since the last session.
	members, err := g.Members(ctx)
	for err == nil {
		if err = f.update(ctx, g, members); err != nil {
			break
		}
		members, err = g.Watch(ctx, members)
	}
	return err
}

// update reports the leader of members: the one with the smallest
// sequence, whatever its label (as Mesos's LeaderDetector elects).
func (f *follower) update(ctx context.Context, g *zookeeper.Group, members []zookeeper.Member) error {
	if len(members) == 0 {
		f.member = ""
		f.appoint(nil, "")
		return nil
	}
	m := members[0]
	if m.Path == f.member {
		return nil
	}
	leader, err := f.fetch(ctx, g, m)
	if err != nil {
		return err
	}
	f.member = m.Path
	f.appoint(leader, m.Path)
	return nil
}

// fetch reads and decodes a leading member's data. A member that is gone
// or whose data is bad gives no leader; only the session's end (or ctx's)
// is an error.
func (f *follower) fetch(ctx context.Context, g *zookeeper.Group, m zookeeper.Member) (*Leader, error) {
	data, err := g.Data(ctx, m)
	switch {
	case errors.Is(err, zookeeper.ErrNoMember):
		// It went before we could read it: no leader until the group
		// shows the next one.
		return nil, nil
	case err != nil:
		return nil, err
	}
	leader, err := DecodeLeader(m.Label, data)
	if err != nil {
		f.d.log.Error("detector: cannot tell where the leading master is", "znode", m.Path, "error", err)
		return nil, nil
	}
	return leader, nil
}

func (f *follower) appoint(l *Leader, znode string) {
	if Same(l, f.leader) {
		return
	}
	f.leader = l
	if l == nil {
		f.d.log.Info("detector: no leading master")
	} else {
		f.d.log.Info("detector: new leading master", "leader", l.String(), "master_id", l.Info.GetId(), "znode", znode)
	}
	f.d.st.Appoint(l)
}

// DecodeLeader reads a master group member's data according to its label
// (Mesos's ZooKeeperMasterDetectorProcess::fetched):
//
//   - "json.info": MasterInfo in the Mesos JSON dialect, written by Mesos
//     from its v0 MasterInfo (capability "QUOTA_V2" is kept as its number);
//   - "info": binary protobuf MasterInfo;
//   - no label: a libprocess PID, "master@10.0.0.1:5050" (Mesos before
//     0.20); Leader.Info then holds what the PID tells.
//
// Other labels are an error. The leader's host is MasterInfo's
// address.hostname, else hostname, else address.ip, else ip; its port is
// MasterInfo's port.
func DecodeLeader(label string, data []byte) (*Leader, error) {
	info := &mesospb.MasterInfo{}
	switch label {
	case LabelJSON:
		if err := codec.UnmarshalJSONV0(data, info); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMasterData, label, err)
		}
	case LabelProtobuf:
		if err := codec.Unmarshal(codec.Protobuf, data, info); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMasterData, label, err)
		}
	case "":
		var err error
		if info, err = infoFromPID(string(data)); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: unknown label %q", ErrMasterData, label)
	}
	return leaderFromInfo(info)
}

func leaderFromInfo(info *mesospb.MasterInfo) (*Leader, error) {
	host := info.GetAddress().GetHostname()
	if host == "" {
		host = info.GetHostname()
	}
	if host == "" {
		host = info.GetAddress().GetIp()
	}
	if host == "" && info.GetIp() != 0 {
		host = unpackIP(info.GetIp()).String()
	}
	port := info.GetPort()
	if host == "" || port == 0 || port > 65535 {
		return nil, fmt.Errorf("%w: MasterInfo without a usable address (host %q, port %d)", ErrMasterData, host, port)
	}
	return &Leader{Host: host, Port: int(port), Info: info}, nil
}

// infoFromPID makes MasterInfo from a libprocess PID, as Mesos's
// createMasterInfo(UPID) does (id: the PID; no hostname lookup).
func infoFromPID(pid string) (*mesospb.MasterInfo, error) {
	pid = strings.TrimSpace(pid)
	id, addr, ok := strings.Cut(pid, "@")
	host, portText, err := net.SplitHostPort(addr)
	port, perr := strconv.ParseUint(portText, 10, 16)
	printable := utf8.ValidString(pid) && !strings.ContainsFunc(pid, unicode.IsControl) && !strings.ContainsAny(pid, " /")
	if !ok || id == "" || err != nil || host == "" || perr != nil || port == 0 || !printable {
		return nil, fmt.Errorf("%w: bad PID %q", ErrMasterData, pid)
	}
	info := &mesospb.MasterInfo{
		Id:      proto.String(pid),
		Ip:      proto.Uint32(0),
		Port:    proto.Uint32(uint32(port)),
		Pid:     proto.String(pid),
		Address: &mesospb.Address{Port: proto.Int32(int32(port))},
	}
	if ip := net.ParseIP(host); ip != nil {
		info.Address.Ip = proto.String(ip.String())
		if v4 := ip.To4(); v4 != nil {
			info.Ip = proto.Uint32(uint32(v4[0]) | uint32(v4[1])<<8 | uint32(v4[2])<<16 | uint32(v4[3])<<24)
		}
	} else {
		info.Hostname = proto.String(host)
		info.Address.Hostname = proto.String(host)
	}
	return info, nil
}

// unpackIP decodes MasterInfo.ip: an IPv4 address's bytes in network order
// read as a little-endian integer (127.0.0.1 is 16777343).
func unpackIP(v uint32) net.IP {
	return net.IPv4(byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}
