package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	osuser "os/user"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/agent"
	"github.com/meso-project/meso/internal/builtin"
	"github.com/meso-project/meso/internal/local"
	"github.com/meso-project/meso/internal/master"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/recordio"
)

// cluster starts a local cluster with short timers and the real meso binary
// as the command executor and the default executor, and stops it when the
// test ends.
func cluster(t *testing.T, tweak func(*local.Config)) *local.Cluster {
	t.Helper()
	bin := testutil.MesoBinary(t)
	cfg := local.Config{
		WorkDir:   t.TempDir(),
		NumAgents: 1,
		Master: master.Config{
			AllocationInterval: 100 * time.Millisecond,
		},
		Agent: agent.Config{
			Resources:                 "cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
			ExecutorCommand:           []string{bin, "executor"},
			DefaultExecutorCommand:    []string{bin, "default-executor"},
			RegistrationBackoffFactor: 10 * time.Millisecond,
			StatusUpdateRetryInterval: 300 * time.Millisecond,
		},
		// The posix launcher: these tests are about the cluster's logic;
		// isolation_test.go covers the linux launcher and cgroups, each
		// test with a cgroups root of its own.
		Containerizer: builtin.Containerizer{Launcher: "posix", Helper: []string{bin, "launch"}},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := local.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("starting cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping cluster: %v", err)
		}
	})
	return c
}

// scheduler is a framework speaking the v1 scheduler API with nothing but
// net/http, RecordIO and the codec: what a framework in any language does.
type scheduler struct {
	t        *testing.T
	base     string // http://host:port
	mt       codec.MediaType
	streamID string
	fwID     *mesospb.FrameworkID
	events   chan *schedulerpb.Event
	resp     *http.Response
	// offers are offers next passed over while waiting for something else,
	// minus the rescinded ones: the next wait for OFFERS gets them first.
	// (The master recovers a task's resources when it learns the task's
	// terminal state, so their offer may come before the update a test
	// waits for; dropping it would leave the resources offered to nobody
	// else until the offer times out.)
	offers []*mesospb.Offer
}

// post sends one Call and returns the response (body unread).
func post(t *testing.T, url string, mt codec.MediaType, body []byte, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", string(mt))
	req.Header.Set("Accept", string(mt))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp
}

// subscribe subscribes a framework and starts reading its event stream.
func subscribe(t *testing.T, masterAddr string, mt codec.MediaType, info *mesospb.FrameworkInfo) *scheduler {
	t.Helper()
	s := &scheduler{t: t, base: "http://" + masterAddr, mt: mt, events: make(chan *schedulerpb.Event, 100)}
	call := &schedulerpb.Call{
		Type:      schedulerpb.Call_SUBSCRIBE.Enum(),
		Subscribe: &schedulerpb.Call_Subscribe{FrameworkInfo: info},
	}
	if info.GetId() != nil {
		call.FrameworkId = info.GetId()
	}
	resp := post(t, s.base+"/api/v1/scheduler", mt, s.encode(call), nil)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("SUBSCRIBE: %s: %s", resp.Status, b)
	}
	s.resp = resp
	s.streamID = resp.Header.Get("Mesos-Stream-Id")
	if s.streamID == "" {
		t.Fatal("SUBSCRIBE response has no Mesos-Stream-Id header")
	}
	go s.read(recordio.NewReader(bufio.NewReader(resp.Body), 0))
	t.Cleanup(s.close)
	ev := s.next(schedulerpb.Event_SUBSCRIBED, 10*time.Second)
	s.fwID = ev.GetSubscribed().GetFrameworkId()
	return s
}

func (s *scheduler) encode(m proto.Message) []byte {
	b, err := codec.Marshal(s.mt, m)
	if err != nil {
		s.t.Fatalf("encoding %T: %v", m, err)
	}
	return b
}

func (s *scheduler) read(r *recordio.Reader) {
	defer close(s.events)
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			return
		}
		ev := &schedulerpb.Event{}
		if err := codec.Unmarshal(s.mt, rec, ev); err != nil {
			s.t.Errorf("decoding event: %v", err)
			return
		}
		s.events <- ev
	}
}

// close drops the subscription connection (as a crashed scheduler would).
func (s *scheduler) close() {
	if s.resp != nil {
		s.resp.Body.Close()
	}
}

