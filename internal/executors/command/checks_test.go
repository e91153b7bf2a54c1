package command

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/executor/executortest"
)

// httpServer serves status code to every request on loopback and returns
// its port.
func httpServer(t *testing.T, code int) uint32 {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	_, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
	n, _ := strconv.ParseUint(p, 10, 16)
	return uint32(n)
}

func httpHealthCheck(port uint32, failures uint32) *mesospb.HealthCheck {
	return &mesospb.HealthCheck{
		Type:                mesospb.HealthCheck_HTTP.Enum(),
		Http:                &mesospb.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(port), Path: proto.String("/health")},
		DelaySeconds:        proto.Float64(0),
		IntervalSeconds:     proto.Float64(0.1),
		TimeoutSeconds:      proto.Float64(5),
		GracePeriodSeconds:  proto.Float64(0),
		ConsecutiveFailures: proto.Uint32(failures),
	}
}

// update is what a test compares of a status update.
type update struct {
	State   mesospb.TaskState
	Reason  mesospb.TaskStatus_Reason
	Healthy *bool
}

func updatesOf(agent *executortest.Agent, taskID string) []update {
	var out []update
	for _, st := range agent.Updates() {
		if st.GetTaskId().GetValue() == taskID {
			out = append(out, update{st.GetState(), st.GetReason(), st.Healthy})
		}
	}
	return out
}

func TestFailingHTTPHealthCheckKillsTask(t *testing.T) {
	killing := executortest.WithSubscribed(&executorpb.Event_Subscribed{
		ExecutorInfo: &mesospb.ExecutorInfo{ExecutorId: &mesospb.ExecutorID{Value: proto.String("t1")}},
		FrameworkInfo: &mesospb.FrameworkInfo{
			Name: proto.String("fw"), User: proto.String(""),
			Capabilities: []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_TASK_KILLING_STATE.Enum()}},
		},
		AgentInfo: &mesospb.AgentInfo{Hostname: proto.String("localhost")},
	})
	agent := executortest.NewAgent(t, killing)
	h := start(t, agent, nil)
	task := shellTask("t1", "exec sleep 1000")
	task.HealthCheck = httpHealthCheck(httpServer(t, http.StatusServiceUnavailable), 3)
	task.KillPolicy = grace(0)
	if err := agent.Launch(task); err != nil {
		t.Fatal(err)
	}
	last := agent.WaitForState(t, wait, "t1", mesospb.TaskState_TASK_KILLED)
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	health := mesospb.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
	unhealthy := update{mesospb.TaskState_TASK_RUNNING, health, proto.Bool(false)}
	want := []update{
		{State: mesospb.TaskState_TASK_STARTING},
		{State: mesospb.TaskState_TASK_RUNNING},
		unhealthy, unhealthy, unhealthy,
		// The kill's TASK_KILLING is a fresh status; the terminal update
		// says the task was unhealthy, with no particular reason.
		{State: mesospb.TaskState_TASK_KILLING},
		{State: mesospb.TaskState_TASK_KILLED, Healthy: proto.Bool(false)},
	}
	if diff := cmp.Diff(want, updatesOf(agent, "t1")); diff != "" {
		t.Errorf("updates (-want +got):\n%s", diff)
	}
	if msg := last.GetMessage(); msg != "Command terminated with signal Killed" && msg != "Command terminated with signal Terminated" {
		t.Errorf("TASK_KILLED message = %q", msg)
	}
}

