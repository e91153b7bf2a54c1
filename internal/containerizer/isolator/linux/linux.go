//go:build linux

// Package linux holds the isolators that shape a container with Linux
// namespaces and filesystems: filesystem/posix (Mesos's default),
// filesystem/linux (a mount namespace of its own) and namespaces/pid (a pid
// namespace of its own, with its own /proc).
package linux

import (
	"context"
	"errors"
	"os"
	"syscall"

	"github.com/meso-project/meso/internal/containerizer"
)

// FilesystemPosix is Mesos's filesystem/posix: containers share the host's
// filesystem, so it refuses what would need another one.
type FilesystemPosix struct{}

var _ containerizer.Preparer = FilesystemPosix{}

// Name is "filesystem/posix".
func (FilesystemPosix) Name() string { return "filesystem/posix" }

// Prepare refuses a container image or volumes, with Mesos's messages.
func (FilesystemPosix) Prepare(_ context.Context, cfg containerizer.ContainerConfig) (*containerizer.LaunchInfo, error) {
	if ci := cfg.ContainerInfo; ci != nil {
		if ci.GetMesos().GetImage() != nil {
			return nil, errors.New("Container root filesystems not supported")
		}
		if len(ci.GetVolumes()) > 0 {
			return nil, errors.New("Volumes in ContainerInfo is not supported")
		}
	}
	return nil, nil
}

// FilesystemLinux is Mesos's filesystem/linux, without container images
// (those come with the image provisioner): every container gets a mount
// namespace of its own whose mounts do not propagate back to the host.
type FilesystemLinux struct{}

var _ containerizer.Preparer = FilesystemLinux{}

// NewFilesystemLinux checks that the agent can create mount namespaces.
func NewFilesystemLinux(launcher string) (FilesystemLinux, error) {
	if os.Geteuid() != 0 {
		return FilesystemLinux{}, errors.New("'filesystem/linux' isolator requires root privileges")
	}
	if launcher != "linux" {
		return FilesystemLinux{}, errors.New("'filesystem/linux' isolator requires 'linux' launcher")
	}
	return FilesystemLinux{}, nil
}

// Name is "filesystem/linux".
func (FilesystemLinux) Name() string { return "filesystem/linux" }

// Prepare asks for a mount namespace and makes its mounts slaves of the
// host's. Volumes are refused until the volume isolators exist.
func (FilesystemLinux) Prepare(_ context.Context, cfg containerizer.ContainerConfig) (*containerizer.LaunchInfo, error) {
	if ci := cfg.ContainerInfo; ci != nil && len(ci.GetVolumes()) > 0 {
		return nil, errors.New("Volumes in ContainerInfo are not supported by meso's filesystem/linux isolator yet")
	}
	return &containerizer.LaunchInfo{
		CloneFlags: syscall.CLONE_NEWNS,
		Mounts:     []containerizer.Mount{{Target: "/", Flags: syscall.MS_SLAVE | syscall.MS_REC}},
	}, nil
}

// NamespacesPid is Mesos's namespaces/pid: the container's processes see
// their own pid space, the executor as pid 1, and a /proc of their own.
type NamespacesPid struct {
	// DisallowSharing is --disallow_sharing_agent_pid_namespace.
	DisallowSharing bool
}

var _ containerizer.Preparer = NamespacesPid{}

// NewNamespacesPid checks Mesos's requirements: root, the linux launcher and
// filesystem/linux (whose mount namespace keeps the new /proc from the
// host).
func NewNamespacesPid(launcher string, isolation []string, disallowSharing bool) (NamespacesPid, error) {
	if os.Geteuid() != 0 {
		return NamespacesPid{}, errors.New("The pid namespace isolator requires root permissions")
	}
	if launcher != "linux" {
		return NamespacesPid{}, errors.New("'linux' launcher must be used to enable pid namespace")
	}
	found := false
	for _, i := range isolation {
		found = found || i == "filesystem/linux"
	}
	if !found {
		return NamespacesPid{}, errors.New("'filesystem/linux' must be used to enable pid namespace")
	}
	return NamespacesPid{DisallowSharing: disallowSharing}, nil
}

// Name is "namespaces/pid".
func (NamespacesPid) Name() string { return "namespaces/pid" }

// Prepare asks for a pid namespace and a fresh /proc, unless the container
// asked to share the agent's (LinuxInfo.share_pid_namespace).
func (n NamespacesPid) Prepare(_ context.Context, cfg containerizer.ContainerConfig) (*containerizer.LaunchInfo, error) {
	if cfg.ContainerInfo.GetLinuxInfo().GetSharePidNamespace() {
		if n.DisallowSharing {
			return nil, errors.New("Sharing agent pid namespace with top-level container is not allowed")
		}
		return nil, nil
	}
	return &containerizer.LaunchInfo{
		CloneFlags: syscall.CLONE_NEWPID,
		Mounts: []containerizer.Mount{{Source: "proc", Target: "/proc", FSType: "proc",
			Flags: syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC}},
	}, nil
}

// NetworkCNI is Mesos's network/cni isolator as it runs when the agent has
// no CNI configuration (--network_cni_config_dir): containers share the
// host's network, and a container that asks for a named network fails, as
// Mesos knows no such network.
type NetworkCNI struct{}

var _ containerizer.Preparer = NetworkCNI{}

// Name is "network/cni".
func (NetworkCNI) Name() string { return "network/cni" }

// Prepare refuses named networks.
func (NetworkCNI) Prepare(_ context.Context, cfg containerizer.ContainerConfig) (*containerizer.LaunchInfo, error) {
	for _, n := range cfg.ContainerInfo.GetNetworkInfos() {
		if n.GetName() != "" {
			return nil, errors.New("Unknown CNI network '" + n.GetName() + "'")
		}
	}
	return nil, nil
}
