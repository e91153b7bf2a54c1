// Package checkpoint writes and reads what a meso agent keeps on disk so
// that a restarted agent can recover its executors and tasks: the files
// under <work_dir>/meta, laid out as Mesos's agent lays them out (see
// package paths and Mesos's docs/agent-recovery.md).
//
// Formats are Mesos's: a message file holds a 4-byte little-endian length
// and the protobuf bytes; a record file (task.updates) is a sequence of
// such records, appended; a pid or the boot id is plain text.
//
// Durability: Write puts the bytes in a temporary file in the same
// directory, fsyncs it, renames it over the target and fsyncs the
// directory, so a crash leaves either the old file or the new one. Append
// fsyncs before it returns when asked to. A crash in the middle of an append leaves a
// torn record at the end of the file; ReadRecords drops it (and Recover
// truncates it away), never more.
package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"
)

// maxRecord bounds one record: a length above it is corruption, not an
// allocation to attempt (protobuf messages are at most 2 GB; Mesos's
// checkpoints are far below 64 MB).
const maxRecord = 64 << 20

// ErrCorrupt marks a checkpoint that cannot be decoded.
var ErrCorrupt = errors.New("checkpoint: corrupt")

// step names a point of a write at which tests inject a crash.
type step string

const (
	stepWrite   step = "write"   // after the temporary file is written
	stepSync    step = "sync"    // after it is fsynced
	stepRename  step = "rename"  // after the rename
	stepAppend  step = "append"  // in the middle of an append
	stepDirSync step = "dirsync" // after the directory is fsynced
)

// crash, when set (by tests), is called at each step; an error stops the
// write there, as a crash would.
var crash func(step) error

func at(s step) error {
	if crash != nil {
		return crash(s)
	}
	return nil
}

// Write atomically replaces path with data, creating its directory.
func Write(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := at(stepWrite); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := at(stepSync); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	if err := at(stepRename); err != nil {
		return fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	return at(stepDirSync)
}

// Markers makes empty marker files (http.marker, executor.sentinel, ...)
// without syncing them, as Mesos touches its markers: a marker lost in a
// crash is only a marker not yet made. Each marker is a hard link to one
// empty file, Empty, so that it costs a directory entry and no inode (on
// the disks measured, allocating an inode costs 0.6 ms of kernel time, and
// an agent makes several markers per task; see BENCHMARKS.md). Where a
// link cannot be made (too many links, another filesystem) the marker is
// an empty file of its own.
type Markers struct {
	// Empty is the shared empty file; made when first needed.
	Empty string
}

// Touch makes the marker at path, and its directory.
func (m Markers) Touch(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	err := os.Link(m.Empty, path)
	if errors.Is(err, fs.ErrNotExist) && m.Empty != "" {
		if f, cerr := os.OpenFile(m.Empty, os.O_WRONLY|os.O_CREATE, 0o644); cerr == nil {
			f.Close()
			err = os.Link(m.Empty, path)
		}
	}
	if err == nil || errors.Is(err, fs.ErrExist) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return f.Close()
}

// Create makes an empty record file (for Append) if there is none.
func Create(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return f.Close()
}

// WriteText atomically replaces path with s.
func WriteText(path, s string) error { return Write(path, []byte(s)) }

// WriteMessage atomically replaces path with one length-prefixed message.
func WriteMessage(path string, m proto.Message) error {
	b, err := frame(m)
	if err != nil {
		return fmt.Errorf("checkpoint: writing %s: %w", path, err)
	}
	return Write(path, b)
}

// Append adds one length-prefixed record to path (creating it and its
// directory), and fsyncs it when sync is set.
func Append(path string, m proto.Message, sync bool) error {
	b, err := frame(m)
	if err != nil {
		return fmt.Errorf("checkpoint: appending to %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	half := len(b) / 2
	if _, err := f.Write(b[:half]); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint: appending to %s: %w", path, err)
	}
	if err := at(stepAppend); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint: appending to %s: %w", path, err)
	}
	if _, err := f.Write(b[half:]); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint: appending to %s: %w", path, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("checkpoint: appending to %s: %w", path, err)
		}
	}
	return f.Close()
}

func frame(m proto.Message) ([]byte, error) {
	body, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4, 4+len(body))
	binary.LittleEndian.PutUint32(b, uint32(len(body)))
	return append(b, body...), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadText reads a text checkpoint, trimmed of surrounding space.
func ReadText(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// ReadMessage decodes the one length-prefixed message of path into m. A
// short or undecodable file is ErrCorrupt.
func ReadMessage(path string, m proto.Message) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	body, rest, ok := next(b)
	if !ok || len(rest) != 0 {
		return fmt.Errorf("%w: %s: not one length-prefixed record", ErrCorrupt, path)
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	return nil
}

// ReadRecords decodes the records of path with newMsg, in order. A torn
// record at the end (a crash during Append) is dropped; valid is the length
// of the records kept, to truncate the file to. A record in the middle that
// does not decode is ErrCorrupt.
func ReadRecords[M proto.Message](path string, newMsg func() M) (records []M, valid int64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("checkpoint: %w", err)
	}
	rest := b
	for len(rest) > 0 {
		body, after, ok := next(rest)
		if !ok {
			break // a torn tail
		}
		m := newMsg()
		if err := proto.Unmarshal(body, m); err != nil {
			if len(after) == 0 {
				break // a torn tail whose length survived
			}
			return nil, 0, fmt.Errorf("%w: %s: record at offset %d: %w", ErrCorrupt, path, len(b)-len(rest), err)
		}
		records = append(records, m)
		rest = after
	}
	return records, int64(len(b) - len(rest)), nil
}

// Truncate cuts path to size (dropping a torn tail found by ReadRecords).
func Truncate(path string, size int64) error {
	if err := os.Truncate(path, size); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// next splits one length-prefixed record off b.
func next(b []byte) (body, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxRecord || uint64(len(b)-4) < uint64(n) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

// Exists reports whether path exists.
func Exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
