package defaultexec

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// TestLaunchCallVolumes: a task's disk volume (mounted in the executor's
// container) becomes a SANDBOX_PATH volume of the parent's sandbox, as
// Mesos's default executor sets it up; the task gets MESOS_CONTAINER_IP and
// MESOS_ALLOCATION_ROLE.
func TestLaunchCallVolumes(t *testing.T) {
	tk := task("t", "ls data")
	tk.Resources = append(tk.Resources, &mesospb.Resource{
		Name: proto.String("disk"), Type: mesospb.Value_SCALAR.Enum(),
		Scalar: &mesospb.Value_Scalar{Value: proto.Float64(64)},
		Disk: &mesospb.Resource_DiskInfo{
			Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("p1")},
			Volume:      &mesospb.Volume{Mode: mesospb.Volume_RW.Enum(), ContainerPath: proto.String("data")},
		},
	})
	c := &container{
		id:   &mesospb.ContainerID{Value: proto.String("child"), Parent: &mesospb.ContainerID{Value: proto.String("parent")}},
		task: tk,
	}
	l := launchCall(c, "10.0.0.1")
	want := &mesospb.ContainerInfo{
		Type: mesospb.ContainerInfo_MESOS.Enum(),
		Volumes: []*mesospb.Volume{{
			Mode:          mesospb.Volume_RW.Enum(),
			ContainerPath: proto.String("data"),
			Source: &mesospb.Volume_Source{
				Type: mesospb.Volume_Source_SANDBOX_PATH.Enum(),
				SandboxPath: &mesospb.Volume_Source_SandboxPath{
					Type: mesospb.Volume_Source_SandboxPath_PARENT.Enum(),
					Path: proto.String("data"),
				},
			},
		}},
	}
	if diff := cmp.Diff(want, l.GetContainer(), protocmp.Transform()); diff != "" {
		t.Errorf("container (-want +got):\n%s", diff)
	}
	env := map[string]string{}
	for _, v := range l.GetCommand().GetEnvironment().GetVariables() {
		env[v.GetName()] = v.GetValue()
	}
	if env["MESOS_CONTAINER_IP"] != "10.0.0.1" || env["MESOS_ALLOCATION_ROLE"] != "web" {
		t.Errorf("environment %v", env)
	}
	if l.GetCommand().GetValue() != "ls data" || len(l.GetResources()) != 2 {
		t.Errorf("command %v resources %v", l.GetCommand(), l.GetResources())
	}
	// The task's own CommandInfo is not modified.
	if tk.GetCommand().GetEnvironment() != nil {
		t.Errorf("the TaskInfo's command was modified: %v", tk.GetCommand())
	}
}
