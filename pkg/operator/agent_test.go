package operator

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// fakeAgent speaks the agent's side of a session: the output of the
// session is what ATTACH_CONTAINER_INPUT brought, upper-cased, and its
// wait status 3<<8; READ_FILE serves one file.
func fakeAgent(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	stdin := make(chan string, 1)
	var launched *mesospb.ContainerID
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") == string(codec.RecordIO) { // ATTACH_CONTAINER_INPUT
			rd := recordio.NewReader(bufio.NewReader(r.Body), 1<<20)
			var got strings.Builder
			for i := 0; ; i++ {
				rec, err := rd.ReadRecord()
				if err != nil {
					t.Errorf("input stream: %v before EOF", err)
					break
				}
				call := &agentpb.Call{}
				if err := codec.Unmarshal(codec.Protobuf, rec, call); err != nil {
					t.Error(err)
					break
				}
				in := call.GetAttachContainerInput()
				mu.Lock()
				id := launched
				mu.Unlock()
				if i == 0 && !proto.Equal(in.GetContainerId(), id) {
					t.Errorf("input for %v, want %v", in.GetContainerId(), id)
				}
				if i > 0 {
					data := in.GetProcessIo().GetData().GetData()
					if len(data) == 0 {
						break // EOF
					}
					got.Write(data)
				}
			}
			stdin <- got.String()
			return
		}
		b, _ := io.ReadAll(r.Body)
		call := &agentpb.Call{}
		if err := codec.Unmarshal(codec.Protobuf, b, call); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch call.GetType() {
		case agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION:
			mu.Lock()
			launched = call.GetLaunchNestedContainerSession().GetContainerId()
			mu.Unlock()
			if launched.GetParent().GetValue() != "task-container" {
				http.Error(w, "wrong parent", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", string(codec.RecordIO))
			w.Header().Set("Message-Content-Type", string(codec.Protobuf))
			rw := recordio.NewWriter(w)
			send := func(typ agentpb.ProcessIO_Data_Type, s string) {
				b, _ := codec.Marshal(codec.Protobuf, &agentpb.ProcessIO{Type: agentpb.ProcessIO_DATA.Enum(),
					Data: &agentpb.ProcessIO_Data{Type: typ.Enum(), Data: []byte(s)}})
				rw.WriteRecord(b)
			}
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush()
			send(agentpb.ProcessIO_Data_STDOUT, strings.ToUpper(<-stdin))
			send(agentpb.ProcessIO_Data_STDERR, "done\n")
		case agentpb.Call_WAIT_NESTED_CONTAINER:
			b, _ := codec.Marshal(codec.Protobuf, &agentpb.Response{Type: agentpb.Response_WAIT_NESTED_CONTAINER.Enum(),
				WaitNestedContainer: &agentpb.Response_WaitNestedContainer{ExitStatus: proto.Int32(3 << 8)}})
			w.Write(b)
		case agentpb.Call_READ_FILE:
			data := "0123456789"[call.GetReadFile().GetOffset():]
			if call.GetReadFile().GetPath() != "/sandbox/stdout" {
				http.NotFound(w, r)
				return
			}
			b, _ := codec.Marshal(codec.Protobuf, &agentpb.Response{Type: agentpb.Response_READ_FILE.Enum(),
				ReadFile: &agentpb.Response_ReadFile{Size: proto.Uint64(10), Data: []byte(data)}})
			w.Write(b)
		default:
			http.Error(w, "unexpected call", http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestExecStreamsStdinAndOutputAndWaits(t *testing.T) {
	agent := fakeAgent(t)
	c, _ := New(Config{})
	defer c.Close()
	var stdout, stderr bytes.Buffer
	status, err := c.Exec(t.Context(), host(agent), Session{
		Parent:  &mesospb.ContainerID{Value: proto.String("task-container")},
		Command: []string{"tr", "a-z", "A-Z"}, Stdin: strings.NewReader("hello\n"), Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"HELLO\n", "done\n"}, []string{stdout.String(), stderr.String()}); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if ExitCode(status) != 3 {
		t.Errorf("exit code %d, want 3", ExitCode(status))
	}
}

func TestReadFile(t *testing.T) {
	agent := fakeAgent(t)
	c, _ := New(Config{})
	defer c.Close()
	data, size, err := c.ReadFile(t.Context(), host(agent), "/sandbox/stdout", 4, 0)
	if err != nil || string(data) != "456789" || size != 10 {
		t.Errorf("ReadFile = %q, %d, %v", data, size, err)
	}
	var se *StatusError
	if _, _, err := c.ReadFile(t.Context(), host(agent), "/nope", 0, 0); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Errorf("missing file: %v", err)
	}
}
