package defaultexec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
)

// agentAPI is a client of the agent's v1 operator API (the URL Mesos's
// default executor derives from MESOS_SLAVE_PID: http://ip:port/slave(1)/api/v1),
// for the calls on the task containers nested under the executor's own.
// Safe for concurrent use.
type agentAPI struct {
	url    string
	auth   string // Authorization header value ("Bearer <token>"), or ""
	client *http.Client
}

// response is an answer of the agent: its status code, status line text and
// body (Mesos puts error messages there).
type response struct {
	code   int
	status string
	body   []byte
}

// maxResponse bounds the body read from one answer.
const maxResponse = 16 << 20

// post sends call and returns the agent's answer, whatever its status code;
// the error is a transport failure (the agent could not be reached, or the
// connection broke before the answer was read).
func (c *agentAPI) post(ctx context.Context, call *agentpb.Call) (response, error) {
	return c.postAccept(ctx, call, codec.Protobuf)
}

// postAccept is post asking for the answer in accept; a RecordIO answer's
// records are protobuf (Message-Accept).
func (c *agentAPI) postAccept(ctx context.Context, call *agentpb.Call, accept codec.MediaType) (response, error) {
	body, err := proto.Marshal(call)
	if err != nil {
		return response{}, fmt.Errorf("encoding %s: %w", call.GetType(), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", string(codec.Protobuf))
	req.Header.Set("Accept", string(accept))
	if accept == codec.RecordIO {
		req.Header.Set("Message-Accept", string(codec.Protobuf))
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return response{}, fmt.Errorf("reading the answer to %s: %w", call.GetType(), err)
	}
	return response{code: resp.StatusCode, status: resp.Status, body: b}, nil
}

// text is the body as an error message (without a trailing newline).
func (r response) text() string { return string(bytes.TrimSpace(r.body)) }

// launch starts a task's container (Mesos 1.11's default executor sends
// LAUNCH_CONTAINER with a nested ContainerID). An agent that does not
// serve LAUNCH_CONTAINER (501) is asked with LAUNCH_NESTED_CONTAINER, the
// call of earlier Mesos releases, which has no resources or limits: those
// of a nested container sharing its parent's cgroups (Mesos's default)
// change nothing there.
func (c *agentAPI) launch(ctx context.Context, l *agentpb.Call_LaunchContainer) (response, error) {
	resp, err := c.post(ctx, &agentpb.Call{
		Type:            agentpb.Call_LAUNCH_CONTAINER.Enum(),
		LaunchContainer: l,
	})
	if err != nil || resp.code != http.StatusNotImplemented {
		return resp, err
	}
	return c.post(ctx, &agentpb.Call{
		Type: agentpb.Call_LAUNCH_NESTED_CONTAINER.Enum(),
		LaunchNestedContainer: &agentpb.Call_LaunchNestedContainer{
			ContainerId: l.GetContainerId(),
			Command:     l.GetCommand(),
			Container:   l.GetContainer(),
		},
	})
}

// session is LAUNCH_NESTED_CONTAINER_SESSION: the answer's body is the
// container's output (RecordIO ProcessIO records), complete once the
// container exited; ending ctx closes the connection, which makes the agent
// kill the container.
func (c *agentAPI) session(ctx context.Context, l *agentpb.Call_LaunchNestedContainerSession) (response, error) {
	return c.postAccept(ctx, &agentpb.Call{
		Type:                         agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(),
		LaunchNestedContainerSession: l,
	}, codec.RecordIO)
}

// wait is WAIT_NESTED_CONTAINER: it returns when the container ended (200,
// with its termination) or at once for an unknown one (404).
func (c *agentAPI) wait(ctx context.Context, id *mesospb.ContainerID) (response, error) {
	return c.post(ctx, &agentpb.Call{
		Type:                agentpb.Call_WAIT_NESTED_CONTAINER.Enum(),
		WaitNestedContainer: &agentpb.Call_WaitNestedContainer{ContainerId: id},
	})
}

// kill is KILL_NESTED_CONTAINER with signal; anything but 200 is an error
// worded as Mesos's.
func (c *agentAPI) kill(ctx context.Context, id *mesospb.ContainerID, signal int) error {
	resp, err := c.post(ctx, &agentpb.Call{
		Type: agentpb.Call_KILL_NESTED_CONTAINER.Enum(),
		KillNestedContainer: &agentpb.Call_KillNestedContainer{
			ContainerId: id,
			Signal:      proto.Int32(int32(signal)),
		},
	})
	if err != nil {
		return err
	}
	if resp.code != http.StatusOK {
		return fmt.Errorf("The agent failed to send signal %s (%d) to the container %s: %s",
			signalText(signal), signal, containerIDString(id), resp.text())
	}
	return nil
}

// containerIDString is Mesos's stringify(ContainerID): the IDs from the
// outermost parent down, joined by dots.
func containerIDString(id *mesospb.ContainerID) string {
	if id.GetParent() != nil {
		return containerIDString(id.GetParent()) + "." + id.GetValue()
	}
	return id.GetValue()
}
