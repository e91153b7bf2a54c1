package codec

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/meso-project/meso/api/v1/agentpb"
	_ "github.com/meso-project/meso/api/v1/executorpb"
	_ "github.com/meso-project/meso/api/v1/masterpb"
	_ "github.com/meso-project/meso/api/v1/mesospb"
	_ "github.com/meso-project/meso/api/v1/quotapb"
	_ "github.com/meso-project/meso/api/v1/schedulerpb"
)

// notInMesos1110 lists what our v1 protos once declared but Mesos 1.11.0's
// v1 protos (include/mesos/v1/..., tag 1.11.0) do not: added to Mesos after
// the tag, or declared only in its v0 protos. meso says it is 1.11.0, so its
// v1 APIs must not show them (a 1.11 client cannot decode an enum name it
// does not know). api/proto reserves each number and name; this list keeps
// anyone from declaring them again without noticing. Only a value that
// 1.11.0 sends through v0 (v0EnumValues) is still produced, by its number.
var notInMesos1110 = []struct {
	name   protoreflect.FullName // enum value or field
	number int32
}{
	// Only in v0 (include/mesos/mesos.proto) at 1.11.0; v1 gained it in
	// 1a8a65779 "Added Capability.Type.QUOTA_V2 to v1 operator API".
	{"mesos.v1.MasterInfo.Capability.Type.QUOTA_V2", 3},

	// 900d23337 "Added CAP_PERFMON, CAP_BPF and CAP_CHECKPOINT_RESTORE support".
	{"mesos.v1.CapabilityInfo.Capability.PERFMON", 1038},
	{"mesos.v1.CapabilityInfo.Capability.BPF", 1039},
	{"mesos.v1.CapabilityInfo.Capability.CHECKPOINT_RESTORE", 1040},

	// 9141d2e83 "Optionally scale egress bandwidth with CPU" and the
	// network statistics around it.
	{"mesos.v1.ResourceStatistics.net_tx_rate_limit", 46},
	{"mesos.v1.ResourceStatistics.net_tx_burst_rate_limit", 47},
	{"mesos.v1.ResourceStatistics.net_tx_burst_size", 48},
	{"mesos.v1.ResourceStatistics.net_rx_rate_limit", 49},
	{"mesos.v1.ResourceStatistics.net_rx_burst_rate_limit", 50},
	{"mesos.v1.ResourceStatistics.net_rx_burst_size", 51},
	{"mesos.v1.ResourceStatistics.net_rate_statistics", 54},
	// 246aea6c0 "Expose new metrics for memory usage in cgroup".
	{"mesos.v1.ResourceStatistics.mem_kmem_usage_bytes", 52},
	{"mesos.v1.ResourceStatistics.mem_kmem_tcp_usage_bytes", 53},
	// ed0d79674 "Exported container ephemeral ports range in ResourceStatistics".
	{"mesos.v1.ResourceStatistics.net_ephemeral_ports", 55},
}

// notInMesos1110Messages are messages added after the 1.11.0 tag.
var notInMesos1110Messages = []protoreflect.FullName{
	"mesos.v1.ResourceStatistics.RatePercentiles",
	"mesos.v1.ResourceStatistics.RateStatistics",
}

func TestNotInMesos1110(t *testing.T) {
	for _, x := range notInMesos1110 {
		parent := x.name.Parent()
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(parent)
		if err != nil {
			t.Errorf("%s: %v", parent, err)
			continue
		}
		var names protoreflect.Names
		var ranges interface {
			Has(protoreflect.FieldNumber) bool
		}
		switch d := d.(type) {
		case protoreflect.EnumDescriptor:
			if v := d.Values().ByName(x.name.Name()); v != nil {
				t.Errorf("%s is declared again; Mesos 1.11.0's v1 proto does not have it", x.name)
			}
			if v := d.Values().ByNumber(protoreflect.EnumNumber(x.number)); v != nil {
				t.Errorf("%s number %d is declared again as %s", parent, x.number, v.Name())
			}
			names = d.ReservedNames()
			ranges = enumRanges{d.ReservedRanges()}
		case protoreflect.MessageDescriptor:
			if f := d.Fields().ByName(x.name.Name()); f != nil {
				t.Errorf("%s is declared again; Mesos 1.11.0's v1 proto does not have it", x.name)
			}
			if f := d.Fields().ByNumber(protoreflect.FieldNumber(x.number)); f != nil {
				t.Errorf("%s field number %d is declared again as %s", parent, x.number, f.Name())
			}
			names = d.ReservedNames()
			ranges = d.ReservedRanges()
		default:
			t.Errorf("%s: unexpected descriptor %T", parent, d)
			continue
		}
		if !names.Has(x.name.Name()) || !ranges.Has(protoreflect.FieldNumber(x.number)) {
			t.Errorf("%s (%d) is not reserved in api/proto", x.name, x.number)
		}
	}
	for _, name := range notInMesos1110Messages {
		if _, err := protoregistry.GlobalFiles.FindDescriptorByName(name); err == nil {
			t.Errorf("message %s is declared again; Mesos 1.11.0's v1 proto does not have it", name)
		}
	}

	// Every v0-only enum value the codec knows is one of the above.
	listed := map[protoreflect.FullName]int32{}
	for _, x := range notInMesos1110 {
		listed[x.name] = x.number
	}
	for enum, vals := range V0OnlyEnumValues() {
		for n, name := range vals {
			if got, ok := listed[enum.Append(name)]; !ok || got != int32(n) {
				t.Errorf("v0-only value %s.%s = %d is not listed in notInMesos1110", enum, name, n)
			}
		}
	}
}

type enumRanges struct{ r protoreflect.EnumRanges }

func (e enumRanges) Has(n protoreflect.FieldNumber) bool { return e.r.Has(protoreflect.EnumNumber(n)) }
