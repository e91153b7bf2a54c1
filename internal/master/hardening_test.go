package master

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
)

// postRaw posts body with the given Content-Type and returns status and body.
func (h *harness) postRaw(path, contentType string, body []byte) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url(path), strings.NewReader(string(body)))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNonFiniteFloatsRefused is the repro: one SUBSCRIBE with
// "failover_timeout": "NaN" made /master/state and /master/frameworks
// answer 500 until restart. Every NaN or infinity where none is allowed is
// now a 400 before it reaches the master, and the views stay 200.
func TestNonFiniteFloatsRefused(t *testing.T) {
	h := startMaster(t, nil)
	h.registerAgent("cpus:4;mem:1024")
	sched := h.subscribe(fwInfo("good"), codec.JSON)

	nanProto, err := proto.Marshal(&schedulerpb.Call{
		Type: schedulerpb.Call_SUBSCRIBE.Enum(),
		Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: &mesospb.FrameworkInfo{
			User: proto.String("u"), Name: proto.String("n"), FailoverTimeout: proto.Float64(math.NaN()),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, contentType, body, want string
	}{
		{"NaN failover_timeout", "/api/v1/scheduler", "application/json",
			`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","failover_timeout":"NaN"}}}`,
			"Failed to validate scheduler::Call: Invalid value of 'subscribe.framework_info.failover_timeout': NaN not supported"},
		{"infinite failover_timeout", "/master/api/v1/scheduler", "application/json",
			`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","failover_timeout":"-Infinity"}}}`,
			"Invalid value of 'subscribe.framework_info.failover_timeout': Infinite values not supported"},
		{"NaN failover_timeout in protobuf", "/api/v1/scheduler", "application/x-protobuf", string(nanProto),
			"Failed to validate scheduler::Call: Invalid value of 'subscribe.framework_info.failover_timeout': NaN not supported"},
		{"NaN offer filter quantity", "/api/v1/scheduler", "application/json",
			`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","offer_filters":{"*":{"min_allocatable_resources":{"quantities":[{"quantities":{"cpus":{"value":"NaN"}}}]}}}}}}`,
			`Invalid value of 'subscribe.framework_info.offer_filters["*"].min_allocatable_resources.quantities[0].quantities["cpus"].value': NaN not supported`},
		{"infinite resource in ACCEPT", "/api/v1/scheduler", "application/json",
			`{"type":"ACCEPT","framework_id":{"value":"` + sched.id + `"},"accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"RESERVE","reserve":{"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":"Infinity"}}]}}]}}`,
			"Invalid value of 'accept.operations[0].reserve.resources[0].scalar.value': Infinite values not supported"},
		{"NaN health check timing", "/api/v1/scheduler", "application/json",
			`{"type":"ACCEPT","framework_id":{"value":"` + sched.id + `"},"accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"health_check":{"type":"COMMAND","interval_seconds":"NaN","command":{"value":"true"}}}]}}]}}`,
			"Invalid value of 'accept.operations[0].launch.task_infos[0].health_check.interval_seconds': NaN not supported"},
		{"NaN quota", "/api/v1", "application/json",
			`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"r","guarantees":{"cpus":{"value":"NaN"}}}]}}`,
			`Failed to validate master::Call: Invalid value of 'update_quota.quota_configs[0].guarantees["cpus"].value': NaN not supported`},
		{"infinite quota limit", "/api/v1", "application/json",
			`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"r","limits":{"cpus":"Infinity"}}]}}`,
			`Invalid value of 'update_quota.quota_configs[0].limits["cpus"].value': Infinite values not supported`},
		{"NaN weight", "/api/v1", "application/json",
			`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"r","weight":"NaN"}]}}`,
			"Invalid value of 'update_weights.weight_infos[0].weight': NaN not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := h.postRaw(tt.path, tt.contentType, []byte(tt.body))
			if code != http.StatusBadRequest || !strings.Contains(body, tt.want) {
				t.Errorf("POST %s = %d %q, want 400 containing %q", tt.path, code, body, tt.want)
			}
		})
	}
	// The legacy weights endpoint: +Infinity is not a weight either.
	if code, body := h.do(http.MethodPut, "/master/weights", `[{"role":"r","weight":"Infinity"}]`); code != http.StatusBadRequest ||
		!strings.Contains(body, "Infinite values not supported") {
		t.Errorf("PUT /master/weights with an infinite weight = %d %q, want 400", code, body)
	}

	// Where Mesos gives an infinity a meaning, it is still accepted: a task
	// limit of Infinity ("unlimited") decodes, and refuse_seconds Infinity
	// is clamped by the allocator.
	resp, body := h.post("/api/v1/scheduler", codec.JSON, &schedulerpb.Call{
		Type:        schedulerpb.Call_DECLINE.Enum(),
		FrameworkId: &mesospb.FrameworkID{Value: proto.String(sched.id)},
		Decline: &schedulerpb.Call_Decline{
			OfferIds: []*mesospb.OfferID{{Value: proto.String("none")}},
			Filters:  &mesospb.Filters{RefuseSeconds: proto.Float64(math.Inf(1))},
		},
	}, http.Header{"Mesos-Stream-Id": {sched.streamID}})
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("DECLINE with refuse_seconds Infinity = %d %q, want 202", resp.StatusCode, body)
	}

	for _, path := range []string{"/master/state", "/master/frameworks", "/state", "/master/state-summary", "/master/roles"} {
		code, ct, body := h.get(path)
		if code != http.StatusOK || !json.Valid([]byte(body)) {
			t.Errorf("GET %s = %d %s %.200q, want 200 and JSON", path, code, ct, body)
		}
	}
}

