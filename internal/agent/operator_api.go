package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/agent/validation"
	"github.com/meso-project/meso/internal/authz"
	"github.com/meso-project/meso/internal/buildinfo"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/files"
	"github.com/meso-project/meso/internal/finite"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/verbosity"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
	"github.com/meso-project/meso/pkg/taskstate"
)

// The v1 agent operator API (POST /api/v1, /slave(1)/api/v1), following
// Mesos's Http::api and Http::_api (src/slave/http.cpp). The checks come
// in Mesos's order: recovery (503), method (405), Content-Type (400/415)
// and Message-Content-Type for streaming requests, Accept (406) and
// Message-Accept for streaming responses — all before the body is read —
// then the body (400), the call's validation (400, package validation),
// the streaming media types the call allows (415/406), and the call.
//
// Implemented: the reads (GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS,
// GET_LOGGING_LEVEL, LIST_FILES, READ_FILE, GET_STATE, GET_CONTAINERS,
// GET_FRAMEWORKS, GET_EXECUTORS, GET_OPERATIONS, GET_TASKS, GET_AGENT,
// GET_RESOURCE_PROVIDERS), SET_LOGGING_LEVEL, and what Mesos answers for
// PRUNE_IMAGES and the resource provider calls on an agent without image
// stores or resource providers, which meso has neither of, and the
// container calls (nested, standalone, sessions and attach:
// container_api.go).

// Mesos's header names for the media types of streaming requests and
// responses (common/http.hpp).
const (
	messageContentType = "Message-Content-Type"
	messageAccept      = "Message-Accept"
)

// apiMedia are a request's media types (Mesos's RequestMediaTypes):
// content and accept are JSON, protobuf or RecordIO; the message types
// are set for the RecordIO ones.
type apiMedia struct {
	content, accept               codec.MediaType
	messageContent, messageAccept codec.MediaType
}

// notImplemented is an agent call meso does not serve yet.
func notImplemented(t agentpb.Call_Type) error {
	return httpapi.Errorf(http.StatusNotImplemented, "Agent call %s is not implemented by this agent yet", t)
}

