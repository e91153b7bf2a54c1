package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/executorpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/recordio"
)

// The test binary doubles as an executor: when the agent launches it with
// MESO_AGENT_TEST_EXECUTOR set, TestMain runs fakeExecutorMain instead of
// the tests. Modes:
//
//	normal     subscribe; per LAUNCH print env + "hello from <task>", send
//	           TASK_RUNNING, and when the task's command is "exit" send
//	           TASK_FINISHED and exit after its ACKNOWLEDGED; KILL → TASK_KILLED
//	           then exit; SHUTDOWN → exit.
//	stubborn   like normal, but ignores SIGTERM and SHUTDOWN and starts a
//	           child process (its pid goes to <sandbox>/child.pid).
//	noregister never subscribes.
//
// It prints its arguments ("args ..."), and takes LAUNCH_GROUP as a LAUNCH
// of each task of the group.
const fakeExecutorEnv = "MESO_AGENT_TEST_EXECUTOR"

func fakeExecutorMain(mode string) int {
	if mode == "noregister" {
		time.Sleep(10 * time.Minute)
		return 0
	}
	if mode == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
		child := exec.Command("sleep", "300")
		if err := child.Start(); err == nil {
			_ = os.WriteFile(filepath.Join(os.Getenv("MESOS_SANDBOX"), "child.pid"),
				[]byte(fmt.Sprint(child.Process.Pid)), 0o644)
		}
	}
	for _, k := range []string{"MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID", "MESOS_DIRECTORY", "MESOS_SANDBOX",
		"MESOS_AGENT_ENDPOINT", "MESOS_SLAVE_ID", "MESOS_SLAVE_PID", "MESOS_CHECKPOINT",
		"MESOS_HTTP_COMMAND_EXECUTOR", "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "LIBPROCESS_PORT", "EXTRA_VAR"} {
		fmt.Printf("%s=%s\n", k, os.Getenv(k))
	}
	fmt.Println("args", strings.Join(os.Args[1:], " "))
	pid := os.Getenv("MESOS_SLAVE_PID")
	url := "http://" + pid[strings.IndexByte(pid, '@')+1:] + "/slave(1)/api/v1/executor"
	fwID := &mesospb.FrameworkID{Value: proto.String(os.Getenv("MESOS_FRAMEWORK_ID"))}
	exID := &mesospb.ExecutorID{Value: proto.String(os.Getenv("MESOS_EXECUTOR_ID"))}

	post := func(c *executorpb.Call) (*http.Response, error) {
		c.FrameworkId, c.ExecutorId = fwID, exID
		b, _ := proto.Marshal(c)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Accept", "application/x-protobuf")
		if tok := os.Getenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		return http.DefaultClient.Do(req)
	}
	update := func(task *mesospb.TaskID, state mesospb.TaskState) []byte {
		u := uuid.New()
		resp, err := post(&executorpb.Call{Type: executorpb.Call_UPDATE.Enum(), Update: &executorpb.Call_Update{
			Status: &mesospb.TaskStatus{TaskId: task, State: state.Enum(), Uuid: u[:],
				Source: mesospb.TaskStatus_SOURCE_EXECUTOR.Enum()}}})
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return u[:]
	}

	resp, err := post(&executorpb.Call{Type: executorpb.Call_SUBSCRIBE.Enum(), Subscribe: &executorpb.Call_Subscribe{}})
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "subscribe failed:", err, resp)
		return 2
	}
	r := recordio.NewReader(resp.Body, 1<<20)
	var exitAfter []byte // uuid whose ACKNOWLEDGED ends the executor
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			fmt.Fprintln(os.Stderr, "stream ended:", err)
			if mode == "stubborn" {
				time.Sleep(10 * time.Minute)
			}
			return 0
		}
		ev := &executorpb.Event{}
		if err := proto.Unmarshal(rec, ev); err != nil {
			return 3
		}
		fmt.Println("event", ev.GetType())
		switch ev.GetType() {
		case executorpb.Event_LAUNCH_GROUP:
			for _, task := range ev.GetLaunchGroup().GetTaskGroup().GetTasks() {
				fmt.Println("hello from", task.GetTaskId().GetValue())
				update(task.GetTaskId(), mesospb.TaskState_TASK_RUNNING)
				if task.GetCommand().GetValue() == "exit" {
					update(task.GetTaskId(), mesospb.TaskState_TASK_FINISHED)
				}
			}
		case executorpb.Event_LAUNCH:
			task := ev.GetLaunch().GetTask()
			fmt.Println("hello from", task.GetTaskId().GetValue())
			update(task.GetTaskId(), mesospb.TaskState_TASK_RUNNING)
			switch task.GetCommand().GetValue() {
			case "exit":
				exitAfter = update(task.GetTaskId(), mesospb.TaskState_TASK_FINISHED)
			case "limit":
				// The container "hits a limit" (the test isolator looks for
				// this file), and the executor reports its task failed, as a
				// command executor whose task the OOM killer ended does.
				_ = os.WriteFile(filepath.Join(os.Getenv("MESOS_SANDBOX"), "limited"), nil, 0o644)
				exitAfter = update(task.GetTaskId(), mesospb.TaskState_TASK_FAILED)
			}
		case executorpb.Event_KILL:
			exitAfter = update(ev.GetKill().GetTaskId(), mesospb.TaskState_TASK_KILLED)
		case executorpb.Event_ACKNOWLEDGED:
			if exitAfter != nil && bytes.Equal(ev.GetAcknowledged().GetUuid(), exitAfter) && mode != "stubborn" {
				return 0
			}
		case executorpb.Event_MESSAGE:
			resp, err := post(&executorpb.Call{Type: executorpb.Call_MESSAGE.Enum(),
				Message: &executorpb.Call_Message{Data: append([]byte("echo:"), ev.GetMessage().GetData()...)}})
			if err == nil {
				resp.Body.Close()
			}
		case executorpb.Event_SHUTDOWN:
			if mode != "stubborn" {
				return 0
			}
		}
	}
}

var _ = context.Background
