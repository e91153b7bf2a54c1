package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/containerizer/ioswitchboard"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// The container calls of the v1 agent API (Mesos's Http::launchContainer,
// waitContainer, killContainer, removeContainer, attachContainerInput,
// attachContainerOutput and launchNestedContainerSession in
// src/slave/http.cpp): nested containers under executors' containers (what
// the default executor runs its tasks in, and `mesos task exec`), and
// standalone containers, which belong to no executor. The containerizer
// (containerizer.Nester) does the work; the agent keeps only the set of
// standalone containers it launched, and destroys them, and every nested
// container, when it stops (meso does not recover them across restarts).

// containerCalls are the calls served here.
var containerCalls = []agentpb.Call_Type{
	agentpb.Call_LAUNCH_NESTED_CONTAINER, agentpb.Call_WAIT_NESTED_CONTAINER,
	agentpb.Call_KILL_NESTED_CONTAINER, agentpb.Call_REMOVE_NESTED_CONTAINER,
	agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION, agentpb.Call_ATTACH_CONTAINER_INPUT,
	agentpb.Call_ATTACH_CONTAINER_OUTPUT, agentpb.Call_LAUNCH_CONTAINER, agentpb.Call_WAIT_CONTAINER,
	agentpb.Call_KILL_CONTAINER, agentpb.Call_REMOVE_CONTAINER,
}

// outputHeartbeatInterval is how often an attached output stream carries a
// HEARTBEAT control record (Mesos's --http_heartbeat_interval, 30 s).
var outputHeartbeatInterval = 30 * time.Second

// defaultPath is the PATH of a container whose environment has none, as
// Mesos's launch helper sets it (os::host_default_path).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// containerIDString is Mesos's stringify(ContainerID): the values from the
// root down, joined by '.'.
func containerIDString(id *mesospb.ContainerID) string {
	if id.GetParent() == nil {
		return id.GetValue()
	}
	return containerIDString(id.GetParent()) + "." + id.GetValue()
}

// serveContainerCall serves the container calls; false for other calls.
// rd is the rest of a streaming (RecordIO) request body.
func (a *Agent) serveContainerCall(w http.ResponseWriter, r *http.Request, call *agentpb.Call, m apiMedia, rd *recordio.Reader) bool {
	t := call.GetType()
	if !slices.Contains(containerCalls, t) {
		return false
	}
	cz, ok := a.cz.(containerizer.Nester)
	if !ok {
		httpapi.WriteError(w, notImplemented(t))
		return true
	}
	ctx := r.Context()
	var err error
	switch t {
	case agentpb.Call_LAUNCH_NESTED_CONTAINER:
		c := call.GetLaunchNestedContainer()
		err = a.launchContainer(ctx, c.GetContainerId(), c.GetCommand(), nil, nil, c.GetContainer(), false)
	case agentpb.Call_LAUNCH_CONTAINER:
		c := call.GetLaunchContainer()
		err = a.launchContainer(ctx, c.GetContainerId(), c.GetCommand(), c.GetResources(), c.GetLimits(), c.GetContainer(), false)
	case agentpb.Call_WAIT_NESTED_CONTAINER:
		a.serveWaitContainer(w, ctx, call.GetWaitNestedContainer().GetContainerId(), m.accept, true)
		return true
	case agentpb.Call_WAIT_CONTAINER:
		a.serveWaitContainer(w, ctx, call.GetWaitContainer().GetContainerId(), m.accept, false)
		return true
	case agentpb.Call_KILL_NESTED_CONTAINER:
		c := call.GetKillNestedContainer()
		err = a.killContainer(ctx, cz, c.GetContainerId(), c.Signal)
	case agentpb.Call_KILL_CONTAINER:
		c := call.GetKillContainer()
		err = a.killContainer(ctx, cz, c.GetContainerId(), c.Signal)
	case agentpb.Call_REMOVE_NESTED_CONTAINER:
		err = a.removeContainer(ctx, cz, call.GetRemoveNestedContainer().GetContainerId())
	case agentpb.Call_REMOVE_CONTAINER:
		err = a.removeContainer(ctx, cz, call.GetRemoveContainer().GetContainerId())
	case agentpb.Call_ATTACH_CONTAINER_OUTPUT:
		a.attachOutput(w, r, cz, call.GetAttachContainerOutput().GetContainerId(), m, nil)
		return true
	case agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION:
		a.launchSession(w, r, cz, call.GetLaunchNestedContainerSession(), m)
		return true
	case agentpb.Call_ATTACH_CONTAINER_INPUT:
		a.attachInput(w, r, cz, call.GetAttachContainerInput(), m, rd)
		return true
	}
	var accepted *launchAccepted
	switch {
	case errors.As(err, &accepted):
		w.WriteHeader(http.StatusAccepted)
	case err != nil:
		httpapi.WriteError(w, err)
	default:
		w.WriteHeader(http.StatusOK)
	}
	return true
}