func (a *Agent) serveOperatorAPI(w http.ResponseWriter, r *http.Request) {
	var recovering bool
	if err := a.call(r.Context(), func() { recovering = a.recovering }); err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running"))
		return
	}
	if recovering {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusServiceUnavailable, "Agent has not finished recovery"))
		return
	}
	media, err := apiMediaTypes(r)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	call, rd, err := readAgentCall(r, media)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if err := checkStreaming(call.GetType(), media); err != nil {
		httpapi.WriteError(w, err)
		return
	}
	if msg := executorMayCall(r.Context(), call); msg != "" {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusForbidden, "%s", msg))
		return
	}
	if !a.authorizeCall(r, call) {
		authz.Forbidden(w)
		return
	}
	if v := a.viewerFor(r); v != nil {
		r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, v))
	}
	a.log.Info("processing agent operator call", "type", call.GetType().String())
	if a.serveContainerCall(w, r, call, media, rd) {
		return
	}
	resp, err := a.operatorCall(r.Context(), call)
	switch {
	case err != nil:
		httpapi.WriteError(w, err)
	case resp != nil:
		_ = httpapi.WriteMessage(w, http.StatusOK, media.accept, resp)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// apiMediaTypes checks the method and negotiates the media types, as
// Http::api does before it reads the body.
func apiMediaTypes(r *http.Request) (apiMedia, error) {
	var m apiMedia
	if r.Method != http.MethodPost {
		return m, httpapi.MethodNotAllowed(r.Method, http.MethodPost)
	}
	if len(r.Header.Values("Content-Type")) == 0 {
		return m, httpapi.Errorf(http.StatusBadRequest, "Expecting 'Content-Type' to be present")
	}
	ct, err := codec.ParseContentType(r.Header.Get("Content-Type"))
	if err != nil {
		return m, httpapi.Errorf(http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of %s or %s or %s",
			codec.JSON, codec.Protobuf, codec.RecordIO)
	}
	m.content = ct
	mct := r.Header.Values(messageContentType)
	if ct == codec.RecordIO {
		if len(mct) == 0 {
			return m, httpapi.Errorf(http.StatusBadRequest, "Expecting '%s' to be set for streaming requests", messageContentType)
		}
		m.messageContent, err = codec.ParseContentType(mct[0])
		if err != nil || m.messageContent == codec.RecordIO {
			return m, httpapi.Errorf(http.StatusUnsupportedMediaType, "Expecting '%s' of %s or %s",
				messageContentType, codec.JSON, codec.Protobuf)
		}
	} else if len(mct) > 0 {
		return m, httpapi.Errorf(http.StatusUnsupportedMediaType,
			"Expecting '%s' to be not set for non-streaming requests", messageContentType)
	}

	accept := strings.Join(r.Header.Values("Accept"), ",")
	if mt, ok := codec.Negotiate(accept); ok {
		m.accept = mt
	} else if codec.Accepts(accept, codec.RecordIO) {
		m.accept = codec.RecordIO
	} else {
		return m, httpapi.Errorf(http.StatusNotAcceptable, "Expecting 'Accept' to allow %s or %s or %s",
			codec.JSON, codec.Protobuf, codec.RecordIO)
	}
	ma, hasMA := r.Header[messageAccept]
	switch {
	case m.accept == codec.RecordIO:
		macc := strings.Join(ma, ",")
		switch {
		case !hasMA || codec.Accepts(macc, codec.JSON):
			m.messageAccept = codec.JSON
		case codec.Accepts(macc, codec.Protobuf):
			m.messageAccept = codec.Protobuf
		default:
			return m, httpapi.Errorf(http.StatusNotAcceptable, "Expecting '%s' to allow %s or %s",
				messageAccept, codec.JSON, codec.Protobuf)
		}
	case hasMA:
		return m, httpapi.Errorf(http.StatusNotAcceptable,
			"Expecting '%s' to be not set for non-streaming responses", messageAccept)
	}
	return m, nil
}

// readAgentCall reads the call: the whole body, or the first record of a
// streaming (RecordIO) body, decoded and validated; for a streaming body it
// also returns the reader of the records that follow. All errors are 400s
// with Mesos's messages (413 for a body over httpapi.MaxBodySize).
func readAgentCall(r *http.Request, m apiMedia) (*agentpb.Call, *recordio.Reader, error) {
	var body []byte
	var rd *recordio.Reader
	if m.content == codec.RecordIO {
		rd = recordio.NewReader(r.Body, httpapi.MaxBodySize)
		rec, err := rd.ReadRecord()
		if errors.Is(err, io.EOF) {
			return nil, nil, httpapi.Errorf(http.StatusBadRequest, "Received EOF while reading request body")
		}
		if err != nil {
			return nil, nil, httpapi.Errorf(http.StatusBadRequest, "%v", err)
		}
		body = rec
	} else {
		b, err := httpapi.ReadBody(r)
		if err != nil {
			return nil, nil, err
		}
		body = b
	}
	mt := m.content
	if mt == codec.RecordIO {
		mt = m.messageContent
	}
	call := &agentpb.Call{}
	if err := decodeAgentCall(mt, body, call); err != nil {
		return nil, nil, httpapi.Errorf(http.StatusBadRequest, "%s", err)
	}
	if err := finite.Check(call); err != nil {
		return nil, nil, httpapi.Errorf(http.StatusBadRequest, "Failed to validate agent::Call: %v", err)
	}
	if err := validation.Call(call); err != nil {
		return nil, nil, httpapi.Errorf(http.StatusBadRequest, "Failed to validate agent::Call: %v", err)
	}
	return call, rd, nil
}

// decodeAgentCall is Mesos's deserialize<v1::agent::Call>: a protobuf
// body that does not parse (or misses required fields) has no detail; a
// JSON body that is not JSON says so; JSON that does not fit the message
// is the conversion's own error, without a prefix.
func decodeAgentCall(mt codec.MediaType, body []byte, call *agentpb.Call) error {
	if mt == codec.Protobuf {
		if err := codec.Unmarshal(mt, body, call); err != nil {
			return errors.New("Failed to parse body into a protobuf object")
		}
		return nil
	}
	if err := httpapi.JSONSyntax(body); err != nil {
		return fmt.Errorf("Failed to parse body into JSON: %v", err)
	}
	return codec.Unmarshal(mt, body, call)
}

// checkStreaming is the start of Http::_api: only ATTACH_CONTAINER_INPUT
// takes (and needs) a streaming request, and only ATTACH_CONTAINER_OUTPUT
// and LAUNCH_NESTED_CONTAINER_SESSION answer with a stream.
func checkStreaming(t agentpb.Call_Type, m apiMedia) error {
	input := t == agentpb.Call_ATTACH_CONTAINER_INPUT
	switch {
	case m.content == codec.RecordIO && !input:
		return httpapi.Errorf(http.StatusUnsupportedMediaType,
			"Streaming 'Content-Type' %s is not supported for %s call", codec.RecordIO, t)
	case m.content != codec.RecordIO && input:
		return httpapi.Errorf(http.StatusUnsupportedMediaType,
			"Expecting 'Content-Type' to be %s for %s call", codec.RecordIO, t)
	}
	if m.accept == codec.RecordIO && t != agentpb.Call_ATTACH_CONTAINER_OUTPUT &&
		t != agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION {
		return httpapi.Errorf(http.StatusNotAcceptable, "Streaming response is not supported for %s call", t)
	}
	return nil
}

// operatorCall runs a validated call. It returns the Response to write,
// nil for a 200 without a body, or an *httpapi.Error.
func (a *Agent) operatorCall(ctx context.Context, call *agentpb.Call) (*agentpb.Response, error) {
	t := call.GetType()
	switch t {
	case agentpb.Call_UNKNOWN:
		// Mesos's NotImplemented() and its default body.
		return nil, httpapi.Errorf(http.StatusNotImplemented, "501 Not Implemented.")
	case agentpb.Call_GET_HEALTH:
		return &agentpb.Response{
			Type:      agentpb.Response_GET_HEALTH.Enum(),
			GetHealth: &agentpb.Response_GetHealth{Healthy: proto.Bool(true)},
		}, nil
	case agentpb.Call_GET_VERSION:
		// The same VersionInfo as /version.
		return &agentpb.Response{
			Type: agentpb.Response_GET_VERSION.Enum(),
			GetVersion: &agentpb.Response_GetVersion{VersionInfo: &mesospb.VersionInfo{
				Version: proto.String(Version), BuildDate: proto.String(buildinfo.BuildDate),
				BuildTime: proto.Float64(buildinfo.BuildTime), BuildUser: proto.String(buildinfo.BuildUser),
			}},
		}, nil
	case agentpb.Call_GET_METRICS:
		return a.getMetrics(ctx, call.GetGetMetrics())
	case agentpb.Call_LIST_FILES:
		return listFilesCall(a.files, call.GetListFiles().GetPath())
	case agentpb.Call_READ_FILE:
		return readFileCall(a.files, call.GetReadFile())
	case agentpb.Call_GET_CONTAINERS:
		return a.getContainers(ctx, call.GetGetContainers())
	case agentpb.Call_PRUNE_IMAGES:
		// Http::pruneImages answers OK once the containerizer pruned its
		// images; with no image store (meso has no provisioner yet) the
		// Mesos containerizer's provisioner has nothing to prune and
		// answers at once.
		return nil, nil
	case agentpb.Call_ADD_RESOURCE_PROVIDER_CONFIG, agentpb.Call_UPDATE_RESOURCE_PROVIDER_CONFIG:
		// LocalResourceProvider::validate runs first and knows only the
		// types built in; meso has no local resource provider type (Mesos
		// has its CSI storage provider on Linux only), so every config is
		// of an unknown type, as on a Mesos agent built without it.
		info := call.GetAddResourceProviderConfig().GetInfo()
		if t == agentpb.Call_UPDATE_RESOURCE_PROVIDER_CONFIG {
			info = call.GetUpdateResourceProviderConfig().GetInfo()
		}
		return nil, httpapi.Errorf(http.StatusBadRequest,
			"Failed to validate resource provider config with type '%s' and name '%s': Unknown local resource provider type '%s'",
			info.GetType(), info.GetName(), info.GetType())
	case agentpb.Call_REMOVE_RESOURCE_PROVIDER_CONFIG:
		// The local resource provider daemon fails every change without
		// --resource_provider_config_dir, which meso does not have; the
		// failed future is libprocess's 500 with its message.
		return nil, httpapi.Errorf(http.StatusInternalServerError, "Missing required flag --resource_provider_config_dir")
	}
	var resp *agentpb.Response
	var err error
	view, _ := ctx.Value(viewerKey{}).(*viewer)
	if cerr := a.call(ctx, func() { a.viewing(view, func() { resp, err = a.actorCall(call) }) }); cerr != nil {
		return nil, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running")
	}
	return resp, err
}

// actorCall answers the calls that read or change the agent's books, on
// the actor. The Response is a deep copy: it is encoded after the actor
// moved on.
func (a *Agent) actorCall(call *agentpb.Call) (*agentpb.Response, error) {
	resp := &agentpb.Response{}
	switch call.GetType() {
	case agentpb.Call_GET_FLAGS:
		// Mesos converts its flags' JSON object, whose keys are sorted.
		flags := a.flags()
		out := &agentpb.Response_GetFlags{}
		for _, name := range slices.Sorted(maps.Keys(flags)) {
			out.Flags = append(out.Flags, &mesospb.Flag{Name: proto.String(name), Value: proto.String(flags[name])})
		}
		resp.Type, resp.GetFlags = agentpb.Response_GET_FLAGS.Enum(), out
	case agentpb.Call_GET_LOGGING_LEVEL:
		resp.Type = agentpb.Response_GET_LOGGING_LEVEL.Enum()
		resp.GetLoggingLevel = &agentpb.Response_GetLoggingLevel{Level: proto.Uint32(a.logLevel.v)}
	case agentpb.Call_SET_LOGGING_LEVEL:
		c := call.GetSetLoggingLevel()
		a.setLoggingLevel(c.GetLevel(), time.Duration(c.GetDuration().GetNanoseconds()))
		return nil, nil
	case agentpb.Call_GET_STATE:
		resp.Type = agentpb.Response_GET_STATE.Enum()
		resp.GetState = &agentpb.Response_GetState{
			GetTasks: a.getTasks(), GetExecutors: a.getExecutors(), GetFrameworks: a.getFrameworks(),
		}
	case agentpb.Call_GET_FRAMEWORKS:
		resp.Type, resp.GetFrameworks = agentpb.Response_GET_FRAMEWORKS.Enum(), a.getFrameworks()
	case agentpb.Call_GET_EXECUTORS:
		resp.Type, resp.GetExecutors = agentpb.Response_GET_EXECUTORS.Enum(), a.getExecutors()
	case agentpb.Call_GET_TASKS:
		resp.Type, resp.GetTasks = agentpb.Response_GET_TASKS.Enum(), a.getTasks()
	case agentpb.Call_GET_OPERATIONS:
		// The agent keeps no operations: meso's agents apply no offer
		// operations of their own (no resource providers, no operation
		// feedback), so Mesos's list is empty.
		resp.Type, resp.GetOperations = agentpb.Response_GET_OPERATIONS.Enum(), &agentpb.Response_GetOperations{}
	case agentpb.Call_GET_AGENT:
		// No drain_config: meso's agents are never drained yet.
		resp.Type = agentpb.Response_GET_AGENT.Enum()
		resp.GetAgent = &agentpb.Response_GetAgent{AgentInfo: a.info}
	case agentpb.Call_GET_RESOURCE_PROVIDERS:
		resp.Type = agentpb.Response_GET_RESOURCE_PROVIDERS.Enum()
		resp.GetResourceProviders = &agentpb.Response_GetResourceProviders{}
	case agentpb.Call_MARK_RESOURCE_PROVIDER_GONE:
		// Slave::markResourceProviderGone: before the agent has an ID there
		// is no resource provider manager; after, the unknown provider's
		// removal is refused by its registrar, which the manager ignores,
		// and the call is answered OK.
		if a.info.GetId().GetValue() == "" {
			return nil, httpapi.Errorf(http.StatusInternalServerError,
				"Could not mark resource provider '%s' as gone: Agent has not registered yet",
				call.GetMarkResourceProviderGone().GetResourceProviderId().GetValue())
		}
		return nil, nil
	default:
		return nil, notImplemented(call.GetType())
	}
	return proto.CloneOf(resp), nil
}

// allFrameworks are the frameworks then the completed frameworks, the
// order Mesos's GET_TASKS and GET_EXECUTORS walk them in.
func (a *Agent) allFrameworks() []*framework {
	return append(a.sortedFrameworks(), a.completed...)
}

// getFrameworks is Http::serializeGetFrameworks: each framework's info.
func (a *Agent) getFrameworks() *agentpb.Response_GetFrameworks {
	out := &agentpb.Response_GetFrameworks{}
	for _, fw := range a.sortedFrameworks() {
		if a.view.framework(fw) {
			out.Frameworks = append(out.Frameworks, &agentpb.Response_GetFrameworks_Framework{FrameworkInfo: fw.info})
		}
	}
	for _, fw := range a.completed {
		if a.view.framework(fw) {
			out.CompletedFrameworks = append(out.CompletedFrameworks, &agentpb.Response_GetFrameworks_Framework{FrameworkInfo: fw.info})
		}
	}
	return out
}

// getExecutors is Http::serializeGetExecutors: every framework's
// executors and completed executors.
func (a *Agent) getExecutors() *agentpb.Response_GetExecutors {
	out := &agentpb.Response_GetExecutors{}
	for _, fw := range a.allFrameworks() {
		if !a.view.framework(fw) {
			continue
		}
		for _, ex := range fw.sortedExecutors() {
			if a.view.executor(fw, ex) {
				out.Executors = append(out.Executors, &agentpb.Response_GetExecutors_Executor{ExecutorInfo: ex.info})
			}
		}
		for _, ex := range fw.completedExecutors {
			if a.view.executor(fw, ex) {
				out.CompletedExecutors = append(out.CompletedExecutors, &agentpb.Response_GetExecutors_Executor{ExecutorInfo: ex.info})
			}
		}
	}
	return out
}

// getTasks is Http::serializeGetTasks. Per executor (live then completed,
// of every framework): queued tasks as STAGING Tasks, launched
// (non-terminal) tasks, terminated tasks (terminal, their last update not
// yet acknowledged) and completed tasks. pending_tasks stays empty: meso
// hands a task to its executor's queue at once, with nothing to wait for
// before (Mesos's pending tasks wait for authorization and for their
// directories to be kept from garbage collection).
func (a *Agent) getTasks() *agentpb.Response_GetTasks {
	out := &agentpb.Response_GetTasks{}
	for _, fw := range a.allFrameworks() {
		if !a.view.framework(fw) {
			continue
		}
		for _, ex := range append(fw.sortedExecutors(), fw.completedExecutors...) {
			for _, ti := range ex.queuedTasks() {
				if a.view.taskInfo(fw, ti) {
					out.QueuedTasks = append(out.QueuedTasks, ex.newTask(ti, mesospb.TaskState_TASK_STAGING))
				}
			}
			for _, t := range a.visibleTasks(fw, ex.launchedTasks()) {
				if taskstate.IsTerminal(t.GetState()) {
					out.TerminatedTasks = append(out.TerminatedTasks, t)
				} else {
					out.LaunchedTasks = append(out.LaunchedTasks, t)
				}
			}
			out.CompletedTasks = append(out.CompletedTasks, a.visibleTasks(fw, ex.completed)...)
		}
	}
	return out
}

// getMetrics answers GET_METRICS with the numbers of /metrics/snapshot.
// Mesos passes get_metrics.timeout to process::metrics::snapshot, where
// metrics not read in time are left out; the agent's own are read at once
// on the actor, so the timeout bounds the containerizer's.
func (a *Agent) getMetrics(ctx context.Context, c *agentpb.Call_GetMetrics) (*agentpb.Response, error) {
	snap, err := a.takeSnapshot(ctx, time.Duration(c.GetTimeout().GetNanoseconds()), c.GetTimeout() != nil)
	if err != nil {
		return nil, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running")
	}
	values := snap.Values()
	out := &agentpb.Response_GetMetrics{}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		out.Metrics = append(out.Metrics, &mesospb.Metric{Name: proto.String(name), Value: proto.Float64(values[name])})
	}
	return &agentpb.Response{Type: agentpb.Response_GET_METRICS.Enum(), GetMetrics: out}, nil
}

