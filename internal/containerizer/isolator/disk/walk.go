package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// du returns the space allocated to root and everything under it, as
// `du -s` counts it: st_blocks (512-byte units) of every file and
// directory, each inode once however many hard links it has, symbolic
// links counted as links and never followed. A file removed while the walk
// runs is left out; any other error fails the measurement, as du's exit
// status fails Mesos's. It stops early, with ctx's error, once ctx is done.
//
// A root that is itself a symbolic link is followed, as Mesos does by
// running du on "<path>/".
func du(ctx context.Context, root string) (uint64, error) {
	if fi, err := os.Lstat(root); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(root)
		if err != nil {
			return 0, fmt.Errorf("disk: measuring %s: %w", root, err)
		}
		root = target
	}
	type inode struct{ dev, ino uint64 }
	seen := make(map[inode]bool)
	var total uint64
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != root {
				return nil
			}
			return err
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("disk: no stat of %s", path)
		}
		if !info.IsDir() && st.Nlink > 1 {
			k := inode{dev: uint64(st.Dev), ino: st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		total += uint64(st.Blocks) * 512
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("disk: measuring %s: %w", root, err)
	}
	return total, nil
}
