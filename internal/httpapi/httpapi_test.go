package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
		wantHeader http.Header
	}{
		{"httpapi error", Errorf(http.StatusBadRequest, "Framework %s cannot be found", "f1"), 400, "Framework f1 cannot be found", nil},
		{"wrapped", fmt.Errorf("ctx: %w", Errorf(http.StatusForbidden, "Framework is not subscribed")), 403, "Framework is not subscribed", nil},
		{"with header", &Error{Status: 307, Message: "", Header: http.Header{"Location": {"//leader:5050/api/v1/scheduler"}}}, 307, "",
			http.Header{"Location": {"//leader:5050/api/v1/scheduler"}}},
		{"plain error", errors.New("disk on fire"), 500, "disk on fire", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, tt.err)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
			if got := rec.Header().Get("Content-Type"); got != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			for k := range tt.wantHeader {
				if got, want := rec.Header().Get(k), tt.wantHeader.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	err := Errorf(http.StatusNotImplemented, "Received '%s' call", "UNKNOWN")
	if got, want := err.Error(), "501 Not Implemented: Received 'UNKNOWN' call"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

const subscribeJSON = `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"foo","name":"Example HTTP Framework","roles":["test"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`

func wantSubscribe(defaults bool) *schedulerpb.Call {
	c := &schedulerpb.Call{
		Type: schedulerpb.Call_SUBSCRIBE.Enum(),
		Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: &mesospb.FrameworkInfo{
			User:         proto.String("foo"),
			Name:         proto.String("Example HTTP Framework"),
			Roles:        []string{"test"},
			Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}},
		}},
	}
	if defaults {
		c.Subscribe.FrameworkInfo.FailoverTimeout = proto.Float64(0)
		c.Subscribe.FrameworkInfo.Checkpoint = proto.Bool(false)
	}
	return c
}

func TestDecodeCall(t *testing.T) {
	pbBody, err := proto.Marshal(wantSubscribe(false))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		method      string
		contentType string
		body        io.Reader
		wantMT      codec.MediaType
		wantStatus  int // 0: success
		wantMsg     string
		// wantMsgPrefix checks only the start of the message.
		wantMsgPrefix string
		wantAllow     string
	}{
		{name: "json", method: "POST", contentType: "application/json", body: strings.NewReader(subscribeJSON), wantMT: codec.JSON},
		{name: "json with charset", method: "POST", contentType: "application/json; charset=utf-8", body: strings.NewReader(subscribeJSON), wantMT: codec.JSON},
		{name: "protobuf", method: "POST", contentType: "application/x-protobuf", body: bytes.NewReader(pbBody), wantMT: codec.Protobuf},
		{name: "GET", method: "GET", contentType: "application/json", wantStatus: 405,
			wantMsg: "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'.", wantAllow: "POST"},
		{name: "PUT without content type", method: "PUT", wantStatus: 405, wantAllow: "POST"},
		{name: "missing content type", method: "POST", body: strings.NewReader(subscribeJSON), wantStatus: 400,
			wantMsg: "Expecting 'Content-Type' to be present"},
		{name: "unsupported content type", method: "POST", contentType: "text/plain", body: strings.NewReader(subscribeJSON), wantStatus: 415,
			wantMsg: "Expecting 'Content-Type' of application/json or application/x-protobuf"},
		{name: "recordio content type", method: "POST", contentType: "application/recordio", body: strings.NewReader(subscribeJSON), wantStatus: 415,
			wantMsg: "Expecting 'Content-Type' of application/json or application/x-protobuf"},
		{name: "bad json", method: "POST", contentType: "application/json", body: strings.NewReader(`{"type":`), wantStatus: 400,
			wantMsg: "Failed to parse body into JSON: unexpected end of JSON input"},
		{name: "empty body", method: "POST", contentType: "application/json", body: http.NoBody, wantStatus: 400,
			wantMsg: "Failed to parse body into JSON: unexpected end of JSON input"},
		{name: "missing required", method: "POST", contentType: "application/json", body: strings.NewReader(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"foo"}}}`),
			wantStatus: 400, wantMsg: "Failed to convert JSON into Call protobuf: codec: missing required fields: subscribe.framework_info.name"},
		{name: "json of the wrong shape", method: "POST", contentType: "application/json", body: strings.NewReader(`{"type":"SUBSCRIBE","framework_id":"x"}`),
			wantStatus: 400, wantMsgPrefix: "Failed to convert JSON into Call protobuf: "},
		{name: "bad protobuf", method: "POST", contentType: "application/x-protobuf", body: strings.NewReader("\xff\xff\xff"), wantStatus: 400,
			wantMsgPrefix: "Failed to parse body into Call protobuf: "},
		{name: "too large", method: "POST", contentType: "application/json", body: io.MultiReader(strings.NewReader(`{"x":"`), infiniteReader{}), wantStatus: 413},
		{name: "read error", method: "POST", contentType: "application/json", body: errReader{}, wantStatus: 400,
			wantMsg: "Failed to read request body: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/api/v1/scheduler", tt.body)
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			got := &schedulerpb.Call{}
			mt, err := DecodeCall(r, got)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("DecodeCall: %v", err)
				}
				if mt != tt.wantMT {
					t.Errorf("media type = %q, want %q", mt, tt.wantMT)
				}
				if diff := cmp.Diff(wantSubscribe(false), got, protocmp.Transform()); diff != "" {
					t.Errorf("call mismatch (-want +got):\n%s", diff)
				}
				return
			}
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("DecodeCall error = %v, want *Error", err)
			}
			if he.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d (%s)", he.Status, tt.wantStatus, he.Message)
			}
			if tt.wantMsg != "" && he.Message != tt.wantMsg {
				t.Errorf("message = %q, want %q", he.Message, tt.wantMsg)
			}
			if !strings.HasPrefix(he.Message, tt.wantMsgPrefix) {
				t.Errorf("message = %q, want prefix %q", he.Message, tt.wantMsgPrefix)
			}
			rec := httptest.NewRecorder()
			WriteError(rec, err)
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if rec.Code != tt.wantStatus {
				t.Errorf("written status = %d, want %d", rec.Code, tt.wantStatus)
			}
		})
	}
}

