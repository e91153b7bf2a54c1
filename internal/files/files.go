// Package files serves Mesos's /files endpoints (libprocess process
// "files": /files/browse, /files/read, /files/download, /files/debug) over
// directories and files attached at virtual paths, as Mesos 1.11.0's
// FilesProcess (src/files/files.cpp) does.
//
// A virtual path resolves by its longest attached prefix; the rest of the
// path is looked up under the attached directory. As in Mesos, the path is
// first canonicalized (symlinks and ".." resolved) and a path whose
// canonical form leaves the attached directory is a 400 "'<path>' is
// inaccessible."; unlike Mesos, which compares strings, the directory is
// then opened through an [os.Root], so neither "..", a symlink, nor a
// rename racing the check can reach outside it.
//
// Authorization (Mesos's per-path authorizer callbacks and the /files/debug
// endpoint ACL) is the caller's: the master and the agent wrap these
// handlers and their LIST_FILES/READ_FILE calls with their ACL checks
// (access_mesos_logs, access_sandboxes, get_endpoints).
package files

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// AgentLogVirtualPath is where the agent attaches its log file (Mesos's
// AGENT_LOG_VIRTUAL_PATH).
const AgentLogVirtualPath = "/slave/log"

// MasterLogVirtualPath is where the master attaches its log file.
const MasterLogVirtualPath = "/master/log"

// ExecutorVirtualPath is the virtual path of an executor's latest run
// (Mesos's paths::getExecutorVirtualPath):
// /frameworks/<fid>/executors/<eid>/runs/latest.
func ExecutorVirtualPath(frameworkID, executorID string) string {
	return "/frameworks/" + frameworkID + "/executors/" + executorID + "/runs/latest"
}

// MaxReadLength caps one read, as Mesos does: 16 pages.
var MaxReadLength = int64(os.Getpagesize() * 16)

// Kind classifies an [Error] as Mesos's FilesError::Type does.
type Kind int

const (
	Invalid      Kind = iota // 400
	NotFound                 // 404
	Unauthorized             // 403
	Unknown                  // 500
)

// Error is Mesos's FilesError: a kind and the response body (possibly
// empty; Mesos's messages end with ".\n").
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return [...]string{"invalid", "not found", "unauthorized", "unknown"}[e.Kind]
	}
	return strings.TrimSuffix(e.Message, "\n")
}

// Files holds the attachments. It is safe for concurrent use.
type Files struct {
	mu    sync.RWMutex
	paths map[string]string // virtual path (no trailing '/') -> canonical real path
}

// New returns a Files with nothing attached.
func New() *Files { return &Files{paths: map[string]string{}} }

// Attach makes path (a directory or a file) reachable at virtualPath,
// replacing what was attached there. Like Mesos, it stores the canonical
// path and fails when path does not exist or is not readable.
func (f *Files) Attach(path, virtualPath string) error {
	path = fromURI(path)
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("Failed to get realpath of '%s': No such file or directory", path)
		}
		return fmt.Errorf("Failed to get realpath of '%s': %s", path, strerror(err))
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return err
	}
	if err := syscall.Access(real, 4 /* R_OK */); err != nil {
		return fmt.Errorf("Failed to access '%s': %s", path, strerror(err))
	}
	f.mu.Lock()
	f.paths[strings.TrimSuffix(fromURI(virtualPath), "/")] = real
	f.mu.Unlock()
	return nil
}

// Detach removes the attachment at virtualPath, if any.
func (f *Files) Detach(virtualPath string) {
	f.mu.Lock()
	delete(f.paths, fromURI(virtualPath))
	f.mu.Unlock()
}

// Attached returns a copy of the attachments: virtual path -> real path
// (what /files/debug shows).
func (f *Files) Attached() map[string]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m := make(map[string]string, len(f.paths))
	for k, v := range f.paths {
		m[k] = v
	}
	return m
}

// target is a resolved virtual path.
type target struct {
	real string   // canonical real path
	root *os.Root // the attached directory; nil when a file was attached
	rel  string   // real relative to root ("." for the directory itself)
}

func (t *target) close() {
	if t.root != nil {
		t.root.Close()
	}
}

func (t *target) stat() (fs.FileInfo, error) {
	if t.root == nil {
		return os.Stat(t.real)
	}
	return t.root.Stat(t.rel)
}

func (t *target) open() (*os.File, error) {
	if t.root == nil {
		return os.Open(t.real)
	}
	return t.root.Open(t.rel)
}

// resolve is Mesos's FilesProcess::resolve: the longest attached prefix of
// path, then the rest under it. A nil target and nil error is "not found".
func (f *Files) resolve(path string) (*target, error) {
	tokens := strings.Split(strings.TrimSuffix(path, "/"), "/")
	suffix := ""
	f.mu.RLock()
	var attached string
	found := false
	for len(tokens) > 0 {
		prefix := joinAll(tokens)
		if a, ok := f.paths[prefix]; ok {
			attached, found = a, true
			break
		}
		if suffix == "" {
			suffix = tokens[len(tokens)-1]
		} else {
			suffix = join(tokens[len(tokens)-1], suffix)
		}
		tokens = tokens[:len(tokens)-1]
	}
	f.mu.RUnlock()
	if !found {
		return nil, nil
	}
	if st, err := os.Stat(attached); err != nil || !st.IsDir() {
		if suffix != "" {
			// The request takes the attached file for a directory.
			return nil, nil
		}
		return &target{real: attached}, nil
	}
	full := join(attached, suffix)
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, &Error{Invalid, fmt.Sprintf("Failed to determine canonical path of '%s': %s.\n", full, strerror(err))}
	}
	rel, err := filepath.Rel(attached, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return nil, &Error{Invalid, fmt.Sprintf("'%s' is inaccessible.\n", full)}
	}
	root, err := os.OpenRoot(attached)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, &Error{Unknown, fmt.Sprintf("Failed to open '%s': %s.\n", attached, strerror(err))}
	}
	return &target{real: real, root: root, rel: rel}, nil
}

