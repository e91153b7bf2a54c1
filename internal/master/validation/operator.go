package validation

import (
	"errors"
	"fmt"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/pkg/resources"
)

// MasterCall checks the structure of a v1 operator Call
// (validation::master::call::validate): a type, and the payload the type
// needs.
func MasterCall(call *masterpb.Call) error {
	if call.Type == nil {
		return errors.New("Expecting 'type' to be present")
	}
	missing := func(name string) error { return fmt.Errorf("Expecting '%s' to be present", name) }
	checks := map[masterpb.Call_Type]struct {
		name    string
		present bool
	}{
		masterpb.Call_GET_METRICS:                 {"get_metrics", call.GetMetrics != nil},
		masterpb.Call_SET_LOGGING_LEVEL:           {"set_logging_level", call.SetLoggingLevel != nil},
		masterpb.Call_LIST_FILES:                  {"list_files", call.ListFiles != nil},
		masterpb.Call_READ_FILE:                   {"read_file", call.ReadFile != nil},
		masterpb.Call_UPDATE_WEIGHTS:              {"update_weights", call.UpdateWeights != nil},
		masterpb.Call_RESERVE_RESOURCES:           {"reserve_resources", call.ReserveResources != nil},
		masterpb.Call_UNRESERVE_RESOURCES:         {"unreserve_resources", call.UnreserveResources != nil},
		masterpb.Call_CREATE_VOLUMES:              {"create_volumes", call.CreateVolumes != nil},
		masterpb.Call_DESTROY_VOLUMES:             {"destroy_volumes", call.DestroyVolumes != nil},
		masterpb.Call_GROW_VOLUME:                 {"grow_volume", call.GrowVolume != nil},
		masterpb.Call_SHRINK_VOLUME:               {"shrink_volume", call.ShrinkVolume != nil},
		masterpb.Call_UPDATE_MAINTENANCE_SCHEDULE: {"update_maintenance_schedule", call.UpdateMaintenanceSchedule != nil},
		masterpb.Call_START_MAINTENANCE:           {"start_maintenance", call.StartMaintenance != nil},
		masterpb.Call_STOP_MAINTENANCE:            {"stop_maintenance", call.StopMaintenance != nil},
		masterpb.Call_DRAIN_AGENT:                 {"drain_agent", call.DrainAgent != nil},
		masterpb.Call_DEACTIVATE_AGENT:            {"deactivate_agent", call.DeactivateAgent != nil},
		masterpb.Call_REACTIVATE_AGENT:            {"reactivate_agent", call.ReactivateAgent != nil},
		masterpb.Call_UPDATE_QUOTA:                {"update_quota", call.UpdateQuota != nil},
		masterpb.Call_SET_QUOTA:                   {"set_quota", call.SetQuota != nil},
		masterpb.Call_REMOVE_QUOTA:                {"remove_quota", call.RemoveQuota != nil},
		masterpb.Call_TEARDOWN:                    {"teardown", call.Teardown != nil},
		masterpb.Call_MARK_AGENT_GONE:             {"mark_agent_gone", call.MarkAgentGone != nil},
	}
	if c, ok := checks[call.GetType()]; ok && !c.present {
		return missing(c.name)
	}
	switch call.GetType() {
	case masterpb.Call_RESERVE_RESOURCES:
		return resources.Validate(call.GetReserveResources().GetResources())
	case masterpb.Call_UNRESERVE_RESOURCES:
		return resources.Validate(call.GetUnreserveResources().GetResources())
	}
	return nil
}
