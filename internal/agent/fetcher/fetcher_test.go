package fetcher

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

func uriOf(value string) *mesospb.CommandInfo_URI {
	return &mesospb.CommandInfo_URI{Value: proto.String(value)}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

// newServer serves files by path and 404 for anything else.
func newServer(t *testing.T, files map[string][]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchHTTP(t *testing.T) {
	// The stall watchdog is a goroutine per download: none may outlive it.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := newServer(t, map[string][]byte{"/dir/hello.txt": []byte("hello")})
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	sandbox := t.TempDir()
	var log bytes.Buffer
	uri := srv.URL + "/dir/hello.txt"
	if err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf(uri)}, sandbox, Options{Log: &log, Client: &http.Client{Transport: tr}}); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	dest := filepath.Join(sandbox, "hello.txt")
	if got := readFile(t, dest); got != "hello" {
		t.Errorf("content = %q, want %q", got, "hello")
	}
	fi, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o111 != 0 {
		t.Errorf("mode = %v, want not executable", fi.Mode())
	}
	// The lines mesos-fetcher logs, in order.
	want := []string{
		"Fetching URI '" + uri + "'",
		"Fetching '" + uri + "' directly into the sandbox directory",
		"Downloading resource from '" + uri + "' to '" + dest + "'",
		"Copying instead of extracting resource from URI with 'extract' flag, because it does not seem to be an archive: " + uri,
		"Fetched '" + uri + "' to '" + dest + "'",
		"Successfully fetched all URIs into '" + sandbox + "'",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(log.String()), "\n")); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
}

func TestFetchHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("secure"))
	}))
	defer srv.Close()
	sandbox := t.TempDir()
	err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf(srv.URL + "/s.bin")}, sandbox, Options{Client: srv.Client()})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if got := readFile(t, filepath.Join(sandbox, "s.bin")); got != "secure" {
		t.Errorf("content = %q", got)
	}
}

func TestFetchHTTPNotFound(t *testing.T) {
	srv := newServer(t, nil)
	sandbox := t.TempDir()
	uri := srv.URL + "/missing.txt"
	var log bytes.Buffer
	err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf(uri)}, sandbox, Options{Log: &log})
	want := "Failed to fetch '" + uri + "': Error downloading resource, received HTTP return code 404"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if !strings.Contains(log.String(), want+"\n") {
		t.Errorf("log lacks the failure line:\n%s", log.String())
	}
	if _, err := os.Stat(filepath.Join(sandbox, "missing.txt")); !os.IsNotExist(err) {
		t.Errorf("a file was left for a 404: %v", err)
	}
}

func TestFetchStopsAtFirstFailure(t *testing.T) {
	srv := newServer(t, map[string][]byte{"/b": []byte("b")})
	sandbox := t.TempDir()
	err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf(srv.URL + "/a"), uriOf(srv.URL + "/b")}, sandbox, Options{})
	if err == nil {
		t.Fatal("Fetch succeeded with a 404 first")
	}
	if _, err := os.Stat(filepath.Join(sandbox, "b")); !os.IsNotExist(err) {
		t.Errorf("the URI after the failed one was fetched: %v", err)
	}
}

func TestFetchLocal(t *testing.T) {
	src := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(src, []byte("local"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, uri string }{
		{"path", src},
		{"file", "file://" + src},
		{"file localhost", "file://localhost" + src},
		{"leading space", "  " + src},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sandbox := t.TempDir()
			if err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf(tc.uri)}, sandbox, Options{}); err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if got := readFile(t, filepath.Join(sandbox, "data.txt")); got != "local" {
				t.Errorf("content = %q", got)
			}
		})
	}
}

func TestFetchRelativeLocal(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "rel.txt"), []byte("r"), 0o600); err != nil {
		t.Fatal(err)
	}
	sandbox := t.TempDir()
	err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf("rel.txt")}, sandbox, Options{})
	if err == nil || !strings.Contains(err.Error(), "Mesos framework home was not specified") {
		t.Errorf("without frameworks home: err = %v", err)
	}
	if err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf("rel.txt")}, sandbox, Options{FrameworksHome: home}); err != nil {
		t.Fatalf("with frameworks home: %v", err)
	}
	if got := readFile(t, filepath.Join(sandbox, "rel.txt")); got != "r" {
		t.Errorf("content = %q", got)
	}
	// "file://rel.txt" would fail Mesos's basename check first (no '/').
	err = Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf("file://dir/rel.txt")}, sandbox, Options{FrameworksHome: home})
	if err == nil || !strings.Contains(err.Error(), "File URI only supports absolute paths") {
		t.Errorf("relative file URI: err = %v", err)
	}
}

func TestFetchUnsupportedScheme(t *testing.T) {
	for _, uri := range []string{"hdfs://nn/x/file", "s3://bucket/file", "ftp://host/file", "s3n://b/k"} {
		sandbox := t.TempDir()
		err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf(uri)}, sandbox, Options{})
		if err == nil || !strings.Contains(err.Error(), "'"+uri+"'") || !strings.Contains(err.Error(), "unsupported URI scheme") {
			t.Errorf("%s: err = %v, want an unsupported-scheme error naming it", uri, err)
		}
	}
}