// next returns the next event of type typ, skipping heartbeats and other
// types (but keeping skipped offers for the next wait for OFFERS); it fails
// the test after timeout.
func (s *scheduler) next(typ schedulerpb.Event_Type, timeout time.Duration) *schedulerpb.Event {
	s.t.Helper()
	if typ == schedulerpb.Event_OFFERS && len(s.offers) > 0 {
		offers := s.offers
		s.offers = nil
		return &schedulerpb.Event{Type: typ.Enum(), Offers: &schedulerpb.Event_Offers{Offers: offers}}
	}
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatalf("event stream closed while waiting for %v", typ)
			}
			if ev.GetType() == schedulerpb.Event_RESCIND {
				id := ev.GetRescind().GetOfferId().GetValue()
				s.offers = slices.DeleteFunc(s.offers, func(o *mesospb.Offer) bool { return o.GetId().GetValue() == id })
			}
			switch ev.GetType() {
			case typ:
				return ev
			case schedulerpb.Event_OFFERS:
				s.offers = append(s.offers, ev.GetOffers().GetOffers()...)
			}
			if ev.GetType() == schedulerpb.Event_ERROR {
				s.t.Fatalf("ERROR event while waiting for %v: %s", typ, ev.GetError().GetMessage())
			}
		case <-deadline:
			s.t.Fatalf("no %v event within %v", typ, timeout)
		}
	}
}

// call sends a non-SUBSCRIBE call with the framework and stream ids and
// returns the status code and body.
func (s *scheduler) call(c *schedulerpb.Call) (int, string) {
	s.t.Helper()
	c.FrameworkId = s.fwID
	resp := post(s.t, s.base+"/api/v1/scheduler", s.mt, s.encode(c), map[string]string{"Mesos-Stream-Id": s.streamID})
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *scheduler) mustCall(c *schedulerpb.Call) {
	s.t.Helper()
	if code, body := s.call(c); code != http.StatusAccepted {
		s.t.Fatalf("%v: got %d %s, want 202", c.GetType(), code, body)
	}
}

func (s *scheduler) ack(st *mesospb.TaskStatus) {
	s.t.Helper()
	if len(st.GetUuid()) == 0 {
		return
	}
	s.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &schedulerpb.Call_Acknowledge{
			AgentId: st.GetAgentId(), TaskId: st.GetTaskId(), Uuid: st.GetUuid(),
		},
	})
}

// launch accepts offer with one command task using res.
func (s *scheduler) launch(offer *mesospb.Offer, taskID, command string, res []*mesospb.Resource) {
	s.t.Helper()
	s.launchTask(offer, &mesospb.TaskInfo{
		Name:      proto.String(taskID),
		TaskId:    &mesospb.TaskID{Value: proto.String(taskID)},
		AgentId:   offer.GetAgentId(),
		Resources: res,
		Command:   &mesospb.CommandInfo{Value: proto.String(command)},
	})
}

// launchTask accepts offer with task.
func (s *scheduler) launchTask(offer *mesospb.Offer, task *mesospb.TaskInfo) {
	s.t.Helper()
	s.launchTasks(offer, task)
}

// launchTasks accepts offer with one LAUNCH of tasks.
func (s *scheduler) launchTasks(offer *mesospb.Offer, tasks ...*mesospb.TaskInfo) {
	s.t.Helper()
	s.mustCall(&schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{offer.GetId()},
			Operations: []*mesospb.Offer_Operation{{
				Type:   mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks},
			}},
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
		},
	})
}

// update waits for the next UPDATE event and acknowledges it when ack is set.
func (s *scheduler) update(ack bool, timeout time.Duration) *mesospb.TaskStatus {
	s.t.Helper()
	st := s.next(schedulerpb.Event_UPDATE, timeout).GetUpdate().GetStatus()
	if ack {
		s.ack(st)
	}
	return st
}

func scalar(name string, v float64) *mesospb.Resource {
	return &mesospb.Resource{
		Name:   proto.String(name),
		Type:   mesospb.Value_SCALAR.Enum(),
		Scalar: &mesospb.Value_Scalar{Value: proto.Float64(v)},
	}
}

// taskResources are the resources of a small task, allocated to role.
func taskResources(role string, cpus, mem float64) []*mesospb.Resource {
	res := []*mesospb.Resource{scalar("cpus", cpus), scalar("mem", mem)}
	for _, r := range res {
		r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(role)}
	}
	return res
}

func frameworkInfo(name string) *mesospb.FrameworkInfo {
	return &mesospb.FrameworkInfo{User: proto.String(currentUser()), Name: proto.String(name)}
}

// currentUser is the user tasks run as: the process's own user, so that the
// executor (which switches to the framework's user when running as root)
// never has to become someone else.
func currentUser() string {
	if u, err := osuser.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "root"
}

// sandbox returns the path of the executor's latest sandbox on agent 0,
// through the `latest` links Mesos lays out.
func sandbox(t *testing.T, c *local.Cluster, fwID, executorID string) string {
	t.Helper()
	dir := filepath.Join(c.AgentWorkDirs[0], "slaves", "latest", "frameworks", fwID,
		"executors", executorID, "runs", "latest")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("sandbox of executor %s: %v", executorID, err)
	}
	return dir
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

var _ = fmt.Sprintf
