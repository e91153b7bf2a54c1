package agent

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// apiReply is one answer of the operator API.
type apiReply struct {
	status int
	header http.Header
	body   []byte
}

// apiPost posts body to path on the agent with the given headers.
func (ta *testAgent) apiPost(t *testing.T, method, path string, header map[string]string, body []byte) apiReply {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+ta.addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiReply{resp.StatusCode, resp.Header, b}
}

// agentCall posts call encoded as mt (Content-Type and Accept) to path.
func (ta *testAgent) agentCall(t *testing.T, path string, mt codec.MediaType, call *agentpb.Call) apiReply {
	t.Helper()
	body, err := codec.Marshal(mt, call)
	if err != nil {
		t.Fatal(err)
	}
	return ta.apiPost(t, http.MethodPost, path, map[string]string{"Content-Type": string(mt), "Accept": string(mt)}, body)
}

// liveValues are what changes between two reads: uptime, the host's
// system/* gauges (load, free memory) and container statistics.
var liveValues = cmp.Options{
	protocmp.Transform(),
	protocmp.IgnoreMessages(&mesospb.ResourceStatistics{}),
	// The values of the live metrics; their names must still match.
	protocmp.FilterMessage(&mesospb.Metric{}, cmp.Comparer(func(x, y protocmp.Message) bool {
		if x["name"] == y["name"] && isLiveMetric(fmt.Sprint(x["name"])) {
			return true
		}
		return cmp.Equal(x, y)
	})),
}

func isLiveMetric(name string) bool {
	return name == "slave/uptime_secs" || strings.HasPrefix(name, "system/")
}

// agentBoth sends call in protobuf and in JSON, requires a 200 of the
// right content type from both, and that both say the same (but for
// liveValues); it returns the protobuf answer.
func (ta *testAgent) agentBoth(t *testing.T, call *agentpb.Call) *agentpb.Response {
	t.Helper()
	var got []*agentpb.Response
	for _, mt := range []codec.MediaType{codec.Protobuf, codec.JSON} {
		r := ta.agentCall(t, "/api/v1", mt, call)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != string(mt) {
			t.Fatalf("%s in %s: %d %s %s", call.GetType(), mt, r.status, r.header.Get("Content-Type"), r.body)
		}
		resp := &agentpb.Response{}
		if err := codec.Unmarshal(mt, r.body, resp); err != nil {
			t.Fatalf("%s in %s: %v", call.GetType(), mt, err)
		}
		got = append(got, resp)
	}
	// The JSON answer writes out fields' declared defaults, as Mesos's
	// does: compare it with the protobuf answer in JSON.
	b, err := codec.MarshalJSON(got[0])
	if err != nil {
		t.Fatal(err)
	}
	pbJSON := &agentpb.Response{}
	if err := codec.UnmarshalJSON(b, pbJSON); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pbJSON, got[1], liveValues); diff != "" {
		t.Errorf("%s: protobuf and JSON answers differ (-pb +json):\n%s", call.GetType(), diff)
	}
	return got[0]
}

func callOf(t agentpb.Call_Type) *agentpb.Call { return &agentpb.Call{Type: t.Enum()} }

func containerID(value string, parent *mesospb.ContainerID) *mesospb.ContainerID {
	return &mesospb.ContainerID{Value: proto.String(value), Parent: parent}
}

