package master

import (
	"io"
	"net/http"
	"net/url"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/httpapi"
)

// serveTeardown is the legacy POST /teardown with the form body
// "frameworkId=<id>" (Master::Http::teardown): 200 once the framework is
// removed, 400 when the body names no framework the master knows (a
// completed one included), 405 for other methods.
func (m *Master) serveTeardown(w http.ResponseWriter, r *http.Request) {
	if !m.gateLeader(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, http.MethodPost)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, httpapi.MaxBodySize))
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Failed to read request body: %v", err))
		return
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Unable to decode query string: %v", err))
		return
	}
	id, ok := httpapi.QueryValue(values, "frameworkId")
	if !ok {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "Missing 'frameworkId' query parameter in the request body"))
		return
	}
	var res opResult
	call := &masterpb.Call{Type: masterpb.Call_TEARDOWN.Enum(), Teardown: &masterpb.Call_Teardown{FrameworkId: &mesospb.FrameworkID{Value: &id}}}
	op := m.authorizedOp(r, call, func() opResult { return m.st.teardown(id) })
	if err := m.do(r.Context(), func() { res = op() }); err != nil {
		writeStopped(w, err)
		return
	}
	if res.err != nil {
		httpapi.WriteError(w, toHTTP(res.err))
		return
	}
	w.WriteHeader(statusOf(res.outcome))
}

// teardown removes a framework for an operator (/teardown and the v1
// TEARDOWN call; Master::Http::_teardown): only registered frameworks
// (connected, disconnected or recovered) can be torn down.
func (s *state) teardown(id string) opResult {
	f := s.frameworks[id]
	if f == nil {
		return opFailed(ErrInvalid, "No framework found with specified ID")
	}
	s.log.Info("tearing down framework at an operator's request", "framework_id", id)
	s.removeFramework(f)
	return opResult{outcome: outcomeDone}
}
