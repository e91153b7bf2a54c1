package agent

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
)

func (ta *testAgent) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + ta.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFilesServeTheSandbox: a launched executor's sandbox is readable
// through /files at Mesos's virtual path (and the real ones), and is
// detached once the garbage collector removed it.
func TestFilesServeTheSandbox(t *testing.T) {
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", func(c *Config) { c.GCDelay = 300 * time.Millisecond })
	runTask(m, commandTask("t1", "exit"))
	m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)

	virtual := "/frameworks/" + testFrameworkID + "/executors/t1/runs/latest"
	var body string
	eventually(t, 10*time.Second, func() bool {
		var code int
		code, body = ta.get(t, "/files/read?path="+virtual+"/stdout&offset=0")
		return code == http.StatusOK && strings.Contains(body, "hello from t1")
	}, "/files/read of the task's stdout: %s", func() []string { return []string{body} })
	if !strings.HasPrefix(body, `{"data":"`) || !strings.Contains(body, `"offset":0}`) {
		t.Errorf("read = %s", body)
	}
	if code, body := ta.get(t, "/files/browse?path="+virtual); code != http.StatusOK ||
		!strings.Contains(body, `"path":"`+virtual+`/stdout"`) || !strings.Contains(body, `"path":"`+virtual+`/stderr"`) {
		t.Errorf("browse = %d %s", code, body)
	}
	// Also at the real paths, and through /slave(1)'s delegation only as
	// /files (the process is "files").
	code, debug := ta.get(t, "/files/debug")
	if code != http.StatusOK || !strings.Contains(debug, `"`+virtual+`":`) ||
		!strings.Contains(debug, `"`+ta.sandbox("t1")+`":`) {
		t.Errorf("debug = %d %s", code, debug)
	}
	if code, _ := ta.get(t, "/files/read?path="+virtual+"/../../../../../../stdout&offset=0"); code != http.StatusNotFound &&
		code != http.StatusBadRequest {
		t.Errorf("traversal out of the sandbox: %d", code)
	}

	// Acknowledge everything: the executor exits, is removed, and its
	// sandbox collected and detached.
	acked := map[string]bool{}
	eventually(t, 20*time.Second, func() bool {
		for _, st := range m.updates("t1") {
			if !acked[string(st.GetUuid())] {
				acked[string(st.GetUuid())] = true
				m.ack("t1", st)
			}
		}
		_, debug = ta.get(t, "/files/debug")
		return debug == "{}"
	}, "sandbox not detached: %s", func() []string { return []string{debug} })
	if code, _ := ta.get(t, "/files/read?path="+virtual+"/stdout&offset=0"); code != http.StatusNotFound {
		t.Errorf("read after GC: %d", code)
	}
}
