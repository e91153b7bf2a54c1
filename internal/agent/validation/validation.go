// Package validation holds the agent's pure checks of v1 agent operator
// API calls (POST /api/v1 on the agent). It mirrors
// validation::agent::call::validate of Apache Mesos (src/slave/validation.cpp)
// and the common checks it uses (src/common/validation.cpp): the order of
// the checks and the messages, which operators see in the body of a 400
// "Failed to validate agent::Call: <message>".
//
// Everything here is a function of its arguments: no clocks, no I/O, no
// agent state.
package validation

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meso-project/meso/api/v1/agentpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/commonvalidation"
	"github.com/meso-project/meso/pkg/resources"
)

const (
	// nameMax is NAME_MAX, the longest ID Mesos accepts.
	nameMax = 255
	// MaxContainerIDLength is Mesos's MAX_CONTAINER_ID_LENGTH: a container
	// ID is a directory name with room left for a suffix.
	MaxContainerIDLength = 242
)

// Call checks an agent operator call as Mesos's agent does before running
// it: the call's type is set, the message of its type is present, and
// container IDs, commands, containers and resources are well formed. An
// UNKNOWN call passes (Mesos answers it 501 afterwards).
func Call(call *agentpb.Call) error {
	if err := proto.CheckInitialized(call); err != nil {
		return fmt.Errorf("Not initialized: %v", err)
	}
	// An enum value this agent does not know is, in Mesos's proto2 C++,
	// an unknown field, and the enum field is unset.
	if !known(call.Type) {
		return errors.New("Expecting 'type' to be present")
	}
	present := func(ok bool, field string) error {
		if !ok {
			return fmt.Errorf("Expecting '%s' to be present", field)
		}
		return nil
	}
	switch call.GetType() {
	case agentpb.Call_GET_METRICS:
		return present(call.GetMetrics != nil, "get_metrics")
	case agentpb.Call_SET_LOGGING_LEVEL:
		return present(call.SetLoggingLevel != nil, "set_logging_level")
	case agentpb.Call_LIST_FILES:
		return present(call.ListFiles != nil, "list_files")
	case agentpb.Call_READ_FILE:
		return present(call.ReadFile != nil, "read_file")
	case agentpb.Call_LAUNCH_NESTED_CONTAINER:
		if err := present(call.LaunchNestedContainer != nil, "launch_nested_container"); err != nil {
			return err
		}
		l := call.GetLaunchNestedContainer()
		return launchNested("launch_nested_container", l.GetContainerId(), l.GetCommand(), l.GetContainer(), false)
	case agentpb.Call_WAIT_NESTED_CONTAINER:
		if err := present(call.WaitNestedContainer != nil, "wait_nested_container"); err != nil {
			return err
		}
		return nestedID("wait_nested_container", call.GetWaitNestedContainer().GetContainerId())
	case agentpb.Call_KILL_NESTED_CONTAINER:
		if err := present(call.KillNestedContainer != nil, "kill_nested_container"); err != nil {
			return err
		}
		return nestedID("kill_nested_container", call.GetKillNestedContainer().GetContainerId())
	case agentpb.Call_REMOVE_NESTED_CONTAINER:
		if err := present(call.RemoveNestedContainer != nil, "remove_nested_container"); err != nil {
			return err
		}
		return nestedID("remove_nested_container", call.GetRemoveNestedContainer().GetContainerId())
	case agentpb.Call_LAUNCH_NESTED_CONTAINER_SESSION:
		if err := present(call.LaunchNestedContainerSession != nil, "launch_nested_container_session"); err != nil {
			return err
		}
		l := call.GetLaunchNestedContainerSession()
		return launchNested("launch_nested_container_session", l.GetContainerId(), l.GetCommand(), l.GetContainer(), true)
	case agentpb.Call_ATTACH_CONTAINER_INPUT:
		return attachInput(call)
	case agentpb.Call_ATTACH_CONTAINER_OUTPUT:
		if err := present(call.AttachContainerOutput != nil, "attach_container_output"); err != nil {
			return err
		}
		return fieldID("attach_container_output", call.GetAttachContainerOutput().GetContainerId())
	case agentpb.Call_LAUNCH_CONTAINER:
		if err := present(call.LaunchContainer != nil, "launch_container"); err != nil {
			return err
		}
		return launchContainer(call.GetLaunchContainer())
	case agentpb.Call_WAIT_CONTAINER:
		if err := present(call.WaitContainer != nil, "wait_container"); err != nil {
			return err
		}
		return fieldID("wait_container", call.GetWaitContainer().GetContainerId())
	case agentpb.Call_KILL_CONTAINER:
		if err := present(call.KillContainer != nil, "kill_container"); err != nil {
			return err
		}
		return fieldID("kill_container", call.GetKillContainer().GetContainerId())
	case agentpb.Call_REMOVE_CONTAINER:
		if err := present(call.RemoveContainer != nil, "remove_container"); err != nil {
			return err
		}
		return fieldID("remove_container", call.GetRemoveContainer().GetContainerId())
	case agentpb.Call_ADD_RESOURCE_PROVIDER_CONFIG:
		if err := present(call.AddResourceProviderConfig != nil, "add_resource_provider_config"); err != nil {
			return err
		}
		if call.GetAddResourceProviderConfig().GetInfo().Id != nil {
			return errors.New("Expecting 'add_resource_provider_config.info.id' to be unset")
		}
	case agentpb.Call_UPDATE_RESOURCE_PROVIDER_CONFIG:
		if err := present(call.UpdateResourceProviderConfig != nil, "update_resource_provider_config"); err != nil {
			return err
		}
		if call.GetUpdateResourceProviderConfig().GetInfo().Id != nil {
			return errors.New("Expecting 'update_resource_provider_config.info.id' to be unset")
		}
	case agentpb.Call_REMOVE_RESOURCE_PROVIDER_CONFIG:
		return present(call.RemoveResourceProviderConfig != nil, "remove_resource_provider_config")
	case agentpb.Call_MARK_RESOURCE_PROVIDER_GONE:
		return present(call.MarkResourceProviderGone != nil, "mark_resource_provider_gone")
	}
	// UNKNOWN, the reads without arguments and PRUNE_IMAGES.
	return nil
}

