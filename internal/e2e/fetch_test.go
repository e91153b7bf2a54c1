package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/taskstate"
)

// TestFetchURIs: the agent fetches a task's URIs into its sandbox before
// the executor starts (here from a real HTTP server on loopback): an
// executable script runs; a URI that answers 404 fails the task with
// REASON_CONTAINER_LAUNCH_FAILED and a message naming the URI.
func TestFetchURIs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hello.sh" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "#!/bin/sh\necho fetched and run\n")
	}))
	t.Cleanup(srv.Close)
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.JSON, frameworkInfo("fetcher"))

	run := func(id string, uri *mesospb.CommandInfo_URI, command string) *mesospb.TaskStatus {
		t.Helper()
		offer := s.next(schedulerpb.Event_OFFERS, 20*time.Second).GetOffers().GetOffers()[0]
		s.launchTask(offer, &mesospb.TaskInfo{
			Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)}, AgentId: offer.GetAgentId(),
			Resources: taskResources("*", 0.1, 32),
			Command:   &mesospb.CommandInfo{Value: proto.String(command), Uris: []*mesospb.CommandInfo_URI{uri}},
		})
		for {
			st := s.update(true, 30*time.Second)
			if taskstate.IsTerminal(st.GetState()) {
				return st
			}
		}
	}

	st := run("runs", &mesospb.CommandInfo_URI{Value: proto.String(srv.URL + "/hello.sh"), Executable: proto.Bool(true)}, "./hello.sh")
	if st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("task with a fetched script: %v %v %q", st.GetState(), st.GetReason(), st.GetMessage())
	}
	out := readFile(t, sandbox(t, c, s.fwID.GetValue(), "runs")+"/stdout")
	if !strings.Contains(out, "fetched and run") {
		t.Errorf("stdout lacks the script's output:\n%s", out)
	}

	missing := srv.URL + "/missing.sh"
	st = run("missing", &mesospb.CommandInfo_URI{Value: proto.String(missing), Executable: proto.Bool(true)}, "./missing.sh")
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED ||
		!strings.Contains(st.GetMessage(), missing) || !strings.Contains(st.GetMessage(), "404") {
		t.Errorf("task with a 404 URI: %v %v %q", st.GetState(), st.GetReason(), st.GetMessage())
	}
}
