package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/explain"
)

// getExplain GETs an explainer endpoint of the master into v.
func getExplain(t *testing.T, masterAddr, path string, q url.Values, v any) {
	t.Helper()
	resp, err := http.Get("http://" + masterAddr + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// TestExplainer asks a real cluster why: a running task is explained with
// its agent and container; the rest of the agent, declined for a minute,
// is explained as filtered until then; SUPPRESS comes first once called.
func TestExplainer(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.JSON, frameworkInfo("why"))
	offer := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	s.launch(offer, "sleeper", "sleep 30", taskResources("*", 0.5, 64))
	for {
		st := s.update(true, 10*time.Second)
		if st.GetState() == mesospb.TaskState_TASK_RUNNING {
			break
		}
		if st.GetState() != mesospb.TaskState_TASK_STARTING {
			t.Fatalf("task: %v %s", st.GetState(), st.GetMessage())
		}
	}
	var task explain.Task
	getExplain(t, c.MasterAddr, explain.TaskPath, url.Values{"task": {"sleeper"}}, &task)
	if task.State != "TASK_RUNNING" || task.AgentID != offer.GetAgentId().GetValue() || task.Hostname == "" ||
		task.ContainerID == "" || task.LastUpdate == nil || task.LastUpdate.State != "TASK_RUNNING" || len(task.Reasons) != 0 {
		t.Fatalf("running task explained as %+v (last update %+v)", task, task.LastUpdate)
	}

	rest := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	s.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_DECLINE.Enum(), Decline: &schedulerpb.Call_Decline{
		OfferIds: []*mesospb.OfferID{rest.GetId()}, Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(60)}}})
	var fw explain.Framework
	getExplain(t, c.MasterAddr, explain.FrameworkPath, url.Values{"framework": {"why"}}, &fw)
	if len(fw.Reasons) == 0 || fw.Reasons[0].Code != explain.OfferFiltered || fw.Reasons[0].AgentID != rest.GetAgentId().GetValue() ||
		len(fw.Filters) != 1 || fw.Filters[0].Until < float64(time.Now().Add(50*time.Second).Unix()) {
		t.Fatalf("after DECLINE: reasons %+v filters %+v", fw.Reasons, fw.Filters)
	}
	// The CLI says the same: `meso why framework NAME` names the filter
	// that keeps the agent from the framework.
	out, err := exec.Command(testutil.MesoBinary(t), "why", "framework", "why", "--master="+c.MasterAddr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), explain.OfferFiltered) || !strings.Contains(string(out), rest.GetAgentId().GetValue()) {
		t.Fatalf("meso why framework why: %v\n%s", err, out)
	}

	s.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_SUPPRESS.Enum()})
	getExplain(t, c.MasterAddr, explain.FrameworkPath, url.Values{"framework": {s.fwID.GetValue()}}, &fw)
	if len(fw.Reasons) == 0 || fw.Reasons[0].Code != explain.RoleSuppressed || !strings.Contains(fw.Reasons[0].Message, "REVIVE") {
		t.Fatalf("after SUPPRESS: reasons %+v", fw.Reasons)
	}
}