// validCall is a call of type t that passes validation.
func validCall(t agentpb.Call_Type, logPath string) *agentpb.Call {
	c := callOf(t)
	nested := containerID("child", containerID("parent", nil))
	rpInfo := &mesospb.ResourceProviderInfo{Type: proto.String("org.apache.mesos.rp.local.storage"), Name: proto.String("lvm")}
	switch t {
	case agentpb.Call_GET_METRICS:
		c.GetMetrics = &agentpb.Call_GetMetrics{}
	case agentpb.Call_SET_LOGGING_LEVEL:
		c.SetLoggingLevel = &agentpb.Call_SetLoggingLevel{Level: proto.Uint32(0),
			Duration: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(time.Second))}}
	case agentpb.Call_LIST_FILES:
		c.ListFiles = &agentpb.Call_ListFiles{Path: proto.String(logPath)}
	case agentpb.Call_READ_FILE:
		c.ReadFile = &agentpb.Call_ReadFile{Path: proto.String(logPath), Offset: proto.Uint64(0)}
	case agentpb.Call_LAUNCH_NESTED_CONTAINER:
		c.LaunchNestedContainer = &agentpb.Call_LaunchNestedContainer{ContainerId: nested}
	case agentpb.Call_WAIT_NESTED_CONTAINER:
		c.WaitNestedContainer = &agentpb.Call_WaitNestedContainer{ContainerId: nested}
	case agentpb.Call_KILL_NESTED_CONTAINER:
		c.KillNestedContainer = &agentpb.Call_KillNestedContainer{ContainerId: nested}
	case agentpb.Call_REMOVE_NESTED_CONTAINER:
		c.RemoveNestedContainer = &agentpb.Call_RemoveNestedContainer{ContainerId: nested}
	case agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION:
		c.LaunchNestedContainerSession = &agentpb.Call_LaunchNestedContainerSession{ContainerId: nested}
	case agentpb.Call_ATTACH_CONTAINER_INPUT:
		c.AttachContainerInput = &agentpb.Call_AttachContainerInput{Type: agentpb.Call_AttachContainerInput_CONTAINER_ID.Enum(),
			ContainerId: nested}
	case agentpb.Call_ATTACH_CONTAINER_OUTPUT:
		c.AttachContainerOutput = &agentpb.Call_AttachContainerOutput{ContainerId: nested}
	case agentpb.Call_LAUNCH_CONTAINER:
		c.LaunchContainer = &agentpb.Call_LaunchContainer{ContainerId: containerID("standalone", nil)}
	case agentpb.Call_WAIT_CONTAINER:
		c.WaitContainer = &agentpb.Call_WaitContainer{ContainerId: nested}
	case agentpb.Call_KILL_CONTAINER:
		c.KillContainer = &agentpb.Call_KillContainer{ContainerId: nested}
	case agentpb.Call_REMOVE_CONTAINER:
		c.RemoveContainer = &agentpb.Call_RemoveContainer{ContainerId: nested}
	case agentpb.Call_ADD_RESOURCE_PROVIDER_CONFIG:
		c.AddResourceProviderConfig = &agentpb.Call_AddResourceProviderConfig{Info: rpInfo}
	case agentpb.Call_UPDATE_RESOURCE_PROVIDER_CONFIG:
		c.UpdateResourceProviderConfig = &agentpb.Call_UpdateResourceProviderConfig{Info: rpInfo}
	case agentpb.Call_REMOVE_RESOURCE_PROVIDER_CONFIG:
		c.RemoveResourceProviderConfig = &agentpb.Call_RemoveResourceProviderConfig{Type: rpInfo.Type, Name: rpInfo.Name}
	case agentpb.Call_MARK_RESOURCE_PROVIDER_GONE:
		c.MarkResourceProviderGone = &agentpb.Call_MarkResourceProviderGone{
			ResourceProviderId: &mesospb.ResourceProviderID{Value: proto.String("rp")}}
	case agentpb.Call_PRUNE_IMAGES:
		c.PruneImages = &agentpb.Call_PruneImages{}
	}
	return c
}