func TestPassingHTTPHealthCheck(t *testing.T) {
	agent := executortest.NewAgent(t)
	h := start(t, agent, nil)
	task := shellTask("t1", "exec sleep 1000")
	task.HealthCheck = httpHealthCheck(httpServer(t, http.StatusOK), 3)
	if err := agent.Launch(task); err != nil {
		t.Fatal(err)
	}
	agent.WaitFor(t, wait, "a health update", func() bool { return len(updatesOf(agent, "t1")) >= 3 })
	if err := agent.Kill("t1", grace(0)); err != nil {
		t.Fatal(err)
	}
	agent.WaitForState(t, wait, "t1", mesospb.TaskState_TASK_KILLED)
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	// One healthy:true update (the first success; later ones change
	// nothing), and a plain TASK_KILLED.
	want := []update{
		{State: mesospb.TaskState_TASK_STARTING},
		{State: mesospb.TaskState_TASK_RUNNING},
		{mesospb.TaskState_TASK_RUNNING, mesospb.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, proto.Bool(true)},
		{State: mesospb.TaskState_TASK_KILLED},
	}
	if diff := cmp.Diff(want, updatesOf(agent, "t1")); diff != "" {
		t.Errorf("updates (-want +got):\n%s", diff)
	}
}

func TestCommandCheckStatus(t *testing.T) {
	agent := executortest.NewAgent(t)
	h := start(t, agent, nil)
	// The check's exit code follows a file the test writes: 1, then, once
	// the executor reported it, 0.
	code := filepath.Join(t.TempDir(), "code")
	writeCode := func(c string) {
		t.Helper()
		if err := os.WriteFile(code, []byte(c+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeCode("1")
	task := shellTask("t1", "exec sleep 1000")
	task.Check = &mesospb.CheckInfo{
		Type: mesospb.CheckInfo_COMMAND.Enum(),
		Command: &mesospb.CheckInfo_Command{Command: &mesospb.CommandInfo{
			Value: proto.String(`exit "$(cat ` + code + `)"`)}},
		DelaySeconds:    proto.Float64(0),
		IntervalSeconds: proto.Float64(0.1),
	}
	if err := agent.Launch(task); err != nil {
		t.Fatal(err)
	}
	exitCode := func(c int32) func() bool {
		return func() bool {
			for _, st := range agent.Updates() {
				if st.GetCheckStatus().GetCommand().ExitCode != nil && st.GetCheckStatus().GetCommand().GetExitCode() == c {
					return true
				}
			}
			return false
		}
	}
	agent.WaitFor(t, wait, "a check update with exit code 1", exitCode(1))
	writeCode("0")
	agent.WaitFor(t, wait, "a check update with exit code 0", exitCode(0))
	if err := agent.Kill("t1", grace(0)); err != nil {
		t.Fatal(err)
	}
	agent.WaitForState(t, wait, "t1", mesospb.TaskState_TASK_KILLED)
	if code := h.exitCode(t); code != 0 {
		t.Fatalf("Main = %d, want 0", code)
	}
	empty := &mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_COMMAND.Enum(), Command: &mesospb.CheckStatusInfo_Command{}}
	exit := func(c int32) *mesospb.CheckStatusInfo {
		return &mesospb.CheckStatusInfo{Type: mesospb.CheckInfo_COMMAND.Enum(), Command: &mesospb.CheckStatusInfo_Command{ExitCode: proto.Int32(c)}}
	}
	type got struct {
		State  mesospb.TaskState
		Reason mesospb.TaskStatus_Reason
		Check  *mesospb.CheckStatusInfo
	}
	var gots []got
	for _, st := range agent.Updates() {
		gots = append(gots, got{st.GetState(), st.GetReason(), st.GetCheckStatus()})
	}
	checkUpdated := mesospb.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED
	want := []got{
		{mesospb.TaskState_TASK_STARTING, 0, empty},
		{mesospb.TaskState_TASK_RUNNING, 0, empty},
		{mesospb.TaskState_TASK_RUNNING, checkUpdated, exit(1)},
		{mesospb.TaskState_TASK_RUNNING, checkUpdated, exit(0)},
		{mesospb.TaskState_TASK_KILLED, 0, empty},
	}
	if diff := cmp.Diff(want, gots, protocmp.Transform()); diff != "" {
		t.Errorf("updates (-want +got):\n%s", diff)
	}
}
