package master

import (
	"errors"
	"log/slog"
	"math"
	"net/http"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/internal/files"
	"github.com/meso-project/meso/internal/httpapi"
)

// The master's file browser: /files/{browse,read,download,debug} and the
// operator calls LIST_FILES and READ_FILE (Master::Http::listFiles and
// readFile), over the master log attached at /master/log. Mesos attaches
// --external_log_file, else glog's <log_dir>/mesos-master.<LEVEL>; meso's
// cmd/meso passes that file as Config.LogFile.

// newFiles returns the master's Files with logFile (if any) attached at
// files.MasterLogVirtualPath. A log file that cannot be attached is
// logged and left out, as Mesos's Master::fileAttached logs the failure
// and goes on.
func newFiles(logFile string, log *slog.Logger) *files.Files {
	f := files.New()
	if logFile != "" {
		if err := f.Attach(logFile, files.MasterLogVirtualPath); err != nil {
			log.Error("cannot attach the master's log file", "path", logFile, "err", err)
		}
	}
	return f
}

// fileCall answers LIST_FILES and READ_FILE. A files error maps as in
// Mesos: invalid 400, not found 404 (an empty body, as Mesos's
// FilesError(NOT_FOUND) carries no message), unauthorized 403, anything
// else 500, each with the files process's message.
func (m *Master) fileCall(call *masterpb.Call) opResult {
	switch call.GetType() {
	case masterpb.Call_LIST_FILES:
		infos, err := m.files.Browse(call.GetListFiles().GetPath())
		if err != nil {
			return opResult{err: filesHTTPError(err)}
		}
		return opResult{resp: &masterpb.Response{
			Type:      masterpb.Response_LIST_FILES.Enum(),
			ListFiles: &masterpb.Response_ListFiles{FileInfos: infos},
		}}
	case masterpb.Call_READ_FILE:
		rf := call.GetReadFile()
		// Mesos reads with size_t offset and length; files.Read takes
		// int64s, where a negative length means "to the end".
		length := int64(-1)
		if rf.Length != nil {
			length = clampInt64(rf.GetLength())
		}
		size, data, err := m.files.Read(rf.GetPath(), clampInt64(rf.GetOffset()), length)
		if err != nil {
			return opResult{err: filesHTTPError(err)}
		}
		if data == nil {
			data = []byte{} // a required field: present even when empty
		}
		return opResult{resp: &masterpb.Response{
			Type:     masterpb.Response_READ_FILE.Enum(),
			ReadFile: &masterpb.Response_ReadFile{Size: ptr(uint64(size)), Data: data},
		}}
	}
	return opFailed(ErrUnimplemented, "%s", unimplementedMessage(call.GetType()))
}

// clampInt64 is v, or math.MaxInt64 when v does not fit: an offset that
// large is past any file's end, a length that large reads to the end.
func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// filesHTTPError is the HTTP error of a files error, as listFiles and
// readFile map FilesError::Type.
func filesHTTPError(err error) error {
	var fe *files.Error
	if !errors.As(err, &fe) {
		return &httpapi.Error{Status: http.StatusInternalServerError, Message: err.Error()}
	}
	status := http.StatusInternalServerError
	switch fe.Kind {
	case files.Invalid:
		status = http.StatusBadRequest
	case files.NotFound:
		status = http.StatusNotFound
	case files.Unauthorized:
		status = http.StatusForbidden
	}
	return &httpapi.Error{Status: status, Message: fe.Message}
}