// TestOperatorAPIEveryCall walks agent.proto's Call.Type enum and sends
// every call, in protobuf and in JSON, on both paths: each is answered as
// Mesos answers it on an agent like this one (no resource providers, no
// image store, no resource provider config directory), and only the
// nested, standalone and attach container calls are 501.
func TestOperatorAPIEveryCall(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "agent.log")
	if err := os.WriteFile(logPath, []byte("log line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", func(c *Config) { c.LogFile = logPath })

	rpInvalid := "Failed to validate resource provider config with type 'org.apache.mesos.rp.local.storage' and name 'lvm': " +
		"Unknown local resource provider type 'org.apache.mesos.rp.local.storage'"
	type want struct {
		status  int
		message string                // the body of an error
		resp    agentpb.Response_Type // the type of a 200's Response (UNKNOWN: no body)
	}
	ok := func(rt agentpb.Response_Type) want { return want{status: http.StatusOK, resp: rt} }
	wants := map[agentpb.Call_Type]want{
		agentpb.Call_UNKNOWN:                         {status: http.StatusNotImplemented, message: "501 Not Implemented."},
		agentpb.Call_GET_HEALTH:                      ok(agentpb.Response_GET_HEALTH),
		agentpb.Call_GET_FLAGS:                       ok(agentpb.Response_GET_FLAGS),
		agentpb.Call_GET_VERSION:                     ok(agentpb.Response_GET_VERSION),
		agentpb.Call_GET_METRICS:                     ok(agentpb.Response_GET_METRICS),
		agentpb.Call_GET_LOGGING_LEVEL:               ok(agentpb.Response_GET_LOGGING_LEVEL),
		agentpb.Call_SET_LOGGING_LEVEL:               ok(agentpb.Response_UNKNOWN),
		agentpb.Call_LIST_FILES:                      ok(agentpb.Response_LIST_FILES),
		agentpb.Call_READ_FILE:                       ok(agentpb.Response_READ_FILE),
		agentpb.Call_GET_STATE:                       ok(agentpb.Response_GET_STATE),
		agentpb.Call_GET_CONTAINERS:                  ok(agentpb.Response_GET_CONTAINERS),
		agentpb.Call_GET_FRAMEWORKS:                  ok(agentpb.Response_GET_FRAMEWORKS),
		agentpb.Call_GET_EXECUTORS:                   ok(agentpb.Response_GET_EXECUTORS),
		agentpb.Call_GET_OPERATIONS:                  ok(agentpb.Response_GET_OPERATIONS),
		agentpb.Call_GET_TASKS:                       ok(agentpb.Response_GET_TASKS),
		agentpb.Call_GET_AGENT:                       ok(agentpb.Response_GET_AGENT),
		agentpb.Call_GET_RESOURCE_PROVIDERS:          ok(agentpb.Response_GET_RESOURCE_PROVIDERS),
		agentpb.Call_PRUNE_IMAGES:                    ok(agentpb.Response_UNKNOWN),
		agentpb.Call_MARK_RESOURCE_PROVIDER_GONE:     ok(agentpb.Response_UNKNOWN),
		agentpb.Call_ADD_RESOURCE_PROVIDER_CONFIG:    {status: http.StatusBadRequest, message: rpInvalid},
		agentpb.Call_UPDATE_RESOURCE_PROVIDER_CONFIG: {status: http.StatusBadRequest, message: rpInvalid},
		agentpb.Call_REMOVE_RESOURCE_PROVIDER_CONFIG: {status: http.StatusInternalServerError,
			message: "Missing required flag --resource_provider_config_dir"},
		// Needs a RecordIO request (sent in TestOperatorAPIBadRequests).
		agentpb.Call_ATTACH_CONTAINER_INPUT: {status: http.StatusUnsupportedMediaType,
			message: "Expecting 'Content-Type' to be application/recordio for ATTACH_CONTAINER_INPUT call"},
	}
	// The container calls, on containers this agent does not have.
	noParent := want{status: http.StatusBadRequest, message: "Parent container parent does not exist"}
	notFound := want{status: http.StatusNotFound, message: "Container parent.child cannot be found"}
	noKill := want{status: http.StatusNotFound, message: "Container 'parent.child' cannot be found (or is already killed)"}
	noRoot := want{status: http.StatusInternalServerError, message: "Unknown root container"}
	maps.Copy(wants, map[agentpb.Call_Type]want{
		agentpb.Call_LAUNCH_NESTED_CONTAINER: noParent, agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION: noParent,
		agentpb.Call_WAIT_NESTED_CONTAINER: notFound, agentpb.Call_WAIT_CONTAINER: notFound,
		agentpb.Call_ATTACH_CONTAINER_OUTPUT: notFound,
		agentpb.Call_KILL_NESTED_CONTAINER:   noKill, agentpb.Call_KILL_CONTAINER: noKill,
		agentpb.Call_REMOVE_NESTED_CONTAINER: noRoot, agentpb.Call_REMOVE_CONTAINER: noRoot,
		agentpb.Call_LAUNCH_CONTAINER: {status: http.StatusBadRequest, message: "no command to run"},
	})

	values := agentpb.Call_UNKNOWN.Descriptor().Values()
	for i := range values.Len() {
		ct := agentpb.Call_Type(values.Get(i).Number())
		w, found := wants[ct]
		if !found {
			t.Errorf("%s: no expected answer; a new call type must be answered (and listed here)", ct)
			continue
		}
		if w.status == http.StatusNotImplemented && ct != agentpb.Call_UNKNOWN {
			t.Errorf("%s is answered 501", ct)
		}
		for j, mt := range []codec.MediaType{codec.Protobuf, codec.JSON} {
			path := []string{"/api/v1", "/slave(1)/api/v1"}[(i+j)%2]
			r := ta.agentCall(t, path, mt, validCall(ct, "/slave/log"))
			if r.status != w.status {
				t.Errorf("%s in %s on %s: %d %q, want %d", ct, mt, path, r.status, r.body, w.status)
				continue
			}
			if w.status != http.StatusOK {
				if string(r.body) != w.message {
					t.Errorf("%s in %s: body %q, want %q", ct, mt, r.body, w.message)
				}
				continue
			}
			if w.resp == agentpb.Response_UNKNOWN {
				if len(r.body) != 0 {
					t.Errorf("%s in %s: body %q, want none", ct, mt, r.body)
				}
				continue
			}
			resp := &agentpb.Response{}
			if err := codec.Unmarshal(mt, r.body, resp); err != nil {
				t.Errorf("%s in %s: %v", ct, mt, err)
			} else if resp.GetType() != w.resp {
				t.Errorf("%s in %s: response type %s, want %s", ct, mt, resp.GetType(), w.resp)
			}
		}
	}
}

