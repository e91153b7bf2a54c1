package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/taskstate"
)

// TestTaskGroupDefaultExecutor runs task groups through the whole stack: a
// scheduler's LAUNCH_GROUP with a DEFAULT executor, the master, the agent,
// the built-in default executor and the tasks' nested containers. A group
// whose tasks all succeed ends TASK_FINISHED; in a group where one task
// fails, the framework sees that TASK_FAILED and the others TASK_KILLED.
func TestTaskGroupDefaultExecutor(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.Protobuf, frameworkInfo("groups"))

	want := map[string]mesospb.TaskState{
		"ok-1": mesospb.TaskState_TASK_FINISHED, "ok-2": mesospb.TaskState_TASK_FINISHED, "ok-3": mesospb.TaskState_TASK_FINISHED,
		"bad": mesospb.TaskState_TASK_FAILED, "peer-1": mesospb.TaskState_TASK_KILLED, "peer-2": mesospb.TaskState_TASK_KILLED,
	}
	groups := [][]*mesospb.TaskInfo{
		{groupTask("ok-1", "echo one"), groupTask("ok-2", "echo two"), groupTask("ok-3", "sleep 0.2")},
		{groupTask("bad", "sleep 0.5; exit 2"), groupTask("peer-1", "sleep 60"), groupTask("peer-2", "sleep 60")},
	}
	for i, tasks := range groups {
		offer := s.next(schedulerpb.Event_OFFERS, 20*time.Second).GetOffers().GetOffers()[0]
		for _, task := range tasks {
			task.AgentId = offer.GetAgentId()
		}
		exRes := taskResources("*", 0.1, 32)
		exRes = append(exRes, scalar("disk", 32))
		exRes[2].AllocationInfo = exRes[0].AllocationInfo
		s.mustCall(&schedulerpb.Call{
			Type: schedulerpb.Call_ACCEPT.Enum(),
			Accept: &schedulerpb.Call_Accept{
				OfferIds: []*mesospb.OfferID{offer.GetId()},
				Operations: []*mesospb.Offer_Operation{{
					Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(),
					LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
						Executor: &mesospb.ExecutorInfo{
							ExecutorId:  &mesospb.ExecutorID{Value: proto.String("group-" + string(rune('a'+i)))},
							FrameworkId: s.fwID,
							Type:        mesospb.ExecutorInfo_DEFAULT.Enum(),
							Resources:   exRes,
						},
						TaskGroup: &mesospb.TaskGroupInfo{Tasks: tasks},
					},
				}},
				Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
			},
		})
	}

	got := map[string]*mesospb.TaskStatus{}
	for len(got) < len(want) {
		st := s.update(true, 30*time.Second)
		if taskstate.IsTerminal(st.GetState()) {
			got[st.GetTaskId().GetValue()] = st
		}
	}
	for id, state := range want {
		if got[id].GetState() != state {
			t.Errorf("%s ended %s (%s, %q), want %s", id, got[id].GetState(), got[id].GetSource(), got[id].GetMessage(), state)
		}
	}
	if msg := got["bad"].GetMessage(); msg != "Command exited with status 2" {
		t.Errorf("bad: message %q", msg)
	}
	for _, id := range []string{"peer-1", "peer-2"} {
		if msg := got[id].GetMessage(); msg != "Command terminated with signal Terminated" {
			t.Errorf("%s: message %q", id, msg)
		}
	}
}

// groupTask is a small command task of a task group.
func groupTask(id, command string) *mesospb.TaskInfo {
	return &mesospb.TaskInfo{
		Name:      proto.String(id),
		TaskId:    &mesospb.TaskID{Value: proto.String(id)},
		Resources: taskResources("*", 0.1, 32),
		Command:   &mesospb.CommandInfo{Value: proto.String(command)},
	}
}

// TestMesoExecuteTaskGroup is the user's view: `meso execute --task_group=`
// with three tasks runs them in the default executor and exits 0 when all
// finished; with one failing, the others are killed, the output says which
// failed and why, and the exit status is non-zero. One task's script is
// fetched into its own sandbox (inside its nested container) first.
func TestMesoExecuteTaskGroup(t *testing.T) {
	c := cluster(t, nil)
	script := filepath.Join(t.TempDir(), "greet.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello from a fetched script\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	task := func(id, command, uri string) string {
		uris := ""
		if uri != "" {
			uris = fmt.Sprintf(`, "uris": [{"value": %q, "executable": true}]`, uri)
		}
		return fmt.Sprintf(`{"name": %[1]q, "task_id": {"value": %[1]q}, "agent_id": {"value": ""},
		  "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
		                {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
		  "command": {"value": %[2]q%[3]s}}`, id, command, uris)
	}
	run := func(tasks ...string) (string, int) {
		t.Helper()
		group := `{"tasks": [` + strings.Join(tasks, ",") + `]}`
		cmd := exec.CommandContext(withTimeout(t, 90*time.Second), testutil.MesoBinary(t), "execute",
			"--master="+c.MasterAddr, "--task_group="+group)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &exit):
			return string(out), exit.ExitCode()
		}
		t.Fatalf("meso execute: %v\n%s", err, out)
		return "", 0
	}

	out, code := run(task("one", "echo one", ""), task("two", "sleep 0.3", ""), task("three", "./greet.sh", script))
	if code != 0 {
		t.Errorf("meso execute --task_group with three good tasks exited %d:\n%s", code, out)
	}
	for _, id := range []string{"one", "two", "three"} {
		if !strings.Contains(out, "Received status update TASK_FINISHED for task '"+id+"'") {
			t.Errorf("no TASK_FINISHED for %s:\n%s", id, out)
		}
	}
	// The fetched script ran in its task's sandbox: <executor>/tasks/three.
	fw := regexp.MustCompile(`Subscribed with ID '?([^'\s]+)'?`).FindStringSubmatch(out)
	if fw == nil {
		t.Fatalf("no framework ID in the output:\n%s", out)
	}
	exDirs, _ := filepath.Glob(filepath.Join(c.AgentWorkDirs[0], "slaves", "latest", "frameworks", fw[1], "executors", "*", "runs", "latest"))
	if len(exDirs) != 1 {
		t.Fatalf("executor sandboxes of %s: %v", fw[1], exDirs)
	}
	if got := readFile(t, filepath.Join(exDirs[0], "tasks", "three", "stdout")); !strings.Contains(got, "hello from a fetched script") {
		t.Errorf("task three's stdout: %q", got)
	}

	out, code = run(task("ok", "sleep 60", ""), task("bad", "sleep 0.5; exit 3", ""), task("peer", "sleep 60", ""))
	if code == 0 {
		t.Errorf("meso execute --task_group with a failing task exited 0:\n%s", out)
	}
	for _, want := range []string{
		"Received status update TASK_FAILED for task 'bad'\n  message: 'Command exited with status 3'",
		"Received status update TASK_KILLED for task 'ok'",
		"Received status update TASK_KILLED for task 'peer'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
