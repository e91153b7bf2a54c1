package master

import (
	"net/http"
	"strings"
	"testing"
)

// --enable_pprof serves Go's profiles at /debug/pprof/, under the
// get_endpoints ACL; without it the path is libprocess's 404.
func TestPprofEndpoints(t *testing.T) {
	off := startMaster(t, nil)
	if code, _ := do(t, http.MethodGet, off.url("/debug/pprof/"), "", nil); code != http.StatusNotFound {
		t.Errorf("without EnablePprof: %d, want 404", code)
	}

	h := startMaster(t, func(c *Config) { c.EnablePprof = true })
	for path, want := range map[string]string{
		"/debug/pprof/":                     "goroutine",
		"/debug/pprof/heap?debug=1":         "heap profile",
		"/debug/pprof/goroutine?debug=1":    "goroutine profile",
		"/debug/pprof/cmdline":              "",
		"/debug/pprof/profile?seconds=1":    "",
		"/debug/pprof/allocs?debug=1":       "heap profile",
		"/debug/pprof/threadcreate?debug=1": "threadcreate",
	} {
		code, body := do(t, http.MethodGet, h.url(path), "", nil)
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d %.80q, want 200 with %q", path, code, body, want)
		}
	}

	denied := startMaster(t, func(c *Config) {
		c.EnablePprof = true
		withACLs(t, `{"get_endpoints": [{"principals": {"values": ["ops"]}, "paths": {"values": ["/debug/pprof"]}},
			{"principals": {"type": "ANY"}, "paths": {"type": "NONE"}}]}`)(c)
	})
	if code, _ := do(t, http.MethodGet, principalServer(t, denied, "intruder")+"/debug/pprof/heap", "", nil); code != http.StatusForbidden {
		t.Errorf("intruder: %d, want 403", code)
	}
	if code, _ := do(t, http.MethodGet, principalServer(t, denied, "ops")+"/debug/pprof/heap?debug=1", "", nil); code != http.StatusOK {
		t.Errorf("ops: %d, want 200", code)
	}
}
