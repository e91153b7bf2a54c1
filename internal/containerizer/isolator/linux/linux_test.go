//go:build linux

package linux_test

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/internal/containerizer/isolator/linux"
	"github.com/meso-project/meso/internal/testutil"
)

func mesosImage() *mesospb.ContainerInfo {
	return &mesospb.ContainerInfo{
		Type: mesospb.ContainerInfo_MESOS.Enum(),
		Mesos: &mesospb.ContainerInfo_MesosInfo{Image: &mesospb.Image{
			Type:   mesospb.Image_DOCKER.Enum(),
			Docker: &mesospb.Image_Docker{Name: proto.String("alpine")},
		}},
	}
}

func withVolume() *mesospb.ContainerInfo {
	return &mesospb.ContainerInfo{
		Type: mesospb.ContainerInfo_MESOS.Enum(),
		Volumes: []*mesospb.Volume{{
			ContainerPath: proto.String("/data"),
			HostPath:      proto.String("/tmp"),
			Mode:          mesospb.Volume_RW.Enum(),
		}},
	}
}

func sharePid(share bool) *mesospb.ContainerInfo {
	return &mesospb.ContainerInfo{
		Type:      mesospb.ContainerInfo_MESOS.Enum(),
		LinuxInfo: &mesospb.LinuxInfo{SharePidNamespace: proto.Bool(share)},
	}
}

var (
	slaveRoot = containerizer.Mount{Target: "/", Flags: syscall.MS_SLAVE | syscall.MS_REC}
	procMount = containerizer.Mount{Source: "proc", Target: "/proc", FSType: "proc",
		Flags: syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC}
)

// prepareCase is one Prepare call: the container, and either the launch
// info it must give or the error it must fail with.
type prepareCase struct {
	name    string
	ci      *mesospb.ContainerInfo
	want    *containerizer.LaunchInfo
	wantErr string
}

func runPrepare(t *testing.T, p containerizer.Preparer, tests []prepareCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Prepare(t.Context(), containerizer.ContainerConfig{ID: "c1", ContainerInfo: tc.ci})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Prepare = %+v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("LaunchInfo (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilesystemPosix(t *testing.T) {
	p := linux.FilesystemPosix{}
	if p.Name() != "filesystem/posix" {
		t.Errorf("Name = %q", p.Name())
	}
	runPrepare(t, p, []prepareCase{
		{name: "plain command"},
		{name: "mesos container without image", ci: &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum()}},
		{name: "image", ci: mesosImage(), wantErr: "Container root filesystems not supported"},
		{name: "volumes", ci: withVolume(), wantErr: "Volumes in ContainerInfo is not supported"},
	})
}

func needRoot(t *testing.T) {
	t.Helper()
	testutil.Need(t, os.Geteuid() == 0, "the filesystem/linux and namespaces/pid isolators need root")
}

func TestNewFilesystemLinux(t *testing.T) {
	if os.Geteuid() != 0 {
		if _, err := linux.NewFilesystemLinux("linux"); err == nil || !strings.Contains(err.Error(), "requires root") {
			t.Errorf("NewFilesystemLinux without root = %v, want the root error", err)
		}
	}
	needRoot(t)
	if _, err := linux.NewFilesystemLinux("posix"); err == nil || !strings.Contains(err.Error(), "'linux' launcher") {
		t.Errorf("NewFilesystemLinux(posix) = %v, want an error naming the linux launcher", err)
	}
	f, err := linux.NewFilesystemLinux("linux")
	if err != nil {
		t.Fatalf("NewFilesystemLinux(linux): %v", err)
	}
	if f.Name() != "filesystem/linux" {
		t.Errorf("Name = %q", f.Name())
	}
}

func TestFilesystemLinuxPrepare(t *testing.T) {
	want := &containerizer.LaunchInfo{CloneFlags: syscall.CLONE_NEWNS, Mounts: []containerizer.Mount{slaveRoot}}
	runPrepare(t, linux.FilesystemLinux{}, []prepareCase{
		{name: "plain command", want: want},
		{name: "mesos container", ci: &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum()}, want: want},
		{name: "volumes", ci: withVolume(),
			wantErr: "Volumes in ContainerInfo are not supported by meso's filesystem/linux isolator yet"},
	})
}

func TestNewNamespacesPid(t *testing.T) {
	if os.Geteuid() != 0 {
		_, err := linux.NewNamespacesPid("linux", []string{"filesystem/linux", "namespaces/pid"}, false)
		if err == nil || !strings.Contains(err.Error(), "requires root") {
			t.Errorf("NewNamespacesPid without root = %v, want the root error", err)
		}
	}
	needRoot(t)
	tests := []struct {
		name      string
		launcher  string
		isolation []string
		disallow  bool
		wantErr   string
	}{
		{name: "posix launcher", launcher: "posix", isolation: []string{"filesystem/linux", "namespaces/pid"},
			wantErr: "'linux' launcher must be used to enable pid namespace"},
		{name: "without filesystem/linux", launcher: "linux", isolation: []string{"filesystem/posix", "namespaces/pid"},
			wantErr: "'filesystem/linux' must be used to enable pid namespace"},
		{name: "ok", launcher: "linux", isolation: []string{"namespaces/pid", "filesystem/linux"}},
		{name: "ok, sharing disallowed", launcher: "linux", isolation: []string{"filesystem/linux", "namespaces/pid"}, disallow: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := linux.NewNamespacesPid(tc.launcher, tc.isolation, tc.disallow)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("NewNamespacesPid = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewNamespacesPid: %v", err)
			}
			if n.DisallowSharing != tc.disallow || n.Name() != "namespaces/pid" {
				t.Errorf("NewNamespacesPid = %+v (%s)", n, n.Name())
			}
		})
	}
}

func TestNamespacesPidPrepare(t *testing.T) {
	own := &containerizer.LaunchInfo{CloneFlags: syscall.CLONE_NEWPID, Mounts: []containerizer.Mount{procMount}}
	t.Run("sharing allowed", func(t *testing.T) {
		runPrepare(t, linux.NamespacesPid{}, []prepareCase{
			{name: "plain command", want: own},
			{name: "share_pid_namespace false", ci: sharePid(false), want: own},
			{name: "share_pid_namespace true", ci: sharePid(true)},
		})
	})
	t.Run("sharing disallowed", func(t *testing.T) {
		runPrepare(t, linux.NamespacesPid{DisallowSharing: true}, []prepareCase{
			{name: "plain command", want: own},
			{name: "share_pid_namespace true", ci: sharePid(true),
				wantErr: "Sharing agent pid namespace with top-level container is not allowed"},
		})
	})
}

func TestNetworkCNI(t *testing.T) {
	mesos := mesospb.ContainerInfo_MESOS
	named := containerizer.ContainerConfig{ContainerInfo: &mesospb.ContainerInfo{Type: &mesos,
		NetworkInfos: []*mesospb.NetworkInfo{{Name: proto.String("overlay")}}}}
	if _, err := (linux.NetworkCNI{}).Prepare(t.Context(), named); err == nil || err.Error() != "Unknown CNI network 'overlay'" {
		t.Errorf("a named network: %v", err)
	}
	host := containerizer.ContainerConfig{ContainerInfo: &mesospb.ContainerInfo{Type: &mesos,
		NetworkInfos: []*mesospb.NetworkInfo{{IpAddresses: []*mesospb.NetworkInfo_IPAddress{{}}}}}}
	if li, err := (linux.NetworkCNI{}).Prepare(t.Context(), host); err != nil || li != nil {
		t.Errorf("the host network: %v, %v", li, err)
	}
}