// launchAccepted is Mesos's ALREADY_LAUNCHED: 202 Accepted.
type launchAccepted struct{}

func (*launchAccepted) Error() string { return "already launched" }

// launchContainer is Http::_launchContainer: a nested container under a
// running container, or a standalone one with a sandbox of its own at
// <work_dir>/containers/<id>. It answers nil (200), *launchAccepted (202,
// the ID runs already) or an *httpapi.Error: 400 with the launch failure.
func (a *Agent) launchContainer(ctx context.Context, pbID *mesospb.ContainerID, cmd *mesospb.CommandInfo,
	res []*mesospb.Resource, limits map[string]*mesospb.Value_Scalar, ci *mesospb.ContainerInfo, debug bool) error {
	id := containerIDString(pbID)
	argv := commandArgv(cmd)
	env := map[string]string{}
	for _, v := range cmd.GetEnvironment().GetVariables() {
		if v.GetType() != mesospb.Environment_Variable_SECRET {
			env[v.GetName()] = v.GetValue() // secrets: the environment_secret isolator
		}
	}
	cfg := containerizer.ContainerConfig{
		ID: id, Command: argv, Resources: res, ContainerInfo: ci, CommandInfo: cmd, Debug: debug,
	}
	if len(limits) > 0 {
		cfg.Limits = make(map[string]float64, len(limits))
		for name, v := range limits {
			cfg.Limits[name] = v.GetValue()
		}
	}
	if a.cfg.SwitchUser && cmd.GetUser() != "" {
		cfg.User = cmd.GetUser()
	}
	_, nested := containerizer.ParentID(id)
	if !nested {
		dir := filepath.Join(a.cfg.WorkDir, "containers", id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return httpapi.Errorf(http.StatusInternalServerError, "Failed to create sandbox: %v", err)
		}
		if err := chownSandbox(dir, cfg.User); err != nil {
			return httpapi.Errorf(http.StatusInternalServerError, "Failed to create sandbox: %v", err)
		}
		cfg.Dir, cfg.Stdout, cfg.Stderr = dir, filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
		if _, ok := env["MESOS_SANDBOX"]; !ok {
			env["MESOS_SANDBOX"] = dir
		}
		if err := a.call(ctx, func() { a.standalone[id] = true }); err != nil {
			return httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running")
		}
	}
	if _, ok := env["PATH"]; !ok && !nested {
		env["PATH"] = defaultPath // nested: the containerizer's choice
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cfg.Env = append(cfg.Env, k+"="+env[k])
	}
	a.log.Info("launching container", "container_id", id, "debug", debug)
	// The launch outlives the request, as Mesos's does: a client that goes
	// away does not undo it.
	err := a.fetchAndLaunchContainer(context.WithoutCancel(ctx), cfg, nested)
	if err != nil && !nested && !errors.Is(err, containerizer.ErrExists) {
		a.post(func() { delete(a.standalone, id) })
	}
	var le *containerizer.LaunchError
	switch {
	case err == nil:
		if !nested {
			a.forgetWhenEnded(id)
		}
		return nil
	case errors.Is(err, containerizer.ErrExists):
		return &launchAccepted{}
	case errors.Is(err, containerizer.ErrNotSupported):
		return httpapi.Errorf(http.StatusBadRequest, "The provided ContainerInfo is not supported")
	case errors.As(err, &le):
		return httpapi.Errorf(http.StatusBadRequest, "%s", le.Err.Error())
	default:
		return httpapi.Errorf(http.StatusBadRequest, "%s", containerizerCause(err))
	}
}

