package files

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meso-project/meso/internal/httpapi"
)

// fixture: <tmp>/sandbox attached at /sb, with stdout, a sub directory, a
// symlink inside, a symlink out, a dangling symlink; <tmp>/secret outside;
// <tmp>/sandbox2 next to it (a string-prefix check would let it through);
// <tmp>/agent.log attached at /slave/log.
func fixture(t *testing.T) (*Files, string, http.Handler) {
	t.Helper()
	tmp, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sb := filepath.Join(tmp, "sandbox")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(sb, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(sb, "stdout"), []byte("hello\nworld\n"), 0o644))
	must(os.WriteFile(filepath.Join(sb, "sub", "data.json"), []byte(`{"a":1}`), 0o640))
	must(os.WriteFile(filepath.Join(sb, "ctl"), []byte("a\"b\\c\x01\t<&>\xff"), 0o644))
	must(os.WriteFile(filepath.Join(sb, "notes.txt"), []byte("notes"), 0o644))
	must(os.WriteFile(filepath.Join(tmp, "secret"), []byte("secret"), 0o644))
	must(os.MkdirAll(filepath.Join(tmp, "sandbox2"), 0o755))
	must(os.WriteFile(filepath.Join(tmp, "sandbox2", "x"), []byte("x"), 0o644))
	must(os.WriteFile(filepath.Join(tmp, "agent.log"), []byte("log line\n"), 0o644))
	must(os.Symlink("stdout", filepath.Join(sb, "link")))
	must(os.Symlink(filepath.Join(tmp, "secret"), filepath.Join(sb, "out")))
	must(os.Symlink("../secret", filepath.Join(sb, "relout")))
	must(os.Symlink("nowhere", filepath.Join(sb, "dangling")))
	f := New()
	must(f.Attach(sb, "/sb/"))
	must(f.Attach(filepath.Join(tmp, "agent.log"), AgentLogVirtualPath))
	rt := httpapi.NewRouter("slave(1)")
	f.Register(rt)
	return f, tmp, rt
}

