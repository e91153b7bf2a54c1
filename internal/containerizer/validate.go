package containerizer

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// checkContainerInfo refuses what this containerizer cannot run, as Mesos's
// does without the docker containerizer and image providers: a DOCKER
// ContainerInfo is not for it at all (ErrNotSupported), and an image fails
// in the provisioner ("Unsupported container image type: DOCKER").
func checkContainerInfo(ci *mesospb.ContainerInfo) error {
	if ci == nil {
		return nil
	}
	if ci.GetType() != mesospb.ContainerInfo_MESOS {
		return fmt.Errorf("%w: ContainerInfo of type %s needs the docker containerizer (--containerizers=docker)", ErrNotSupported, ci.GetType())
	}
	if img := ci.GetMesos().GetImage(); img != nil {
		return errors.New("Unsupported container image type: " + img.GetType().String())
	}
	return nil
}

// TotalMemory is the machine's memory in bytes (MemTotal), 0 when unknown.
func TotalMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
