package agent

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
)

// TestNonFiniteFloats: an executor call with a NaN is a 400, and the
// agent's /state stays 200 even when a NaN reaches it some other way (the
// issue's repro: a framework's NaN failover_timeout made the agent's /state
// a 500 until restart; the master now refuses it, and the agent renders
// whatever it holds).
func TestNonFiniteFloats(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "noregister", nil)
	fi := frameworkInfo(false)
	fi.FailoverTimeout = proto.Float64(math.NaN())
	m.send(&agentapipb.Event{Type: agentapipb.Event_RUN_TASK.Enum(), RunTask: &agentapipb.Event_RunTask{
		FrameworkInfo: fi, Task: commandTask("t1", "sleep")}})

	call := execCall(executorpb.Call_UPDATE, "t1")
	body, err := codec.Marshal(codec.JSON, call)
	if err != nil {
		t.Fatal(err)
	}
	// A status whose timestamp is NaN, added to the encoded call.
	raw := strings.Replace(string(body), `"type":"UPDATE"`,
		`"type":"UPDATE","update":{"status":{"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"AAAAAAAAAAAAAAAAAAAAAA==","timestamp":"NaN"}}`, 1)
	resp, err := http.Post("http://"+ta.addr+"/api/v1/executor", "application/json", strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "Failed to validate executor::Call: Invalid value of 'update.status.timestamp': NaN not supported"; resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), want) {
		t.Errorf("UPDATE with a NaN timestamp = %d %q, want 400 %q", resp.StatusCode, b, want)
	}

	eventually(t, 5*time.Second, func() bool {
		resp, err := http.Get("http://" + ta.addr + "/state")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v struct {
			Frameworks []struct {
				FailoverTimeout any `json:"failover_timeout"`
			} `json:"frameworks"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &v) != nil {
			t.Fatalf("GET /state = %d %.300s, want 200 and JSON", resp.StatusCode, b)
		}
		return len(v.Frameworks) == 1 && v.Frameworks[0].FailoverTimeout == "NaN"
	}, "the framework with a NaN failover_timeout is not in /state")
}
