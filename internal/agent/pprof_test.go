package agent

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// --enable_pprof serves Go's profiles on the agent too; without it the
// path is 404.
func TestPprofEndpoints(t *testing.T) {
	m := newFakeMaster(t, 30)
	get := func(ta *testAgent, path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + ta.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	off := startAgent(t, m, "normal", nil)
	if code, _ := get(off, "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("without EnablePprof: %d, want 404", code)
	}
	on := startAgent(t, m, "normal", func(c *Config) { c.EnablePprof = true })
	if code, body := get(on, "/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Errorf("goroutine profile: %d %.80q", code, body)
	}
}