// known reports whether an enum field is set to a value of its enum.
func known[E interface {
	protoreflect.Enum
	comparable
}](e *E) bool {
	return e != nil && (*e).Descriptor().Values().ByNumber((*e).Number()) != nil
}

// ID checks an ID as common::validation::validateID: non-empty, at most
// 255 characters, not "." or "..", no control characters and no path
// separators.
func ID(id string) error {
	if id == "" {
		return errors.New("ID must not be empty")
	}
	if len(id) > nameMax {
		return fmt.Errorf("ID must not be greater than %d characters", nameMax)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("'%s' is disallowed", id)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return fmt.Errorf("'%s' contains invalid characters", id)
		}
	}
	return nil
}

// ContainerID checks a ContainerID and its parents as Mesos's
// validation::container::validateContainerId: a valid ID, at most
// MaxContainerIDLength characters, without '.' (the separator of nested
// IDs' string form) or ' '.
func ContainerID(id *mesospb.ContainerID) error {
	v := id.GetValue()
	if err := ID(v); err != nil {
		return err
	}
	if len(v) > MaxContainerIDLength {
		return fmt.Errorf("'ContainerID.value' '%s' exceeds the maximum length (%d)", v, MaxContainerIDLength)
	}
	if strings.ContainsAny(v, ". ") {
		return fmt.Errorf("'ContainerID.value' '%s' contains invalid characters", v)
	}
	if id.Parent != nil {
		if err := ContainerID(id.GetParent()); err != nil {
			return fmt.Errorf("'ContainerID.parent' is invalid: %v", err)
		}
	}
	return nil
}

