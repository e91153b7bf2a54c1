package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// TestInteractiveSessionEchoes is `mesos task exec -i` against a running
// task, spoken in JSON as Mesos's CLI does: LAUNCH_NESTED_CONTAINER_SESSION
// runs `cat` nested in the task's container, answering with its output
// stream; ATTACH_CONTAINER_INPUT streams stdin into it; what goes in comes
// back out. Closing stdin ends `cat`, and with it the session.
func TestInteractiveSessionEchoes(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.JSON, frameworkInfo("exec"))
	offer := s.next(schedulerpb.Event_OFFERS, 20*time.Second).GetOffers().GetOffers()[0]
	s.launch(offer, "long", "sleep 600", taskResources("*", 0.1, 32))
	var running *mesospb.TaskStatus
	for running == nil {
		if st := s.update(true, 30*time.Second); st.GetState() == mesospb.TaskState_TASK_RUNNING {
			running = st
		}
	}
	parent := running.GetContainerStatus().GetContainerId()
	if parent.GetValue() == "" {
		t.Fatalf("TASK_RUNNING has no container ID: %v", running)
	}
	session := &mesospb.ContainerID{Value: proto.String("debug-session"), Parent: parent}
	api := "http://" + c.AgentAddrs[0] + "/api/v1"
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	launch, _ := codec.Marshal(codec.JSON, &agentpb.Call{
		Type: agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION.Enum(),
		LaunchNestedContainerSession: &agentpb.Call_LaunchNestedContainerSession{
			ContainerId: session, Command: &mesospb.CommandInfo{Value: proto.String("cat")},
		},
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api, strings.NewReader(string(launch)))
	req.Header.Set("Content-Type", string(codec.JSON))
	req.Header.Set("Accept", string(codec.RecordIO))
	req.Header.Set("Message-Accept", string(codec.JSON))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Message-Content-Type") != string(codec.JSON) {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("LAUNCH_NESTED_CONTAINER_SESSION: %s %q %s", resp.Status, resp.Header.Get("Message-Content-Type"), b)
	}
	stdout := make(chan string, 16)
	go func() {
		defer close(stdout)
		rd := recordio.NewReader(bufio.NewReader(resp.Body), 1<<20)
		for {
			rec, err := rd.ReadRecord()
			if err != nil {
				return
			}
			pio := &agentpb.ProcessIO{}
			if err := codec.UnmarshalJSON(rec, pio); err != nil {
				t.Errorf("a record of the session's output is not a ProcessIO: %v: %s", err, rec)
				return
			}
			if pio.GetData().GetType() == agentpb.ProcessIO_Data_STDOUT {
				stdout <- string(pio.GetData().GetData())
			}
		}
	}()

	// The input: a streaming request of JSON records.
	pr, pw := io.Pipe()
	in := recordio.NewWriter(pw)
	send := func(call *agentpb.Call) {
		t.Helper()
		if err := in.WriteRecord(mustJSON(t, call)); err != nil {
			t.Fatal(err)
		}
	}
	inputDone := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api, pr)
		req.Header.Set("Content-Type", string(codec.RecordIO))
		req.Header.Set("Message-Content-Type", string(codec.JSON))
		req.Header.Set("Accept", string(codec.JSON))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inputDone <- -1
			return
		}
		resp.Body.Close()
		inputDone <- resp.StatusCode
	}()
	send(&agentpb.Call{Type: agentpb.Call_ATTACH_CONTAINER_INPUT.Enum(),
		AttachContainerInput: &agentpb.Call_AttachContainerInput{
			Type: agentpb.Call_AttachContainerInput_CONTAINER_ID.Enum(), ContainerId: session}})
	stdin := func(data string) {
		send(&agentpb.Call{Type: agentpb.Call_ATTACH_CONTAINER_INPUT.Enum(),
			AttachContainerInput: &agentpb.Call_AttachContainerInput{
				Type: agentpb.Call_AttachContainerInput_PROCESS_IO.Enum(),
				ProcessIo: &agentpb.ProcessIO{Type: agentpb.ProcessIO_DATA.Enum(),
					Data: &agentpb.ProcessIO_Data{Type: agentpb.ProcessIO_Data_STDIN.Enum(), Data: []byte(data)}}}})
	}

	var echoed strings.Builder
	for _, line := range []string{"hello\n", "is anybody in there?\n"} {
		stdin(line)
		for !strings.HasSuffix(echoed.String(), line) {
			select {
			case out, ok := <-stdout:
				if !ok {
					t.Fatalf("the session ended; output so far %q", echoed.String())
				}
				echoed.WriteString(out)
			case <-ctx.Done():
				t.Fatalf("no echo of %q; output so far %q", line, echoed.String())
			}
		}
	}
	if echoed.String() != "hello\nis anybody in there?\n" {
		t.Errorf("session output %q", echoed.String())
	}
	// Empty data is EOF: cat exits, the input request is answered 200 and
	// the session's output stream ends.
	stdin("")
	pw.Close()
	for range stdout {
	}
	if code := <-inputDone; code != http.StatusOK {
		t.Errorf("ATTACH_CONTAINER_INPUT answered %d", code)
	}
}

func mustJSON(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := codec.Marshal(codec.JSON, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
