package files

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/httpapi"
)

// ProcessID is the libprocess process id the endpoints are served under.
const ProcessID = "files"

// Register adds /files/browse, /files/read, /files/download and
// /files/debug to rt (process "files").
func (f *Files) Register(rt *httpapi.Router) {
	rt.HandleFunc(ProcessID, "/browse", f.ServeBrowse)
	rt.HandleFunc(ProcessID, "/read", f.ServeRead)
	rt.HandleFunc(ProcessID, "/download", f.ServeDownload)
	rt.HandleFunc(ProcessID, "/debug", f.ServeDebug)
}

// writeError answers as Mesos does for a FilesError: 400, 404, 403 or 500
// with the error's message as a text/plain body.
func writeError(w http.ResponseWriter, err error) {
	var fe *Error
	if !errors.As(err, &fe) {
		httpapi.WriteError(w, err)
		return
	}
	status := [...]int{http.StatusBadRequest, http.StatusNotFound, http.StatusForbidden, http.StatusInternalServerError}[fe.Kind]
	httpapi.WriteError(w, &httpapi.Error{Status: status, Message: fe.Message})
}

func badRequest(w http.ResponseWriter, msg string) {
	httpapi.WriteError(w, &httpapi.Error{Status: http.StatusBadRequest, Message: msg})
}

// pathParam is the required "path" parameter; false after answering 400.
func pathParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	p, ok := httpapi.QueryValue(r.URL.Query(), "path")
	if !ok || p == "" {
		badRequest(w, "Expecting 'path=value' in query.\n")
		return "", false
	}
	return p, true
}

// ServeBrowse is /files/browse?path=: a JSON array of the entries of a
// directory.
func (f *Files) ServeBrowse(w http.ResponseWriter, r *http.Request) {
	path, ok := pathParam(w, r)
	if !ok {
		return
	}
	infos, err := f.Browse(path)
	if err != nil {
		writeError(w, err)
		return
	}
	b := []byte{'['}
	for i, fi := range infos {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFileInfo(b, fi)
	}
	b = append(b, ']')
	httpapi.WriteRawJSON(w, r, http.StatusOK, b)
}

// appendFileInfo appends Mesos's model(FileInfo): keys sorted as stout's
// JSON::Object writes them.
func appendFileInfo(b []byte, fi *mesospb.FileInfo) []byte {
	b = append(b, `{"gid":`...)
	b = appendString(b, fi.GetGid())
	b = append(b, `,"mode":`...)
	b = appendString(b, ModeString(fi.GetMode()))
	b = append(b, `,"mtime":`...)
	b = strconv.AppendInt(b, fi.GetMtime().GetNanoseconds()/1e9, 10)
	b = append(b, `,"nlink":`...)
	b = strconv.AppendInt(b, int64(fi.GetNlink()), 10)
	b = append(b, `,"path":`...)
	b = appendString(b, fi.GetPath())
	b = append(b, `,"size":`...)
	b = strconv.AppendUint(b, fi.GetSize(), 10)
	b = append(b, `,"uid":`...)
	b = appendString(b, fi.GetUid())
	return append(b, '}')
}

// ModeString is the "drwxr-xr-x" form of a st_mode, as Mesos's
// model(FileInfo) writes it (set-id and sticky bits are not shown).
func ModeString(mode uint32) string {
	var c byte
	switch mode & syscallIFMT {
	case syscallIFDIR:
		c = 'd'
	case syscallIFCHR:
		c = 'c'
	case syscallIFBLK:
		c = 'b'
	case syscallIFIFO:
		c = 'p'
	case syscallIFLNK:
		c = 'l'
	case syscallIFSOCK:
		c = 's'
	default:
		c = '-'
	}
	out := []byte{c}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) != 0 {
			out = append(out, rwx[i])
		} else {
			out = append(out, '-')
		}
	}
	return string(out)
}

const (
	syscallIFMT   = 0o170000
	syscallIFSOCK = 0o140000
	syscallIFLNK  = 0o120000
	syscallIFBLK  = 0o060000
	syscallIFDIR  = 0o040000
	syscallIFCHR  = 0o020000
	syscallIFIFO  = 0o010000
)

