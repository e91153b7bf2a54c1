package operator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// AgentAddress returns the "host:port" an agent serves HTTP on, from its
// libprocess PID ("slave(1)@10.0.0.1:5051") when the master knows it, else
// from its hostname and port.
func AgentAddress(a *masterpb.Response_GetAgents_Agent) string {
	if _, hp, ok := strings.Cut(a.GetPid(), "@"); ok && hp != "" {
		return hp
	}
	info := a.GetAgentInfo()
	return fmt.Sprintf("%s:%d", info.GetHostname(), info.GetPort())
}

// agentCall sends a v1 agent call to the agent at addr ("host:port").
func (c *Client) agentCall(ctx context.Context, addr string, call *agentpb.Call, stream bool) (*agentpb.Response, error) {
	out := &agentpb.Response{}
	_, err := c.roundTrip(ctx, request{op: call.GetType().String(), method: http.MethodPost,
		path: c.scheme + "://" + addr + "/api/v1", agent: true, stream: stream}, call, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadFile is the agent's READ_FILE: up to length bytes (0: to the end)
// of the file at path (a sandbox's virtual path such as
// /frameworks/<id>/executors/<id>/runs/latest/stdout, see [SandboxPath])
// from offset. It returns the data and the file's current size.
func (c *Client) ReadFile(ctx context.Context, agentAddr, path string, offset, length uint64) ([]byte, uint64, error) {
	rf := &agentpb.Call_ReadFile{Path: proto.String(path), Offset: proto.Uint64(offset)}
	if length > 0 {
		rf.Length = proto.Uint64(length)
	}
	r, err := c.agentCall(ctx, agentAddr, &agentpb.Call{Type: agentpb.Call_READ_FILE.Enum(), ReadFile: rf}, false)
	if err != nil {
		return nil, 0, err
	}
	return r.GetReadFile().GetData(), r.GetReadFile().GetSize(), nil
}

// SandboxPath is the virtual path under which an agent serves the sandbox
// of a task: its executor's latest run (a command task's executor has the
// task's ID), and within it tasks/<task ID> for a task of a task group
// (a task whose container is nested in its executor's).
func SandboxPath(t *mesospb.Task) string {
	eid := t.GetExecutorId().GetValue()
	if eid == "" {
		eid = t.GetTaskId().GetValue()
	}
	p := "/frameworks/" + t.GetFrameworkId().GetValue() + "/executors/" + eid + "/runs/latest"
	if c := TaskContainer(t); c.GetParent() != nil {
		p += "/tasks/" + t.GetTaskId().GetValue()
	}
	return p
}

// TaskContainer returns the task's container ID from its latest status
// that has one (nil before the task runs).
func TaskContainer(t *mesospb.Task) *mesospb.ContainerID {
	for i := len(t.GetStatuses()) - 1; i >= 0; i-- {
		if id := t.GetStatuses()[i].GetContainerStatus().GetContainerId(); id.GetValue() != "" {
			return id
		}
	}
	return nil
}

// Session describes a command to run nested in a running container
// through LAUNCH_NESTED_CONTAINER_SESSION.
type Session struct {
	// Parent is the container to nest in (a task's, see [TaskContainer]).
	Parent *mesospb.ContainerID
	// Command to run; Shell runs Command[0] with /bin/sh -c.
	Command []string
	Shell   bool
	// Stdin, when set, is streamed to the command (ATTACH_CONTAINER_INPUT);
	// its EOF closes the command's stdin.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Exec runs a Session on the agent at agentAddr and returns the command's
// wait status as the agent reports it (WAIT_NESTED_CONTAINER: an exit code
// shifted as by wait(2); see ExitCode) once its output ends.
func (c *Client) Exec(ctx context.Context, agentAddr string, s Session) (int, error) {
	if len(s.Command) == 0 {
		return -1, errors.New("operator: exec: no command")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	id := &mesospb.ContainerID{Value: proto.String(uuid.NewString()), Parent: s.Parent}
	cmd := &mesospb.CommandInfo{Shell: proto.Bool(s.Shell)}
	if s.Shell {
		cmd.Value = proto.String(strings.Join(s.Command, " "))
	} else {
		cmd.Value = proto.String(s.Command[0])
		cmd.Arguments = s.Command
	}
	launch, err := codec.Marshal(codec.Protobuf, &agentpb.Call{Type: agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(),
		LaunchNestedContainerSession: &agentpb.Call_LaunchNestedContainerSession{ContainerId: id, Command: cmd}})
	if err != nil {
		return -1, err
	}
	base := c.scheme + "://" + agentAddr + "/api/v1"
	resp, done, err := c.do(ctx, request{op: "LAUNCH_NESTED_CONTAINER_SESSION", method: http.MethodPost, path: base,
		body: launch, agent: true, stream: true,
		header: http.Header{"Content-Type": {string(codec.Protobuf)}, "Accept": {string(codec.RecordIO)},
			"Message-Accept": {string(codec.Protobuf)}}})
	if err != nil {
		return -1, err
	}
	defer done()
	defer resp.Body.Close()

	// Wait at once: the agent destroys a session's container (and forgets
	// it) soon after its output ends.
	type waited struct {
		status int
		err    error
	}
	wait := make(chan waited, 1)
	go func() {
		r, err := c.agentCall(ctx, agentAddr, &agentpb.Call{Type: agentpb.Call_WAIT_NESTED_CONTAINER.Enum(),
			WaitNestedContainer: &agentpb.Call_WaitNestedContainer{ContainerId: id}}, true)
		if err == nil && r.GetWaitNestedContainer().ExitStatus == nil {
			err = fmt.Errorf("operator: exec: the command did not run: %s", r.GetWaitNestedContainer().GetMessage())
		}
		wait <- waited{int(r.GetWaitNestedContainer().GetExitStatus()), err}
	}()
	if s.Stdin != nil {
		go func() { _ = c.attachInput(ctx, base, id, s.Stdin) }()
	}
	rd := recordio.NewReader(bufio.NewReader(resp.Body), maxRecord)
	for {
		rec, err := rd.ReadRecord()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return -1, fmt.Errorf("operator: exec: reading the output: %w", err)
		}
		pio := &agentpb.ProcessIO{}
		if err := trusted.Unmarshal(codec.Protobuf, rec, pio); err != nil {
			return -1, fmt.Errorf("operator: exec: decoding the output: %w", err)
		}
		w := s.Stdout
		if pio.GetData().GetType() == agentpb.ProcessIO_Data_STDERR {
			w = s.Stderr
		}
		if w != nil && len(pio.GetData().GetData()) > 0 {
			if _, err := w.Write(pio.GetData().GetData()); err != nil {
				return -1, err
			}
		}
	}
	select {
	case w := <-wait:
		if w.err != nil {
			return -1, w.err
		}
		return w.status, nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// ExitCode turns a wait status from [Client.Exec] into a shell's exit
// code: the exit code, or 128+signal for a command killed by a signal.
func ExitCode(status int) int {
	if status&0x7f == 0 {
		return (status >> 8) & 0xff
	}
	return 128 + status&0x7f
}

// attachInput streams r into the session's stdin (ATTACH_CONTAINER_INPUT),
// then an empty chunk: EOF.
func (c *Client) attachInput(ctx context.Context, base string, id *mesospb.ContainerID, r io.Reader) error {
	pr, pw := io.Pipe()
	go func() {
		w := recordio.NewWriter(pw)
		send := func(call *agentpb.Call) error {
			b, err := codec.Marshal(codec.Protobuf, call)
			if err != nil {
				return err
			}
			return w.WriteRecord(b)
		}
		chunk := func(data []byte) error {
			return send(&agentpb.Call{Type: agentpb.Call_ATTACH_CONTAINER_INPUT.Enum(),
				AttachContainerInput: &agentpb.Call_AttachContainerInput{
					Type: agentpb.Call_AttachContainerInput_PROCESS_IO.Enum(),
					ProcessIo: &agentpb.ProcessIO{Type: agentpb.ProcessIO_DATA.Enum(),
						Data: &agentpb.ProcessIO_Data{Type: agentpb.ProcessIO_Data_STDIN.Enum(), Data: data}}}})
		}
		err := send(&agentpb.Call{Type: agentpb.Call_ATTACH_CONTAINER_INPUT.Enum(),
			AttachContainerInput: &agentpb.Call_AttachContainerInput{
				Type: agentpb.Call_AttachContainerInput_CONTAINER_ID.Enum(), ContainerId: id}})
		buf := make([]byte, 32<<10)
		for err == nil {
			n, rerr := r.Read(buf)
			if n > 0 {
				err = chunk(append([]byte(nil), buf[:n]...))
			}
			if rerr != nil {
				if err == nil {
					err = chunk([]byte{})
				}
				break
			}
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base, pr)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", string(codec.RecordIO))
	req.Header.Set("Message-Content-Type", string(codec.Protobuf))
	req.Header.Set("Accept", string(codec.Protobuf))
	if c.cfg.Principal != "" {
		req.SetBasicAuth(c.cfg.Principal, c.cfg.Secret)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode/100 != 2 {
		return &StatusError{Op: "ATTACH_CONTAINER_INPUT", URL: base, Code: resp.StatusCode}
	}
	return nil
}