// TestTricklingClientsCannotExhaust is the repro at a small scale:
// connections that trickle a request body used to hold the master's file
// descriptors forever (header reads time out, body reads never did). Now
// one address holds at most MaxConnectionsPerIP connections, and each
// trickled body is cut off after BodyReadTimeout, after which the master
// serves again.
func TestTricklingClientsCannotExhaust(t *testing.T) {
	const limit = 10
	h := startMaster(t, func(c *Config) {
		c.BodyReadTimeout = time.Second
		c.MaxConnectionsPerIP = limit
	})
	var conns []net.Conn
	for range 3 * limit {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
		conns = append(conns, c)
	}
	// Every trickling connection ends: refused at once beyond the limit,
	// cut off (400) at the body deadline within it.
	answered := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("a trickling connection is still open after 10 s")
			}
			continue // closed without an answer: refused
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("trickled body answered %d, want 400", resp.StatusCode)
		}
		answered++
	}
	if answered > limit {
		t.Errorf("%d trickling connections served, want at most %d", answered, limit)
	}
	if code, _, _ := h.get("/master/state"); code != http.StatusOK {
		t.Errorf("GET /master/state after the trickling clients = %d, want 200", code)
	}
}

// syncBuffer is a log destination safe for the master's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNonReadingSubscriberDisconnected is the repro: a scheduler
// that never reads its stream, plus a RECONCILE flood, grew the master
// without bound. Its queue is bounded now: past MaxEventQueueBytes the
// stream is cut with a logged reason and the framework is disconnected
// (it may subscribe again).
func TestNonReadingSubscriberDisconnected(t *testing.T) {
	var logs syncBuffer
	h := startMaster(t, func(c *Config) {
		c.MaxEventQueueBytes = 256 << 10
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	// SUBSCRIBE over a raw connection whose events are never read.
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	body := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"sleepy","failover_timeout":3600}}}`
	fmt.Fprintf(c, "POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
	if err != nil {
		t.Fatal(err)
	}
	streamID := resp.Header.Get("Mesos-Stream-Id")
	var frameworkID string
	deadline := time.Now().Add(10 * time.Second)
	for frameworkID == "" {
		st := h.getJSON("/master/frameworks")
		if fws, _ := st["frameworks"].([]any); len(fws) == 1 {
			frameworkID, _ = fws[0].(map[string]any)["id"].(string)
		}
		if time.Now().After(deadline) {
			t.Fatal("the framework did not subscribe")
		}
	}

	// Each RECONCILE of unknown tasks queues one UPDATE per task.
	var tasks strings.Builder
	for i := range 2000 {
		if i > 0 {
			tasks.WriteByte(',')
		}
		fmt.Fprintf(&tasks, `{"task_id":{"value":"task-%d-with-a-longish-name"}}`, i)
	}
	reconcile := `{"type":"RECONCILE","framework_id":{"value":"` + frameworkID + `"},"reconcile":{"tasks":[` + tasks.String() + `]}}`
	for {
		req, _ := http.NewRequest(http.MethodPost, h.url("/api/v1/scheduler"), strings.NewReader(reconcile))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Mesos-Stream-Id", streamID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			// Disconnected: Mesos's answer to a call of a framework that
			// is not subscribed.
			if !strings.Contains(string(b), "Framework is not subscribed") {
				t.Errorf("RECONCILE after the stream was cut = %d %q", resp.StatusCode, b)
			}
			break
		}
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatal("the non-reading subscriber is still connected after 30 s of RECONCILE")
		}
	}
	if !strings.Contains(logs.String(), "fell too far behind") {
		t.Errorf("no logged reason for the disconnection; logs:\n%s", logs.String())
	}
	if code, _, _ := h.get("/master/state"); code != http.StatusOK {
		t.Errorf("GET /master/state = %d, want 200", code)
	}
}

// TestRateLimits is --rate_limits as Mesos applies it, by the framework's
// principal: calls wait for their turn (qps), and past capacity waiting
// calls one is dropped with Mesos's error, as an ERROR event on the
// framework's stream (and a 429 to the call). A principal not listed, with
// no aggregate default, is not throttled.
func TestRateLimits(t *testing.T) {
	capacity := uint64(1)
	h := startMaster(t, func(c *Config) {
		c.RateLimits = &mesospb.RateLimits{Limits: []*mesospb.RateLimit{
			{Principal: proto.String("slow"), Qps: proto.Float64(0.2), Capacity: &capacity},
		}}
	})
	slowInfo := fwInfo("slow")
	slowInfo.Principal = proto.String("slow")
	slow := h.subscribe(slowInfo, codec.JSON)
	freeInfo := fwInfo("free")
	freeInfo.Principal = proto.String("free")
	free := h.subscribe(freeInfo, codec.JSON)
	revive := func() *schedulerpb.Call { return &schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()} }

	// The first call has its turn at once; of two more sent together, one
	// waits for the next turn (5 s later) and the other finds capacity
	// (1) calls waiting and is dropped.
	start := time.Now()
	slow.mustCall(revive())
	type answer struct {
		code int
		body string
	}
	answers := make(chan answer, 2)
	for range 2 {
		go func() {
			resp, body := h.post("/api/v1/scheduler", codec.JSON,
				&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum(), FrameworkId: &mesospb.FrameworkID{Value: proto.String(slow.id)}},
				http.Header{"Mesos-Stream-Id": {slow.streamID}})
			answers <- answer{resp.StatusCode, body}
		}()
	}
	const dropped = "Message mesos.scheduler.Call dropped: capacity(1) exceeded"
	got := map[int]int{}
	for range 2 {
		select {
		case a := <-answers:
			got[a.code]++
			if a.code == http.StatusTooManyRequests && a.body != dropped {
				t.Errorf("dropped call answered %q, want %q", a.body, dropped)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a throttled call was not answered within 30 s")
		}
	}
	if got[http.StatusAccepted] != 1 || got[http.StatusTooManyRequests] != 1 {
		t.Errorf("answers to two calls past the first = %v, want one 202 and one 429", got)
	}
	if elapsed := time.Since(start); elapsed < 4*time.Second {
		t.Errorf("the waiting call was answered after %v, want after its turn (5 s)", elapsed)
	}
	if ev := slow.next(schedulerpb.Event_ERROR); ev.GetError().GetMessage() != dropped {
		t.Errorf("ERROR event %q, want %q", ev.GetError().GetMessage(), dropped)
	}

	// Not listed, no aggregate default: never throttled.
	for range 5 {
		free.mustCall(revive())
	}
}
