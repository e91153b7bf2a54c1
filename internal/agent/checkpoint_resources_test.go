package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/agentapipb"
	"github.com/meso-project/meso/pkg/resources"
)

// TestCheckpointResources: the total the master sends after a dynamic
// reservation is what the agent reports from then on, in /state and in
// REREGISTER (so that a new master learns the reservation).
func TestCheckpointResources(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "normal", nil)
	total, err := resources.Parse("cpus:1;mem:512;disk:2048;ports:[31000-32000]", "*")
	if err != nil {
		t.Fatal(err)
	}
	reserved, err := resources.Parse("cpus:1;mem:512", "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reserved {
		r.Reservations = []*mesospb.Resource_ReservationInfo{{
			Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("eng"), Principal: proto.String("p")}}
	}
	total = total.Add(reserved)
	m.send(&agentapipb.Event{
		Type:                agentapipb.Event_CHECKPOINT_RESOURCES.Enum(),
		CheckpointResources: &agentapipb.Event_CheckpointResources{Resources: total},
	})
	eventually(t, 5*time.Second, func() bool {
		eng, _ := ta.getJSON(t, "/state")["reserved_resources"].(map[string]any)["eng"].(map[string]any)
		return eng["cpus"] == 1.0 && eng["mem"] == 512.0
	}, "reservation not in /state")
	st := ta.getJSON(t, "/state")
	if un := st["unreserved_resources"].(map[string]any); un["cpus"] != 1.0 || un["mem"] != 512.0 {
		t.Errorf("unreserved_resources %v", un)
	}
	if full := st["reserved_resources_full"].(map[string]any)["eng"].([]any); len(full) != 2 {
		t.Errorf("reserved_resources_full %v", full)
	}

	m.dropStream()
	eventually(t, 5*time.Second, func() bool { return len(m.callsOf(agentapipb.Call_REREGISTER)) >= 1 }, "no REREGISTER")
	got := resources.Resources(m.callsOf(agentapipb.Call_REREGISTER)[0].GetReregister().GetAgentInfo().GetResources())
	if q := got.ReservedBy("eng").Quantities(); q["cpus"] != 1 || q["mem"] != 512 {
		t.Fatalf("REREGISTER resources %v", got)
	}
}

// TestRestartRecoversIDAndResources: an agent started again on the same
// work directory re-registers under its ID with the resources it was told
// to checkpoint; after a reboot (another boot id in meta/boot_id) it
// registers as a new agent instead.
func TestRestartRecoversIDAndResources(t *testing.T) {
	m := newFakeMaster(t, 60)
	ta := startAgent(t, m, "normal", nil)
	eventually(t, 5*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(ta.workDir, "meta", "slaves", testAgentID, "slave.info"))
		return err == nil
	}, "no slave.info checkpoint")
	reserved, err := resources.Parse("cpus:1;mem:512", "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reserved {
		r.Reservations = []*mesospb.Resource_ReservationInfo{{
			Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("eng")}}
	}
	total, _ := resources.Parse("cpus:1;mem:512;disk:2048;ports:[31000-32000]", "*")
	m.send(&agentapipb.Event{Type: agentapipb.Event_CHECKPOINT_RESOURCES.Enum(),
		CheckpointResources: &agentapipb.Event_CheckpointResources{Resources: total.Add(reserved)}})
	eventually(t, 5*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(ta.workDir, "meta", "resources", "resources_and_operations.state"))
		return err == nil
	}, "no resources checkpoint")
	ta.stop()

	workDir := ta.workDir
	before := len(m.callsOf(agentapipb.Call_REREGISTER))
	ta = startAgent(t, m, "normal", func(c *Config) { c.WorkDir = workDir })
	eventually(t, 10*time.Second, func() bool { return len(m.callsOf(agentapipb.Call_REREGISTER)) > before },
		"the restarted agent did not re-register")
	rr := m.callsOf(agentapipb.Call_REREGISTER)[before]
	if id := rr.GetAgentId().GetValue(); id != testAgentID {
		t.Errorf("re-registered as %q, want %q", id, testAgentID)
	}
	got := resources.Resources(rr.GetReregister().GetAgentInfo().GetResources())
	if q := got.ReservedBy("eng").Quantities(); q["cpus"] != 1 || q["mem"] != 512 {
		t.Errorf("recovered resources %v lack the reservation", got)
	}
	if q := got.Unreserved().Quantities(); q["cpus"] != 1 || q["mem"] != 512 {
		t.Errorf("recovered unreserved resources %v, want cpus 1, mem 512", got.Unreserved())
	}
	ta.stop()

	// Another boot: a new agent.
	if err := os.WriteFile(filepath.Join(workDir, "meta", "boot_id"), []byte("another-boot"), 0o644); err != nil {
		t.Fatal(err)
	}
	registers := len(m.callsOf(agentapipb.Call_REGISTER))
	before = len(m.callsOf(agentapipb.Call_REREGISTER))
	startAgent(t, m, "normal", func(c *Config) { c.WorkDir = workDir })
	eventually(t, 10*time.Second, func() bool { return len(m.callsOf(agentapipb.Call_REGISTER)) > registers },
		"the agent did not register anew after a reboot")
	if n := len(m.callsOf(agentapipb.Call_REREGISTER)); n != before {
		t.Errorf("%d re-registrations after a reboot, want none", n-before)
	}
}