// filesError maps a files.Error as Http::listFiles and Http::readFile
// do: INVALID 400, UNAUTHORIZED 403, NOT_FOUND 404 (with an empty body),
// anything else 500, each with the error's message.
func filesError(err error) error {
	var fe *files.Error
	if !errors.As(err, &fe) {
		return err
	}
	status := map[files.Kind]int{
		files.Invalid:      http.StatusBadRequest,
		files.NotFound:     http.StatusNotFound,
		files.Unauthorized: http.StatusForbidden,
	}[fe.Kind]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return &httpapi.Error{Status: status, Message: fe.Message}
}

func listFilesCall(f *files.Files, path string) (*agentpb.Response, error) {
	infos, err := f.Browse(path)
	if err != nil {
		return nil, filesError(err)
	}
	return &agentpb.Response{
		Type:      agentpb.Response_LIST_FILES.Enum(),
		ListFiles: &agentpb.Response_ListFiles{FileInfos: infos},
	}, nil
}

// readFileCall reads from offset up to length bytes (to the end of the file,
// at most 16 pages, without a length). An offset at or past the end reads
// nothing and answers the file's size, as Mesos's FilesProcess::read;
// offsets and lengths beyond int64 are as good as the largest.
func readFileCall(f *files.Files, c *agentpb.Call_ReadFile) (*agentpb.Response, error) {
	clamp := func(n uint64) int64 { return int64(min(n, math.MaxInt64)) }
	length := int64(-1)
	if c.Length != nil {
		length = clamp(c.GetLength())
	}
	size, data, err := f.Read(c.GetPath(), clamp(c.GetOffset()), length)
	if err != nil {
		return nil, filesError(err)
	}
	if data == nil {
		data = []byte{} // data is a required field, present even when empty
	}
	return &agentpb.Response{
		Type:     agentpb.Response_READ_FILE.Enum(),
		ReadFile: &agentpb.Response_ReadFile{Size: proto.Uint64(uint64(size)), Data: data},
	}, nil
}