func get(h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func TestRead(t *testing.T) {
	_, tmp, h := fixture(t)
	sb := filepath.Join(tmp, "sandbox")
	for _, tc := range []struct {
		name, query string
		status      int
		body        string
	}{
		{"no path", "", 400, "Expecting 'path=value' in query.\n"},
		{"empty path", "path=", 400, "Expecting 'path=value' in query.\n"},
		{"size by default", "path=/sb/stdout", 200, `{"data":"","offset":12}`},
		{"offset -1", "path=/sb/stdout&offset=-1&length=5", 200, `{"data":"","offset":12}`},
		{"from 0", "path=/sb/stdout&offset=0", 200, `{"data":"hello\nworld\n","offset":0}`},
		{"length", "path=/sb/stdout&offset=6&length=3", 200, `{"data":"wor","offset":6}`},
		{"length -1", "path=/sb/stdout&offset=6&length=-1", 200, `{"data":"world\n","offset":6}`},
		{"length 0", "path=/sb/stdout&offset=2&length=0", 200, `{"data":"","offset":2}`},
		{"hex offset", "path=/sb/stdout&offset=0x6&length=5", 200, `{"data":"world","offset":6}`},
		{"trailing slash", "path=/sb/stdout/&offset=0&length=5", 200, `{"data":"hello","offset":0}`},
		{"file uri", "path=file:///sb/stdout&offset=0&length=5", 200, `{"data":"hello","offset":0}`},
		{"at end", "path=/sb/stdout&offset=12", 200, `{"data":"","offset":12}`},
		{"huge offset", "path=/sb/stdout&offset=9223372036854775807", 200, `{"data":"","offset":9223372036854775807}`},
		{"offset overflows", "path=/sb/stdout&offset=9223372036854775808", 400, "Failed to parse offset: Failed to convert '9223372036854775808' to number.\n"},
		{"offset not a number", "path=/sb/stdout&offset=abc", 400, "Failed to parse offset: Failed to convert 'abc' to number.\n"},
		{"negative offset", "path=/sb/stdout&offset=-2", 400, "Negative offset provided: -2.\n"},
		{"negative length", "path=/sb/stdout&offset=0&length=-7", 400, "Negative length provided: -7.\n"},
		{"length not a number", "path=/sb/stdout&offset=0&length=1.5", 400, "Failed to parse length: Failed to convert '1.5' to number.\n"},
		{"escaping", "path=/sb/ctl&offset=0", 200, "{\"data\":\"a\\\"b\\\\c\\u0001\\t<&>\xff\",\"offset\":0}"},
		{"symlink inside", "path=/sb/link&offset=0&length=5", 200, `{"data":"hello","offset":0}`},
		{"sub directory", "path=/sb/sub/data.json&offset=0", 200, `{"data":"{\"a\":1}","offset":0}`},
		{"dot dot inside", "path=/sb/sub/../stdout&offset=0&length=5", 200, `{"data":"hello","offset":0}`},
		{"directory", "path=/sb/sub&offset=0", 400, "Cannot read a directory.\n"},
		{"attached directory", "path=/sb&offset=0", 400, "Cannot read a directory.\n"},
		{"missing", "path=/sb/nope&offset=0", 404, ""},
		{"missing below a file", "path=/sb/stdout/x&offset=0", 404, ""},
		{"dangling symlink", "path=/sb/dangling&offset=0", 404, ""},
		{"not attached", "path=/elsewhere/stdout&offset=0", 404, ""},
		{"absolute real path", "path=" + filepath.Join(tmp, "secret") + "&offset=0", 404, ""},
		{"relative", "path=sb/stdout&offset=0", 404, ""},
		{"dot dot out", "path=/sb/../secret&offset=0", 400, "'" + sb + "/../secret' is inaccessible.\n"},
		{"dot dot far out", "path=/sb/sub/../../../../../../../../../../etc/passwd&offset=0", 400, "'" + sb + "/sub/../../../../../../../../../../etc/passwd' is inaccessible.\n"},
		{"dot dot to sibling", "path=/sb/../sandbox2/x&offset=0", 400, "'" + sb + "/../sandbox2/x' is inaccessible.\n"},
		{"symlink out", "path=/sb/out&offset=0", 400, "'" + sb + "/out' is inaccessible.\n"},
		{"relative symlink out", "path=/sb/relout&offset=0", 400, "'" + sb + "/relout' is inaccessible.\n"},
		{"attached file", "path=/slave/log&offset=0", 200, `{"data":"log line\n","offset":0}`},
		{"below attached file", "path=/slave/log/x&offset=0", 404, ""},
		{"jsonp", "path=/sb/stdout&offset=0&length=1&jsonp=cb", 200, `cb({"data":"h","offset":0})`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(h, "/files/read?"+tc.query)
			if rec.Code != tc.status || rec.Body.String() != tc.body {
				t.Errorf("GET /files/read?%s = %d %q, want %d %q", tc.query, rec.Code, rec.Body.String(), tc.status, tc.body)
			}
		})
	}
}

