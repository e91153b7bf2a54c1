package master

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/pkg/codec"
)

// startMasterWithLog is a master whose Config.LogFile holds content.
func startMasterWithLog(t *testing.T, content string) (*harness, string) {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "mesos-master.INFO")
	if err := os.WriteFile(logFile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return startMaster(t, func(c *Config) { c.LogFile = logFile }), logFile
}

// LIST_FILES and READ_FILE of the master log at /master/log, in protobuf
// and JSON, as Master::Http::listFiles and readFile answer them.
func TestMasterLogFileCalls(t *testing.T) {
	h, _ := startMasterWithLog(t, "hello\nworld\n")

	read := func(rf *masterpb.Call_ReadFile) *masterpb.Response_ReadFile {
		t.Helper()
		pb, js := h.operatorBoth(&masterpb.Call{Type: masterpb.Call_READ_FILE.Enum(), ReadFile: rf})
		if !proto.Equal(pb, js) || pb.GetType() != masterpb.Response_READ_FILE {
			t.Fatalf("READ_FILE %v: protobuf %v, JSON %v", rf, pb, js)
		}
		return pb.GetReadFile()
	}
	for _, tc := range []struct {
		offset uint64
		length *uint64
		want   string
	}{
		{0, nil, "hello\nworld\n"},
		{6, proto.Uint64(3), "wor"},
		{6, proto.Uint64(0), ""},
		{100, nil, ""},                       // past the end: nothing, and the size
		{1 << 63, proto.Uint64(1 << 63), ""}, // beyond int64: still past the end
	} {
		got := read(&masterpb.Call_ReadFile{Path: proto.String("/master/log"), Offset: proto.Uint64(tc.offset), Length: tc.length})
		if got.GetSize() != 12 || string(got.GetData()) != tc.want {
			t.Errorf("READ_FILE offset %d length %v: size %d data %q, want 12 %q", tc.offset, tc.length, got.GetSize(), got.GetData(), tc.want)
		}
	}

	// The log is a file: listing it lists nothing (Mesos's os::ls fails on
	// a file and browse returns what it found).
	pb, _ := h.operatorBoth(&masterpb.Call{Type: masterpb.Call_LIST_FILES.Enum(),
		ListFiles: &masterpb.Call_ListFiles{Path: proto.String("/master/log")}})
	if pb.GetType() != masterpb.Response_LIST_FILES || pb.ListFiles == nil || len(pb.GetListFiles().GetFileInfos()) != 0 {
		t.Errorf("LIST_FILES /master/log: %v", pb)
	}
}

// Bad LIST_FILES and READ_FILE calls get Mesos's codes: 404 (empty body)
// for a path that resolves to nothing — ".." included, since the log is
// attached as a file — and 400 for a call without its field.
func TestMasterLogFileCallErrors(t *testing.T) {
	h, _ := startMasterWithLog(t, "log\n")
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"read a missing path", `{"type":"READ_FILE","read_file":{"path":"/master/nope","offset":0}}`, 404, ""},
		{"read out of the log with ..", `{"type":"READ_FILE","read_file":{"path":"/master/log/../../etc/passwd","offset":0}}`, 404, ""},
		{"list a missing path", `{"type":"LIST_FILES","list_files":{"path":"/nope"}}`, 404, ""},
		{"list under the log with ..", `{"type":"LIST_FILES","list_files":{"path":"/master/log/.."}}`, 404, ""},
		{"read without read_file", `{"type":"READ_FILE"}`, 400,
			"Failed to validate master::Call: Expecting 'read_file' to be present"},
		{"list without list_files", `{"type":"LIST_FILES"}`, 400,
			"Failed to validate master::Call: Expecting 'list_files' to be present"},
	} {
		if code, body := h.operator(tc.body, ""); code != tc.code || body != tc.want {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	// In protobuf too.
	code, body := h.postOperator(codec.Protobuf, &masterpb.Call{Type: masterpb.Call_READ_FILE.Enum(),
		ReadFile: &masterpb.Call_ReadFile{Path: proto.String("/master/nope"), Offset: proto.Uint64(0)}})
	if code != http.StatusNotFound {
		t.Errorf("protobuf READ_FILE of a missing path: %d %q", code, body)
	}
}

// Without a log file nothing is attached: /master/log is not found.
func TestMasterWithoutLogFile(t *testing.T) {
	h := startMaster(t, nil)
	if code, body := h.operator(`{"type":"READ_FILE","read_file":{"path":"/master/log","offset":0}}`, ""); code != http.StatusNotFound {
		t.Errorf("READ_FILE: %d %q", code, body)
	}
	if code, body := h.do(http.MethodGet, "/files/debug", ""); code != http.StatusOK || strings.TrimSpace(body) != "{}" {
		t.Errorf("/files/debug: %d %s", code, body)
	}
}

// The master serves /files over its log, as Mesos's files process does.
func TestMasterFilesEndpoints(t *testing.T) {
	h, logFile := startMasterWithLog(t, "hello\n")
	real, err := filepath.EvalSymlinks(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if dbg := h.getJSON("/files/debug"); dbg["/master/log"] != real {
		t.Errorf("/files/debug %v, want /master/log at %s", dbg, real)
	}
	if rd := h.getJSON("/files/read?path=/master/log&offset=0"); rd["data"] != "hello\n" || rd["offset"] != 0.0 {
		t.Errorf("/files/read %v", rd)
	}
	if code, _ := h.do(http.MethodGet, "/files/read?path=/master/nope&offset=0", ""); code != http.StatusNotFound {
		t.Errorf("/files/read of a missing path: %d", code)
	}
	if code, body := h.do(http.MethodGet, "/files/download?path=/master/log", ""); code != http.StatusOK || body != "hello\n" {
		t.Errorf("/files/download: %d %q", code, body)
	}
}
