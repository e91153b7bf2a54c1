package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
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

// runningExecutorContainer runs a task of the fake executor and returns
// its container's ID.
func runningExecutorContainer(t *testing.T) (*testAgent, string) {
	t.Helper()
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", nil)
	runTask(m, commandTask("t1", "sleep"))
	m.waitUpdate(t, "t1", mesospb.TaskState_TASK_RUNNING)
	st := ta.getJSON(t, "/state")
	cid := st["frameworks"].([]any)[0].(map[string]any)["executors"].([]any)[0].(map[string]any)["container"].(string)
	return ta, cid
}

func shellCommand(script string) *mesospb.CommandInfo {
	return &mesospb.CommandInfo{Value: proto.String(script)}
}

func launchNested(id *mesospb.ContainerID, cmd *mesospb.CommandInfo, ci *mesospb.ContainerInfo) *agentpb.Call {
	return &agentpb.Call{Type: agentpb.Call_LAUNCH_NESTED_CONTAINER.Enum(),
		LaunchNestedContainer: &agentpb.Call_LaunchNestedContainer{ContainerId: id, Command: cmd, Container: ci}}
}

func waitNested(id *mesospb.ContainerID) *agentpb.Call {
	return &agentpb.Call{Type: agentpb.Call_WAIT_NESTED_CONTAINER.Enum(),
		WaitNestedContainer: &agentpb.Call_WaitNestedContainer{ContainerId: id}}
}

// mustStatus posts call in protobuf and requires the status (and, for an
// error, the body).
func (ta *testAgent) mustStatus(t *testing.T, call *agentpb.Call, status int, body string) apiReply {
	t.Helper()
	r := ta.agentCall(t, "/api/v1", codec.Protobuf, call)
	if r.status != status || (body != "" && string(r.body) != body) {
		t.Fatalf("%s: %d %q, want %d %q", call.GetType(), r.status, r.body, status, body)
	}
	return r
}

// waitResponse waits for the container (WAIT_NESTED_CONTAINER) and
// returns the response.
func (ta *testAgent) waitResponse(t *testing.T, id *mesospb.ContainerID) *agentpb.Response_WaitNestedContainer {
	t.Helper()
	r := ta.mustStatus(t, waitNested(id), http.StatusOK, "")
	resp := &agentpb.Response{}
	if err := proto.Unmarshal(r.body, resp); err != nil {
		t.Fatal(err)
	}
	if resp.GetType() != agentpb.Response_WAIT_NESTED_CONTAINER {
		t.Fatalf("response %v", resp)
	}
	return resp.GetWaitNestedContainer()
}

