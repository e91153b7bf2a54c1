package codec

import (
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Mesos 1.11.0 keeps two copies of its messages: the v0 protos
// (include/mesos/mesos.proto), which the master and agent use inside, and
// the v1 protos (include/mesos/v1/...), which the v1 HTTP APIs speak. A few
// enum values exist only in v0. Mesos converts v0 to v1 by serializing and
// parsing ("evolve"), so such a value reaches a v1 message as an unknown
// field: on the protobuf wire it is still there, in v1 JSON the field is
// unset (an element {} in a repeated message field). Surfaces Mesos renders
// from v0 messages — the ZooKeeper json.info_ znode, /state — show the v0
// name.
//
// meso has only the v1 messages. It holds such a value as its number (Go
// keeps undeclared numbers of closed enums in the field), which the
// protobuf encoding writes as Mesos does and [MarshalJSON] treats as unset.
// [MarshalJSONV0], [UnmarshalJSONV0] and [EnumNameV0] know the v0 names for
// the surfaces that show them.

// v0EnumValues lists, by the v1 enum's full name, the values Mesos 1.11.0
// declares in the v0 copy of that enum but not in the v1 one. The v1
// protos under api/proto reserve these numbers and names.
var v0EnumValues = map[protoreflect.FullName]map[protoreflect.EnumNumber]protoreflect.Name{
	// include/mesos/mesos.proto MasterInfo.Capability.Type; the master
	// advertises it (src/master/constants.cpp MASTER_CAPABILITIES).
	"mesos.v1.MasterInfo.Capability.Type": {3: "QUOTA_V2"},
}

// V0OnlyEnumValues returns the enum values Mesos 1.11.0 declares only in
// its v0 protos, by the v1 enum's full name: number to v0 name. The result
// is a copy.
func V0OnlyEnumValues() map[protoreflect.FullName]map[protoreflect.EnumNumber]protoreflect.Name {
	out := make(map[protoreflect.FullName]map[protoreflect.EnumNumber]protoreflect.Name, len(v0EnumValues))
	for e, vals := range v0EnumValues {
		c := make(map[protoreflect.EnumNumber]protoreflect.Name, len(vals))
		for n, name := range vals {
			c[n] = name
		}
		out[e] = c
	}
	return out
}

// EnumNameV0 returns the name Mesos 1.11.0's v0 protos give e's value
// (Type_Name), as /state and the registry's minimum capabilities use it:
// the v1 name when the v1 enum declares the value, else the v0-only name,
// else the decimal number.
func EnumNameV0(e protoreflect.Enum) string {
	n := e.Number()
	if ev := e.Descriptor().Values().ByNumber(n); ev != nil {
		return string(ev.Name())
	}
	if name, ok := v0EnumValues[e.Descriptor().FullName()][n]; ok {
		return string(name)
	}
	return strconv.Itoa(int(n))
}

// MarshalJSONV0 is [MarshalJSON] for surfaces Mesos renders from its v0
// messages, such as the ZooKeeper json.info_ znode (MasterInfo): enum values
// declared only in v0 are written with their v0 names instead of being
// treated as unset.
func MarshalJSONV0(m proto.Message) ([]byte, error) {
	return marshalJSON(m, true, minParallel, true)
}

// UnmarshalJSONV0 is [UnmarshalJSON] for documents Mesos writes from its v0
// messages, such as the ZooKeeper json.info_ znode: v0-only enum names
// (e.g. MasterInfo capability "QUOTA_V2") decode to their numbers instead of
// being dropped.
func UnmarshalJSONV0(data []byte, m proto.Message) error {
	return decoder{v0: true}.unmarshal(data, m)
}

// enumValueName returns the name JSON shows for number n of ed, and whether
// there is one.
func enumValueName(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber, v0 bool) (protoreflect.Name, bool) {
	if ev := ed.Values().ByNumber(n); ev != nil {
		return ev.Name(), true
	}
	if v0 {
		name, ok := v0EnumValues[ed.FullName()][n]
		return name, ok
	}
	return "", false
}

// enumValueNumber is the inverse of enumValueName.
func enumValueNumber(ed protoreflect.EnumDescriptor, name protoreflect.Name, v0 bool) (protoreflect.EnumNumber, bool) {
	if ev := ed.Values().ByName(name); ev != nil {
		return ev.Number(), true
	}
	if v0 {
		for n, v0name := range v0EnumValues[ed.FullName()] {
			if v0name == name {
				return n, true
			}
		}
	}
	return 0, false
}

// undeclared reports whether v, a value of the enum field fd, is a number
// that fd's closed (proto2) enum does not declare. Mesos's C++ protobuf
// parses such a number into the unknown fields, so for Mesos the field is
// unset: MarshalJSON skips it (or writes the field's default) and a
// required field holding one is missing.
func undeclared(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	if fd.Kind() != protoreflect.EnumKind || !fd.Enum().IsClosed() {
		return false
	}
	return fd.Enum().Values().ByNumber(v.Enum()) == nil
}