// fetchAndLaunchContainer launches a container of the operator API,
// fetching its command's URIs into its sandbox first as Mesos's
// containerizer does for every container: the sandbox is
// <root sandbox>/containers/<child> (the root being an executor's
// container or a standalone one), and the fetch runs as the container's
// user, which is its parent's when the command names none.
func (a *Agent) fetchAndLaunchContainer(ctx context.Context, cfg containerizer.ContainerConfig, nested bool) error {
	uris := cfg.CommandInfo.GetUris()
	if len(uris) == 0 || !nested {
		return a.fetchAndLaunch(ctx, cfg, cfg.User, uris)
	}
	root := containerizer.RootID(cfg.ID)
	var rootDir, rootUser string
	if err := a.call(ctx, func() {
		if ex := a.executorOfContainer(cfg.ID); ex != nil {
			rootDir, rootUser = ex.directory, a.executorUser(ex)
		} else if a.standalone[root] {
			rootDir = filepath.Join(a.cfg.WorkDir, "containers", root)
		}
	}); err != nil {
		return err
	}
	if rootDir == "" {
		// No such root: the containerizer refuses the launch in Mesos's words.
		return a.cz.Launch(ctx, cfg)
	}
	cfg.Dir = containerizer.SandboxPath(rootDir, cfg.ID)
	runAs := cfg.User
	if runAs == "" {
		runAs = rootUser
	}
	return a.fetchAndLaunch(ctx, cfg, runAs, uris)
}

// forgetWhenEnded forgets a standalone container once it ended, as Mesos's
// containerizer forgets a top-level container: WAIT_CONTAINER then answers
// 404, and the ID may be launched again.
func (a *Agent) forgetWhenEnded(id string) {
	var ctx context.Context
	if err := a.call(context.Background(), func() { ctx = a.ctx }); err != nil || ctx == nil {
		return
	}
	go func() {
		if _, err := a.cz.Wait(ctx, id); err != nil {
			return
		}
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := a.cz.Destroy(dctx, id, 0); err != nil && !errors.Is(err, containerizer.ErrUnknown) {
			a.log.Warn("failed to forget an ended standalone container", "container_id", id, "err", err)
		}
		a.post(func() { delete(a.standalone, id) })
	}()
}

// serveWaitContainer is Http::_waitContainer: the container's termination once
// it ended, 404 for a container the containerizer does not know.
func (a *Agent) serveWaitContainer(w http.ResponseWriter, ctx context.Context, pbID *mesospb.ContainerID, accept codec.MediaType, deprecated bool) {
	id := containerIDString(pbID)
	term, err := a.cz.Wait(ctx, id)
	switch {
	case errors.Is(err, containerizer.ErrUnknown):
		httpapi.WriteError(w, httpapi.Errorf(http.StatusNotFound, "Container %s cannot be found", id))
		return
	case err != nil:
		if ctx.Err() == nil {
			httpapi.WriteError(w, err)
		}
		return
	}
	// Mesos's ContainerTermination: the wait status when the process ran;
	// state, reason, message and the resources of a limitation.
	var status *int32
	if term.Status >= 0 {
		status = proto.Int32(int32(term.Status))
	}
	resp := &agentpb.Response{}
	if deprecated {
		out := &agentpb.Response_WaitNestedContainer{ExitStatus: status}
		if l := term.Limitation; l != nil {
			out.State, out.Reason, out.Message = mesospb.TaskState_TASK_FAILED.Enum(), l.Reason.Enum(), proto.String(l.Message)
			if len(l.Resources) > 0 {
				out.Limitation = &mesospb.TaskResourceLimitation{Resources: l.Resources}
			}
		}
		resp.Type, resp.WaitNestedContainer = agentpb.Response_WAIT_NESTED_CONTAINER.Enum(), out
	} else {
		out := &agentpb.Response_WaitContainer{ExitStatus: status}
		if l := term.Limitation; l != nil {
			out.State, out.Reason, out.Message = mesospb.TaskState_TASK_FAILED.Enum(), l.Reason.Enum(), proto.String(l.Message)
			if len(l.Resources) > 0 {
				out.Limitation = &mesospb.TaskResourceLimitation{Resources: l.Resources}
			}
		}
		resp.Type, resp.WaitContainer = agentpb.Response_WAIT_CONTAINER.Enum(), out
	}
	_ = httpapi.WriteMessage(w, http.StatusOK, accept, resp)
}

