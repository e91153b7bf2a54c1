package fetcher

import (
	"archive/tar"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// countingServer serves files and counts GETs per path; HEAD answers with
// the length. gate, when set, holds GETs until it is closed.
type countingServer struct {
	*httptest.Server
	mu    sync.Mutex
	gets  map[string]int
	files map[string][]byte
	fail  map[string]bool // GET answers 500 (HEAD still 200)
	gate  chan struct{}
}

func newCountingServer(t *testing.T, files map[string][]byte) *countingServer {
	t.Helper()
	s := &countingServer{gets: map[string]int{}, files: files, fail: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := s.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			return
		}
		s.mu.Lock()
		s.gets[r.URL.Path]++
		gate, fail := s.gate, s.fail[r.URL.Path]
		s.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if fail {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *countingServer) count(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[p]
}

func newTestCache(t *testing.T, size uint64) *Cache {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cache")
	c, err := NewCache(CacheConfig{Dir: dir, Size: size, StallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func cachedURI(value string) *mesospb.CommandInfo_URI {
	return &mesospb.CommandInfo_URI{Value: proto.String(value), Cache: proto.Bool(true)}
}

// fetchVia prepares, runs and finishes one container's fetch, returning the
// plan's actions, the sandbox and the error.
func fetchVia(t *testing.T, c *Cache, uris ...*mesospb.CommandInfo_URI) ([]Action, string, error) {
	t.Helper()
	sandbox := t.TempDir()
	l, err := c.Prepare(context.Background(), Request{ContainerID: "cid", Sandbox: sandbox, URIs: uris})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	var actions []Action
	for _, it := range l.Plan.Items {
		actions = append(actions, it.Action)
	}
	err = Run(context.Background(), l.Plan, Options{})
	c.Finish(l, true, err)
	return actions, sandbox, err
}

func metrics(t *testing.T, c *Cache) map[string]float64 {
	t.Helper()
	m, err := c.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The cache's actor ends with Close (local URIs: no HTTP goroutines).
func TestCacheCloseLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	src := filepath.Join(t.TempDir(), "local.txt")
	if err := os.WriteFile(src, []byte("local"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := NewCache(CacheConfig{Dir: filepath.Join(t.TempDir(), "cache"), Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Action{DownloadAndCache, RetrieveFromCache} {
		actions, sandbox, err := fetchVia(t, c, cachedURI(src))
		if err != nil || actions[0] != want {
			t.Fatalf("actions %v, err %v; want %v", actions, err, want)
		}
		if got := readFile(t, filepath.Join(sandbox, "local.txt")); got != "local" {
			t.Errorf("sandbox: %q", got)
		}
	}
	c.Close()
	if _, err := c.Metrics(context.Background()); err == nil {
		t.Error("Metrics after Close succeeded")
	}
}

func TestCacheHit(t *testing.T) {
	srv := newCountingServer(t, map[string][]byte{"/a.txt": []byte("alpha")})
	c := newTestCache(t, 1000)
	u := cachedURI(srv.URL + "/a.txt")
	for i, want := range []Action{DownloadAndCache, RetrieveFromCache, RetrieveFromCache} {
		actions, sandbox, err := fetchVia(t, c, u)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		if diff := cmp.Diff([]Action{want}, actions); diff != "" {
			t.Errorf("fetch %d actions (-want +got):\n%s", i, diff)
		}
		if got := readFile(t, filepath.Join(sandbox, "a.txt")); got != "alpha" {
			t.Errorf("fetch %d: sandbox a.txt = %q", i, got)
		}
	}
	if n := srv.count("/a.txt"); n != 1 {
		t.Errorf("the server saw %d GETs, want 1", n)
	}
	want := map[string]float64{MetricTaskFetchesSucceeded: 3, MetricTaskFetchesFailed: 0,
		MetricCacheSizeTotalBytes: 1000, MetricCacheSizeUsedBytes: 5}
	if diff := cmp.Diff(want, metrics(t, c)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestCacheBypassWithoutCacheFlagOrSize(t *testing.T) {
	srv := newCountingServer(t, map[string][]byte{"/a.txt": []byte("alpha")})
	c := newTestCache(t, 1000)
	for range 2 {
		actions, _, err := fetchVia(t, c, uriOf(srv.URL+"/a.txt"))
		if err != nil || actions[0] != BypassCache {
			t.Fatalf("actions %v, err %v", actions, err)
		}
	}
	off := newTestCache(t, 0) // --fetcher_cache_size=0 disables the cache
	actions, _, err := fetchVia(t, off, cachedURI(srv.URL+"/a.txt"))
	if err != nil || actions[0] != BypassCache {
		t.Fatalf("size 0: actions %v, err %v", actions, err)
	}
	if n := srv.count("/a.txt"); n != 3 {
		t.Errorf("GETs = %d, want 3", n)
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	files := map[string][]byte{"/a": []byte(strings.Repeat("a", 400)), "/b": []byte(strings.Repeat("b", 400)),
		"/c": []byte(strings.Repeat("c", 400))}
	srv := newCountingServer(t, files)
	c := newTestCache(t, 1000) // room for two
	fetch := func(p string) Action {
		t.Helper()
		actions, _, err := fetchVia(t, c, cachedURI(srv.URL+p))
		if err != nil {
			t.Fatalf("fetch %s: %v", p, err)
		}
		return actions[0]
	}
	fetch("/a")
	fetch("/b")
	fetch("/a") // a is now more recently used than b
	fetch("/c") // evicts b
	if got := fetch("/a"); got != RetrieveFromCache {
		t.Errorf("a after c: %v, want a cache hit", got)
	}
	if got := fetch("/b"); got != DownloadAndCache {
		t.Errorf("b after c: %v, want a download (b was evicted)", got)
	}
	if got := metrics(t, c)[MetricCacheSizeUsedBytes]; got > 1000 {
		t.Errorf("cache uses %v bytes, more than its 1000", got)
	}
	files2, _ := filepath.Glob(filepath.Join(c.cfg.Dir, "c*"))
	if len(files2) != 2 {
		t.Errorf("cache files %v, want 2", files2)
	}
	if a, b := srv.count("/a"), srv.count("/b"); a != 1 || b != 2 {
		t.Errorf("GETs a=%d b=%d, want 1 and 2", a, b)
	}
}

func TestCacheTooLargeBypasses(t *testing.T) {
	srv := newCountingServer(t, map[string][]byte{"/big": []byte(strings.Repeat("x", 2000))})
	c := newTestCache(t, 1000)
	actions, sandbox, err := fetchVia(t, c, cachedURI(srv.URL+"/big"))
	if err != nil || actions[0] != BypassCache {
		t.Fatalf("actions %v, err %v", actions, err)
	}
	if fi, err := os.Stat(filepath.Join(sandbox, "big")); err != nil || fi.Size() != 2000 {
		t.Errorf("sandbox big: %v %v", fi, err)
	}
}

func TestCacheFailedDownloadLeavesNoEntry(t *testing.T) {
	srv := newCountingServer(t, map[string][]byte{"/f": []byte("data")})
	srv.fail["/f"] = true
	c := newTestCache(t, 1000)
	actions, _, err := fetchVia(t, c, cachedURI(srv.URL+"/f"))
	if err == nil || actions[0] != DownloadAndCache {
		t.Fatalf("actions %v, err %v; want a failed download into the cache", actions, err)
	}
	if want := "Failed to fetch all URIs for container 'cid': Failed to fetch '" + srv.URL + "/f': Error downloading resource, received HTTP return code 500"; err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	m := metrics(t, c)
	if m[MetricCacheSizeUsedBytes] != 0 || m[MetricTaskFetchesFailed] != 1 {
		t.Errorf("metrics %v", m)
	}
	if left, _ := filepath.Glob(filepath.Join(c.cfg.Dir, "c*")); len(left) != 0 {
		t.Errorf("cache files left: %v", left)
	}
	srv.mu.Lock()
	srv.fail["/f"] = false
	srv.mu.Unlock()
	if actions, _, err := fetchVia(t, c, cachedURI(srv.URL+"/f")); err != nil || actions[0] != DownloadAndCache {
		t.Errorf("retry: actions %v, err %v; want a new download", actions, err)
	}
}

// Concurrent fetches of one URI wait for the one download.
func TestCacheConcurrentFetchesWaitForOneDownload(t *testing.T) {
	srv := newCountingServer(t, map[string][]byte{"/s": []byte("shared")})
	srv.gate = make(chan struct{})
	c := newTestCache(t, 1000)
	u := cachedURI(srv.URL + "/s")
	first, err := c.Prepare(context.Background(), Request{ContainerID: "one", Sandbox: t.TempDir(), URIs: []*mesospb.CommandInfo_URI{u}})
	if err != nil {
		t.Fatal(err)
	}
	firstDone := make(chan error, 1)
	go func() {
		err := Run(context.Background(), first.Plan, Options{})
		c.Finish(first, true, err)
		firstDone <- err
	}()
	type result struct {
		lease *Lease
		err   error
	}
	second := make(chan result, 1)
	go func() {
		l, err := c.Prepare(context.Background(), Request{ContainerID: "two", Sandbox: t.TempDir(), URIs: []*mesospb.CommandInfo_URI{u}})
		second <- result{l, err}
	}()
	select {
	case r := <-second:
		t.Fatalf("the second Prepare returned (%v) before the first download ended", r.err)
	case <-time.After(200 * time.Millisecond):
	}
	close(srv.gate)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("the second Prepare did not return after the download")
	}
	if r.err != nil || r.lease.Plan.Items[0].Action != RetrieveFromCache {
		t.Fatalf("second: %+v", r)
	}
	err = Run(context.Background(), r.lease.Plan, Options{})
	c.Finish(r.lease, true, err)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(r.lease.Plan.SandboxDirectory, "s")); got != "shared" {
		t.Errorf("second sandbox: %q", got)
	}
	if n := srv.count("/s"); n != 1 {
		t.Errorf("GETs = %d, want 1", n)
	}
}

func TestCacheIsPerUser(t *testing.T) {
	srv := newCountingServer(t, map[string][]byte{"/u": []byte("u")})
	c := newTestCache(t, 1000)
	u := cachedURI(srv.URL + "/u")
	var dirs []string
	for _, user := range []string{"", "", "someone"} {
		if os.Geteuid() == 0 && user != "" {
			user = "nobody" // the cache directory is given to the user
		}
		l, err := c.Prepare(context.Background(), Request{ContainerID: "c", Sandbox: t.TempDir(), User: user,
			URIs: []*mesospb.CommandInfo_URI{u}})
		if err != nil {
			t.Fatal(err)
		}
		// Run as the agent (the user switch is the launch helper's).
		err = Run(context.Background(), l.Plan, Options{})
		c.Finish(l, true, err)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, l.Plan.CacheDirectory)
	}
	if dirs[0] != c.cfg.Dir || dirs[2] == c.cfg.Dir || filepath.Dir(dirs[2]) != c.cfg.Dir {
		t.Errorf("cache directories %v", dirs)
	}
	if n := srv.count("/u"); n != 2 {
		t.Errorf("GETs = %d, want 2 (one per user)", n)
	}
}

func TestCacheExtractsAndChmodsFromCache(t *testing.T) {
	archive := gzipBytes(t, tarBytes(t, tree))
	srv := newCountingServer(t, map[string][]byte{"/pkg/bundle.tar.gz": archive, "/bin/tool": []byte("#!/bin/sh\n")})
	c := newTestCache(t, 1<<20)
	tool := cachedURI(srv.URL + "/bin/tool")
	tool.Executable = proto.Bool(true)
	for i := range 2 {
		_, sandbox, err := fetchVia(t, c, cachedURI(srv.URL+"/pkg/bundle.tar.gz"), tool)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		// From the cache only the archive's contents land in the sandbox.
		want := map[string]string{"app/": "", "app/run.sh": "#!/bin/sh\n", "app/conf/": "", "app/conf/a.txt": "A",
			"app/cur": "-> conf/a.txt", "tool": "#!/bin/sh\n"}
		if diff := cmp.Diff(want, snapshot(t, sandbox)); diff != "" {
			t.Errorf("fetch %d sandbox (-want +got):\n%s", i, diff)
		}
		if fi, err := os.Stat(filepath.Join(sandbox, "tool")); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("fetch %d: tool %v %v, want mode 0755", i, fi, err)
		}
	}
	if a, b := srv.count("/pkg/bundle.tar.gz"), srv.count("/bin/tool"); a != 1 || b != 1 {
		t.Errorf("GETs %d %d, want 1 each", a, b)
	}
}

func TestCacheClearedOnStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.MkdirAll(filepath.Join(dir, "u"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "u", "c1-old"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := NewCache(CacheConfig{Dir: dir, Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the cache directory survived the start: %v", err)
	}
}

func TestPlanJSONRoundTrip(t *testing.T) {
	p := Plan{ContainerID: "cid", SandboxDirectory: "/s", CacheDirectory: "/c/u", User: "u", FrameworksHome: "/fh",
		StallTimeout: 3 * time.Second, Items: []Item{
			{URI: &mesospb.CommandInfo_URI{Value: proto.String("http://x/a.tgz"), OutputFile: proto.String("d/a.tgz")}, Action: BypassCache},
			{URI: cachedURI("http://x/b"), Action: DownloadAndCache, CacheFilename: "c1-b"},
		}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"sandbox_directory":"/s"`, `"cache_filename":"c1-b"`, `"output_file":"d/a.tgz"`,
		`"stall_timeout":{"nanoseconds":3000000000}`, `"action":"DOWNLOAD_AND_CACHE"`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("plan JSON lacks %s: %s", field, b)
		}
	}
	var got Plan
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got, protocmp.Transform(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if err := json.Unmarshal([]byte(`{"items":[{"uri":{"value":"x"},"action":"STEAL"}]}`), &got); err == nil {
		t.Error("an unknown action was accepted")
	}
}

// Extraction from the cache is as strict as from the sandbox: entries
// escaping the sandbox are refused, and nothing lands beside it (nor in
// the cache directory, which holds only the cache file).
func TestCacheExtractRefusesEscapes(t *testing.T) {
	for _, format := range []string{"tar", "zip"} {
		t.Run(format, func(t *testing.T) {
			ents := []entry{{name: "ok.txt", kind: tar.TypeReg, body: "ok"}, {name: "../evil", kind: tar.TypeReg, body: "x"}}
			body := tarBytes(t, ents)
			if format == "zip" {
				body = zipBytes(t, ents)
			}
			src := filepath.Join(t.TempDir(), "evil."+format)
			if err := os.WriteFile(src, body, 0o644); err != nil {
				t.Fatal(err)
			}
			c := newTestCache(t, 1<<20)
			parent := t.TempDir()
			sandbox := filepath.Join(parent, "sandbox")
			if err := os.Mkdir(sandbox, 0o755); err != nil {
				t.Fatal(err)
			}
			l, err := c.Prepare(context.Background(), Request{ContainerID: "cid", Sandbox: sandbox,
				URIs: []*mesospb.CommandInfo_URI{cachedURI(src)}})
			if err != nil {
				t.Fatal(err)
			}
			err = Run(context.Background(), l.Plan, Options{})
			c.Finish(l, true, err)
			if err == nil || !strings.Contains(err.Error(), "entry '../evil': path with '..' refused") {
				t.Fatalf("err = %v, want the escape refused", err)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 1 {
				t.Errorf("the sandbox's parent holds %v", ents)
			}
			if left, _ := filepath.Glob(filepath.Join(c.cfg.Dir, "*")); len(left) != 0 {
				t.Errorf("the cache directory holds %v after the failed fetch", left)
			}
		})
	}
}