func TestNestedContainerCalls(t *testing.T) {
	ta, cid := runningExecutorContainer(t)
	parent := containerID(cid, nil)
	c1 := containerID("c1", parent)

	ta.mustStatus(t, launchNested(c1, shellCommand(`echo "out $MESOS_SANDBOX"; exit 3`), nil), http.StatusOK, "")
	got := ta.waitResponse(t, c1)
	if diff := cmp.Diff(&agentpb.Response_WaitNestedContainer{ExitStatus: proto.Int32(3 << 8)}, got, protocmp.Transform()); diff != "" {
		t.Errorf("WAIT_NESTED_CONTAINER (-want +got):\n%s", diff)
	}
	sandbox := filepath.Join(ta.sandbox("t1"), "containers", "c1")
	if out, want := readFile(filepath.Join(sandbox, "stdout")), "out "+sandbox+"\n"; out != want {
		// runs/latest is a link: compare with the real path.
		if real, err := filepath.EvalSymlinks(sandbox); err != nil || out != "out "+real+"\n" {
			t.Errorf("nested stdout = %q, want %q", out, want)
		}
	}
	// WAIT_CONTAINER on the same container answers in its own field.
	r := ta.mustStatus(t, &agentpb.Call{Type: agentpb.Call_WAIT_CONTAINER.Enum(),
		WaitContainer: &agentpb.Call_WaitContainer{ContainerId: c1}}, http.StatusOK, "")
	resp := &agentpb.Response{}
	if err := proto.Unmarshal(r.body, resp); err != nil || resp.GetType() != agentpb.Response_WAIT_CONTAINER ||
		resp.GetWaitContainer().GetExitStatus() != got.GetExitStatus() {
		t.Errorf("WAIT_CONTAINER = %v, %v", resp, err)
	}

	// KILL (SIGKILL by default), then the killed container's status.
	c2 := containerID("c2", parent)
	ta.mustStatus(t, launchNested(c2, shellCommand("exec sleep 60"), nil), http.StatusOK, "")
	ta.mustStatus(t, launchNested(c2, shellCommand("exec sleep 60"), nil), http.StatusAccepted, "")
	kill := &agentpb.Call{Type: agentpb.Call_KILL_NESTED_CONTAINER.Enum(),
		KillNestedContainer: &agentpb.Call_KillNestedContainer{ContainerId: c2}}
	remove2 := &agentpb.Call{Type: agentpb.Call_REMOVE_NESTED_CONTAINER.Enum(),
		RemoveNestedContainer: &agentpb.Call_RemoveNestedContainer{ContainerId: c2}}
	ta.mustStatus(t, remove2, http.StatusInternalServerError, "Nested container has not terminated yet")

	// GET_CONTAINERS shows the running nested container with show_nested.
	show := &agentpb.Call{Type: agentpb.Call_GET_CONTAINERS.Enum(),
		GetContainers: &agentpb.Call_GetContainers{ShowNested: proto.Bool(true)}}
	var values []string
	for _, c := range ta.agentBoth(t, show).GetGetContainers().GetContainers() {
		values = append(values, c.GetContainerId().GetValue())
	}
	if diff := cmp.Diff([]string{cid, "c2"}, values); diff != "" {
		t.Errorf("GET_CONTAINERS show_nested (-want +got):\n%s", diff)
	}
	if n := len(ta.agentBoth(t, callOf(agentpb.Call_GET_CONTAINERS)).GetGetContainers().GetContainers()); n != 1 {
		t.Errorf("GET_CONTAINERS without show_nested has %d containers", n)
	}

	ta.mustStatus(t, kill, http.StatusOK, "")
	if got := ta.waitResponse(t, c2); got.GetExitStatus() != 9 {
		t.Errorf("killed container's exit status = %d, want 9 (SIGKILL)", got.GetExitStatus())
	}
	ta.mustStatus(t, kill, http.StatusNotFound, "Container '"+cid+".c2' cannot be found (or is already killed)")

	// REMOVE forgets the ended container and its sandbox.
	ta.mustStatus(t, remove2, http.StatusOK, "")
	ta.mustStatus(t, waitNested(c2), http.StatusNotFound, "Container "+cid+".c2 cannot be found")
	if _, err := os.Stat(filepath.Join(ta.sandbox("t1"), "containers", "c2")); !os.IsNotExist(err) {
		t.Errorf("the removed container's sandbox: %v", err)
	}

	// Bad input.
	ta.mustStatus(t, launchNested(containerID("x", containerID("nope", nil)), shellCommand("true"), nil),
		http.StatusBadRequest, "Parent container nope does not exist")
	r = ta.agentCall(t, "/api/v1", codec.Protobuf, launchNested(containerID("a.b", parent), shellCommand("true"), nil))
	if r.status != http.StatusBadRequest || !strings.HasPrefix(string(r.body), "Failed to validate agent::Call: ") {
		t.Errorf("a bad container ID: %d %q", r.status, r.body)
	}
	docker := &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_DOCKER.Enum(),
		Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("alpine")}}
	ta.mustStatus(t, launchNested(containerID("d", parent), shellCommand("true"), docker),
		http.StatusBadRequest, "The provided ContainerInfo is not supported")
	// Attaching to a container without a tty or a session: no switchboard.
	c3 := containerID("c3", parent)
	ta.mustStatus(t, launchNested(c3, shellCommand("exec sleep 60"), nil), http.StatusOK, "")
	ta.mustStatus(t, &agentpb.Call{Type: agentpb.Call_ATTACH_CONTAINER_OUTPUT.Enum(),
		AttachContainerOutput: &agentpb.Call_AttachContainerOutput{ContainerId: c3}},
		http.StatusInternalServerError, "I/O switchboard server was disabled for this container")
}

