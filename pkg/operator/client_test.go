package operator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/explain"
	"github.com/meso-project/meso/pkg/recordio"
)

// leader serves the operator API as a leading master would: GET_STATE
// and SUBSCRIBE, behind basic authentication when principal is set.
func leader(t *testing.T, principal, secret string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, s, ok := r.BasicAuth(); principal != "" && (!ok || p != principal || s != secret) {
			w.Header().Set("WWW-Authenticate", `Basic realm="mesos"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/api/v1" || r.Header.Get("Content-Type") != string(codec.Protobuf) {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		call := &masterpb.Call{}
		if err := codec.Unmarshal(codec.Protobuf, b, call); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch call.GetType() {
		case masterpb.Call_GET_STATE:
			out, _ := codec.Marshal(codec.Protobuf, &masterpb.Response{Type: masterpb.Response_GET_STATE.Enum(),
				GetState: &masterpb.Response_GetState{GetTasks: &masterpb.Response_GetTasks{Tasks: []*mesospb.Task{task("t1")}}}})
			w.Header().Set("Content-Type", string(codec.Protobuf))
			w.Write(out)
		case masterpb.Call_DEACTIVATE_AGENT:
			if call.GetDeactivateAgent().GetAgentId().GetValue() != "S0" {
				http.Error(w, "no such agent", http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		case masterpb.Call_SUBSCRIBE:
			w.Header().Set("Content-Type", string(codec.Protobuf))
			rw := recordio.NewWriter(w)
			for _, ev := range []*masterpb.Event{
				{Type: masterpb.Event_SUBSCRIBED.Enum()},
				{Type: masterpb.Event_TASK_ADDED.Enum(), TaskAdded: &masterpb.Event_TaskAdded{Task: task("t2")}},
			} {
				b, _ := codec.Marshal(codec.Protobuf, ev)
				rw.WriteRecord(b)
			}
		default:
			http.Error(w, "Not implemented", http.StatusNotImplemented)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func task(id string) *mesospb.Task {
	return &mesospb.Task{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)},
		FrameworkId: &mesospb.FrameworkID{Value: proto.String("F")}, AgentId: &mesospb.AgentID{Value: proto.String("S0")},
		State: mesospb.TaskState_TASK_RUNNING.Enum()}
}

// standby answers everything with a 307 to the leader, as a standby
// master does (Location is //host:port/path).
func standby(t *testing.T, to string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "//"+to+r.URL.Path)
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func host(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

func TestCallFollowsStandbyToLeaderWithCredentials(t *testing.T) {
	l := leader(t, "ops", "s3cret")
	s := standby(t, host(l))
	for _, master := range []string{host(s), s.URL} {
		c, err := New(Config{Master: master, Principal: "ops", Secret: "s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.GetState(t.Context())
		if err != nil {
			t.Fatalf("%s: GetState: %v", master, err)
		}
		if got := st.GetGetTasks().GetTasks(); len(got) != 1 || got[0].GetTaskId().GetValue() != "t1" {
			t.Errorf("%s: tasks %v", master, got)
		}
		if got, _ := c.Leader(t.Context()); got != l.URL {
			t.Errorf("%s: after the redirect Leader() = %q, want %q", master, got, l.URL)
		}
		if err := c.DeactivateAgent(t.Context(), "S0"); err != nil {
			t.Errorf("DeactivateAgent (202, no body): %v", err)
		}
		c.Close()
	}
}

func TestErrors(t *testing.T) {
	l := leader(t, "ops", "s3cret")
	c, _ := New(Config{Master: host(l)})
	_, err := c.GetState(t.Context())
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusUnauthorized || se.Op != "GET_STATE" {
		t.Errorf("without credentials: %v, want a 401 StatusError", err)
	}
	c, _ = New(Config{Master: host(l), Principal: "ops", Secret: "s3cret"})
	err = c.DrainAgent(t.Context(), "S0", false)
	if !errors.As(err, &se) || se.Code != http.StatusNotImplemented || !strings.Contains(err.Error(), "Not implemented") {
		t.Errorf("DrainAgent: %v, want a 501 StatusError", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c, _ = New(Config{Master: addr})
	if _, err := c.GetState(t.Context()); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Errorf("closed port: %v, want ErrUnreachable naming %s", err, addr)
	}
	if _, err := New(Config{Master: "host:notaport"}); err == nil {
		t.Error("New accepted a bad --master")
	}
}

func TestSubscribe(t *testing.T) {
	l := leader(t, "", "")
	c, _ := New(Config{Master: l.URL})
	ev, err := c.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	var types []string
	for {
		e, err := ev.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, e.GetType().String())
	}
	if diff := cmp.Diff([]string{"SUBSCRIBED", "TASK_ADDED"}, types); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestExplain serves the explainer's contract (package explain) and checks
// the client's queries and decoding.
func TestExplain(t *testing.T) {
	fw := explain.Framework{FrameworkID: "F-1", Name: "web", Active: true,
		Roles:   []explain.Role{{Role: "dev", Suppressed: true, Weight: 1, Rank: 1, Roles: 1}},
		Reasons: []explain.Reason{{Code: explain.RoleSuppressed, Message: "suppressed", Role: "dev"}}}
	tk := explain.Task{TaskID: "t", FrameworkID: "F-1", State: "TASK_STAGING", Reasons: []explain.Reason{{Code: explain.TaskStaging}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.URL.Path == explain.FrameworkPath && q.Get("framework") == "web app":
			json.NewEncoder(w).Encode(fw)
		case r.URL.Path == explain.FrameworkPath && q.Get("framework") == "twins":
			http.Error(w, "several frameworks are named twins: F-2, F-3", http.StatusConflict)
		case r.URL.Path == explain.TaskPath && q.Get("task") == "t" && q.Get("framework") == "F-1":
			json.NewEncoder(w).Encode(tk)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, _ := New(Config{Master: srv.URL})
	got, err := c.ExplainFramework(t.Context(), "web app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&fw, got); diff != "" {
		t.Errorf("ExplainFramework (-want +got):\n%s", diff)
	}
	var se *StatusError
	if _, err := c.ExplainFramework(t.Context(), "twins"); !errors.As(err, &se) || se.Code != http.StatusConflict || !strings.Contains(se.Body, "F-2") {
		t.Errorf("ambiguous name: %v", err)
	}
	gt, err := c.ExplainTask(t.Context(), "t", "F-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&tk, gt); diff != "" {
		t.Errorf("ExplainTask (-want +got):\n%s", diff)
	}
	if _, err := c.ExplainTask(context.Background(), "nope", ""); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Errorf("unknown task: %v", err)
	}
}

func TestSandboxPathAndExitCode(t *testing.T) {
	cmdTask := task("hello")
	if got, want := SandboxPath(cmdTask), "/frameworks/F/executors/hello/runs/latest"; got != want {
		t.Errorf("command task: %q, want %q", got, want)
	}
	group := task("t1")
	group.ExecutorId = &mesospb.ExecutorID{Value: proto.String("default-executor")}
	group.Statuses = []*mesospb.TaskStatus{{ContainerStatus: &mesospb.ContainerStatus{ContainerId: &mesospb.ContainerID{
		Value: proto.String("child"), Parent: &mesospb.ContainerID{Value: proto.String("parent")}}}}}
	if got, want := SandboxPath(group), "/frameworks/F/executors/default-executor/runs/latest/tasks/t1"; got != want {
		t.Errorf("task group task: %q, want %q", got, want)
	}
	for status, want := range map[int]int{0: 0, 3 << 8: 3, 9: 137, 15: 143} {
		if got := ExitCode(status); got != want {
			t.Errorf("ExitCode(%d) = %d, want %d", status, got, want)
		}
	}
}

// TestZooKeeperWithoutLeader: a zk:// master whose ensemble cannot be
// reached gives ErrUnreachable once the timeout passes (the leader
// detection itself is tested in pkg/detector against a real ZooKeeper).
func TestZooKeeperWithoutLeader(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c, err := New(Config{Master: "zk://" + addr + "/mesos", Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GetState(t.Context()); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "zk://"+addr+"/mesos") {
		t.Errorf("GetState: %v, want ErrUnreachable naming the zk:// URL", err)
	}
}
