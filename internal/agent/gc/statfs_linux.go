package gc

import (
	"fmt"
	"os"
	"syscall"
)

// Usage returns the used fraction of the filesystem holding path, as
// Mesos's fs::usage computes it: (blocks - free blocks) / blocks, the free
// blocks including those reserved for root.
func Usage(path string) (float64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	if st.Blocks == 0 {
		return 0, fmt.Errorf("gc: statfs %q: the filesystem has no blocks", path)
	}
	return float64(st.Blocks-st.Bfree) / float64(st.Blocks), nil
}
