package master

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/httpapi"
)

// streamed is streamModel's output for v on workers goroutines.
func streamed(t testing.TB, v any, workers int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := streamModel(&b, v, workers); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// streamTestModel has every shape the walker descends into, each also
// empty and nil, lists longer than a job (jobLeaves, jobTasks), deferred
// values, and values it leaves whole.
func streamTestModel(tasks int) object {
	ts := make([]*mesospb.Task, tasks)
	for i := range ts {
		// Out of order: the walker sorts a taskList that asks for it.
		id := strconv.Itoa((i * 7919) % max(tasks, 1))
		ts[i] = &mesospb.Task{
			Name: proto.String("t<" + id + ">"), TaskId: &mesospb.TaskID{Value: proto.String(id)},
			FrameworkId: &mesospb.FrameworkID{Value: proto.String("fw")},
			AgentId:     &mesospb.AgentID{Value: proto.String("ag")},
			State:       mesospb.TaskState_TASK_RUNNING.Enum(),
		}
	}
	many := make([]any, 3*jobLeaves+5)
	for i := range many {
		many[i] = object{"i": i, "s": fmt.Sprintf("é\u2028%d", i), "d": deferred(func() any { return []string{"x"} })}
	}
	return object{
		"tasks":      taskList{tasks: ts, sort: true},
		"no_tasks":   taskList{},
		"unsorted":   taskList{tasks: ts[:min(3, len(ts))]},
		"many":       many,
		"objects":    []object{{"a": 1.5}, {}, nil},
		"empty_list": []any{},
		"nil_list":   []any(nil),
		"nil_object": object(nil),
		"nested":     object{"x": object{"y": []any{object{"z": nil}, "w", 3}}},
		"raw":        json.RawMessage(`{"k":[1,2]}`),
		"flags":      map[string]string{"b": "2", "a": "1"},
		"nan":        math.Inf(1),
		"\"key\"":    true,
	}
}

func TestStreamModel(t *testing.T) {
	for _, tasks := range []int{0, 1, jobTasks, 3*jobTasks + 1} {
		model := streamTestModel(tasks)
		want := appendJSON(nil, model)
		for _, workers := range []int{1, 2, 7} {
			if got := streamed(t, model, workers); !bytes.Equal(got, want) {
				t.Errorf("%d tasks, %d workers: streamModel differs from appendJSON:\n got %s\nwant %s", tasks, workers, got, want)
			}
		}
	}
	for _, v := range []any{nil, "s", []any(nil), object(nil), taskList{}} {
		if got, want := streamed(t, v, 2), appendJSON(nil, v); !bytes.Equal(got, want) {
			t.Errorf("%#v: streamModel %s, appendJSON %s", v, got, want)
		}
	}
}

// failingWriter fails every write after the first n bytes.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		return 0, errors.New("client went away")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestStreamModelStopsOnWriteError(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	model := streamTestModel(20 * jobTasks)
	err := streamModel(&failingWriter{n: 1000}, model, 2)
	if err == nil || err.Error() != "client went away" {
		t.Fatalf("streamModel = %v, want the writer's error", err)
	}
	// goleak: no walker or worker is left.
}

// TestWriteModelLength: a small answer is sent whole with its
// Content-Length; one larger than httpapi.BodyHeld is sent as it is
// encoded, without one, and is the same JSON.
func TestWriteModelLength(t *testing.T) {
	for _, tc := range []struct {
		tasks  int
		length bool
	}{{10, true}, {20000, false}} {
		model := streamTestModel(tc.tasks)
		want := appendJSON(nil, model)
		if (len(want) <= httpapi.BodyHeld) != tc.length {
			t.Fatalf("%d tasks: %d bytes, on the wrong side of BodyHeld", tc.tasks, len(want))
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeModel(w, r, model) }))
		resp, err := http.Get(srv.URL + "/?jsonp=cb")
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		_, _ = got.ReadFrom(resp.Body)
		resp.Body.Close()
		srv.Close()
		if wantBody := "cb(" + string(want) + ")"; got.String() != wantBody {
			t.Errorf("%d tasks: body differs (%d bytes, want %d)", tc.tasks, got.Len(), len(wantBody))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/javascript" {
			t.Errorf("%d tasks: Content-Type %q", tc.tasks, ct)
		}
		if tc.length && resp.ContentLength != int64(len(want)+4) {
			t.Errorf("%d tasks: Content-Length %d, want %d", tc.tasks, resp.ContentLength, len(want)+4)
		}
		if !tc.length && (resp.ContentLength != -1 || len(resp.TransferEncoding) == 0) {
			t.Errorf("%d tasks: Content-Length %d, Transfer-Encoding %v: want chunked", tc.tasks, resp.ContentLength, resp.TransferEncoding)
		}
	}
}
