package operator

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/explain"
	"github.com/meso-project/meso/pkg/recordio"
)

// maxRecord bounds one RecordIO record of a stream (a SUBSCRIBED event
// carries the whole state).
const maxRecord = 256 << 20

// Events is an open operator event stream (SUBSCRIBE).
type Events struct {
	body   io.Closer
	cancel context.CancelFunc
	rd     *recordio.Reader
}

// Next returns the next event (the first is SUBSCRIBED, with the state;
// HEARTBEATs come too). It returns io.EOF when the master ends the stream.
func (e *Events) Next() (*masterpb.Event, error) {
	rec, err := e.rd.ReadRecord()
	if err != nil {
		return nil, err
	}
	ev := &masterpb.Event{}
	if err := trusted.Unmarshal(codec.Protobuf, rec, ev); err != nil {
		return nil, fmt.Errorf("operator: decoding an event: %w", err)
	}
	return ev, nil
}

// Close ends the stream.
func (e *Events) Close() error {
	e.cancel()
	return e.body.Close()
}

// Subscribe opens the master's operator event stream. The stream lives
// until ctx ends or Close is called.
func (c *Client) Subscribe(ctx context.Context) (*Events, error) {
	body, err := codec.Marshal(codec.Protobuf, call(masterpb.Call_SUBSCRIBE))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	resp, done, err := c.do(ctx, request{op: "SUBSCRIBE", method: http.MethodPost, path: "/api/v1", body: body, stream: true,
		header: http.Header{"Content-Type": {string(codec.Protobuf)}, "Accept": {string(codec.Protobuf)}}})
	if err != nil {
		cancel()
		return nil, err
	}
	return &Events{body: resp.Body, cancel: func() { done(); cancel() },
		rd: recordio.NewReader(bufio.NewReader(resp.Body), maxRecord)}, nil
}

// getJSON GETs a path of the master and decodes its JSON answer into v.
func (c *Client) getJSON(ctx context.Context, op, path string, v any) error {
	resp, cancel, err := c.do(ctx, request{op: op, method: http.MethodGet, path: path,
		header: http.Header{"Accept": {"application/json"}}})
	if err != nil {
		return err
	}
	defer cancel()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("operator: %s: decoding the answer: %w", op, err)
	}
	return nil
}

// StateJSON returns the master's /master/state, Mesos's JSON view of the
// cluster, undecoded.
func (c *Client) StateJSON(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.getJSON(ctx, "/master/state", "/master/state", &raw)
	return raw, err
}

// ExplainFramework asks meso's explainer why the framework (an ID or a
// name) gets the offers it gets. A master without the explainer (Mesos)
// answers 404 (a *StatusError), as does one that knows no such framework;
// an ambiguous name is 409.
func (c *Client) ExplainFramework(ctx context.Context, framework string) (*explain.Framework, error) {
	out := &explain.Framework{}
	err := c.getJSON(ctx, explain.FrameworkPath, explain.FrameworkPath+"?framework="+url.QueryEscape(framework), out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ExplainTask asks meso's explainer where a task is in its life;
// framework (an ID or a name, may be empty) picks among tasks of the same
// ID in several frameworks.
func (c *Client) ExplainTask(ctx context.Context, task, framework string) (*explain.Task, error) {
	q := url.Values{"task": {task}}
	if framework != "" {
		q.Set("framework", framework)
	}
	out := &explain.Task{}
	if err := c.getJSON(ctx, explain.TaskPath, explain.TaskPath+"?"+q.Encode(), out); err != nil {
		return nil, err
	}
	return out, nil
}