// killContainer is Http::_killContainer: the signal (SIGKILL by default)
// goes to the container's first process.
func (a *Agent) killContainer(ctx context.Context, cz containerizer.Nester, pbID *mesospb.ContainerID, signal *int32) error {
	id := containerIDString(pbID)
	sig := syscall.SIGKILL
	if signal != nil {
		sig = syscall.Signal(*signal)
	}
	err := cz.Kill(ctx, id, sig)
	if errors.Is(err, containerizer.ErrUnknown) {
		return httpapi.Errorf(http.StatusNotFound, "Container '%s' cannot be found (or is already killed)", id)
	}
	if err != nil {
		return httpapi.Errorf(http.StatusInternalServerError, "%s", containerizerCause(err))
	}
	return nil
}

// removeContainer is Http::_removeContainer: an ended container is
// forgotten and its sandbox removed; failures are libprocess's 500s with
// Mesos's messages.
func (a *Agent) removeContainer(ctx context.Context, cz containerizer.Nester, pbID *mesospb.ContainerID) error {
	id := containerIDString(pbID)
	_, nested := containerizer.ParentID(id)
	err := cz.Remove(ctx, id)
	switch {
	case errors.Is(err, containerizer.ErrNotTerminated):
		if nested {
			return httpapi.Errorf(http.StatusInternalServerError, "Nested container has not terminated yet")
		}
		return httpapi.Errorf(http.StatusInternalServerError, "Container has not terminated yet")
	case errors.Is(err, containerizer.ErrUnknown) && nested:
		return httpapi.Errorf(http.StatusInternalServerError, "Unknown root container")
	case errors.Is(err, containerizer.ErrUnknown):
		return httpapi.Errorf(http.StatusNotFound, "Container %s cannot be found", id)
	case err != nil:
		return httpapi.Errorf(http.StatusInternalServerError, "%s", containerizerCause(err))
	}
	if !nested {
		if err := a.call(ctx, func() { delete(a.standalone, id) }); err != nil {
			return httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running")
		}
		if err := os.RemoveAll(filepath.Join(a.cfg.WorkDir, "containers", id)); err != nil {
			return httpapi.Errorf(http.StatusInternalServerError, "Failed to remove the sandbox directory: %v", err)
		}
	}
	return nil
}

// executorOfContainer is Mesos's Slave::getExecutor(ContainerID): the live
// executor whose container is the root of id (on the actor).
func (a *Agent) executorOfContainer(id string) *executor {
	root := containerizer.RootID(id)
	for _, fw := range a.frameworks {
		for _, ex := range fw.executors {
			if ex.containerID == root && ex.state != executorTerminated {
				return ex
			}
		}
	}
	return nil
}

