package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// TestSubscribeStreamWithCurlJSON checks the bytes a curl user sees: 200, a
// Mesos-Stream-Id, a chunked RecordIO stream whose first record is SUBSCRIBED
// with "heartbeat_interval_seconds":15, then OFFERS.
func TestSubscribeStreamWithCurlJSON(t *testing.T) {
	c := cluster(t, nil)
	body := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"me","name":"curl"}}}`
	resp := post(t, "http://"+c.MasterAddr+"/api/v1/scheduler", codec.JSON, []byte(body), nil)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s, want 200", resp.Status)
	}
	if resp.Header.Get("Mesos-Stream-Id") == "" {
		t.Error("no Mesos-Stream-Id header")
	}
	if got := resp.TransferEncoding; len(got) != 1 || got[0] != "chunked" {
		t.Errorf("Transfer-Encoding %v, want chunked", got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	r := recordio.NewReader(bufio.NewReader(resp.Body), 0)
	first, err := r.ReadRecord()
	if err != nil {
		t.Fatalf("reading first record: %v", err)
	}
	var ev struct {
		Type       string `json:"type"`
		Subscribed struct {
			FrameworkID struct {
				Value string `json:"value"`
			} `json:"framework_id"`
			Heartbeat  json.Number     `json:"heartbeat_interval_seconds"`
			MasterInfo json.RawMessage `json:"master_info"`
		} `json:"subscribed"`
	}
	if err := json.Unmarshal(first, &ev); err != nil {
		t.Fatalf("first record is not JSON: %v: %s", err, first)
	}
	if ev.Type != "SUBSCRIBED" || ev.Subscribed.Heartbeat != "15" || ev.Subscribed.FrameworkID.Value == "" ||
		len(ev.Subscribed.MasterInfo) == 0 {
		t.Errorf("first record = %s, want SUBSCRIBED with framework_id, heartbeat_interval_seconds 15, master_info", first)
	}
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			t.Fatalf("reading stream: %v", err)
		}
		var e struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(rec, &e); err != nil {
			t.Fatalf("record is not JSON: %v", err)
		}
		if e.Type == "OFFERS" {
			return
		}
		if e.Type != "HEARTBEAT" {
			t.Fatalf("unexpected event before OFFERS: %s", rec)
		}
	}
}

// TestLaunchToFinished runs a task through the whole API in both encodings:
// OFFERS, ACCEPT with LAUNCH (202), UPDATE events to TASK_FINISHED, each
// carrying a uuid and acknowledged.
func TestLaunchToFinished(t *testing.T) {
	for _, mt := range []codec.MediaType{codec.JSON, codec.Protobuf} {
		t.Run(string(mt), func(t *testing.T) {
			c := cluster(t, nil)
			s := subscribe(t, c.MasterAddr, mt, frameworkInfo("e2e"))
			offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
			s.launch(offer, "t1", "echo hello from meso", taskResources("*", 0.1, 32))
			var states []mesospb.TaskState
			for {
				st := s.update(true, 20*time.Second)
				if len(st.GetUuid()) != 16 {
					t.Errorf("update %v has uuid of %d bytes, want 16", st.GetState(), len(st.GetUuid()))
				}
				states = append(states, st.GetState())
				if st.GetState() != mesospb.TaskState_TASK_STARTING && st.GetState() != mesospb.TaskState_TASK_RUNNING {
					break
				}
			}
			want := []mesospb.TaskState{mesospb.TaskState_TASK_STARTING, mesospb.TaskState_TASK_RUNNING, mesospb.TaskState_TASK_FINISHED}
			if !equalStates(states, want) {
				t.Fatalf("states %v, want %v", states, want)
			}
			out := readFile(t, sandbox(t, c, s.fwID.GetValue(), "t1")+"/stdout")
			if !strings.Contains(out, "hello from meso") {
				t.Errorf("sandbox stdout = %q, want the task's line", out)
			}
		})
	}
}

func equalStates(a, b []mesospb.TaskState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSchedulerAPIStatusCodes checks Mesos's answers to bad requests.
func TestSchedulerAPIStatusCodes(t *testing.T) {
	c := cluster(t, nil)
	url := "http://" + c.MasterAddr + "/api/v1/scheduler"
	s := subscribe(t, c.MasterAddr, codec.JSON, frameworkInfo("codes"))
	revive := `{"type":"REVIVE","framework_id":{"value":"` + s.fwID.GetValue() + `"}}`
	subscribeBody := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"me","name":"x"}}}`

	tests := []struct {
		name, method, contentType, body string
		header                          map[string]string
		want                            int
	}{
		{"GET", http.MethodGet, "application/json", "", nil, http.StatusMethodNotAllowed},
		{"wrong content type", http.MethodPost, "text/plain", revive, map[string]string{"Mesos-Stream-Id": s.streamID}, http.StatusUnsupportedMediaType},
		{"missing content type", http.MethodPost, "", revive, map[string]string{"Mesos-Stream-Id": s.streamID}, http.StatusBadRequest},
		{"missing stream id", http.MethodPost, "application/json", revive, nil, http.StatusBadRequest},
		{"wrong stream id", http.MethodPost, "application/json", revive, map[string]string{"Mesos-Stream-Id": "not-the-stream"}, http.StatusBadRequest},
		{"stream id on SUBSCRIBE", http.MethodPost, "application/json", subscribeBody, map[string]string{"Mesos-Stream-Id": s.streamID}, http.StatusBadRequest},
		{"malformed JSON", http.MethodPost, "application/json", `{"type":`, map[string]string{"Mesos-Stream-Id": s.streamID}, http.StatusBadRequest},
		{"malformed protobuf", http.MethodPost, "application/x-protobuf", "\xff\xff\xff", map[string]string{"Mesos-Stream-Id": s.streamID}, http.StatusBadRequest},
		{"missing required field", http.MethodPost, "application/json", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"no user"}}}`, nil, http.StatusBadRequest},
		{"unknown framework", http.MethodPost, "application/json", `{"type":"REVIVE","framework_id":{"value":"nope"}}`, map[string]string{"Mesos-Stream-Id": s.streamID}, http.StatusBadRequest},
		{"valid call", http.MethodPost, "application/json", revive, map[string]string{"Mesos-Stream-Id": s.streamID}, http.StatusAccepted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	// The master still serves after all that.
	s.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()})
}

// TestTaskLargerThanOffer: a task asking more than its offer holds gets
// TASK_ERROR with REASON_TASK_INVALID, and the cluster keeps serving.
func TestTaskLargerThanOffer(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.Protobuf, frameworkInfo("greedy"))
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	s.launch(offer, "huge", "true", taskResources("*", 1000, 32))
	st := s.update(true, 10*time.Second)
	if st.GetState() != mesospb.TaskState_TASK_ERROR || st.GetReason() != mesospb.TaskStatus_REASON_TASK_INVALID {
		t.Fatalf("got %v %v (%s), want TASK_ERROR REASON_TASK_INVALID", st.GetState(), st.GetReason(), st.GetMessage())
	}
	offer = s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	s.launch(offer, "small", "true", taskResources("*", 0.1, 32))
	for {
		st := s.update(true, 20*time.Second)
		if st.GetState() == mesospb.TaskState_TASK_FINISHED {
			return
		}
		if st.GetState() != mesospb.TaskState_TASK_STARTING && st.GetState() != mesospb.TaskState_TASK_RUNNING {
			t.Fatalf("small task ended %v: %s", st.GetState(), st.GetMessage())
		}
	}
}

// TestUnacknowledgedUpdateIsResent: a scheduler that ignores the first
// delivery of an update gets the same update again, until it acknowledges.
func TestUnacknowledgedUpdateIsResent(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.JSON, frameworkInfo("forgetful"))
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	s.launch(offer, "t", "true", taskResources("*", 0.1, 32))
	first := s.update(false, 20*time.Second)
	again := s.update(false, 20*time.Second)
	if again.GetState() != first.GetState() || string(again.GetUuid()) != string(first.GetUuid()) {
		t.Fatalf("after ignoring %v (uuid %x) got %v (uuid %x), want the same update re-sent",
			first.GetState(), first.GetUuid(), again.GetState(), again.GetUuid())
	}
	s.ack(again)
	next := s.update(true, 20*time.Second)
	if string(next.GetUuid()) == string(first.GetUuid()) {
		// A retry raced with the acknowledgement; the one after must move on.
		next = s.update(true, 20*time.Second)
	}
	if next.GetState() == first.GetState() {
		t.Fatalf("after acknowledging %v got it again (uuid %x)", first.GetState(), next.GetUuid())
	}
}

var _ = proto.String