// TestOperatorAPIBadRequests: each malformed request gets Mesos's status
// and message, checked in Mesos's order (method, content type, accept,
// body, validation, streaming).
func TestOperatorAPIBadRequests(t *testing.T) {
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", nil)

	health, _ := proto.Marshal(callOf(agentpb.Call_GET_HEALTH))
	pb, js := string(codec.Protobuf), string(codec.JSON)
	record := func(c *agentpb.Call) []byte {
		b, _ := proto.Marshal(c)
		return recordio.Encode(b)
	}
	attachInput := validCall(agentpb.Call_ATTACH_CONTAINER_INPUT, "")
	tests := []struct {
		name    string
		method  string
		header  map[string]string
		body    []byte
		status  int
		message string // exact, or a prefix when it ends with "..."
	}{
		{"GET", http.MethodGet, map[string]string{"Content-Type": "text/plain", "Accept": "text/html"}, nil,
			405, "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'."},
		{"no content type", "", nil, health, 400, "Expecting 'Content-Type' to be present"},
		{"text content type", "", map[string]string{"Content-Type": "text/plain", "Accept": "text/html"}, []byte("x"),
			415, "Expecting 'Content-Type' of application/json or application/x-protobuf or application/recordio"},
		{"not acceptable before the body", "", map[string]string{"Content-Type": pb, "Accept": "text/html"}, []byte("garbage"),
			406, "Expecting 'Accept' to allow application/json or application/x-protobuf or application/recordio"},
		{"message accept on a plain response", "", map[string]string{"Content-Type": pb, "Message-Accept": js}, health,
			406, "Expecting 'Message-Accept' to be not set for non-streaming responses"},
		{"message content type on a plain request", "", map[string]string{"Content-Type": pb, "Message-Content-Type": pb}, health,
			415, "Expecting 'Message-Content-Type' to be not set for non-streaming requests"},
		{"garbage protobuf", "", map[string]string{"Content-Type": pb}, []byte("\xff\xff\xff"),
			400, "Failed to parse body into a protobuf object"},
		{"garbage JSON", "", map[string]string{"Content-Type": js}, []byte("{not json"),
			400, "Failed to parse body into JSON: ..."},
		{"unknown type in JSON", "", map[string]string{"Content-Type": js}, []byte(`{"type":"NO_SUCH_CALL"}`),
			400, "Failed to validate agent::Call: Expecting 'type' to be present"},
		{"unknown type in protobuf", "", map[string]string{"Content-Type": pb}, []byte{0x08, 0xe7, 0x07}, // type = 999
			400, "Failed to validate agent::Call: Expecting 'type' to be present"},
		{"missing get_metrics", "", map[string]string{"Content-Type": js}, []byte(`{"type":"GET_METRICS"}`),
			400, "Failed to validate agent::Call: Expecting 'get_metrics' to be present"},
		{"nested container without parent", "", map[string]string{"Content-Type": js},
			[]byte(`{"type":"KILL_NESTED_CONTAINER","kill_nested_container":{"container_id":{"value":"c"}}}`),
			400, "Failed to validate agent::Call: Expecting 'kill_nested_container.container_id.parent' to be present"},
		{"bad container ID", "", map[string]string{"Content-Type": js},
			[]byte(`{"type":"WAIT_CONTAINER","wait_container":{"container_id":{"value":"a.b"}}}`),
			400, "Failed to validate agent::Call: 'wait_container.container_id' is invalid: 'ContainerID.value' 'a.b' contains invalid characters"},
		{"streaming response for a plain call", "", map[string]string{"Content-Type": pb, "Accept": "application/recordio"}, health,
			406, "Streaming response is not supported for GET_HEALTH call"},
		{"streaming request without a message type", "", map[string]string{"Content-Type": "application/recordio"}, record(attachInput),
			400, "Expecting 'Message-Content-Type' to be set for streaming requests"},
		{"streaming request with a bad message type", "",
			map[string]string{"Content-Type": "application/recordio", "Message-Content-Type": "text/plain"}, record(attachInput),
			415, "Expecting 'Message-Content-Type' of application/json or application/x-protobuf"},
		{"empty stream", "", map[string]string{"Content-Type": "application/recordio", "Message-Content-Type": pb}, nil,
			400, "Received EOF while reading request body"},
		{"streaming request for a plain call", "",
			map[string]string{"Content-Type": "application/recordio", "Message-Content-Type": pb}, record(callOf(agentpb.Call_GET_HEALTH)),
			415, "Streaming 'Content-Type' application/recordio is not supported for GET_HEALTH call"},
		{"attach input", "", map[string]string{"Content-Type": "application/recordio", "Message-Content-Type": pb}, record(attachInput),
			404, "Container parent.child cannot be found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := ta.apiPost(t, method, "/api/v1", tt.header, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tt.status)
			}
			if prefix, ok := strings.CutSuffix(tt.message, "..."); ok {
				if !strings.HasPrefix(string(r.body), prefix) {
					t.Errorf("body %q, want %q...", r.body, prefix)
				}
			} else if string(r.body) != tt.message {
				t.Errorf("body %q, want %q", r.body, tt.message)
			}
			if tt.status == http.StatusMethodNotAllowed && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", r.header.Get("Allow"))
			}
		})
	}
}