type infiniteReader struct{}

func (infiniteReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestDecodeCallContentLengthTooLarge(t *testing.T) {
	r := httptest.NewRequest("POST", "/api/v1/scheduler", strings.NewReader("{}"))
	r.Header.Set("Content-Type", "application/json")
	r.ContentLength = MaxBodySize + 1
	_, err := DecodeCall(r, &schedulerpb.Call{})
	var he *Error
	if !errors.As(err, &he) || he.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("DecodeCall = %v, want 413", err)
	}
}

func TestAccept(t *testing.T) {
	tests := []struct {
		name       string
		accept     []string
		want       codec.MediaType
		wantStatus int
	}{
		{"none", nil, codec.JSON, 0},
		{"json", []string{"application/json"}, codec.JSON, 0},
		{"protobuf", []string{"application/x-protobuf"}, codec.Protobuf, 0},
		{"wildcard", []string{"*/*"}, codec.JSON, 0},
		{"two headers", []string{"text/html", "application/x-protobuf"}, codec.Protobuf, 0},
		{"unacceptable", []string{"text/html"}, "", 406},
		{"refused", []string{"application/json;q=0"}, "", 406},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/scheduler", nil)
			for _, a := range tt.accept {
				r.Header.Add("Accept", a)
			}
			mt, err := Accept(r)
			if tt.wantStatus == 0 {
				if err != nil || mt != tt.want {
					t.Errorf("Accept = %q, %v; want %q", mt, err, tt.want)
				}
				return
			}
			var he *Error
			if !errors.As(err, &he) || he.Status != tt.wantStatus {
				t.Fatalf("Accept error = %v, want status %d", err, tt.wantStatus)
			}
			if want := "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"; he.Message != want {
				t.Errorf("message = %q, want %q", he.Message, want)
			}
		})
	}
}

func TestWriteMessage(t *testing.T) {
	for _, mt := range []codec.MediaType{codec.JSON, codec.Protobuf} {
		t.Run(string(mt), func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := WriteMessage(rec, http.StatusOK, mt, wantSubscribe(false)); err != nil {
				t.Fatal(err)
			}
			if rec.Code != 200 {
				t.Errorf("status = %d", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != string(mt) {
				t.Errorf("Content-Type = %q, want %q", got, mt)
			}
			got := &schedulerpb.Call{}
			if err := codec.Unmarshal(mt, rec.Body.Bytes(), got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantSubscribe(mt == codec.JSON), got, protocmp.Transform()); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("unencodable", func(t *testing.T) {
		rec := httptest.NewRecorder()
		err := WriteMessage(rec, http.StatusOK, codec.JSON, &mesospb.TaskID{}) // required value missing
		if !errors.Is(err, codec.ErrMissingRequired) {
			t.Errorf("WriteMessage = %v, want %v", err, codec.ErrMissingRequired)
		}
		if rec.Code != 500 {
			t.Errorf("status = %d, want 500", rec.Code)
		}
	})
}

func TestStream(t *testing.T) {
	events := []*schedulerpb.Event{
		{Type: schedulerpb.Event_SUBSCRIBED.Enum(), Subscribed: &schedulerpb.Event_Subscribed{
			FrameworkId:              &mesospb.FrameworkID{Value: proto.String("fw-0000")},
			HeartbeatIntervalSeconds: proto.Float64(15),
		}},
		{Type: schedulerpb.Event_HEARTBEAT.Enum()},
	}
	for _, mt := range []codec.MediaType{codec.JSON, codec.Protobuf} {
		t.Run(string(mt), func(t *testing.T) {
			sent := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s, err := NewStream(w, mt, http.Header{"Mesos-Stream-Id": {"stream-1"}})
				if err != nil {
					t.Errorf("NewStream: %v", err)
					return
				}
				if s.MediaType() != mt {
					t.Errorf("MediaType = %q", s.MediaType())
				}
				// The client must see the headers and first event before
				// the handler returns.
				if err := s.Send(events[0]); err != nil {
					t.Errorf("Send: %v", err)
				}
				<-sent
				if err := s.Send(events[1]); err != nil {
					t.Errorf("Send: %v", err)
				}
			}))
			t.Cleanup(srv.Close)

			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status = %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != string(mt) {
				t.Errorf("Content-Type = %q, want %q", got, mt)
			}
			if got := resp.Header.Get("Mesos-Stream-Id"); got != "stream-1" {
				t.Errorf("Mesos-Stream-Id = %q", got)
			}
			if diff := cmp.Diff([]string{"chunked"}, resp.TransferEncoding); diff != "" {
				t.Errorf("Transfer-Encoding mismatch (-want +got):\n%s", diff)
			}
			rr := recordio.NewReader(resp.Body, 0)
			for i, want := range events {
				rec, err := rr.ReadRecord()
				if err != nil {
					t.Fatalf("ReadRecord %d: %v", i, err)
				}
				if i == 0 {
					close(sent)
				}
				got := &schedulerpb.Event{}
				if err := codec.Unmarshal(mt, rec, got); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
					t.Errorf("event %d mismatch (-want +got):\n%s", i, diff)
				}
			}
			if _, err := rr.ReadRecord(); err != io.EOF {
				t.Errorf("after last event: %v, want EOF", err)
			}
		})
	}
}

