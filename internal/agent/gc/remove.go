package gc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// removeBatch runs on the removal goroutine: it clears mount points inside
// the paths, then removes them one after the other. The returned errors are
// aligned with paths; errSkipped marks missing paths and ErrClosed paths
// not attempted because Close was called.
func (g *GC) removeBatch(paths []string) []error {
	if g.hooks.batch != nil {
		g.hooks.batch(paths)
	}
	errs := make([]error, len(paths))
	if g.workDir != "" {
		g.clearMounts(paths, errs)
	}
	for i, path := range paths {
		if errs[i] != nil {
			continue
		}
		if g.ctx.Err() != nil {
			errs[i] = ErrClosed
			continue
		}
		g.log.Info("deleting path", keyPath, path)
		if err := g.remove(path); errors.Is(err, fs.ErrNotExist) {
			errs[i] = errSkipped
		} else {
			errs[i] = err
		}
	}
	return errs
}

// errSkipped marks a path that Remove found missing; only Remove's own
// not-exist error means that (an unmount failing with ENOENT is a failure).
var errSkipped = errors.New("gc: path does not exist")

// clearMounts unmounts every mount point under the work directory that lies
// inside one of paths, innermost (latest mounted) first, so that removing
// the path does not descend into a persistent volume still mounted in a
// sandbox (Mesos MESOS-8830). A path whose mount point cannot be unmounted
// is not removed: its error is set. When the mount table cannot be read no
// path is removed, as in Mesos.
func (g *GC) clearMounts(paths []string, errs []error) {
	if g.hooks.mounts == nil {
		return
	}
	targets, err := g.hooks.mounts()
	if err != nil {
		g.log.Error("skipping every path deletion: cannot read the mount table", keyError, err)
		for i := range errs {
			errs[i] = fmt.Errorf("read the mount table: %w", err)
		}
		return
	}
	// Mount points in the table are resolved paths; resolve ours alike.
	root := dirPrefix(resolve(g.workDir))
	prefixes := make([]string, len(paths))
	for i, p := range paths {
		prefixes[i] = dirPrefix(resolve(p))
	}
	for i := len(targets) - 1; i >= 0; i-- {
		target := dirPrefix(targets[i])
		if !strings.HasPrefix(target, root) {
			continue
		}
		for j, prefix := range prefixes {
			if errs[j] != nil || !strings.HasPrefix(target, prefix) {
				continue
			}
			g.log.Warn("unmounting a dangling mount point inside a path to delete",
				"mount_point", targets[i], keyPath, paths[j])
			if err := g.hooks.unmount(targets[i]); err != nil {
				g.log.Warn("skipping deletion: unmount failed",
					"mount_point", targets[i], keyPath, paths[j], keyError, err)
				errs[j] = fmt.Errorf("unmount %q: %w", targets[i], err)
				continue
			}
			break
		}
	}
}

// dirPrefix returns p, absolute and cleaned, with one trailing separator,
// so that a prefix test matches whole path components only.
func dirPrefix(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	p = filepath.Clean(p)
	if !strings.HasSuffix(p, string(filepath.Separator)) {
		p += string(filepath.Separator)
	}
	return p
}

// resolve returns p with the symbolic links in its parent directories
// resolved (not in p itself: a path that is a link is removed as a link),
// or p unchanged when that fails.
func resolve(p string) string {
	p = filepath.Clean(p)
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return p
	}
	return filepath.Join(dir, filepath.Base(p))
}

// removePath is the default Config.Remove: a missing path is reported with
// its fs.ErrNotExist error (Mesos skips it); otherwise everything under it
// is removed, carrying on past errors as Mesos's rmdir with continueOnError
// does, and the first error is returned.
func removePath(path string) error {
	if _, err := os.Lstat(path); err != nil {
		return err
	}
	return os.RemoveAll(path)
}