// fieldID checks the container_id of the call's message named field.
func fieldID(field string, id *mesospb.ContainerID) error {
	if err := ContainerID(id); err != nil {
		return fmt.Errorf("'%s.container_id' is invalid: %v", field, err)
	}
	return nil
}

// nestedID checks a nested container's ID: valid, with a parent.
func nestedID(field string, id *mesospb.ContainerID) error {
	if err := fieldID(field, id); err != nil {
		return err
	}
	if id.Parent == nil {
		return fmt.Errorf("Expecting '%s.container_id.parent' to be present", field)
	}
	return nil
}

// launchNested checks LAUNCH_NESTED_CONTAINER and, with session set,
// LAUNCH_NESTED_CONTAINER_SESSION, whose containers must share their
// parent's cgroups.
func launchNested(field string, id *mesospb.ContainerID, cmd *mesospb.CommandInfo, ci *mesospb.ContainerInfo, session bool) error {
	if err := nestedID(field, id); err != nil {
		return err
	}
	if cmd != nil {
		if err := CommandInfo(cmd); err != nil {
			return fmt.Errorf("'%s.command' is invalid: %v", field, err)
		}
	}
	if ci == nil {
		return nil
	}
	if err := ContainerInfo(ci); err != nil {
		return fmt.Errorf("'%s.container' is invalid: %v", field, err)
	}
	li := ci.GetLinuxInfo()
	switch {
	case session && li != nil && !li.GetShareCgroups():
		return fmt.Errorf("'%s.container.linux_info' is invalid: 'share_cgroups' cannot be set to 'false' for nested container sessions", field)
	case !session && li != nil && li.ShareCgroups != nil && !li.GetShareCgroups() && id.GetParent().GetParent() != nil:
		return fmt.Errorf("'%s' is invalid: containers nested at the second level or greater cannot set 'share_cgroups' to 'false'", field)
	}
	return nil
}

func attachInput(call *agentpb.Call) error {
	if call.AttachContainerInput == nil {
		return errors.New("Expecting 'attach_container_input' to be present")
	}
	in := call.GetAttachContainerInput()
	if !known(in.Type) {
		return errors.New("Expecting 'attach_container_input.type' to be present")
	}
	switch in.GetType() {
	case agentpb.Call_AttachContainerInput_CONTAINER_ID:
		return fieldID("attach_container_input", in.GetContainerId())
	case agentpb.Call_AttachContainerInput_PROCESS_IO:
		return nil
	}
	return errors.New("'attach_container_input.type' is unknown")
}

// launchContainer checks LAUNCH_CONTAINER: a standalone container (no
// parent) may only use unreserved, non-persistent, non-revocable
// resources; containers nested two levels deep share their parent's
// resources and cgroups.
func launchContainer(l *agentpb.Call_LaunchContainer) error {
	id := l.GetContainerId()
	if err := ContainerID(id); err != nil {
		return fmt.Errorf("'launch_container.container_id' is invalid: %v", err)
	}
	rs := resources.Resources(l.GetResources())
	if err := resources.Validate(rs); err != nil {
		return fmt.Errorf("Invalid resources: %v", err)
	}
	if err := gpus(rs); err != nil {
		return fmt.Errorf("Invalid GPU resources: %v", err)
	}
	if id.Parent == nil {
		for _, r := range rs.FromPreRefinement() {
			switch {
			case resources.IsReserved(r):
				return errors.New("'launch_container.resources' must be unreserved")
			case r.GetDisk().GetPersistence() != nil:
				return errors.New("'launch_container.resources' may not use persistent volumes")
			case r.Revocable != nil:
				return errors.New("'launch_container.resources' must be non-revocable")
			}
		}
	}
	ci := l.GetContainer()
	if l.Command != nil {
		if err := CommandInfo(l.GetCommand()); err != nil {
			return fmt.Errorf("'launch_container.command' is invalid: %v", err)
		}
	}
	if ci != nil {
		if err := ContainerInfo(ci); err != nil {
			return fmt.Errorf("'launch_container.container' is invalid: %v", err)
		}
	}
	li := ci.GetLinuxInfo()
	shareSet := li != nil && li.ShareCgroups != nil
	share := !shareSet || li.GetShareCgroups()
	twiceNested := id.GetParent().GetParent() != nil
	switch {
	case twiceNested && len(l.GetResources()) > 0:
		return errors.New("'launch_container' is invalid: containers nested at the second level or greater cannot specify resources")
	case twiceNested && len(l.GetLimits()) > 0:
		return errors.New("'launch_container' is invalid: containers nested at the second level or greater cannot specify resource limits")
	case twiceNested && !share:
		return errors.New("'launch_container' is invalid: containers nested at the second level or greater cannot set 'share_cgroups' to 'false'")
	case id.Parent == nil && shareSet && share:
		return errors.New("'launch_container' is invalid: containers without a parent cannot set 'share_cgroups' to 'true'")
	}
	return nil
}

