package statusupdate

import (
	"errors"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"google.golang.org/protobuf/proto"
)

func status(task string, state mesospb.TaskState, uuid byte) *mesospb.TaskStatus {
	u := make([]byte, 16)
	u[0] = uuid
	return &mesospb.TaskStatus{
		TaskId: &mesospb.TaskID{Value: proto.String(task)},
		State:  state.Enum(),
		Uuid:   u,
	}
}

func TestStreamOrderRetryAndAck(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := New(time.Second, 4*time.Second)
	// Paused: nothing goes out.
	if u, err := m.Update("fw", status("t", mesospb.TaskState_TASK_RUNNING, 1), t0); u != nil || err != nil {
		t.Fatalf("paused Update = %v, %v", u, err)
	}
	if _, err := m.Update("fw", status("t", mesospb.TaskState_TASK_RUNNING, 1), t0); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate: err = %v", err)
	}
	if u, _ := m.Update("fw", status("t", mesospb.TaskState_TASK_FINISHED, 2), t0); u != nil {
		t.Errorf("second update sent while the first is in flight")
	}
	heads := m.Resume(t0)
	if len(heads) != 1 || heads[0].Status.GetUuid()[0] != 1 {
		t.Fatalf("Resume = %v, want head 1", heads)
	}
	if got := m.Due(t0.Add(999 * time.Millisecond)); len(got) != 0 {
		t.Errorf("due before interval: %v", got)
	}
	// Retries at +1s, then +2s, then +4s, +4s (capped).
	at := t0
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		next, ok := m.Next()
		if !ok || next != at.Add(d) {
			t.Fatalf("Next = %v, %v; want %v", next, ok, at.Add(d))
		}
		at = next
		if got := m.Due(at); len(got) != 1 || got[0].Status.GetUuid()[0] != 1 {
			t.Fatalf("Due(%v) = %v", at, got)
		}
	}
	// Wrong uuid.
	if _, _, err := m.Acknowledge("fw", "t", status("t", 0, 2).GetUuid(), at); !errors.Is(err, ErrUnexpectedAck) {
		t.Errorf("ack of non-head: %v", err)
	}
	acked, next, err := m.Acknowledge("fw", "t", status("t", 0, 1).GetUuid(), at)
	if err != nil || acked.GetUuid()[0] != 1 || next == nil || next.Status.GetUuid()[0] != 2 {
		t.Fatalf("Acknowledge = %v, %v, %v", acked, next, err)
	}
	if _, _, err := m.Acknowledge("fw", "t", status("t", 0, 1).GetUuid(), at); !errors.Is(err, ErrDuplicate) {
		t.Errorf("double ack: %v", err)
	}
	if _, _, err := m.Acknowledge("fw", "t", status("t", 0, 2).GetUuid(), at); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 0 {
		t.Errorf("Len = %d after all acks", m.Len())
	}
	if _, ok := m.Next(); ok {
		t.Errorf("Next reports an update in flight")
	}
	// The stream of a terminated task is gone.
	if _, _, err := m.Acknowledge("fw", "t", []byte("x"), at); !errors.Is(err, ErrUnknownStream) {
		t.Errorf("ack after termination: %v", err)
	}
}

func TestPauseAndCleanup(t *testing.T) {
	t0 := time.Unix(0, 0)
	m := New(0, 0)
	m.Resume(t0)
	if u, _ := m.Update("fw", status("a", mesospb.TaskState_TASK_RUNNING, 1), t0); u == nil {
		t.Fatal("update not sent while resumed")
	}
	m.Update("fw2", status("b", mesospb.TaskState_TASK_RUNNING, 1), t0)
	m.Pause()
	if got := m.Due(t0.Add(time.Hour)); got != nil {
		t.Errorf("Due while paused = %v", got)
	}
	m.Cleanup("fw")
	if got := m.Resume(t0); len(got) != 1 || got[0].FrameworkID != "fw2" {
		t.Errorf("Resume after cleanup = %v", got)
	}
	if _, err := m.Update("fw", &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String("x")}}, t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("update without uuid: %v", err)
	}
}
