//go:build !linux

package gc

import (
	"errors"
	"runtime"
)

// Usage returns the used fraction of the filesystem holding path; it is
// only implemented on Linux.
func Usage(path string) (float64, error) {
	return 0, errors.New("gc: disk usage is not implemented on " + runtime.GOOS)
}