// switchboardOf finds the switchboard of a container under an executor:
// 404 without the executor (Mesos attaches only to executors' containers
// and those nested in them), 500 without a switchboard.
func (a *Agent) switchboardOf(ctx context.Context, cz containerizer.Nester, id string) (*ioswitchboard.Switchboard, error) {
	var found bool
	if err := a.call(ctx, func() { found = a.executorOfContainer(id) != nil }); err != nil {
		return nil, httpapi.Errorf(http.StatusServiceUnavailable, "Agent is not running")
	}
	if !found {
		return nil, httpapi.Errorf(http.StatusNotFound, "Container %s cannot be found", id)
	}
	sb, err := cz.Attach(ctx, id)
	switch {
	case errors.Is(err, containerizer.ErrUnknown):
		return nil, httpapi.Errorf(http.StatusNotFound, "Container %s cannot be found", id)
	case err != nil:
		return nil, httpapi.Errorf(http.StatusInternalServerError, "%s", err.Error())
	}
	return sb, nil
}

// attachOutput is Http::attachContainerOutput: a 200 whose body carries
// the container's output as ProcessIO records (RecordIO framed, with
// Message-Content-Type, when the client accepts application/recordio),
// with a HEARTBEAT control record now and then, until the output ends.
// started, when set, is called once the response has started.
func (a *Agent) attachOutput(w http.ResponseWriter, r *http.Request, cz containerizer.Nester, pbID *mesospb.ContainerID,
	m apiMedia, sb *ioswitchboard.Switchboard) {
	id := containerIDString(pbID)
	ctx := r.Context()
	if sb == nil {
		var err error
		if sb, err = a.switchboardOf(ctx, cz, id); err != nil {
			httpapi.WriteError(w, err)
			return
		}
	}
	out, err := sb.Output(ctx)
	if err != nil {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusInternalServerError, "%s", err.Error()))
		return
	}
	mt := m.accept
	h := w.Header()
	h.Set("Content-Type", string(m.accept))
	if m.accept == codec.RecordIO {
		mt = m.messageAccept
		h.Set(messageContentType, string(mt))
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	rw := recordio.NewWriter(w)
	send := func(pio *agentpb.ProcessIO) error {
		b, err := codec.Marshal(mt, pio)
		if err != nil {
			return err
		}
		if m.accept == codec.RecordIO {
			err = rw.WriteRecord(b)
		} else {
			_, err = w.Write(b)
		}
		if err != nil {
			return err
		}
		return rc.Flush()
	}
	hb := time.NewTicker(outputHeartbeatInterval)
	defer hb.Stop()
	for {
		select {
		case o, ok := <-out:
			if !ok {
				return
			}
			typ := agentpb.ProcessIO_Data_STDOUT
			if o.Stream == ioswitchboard.Stderr {
				typ = agentpb.ProcessIO_Data_STDERR
			}
			if send(&agentpb.ProcessIO{Type: agentpb.ProcessIO_DATA.Enum(),
				Data: &agentpb.ProcessIO_Data{Type: typ.Enum(), Data: o.Data}}) != nil {
				return
			}
		case <-hb.C:
			if send(&agentpb.ProcessIO{Type: agentpb.ProcessIO_CONTROL.Enum(), Control: &agentpb.ProcessIO_Control{
				Type: agentpb.ProcessIO_Control_HEARTBEAT.Enum(),
				Heartbeat: &agentpb.ProcessIO_Control_Heartbeat{Interval: &mesospb.DurationInfo{
					Nanoseconds: proto.Int64(int64(outputHeartbeatInterval))}},
			}}) != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// launchSession is Http::launchNestedContainerSession: a DEBUG nested
// container whose output is the response; the container is destroyed
// when the output ends or the client goes away.
func (a *Agent) launchSession(w http.ResponseWriter, r *http.Request, cz containerizer.Nester,
	c *agentpb.Call_LaunchNestedContainerSession, m apiMedia) {
	ctx := r.Context()
	id := containerIDString(c.GetContainerId())
	err := a.launchContainer(ctx, c.GetContainerId(), c.GetCommand(), nil, nil, c.GetContainer(), true)
	var accepted *launchAccepted
	switch {
	case errors.As(err, &accepted):
		w.WriteHeader(http.StatusAccepted)
		return
	case err != nil:
		httpapi.WriteError(w, err)
		return
	}
	destroy := func() {
		go func() {
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := a.cz.Destroy(dctx, id, 0); err != nil && !errors.Is(err, containerizer.ErrUnknown) {
				a.log.Error("failed to destroy a session's nested container", "container_id", id, "err", err)
			}
		}()
	}
	defer destroy()
	sb, err := a.switchboardOf(ctx, cz, id)
	if err != nil {
		a.log.Warn("failed to attach to a session's nested container", "container_id", id, "err", err)
		httpapi.WriteError(w, err)
		return
	}
	a.attachOutput(w, r, cz, c.GetContainerId(), m, sb)
	if ctx.Err() == nil {
		// The output ended with the client still there: the command is
		// exiting. Let it, so that a WAIT_NESTED_CONTAINER the client has
		// open (meso task exec, Mesos's CLI) sees its own exit status, not
		// the destroy's SIGKILL.
		wctx, cancel := context.WithTimeout(context.Background(), sessionExitGrace)
		_, _ = a.cz.Wait(wctx, id)
		cancel()
	}
}

// sessionExitGrace is how long a session's command may take to exit once
// its output has ended before the session destroys it.
const sessionExitGrace = 5 * time.Second

// attachInput is Http::attachContainerInput and the switchboard's input
// side: the records after the first (which names the container) are
// PROCESS_IO calls: data for stdin (empty data closes it, without a tty),
// the tty's window size, heartbeats. One client at a time (409). It
// answers 200 at the end of the request, or once the container's output
// has ended.
func (a *Agent) attachInput(w http.ResponseWriter, r *http.Request, cz containerizer.Nester,
	first *agentpb.Call_AttachContainerInput, m apiMedia, rd *recordio.Reader) {
	if first.GetType() != agentpb.Call_AttachContainerInput_CONTAINER_ID {
		httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest,
			"Expecting 'attach_container_input.type' to be CONTAINER_ID"))
		return
	}
	ctx := r.Context()
	id := containerIDString(first.GetContainerId())
	sb, err := a.switchboardOf(ctx, cz, id)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	in, err := sb.Input()
	switch {
	case errors.Is(err, ioswitchboard.ErrInputConnected):
		httpapi.WriteError(w, httpapi.Errorf(http.StatusConflict, "%s", err.Error()))
		return
	case err != nil:
		httpapi.WriteError(w, httpapi.Errorf(http.StatusInternalServerError, "%s", err.Error()))
		return
	}
	defer in.Close()

	type record struct {
		call *agentpb.Call
		err  error
	}
	records := make(chan record)
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	go func() {
		for {
			rec, err := rd.ReadRecord()
			var rc record
			if err != nil {
				rc.err = err
			} else {
				rc.call = &agentpb.Call{}
				if derr := decodeAgentCall(m.messageContent, rec, rc.call); derr != nil {
					rc.err = derr
				}
			}
			select {
			case records <- rc:
			case <-readCtx.Done():
				return
			}
			if rc.err != nil {
				return
			}
		}
	}()
	for {
		select {
		case rc := <-records:
			if errors.Is(rc.err, io.EOF) {
				w.WriteHeader(http.StatusOK)
				return
			}
			if rc.err != nil {
				httpapi.WriteError(w, httpapi.Errorf(http.StatusBadRequest, "%s", rc.err.Error()))
				return
			}
			if err := a.processIO(in, rc.call); err != nil {
				httpapi.WriteError(w, err)
				return
			}
		case <-sb.Done():
			// The container's output ended: the switchboard answers the
			// input connection, as Mesos's does once its redirects finish.
			w.WriteHeader(http.StatusOK)
			return
		case <-ctx.Done():
			return
		}
	}
}

// processIO applies one input record, checked as Mesos's switchboard
// validates it.
func (a *Agent) processIO(in *ioswitchboard.Input, call *agentpb.Call) error {
	bad := func(format string, args ...any) error { return httpapi.Errorf(http.StatusBadRequest, format, args...) }
	if call.GetType() != agentpb.Call_ATTACH_CONTAINER_INPUT || call.GetAttachContainerInput() == nil {
		return bad("Expecting 'type' to be ATTACH_CONTAINER_INPUT")
	}
	c := call.GetAttachContainerInput()
	if c.GetType() != agentpb.Call_AttachContainerInput_PROCESS_IO {
		return bad("Expecting 'attach_container_input.type' to be 'PROCESS_IO' instead of: '%s'", c.GetType())
	}
	pio := c.GetProcessIo()
	if pio == nil {
		return bad("Expecting 'attach_container_input.process_io' to be present")
	}
	if pio.Type == nil {
		return bad("Expecting 'process_io.type' to be present")
	}
	switch pio.GetType() {
	case agentpb.ProcessIO_CONTROL:
		ctl := pio.GetControl()
		if ctl == nil {
			return bad("Expecting 'process_io.control' to be present")
		}
		if ctl.Type == nil {
			return bad("Expecting 'process_io.control.type' to be present")
		}
		switch ctl.GetType() {
		case agentpb.ProcessIO_Control_TTY_INFO:
			if ctl.GetTtyInfo() == nil {
				return bad("Expecting 'process_io.control.tty_info' to be present")
			}
			ws := ctl.GetTtyInfo().GetWindowSize()
			if ws == nil {
				return bad("Expecting 'tty_info.window_size' to be present")
			}
			if err := in.Resize(ioswitchboard.WindowSize{Rows: uint16(ws.GetRows()), Columns: uint16(ws.GetColumns())}); err != nil {
				return bad("Unable to set the window size: %v", err)
			}
		case agentpb.ProcessIO_Control_HEARTBEAT:
			if ctl.GetHeartbeat() == nil {
				return bad("Expecting 'process_io.control.heartbeat' to be present")
			}
		default:
			return bad("'process_io.control.type' is unknown")
		}
	case agentpb.ProcessIO_DATA:
		d := pio.GetData()
		if d == nil {
			return bad("Expecting 'process_io.data' to be present")
		}
		if d.Type == nil {
			return bad("Expecting 'process_io.data.type' to be present")
		}
		if d.GetType() != agentpb.ProcessIO_Data_STDIN {
			return bad("Expecting 'process_io.data.type' to be 'STDIN'")
		}
		if d.Data == nil {
			return bad("Expecting 'process_io.data.data' to be present")
		}
		if err := in.Write(d.GetData()); err != nil {
			return httpapi.Errorf(http.StatusInternalServerError, "%s", err.Error())
		}
	default:
		return bad("'process_io.type' is unknown")
	}
	return nil
}

// apiContainers are the containers GET_CONTAINERS adds with show_nested
// and show_standalone (Mesos's __containers): the live nested containers
// whose root is a live executor's or a standalone container, and the
// standalone containers.
func (a *Agent) apiContainers(ctx context.Context, showNested, showStandalone bool) ([]string, error) {
	if !showNested && !showStandalone {
		return nil, nil
	}
	ids, err := a.cz.Containers(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	err = a.call(ctx, func() {
		for _, id := range ids {
			_, nested := containerizer.ParentID(id)
			root := containerizer.RootID(id)
			switch {
			case nested && !showNested, !nested && !a.standalone[id]:
				continue
			case !nested && !showStandalone:
				continue
			case nested && !a.standalone[root] && a.executorOfContainer(root) == nil:
				continue
			}
			out = append(out, id)
		}
	})
	return out, err
}

// destroyAPIContainers destroys the standalone containers and every nested
// one when the agent stops: meso does not recover them (off the actor).
func (a *Agent) destroyAPIContainers(standalone []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids, err := a.cz.Containers(ctx)
	if err != nil {
		return
	}
	for _, id := range ids {
		if _, nested := containerizer.ParentID(id); nested || slices.Contains(standalone, id) {
			if err := a.cz.Destroy(ctx, id, 0); err != nil && !errors.Is(err, containerizer.ErrUnknown) {
				a.log.Warn("failed to destroy a container the agent cannot recover", "container_id", id, "err", fmt.Sprint(err))
			}
		}
	}
}
