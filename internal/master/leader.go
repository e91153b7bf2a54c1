package master

import (
	"net/http"
	"strings"

	"github.com/meso-project/meso/internal/httpapi"
)

// leadership answers "who leads?". It is the single place that decides
// whether this master serves a request or redirects it; a ZooKeeper
// contender (internal/master/contender) will plug in here.
type leadership interface {
	// Leader reports whether this master leads and, if not, the leader's
	// "host:port" ("" when no leader is known).
	Leader() (self bool, leader string)
}

// standaloneLeader: without a contender this master always leads.
type standaloneLeader struct{}

func (standaloneLeader) Leader() (bool, string) { return true, "" }

// gateLeader lets the request through when this master leads and has
// finished starting; otherwise it answers 307 to the leader (spec §1.5) or
// 503 and returns false.
func (m *Master) gateLeader(w http.ResponseWriter, r *http.Request) bool {
	self, leader := m.leader.Leader()
	if !self {
		if leader == "" {
			httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "No leader elected"))
			return false
		}
		w.Header().Set("Location", "//"+leader+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
		return false
	}
	// Requests that arrive before Serve has started the actor wait for it.
	select {
	case <-m.ready:
		return true
	case <-m.done:
	case <-r.Context().Done():
	}
	httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "Master has not finished recovery"))
	return false
}

// serveRedirect is /redirect: 307 to the leader's base URL.
func (m *Master) serveRedirect(w http.ResponseWriter, r *http.Request) {
	if strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/master"), "/") != "/redirect" {
		http.NotFound(w, r)
		return
	}
	self, leader := m.leader.Leader()
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
	w.Header().Set("Location", "//"+leader)
	w.WriteHeader(http.StatusTemporaryRedirect)
}