// getContainers answers GET_CONTAINERS from what /containers shows: each
// live executor's container with its status and statistics where they
// can be read. show_nested and show_standalone add containers that are
// not executors' (Mesos's __containers): those carry only their
// container_id (its value, as Mesos's JSON has it), status and
// statistics. As Mesos's evolve, get_containers is unset when there is no
// container.
func (a *Agent) getContainers(ctx context.Context, c *agentpb.Call_GetContainers) (*agentpb.Response, error) {
	live, err := a.liveContainers(ctx)
	if err != nil {
		return nil, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running")
	}
	others, err := a.apiContainers(ctx, c.GetShowNested(), c.GetShowStandalone())
	if err != nil {
		return nil, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running")
	}
	view, _ := ctx.Value(viewerKey{}).(*viewer)
	live = slices.DeleteFunc(live, func(c liveContainer) bool {
		return !a.containerVisible(ctx, view, &mesospb.ContainerID{Value: proto.String(c.containerID)})
	})
	others = slices.DeleteFunc(others, func(id string) bool { return !a.containerVisible(ctx, view, containerizer.IDProto(id)) })
	stats := a.usages(ctx, live)
	resp := &agentpb.Response{Type: agentpb.Response_GET_CONTAINERS.Enum()}
	for i, c := range live {
		if resp.GetContainers == nil {
			resp.GetContainers = &agentpb.Response_GetContainers{}
		}
		ct := &agentpb.Response_GetContainers_Container{
			FrameworkId:        &mesospb.FrameworkID{Value: proto.String(c.frameworkID)},
			ExecutorId:         &mesospb.ExecutorID{Value: proto.String(c.executorID)},
			ExecutorName:       proto.String(c.name),
			ContainerId:        &mesospb.ContainerID{Value: proto.String(c.containerID)},
			ResourceStatistics: stats[i],
		}
		if st, err := a.cz.Status(ctx, c.containerID); err == nil && st.ContainerStatus != nil {
			ct.ContainerStatus = st.ContainerStatus
		}
		resp.GetContainers.Containers = append(resp.GetContainers.Containers, ct)
	}
	for _, id := range others {
		if resp.GetContainers == nil {
			resp.GetContainers = &agentpb.Response_GetContainers{}
		}
		pbID := containerizer.IDProto(id)
		ct := &agentpb.Response_GetContainers_Container{ContainerId: &mesospb.ContainerID{Value: pbID.Value}}
		if st, err := a.cz.Status(ctx, id); err == nil && st.ContainerStatus != nil {
			ct.ContainerStatus = st.ContainerStatus
		}
		if u, err := a.cz.Usage(ctx, id); err == nil {
			ct.ResourceStatistics = u
		}
		resp.GetContainers.Containers = append(resp.GetContainers.Containers, ct)
	}
	return resp, nil
}

