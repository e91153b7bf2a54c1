package defaultexec

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
)

// fakeContainers is a fake of the agent operator API's nested container
// calls (LAUNCH_CONTAINER, WAIT_NESTED_CONTAINER, KILL_NESTED_CONTAINER):
// each container is a real `/bin/sh -c` process in its own process group,
// with its sandbox at <sandbox>/containers/<id> and its output in the
// sandbox's stdout and stderr, as Mesos's agent runs them.
type fakeContainers struct {
	t       *testing.T
	sandbox string // the executor's sandbox
	parent  string // the executor's container ID

	mu         sync.Mutex
	containers map[string]*fakeContainer
	calls      []*agentpb.Call
	// refuse maps a task command to the status and body LAUNCH_CONTAINER answers.
	refuse map[string]string
	// noLaunchContainer answers LAUNCH_CONTAINER 501, as an agent serving
	// only LAUNCH_NESTED_CONTAINER would.
	noLaunchContainer bool
}

type fakeContainer struct {
	cmd    *exec.Cmd
	done   chan struct{}
	status syscall.WaitStatus
	env    []string
}

func newFakeContainers(t *testing.T, sandbox, parent string) *fakeContainers {
	f := &fakeContainers{t: t, sandbox: sandbox, parent: parent,
		containers: make(map[string]*fakeContainer), refuse: make(map[string]string)}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.containers {
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.done
		}
	})
	return f
}

func (f *fakeContainers) callsOf(t agentpb.Call_Type) []*agentpb.Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*agentpb.Call
	for _, c := range f.calls {
		if c.GetType() == t {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeContainers) container(id string) *fakeContainer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.containers[id]
}

func (f *fakeContainers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want protobuf", http.StatusUnsupportedMediaType)
		return
	}
	body, _ := io.ReadAll(r.Body)
	call := &agentpb.Call{}
	if err := proto.Unmarshal(body, call); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	switch call.GetType() {
	case agentpb.Call_LAUNCH_CONTAINER:
		f.mu.Lock()
		no := f.noLaunchContainer
		f.mu.Unlock()
		if no {
			http.Error(w, "Agent call LAUNCH_CONTAINER is not implemented", http.StatusNotImplemented)
			return
		}
		l := call.GetLaunchContainer()
		f.launch(w, l.GetContainerId(), l.GetCommand())
	case agentpb.Call_LAUNCH_NESTED_CONTAINER:
		l := call.GetLaunchNestedContainer()
		f.launch(w, l.GetContainerId(), l.GetCommand())
	case agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION:
		// A check: under a task's container; the answer ends when it exits.
		l := call.GetLaunchNestedContainerSession()
		parent := f.container(l.GetContainerId().GetParent().GetValue())
		if parent == nil {
			http.Error(w, "Unknown parent container", http.StatusBadRequest)
			return
		}
		c, err := f.start(l.GetContainerId(), l.GetCommand())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/recordio")
		w.Header().Set("Message-Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
		select {
		case <-c.done:
		case <-r.Context().Done():
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		}
	case agentpb.Call_REMOVE_NESTED_CONTAINER:
		id := call.GetRemoveNestedContainer().GetContainerId().GetValue()
		c := f.container(id)
		if c == nil {
			http.Error(w, "Container not found", http.StatusNotFound)
			return
		}
		<-c.done
		f.mu.Lock()
		delete(f.containers, id)
		f.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	case agentpb.Call_WAIT_NESTED_CONTAINER:
		c := f.container(call.GetWaitNestedContainer().GetContainerId().GetValue())
		if c == nil {
			http.Error(w, "Container not found", http.StatusNotFound)
			return
		}
		select {
		case <-c.done:
		case <-r.Context().Done():
			return
		}
		b, _ := proto.Marshal(&agentpb.Response{
			Type: agentpb.Response_WAIT_NESTED_CONTAINER.Enum(),
			WaitNestedContainer: &agentpb.Response_WaitNestedContainer{
				ExitStatus: proto.Int32(int32(c.status)),
			},
		})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	case agentpb.Call_KILL_NESTED_CONTAINER:
		k := call.GetKillNestedContainer()
		c := f.container(k.GetContainerId().GetValue())
		if c == nil {
			http.Error(w, "Container not found", http.StatusNotFound)
			return
		}
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.Signal(k.GetSignal()))
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "unexpected call", http.StatusNotImplemented)
	}
}

func (f *fakeContainers) launch(w http.ResponseWriter, id *mesospb.ContainerID, cmd *mesospb.CommandInfo) {
	if id.GetParent().GetValue() != f.parent || id.GetParent().GetParent() != nil {
		http.Error(w, "Unknown parent container", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	body, refused := f.refuse[cmd.GetValue()]
	f.mu.Unlock()
	if refused {
		http.Error(w, body, http.StatusBadRequest)
		return
	}
	if _, err := f.start(id, cmd); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// start runs a container's command.
func (f *fakeContainers) start(id *mesospb.ContainerID, cmd *mesospb.CommandInfo) (*fakeContainer, error) {
	dir := filepath.Join(f.sandbox, "containers", id.GetValue())
	if id.GetParent().GetParent() != nil {
		dir = filepath.Join(f.sandbox, "containers", id.GetParent().GetValue(), "containers", id.GetValue())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := exec.Command("/bin/sh", "-c", cmd.GetValue())
	c.Dir = dir
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Env = append(os.Environ(), "MESOS_SANDBOX="+dir)
	for _, v := range cmd.GetEnvironment().GetVariables() {
		c.Env = append(c.Env, v.GetName()+"="+v.GetValue())
	}
	out, _ := os.Create(filepath.Join(dir, "stdout"))
	errf, _ := os.Create(filepath.Join(dir, "stderr"))
	c.Stdout, c.Stderr = out, errf
	if err := c.Start(); err != nil {
		return nil, err
	}
	fc := &fakeContainer{cmd: c, done: make(chan struct{}), env: c.Env}
	go func() {
		_ = c.Wait()
		out.Close()
		errf.Close()
		fc.status = c.ProcessState.Sys().(syscall.WaitStatus)
		close(fc.done)
	}()
	f.mu.Lock()
	f.containers[id.GetValue()] = fc
	f.mu.Unlock()
	return fc, nil
}

// envOf returns the value of name in the environment of the container
// whose command is cmd.
func (f *fakeContainers) envOf(cmd, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if !strings.HasSuffix(strings.Join(c.cmd.Args, " "), cmd) {
			continue
		}
		for i := len(c.env) - 1; i >= 0; i-- {
			if k, v, _ := strings.Cut(c.env[i], "="); k == name {
				return v
			}
		}
	}
	return ""
}
