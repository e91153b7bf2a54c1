package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/taskstate"
)

// TestCustomExecutorFetchedOverHTTP is how frameworks ship executors: the
// scheduler serves its executor binary over HTTP and names it in
// ExecutorInfo.command.uris (executable) with value "./my-executor". The
// agent fetches it into the sandbox and starts it; five tasks run through it
// to TASK_FINISHED. Scheduler and executor speak protobuf in one run and
// JSON in the other.
func TestCustomExecutorFetchedOverHTTP(t *testing.T) {
	bin := testutil.Binary(t, "./examples/executor", "my-executor")
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/my-executor" {
			http.NotFound(w, r)
			return
		}
		fetches.Add(1)
		w.Write(exe)
	}))
	t.Cleanup(srv.Close)
	c := cluster(t, nil)

	for name, mt := range map[string]codec.MediaType{"protobuf": codec.Protobuf, "json": codec.JSON} {
		t.Run(name, func(t *testing.T) {
			before := fetches.Load()
			s := subscribe(t, c.MasterAddr, mt, frameworkInfo("custom-executor-"+string(mt)))
			exInfo := &mesospb.ExecutorInfo{
				ExecutorId: &mesospb.ExecutorID{Value: proto.String("my-executor")},
				Resources:  taskResources("*", 0.1, 32),
				Command: &mesospb.CommandInfo{
					Value: proto.String("./my-executor"),
					Shell: proto.Bool(false),
					Uris: []*mesospb.CommandInfo_URI{{
						Value: proto.String(srv.URL + "/my-executor"), Executable: proto.Bool(true),
					}},
					Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{{
						Name: proto.String("EXAMPLE_EXECUTOR_CONTENT_TYPE"), Value: proto.String(name),
					}}},
				},
			}
			offer := s.next(schedulerpb.Event_OFFERS, 20*time.Second).GetOffers().GetOffers()[0]
			var tasks []*mesospb.TaskInfo
			for i := range 5 {
				id := fmt.Sprintf("task-%d", i)
				tasks = append(tasks, &mesospb.TaskInfo{
					Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)}, AgentId: offer.GetAgentId(),
					Resources: taskResources("*", 0.1, 32), Executor: exInfo, Data: []byte("payload " + id),
				})
			}
			s.launchTasks(offer, tasks...)

			finished := map[string]*mesospb.TaskStatus{}
			for len(finished) < len(tasks) {
				st := s.update(true, 30*time.Second)
				id := st.GetTaskId().GetValue()
				switch {
				case st.GetState() == mesospb.TaskState_TASK_FINISHED:
					finished[id] = st
				case taskstate.IsTerminal(st.GetState()):
					t.Fatalf("task %s: %v %v %q", id, st.GetState(), st.GetReason(), st.GetMessage())
				}
			}
			for id, st := range finished {
				if string(st.GetData()) != "payload "+id || st.GetExecutorId().GetValue() != "my-executor" ||
					st.GetSource() != mesospb.TaskStatus_SOURCE_EXECUTOR {
					t.Errorf("task %s finished with data %q executor %q source %v; want the executor's echo",
						id, st.GetData(), st.GetExecutorId().GetValue(), st.GetSource())
				}
			}
			// One executor ran all five tasks: the agent fetched it once.
			if n := fetches.Load() - before; n != 1 {
				t.Errorf("the executor was fetched %d times, want 1", n)
			}
			fi, err := os.Stat(sandbox(t, c, s.fwID.GetValue(), "my-executor") + "/my-executor")
			if err != nil || fi.Mode()&0o100 == 0 {
				t.Errorf("fetched executor in the sandbox: %v %v", fi.Mode(), err)
			}
		})
	}
}
