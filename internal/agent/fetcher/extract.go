package fetcher

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/ulikunitz/xz"
)

// Default extraction bounds. Mesos has none (libarchive writes whatever
// the archive holds); these stop an archive bomb from filling the agent's
// disk while leaving room for real task bundles (JDKs, model files).
const (
	DefaultMaxExtractedBytes = 16 << 30 // 16 GiB of file contents per archive
	DefaultMaxEntries        = 200_000  // files, directories and links per archive
)

// Limits bound what one archive may extract.
type Limits struct {
	MaxExtractedBytes int64 // total bytes of file contents written
	MaxEntries        int   // entries of any kind
}

func (l Limits) withDefaults() Limits {
	if l.MaxExtractedBytes <= 0 {
		l.MaxExtractedBytes = DefaultMaxExtractedBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	return l
}

// extract mirrors mesos-fetcher's extract(): archives recognised by their
// name are unpacked into the sandbox (not next to the file) and kept; a bare
// .gz is gunzipped to <sandbox>/<basename without .gz>. It reports false for
// a name that is not an archive. rel is the file inside root, dest its
// absolute path for messages.
func extract(root *os.Root, rel, dest, sandbox string, lim Limits) (bool, error) {
	return extractInto(root, rel, root, dest, sandbox, lim)
}

// extractInto is extract with the archive in src (the fetcher cache) and
// its contents written to dst (the sandbox). The archive's type, and a bare
// .gz's output name, come from rel, as Mesos's extract looks at the source
// path (so a cached "c3-notes.gz" gunzips to "c3-notes", as in Mesos).
func extractInto(src *os.Root, rel string, dst *os.Root, dest, sandbox string, lim Limits) (bool, error) {
	name := rel
	switch {
	case hasAnySuffix(name, ".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip"):
		f, err := src.Open(rel)
		if err != nil {
			return false, archiveError(dest, sandbox, err)
		}
		defer f.Close()
		x := &extractor{root: dst, lim: lim}
		if strings.HasSuffix(name, ".zip") {
			err = x.zip(f)
		} else {
			err = x.tarAny(f)
		}
		if err != nil {
			return false, archiveError(dest, sandbox, err)
		}
		return true, nil
	case strings.HasSuffix(name, ".gz"):
		out := strings.TrimSuffix(path.Base(name), ".gz")
		if err := gunzipFile(src, rel, dst, out, lim); err != nil {
			return false, fmt.Errorf("Failed to extract '%s': 'gunzip -d -c' failed: %w", dest, err)
		}
		return true, nil
	}
	return false, nil
}

func archiveError(dest, sandbox string, err error) error {
	return fmt.Errorf("Failed to extract archive '%s' to '%s': %w", dest, sandbox, err)
}

func hasAnySuffix(s string, suffixes ...string) bool {
	for _, suf := range suffixes {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return false
}

func gunzipFile(src *os.Root, rel string, root *os.Root, out string, lim Limits) error {
	in, err := src.Open(rel)
	if err != nil {
		return err
	}
	defer in.Close()
	zr, err := gzip.NewReader(bufio.NewReader(in))
	if err != nil {
		return err
	}
	if out == "" {
		return errors.New("no file name left after removing .gz")
	}
	if err := refuseSymlinkAt(root, out); err != nil {
		return err
	}
	f, err := root.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	err = copyBounded(f, zr, lim.MaxExtractedBytes)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ErrLimit is wrapped by errors from an archive past Limits.
var ErrLimit = errors.New("archive exceeds the extraction limit")

func copyBounded(w io.Writer, r io.Reader, budget int64) error {
	n, err := io.Copy(w, io.LimitReader(r, budget+1))
	if err != nil {
		return err
	}
	if n > budget {
		return fmt.Errorf("%w of %d bytes", ErrLimit, budget)
	}
	return nil
}

// extractor writes archive entries into root, refusing any entry that
// would land outside it, pass through a symlink, or break the limits.
type extractor struct {
	root    *os.Root
	lim     Limits
	written int64
	entries int
}

// tarAny reads a tar stream, compressed or not: like libarchive, the
// compression is told by the leading magic bytes, not the file name.
func (x *extractor) tarAny(f io.Reader) error {
	br := bufio.NewReader(f)
	magic, _ := br.Peek(6)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		r = zr
	case bytes.HasPrefix(magic, []byte("BZh")):
		r = bzip2.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		xr, err := xz.NewReader(br)
		if err != nil {
			return err
		}
		r = xr
	}
	return x.tar(r)
}

func (x *extractor) tar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = x.dir(h.Name, h.FileInfo().Mode())
		case tar.TypeReg, tar.TypeRegA:
			err = x.file(h.Name, h.FileInfo().Mode(), tr)
		case tar.TypeSymlink:
			err = x.symlink(h.Name, h.Linkname)
		case tar.TypeLink:
			err = x.hardlink(h.Name, h.Linkname)
		case tar.TypeXGlobalHeader:
			continue
		default:
			// Devices and FIFOs: libarchive would mknod them as root; a
			// sandbox has no use for them.
			err = fmt.Errorf("entry '%s': unsupported tar entry type %q", h.Name, h.Typeflag)
		}
		if err != nil {
			return err
		}
	}
}

func (x *extractor) zip(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return err
	}
	for _, zf := range zr.File {
		mode := zf.Mode()
		switch {
		case mode.IsDir():
			err = x.dir(zf.Name, mode)
		case mode&fs.ModeSymlink != 0:
			err = x.zipSymlink(zf)
		case mode.IsRegular():
			err = x.zipFile(zf)
		default:
			err = fmt.Errorf("entry '%s': unsupported zip entry mode %v", zf.Name, mode)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) zipFile(zf *zip.File) error {
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("entry '%s': %w", zf.Name, err)
	}
	defer rc.Close()
	return x.file(zf.Name, zf.Mode(), rc)
}

