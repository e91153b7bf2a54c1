package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// startMesoLocal runs the meso binary's `local` with args and returns its
// master's host:port, read from the banner; the cluster is stopped (SIGTERM)
// when the test ends.
func startMesoLocal(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, testutil.MesoBinary(t), append([]string{"local", "--port=0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if m := regexp.MustCompile(`master at http://(\S+)`).FindStringSubmatch(lines.Text()); m != nil {
			go func() { // keep draining meso local's stdout
				for lines.Scan() {
				}
			}()
			return m[1]
		}
	}
	t.Fatal("meso local did not print its master's address")
	return ""
}

// opEvents opens an operator SUBSCRIBE stream in JSON, as an event watcher
// written for Mesos would, and delivers its events.
func opEvents(t *testing.T, master string) <-chan *masterpb.Event {
	t.Helper()
	body, _ := codec.MarshalJSON(&masterpb.Call{Type: masterpb.Call_SUBSCRIBE.Enum()})
	resp := post(t, "http://"+master+"/api/v1", codec.JSON, body, nil)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("operator SUBSCRIBE: %s %s", resp.Status, b)
	}
	t.Cleanup(func() { resp.Body.Close() })
	events := make(chan *masterpb.Event, 100)
	go func() {
		defer close(events)
		rd := recordio.NewReader(bufio.NewReader(resp.Body), 0)
		for {
			rec, err := rd.ReadRecord()
			if err != nil {
				return
			}
			ev := &masterpb.Event{}
			if err := codec.UnmarshalJSON(rec, ev); err != nil {
				t.Errorf("undecodable operator event %q: %v", rec, err)
				return
			}
			events <- ev
		}
	}()
	return events
}

// nextOp returns the next operator event other than HEARTBEAT.
func nextOp(t *testing.T, events <-chan *masterpb.Event) *masterpb.Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("operator event stream ended")
			}
			if ev.GetType() != masterpb.Event_HEARTBEAT {
				return ev
			}
		case <-deadline:
			t.Fatal("no operator event within 20s")
		}
	}
}