// ServeRead is /files/read?path=&offset=&length=: {"data": ..., "offset":
// ...}. Without an offset (or with -1) it reads nothing and answers the
// file's size as the offset, which is how the web UI's pailer starts.
func (f *Files) ServeRead(w http.ResponseWriter, r *http.Request) {
	path, ok := pathParam(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	offset := int64(-1)
	if s, ok := httpapi.QueryValue(q, "offset"); ok {
		n, err := numify(s)
		if err != nil {
			badRequest(w, "Failed to parse offset: "+err.Error()+".\n")
			return
		}
		if n < -1 {
			badRequest(w, fmt.Sprintf("Negative offset provided: %d.\n", n))
			return
		}
		offset = n
	}
	length := int64(-1)
	if s, ok := httpapi.QueryValue(q, "length"); ok {
		n, err := numify(s)
		if err != nil {
			badRequest(w, "Failed to parse length: "+err.Error()+".\n")
			return
		}
		if n < -1 {
			badRequest(w, fmt.Sprintf("Negative length provided: %d.\n", n))
			return
		}
		length = n
	}
	readOffset, readLength := offset, length
	if offset == -1 {
		readOffset, readLength = 0, 0
	}
	size, data, err := f.Read(path, readOffset, readLength)
	if err != nil {
		writeError(w, err)
		return
	}
	if offset == -1 {
		offset = size
	}
	b := []byte(`{"data":`)
	b = appendString(b, string(data))
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, offset, 10)
	b = append(b, '}')
	httpapi.WriteRawJSON(w, r, http.StatusOK, b)
}

// ServeDownload is /files/download?path=: the file's bytes, as an
// attachment named after the file, typed by its extension.
func (f *Files) ServeDownload(w http.ResponseWriter, r *http.Request) {
	path, ok := pathParam(w, r)
	if !ok {
		return
	}
	t, err := f.resolve(fromURI(path))
	if err != nil {
		writeError(w, err)
		return
	}
	if t == nil {
		writeError(w, &Error{Kind: NotFound})
		return
	}
	defer t.close()
	if fi, err := t.stat(); err == nil && fi.IsDir() {
		badRequest(w, "Cannot download a directory.\n")
		return
	}
	file, err := t.open()
	if err != nil {
		writeError(w, rootError(t, err))
		return
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		writeError(w, rootError(t, err))
		return
	}
	if fi.IsDir() {
		badRequest(w, "Cannot download a directory.\n")
		return
	}
	base := filepath.Base(t.real)
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	if ext := extension(base); ext != "" {
		if typ, ok := mimeTypes[ext]; ok {
			h.Set("Content-Type", typ)
		}
	}
	h.Set("Content-Disposition", "attachment; filename="+base)
	http.ServeContent(w, r, "", fi.ModTime(), file)
}

// extension is stout's Path::extension: from the last '.' of the base
// name ("" for none, ".", "..").
func extension(base string) string {
	if base == "." || base == ".." {
		return ""
	}
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		return base[i:]
	}
	return ""
}

// ServeDebug is /files/debug: the attachments as a JSON object, virtual
// path -> real path.
func (f *Files) ServeDebug(w http.ResponseWriter, r *http.Request) {
	m := f.Attached()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	b = append(b, '}')
	httpapi.WriteRawJSON(w, r, http.StatusOK, b)
}

// numify is stout's numify<int64>: decimal with an optional sign, or
// hexadecimal after "0x" / "-0x" (no fractions, no exponents).
func numify(s string) (int64, error) {
	fail := fmt.Errorf("Failed to convert '%s' to number", s)
	neg, rest := false, s
	if strings.HasPrefix(rest, "-") {
		neg, rest = true, rest[1:]
	}
	if strings.HasPrefix(rest, "0x") || strings.HasPrefix(rest, "0X") {
		if strings.ContainsAny(s, ".p") {
			return 0, fail
		}
		u, err := strconv.ParseInt(rest[2:], 16, 64)
		if err != nil || rest[2:] == "" || rest[2] == '+' || rest[2] == '-' {
			return 0, fail
		}
		if neg {
			u = -u
		}
		return u, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fail
	}
	return n, nil
}

// appendString appends s as rapidjson's Writer (which stout's jsonify
// uses) writes a string: '"' and '\\' escaped, control characters as \b,
// \f, \n, \r, \t or \u00XX, every other byte as it is (no UTF-8
// validation, no HTML escaping).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
