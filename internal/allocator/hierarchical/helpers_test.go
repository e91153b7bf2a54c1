package hierarchical_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/allocator/hierarchical"
	"github.com/meso-project/meso/pkg/resources"
	"google.golang.org/protobuf/proto"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// tb is the part of testing.TB the helpers need (rapid.T has it too).
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func res(t tb, text string) resources.Resources {
	t.Helper()
	r, err := resources.Parse(text, "*")
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	return r
}

func newAllocator(t testing.TB, opts allocator.Options) *hierarchical.Allocator {
	t.Helper()
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	a, err := hierarchical.NewAllocator(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var allAgentCaps = []mesospb.AgentInfo_Capability_Type{
	mesospb.AgentInfo_Capability_MULTI_ROLE,
	mesospb.AgentInfo_Capability_HIERARCHICAL_ROLE,
	mesospb.AgentInfo_Capability_RESERVATION_REFINEMENT,
}

func agentWith(t tb, id, total string) allocator.Agent {
	t.Helper()
	return allocator.Agent{
		Info:         &mesospb.AgentInfo{Hostname: proto.String(id), Id: &mesospb.AgentID{Value: proto.String(id)}},
		Total:        res(t, total),
		Capabilities: allAgentCaps,
	}
}

// fwInfo builds a FrameworkInfo: one role uses the legacy `role` field,
// several roles MULTI_ROLE.
func fwInfo(name string, roles []string, caps ...mesospb.FrameworkInfo_Capability_Type) *mesospb.FrameworkInfo {
	fi := &mesospb.FrameworkInfo{User: proto.String("u"), Name: proto.String(name)}
	if len(roles) == 1 && !slices.Contains(caps, mesospb.FrameworkInfo_Capability_MULTI_ROLE) {
		fi.Role = proto.String(roles[0])
	} else {
		fi.Roles = roles
		if !slices.Contains(caps, mesospb.FrameworkInfo_Capability_MULTI_ROLE) {
			caps = append(caps, mesospb.FrameworkInfo_Capability_MULTI_ROLE)
		}
	}
	for _, c := range caps {
		fi.Capabilities = append(fi.Capabilities, &mesospb.FrameworkInfo_Capability{Type: c.Enum()})
	}
	return fi
}

func active(fi *mesospb.FrameworkInfo) allocator.Framework {
	return allocator.Framework{Info: fi, Active: true}
}

// key renders an allocation for messages and comparisons.
func key(al allocator.Allocation) string {
	return fmt.Sprintf("%s@%s/%s", al.FrameworkID, al.AgentID, al.Role)
}

func keys(als []allocator.Allocation) []string {
	out := make([]string, len(als))
	for i, al := range als {
		out[i] = key(al)
	}
	slices.Sort(out)
	return out
}

func countBy(als []allocator.Allocation, f func(allocator.Allocation) string) map[string]int {
	out := map[string]int{}
	for _, al := range als {
		out[f(al)]++
	}
	return out
}

// checkAllocationInfo asserts every offered resource carries the allocation's role.
func checkAllocationInfo(t testing.TB, als []allocator.Allocation) {
	t.Helper()
	for _, al := range als {
		for _, r := range al.Resources {
			if got := r.GetAllocationInfo().GetRole(); got != al.Role {
				t.Errorf("%s: resource %v has allocation role %q", key(al), resources.FormatResource(r), got)
			}
		}
	}
}

func recoverAll(a *hierarchical.Allocator, als []allocator.Allocation, f *mesospb.Filters, now time.Time) {
	for _, al := range als {
		a.RecoverResources(al.FrameworkID, al.AgentID, al.Resources, f, now)
	}
}

func refuse(secs float64) *mesospb.Filters {
	return &mesospb.Filters{RefuseSeconds: proto.Float64(secs)}
}

func str(als []allocator.Allocation) string {
	var b strings.Builder
	for _, al := range als {
		fmt.Fprintf(&b, "%s: %s\n", key(al), al.Resources)
	}
	return b.String()
}