// rootError maps an error of an os.Root operation: gone is 404, an escape
// (a symlink swapped in after resolve) is Mesos's "inaccessible".
func rootError(t *target, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return &Error{Kind: NotFound}
	}
	if strings.Contains(err.Error(), "escapes") {
		return &Error{Invalid, fmt.Sprintf("'%s' is inaccessible.\n", t.real)}
	}
	return &Error{Unknown, fmt.Sprintf("Failed to open file at '%s': %s.\n", t.real, strerror(err))}
}

// Browse lists the directory at virtual path, sorted by name, as Mesos's
// FilesProcess::browse: each entry's path is path joined with its name,
// and its stat follows symlinks (an entry whose stat fails is left out; a
// symlink leading outside the attached directory is shown as the link
// itself). A file, rather than a directory, lists as empty.
func (f *Files) Browse(path string) ([]*mesospb.FileInfo, error) {
	path = fromURI(path)
	t, err := f.resolve(path)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, &Error{Kind: NotFound}
	}
	defer t.close()
	var dir *os.File
	if t.root == nil {
		dir, err = os.Open(t.real)
	} else {
		dir, err = t.root.Open(t.rel)
	}
	if err != nil {
		return []*mesospb.FileInfo{}, nil
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return []*mesospb.FileInfo{}, nil
	}
	sort.Strings(names)
	out := make([]*mesospb.FileInfo, 0, len(names))
	for _, name := range names {
		var fi fs.FileInfo
		if t.root == nil {
			fi, err = os.Stat(filepath.Join(t.real, name))
		} else {
			entry := filepath.Join(t.rel, name)
			fi, err = t.root.Stat(entry)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				fi, err = t.root.Lstat(entry)
			}
		}
		if err != nil {
			continue
		}
		out = append(out, fileInfo(join(path, name), fi))
	}
	return out, nil
}

// fileInfo is Mesos's protobuf::createFileInfo.
func fileInfo(path string, fi fs.FileInfo) *mesospb.FileInfo {
	info := &mesospb.FileInfo{
		Path:  proto.String(path),
		Size:  proto.Uint64(uint64(fi.Size())),
		Mtime: &mesospb.TimeInfo{Nanoseconds: proto.Int64(fi.ModTime().Unix() * 1e9)},
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		info.Nlink = proto.Int32(int32(st.Nlink))
		info.Mode = proto.Uint32(st.Mode)
		info.Uid = proto.String(userName(st.Uid))
		info.Gid = proto.String(groupName(st.Gid))
	}
	return info
}

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return id
}

func groupName(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name
	}
	return id
}

// Read reads up to length bytes (all, up to [MaxReadLength], when length
// is negative) from offset of the file at virtual path, as Mesos's
// FilesProcess::read. It returns the file's size and the data; an offset
// at or past the end, or a zero length, reads nothing.
func (f *Files) Read(path string, offset, length int64) (size int64, data []byte, err error) {
	t, err := f.resolve(fromURI(path))
	if err != nil {
		return 0, nil, err
	}
	if t == nil {
		return 0, nil, &Error{Kind: NotFound}
	}
	defer t.close()
	if fi, err := t.stat(); err == nil && fi.IsDir() {
		return 0, nil, &Error{Invalid, "Cannot read a directory.\n"}
	}
	file, err := t.open()
	if err != nil {
		return 0, nil, rootError(t, err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return 0, nil, &Error{Unknown, fmt.Sprintf("Failed to open file at '%s': %s.\n", t.real, strerror(err))}
	}
	if fi.IsDir() {
		return 0, nil, &Error{Invalid, "Cannot read a directory.\n"}
	}
	size = fi.Size()
	if offset < 0 || offset >= size {
		return size, nil, nil
	}
	if length < 0 {
		length = size - offset
	}
	if length == 0 {
		return size, nil, nil
	}
	length = min(length, MaxReadLength)
	buf := make([]byte, length)
	n, err := file.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, nil, &Error{Unknown, fmt.Sprintf("Failed to read file at '%s': %s", t.real, strerror(err))}
	}
	return size, buf[:n], nil
}

// fromURI is stout's path::from_uri on POSIX: a leading "file://" goes.
func fromURI(p string) string { return strings.TrimPrefix(p, "file://") }

// join is stout's path::join of two paths: one trailing '/' of a and one
// leading '/' of b are dropped and a '/' put between.
func join(a, b string) string {
	return strings.TrimSuffix(a, "/") + "/" + strings.TrimPrefix(b, "/")
}

// joinAll is stout's path::join of a list.
func joinAll(ps []string) string {
	if len(ps) == 0 {
		return ""
	}
	out := ps[0]
	for _, p := range ps[1:] {
		out = join(out, p)
	}
	return out
}

// strerror is the C library's text of err's errno ("No such file or
// directory"), or err's text.
func strerror(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	s := errno.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