// session is a streaming response of ProcessIO records.
type session struct {
	cancel context.CancelFunc
	resp   *http.Response
	out    chan *agentpb.ProcessIO // closed at the end of the stream
}

// streamCall posts call (JSON) accepting a RecordIO stream of protobuf
// ProcessIO records.
func (ta *testAgent) streamCall(t *testing.T, call *agentpb.Call) *session {
	t.Helper()
	body, err := codec.Marshal(codec.JSON, call)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ta.addr+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", string(codec.JSON))
	req.Header.Set("Accept", string(codec.RecordIO))
	req.Header.Set("Message-Accept", string(codec.Protobuf))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{cancel: cancel, resp: resp, out: make(chan *agentpb.ProcessIO, 64)}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("%s: %d %q", call.GetType(), resp.StatusCode, b)
	}
	if ct, mct := resp.Header.Get("Content-Type"), resp.Header.Get("Message-Content-Type"); ct != string(codec.RecordIO) || mct != string(codec.Protobuf) {
		t.Errorf("stream media types %q, %q", ct, mct)
	}
	go func() {
		defer close(s.out)
		defer resp.Body.Close()
		rd := recordio.NewReader(resp.Body, 1<<20)
		for {
			rec, err := rd.ReadRecord()
			if err != nil {
				return
			}
			pio := &agentpb.ProcessIO{}
			if proto.Unmarshal(rec, pio) == nil {
				s.out <- pio
			}
		}
	}()
	return s
}

// readUntil collects STDOUT data until it contains want (or the stream
// ends, with end set).
func (s *session) readUntil(t *testing.T, want string, end bool) string {
	t.Helper()
	var got strings.Builder
	timeout := time.After(15 * time.Second)
	for {
		select {
		case pio, ok := <-s.out:
			if !ok {
				if end && strings.Contains(got.String(), want) {
					return got.String()
				}
				t.Fatalf("the stream ended with %q, want %q", got.String(), want)
			}
			if pio.GetType() == agentpb.ProcessIO_DATA && pio.GetData().GetType() == agentpb.ProcessIO_Data_STDOUT {
				got.Write(pio.GetData().GetData())
			}
			if !end && strings.Contains(got.String(), want) {
				return got.String()
			}
		case <-timeout:
			t.Fatalf("output so far %q, want %q", got.String(), want)
		}
	}
}

// input streams ATTACH_CONTAINER_INPUT records to the container.
type input struct {
	w    *io.PipeWriter
	rw   *recordio.Writer
	done chan apiReply
}

func (ta *testAgent) attachInput(t *testing.T, id *mesospb.ContainerID) *input {
	t.Helper()
	pr, pw := io.Pipe()
	in := &input{w: pw, rw: recordio.NewWriter(pw), done: make(chan apiReply, 1)}
	req, _ := http.NewRequest(http.MethodPost, "http://"+ta.addr+"/api/v1", pr)
	req.Header.Set("Content-Type", string(codec.RecordIO))
	req.Header.Set("Message-Content-Type", string(codec.Protobuf))
	req.Header.Set("Accept", string(codec.JSON))
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			in.done <- apiReply{status: -1, body: []byte(err.Error())}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		in.done <- apiReply{status: resp.StatusCode, body: b}
	}()
	in.send(t, &agentpb.Call{Type: agentpb.Call_ATTACH_CONTAINER_INPUT.Enum(),
		AttachContainerInput: &agentpb.Call_AttachContainerInput{
			Type: agentpb.Call_AttachContainerInput_CONTAINER_ID.Enum(), ContainerId: id}})
	t.Cleanup(func() { pw.Close() })
	return in
}

