package master

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/httpapi"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/resources"
)

// The master at scale (issue 13): what one re-registering agent with ten
// tasks costs the loop, and what /state and GET_STATE cost at 2,000
// agents × 10 tasks, on the loop and to encode. bench/scale measures the
// same at 20,000–40,000 agents against a real master process.

const (
	scaleFrameworks    = 10
	scaleTasksPerAgent = 10
)

// scaleReregister is the REREGISTER of agent i after a failover, as
// internal/agent fills it: the frameworks it runs tasks of, no executors
// (command tasks), and tasks running since their TASK_RUNNING update.
func scaleReregister(tb testing.TB, i int) *agentapipb.Call_Reregister {
	tb.Helper()
	total, err := resources.Parse("cpus:4;mem:8192;disk:10240;ports:[31000-32000]", "*")
	if err != nil {
		tb.Fatal(err)
	}
	id := &mesospb.AgentID{Value: proto.String(fmt.Sprintf("agent-%06d", i))}
	rr := &agentapipb.Call_Reregister{
		AgentInfo: &mesospb.AgentInfo{Id: id, Hostname: proto.String("10.0.0.1"), Port: proto.Int32(int32(10000 + i)), Resources: total},
		Pid:       proto.String("slave(1)@10.0.0.1:" + strconv.Itoa(10000+i)),
		Version:   proto.String(MesosVersion),
	}
	seen := map[int]bool{}
	for j := range scaleTasksPerAgent {
		fw := (i + j) % scaleFrameworks
		fid := &mesospb.FrameworkID{Value: proto.String(fmt.Sprintf("framework-%02d", fw))}
		if !seen[fw] {
			seen[fw] = true
			rr.Frameworks = append(rr.Frameworks, &mesospb.FrameworkInfo{
				Id: fid, Name: proto.String(fmt.Sprintf("fw-%02d", fw)), User: proto.String("root"),
				Roles:        []string{"*"},
				Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}},
			})
		}
		tid := &mesospb.TaskID{Value: proto.String(fmt.Sprintf("task-%06d-%02d", i, j))}
		res, _ := resources.Parse("cpus:0.1;mem:32", "*")
		for _, r := range res {
			r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String("*")}
		}
		status := &mesospb.TaskStatus{
			TaskId: tid, State: mesospb.TaskState_TASK_RUNNING.Enum(), Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum(),
			AgentId: id, ExecutorId: &mesospb.ExecutorID{Value: tid.Value}, Timestamp: proto.Float64(1.7e9),
			Uuid: make([]byte, 16),
			ContainerStatus: &mesospb.ContainerStatus{
				ContainerId:  &mesospb.ContainerID{Value: proto.String(fmt.Sprintf("c%06d%02d-0000-0000-0000-000000000000", i, j))},
				NetworkInfos: []*mesospb.NetworkInfo{{IpAddresses: []*mesospb.NetworkInfo_IPAddress{{IpAddress: proto.String("10.0.0.1")}}}},
			},
		}
		rr.Tasks = append(rr.Tasks, &mesospb.Task{
			Name: proto.String("sleep"), TaskId: tid, FrameworkId: fid, ExecutorId: status.ExecutorId, AgentId: id,
			State: mesospb.TaskState_TASK_RUNNING.Enum(), Resources: res, Statuses: []*mesospb.TaskStatus{status},
			StatusUpdateState: mesospb.TaskState_TASK_RUNNING.Enum(), StatusUpdateUuid: make([]byte, 16),
			User: proto.String("root"),
		})
	}
	return rr
}

// scaleMaster is a master (not running its loop) whose books hold n agents
// re-registered after a failover with ten tasks each, through the
// registration path.
func scaleMaster(tb testing.TB, n int) *Master {
	tb.Helper()
	if _, ok := tb.(*testing.B); ok {
		checkReadCaches = false // benchmarks measure the reads as they run
	}
	m, err := New(Config{Allocator: newFakeAllocator()})
	if err != nil {
		tb.Fatal(err)
	}
	m.st.start(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 5050})
	m.st.elected()
	calls := make([]*agentapipb.Call_Reregister, n)
	for i := range n {
		calls[i] = scaleReregister(tb, i)
	}
	for i := range n {
		readmit(tb, m, calls[i])
	}
	return m
}

