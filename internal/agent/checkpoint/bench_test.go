package checkpoint

import (
	"fmt"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/checkpointpb"
)

func BenchmarkTaskCheckpoints(b *testing.B) {
	root := b.TempDir()
	info := &mesospb.ExecutorInfo{Name: proto.String("x")}
	for i := range b.N {
		run := filepath.Join(root, "fw", "executors", fmt.Sprint(i), "runs", "c")
		WriteMessage(filepath.Join(root, "fw", "executors", fmt.Sprint(i), "executor.info"), info)
		Markers{Empty: filepath.Join(root, ".empty")}.Touch(filepath.Join(run, "http.marker"))
		WriteText(filepath.Join(run, "pids", "forked.pid"), "123")
		WriteMessage(filepath.Join(run, "tasks", "t", "task.info"), info)
		for range 6 {
			Append(filepath.Join(run, "tasks", "t", "task.updates"), &checkpointpb.StatusUpdateRecord{Uuid: []byte("0123456789abcdef")}, true)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	root := b.TempDir()
	for i := range b.N {
		WriteText(filepath.Join(root, fmt.Sprint(i), "forked.pid"), "123")
	}
}

func BenchmarkAppend(b *testing.B) {
	root := b.TempDir()
	for range b.N {
		Append(filepath.Join(root, "task.updates"), &checkpointpb.StatusUpdateRecord{Uuid: []byte("0123456789abcdef")}, true)
	}
}

func BenchmarkMkdirTouch(b *testing.B) {
	root := b.TempDir()
	for i := range b.N {
		Markers{Empty: filepath.Join(root, ".empty")}.Touch(filepath.Join(root, fmt.Sprint(i), "a", "b", "http.marker"))
	}
}
