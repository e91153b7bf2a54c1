package master

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/detector"
)

// ErrLostLeadership is returned by Serve when this master led and then lost
// its leadership (its ZooKeeper session expired, or another master was
// elected). Mesos's master exits then ("Lost leadership... committing
// suicide!") and relies on its supervisor to start it again as a standby:
// a deposed leader must not keep answering frameworks and agents from books
// that another master now owns. meso does the same: the command exits with
// this error.
var ErrLostLeadership = errors.New("master: lost leadership")

// Contender enters this master into the leader election.
//
// Contend blocks until this master is elected (it returns a channel that is
// closed once the leadership is lost), until ctx ends (ctx's error) or until
// the election fails. It is called once, from Serve. The ZooKeeper contender
// (internal/master/contender) joins the group under the --zk path with a
// json.info_ node holding info; without one, the master leads alone.
type Contender interface {
	Contend(ctx context.Context, info *mesospb.MasterInfo) (lost <-chan struct{}, err error)
}

// Lease is implemented by a Contender that can tell, at any instant,
// whether its leadership is still certain: LeaseValid is false once the
// contender has not heard from ZooKeeper for long enough that ZooKeeper
// may have expired its session — after a long pause (a frozen process, a
// partition), before the loss itself has been noticed and signalled.
// While the lease has lapsed the master does not act as leader: it
// answers 503, reports master/elected 0, and neither allocates nor pings.
type Lease interface {
	LeaseValid() bool
}

// leaseValid is true without a Lease.
func (m *Master) leaseValid() bool {
	l, ok := m.cfg.Contender.(Lease)
	return !ok || l.LeaseValid()
}

// leading reports whether this master leads and, if not, the leader's
// "host:port" as last detected ("" when no leader is known). It is the
// single place that decides whether this master serves a request or
// redirects it; it does not touch the loop, so a standby answers at once.
func (m *Master) leading() (self bool, leader string) {
	if m.elected.Load() {
		if !m.leaseValid() {
			return false, "" // perhaps no longer: answer as if no leader is known
		}
		return true, ""
	}
	if l := m.detected.Load(); l != nil {
		if self := m.self.Load(); self != nil && *self == *l {
			// The znode of this master's previous process (its session
			// not expired yet): redirecting would loop back here.
			return false, ""
		}
		return false, *l
	}
	return false, ""
}

// follow tracks the leader through the detector so that a standby can
// redirect to it (spec §1.5). It runs until ctx ends.
func (m *Master) follow(ctx context.Context, d detector.Detector) {
	var prev *detector.Leader
	for {
		l, err := d.Detect(ctx, prev)
		if err != nil {
			return // ctx ended or the detector was closed
		}
		prev = l
		if l == nil {
			m.detected.Store(nil)
			m.log.Info("no leading master")
			continue
		}
		addr := l.Address()
		if l.Info != nil && l.Info.GetHostname() != "" && l.Info.GetPort() != 0 {
			// Mesos redirects to the leader's hostname (spec §1.5).
			addr = (&detector.Leader{Host: l.Info.GetHostname(), Port: int(l.Info.GetPort())}).Address()
		}
		m.detected.Store(&addr)
		m.log.Info("detected the leading master", "leader", addr)
	}
}

// gateLeader lets the request through when this master leads and has
// finished recovering; otherwise it answers 307 to the leader (spec §1.5)
// or 503 and returns false.
func (m *Master) gateLeader(w http.ResponseWriter, r *http.Request) bool {
	self, leader := m.leading()
	if !self {
		if leader == "" {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "No leader elected"))
			return false
		}
		w.Header().Set("Location", "//"+leader+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
		return false
	}
	// An elected master recovering its registry, and requests that arrive
	// before Serve has started the actor, wait for it.
	select {
	case <-m.ready:
		return true
	case <-m.done:
	case <-r.Context().Done():
	}
	httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "Master has not finished recovery"))
	return false
}

// serveRedirect is /redirect (Master::Http::redirect): 307 to the leader's
// base URL, 503 without one. The router sends /redirect/... here too (the
// route of the longest prefix), and, as in Mesos, that is a 404 once a leader
// is known, so that a redirect never loops; "/redirect/" is such a path, as
// libprocess keeps the trailing slash in the request's path.
func (m *Master) serveRedirect(w http.ResponseWriter, r *http.Request) {
	self, leader := m.leading()
	if self {
		select {
		case <-m.ready:
		default:
			httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "No leader elected"))
			return
		}
		var host string
		_ = m.do(r.Context(), func() {
			host = m.st.info.GetHostname() + ":" + itoa(int(m.st.info.GetPort()))
		})
		leader = host
	}
	if leader == "" {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "No leader elected"))
		return
	}
	base := "//" + leader
	switch p := r.URL.Path; {
	case p == "/redirect" || p == "/"+actorID+"/redirect":
		w.Header().Set("Location", base)
	case strings.HasPrefix(p, "/redirect/") || strings.HasPrefix(p, "/"+actorID+"/redirect/"):
		httpapi.NotFound(w)
		return
	default:
		w.Header().Set("Location", base+r.URL.RequestURI())
	}
	w.WriteHeader(http.StatusTemporaryRedirect)
}
