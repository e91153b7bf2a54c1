// Package detector finds the leading Mesos master.
//
// A [Detector] answers one question, repeatedly: "who leads now?". Clients
// (the scheduler SDK, agents, operator tools) ask it for the current leader
// and ask again, passing the answer they already hold, to wait for a change.
// This mirrors Mesos's MasterDetector::detect(previous).
//
// Two kinds of --master value exist in Mesos:
//
//   - standalone: "host:port", "master@host:port" (a libprocess PID) or
//     "http://host:port" — the leader is fixed; see [Standalone];
//   - "zk://[user:password@]host1:port1,host2:port2/path" — the leader is
//     the oldest member of the masters' ZooKeeper group at path; see
//     [ZooKeeper].
//
// "file:///path" values are read and their trimmed contents parsed as one of
// the above, as Mesos does.
package detector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// DefaultPort is the master's default port, used when a --master value names
// a host without a port.
const DefaultPort = 5050

var (
	// ErrInvalidMaster is returned (wrapped) for a --master value that
	// cannot be parsed.
	ErrInvalidMaster = errors.New("detector: invalid master")
	// ErrClosed is returned by Detect after Close.
	ErrClosed = errors.New("detector: closed")
)

// Leader is a leading master.
type Leader struct {
	// Host is a hostname or IP address (without brackets for IPv6).
	Host string
	// Port is the master's HTTP port.
	Port int
	// Info is the master's MasterInfo when the detector knows it (a
	// ZooKeeper detector does; a standalone one does not): nil otherwise.
	Info *mesospb.MasterInfo
}

// Address returns "host:port" (IPv6 hosts in brackets).
func (l *Leader) Address() string {
	return net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// String returns the address, or "<none>" for a nil leader.
func (l *Leader) String() string {
	if l == nil {
		return "<none>"
	}
	return l.Address()
}

// Same reports whether a and b denote the same leader: both nil, or the same
// address and (when both carry one) the same master id.
func Same(a, b *Leader) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if a.Address() != b.Address() {
		return false
	}
	if a.Info != nil && b.Info != nil && a.Info.GetId() != b.Info.GetId() {
		return false
	}
	return true
}

// Detector reports the leading master.
//
// Contract: Detect returns as soon as the current leader differs from
// previous (compared with [Same]); with previous == nil that is as soon as a
// leader is known. A nil *Leader with a nil error means "there is no leader
// now" (only returned when previous != nil). Detect returns ctx.Err() when
// ctx ends first and [ErrClosed] after Close. Detect and Close are safe for
// concurrent use; any number of callers may wait at once.
type Detector interface {
	Detect(ctx context.Context, previous *Leader) (*Leader, error)
	Close() error
}

// New returns a detector for a --master value: a [Standalone] detector for
// "host:port", "master@host:port" and "http://host:port"; a [ZooKeeper]
// detector (with the default session timeout, and no logging) for
// "zk://...". "file:///path" values are read and their contents used
// instead.
func New(master string) (Detector, error) {
	value, err := readFile(master)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(value, "zk://") {
		return NewZooKeeper(value, Options{})
	}
	leader, err := parse(value)
	if err != nil {
		return nil, err
	}
	return NewStandalone(leader), nil
}

// Parse parses a standalone --master value ("host:port",
// "<id>@host:port", "http://host:port[/path]"; a missing port means
// [DefaultPort]). "file:///path" values are read and their trimmed contents
// parsed. A zk:// value is not standalone: it gives [ErrInvalidMaster]
// (use [New]).
func Parse(master string) (*Leader, error) {
	value, err := readFile(master)
	if err != nil {
		return nil, err
	}
	return parse(value)
}

// readFile returns a trimmed --master value, or the trimmed contents of
// the file a "file://" value names.
func readFile(master string) (string, error) {
	s := strings.TrimSpace(master)
	path, ok := strings.CutPrefix(s, "file://")
	if !ok {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidMaster, err)
	}
	s = strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "file://") {
		return "", fmt.Errorf("%w: %q: nested file:// value", ErrInvalidMaster, master)
	}
	return s, nil
}

// parse parses a standalone value (file:// already read).
func parse(master string) (*Leader, error) {
	s := strings.TrimSpace(master)
	switch {
	case s == "":
		return nil, fmt.Errorf("%w: empty value", ErrInvalidMaster)
	case strings.HasPrefix(s, "zk://"):
		return nil, fmt.Errorf("%w: %q is a ZooKeeper URL, not a standalone master", ErrInvalidMaster, master)
	case strings.HasPrefix(s, "file://"):
		return nil, fmt.Errorf("%w: %q: nested file:// value", ErrInvalidMaster, master)
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%w: %q", ErrInvalidMaster, master)
		}
		s = u.Host
	default:
		// A libprocess PID: "<actor id>@host:port".
		if i := strings.LastIndex(s, "@"); i >= 0 {
			s = s[i+1:]
		}
		if strings.ContainsAny(s, "/?# ") {
			return nil, fmt.Errorf("%w: %q (want host:port)", ErrInvalidMaster, master)
		}
	}
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		// No port: the whole value is the host.
		host, portText = strings.Trim(s, "[]"), strconv.Itoa(DefaultPort)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("%w: %q: bad port %q", ErrInvalidMaster, master, portText)
	}
	if host == "" {
		return nil, fmt.Errorf("%w: %q: missing host", ErrInvalidMaster, master)
	}
	return &Leader{Host: host, Port: port}, nil
}
