package e2e

import (
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/local"
	"github.com/meso-project/meso/pkg/codec"
)

// TestOfferAllocationInfo: offers carry allocation_info (on the offer and on
// each resource) only for MULTI_ROLE frameworks, naming one of their roles;
// single-role frameworks get offers without it, as from Mesos.
func TestOfferAllocationInfo(t *testing.T) {
	c := cluster(t, nil)

	single := subscribe(t, c.MasterAddr, codec.JSON, frameworkInfo("single"))
	o := single.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	if o.AllocationInfo != nil {
		t.Errorf("single-role offer has allocation_info %v", o.GetAllocationInfo())
	}
	for _, r := range o.GetResources() {
		if r.AllocationInfo != nil {
			t.Errorf("single-role offer resource %s has allocation_info", r.GetName())
		}
	}
	single.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()})

	info := frameworkInfo("multi")
	info.Roles = []string{"dev", "ops"}
	info.Capabilities = []*mesospb.FrameworkInfo_Capability{{Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}
	multi := subscribe(t, c.MasterAddr, codec.Protobuf, info)
	o = multi.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	role := o.GetAllocationInfo().GetRole()
	if role != "dev" && role != "ops" {
		t.Fatalf("multi-role offer allocation_info role %q, want dev or ops", role)
	}
	for _, r := range o.GetResources() {
		if r.GetAllocationInfo().GetRole() != role {
			t.Errorf("resource %s allocated to %q, want %q", r.GetName(), r.GetAllocationInfo().GetRole(), role)
		}
	}
	// A task launched with the offer's role runs.
	multi.launch(o, "multi-task", "true", taskResources(role, 0.1, 32))
	waitFor(t, multi, mesospb.TaskState_TASK_FINISHED)
}

// TestStaticReservationOnlyToItsRole: resources an agent reserves to a role
// with --resources ("cpus(dev):2") are offered to frameworks in that role,
// never to others, who see only the unreserved part.
func TestStaticReservationOnlyToItsRole(t *testing.T) {
	c := cluster(t, func(cfg *local.Config) {
		cfg.Agent.Resources = "cpus(dev):2;mem(dev):512;cpus:1;mem:256;disk:100"
	})
	reservedCPUs := func(o *mesospb.Offer) (reserved, unreserved float64) {
		for _, r := range o.GetResources() {
			if r.GetName() != "cpus" {
				continue
			}
			if len(r.GetReservations()) > 0 || (r.GetRole() != "" && r.GetRole() != "*") {
				reserved += r.GetScalar().GetValue()
			} else {
				unreserved += r.GetScalar().GetValue()
			}
		}
		return reserved, unreserved
	}

	other := subscribe(t, c.MasterAddr, codec.JSON, roleFramework("other", "other"))
	o := other.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	if res, unres := reservedCPUs(o); res != 0 || unres != 1 {
		t.Errorf("framework in role other was offered %v reserved and %v unreserved cpus, want 0 and 1", res, unres)
	}
	other.mustCall(&schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()})

	dev := subscribe(t, c.MasterAddr, codec.JSON, roleFramework("dev", "dev"))
	o = dev.next(schedulerpb.Event_OFFERS, 10*time.Second).GetOffers().GetOffers()[0]
	if res, unres := reservedCPUs(o); res != 2 || unres != 1 {
		t.Errorf("framework in role dev was offered %v reserved and %v unreserved cpus, want 2 and 1", res, unres)
	}
	// Pre-refinement format for a framework without RESERVATION_REFINEMENT:
	// static reservations show as role "dev", no reservations stack.
	for _, r := range o.GetResources() {
		if len(r.GetReservations()) > 0 {
			t.Errorf("resource %s carries a reservations stack for a framework without RESERVATION_REFINEMENT", r.GetName())
		}
	}
}