// TestOperatorAPIRunningTask reads a running command task through
// GET_STATE, GET_TASKS, GET_EXECUTORS, GET_FRAMEWORKS and GET_CONTAINERS,
// and its sandbox through LIST_FILES and READ_FILE.
func TestOperatorAPIRunningTask(t *testing.T) {
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", nil)
	runTask(m, commandTask("t1", "sleep"))
	m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)

	// The task is RUNNING once the agent forwarded the executor's update.
	var tasks *agentpb.Response_GetTasks
	eventually(t, 10*time.Second, func() bool {
		tasks = ta.agentBoth(t, callOf(agentpb.Call_GET_TASKS)).GetGetTasks()
		return len(tasks.GetLaunchedTasks()) == 1 && tasks.GetLaunchedTasks()[0].GetState() == mesospb.TaskState_TASK_RUNNING
	}, "GET_TASKS never showed t1 running")
	launched := tasks.GetLaunchedTasks()[0]
	if launched.GetTaskId().GetValue() != "t1" || launched.GetFrameworkId().GetValue() != testFrameworkID ||
		launched.GetAgentId().GetValue() != testAgentID || len(launched.GetStatuses()) == 0 {
		t.Errorf("launched task = %v", launched)
	}
	if n := len(tasks.GetPendingTasks()) + len(tasks.GetQueuedTasks()) + len(tasks.GetTerminatedTasks()) + len(tasks.GetCompletedTasks()); n != 0 {
		t.Errorf("GET_TASKS has %d tasks besides the launched one: %v", n, tasks)
	}

	frameworks := ta.agentBoth(t, callOf(agentpb.Call_GET_FRAMEWORKS)).GetGetFrameworks()
	wantFrameworks := &agentpb.Response_GetFrameworks{Frameworks: []*agentpb.Response_GetFrameworks_Framework{
		{FrameworkInfo: frameworkInfo(false)}}}
	if diff := cmp.Diff(wantFrameworks, frameworks, protocmp.Transform()); diff != "" {
		t.Errorf("GET_FRAMEWORKS (-want +got):\n%s", diff)
	}

	executors := ta.agentBoth(t, callOf(agentpb.Call_GET_EXECUTORS)).GetGetExecutors()
	if len(executors.GetExecutors()) != 1 || len(executors.GetCompletedExecutors()) != 0 {
		t.Fatalf("GET_EXECUTORS = %v", executors)
	}
	ex := executors.GetExecutors()[0].GetExecutorInfo()
	if ex.GetExecutorId().GetValue() != "t1" || ex.GetFrameworkId().GetValue() != testFrameworkID ||
		!strings.HasPrefix(ex.GetName(), "Command Executor (Task: t1)") {
		t.Errorf("executor info = %v", ex)
	}

	state := ta.agentBoth(t, callOf(agentpb.Call_GET_STATE)).GetGetState()
	wantState := &agentpb.Response_GetState{GetTasks: tasks, GetExecutors: executors, GetFrameworks: frameworks}
	if diff := cmp.Diff(wantState, state, protocmp.Transform()); diff != "" {
		t.Errorf("GET_STATE is not GET_TASKS, GET_EXECUTORS and GET_FRAMEWORKS (-want +got):\n%s", diff)
	}

	// GET_CONTAINERS: the executor's container, as /containers shows it.
	containers := ta.agentBoth(t, validCall(agentpb.Call_GET_CONTAINERS, "")).GetGetContainers().GetContainers()
	stateJSON := ta.getJSON(t, "/state")
	cid := stateJSON["frameworks"].([]any)[0].(map[string]any)["executors"].([]any)[0].(map[string]any)["container"]
	if len(containers) != 1 {
		t.Fatalf("GET_CONTAINERS = %v", containers)
	}
	c := containers[0]
	if c.GetContainerId().GetValue() != cid || c.GetExecutorId().GetValue() != "t1" ||
		c.GetFrameworkId().GetValue() != testFrameworkID || c.GetExecutorName() != ex.GetName() ||
		c.GetContainerStatus().GetContainerId().GetValue() != cid {
		t.Errorf("container = %v, want container %v of executor t1", c, cid)
	}
	shown := validCall(agentpb.Call_GET_CONTAINERS, "")
	shown.GetContainers = &agentpb.Call_GetContainers{ShowNested: proto.Bool(true), ShowStandalone: proto.Bool(true)}
	if got := ta.agentBoth(t, shown).GetGetContainers().GetContainers(); len(got) != 1 {
		t.Errorf("GET_CONTAINERS showing nested and standalone containers = %v", got)
	}

	// The sandbox, through the files the agent attached.
	virtual := "/frameworks/" + testFrameworkID + "/executors/t1/runs/latest"
	list := func(path string) *agentpb.Call {
		return &agentpb.Call{Type: agentpb.Call_LIST_FILES.Enum(), ListFiles: &agentpb.Call_ListFiles{Path: proto.String(path)}}
	}
	var names []string
	for _, fi := range ta.agentBoth(t, list(virtual)).GetListFiles().GetFileInfos() {
		names = append(names, fi.GetPath())
	}
	for _, want := range []string{virtual + "/stdout", virtual + "/stderr"} {
		if !slices.Contains(names, want) {
			t.Errorf("LIST_FILES %s = %v, missing %s", virtual, names, want)
		}
	}
	read := func(path string, offset uint64, length *uint64) *agentpb.Call {
		return &agentpb.Call{Type: agentpb.Call_READ_FILE.Enum(), ReadFile: &agentpb.Call_ReadFile{
			Path: proto.String(path), Offset: proto.Uint64(offset), Length: length}}
	}
	var stdout *agentpb.Response_ReadFile
	eventually(t, 10*time.Second, func() bool {
		stdout = ta.agentBoth(t, read(virtual+"/stdout", 0, nil)).GetReadFile()
		return strings.Contains(string(stdout.GetData()), "hello from t1")
	}, "READ_FILE of stdout lacks the task's output")
	if stdout.GetSize() != uint64(len(stdout.GetData())) {
		t.Errorf("READ_FILE without a length read %d of %d bytes", len(stdout.GetData()), stdout.GetSize())
	}
	part := ta.agentBoth(t, read(virtual+"/stdout", 2, proto.Uint64(3))).GetReadFile()
	if want := stdout.GetData()[2:5]; !bytes.Equal(part.GetData(), want) || part.GetSize() != stdout.GetSize() {
		t.Errorf("READ_FILE offset 2 length 3 = %q (size %d), want %q", part.GetData(), part.GetSize(), want)
	}
	// An offset past the end (even one beyond int64) reads nothing and
	// tells the size.
	for _, off := range []uint64{stdout.GetSize() + 10, math.MaxUint64} {
		got := ta.agentBoth(t, read(virtual+"/stdout", off, nil)).GetReadFile()
		if diff := cmp.Diff(&agentpb.Response_ReadFile{Size: proto.Uint64(stdout.GetSize()), Data: []byte{}}, got,
			protocmp.Transform()); diff != "" {
			t.Errorf("READ_FILE at offset %d (-want +got):\n%s", off, diff)
		}
	}

	// Errors: Mesos's codes and messages.
	real, err := filepath.EvalSymlinks(ta.sandbox("t1"))
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(real, "escape")); err != nil {
		t.Fatal(err)
	}
	errs := []struct {
		call    *agentpb.Call
		status  int
		message string
	}{
		{read(virtual+"/missing", 0, nil), 404, ""},
		{list(virtual + "/missing"), 404, ""},
		{read("/no/such/attachment", 0, nil), 404, ""},
		{read(virtual+"/../../../t1", 0, nil), 400, "'" + real + "/../../../t1' is inaccessible.\n"},
		{list(virtual + "/../.."), 400, "'" + real + "/../..' is inaccessible.\n"},
		{read(virtual+"/escape", 0, nil), 400, "'" + real + "/escape' is inaccessible.\n"},
		{read(virtual, 0, nil), 400, "Cannot read a directory.\n"},
	}
	for _, e := range errs {
		for _, mt := range []codec.MediaType{codec.Protobuf, codec.JSON} {
			r := ta.agentCall(t, "/api/v1", mt, e.call)
			if r.status != e.status || string(r.body) != e.message {
				t.Errorf("%s %v in %s: %d %q, want %d %q", e.call.GetType(), e.call, mt, r.status, r.body, e.status, e.message)
			}
		}
	}
}