func TestFetchInvalidURI(t *testing.T) {
	for uri, want := range map[string]string{
		"http://host":         "Malformed URI (missing path): http://host",
		"http://host/":        "Malformed URI (missing path): http://host/",
		"/tmp/it's":           "Illegal characters in URI",
		`C:\\file`:            "Illegal characters in URI",
		"http://host/dir/":    "has no file name",
		"file:///etc/../tmp/": "",
	} {
		err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf(uri)}, t.TempDir(), Options{})
		if err == nil || (want != "" && !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: err = %v, want containing %q", uri, err, want)
		}
	}
}

func TestBasename(t *testing.T) {
	for in, want := range map[string]string{
		"http://h/a/b/c.tar.gz":  "c.tar.gz",
		"http://h/f?x=1/y":       "y", // Mesos splits at the last '/', query included
		"http://h/f.tgz?sig=abc": "f.tgz?sig=abc",
		"/abs/path/file":         "file",
		"file:///abs/path/file":  "file",
		"hdfs://nn:8020/p/q.jar": "q.jar",
		"relative/dir/name.bin":  "name.bin",
	} {
		got, err := Basename(in)
		if err != nil || got != want {
			t.Errorf("Basename(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestFetchExecutable(t *testing.T) {
	srv := newServer(t, map[string][]byte{"/run.tar": []byte("#!/bin/sh\n")})
	sandbox := t.TempDir()
	u := uriOf(srv.URL + "/run.tar")
	u.Executable = proto.Bool(true)
	if err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{u}, sandbox, Options{}); err != nil {
		t.Fatalf("Fetch: %v (an executable .tar must not be extracted)", err)
	}
	fi, err := os.Stat(filepath.Join(sandbox, "run.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o755 {
		t.Errorf("mode = %v, want 0755", got)
	}
}

func TestFetchOutputFile(t *testing.T) {
	srv := newServer(t, map[string][]byte{"/x": []byte("payload")})
	sandbox := t.TempDir()
	u := uriOf(srv.URL + "/x")
	u.OutputFile = proto.String("sub/dir/renamed.bin")
	var log bytes.Buffer
	if err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{u}, sandbox, Options{Log: &log}); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	dest := filepath.Join(sandbox, "sub", "dir", "renamed.bin")
	if got := readFile(t, dest); got != "payload" {
		t.Errorf("content = %q", got)
	}
	if !strings.Contains(log.String(), "Fetched '"+srv.URL+"/x' to '"+dest+"'\n") {
		t.Errorf("log lacks the fetched line:\n%s", log.String())
	}
}

func TestFetchOutputFileEscapes(t *testing.T) {
	srv := newServer(t, map[string][]byte{"/x": []byte("payload")})
	parent := t.TempDir()
	sandbox := filepath.Join(parent, "sandbox")
	outside := filepath.Join(parent, "outside")
	for _, d := range []string{sandbox, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(sandbox, "link")); err != nil {
		t.Fatal(err)
	}
	for out, want := range map[string]string{
		"":                  "URI output file path is empty",
		"/etc/passwd":       "URI output file must be within the sandbox directory",
		"../escape":         "URI output file must be within the sandbox directory",
		"a/../../x":         "URI output file must be within the sandbox directory",
		"link/through":      "",
		"link/../x/../../y": "URI output file must be within the sandbox directory",
	} {
		u := uriOf(srv.URL + "/x")
		u.OutputFile = proto.String(out)
		err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{u}, sandbox, Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("output_file %q: err = %v, want containing %q", out, err, want)
		}
	}
	assertEmpty(t, outside)
	if _, err := os.Stat(filepath.Join(parent, "escape")); !os.IsNotExist(err) {
		t.Errorf("a file escaped the sandbox: %v", err)
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v, want nothing", dir, names)
	}
}

func TestFetchStallTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("x"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	sandbox := t.TempDir()
	start := time.Now()
	err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf(srv.URL + "/slow")}, sandbox, Options{StallTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "Error downloading resource: Timeout was reached") {
		t.Fatalf("err = %v, want a stall timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the stall was noticed after %v", d)
	}
}

func TestFetchSlowButMovingIsNotStalled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 6 {
			w.Write([]byte("y"))
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	}))
	defer srv.Close()
	sandbox := t.TempDir()
	// A 1s window needs one byte per window; the server sends 20/s.
	if err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf(srv.URL + "/trickle")}, sandbox, Options{StallTimeout: time.Second}); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if got := readFile(t, filepath.Join(sandbox, "trickle")); got != "yyyyyy" {
		t.Errorf("content = %q", got)
	}
}

func TestFetchCacheFallsBackToDirect(t *testing.T) {
	srv := newServer(t, map[string][]byte{"/c.txt": []byte("cached?")})
	sandbox := t.TempDir()
	u := uriOf(srv.URL + "/c.txt")
	u.Cache = proto.Bool(true)
	if err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{u}, sandbox, Options{}); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if got := readFile(t, filepath.Join(sandbox, "c.txt")); got != "cached?" {
		t.Errorf("content = %q", got)
	}
}

func TestFetchCanceled(t *testing.T) {
	srv := newServer(t, map[string][]byte{"/a": []byte("a")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Fetch(ctx, []*mesospb.CommandInfo_URI{uriOf(srv.URL + "/a")}, t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("err = %v, want context canceled", err)
	}
}
