package scheduler_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/scheduler"
	"github.com/meso-project/meso/pkg/scheduler/schedulertest"
)

// Config.Credential authenticates every request with HTTP basic
// authentication: a proxy that answers 401 to anything else lets the
// client subscribe and call.
func TestCredentialSentOnEveryRequest(t *testing.T) {
	m := (&schedulertest.Master{}).Start(t)
	target, _ := url.Parse(m.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{}
	var refused, passed atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, s, ok := r.BasicAuth(); !ok || p != "fw" || s != "fw-secret" {
			refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="mesos-master-scheduler"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		passed.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	r := start(t, scheduler.Config{Master: proxy.URL, Credential: &mesospb.Credential{
		Principal: proto.String("fw"), Secret: proto.String("fw-secret")}}, nil)
	eventually(t, func() bool { return r.c.FrameworkID() != nil })
	eventually(t, func() bool { return r.c.Call(t.Context(), scheduler.Reconcile()) == nil })
	if refused.Load() != 0 || passed.Load() < 2 {
		t.Errorf("refused %d, passed %d requests: want every request authenticated", refused.Load(), passed.Load())
	}
}