// TestOperatorAPIAgentReads: GET_FLAGS, GET_VERSION, GET_AGENT and
// GET_METRICS say what /flags, /version, /state and /metrics/snapshot say.
func TestOperatorAPIAgentReads(t *testing.T) {
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", func(c *Config) { c.Flags["hostname"] = "h.test" })
	eventually(t, 10*time.Second, func() bool {
		return ta.getJSON(t, "/metrics/snapshot")["slave/registered"] == 1.0
	}, "agent not registered")

	flags := ta.agentBoth(t, callOf(agentpb.Call_GET_FLAGS)).GetGetFlags()
	wantFlags := &agentpb.Response_GetFlags{Flags: []*mesospb.Flag{
		{Name: proto.String("hostname"), Value: proto.String("h.test")},
		{Name: proto.String("work_dir"), Value: proto.String(ta.workDir)},
	}}
	if diff := cmp.Diff(wantFlags, flags, protocmp.Transform()); diff != "" {
		t.Errorf("GET_FLAGS (-want +got):\n%s", diff)
	}

	version := ta.agentBoth(t, callOf(agentpb.Call_GET_VERSION)).GetGetVersion().GetVersionInfo()
	if version.GetVersion() != ta.getJSON(t, "/version")["version"] {
		t.Errorf("GET_VERSION = %v", version)
	}

	agentInfo := ta.agentBoth(t, callOf(agentpb.Call_GET_AGENT)).GetGetAgent().GetAgentInfo()
	st := ta.getJSON(t, "/state")
	if agentInfo.GetId().GetValue() != st["id"] || agentInfo.GetHostname() != st["hostname"] ||
		len(agentInfo.GetResources()) != 4 {
		t.Errorf("GET_AGENT agent_info = %v; /state id %v hostname %v", agentInfo, st["id"], st["hostname"])
	}

	for _, timeout := range []*mesospb.DurationInfo{nil, {Nanoseconds: proto.Int64(int64(time.Second))}} {
		call := &agentpb.Call{Type: agentpb.Call_GET_METRICS.Enum(), GetMetrics: &agentpb.Call_GetMetrics{Timeout: timeout}}
		metrics := map[string]float64{}
		for _, mt := range ta.agentBoth(t, call).GetGetMetrics().GetMetrics() {
			metrics[mt.GetName()] = mt.GetValue()
		}
		snap := ta.getJSON(t, "/metrics/snapshot")
		if diff := cmp.Diff(slices.Sorted(maps.Keys(snap)), slices.Sorted(maps.Keys(metrics))); diff != "" {
			t.Errorf("GET_METRICS names differ from /metrics/snapshot's (-snapshot +call):\n%s", diff)
		}
		if metrics["slave/registered"] != 1 || metrics["slave/cpus_total"] != snap["slave/cpus_total"] {
			t.Errorf("GET_METRICS slave/registered %v cpus_total %v", metrics["slave/registered"], metrics["slave/cpus_total"])
		}
	}

	ops := ta.agentBoth(t, callOf(agentpb.Call_GET_OPERATIONS))
	rps := ta.agentBoth(t, callOf(agentpb.Call_GET_RESOURCE_PROVIDERS))
	if ops.GetOperations == nil || len(ops.GetGetOperations().GetOperations()) != 0 ||
		rps.GetResourceProviders == nil || len(rps.GetGetResourceProviders().GetResourceProviders()) != 0 {
		t.Errorf("GET_OPERATIONS = %v, GET_RESOURCE_PROVIDERS = %v; want both present and empty", ops, rps)
	}
	// No executor, no container: get_containers is left unset, as
	// Mesos's evolve leaves it.
	if got := ta.agentBoth(t, validCall(agentpb.Call_GET_CONTAINERS, "")); got.GetContainers != nil {
		t.Errorf("GET_CONTAINERS without containers = %v", got)
	}
}