func TestStreamErrors(t *testing.T) {
	if _, err := NewStream(httptest.NewRecorder(), codec.RecordIO, nil); !errors.Is(err, codec.ErrUnsupportedMediaType) {
		t.Errorf("NewStream(recordio) = %v, want %v", err, codec.ErrUnsupportedMediaType)
	}
	if _, err := NewStream(noFlushWriter{httptest.NewRecorder()}, codec.JSON, nil); err == nil {
		t.Errorf("NewStream on a writer without Flush succeeded")
	}
	s, err := NewStream(httptest.NewRecorder(), codec.JSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&mesospb.TaskID{}); !errors.Is(err, codec.ErrMissingRequired) {
		t.Errorf("Send(invalid) = %v, want %v", err, codec.ErrMissingRequired)
	}
}

// noFlushWriter hides the recorder's Flush method.
type noFlushWriter struct{ w http.ResponseWriter }

func (n noFlushWriter) Header() http.Header         { return n.w.Header() }
func (n noFlushWriter) Write(p []byte) (int, error) { return n.w.Write(p) }
func (n noFlushWriter) WriteHeader(code int)        { n.w.WriteHeader(code) }

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name     string
		target   string
		v        any
		status   int
		wantCT   string
		wantBody string
	}{
		{"map", "/flags", map[string]any{"flags": map[string]string{"port": "5050"}}, 200, "application/json", `{"flags":{"port":"5050"}}`},
		{"jsonp", "/state?jsonp=angular.callbacks._0", map[string]int{"a": 1}, 200, "text/javascript", `angular.callbacks._0({"a":1})`},
		{"empty jsonp", "/state?jsonp=", map[string]int{"a": 1}, 200, "text/javascript", `({"a":1})`},
		{"last jsonp wins", "/state?jsonp=a&jsonp=b", map[string]int{"a": 1}, 200, "text/javascript", `b({"a":1})`},
		{"proto message uses Mesos dialect", "/x", &mesospb.CommandInfo{Value: proto.String("ls")}, 200, "application/json", `{"shell":true,"value":"ls"}`},
		{"status passed", "/x", []int{}, 202, "application/json", `[]`},
		{"bad callback", "/state?jsonp=alert(1)//", map[string]int{}, 400, "text/plain; charset=utf-8", "Invalid 'jsonp' callback name"},
		{"unencodable", "/x", func() {}, 500, "text/plain; charset=utf-8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteJSON(rec, httptest.NewRequest("GET", tt.target, nil), tt.status, tt.v)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.wantCT {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantCT)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tt.wantBody)
			}
		})
	}
	rec := httptest.NewRecorder()
	WriteJSON(rec, nil, 200, true)
	if rec.Body.String() != "true" {
		t.Errorf("WriteJSON with nil request body = %q", rec.Body.String())
	}
}

func TestValidCallback(t *testing.T) {
	for cb, want := range map[string]bool{
		"cb": true, "angular.callbacks._0": true, "$jsonp1": true, "a.b.c": true,
		"1cb": false, "cb()": false, "a b": false, "<script>": false, strings.Repeat("a", 129): false,
	} {
		if got := validCallback(cb); got != want {
			t.Errorf("validCallback(%q) = %v, want %v", cb, got, want)
		}
	}
}
