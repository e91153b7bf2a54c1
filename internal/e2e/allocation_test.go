package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/local"
	"github.com/meso-project/meso/pkg/codec"
)

// roleFramework is a single-role framework in role.
func roleFramework(name, role string) *mesospb.FrameworkInfo {
	info := frameworkInfo(name)
	info.Role = proto.String(role)
	return info
}

// TestWeightsConvergeToShares: on a saturated cluster, frameworks in roles
// weighted 1 and 2 end up holding resources 1:2 (weighted DRF). Each framework
// takes one task's worth of every offer and returns the rest at once.
func TestWeightsConvergeToShares(t *testing.T) {
	c := cluster(t, func(cfg *local.Config) {
		cfg.Agent.Resources = "cpus:12;mem:12288;disk:1000"
		cfg.AllocatorOptions.Weights = map[string]float64{"light": 1, "heavy": 2}
	})
	light := subscribe(t, c.MasterAddr, codec.JSON, roleFramework("light", "light"))
	heavy := subscribe(t, c.MasterAddr, codec.JSON, roleFramework("heavy", "heavy"))

	done := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(done); wg.Wait() }()
	launched := make(chan string, 64)
	errs := make(chan string, 4)
	for _, s := range []*scheduler{light, heavy} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; {
				var ev *schedulerpb.Event
				select {
				case <-done:
					return
				case ev = <-s.events:
				}
				if ev == nil {
					return
				}
				switch ev.GetType() {
				case schedulerpb.Event_OFFERS:
					for _, o := range ev.GetOffers().GetOffers() {
						id := fmt.Sprintf("%s-%d", s.fwID.GetValue(), n)
						n++
						if code, body := s.call(launchCall(o, id, "sleep 1000", 1, 64)); code != http.StatusAccepted {
							errs <- fmt.Sprintf("ACCEPT: %d %s", code, body)
							return
						}
						launched <- s.fwID.GetValue()
					}
				case schedulerpb.Event_UPDATE:
					if st := ev.GetUpdate().GetStatus(); len(st.GetUuid()) > 0 {
						s.call(ackCall(st))
					}
				}
			}
		}()
	}
	count := map[string]int{}
	timeout := time.After(60 * time.Second)
	for count[light.fwID.GetValue()]+count[heavy.fwID.GetValue()] < 12 {
		select {
		case id := <-launched:
			count[id]++
		case e := <-errs:
			t.Fatal(e)
		case <-timeout:
			t.Fatalf("cluster not saturated within 60s: launched %v", count)
		}
	}
	l, h := count[light.fwID.GetValue()], count[heavy.fwID.GetValue()]
	// Weighted DRF gives exactly 4:8 here; allow one task of slack for the
	// order in which offers and accepts interleave.
	if l < 3 || l > 5 || h < 7 || h > 9 {
		t.Errorf("light (weight 1) got %d tasks, heavy (weight 2) %d; want about 4 and 8", l, h)
	}
}

// TestRefuseSecondsAndRevive: an agent declined with refuse_seconds=N is not
// offered again to that framework before N seconds and is after; a REVIVE
// brings offers back at once, whatever filter is in place.
func TestRefuseSecondsAndRevive(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.Protobuf, frameworkInfo("decliner"))
	o := s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]

	const refuse = 2 * time.Second
	declined := time.Now()
	s.mustCall(declineCall(o, refuse.Seconds()))
	o = s.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	if d := time.Since(declined); d < refuse {
		t.Errorf("offered again after %v, want no sooner than refuse_seconds (%v)", d, refuse)
	} else if d > refuse+3*time.Second {
		t.Errorf("offered again only after %v, want soon after refuse_seconds (%v)", d, refuse)
	}

	// An hour-long filter holds...
	s.mustCall(declineCall(o, 3600))
	select {
	case ev := <-s.events:
		if ev.GetType() == schedulerpb.Event_OFFERS {
			t.Fatal("offered again despite refuse_seconds=3600")
		}
	case <-time.After(time.Second):
	}
	// ...until REVIVE, which brings the offer back at once.
	revived := time.Now()
	s.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_REVIVE.Enum()})
	s.next(schedulerpb.Event_OFFERS, 5*time.Second)
	if d := time.Since(revived); d > time.Second {
		t.Errorf("offer came %v after REVIVE, want at once", d)
	}
}

func declineCall(o *mesospb.Offer, refuseSeconds float64) *schedulerpb.Call {
	return &schedulerpb.Call{
		Type: schedulerpb.Call_DECLINE.Enum(),
		Decline: &schedulerpb.Call_Decline{
			OfferIds: []*mesospb.OfferID{o.GetId()},
			Filters:  &mesospb.Filters{RefuseSeconds: proto.Float64(refuseSeconds)},
		},
	}
}

// launchCall accepts o with one command task of cpus and mem, returning the
// rest of the offer at once (refuse_seconds 0). The resources carry no
// allocation_info: single-role frameworks may leave it to the master.
func launchCall(o *mesospb.Offer, id, command string, cpus, mem float64) *schedulerpb.Call {
	return &schedulerpb.Call{
		Type: schedulerpb.Call_ACCEPT.Enum(),
		Accept: &schedulerpb.Call_Accept{
			OfferIds: []*mesospb.OfferID{o.GetId()},
			Operations: []*mesospb.Offer_Operation{{
				Type: mesospb.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesospb.Offer_Operation_Launch{TaskInfos: []*mesospb.TaskInfo{{
					Name:      proto.String(id),
					TaskId:    &mesospb.TaskID{Value: proto.String(id)},
					AgentId:   o.GetAgentId(),
					Resources: []*mesospb.Resource{scalar("cpus", cpus), scalar("mem", mem)},
					Command:   &mesospb.CommandInfo{Value: proto.String(command)},
				}}},
			}},
			Filters: &mesospb.Filters{RefuseSeconds: proto.Float64(0)},
		},
	}
}

func ackCall(st *mesospb.TaskStatus) *schedulerpb.Call {
	return &schedulerpb.Call{
		Type: schedulerpb.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &schedulerpb.Call_Acknowledge{
			AgentId: st.GetAgentId(), TaskId: st.GetTaskId(), Uuid: st.GetUuid(),
		},
	}
}