// TestOperatorAPILoggingLevel: SET_LOGGING_LEVEL changes the verbosity
// GET_LOGGING_LEVEL reports and the level the agent logs at, until its
// duration has passed; a later change's duration wins.
func TestOperatorAPILoggingLevel(t *testing.T) {
	level := &slog.LevelVar{}
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", func(c *Config) { c.LogLevel = level })
	set := func(v uint32, d time.Duration) {
		t.Helper()
		call := &agentpb.Call{Type: agentpb.Call_SET_LOGGING_LEVEL.Enum(), SetLoggingLevel: &agentpb.Call_SetLoggingLevel{
			Level: proto.Uint32(v), Duration: &mesospb.DurationInfo{Nanoseconds: proto.Int64(int64(d))}}}
		if r := ta.agentCall(t, "/api/v1", codec.JSON, call); r.status != http.StatusOK || len(r.body) != 0 {
			t.Fatalf("SET_LOGGING_LEVEL: %d %q", r.status, r.body)
		}
	}
	get := func() uint32 {
		t.Helper()
		return ta.agentBoth(t, callOf(agentpb.Call_GET_LOGGING_LEVEL)).GetGetLoggingLevel().GetLevel()
	}
	if v := get(); v != 0 {
		t.Fatalf("initial level %d, want 0", v)
	}
	set(1, 200*time.Millisecond)
	set(2, time.Hour) // the first change's revert must not undo this one
	if v, l := get(), level.Level(); v != 2 || l != slog.LevelDebug-1 {
		t.Errorf("after SET 2: level %d, slog %v", v, l)
	}
	time.Sleep(400 * time.Millisecond)
	if v := get(); v != 2 {
		t.Errorf("a stale revert undid the latest change: level %d", v)
	}
	set(3, 100*time.Millisecond)
	// One encoding at a time here: the revert may fall between two reads.
	getJSON := func() uint32 {
		t.Helper()
		r := ta.agentCall(t, "/api/v1", codec.JSON, callOf(agentpb.Call_GET_LOGGING_LEVEL))
		resp := &agentpb.Response{}
		if r.status != http.StatusOK || codec.UnmarshalJSON(r.body, resp) != nil {
			t.Fatalf("GET_LOGGING_LEVEL: %d %q", r.status, r.body)
		}
		return resp.GetGetLoggingLevel().GetLevel()
	}
	eventually(t, 5*time.Second, func() bool { return getJSON() == 0 && level.Level() == slog.LevelInfo },
		"level did not revert: %v", func() []string { return []string{level.Level().String()} })
}
