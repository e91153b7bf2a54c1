package cli

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
)

func scalar(name string, v float64) *mesospb.Resource {
	return &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_SCALAR.Enum(), Scalar: &mesospb.Value_Scalar{Value: proto.Float64(v)}}
}

func reserved(r *mesospb.Resource, role string) *mesospb.Resource {
	r = proto.CloneOf(r)
	r.Reservations = []*mesospb.Resource_ReservationInfo{{Type: mesospb.Resource_ReservationInfo_STATIC.Enum(), Role: proto.String(role)}}
	return r
}

func allocated(r *mesospb.Resource, role string) *mesospb.Resource {
	r = proto.CloneOf(r)
	r.AllocationInfo = &mesospb.Resource_AllocationInfo{Role: proto.String(role)}
	return r
}

func ports(begin, end uint64) *mesospb.Resource {
	return &mesospb.Resource{Name: proto.String("ports"), Type: mesospb.Value_RANGES.Enum(),
		Ranges: &mesospb.Value_Ranges{Range: []*mesospb.Value_Range{{Begin: proto.Uint64(begin), End: proto.Uint64(end)}}}}
}

func TestFit(t *testing.T) {
	offer := func(rs ...*mesospb.Resource) *mesospb.Offer {
		o := &mesospb.Offer{AllocationInfo: &mesospb.Resource_AllocationInfo{Role: proto.String("dev")}}
		for _, r := range rs {
			o.Resources = append(o.Resources, allocated(r, "dev"))
		}
		return o
	}
	tests := []struct {
		name     string
		offer    *mesospb.Offer
		required []*mesospb.Resource
		want     []*mesospb.Resource
		ok       bool
	}{
		{
			name:     "reserved first then unreserved",
			offer:    offer(scalar("cpus", 2), reserved(scalar("cpus", 0.5), "dev"), scalar("mem", 64)),
			required: []*mesospb.Resource{scalar("cpus", 1), scalar("mem", 32)},
			want: []*mesospb.Resource{
				allocated(reserved(scalar("cpus", 0.5), "dev"), "dev"),
				allocated(scalar("cpus", 0.5), "dev"),
				allocated(scalar("mem", 32), "dev"),
			},
			ok: true,
		},
		{
			name:     "not enough",
			offer:    offer(scalar("cpus", 0.05), scalar("mem", 64)),
			required: []*mesospb.Resource{scalar("cpus", 0.1)},
		},
		{
			name:     "missing resource",
			offer:    offer(scalar("cpus", 1)),
			required: []*mesospb.Resource{scalar("cpus", 0.1), scalar("mem", 32)},
		},
		{
			name:     "ports within a range",
			offer:    offer(ports(31000, 32000)),
			required: []*mesospb.Resource{ports(31005, 31006)},
			want:     []*mesospb.Resource{allocated(ports(31005, 31006), "dev")},
			ok:       true,
		},
		{
			name:     "ports outside",
			offer:    offer(ports(31000, 32000)),
			required: []*mesospb.Resource{ports(80, 80)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := fit(tt.offer, tt.required, "dev")
			if ok != tt.ok {
				t.Fatalf("ok = %v", ok)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("fit (-want +got):\n%s", diff)
			}
		})
	}
}