// logLevel is the agent's logging level for GET_LOGGING_LEVEL and
// SET_LOGGING_LEVEL: glog's verbosity (package verbosity maps it onto
// Config.LogLevel). SET_LOGGING_LEVEL changes it for `duration`, after
// which it reverts to 0, the level the agent started with (libprocess's
// Logging::set_level and revert: only the latest change's timer reverts).
// Owned by the actor.
type logLevel struct {
	v uint32
	// gen identifies the latest change; an older revert timer is stale.
	gen   int
	timer *time.Timer
	// base is Config.LogLevel's level when the agent was made.
	base slog.Level
}

func (a *Agent) setLoggingLevel(v uint32, d time.Duration) {
	a.applyVerbosity(v)
	a.logLevel.gen++
	if a.logLevel.timer != nil {
		a.logLevel.timer.Stop()
		a.logLevel.timer = nil
	}
	if v == 0 {
		return
	}
	gen := a.logLevel.gen
	a.logLevel.timer = time.AfterFunc(d, func() {
		a.post(func() {
			if a.logLevel.gen == gen {
				a.applyVerbosity(0)
				a.logLevel.timer = nil
			}
		})
	})
}

func (a *Agent) applyVerbosity(v uint32) {
	a.logLevel.v = v
	if a.cfg.LogLevel != nil {
		a.cfg.LogLevel.Set(verbosity.Level(a.logLevel.base, v))
	}
	a.log.Info("logging level set", "verbosity", v)
}