func TestReadCapsLength(t *testing.T) {
	f, tmp, h := fixture(t)
	big := strings.Repeat("x", int(MaxReadLength)+100)
	if err := os.WriteFile(filepath.Join(tmp, "sandbox", "big"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	size, data, err := f.Read("/sb/big", 0, -1)
	if err != nil || size != int64(len(big)) || int64(len(data)) != MaxReadLength {
		t.Errorf("Read = %d, %d bytes, %v", size, len(data), err)
	}
	rec := get(h, "/files/read?path=/sb/big&offset=100&length=1000000")
	var v struct {
		Data   string
		Offset int64
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || int64(len(v.Data)) != MaxReadLength || v.Offset != 100 {
		t.Errorf("read of a big file: %d bytes at %d, %v", len(v.Data), v.Offset, err)
	}
}

func TestBrowse(t *testing.T) {
	_, tmp, h := fixture(t)
	sb := filepath.Join(tmp, "sandbox")
	rec := get(h, "/files/browse?path=/sb/")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("browse: %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var entries []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &entries); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e["path"].(string)+" "+e["mode"].(string))
	}
	// Sorted by name; the dangling link left out; a link inside shows its
	// target; links out show as links, never their targets.
	want := []string{"/sb/ctl -rw-r--r--", "/sb/link -rw-r--r--", "/sb/notes.txt -rw-r--r--", "/sb/out lrwxrwxrwx", "/sb/relout lrwxrwxrwx",
		"/sb/stdout -rw-r--r--", "/sb/sub drwxr-xr-x"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("browse /sb:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	fi, _ := os.Stat(filepath.Join(sb, "stdout"))
	for _, e := range entries {
		if e["path"] == "/sb/stdout" {
			if e["size"] != float64(12) || e["nlink"] != float64(1) || e["mtime"] != float64(fi.ModTime().Unix()) ||
				e["uid"] == "" || e["gid"] == "" || len(e) != 7 {
				t.Errorf("stdout entry = %v", e)
			}
		}
	}
	if !strings.HasPrefix(rec.Body.String(), `[{"gid":`) {
		t.Errorf("keys not in Mesos's order: %s", rec.Body)
	}
	for _, tc := range []struct {
		query  string
		status int
		body   string
	}{
		{"", 400, "Expecting 'path=value' in query.\n"},
		{"path=/sb/sub", 200, ""},
		{"path=/sb/stdout", 200, "[]"},
		{"path=/sb/nope", 404, ""},
		{"path=/nope", 404, ""},
		{"path=/sb/..", 400, "'" + sb + "/..' is inaccessible.\n"},
		{"path=/sb/out", 400, "'" + sb + "/out' is inaccessible.\n"},
	} {
		rec := get(h, "/files/browse?"+tc.query)
		if rec.Code != tc.status || (tc.body != "" && rec.Body.String() != tc.body) {
			t.Errorf("browse?%s = %d %q, want %d %q", tc.query, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
	if rec := get(h, "/files/browse?path=/sb/sub"); !strings.Contains(rec.Body.String(), `"path":"/sb/sub/data.json"`) ||
		!strings.Contains(rec.Body.String(), `"mode":"-rw-r-----"`) {
		t.Errorf("browse /sb/sub: %s", rec.Body)
	}
}

func TestDownload(t *testing.T) {
	_, tmp, h := fixture(t)
	sb := filepath.Join(tmp, "sandbox")
	for _, tc := range []struct {
		path        string
		status      int
		body, typ   string
		disposition string
	}{
		{"/sb/stdout", 200, "hello\nworld\n", "application/octet-stream", "attachment; filename=stdout"},
		// Mesos's table (Python 2's mimetypes) has no .json.
		{"/sb/sub/data.json", 200, `{"a":1}`, "application/octet-stream", "attachment; filename=data.json"},
		{"/sb/notes.txt", 200, "notes", "text/plain", "attachment; filename=notes.txt"},
		{"/sb/link", 200, "hello\nworld\n", "application/octet-stream", "attachment; filename=stdout"},
		{"/sb/sub", 400, "Cannot download a directory.\n", "", ""},
		{"/sb/nope", 404, "", "", ""},
		{"/sb/../secret", 400, "'" + sb + "/../secret' is inaccessible.\n", "", ""},
		{"/sb/out", 400, "'" + sb + "/out' is inaccessible.\n", "", ""},
	} {
		rec := get(h, "/files/download?path="+url.QueryEscape(tc.path))
		if rec.Code != tc.status || rec.Body.String() != tc.body ||
			(tc.typ != "" && rec.Header().Get("Content-Type") != tc.typ) ||
			rec.Header().Get("Content-Disposition") != tc.disposition {
			t.Errorf("download %s = %d %q %v", tc.path, rec.Code, rec.Body, rec.Header())
		}
	}
	if rec := get(h, "/files/download"); rec.Code != 400 {
		t.Errorf("download without path: %d", rec.Code)
	}
}

func TestDebugAndDetach(t *testing.T) {
	f, tmp, h := fixture(t)
	rec := get(h, "/files/debug")
	want := `{"/sb":"` + filepath.Join(tmp, "sandbox") + `","/slave/log":"` + filepath.Join(tmp, "agent.log") + `"}`
	if rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("debug = %d %s, want %s", rec.Code, rec.Body, want)
	}
	f.Detach("/sb")
	if rec := get(h, "/files/read?path=/sb/stdout&offset=0"); rec.Code != 404 {
		t.Errorf("read after detach: %d", rec.Code)
	}
	if err := f.Attach(filepath.Join(tmp, "missing"), "/m"); err == nil ||
		!strings.Contains(err.Error(), "No such file or directory") {
		t.Errorf("Attach of a missing path: %v", err)
	}
}

// TestLongestPrefix: a nested attachment wins over its parent.
func TestLongestPrefix(t *testing.T) {
	f, tmp, h := fixture(t)
	if err := f.Attach(filepath.Join(tmp, "sandbox2"), "/sb/sub"); err != nil {
		t.Fatal(err)
	}
	rec := get(h, "/files/read?path=/sb/sub/x&offset=0")
	if rec.Body.String() != `{"data":"x","offset":0}` {
		t.Errorf("nested attachment: %d %s", rec.Code, rec.Body)
	}
	resp := rec.Result()
	io.Copy(io.Discard, resp.Body)
}
