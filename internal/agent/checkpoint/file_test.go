package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/checkpointpb"
)

var errCrash = errors.New("injected crash")

func crashAt(t *testing.T, s step) {
	t.Helper()
	crash = func(got step) error {
		if got == s {
			return errCrash
		}
		return nil
	}
	t.Cleanup(func() { crash = nil })
}

func info(name string) *mesospb.FrameworkInfo {
	return &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String(name)}
}

// TestWriteCrash: a crash at any step of Write leaves either the old
// checkpoint or the new one, whole, and no temporary file that a reader
// would take for a checkpoint.
func TestWriteCrash(t *testing.T) {
	for _, tc := range []struct {
		at   step
		want string // the name read back
	}{
		{stepWrite, "old"},
		{stepSync, "old"},
		{stepRename, "new"},
		{stepDirSync, "new"},
	} {
		t.Run(string(tc.at), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fw", "framework.info")
			if err := WriteMessage(path, info("old")); err != nil {
				t.Fatal(err)
			}
			crashAt(t, tc.at)
			if err := WriteMessage(path, info("new")); !errors.Is(err, errCrash) {
				t.Fatalf("Write = %v, want the injected crash", err)
			}
			crash = nil
			got := &mesospb.FrameworkInfo{}
			if err := ReadMessage(path, got); err != nil {
				t.Fatal(err)
			}
			if got.GetName() != tc.want {
				t.Errorf("after a crash at %s: %q, want %q", tc.at, got.GetName(), tc.want)
			}
			names, _ := list(filepath.Dir(filepath.Dir(path)))
			if diff := cmp.Diff([]string{"fw"}, names); diff != "" {
				t.Errorf("listing (-want +got):\n%s", diff)
			}
		})
	}
}

func record(state mesospb.TaskState, uuid byte) *checkpointpb.StatusUpdateRecord {
	return &checkpointpb.StatusUpdateRecord{
		Type: checkpointpb.StatusUpdateRecord_UPDATE.Enum(),
		Update: &checkpointpb.StatusUpdate{
			FrameworkId: &mesospb.FrameworkID{Value: proto.String("fw")},
			Status:      &mesospb.TaskStatus{TaskId: &mesospb.TaskID{Value: proto.String("t")}, State: state.Enum()},
			Uuid:        []byte{uuid},
		},
	}
}

func newRecord() *checkpointpb.StatusUpdateRecord { return &checkpointpb.StatusUpdateRecord{} }

// TestTornAppend: a crash in the middle of an append leaves a torn record
// that reading drops, keeping every record before it; the next append after
// truncation is read back whole.
func TestTornAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "task.updates")
	first := record(mesospb.TaskState_TASK_RUNNING, 1)
	if err := Append(path, first, true); err != nil {
		t.Fatal(err)
	}
	crashAt(t, stepAppend)
	if err := Append(path, record(mesospb.TaskState_TASK_FINISHED, 2), true); !errors.Is(err, errCrash) {
		t.Fatalf("Append = %v, want the injected crash", err)
	}
	crash = nil
	recs, valid, err := ReadRecords(path, newRecord)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*checkpointpb.StatusUpdateRecord{first}, recs, protocmp.Transform()); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	if err := Truncate(path, valid); err != nil {
		t.Fatal(err)
	}
	ack := &checkpointpb.StatusUpdateRecord{Type: checkpointpb.StatusUpdateRecord_ACK.Enum(), Uuid: []byte{1}}
	if err := Append(path, ack, true); err != nil {
		t.Fatal(err)
	}
	recs, _, err = ReadRecords(path, newRecord)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*checkpointpb.StatusUpdateRecord{first, ack}, recs, protocmp.Transform()); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

// TestCorruptMessage: a message file cut short, or with trailing bytes, is
// ErrCorrupt, not a crash or a partial message.
func TestCorruptMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slave.info")
	if err := WriteMessage(path, info("x")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	for _, bad := range [][]byte{b[:len(b)-1], append(b, 0), b[:2], {0xff, 0xff, 0xff, 0x7f}} {
		os.WriteFile(path, bad, 0o644)
		if err := ReadMessage(path, &mesospb.FrameworkInfo{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("ReadMessage(%x) = %v, want ErrCorrupt", bad, err)
		}
	}
}

// FuzzReadRecords: any bytes give records or ErrCorrupt, never a panic or
// a huge allocation, and the valid length is within the file.
func FuzzReadRecords(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed")
	Append(seed, record(mesospb.TaskState_TASK_RUNNING, 1), true)
	b, _ := os.ReadFile(seed)
	f.Add(b)
	f.Add(b[:5])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "task.updates")
		os.WriteFile(path, data, 0o644)
		_, valid, err := ReadRecords(path, newRecord)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		if valid < 0 || valid > int64(len(data)) {
			t.Fatalf("valid %d outside [0,%d]", valid, len(data))
		}
	})
}