func (x *extractor) zipSymlink(zf *zip.File) error {
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("entry '%s': %w", zf.Name, err)
	}
	defer rc.Close()
	target, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return fmt.Errorf("entry '%s': %w", zf.Name, err)
	}
	return x.symlink(zf.Name, string(target))
}

// entry counts an entry and returns its cleaned sandbox-relative path, or
// an error naming it when it is absolute, climbs with "..", or passes
// through a symlink already in the sandbox.
func (x *extractor) entry(name string) (string, error) {
	x.entries++
	if x.entries > x.lim.MaxEntries {
		return "", fmt.Errorf("entry '%s': %w of %d entries", name, ErrLimit, x.lim.MaxEntries)
	}
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("entry '%s': empty or invalid name", name)
	}
	if strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
		return "", fmt.Errorf("entry '%s': absolute path refused", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("entry '%s': path with '..' refused", name)
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return clean, nil
	}
	// Every parent must be a real directory: writing through a symlink
	// (even one pointing inside the sandbox) is refused, as libarchive's
	// SECURE_SYMLINKS does.
	dir := path.Dir(clean)
	for p := dir; p != "."; p = path.Dir(p) {
		fi, err := x.root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("entry '%s': %w", name, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("entry '%s': path through symlink '%s' refused", name, p)
		}
	}
	if err := refuseSymlinkAt(x.root, clean); err != nil {
		return "", fmt.Errorf("entry '%s': %w", name, err)
	}
	if dir != "." {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("entry '%s': %w", name, err)
		}
	}
	return clean, nil
}

// refuseSymlinkAt fails when rel is an existing symlink, which a write
// would otherwise follow.
func refuseSymlinkAt(root *os.Root, rel string) error {
	fi, err := root.Lstat(rel)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("existing symlink '%s' refused as a destination", rel)
	}
	return nil
}

func (x *extractor) dir(name string, mode fs.FileMode) error {
	p, err := x.entry(name)
	if err != nil || p == "." {
		return err
	}
	// Owner rwx always, so later entries can be written into it.
	if err := x.root.MkdirAll(p, mode.Perm()|0o700); err != nil {
		return fmt.Errorf("entry '%s': %w", name, err)
	}
	return nil
}

func (x *extractor) file(name string, mode fs.FileMode, r io.Reader) error {
	p, err := x.entry(name)
	if err != nil {
		return err
	}
	if p == "." {
		return fmt.Errorf("entry '%s': not a file name", name)
	}
	// Permission bits only: no setuid/setgid/sticky from an archive.
	f, err := x.root.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm()|0o600)
	if err != nil {
		return fmt.Errorf("entry '%s': %w", name, err)
	}
	budget := x.lim.MaxExtractedBytes - x.written
	n, err := io.Copy(f, io.LimitReader(r, budget+1))
	x.written += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("entry '%s': %w", name, err)
	}
	if n > budget {
		return fmt.Errorf("entry '%s': %w of %d bytes", name, ErrLimit, x.lim.MaxExtractedBytes)
	}
	return nil
}

// symlink creates name -> target when target, read from the link's own
// directory, stays inside the sandbox.
func (x *extractor) symlink(name, target string) error {
	p, err := x.entry(name)
	if err != nil {
		return err
	}
	if p == "." {
		return fmt.Errorf("entry '%s': not a link name", name)
	}
	if target == "" || strings.HasPrefix(target, "/") || strings.ContainsRune(target, 0) {
		return fmt.Errorf("entry '%s': symlink to '%s' outside the sandbox refused", name, target)
	}
	if !x.linkStaysInside(path.Dir(p), target) {
		return fmt.Errorf("entry '%s': symlink to '%s' outside the sandbox refused", name, target)
	}
	if err := x.root.Symlink(target, p); err != nil {
		return fmt.Errorf("entry '%s': %w", name, err)
	}
	return nil
}

func (x *extractor) hardlink(name, target string) error {
	p, err := x.entry(name)
	if err != nil {
		return err
	}
	t := path.Clean(target)
	if strings.HasPrefix(target, "/") || !inside(t) || t == "." {
		return fmt.Errorf("entry '%s': hard link to '%s' outside the sandbox refused", name, target)
	}
	for q := t; q != "."; q = path.Dir(q) {
		if fi, err := x.root.Lstat(q); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("entry '%s': hard link through symlink '%s' refused", name, q)
		}
	}
	if err := x.root.Link(t, p); err != nil {
		return fmt.Errorf("entry '%s': %w", name, err)
	}
	return nil
}

// linkStaysInside walks target from dir one component at a time, as the
// kernel will: ".." above the sandbox, or any component after a symlink
// (whose physical ".." differs from the lexical one), is refused.
func (x *extractor) linkStaysInside(dir, target string) bool {
	var stack []string
	if dir != "." {
		stack = strings.Split(dir, "/")
	}
	parts := strings.Split(target, "/")
	for i, part := range parts {
		switch part {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return false
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, part)
		if i == len(parts)-1 {
			break
		}
		fi, err := x.root.Lstat(strings.Join(stack, "/"))
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return false
		}
	}
	return true
}

// inside reports whether a cleaned slash path stays within its root.
func inside(p string) bool {
	p = path.Clean(p)
	return p != ".." && !strings.HasPrefix(p, "../") && !strings.HasPrefix(p, "/")
}