// gpus is common::validation::validateGpus: whole GPUs only (scalars
// carry three decimal digits).
func gpus(rs resources.Resources) error {
	n := rs.Scalar("gpus")
	if int64(math.Trunc(n*1000))%1000 != 0 {
		return errors.New("The 'gpus' resource must be an unsigned integer")
	}
	return nil
}

// CommandInfo is common::validation::validateCommandInfo.
func CommandInfo(c *mesospb.CommandInfo) error { return commonvalidation.CommandInfo(c) }

// ContainerInfo is common::validation::validateContainerInfo: its
// volumes, and a DOCKER container's DockerInfo.
func ContainerInfo(ci *mesospb.ContainerInfo) error {
	for _, v := range ci.GetVolumes() {
		if err := volume(v); err != nil {
			return fmt.Errorf("Invalid volume: %v", err)
		}
	}
	if ci.GetType() == mesospb.ContainerInfo_DOCKER {
		if ci.Docker == nil {
			return errors.New("DockerInfo 'docker' is not set for DOCKER typed ContainerInfo")
		}
		for _, p := range ci.GetDocker().GetParameters() {
			if p.GetKey() == "name" {
				return errors.New("Parameter in DockerInfo must not be 'name'")
			}
		}
	}
	return nil
}

func volume(v *mesospb.Volume) error {
	n := 0
	for _, set := range []bool{v.HostPath != nil, v.Image != nil, v.Source != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("Only one of them should be set: 'host_path', 'image' and 'source'")
	}
	if v.Source == nil {
		return nil
	}
	src := v.GetSource()
	switch src.GetType() {
	case mesospb.Volume_Source_DOCKER_VOLUME:
		if src.DockerVolume == nil {
			return errors.New("'source.docker_volume' is not set for DOCKER_VOLUME volume")
		}
	case mesospb.Volume_Source_HOST_PATH:
		if src.HostPath == nil {
			return errors.New("'source.host_path' is not set for HOST_PATH volume")
		}
	case mesospb.Volume_Source_SANDBOX_PATH:
		if src.SandboxPath == nil {
			return errors.New("'source.sandbox_path' is not set for SANDBOX_PATH volume")
		}
	case mesospb.Volume_Source_SECRET:
		if src.Secret == nil {
			return errors.New("'source.secret' is not set for SECRET volume")
		}
	case mesospb.Volume_Source_CSI_VOLUME:
		if src.CsiVolume == nil {
			return errors.New("'source.csi_volume' is not set for CSI volume")
		}
		if src.GetCsiVolume().StaticProvisioning == nil {
			return errors.New("'source.csi_volume.static_provisioning' is not set for CSI volume")
		}
	default:
		return errors.New("'source.type' is unknown")
	}
	return nil
}