func (in *input) send(t *testing.T, call *agentpb.Call) {
	t.Helper()
	b, err := proto.Marshal(call)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.rw.WriteRecord(b); err != nil {
		t.Fatal(err)
	}
}

func (in *input) processIO(t *testing.T, pio *agentpb.ProcessIO) {
	t.Helper()
	in.send(t, &agentpb.Call{Type: agentpb.Call_ATTACH_CONTAINER_INPUT.Enum(),
		AttachContainerInput: &agentpb.Call_AttachContainerInput{
			Type: agentpb.Call_AttachContainerInput_PROCESS_IO.Enum(), ProcessIo: pio}})
}

func (in *input) stdin(t *testing.T, data string) {
	t.Helper()
	in.processIO(t, &agentpb.ProcessIO{Type: agentpb.ProcessIO_DATA.Enum(),
		Data: &agentpb.ProcessIO_Data{Type: agentpb.ProcessIO_Data_STDIN.Enum(), Data: []byte(data)}})
}

// end closes the request and returns the answer.
func (in *input) end(t *testing.T) apiReply {
	t.Helper()
	in.w.Close()
	select {
	case r := <-in.done:
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("ATTACH_CONTAINER_INPUT was not answered")
		return apiReply{}
	}
}

func sessionCall(id *mesospb.ContainerID, cmd *mesospb.CommandInfo, ci *mesospb.ContainerInfo) *agentpb.Call {
	return &agentpb.Call{Type: agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(),
		LaunchNestedContainerSession: &agentpb.Call_LaunchNestedContainerSession{ContainerId: id, Command: cmd, Container: ci}}
}

func TestNestedContainerSessionEchoes(t *testing.T) {
	ta, cid := runningExecutorContainer(t)
	id := containerID("session", containerID(cid, nil))
	s := ta.streamCall(t, sessionCall(id, shellCommand("cat"), nil))
	in := ta.attachInput(t, id)
	in.stdin(t, "hello\n")
	s.readUntil(t, "hello\n", false)
	// A second input connection is refused while the first is connected.
	second := ta.attachInput(t, id)
	if r := second.end(t); r.status != http.StatusConflict || string(r.body) != "Multiple input connections are not allowed" {
		t.Errorf("second input connection: %d %q", r.status, r.body)
	}
	in.stdin(t, "") // EOF: cat ends, and so does the session
	if rest := s.readUntil(t, "", true); rest != "" {
		t.Errorf("session output after the echo = %q", rest)
	}
	if r := in.end(t); r.status != http.StatusOK {
		t.Errorf("ATTACH_CONTAINER_INPUT: %d %q", r.status, r.body)
	}
	if got := ta.waitResponse(t, id); got.GetExitStatus() != 0 {
		t.Errorf("the session's cat ended with %d", got.GetExitStatus())
	}
	// Its output is in its sandbox too.
	if out := readFile(filepath.Join(ta.sandbox("t1"), "containers", "session", "stdout")); out != "hello\n" {
		t.Errorf("the session's stdout file = %q", out)
	}
}

func TestNestedContainerSessionWithTTY(t *testing.T) {
	ta, cid := runningExecutorContainer(t)
	id := containerID("tty", containerID(cid, nil))
	tty := &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), TtyInfo: &mesospb.TTYInfo{}}
	s := ta.streamCall(t, sessionCall(id, shellCommand("test -t 0 && echo is-a-tty; exec cat"), tty))
	s.readUntil(t, "is-a-tty", false)
	in := ta.attachInput(t, id)
	in.processIO(t, &agentpb.ProcessIO{Type: agentpb.ProcessIO_CONTROL.Enum(), Control: &agentpb.ProcessIO_Control{
		Type: agentpb.ProcessIO_Control_TTY_INFO.Enum(), TtyInfo: &mesospb.TTYInfo{
			WindowSize: &mesospb.TTYInfo_WindowSize{Rows: proto.Uint32(40), Columns: proto.Uint32(120)}}}})
	in.stdin(t, "hello\n")
	s.readUntil(t, "hello", false)
	// Closing the session destroys its container.
	s.cancel()
	if got := ta.waitResponse(t, id); got.GetExitStatus() != 9 {
		t.Errorf("the closed session's container ended with %d, want SIGKILL", got.GetExitStatus())
	}
	in.end(t)
}