// getBody GETs (or POSTs, with method) url and returns the status and body.
func getBody(t *testing.T, method, url string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestOperatorSurfaceWithMesoLocal is issue 9's acceptance with the real
// binary: `meso local`, a task launched after an operator SUBSCRIBE, and
// the tools a Mesos user points at a cluster.
func TestOperatorSurfaceWithMesoLocal(t *testing.T) {
	ctx := withTimeout(t, 2*time.Minute)
	master := startMesoLocal(t, ctx, "--work_dir="+t.TempDir(), "--logging_level=WARNING")
	base := "http://" + master

	events := opEvents(t, master)
	ev := nextOp(t, events)
	if ev.GetType() != masterpb.Event_SUBSCRIBED {
		t.Fatalf("first operator event: %v", ev)
	}
	// The agent is in the state, or joins right after (the banner may
	// come before it registers).
	if len(ev.GetSubscribed().GetGetState().GetGetAgents().GetAgents()) == 0 {
		if ev := nextOp(t, events); ev.GetType() != masterpb.Event_AGENT_ADDED {
			t.Fatalf("want AGENT_ADDED, got %v", ev)
		}
	}

	s := subscribe(t, master, codec.JSON, frameworkInfo("operator-e2e"))
	fwID := s.fwID.GetValue()
	if ev := nextOp(t, events); ev.GetType() != masterpb.Event_FRAMEWORK_ADDED {
		t.Fatalf("want FRAMEWORK_ADDED, got %v", ev)
	}
	offer := s.next(schedulerpb.Event_OFFERS, 20*time.Second).GetOffers().GetOffers()[0]
	s.launch(offer, "greeter", "echo hello from the sandbox; sleep 60", taskResources("*", 0.1, 32))

	added := nextOp(t, events)
	if added.GetType() != masterpb.Event_TASK_ADDED || added.GetTaskAdded().GetTask().GetTaskId().GetValue() != "greeter" {
		t.Fatalf("want TASK_ADDED of greeter, got %v", added)
	}
	// The agent sends the next update once the framework acknowledged the
	// last one, so the framework acknowledges as it goes.
	for _, want := range []mesospb.TaskState{mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING} {
		if st := s.update(true, 20*time.Second); st.GetState() != want {
			t.Fatalf("framework got %v, want %v: %s", st.GetState(), want, st.GetMessage())
		}
		u := nextOp(t, events)
		if u.GetType() != masterpb.Event_TASK_UPDATED || u.GetTaskUpdated().GetState() != want ||
			u.GetTaskUpdated().GetFrameworkId().GetValue() != fwID {
			t.Fatalf("want TASK_UPDATED %v, got %v", want, u)
		}
	}

	// The task's stdout, read remotely through the agent's /files, at the
	// sandbox directory the agent's /state names (as Mesos's UI does).
	var state struct {
		Slaves []struct {
			PID string `json:"pid"`
		} `json:"slaves"`
	}
	if code, b := getBody(t, http.MethodGet, base+"/master/state"); code != 200 || json.Unmarshal(b, &state) != nil || len(state.Slaves) != 1 {
		t.Fatalf("/master/state: %d %s", code, b)
	}
	agent := state.Slaves[0].PID[strings.Index(state.Slaves[0].PID, "@")+1:]
	var agentState struct {
		Frameworks []struct {
			Executors []struct {
				ID        string `json:"id"`
				Directory string `json:"directory"`
			} `json:"executors"`
		} `json:"frameworks"`
	}
	if code, b := getBody(t, http.MethodGet, "http://"+agent+"/state"); code != 200 || json.Unmarshal(b, &agentState) != nil ||
		len(agentState.Frameworks) != 1 || len(agentState.Frameworks[0].Executors) != 1 {
		t.Fatalf("agent /state: %d %s", code, b)
	}
	dir := agentState.Frameworks[0].Executors[0].Directory
	for _, path := range []string{dir + "/stdout", fmt.Sprintf("/frameworks/%s/executors/greeter/runs/latest/stdout", fwID)} {
		var read struct {
			Data   string `json:"data"`
			Offset int64  `json:"offset"`
		}
		testutil.Eventually(t, 10*time.Second, func() bool {
			code, b := getBody(t, http.MethodGet, "http://"+agent+"/files/read?offset=0&path="+url.QueryEscape(path))
			return code == 200 && json.Unmarshal(b, &read) == nil && strings.Contains(read.Data, "hello from the sandbox")
		}, "/files/read of %s never held the task's output (last: %+v)", path, read)
	}
	// Out of the sandbox is refused, as Mesos refuses it.
	if code, b := getBody(t, http.MethodGet, "http://"+agent+"/files/read?offset=0&path="+url.QueryEscape(dir+"/../../../../../../etc/passwd")); code != 400 && code != 404 {
		t.Errorf("/files/read out of the sandbox: %d %s, want 400 or 404", code, b)
	}

	// Legacy routes: POST /slaves/x is /slaves; /tasks/ filters.
	var slaves struct {
		Slaves []map[string]any `json:"slaves"`
	}
	if code, b := getBody(t, http.MethodPost, base+"/slaves/x"); code != 200 || json.Unmarshal(b, &slaves) != nil || len(slaves.Slaves) != 1 {
		t.Errorf("POST /slaves/x: %d %s", code, b)
	}
	var tasks struct {
		Tasks []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"tasks"`
	}
	code, b := getBody(t, http.MethodGet, base+"/tasks/?task_id=greeter&framework_id="+fwID)
	if code != 200 || json.Unmarshal(b, &tasks) != nil || len(tasks.Tasks) != 1 || tasks.Tasks[0].ID != "greeter" {
		t.Errorf("/tasks/?task_id=greeter&framework_id=...: %d %s", code, b)
	}
	if code, b := getBody(t, http.MethodGet, base+"/tasks/?task_id=greeter&framework_id=other"); code != 200 || json.Unmarshal(b, &tasks) != nil || len(tasks.Tasks) != 0 {
		t.Errorf("/tasks of another framework: %d %s", code, b)
	}

	// GET_MASTER in JSON is what 1.11.0 emits: no QUOTA_V2.
	body, _ := codec.MarshalJSON(&masterpb.Call{Type: masterpb.Call_GET_MASTER.Enum()})
	resp := post(t, base+"/api/v1", codec.JSON, body, nil)
	gm, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(gm), "QUOTA_V2") || !strings.Contains(string(gm), `"master_info"`) {
		t.Errorf("GET_MASTER: %d %s", resp.StatusCode, gm)
	}

	// /metrics is Prometheus text, with the task running.
	code, b = getBody(t, http.MethodGet, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, b)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	if f := families["mesos_master_tasks_running"]; f == nil || f.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("mesos_master_tasks_running: %v", f)
	}

	// Bad input: an unknown call type.
	resp = post(t, base+"/api/v1", codec.JSON, []byte(`{"type":"NO_SUCH_CALL"}`), nil)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown call type: %d %s, want 400", resp.StatusCode, b)
	}
}
