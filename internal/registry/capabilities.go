package registry

import (
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/registrypb"
	"github.com/meso-project/meso/pkg/codec"
)

// MissingCapabilities returns the registry's minimum capabilities that the
// master described by info does not have, in the registry's order (Mesos's
// missingMinimumCapabilities). A master missing any must not use the
// registry: Mesos's master logs them and exits.
func MissingCapabilities(info *mesospb.MasterInfo, reg *registrypb.Registry) []string {
	has := map[string]bool{}
	for _, c := range info.GetCapabilities() {
		has[codec.EnumNameV0(c.GetType())] = true // v0's Type_Name, e.g. QUOTA_V2
	}
	var missing []string
	for _, mc := range reg.GetMinimumCapabilities() {
		if !has[mc.GetCapability()] {
			missing = append(missing, mc.GetCapability())
		}
	}
	return missing
}