func TestAttachContainerOutput(t *testing.T) {
	ta, cid := runningExecutorContainer(t)
	id := containerID("ticker", containerID(cid, nil))
	tty := &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), TtyInfo: &mesospb.TTYInfo{}}
	ta.mustStatus(t, launchNested(id, shellCommand("while true; do echo tick; sleep 0.1; done"), tty), http.StatusOK, "")
	s := ta.streamCall(t, &agentpb.Call{Type: agentpb.Call_ATTACH_CONTAINER_OUTPUT.Enum(),
		AttachContainerOutput: &agentpb.Call_AttachContainerOutput{ContainerId: id}})
	s.readUntil(t, "tick", false)
	ta.mustStatus(t, &agentpb.Call{Type: agentpb.Call_KILL_NESTED_CONTAINER.Enum(),
		KillNestedContainer: &agentpb.Call_KillNestedContainer{ContainerId: id}}, http.StatusOK, "")
	// The stream ends with the container.
	timeout := time.After(15 * time.Second)
	for ended := false; !ended; {
		select {
		case _, ok := <-s.out:
			ended = !ok
		case <-timeout:
			t.Fatal("the output stream did not end with its container")
		}
	}
}

func TestStandaloneContainerCalls(t *testing.T) {
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", nil)
	id := containerID("solo", nil)
	launch := &agentpb.Call{Type: agentpb.Call_LAUNCH_CONTAINER.Enum(), LaunchContainer: &agentpb.Call_LaunchContainer{
		ContainerId: id, Command: shellCommand(`echo "hi from $MESOS_SANDBOX"; exec sleep 60`),
		Resources: commandTask("x", "").GetResources()}}
	ta.mustStatus(t, launch, http.StatusOK, "")
	ta.mustStatus(t, launch, http.StatusAccepted, "")
	sandbox := filepath.Join(ta.workDir, "containers", "solo")
	eventually(t, 10*time.Second, func() bool {
		return readFile(filepath.Join(sandbox, "stdout")) == "hi from "+sandbox+"\n"
	}, "the standalone container's stdout: %q", readFile(filepath.Join(sandbox, "stdout")))

	show := &agentpb.Call{Type: agentpb.Call_GET_CONTAINERS.Enum(),
		GetContainers: &agentpb.Call_GetContainers{ShowStandalone: proto.Bool(true)}}
	cs := ta.agentBoth(t, show).GetGetContainers().GetContainers()
	if len(cs) != 1 || cs[0].GetContainerId().GetValue() != "solo" || cs[0].GetExecutorId() != nil {
		t.Errorf("GET_CONTAINERS show_standalone = %v", cs)
	}
	if got := ta.agentBoth(t, callOf(agentpb.Call_GET_CONTAINERS)).GetGetContainers(); len(got.GetContainers()) != 0 {
		t.Errorf("GET_CONTAINERS without show_standalone = %v", got)
	}

	remove := &agentpb.Call{Type: agentpb.Call_REMOVE_CONTAINER.Enum(),
		RemoveContainer: &agentpb.Call_RemoveContainer{ContainerId: id}}
	ta.mustStatus(t, remove, http.StatusInternalServerError, "Container has not terminated yet")
	// Attaching needs an executor's container (Mesos answers 404 here).
	ta.mustStatus(t, &agentpb.Call{Type: agentpb.Call_ATTACH_CONTAINER_OUTPUT.Enum(),
		AttachContainerOutput: &agentpb.Call_AttachContainerOutput{ContainerId: id}}, http.StatusNotFound, "Container solo cannot be found")

	wait := &agentpb.Call{Type: agentpb.Call_WAIT_CONTAINER.Enum(), WaitContainer: &agentpb.Call_WaitContainer{ContainerId: id}}
	kill := &agentpb.Call{Type: agentpb.Call_KILL_CONTAINER.Enum(), KillContainer: &agentpb.Call_KillContainer{
		ContainerId: id, Signal: proto.Int32(15)}}
	// A WAIT sent before the end gets the termination; one that reaches
	// the agent after it, a 404 (the container is forgotten). The test
	// cannot see when the WAIT is pending, so it waits a while before the
	// kill, and tries again, longer, if the WAIT came too late.
	var r apiReply
	for attempt, delay := range []time.Duration{300 * time.Millisecond, 2 * time.Second, 5 * time.Second} {
		if attempt > 0 {
			eventually(t, 10*time.Second, func() bool {
				return ta.agentCall(t, "/api/v1", codec.Protobuf, launch).status == http.StatusOK
			}, "relaunch failed")
		}
		waited := make(chan apiReply, 1)
		go func() {
			body, _ := proto.Marshal(wait)
			req, _ := http.NewRequest(http.MethodPost, "http://"+ta.addr+"/api/v1", bytes.NewReader(body))
			req.Header.Set("Content-Type", string(codec.Protobuf))
			req.Header.Set("Accept", string(codec.Protobuf))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				waited <- apiReply{status: -1, body: []byte(err.Error())}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			waited <- apiReply{status: resp.StatusCode, body: b}
		}()
		time.Sleep(delay)
		ta.mustStatus(t, kill, http.StatusOK, "")
		select {
		case r = <-waited:
		case <-time.After(15 * time.Second):
			t.Fatal("WAIT_CONTAINER was not answered")
		}
		if r.status != http.StatusNotFound {
			break
		}
	}
	resp := &agentpb.Response{}
	if r.status != http.StatusOK || proto.Unmarshal(r.body, resp) != nil {
		t.Fatalf("WAIT_CONTAINER: %d %q", r.status, r.body)
	}
	want := &agentpb.Response{Type: agentpb.Response_WAIT_CONTAINER.Enum(),
		WaitContainer: &agentpb.Response_WaitContainer{ExitStatus: proto.Int32(15)}}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Errorf("WAIT_CONTAINER (-want +got):\n%s", diff)
	}
	// Ended, a standalone container is forgotten, as Mesos forgets a
	// top-level container: 404s, and the ID may be launched again.
	eventually(t, 10*time.Second, func() bool {
		return ta.agentCall(t, "/api/v1", codec.Protobuf, wait).status == http.StatusNotFound
	}, "the ended standalone container is still known")
	ta.mustStatus(t, remove, http.StatusNotFound, "Container solo cannot be found")
	ta.mustStatus(t, launch, http.StatusOK, "")
	ta.mustStatus(t, kill, http.StatusOK, "")
}

func TestStandaloneContainersDieWithTheAgent(t *testing.T) {
	m := newFakeMaster(t, 30)
	ta := startAgent(t, m, "normal", nil)
	ta.mustStatus(t, &agentpb.Call{Type: agentpb.Call_LAUNCH_CONTAINER.Enum(), LaunchContainer: &agentpb.Call_LaunchContainer{
		ContainerId: containerID("solo", nil), Command: shellCommand("echo $$ > pid; exec sleep 60")}}, http.StatusOK, "")
	pidFile := filepath.Join(ta.workDir, "containers", "solo", "pid")
	eventually(t, 10*time.Second, func() bool { return strings.HasSuffix(readFile(pidFile), "\n") }, "no pid")
	var pid int
	if _, err := fmtSscan(readFile(pidFile), &pid); err != nil {
		t.Fatal(err)
	}
	ta.stop()
	if processAlive(pid) {
		t.Error("the standalone container outlived the agent")
	}
}

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(strings.TrimSpace(s), v) }
