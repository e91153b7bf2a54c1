package agent

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/containerizer"
	"github.com/meso-project/meso/pkg/resources"
)

const (
	mb = 1 << 20
	gb = 1 << 30
)

// detectResources parses --resources and adds what is missing, as Mesos's
// Containerizer::resources does (spec §7.1): cpus = number of CPUs; mem =
// RAM minus 1 GB (half when below 2 GB); disk = size of the work_dir
// filesystem minus 5 GB (half when below 10 GB); ports = [31000-32000].
func detectResources(text, defaultRole, workDir string) (resources.Resources, error) {
	parsed, err := resources.Parse(text, defaultRole)
	if err != nil {
		return nil, fmt.Errorf("%w: --resources: %w", ErrConfig, err)
	}
	have := make(map[string]bool)
	for _, r := range parsed {
		have[r.GetName()] = true
	}
	var extra []string
	if !have["cpus"] {
		extra = append(extra, "cpus:"+strconv.Itoa(max(runtime.NumCPU(), 1)))
	}
	if !have["mem"] {
		extra = append(extra, "mem:"+strconv.FormatUint(memMB(), 10))
	}
	if !have["disk"] {
		extra = append(extra, "disk:"+strconv.FormatUint(diskMB(workDir), 10))
	}
	if !have["ports"] {
		extra = append(extra, "ports:[31000-32000]")
	}
	if len(extra) == 0 {
		return parsed, nil
	}
	detected, err := resources.Parse(strings.Join(extra, ";"), defaultRole)
	if err != nil {
		return nil, fmt.Errorf("agent: detected resources: %w", err)
	}
	return append(parsed, detected...), nil
}

// memMB is the memory to offer in MB.
func memMB() uint64 {
	total := containerizer.TotalMemory()
	if total == 0 {
		return gb / mb
	}
	if total >= 2*gb {
		return (total - gb) / mb
	}
	return total / 2 / mb
}

// diskMB is the disk to offer in MB for the filesystem holding dir.
func diskMB(dir string) uint64 {
	var st syscall.Statfs_t
	if err := os.MkdirAll(dir, 0o755); err != nil || syscall.Statfs(dir, &st) != nil {
		return 10 * gb / mb
	}
	total := st.Blocks * uint64(st.Bsize)
	if total >= 10*gb {
		return (total - 5*gb) / mb
	}
	return total / 2 / mb
}

// checkpointResources adopts the total the master computed after a
// dynamic reservation was made or removed (CHECKPOINT_RESOURCES): from now
// on the agent reports it in /state and in REREGISTER's
// agent_info.resources, so that a new leading master learns the
// reservations. It is kept in memory only: checkpointing it to the work
// directory, so that a restarted agent recovers its reservations, is a
// later issue (agent recovery).
func (a *Agent) checkpointResources(rs []*mesospb.Resource) {
	total := resources.Resources(rs).Unallocate()
	a.log.Info("updating the agent's resources", "resources", total.String())
	a.resources = total
	a.info.Resources = total
	a.checkpointResourceState(total)
}
