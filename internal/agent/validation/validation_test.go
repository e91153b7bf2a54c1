package validation

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
)

func cid(v string, parent *mesospb.ContainerID) *mesospb.ContainerID {
	return &mesospb.ContainerID{Value: proto.String(v), Parent: parent}
}

func scalar(name string, v float64, mod func(*mesospb.Resource)) *mesospb.Resource {
	r := &mesospb.Resource{Name: proto.String(name), Type: mesospb.Value_SCALAR.Enum(),
		Scalar: &mesospb.Value_Scalar{Value: proto.Float64(v)}}
	if mod != nil {
		mod(r)
	}
	return r
}

func TestCall(t *testing.T) {
	typ := func(t agentpb.Call_Type) *agentpb.Call_Type { return t.Enum() }
	nested := cid("c", cid("p", nil))
	twice := cid("c", cid("p", cid("gp", nil)))
	launch := func(l *agentpb.Call_LaunchContainer) *agentpb.Call {
		return &agentpb.Call{Type: typ(agentpb.Call_LAUNCH_CONTAINER), LaunchContainer: l}
	}
	noShare := &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(),
		LinuxInfo: &mesospb.LinuxInfo{ShareCgroups: proto.Bool(false)}}
	share := &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(),
		LinuxInfo: &mesospb.LinuxInfo{ShareCgroups: proto.Bool(true)}}
	tests := []struct {
		name string
		call *agentpb.Call
		want string // "" for valid
	}{
		{"no type", &agentpb.Call{}, "Expecting 'type' to be present"},
		{"unknown type value", &agentpb.Call{Type: agentpb.Call_Type(999).Enum()}, "Expecting 'type' to be present"},
		{"UNKNOWN", &agentpb.Call{Type: typ(agentpb.Call_UNKNOWN)}, ""},
		{"GET_STATE", &agentpb.Call{Type: typ(agentpb.Call_GET_STATE)}, ""},
		{"PRUNE_IMAGES without message", &agentpb.Call{Type: typ(agentpb.Call_PRUNE_IMAGES)}, ""},
		{"READ_FILE without message", &agentpb.Call{Type: typ(agentpb.Call_READ_FILE)}, "Expecting 'read_file' to be present"},
		{"not initialized", &agentpb.Call{Type: typ(agentpb.Call_LIST_FILES), ListFiles: &agentpb.Call_ListFiles{}},
			"Not initialized: ..."},
		{"empty container ID", &agentpb.Call{Type: typ(agentpb.Call_WAIT_CONTAINER),
			WaitContainer: &agentpb.Call_WaitContainer{ContainerId: cid("", nil)}},
			"'wait_container.container_id' is invalid: ID must not be empty"},
		{"long container ID", &agentpb.Call{Type: typ(agentpb.Call_KILL_CONTAINER),
			KillContainer: &agentpb.Call_KillContainer{ContainerId: cid(strings.Repeat("a", 243), nil)}},
			"'kill_container.container_id' is invalid: 'ContainerID.value' '" + strings.Repeat("a", 243) + "' exceeds the maximum length (242)"},
		{"bad parent", &agentpb.Call{Type: typ(agentpb.Call_REMOVE_CONTAINER),
			RemoveContainer: &agentpb.Call_RemoveContainer{ContainerId: cid("c", cid("a b", nil))}},
			"'remove_container.container_id' is invalid: 'ContainerID.parent' is invalid: 'ContainerID.value' 'a b' contains invalid characters"},
		{"slash", &agentpb.Call{Type: typ(agentpb.Call_ATTACH_CONTAINER_OUTPUT),
			AttachContainerOutput: &agentpb.Call_AttachContainerOutput{ContainerId: cid("a/b", nil)}},
			"'attach_container_output.container_id' is invalid: 'a/b' contains invalid characters"},
		{"nested without parent", &agentpb.Call{Type: typ(agentpb.Call_LAUNCH_NESTED_CONTAINER),
			LaunchNestedContainer: &agentpb.Call_LaunchNestedContainer{ContainerId: cid("c", nil)}},
			"Expecting 'launch_nested_container.container_id.parent' to be present"},
		{"nested twice without shared cgroups", &agentpb.Call{Type: typ(agentpb.Call_LAUNCH_NESTED_CONTAINER),
			LaunchNestedContainer: &agentpb.Call_LaunchNestedContainer{ContainerId: twice, Container: noShare}},
			"'launch_nested_container' is invalid: containers nested at the second level or greater cannot set 'share_cgroups' to 'false'"},
		{"nested once without shared cgroups", &agentpb.Call{Type: typ(agentpb.Call_LAUNCH_NESTED_CONTAINER),
			LaunchNestedContainer: &agentpb.Call_LaunchNestedContainer{ContainerId: nested, Container: noShare}}, ""},
		{"session without shared cgroups", &agentpb.Call{Type: typ(agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION),
			LaunchNestedContainerSession: &agentpb.Call_LaunchNestedContainerSession{ContainerId: nested, Container: noShare}},
			"'launch_nested_container_session.container.linux_info' is invalid: 'share_cgroups' cannot be set to 'false' for nested container sessions"},
		{"secret variable without secret", &agentpb.Call{Type: typ(agentpb.Call_LAUNCH_NESTED_CONTAINER),
			LaunchNestedContainer: &agentpb.Call_LaunchNestedContainer{ContainerId: nested, Command: &mesospb.CommandInfo{
				Environment: &mesospb.Environment{Variables: []*mesospb.Environment_Variable{
					{Name: proto.String("X"), Type: mesospb.Environment_Variable_SECRET.Enum()}}}}}},
			"'launch_nested_container.command' is invalid: Environment variable 'X' of type 'SECRET' must have a secret set"},
		{"docker without docker info", launch(&agentpb.Call_LaunchContainer{ContainerId: nested,
			Container: &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_DOCKER.Enum()}}),
			"'launch_container.container' is invalid: DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"},
		{"two volume sources", launch(&agentpb.Call_LaunchContainer{ContainerId: nested,
			Container: &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Volumes: []*mesospb.Volume{{
				ContainerPath: proto.String("/c"), Mode: mesospb.Volume_RW.Enum(), HostPath: proto.String("/h"),
				Image: &mesospb.Image{Type: mesospb.Image_DOCKER.Enum()}}}}}),
			"'launch_container.container' is invalid: Invalid volume: Only one of them should be set: 'host_path', 'image' and 'source'"},
		{"attach input without type", &agentpb.Call{Type: typ(agentpb.Call_ATTACH_CONTAINER_INPUT),
			AttachContainerInput: &agentpb.Call_AttachContainerInput{}},
			"Expecting 'attach_container_input.type' to be present"},
		{"attach input UNKNOWN", &agentpb.Call{Type: typ(agentpb.Call_ATTACH_CONTAINER_INPUT),
			AttachContainerInput: &agentpb.Call_AttachContainerInput{Type: agentpb.Call_AttachContainerInput_UNKNOWN.Enum()}},
			"'attach_container_input.type' is unknown"},
		{"standalone", launch(&agentpb.Call_LaunchContainer{ContainerId: cid("s", nil),
			Resources: []*mesospb.Resource{scalar("cpus", 1, nil)}}), ""},
		{"standalone reserved", launch(&agentpb.Call_LaunchContainer{ContainerId: cid("s", nil),
			Resources: []*mesospb.Resource{scalar("cpus", 1, func(r *mesospb.Resource) {
				r.Reservations = []*mesospb.Resource_ReservationInfo{{Type: mesospb.Resource_ReservationInfo_STATIC.Enum(), Role: proto.String("r")}}
			})}}),
			"'launch_container.resources' must be unreserved"},
		{"standalone revocable", launch(&agentpb.Call_LaunchContainer{ContainerId: cid("s", nil),
			Resources: []*mesospb.Resource{scalar("cpus", 1, func(r *mesospb.Resource) { r.Revocable = &mesospb.Resource_RevocableInfo{} })}}),
			"'launch_container.resources' must be non-revocable"},
		{"fractional gpus", launch(&agentpb.Call_LaunchContainer{ContainerId: cid("s", nil),
			Resources: []*mesospb.Resource{scalar("gpus", 0.5, nil)}}),
			"Invalid GPU resources: The 'gpus' resource must be an unsigned integer"},
		{"twice nested with resources", launch(&agentpb.Call_LaunchContainer{ContainerId: twice,
			Resources: []*mesospb.Resource{scalar("cpus", 1, nil)}}),
			"'launch_container' is invalid: containers nested at the second level or greater cannot specify resources"},
		{"standalone sharing cgroups", launch(&agentpb.Call_LaunchContainer{ContainerId: cid("s", nil), Container: share}),
			"'launch_container' is invalid: containers without a parent cannot set 'share_cgroups' to 'true'"},
		{"resource provider config with an ID", &agentpb.Call{Type: typ(agentpb.Call_ADD_RESOURCE_PROVIDER_CONFIG),
			AddResourceProviderConfig: &agentpb.Call_AddResourceProviderConfig{Info: &mesospb.ResourceProviderInfo{
				Id: &mesospb.ResourceProviderID{Value: proto.String("x")}, Type: proto.String("t"), Name: proto.String("n")}}},
			"Expecting 'add_resource_provider_config.info.id' to be unset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Call(tt.call)
			switch prefix, isPrefix := strings.CutSuffix(tt.want, "..."); {
			case tt.want == "":
				if err != nil {
					t.Errorf("Call = %v, want valid", err)
				}
			case err == nil:
				t.Errorf("Call is valid, want %q", tt.want)
			case isPrefix && !strings.HasPrefix(err.Error(), prefix), !isPrefix && err.Error() != tt.want:
				t.Errorf("Call = %q, want %q", err, tt.want)
			}
		})
	}
}