func readmit(tb testing.TB, m *Master, rr *agentapipb.Call_Reregister) {
	s := m.st
	id := rr.GetAgentInfo().GetId().GetValue()
	s.recovered[id] = rr.GetAgentInfo() // an agent of the registry, unchanged
	conn := &agentConn{streamID: id, out: newOutbox[*agentapipb.Event](&m.gate)}
	if _, res := s.reregisterAgent(conn, rr); res.err != nil {
		tb.Fatal(res.err)
	}
	if s.agents[id] == nil {
		tb.Fatalf("agent %s was not readmitted", id)
	}
}

// BenchmarkReregisterAgent is what one agent with ten tasks re-registering
// with a new leader costs the master's loop, at 2,000 agents.
func BenchmarkReregisterAgent(b *testing.B) {
	const n = 2000
	calls := make([]*agentapipb.Call_Reregister, n)
	for i := range n {
		calls[i] = scaleReregister(b, i)
	}
	b.ReportAllocs()
	i := 0
	var m *Master
	for b.Loop() {
		if i%n == 0 {
			b.StopTimer()
			var err error
			if m, err = New(Config{Allocator: newFakeAllocator()}); err != nil {
				b.Fatal(err)
			}
			m.st.start(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 5050})
			b.StartTimer()
		}
		readmit(b, m, calls[i%n])
		i++
	}
}

// BenchmarkStateJSON is /master/state at 2,000 agents × 10 tasks: the
// loop's part (the model) and the whole answer (model and encoding).
func BenchmarkStateJSON(b *testing.B) {
	m := scaleMaster(b, scaleAgents())
	s := m.st
	b.Run("loop", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.viewing(nil, func() { _ = s.stateJSON(nil) })
		}
	})
	b.Run("total", func(b *testing.B) {
		b.ReportAllocs()
		r := httptest.NewRequest("GET", "/master/state", nil)
		for b.Loop() {
			var v any
			s.viewing(nil, func() { v = s.stateJSON(r) })
			w := &discardWriter{h: http.Header{}}
			writeModel(w, r, v)
		}
	})
}

// BenchmarkGetState is the operator API's GET_STATE at 2,000 agents × 10
// tasks: the loop's part and the encoded answer, in protobuf and JSON.
func BenchmarkGetState(b *testing.B) {
	m := scaleMaster(b, scaleAgents())
	s := m.st
	// onLoop is the loop's part; get is the whole answer.
	onLoop := func() opResult {
		res, ok := s.readCall(&masterpb.Call{Type: masterpb.Call_GET_STATE.Enum()})
		if !ok || res.later == nil {
			b.Fatalf("GET_STATE: %v", res.err)
		}
		return res
	}
	get := func() *masterpb.Response { return onLoop().later() }
	b.Run("loop", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = onLoop()
		}
	})
	for _, mt := range []codec.MediaType{codec.Protobuf, codec.JSON} {
		b.Run("total/"+string(mt), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				if err := httpapi.WriteMessageUnchecked(w, 200, mt, get()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return io.Discard.Write(p) }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkDecodeReregister is what the HTTP handler spends decoding one
// agent's REREGISTER with ten tasks (httpapi.DecodeCall), before the loop
// sees it: the larger part of a re-registration storm's CPU.
func BenchmarkDecodeReregister(b *testing.B) {
	rr := scaleReregister(b, 1)
	body, err := proto.Marshal(&agentapipb.Call{Type: agentapipb.Call_REREGISTER.Enum(), AgentId: rr.AgentInfo.Id, Reregister: rr})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/master/internal/agent", bytes.NewReader(body))
		r.Header.Set("Content-Type", string(codec.Protobuf))
		if _, err := httpapi.DecodeCall(r, &agentapipb.Call{}); err != nil {
			b.Fatal(err)
		}
	}
}

func scaleAgents() int {
	if n, err := strconv.Atoi(os.Getenv("MESO_SCALE_AGENTS")); err == nil {
		return n
	}
	return 2000
}
