package validation

import (
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/resources"
)

// Thin adapters over pkg/resources, kept in one place.

func scalar(rs resources.Resources, name string) (float64, bool) {
	found := false
	for _, r := range rs {
		if r.GetName() == name {
			found = true
			break
		}
	}
	if !found {
		return 0, false
	}
	return rs.Scalar(name), true
}

func addResources(a resources.Resources, b []*mesospb.Resource) resources.Resources {
	return a.Add(b)
}

func contains(a, b resources.Resources) bool { return a.Contains(b) }

func resString(rs resources.Resources) string { return rs.String() }
