package e2e

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/internal/local"
	"github.com/meso-project/meso/internal/testutil"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/taskstate"
)

// TestFetchURIs: the agent fetches a task's URIs into its sandbox before
// the executor starts (here from a real HTTP server on loopback): an
// executable script runs; a URI that answers 404 fails the task with
// REASON_CONTAINER_LAUNCH_FAILED and a message naming the URI; so does a
// zip whose entry would land outside the sandbox.
func TestFetchURIs(t *testing.T) {
	// A zip whose entry climbs out of the sandbox (zip-slip).
	var slip bytes.Buffer
	zw := zip.NewWriter(&slip)
	f, _ := zw.Create("../../escaped.txt")
	f.Write([]byte("should never be written\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hello.sh":
			fmt.Fprint(w, "#!/bin/sh\necho fetched and run\n")
		case "/slip.zip":
			w.Write(slip.Bytes())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.JSON, frameworkInfo("fetcher"))
	run := func(id string, uri *mesospb.CommandInfo_URI, command string) *mesospb.TaskStatus {
		t.Helper()
		return runFetching(t, s, id, command, uri)
	}

	st := run("runs", &mesospb.CommandInfo_URI{Value: proto.String(srv.URL + "/hello.sh"), Executable: proto.Bool(true)}, "./hello.sh")
	if st.GetState() != mesospb.TaskState_TASK_FINISHED {
		t.Fatalf("task with a fetched script: %v %v %q", st.GetState(), st.GetReason(), st.GetMessage())
	}
	out := readFile(t, sandbox(t, c, s.fwID.GetValue(), "runs")+"/stdout")
	if !strings.Contains(out, "fetched and run") {
		t.Errorf("stdout lacks the script's output:\n%s", out)
	}

	missing := srv.URL + "/missing.sh"
	st = run("missing", &mesospb.CommandInfo_URI{Value: proto.String(missing), Executable: proto.Bool(true)}, "./missing.sh")
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED ||
		!strings.Contains(st.GetMessage(), missing) || !strings.Contains(st.GetMessage(), "404") {
		t.Errorf("task with a 404 URI: %v %v %q", st.GetState(), st.GetReason(), st.GetMessage())
	}

	slipURI := srv.URL + "/slip.zip"
	st = run("slip", &mesospb.CommandInfo_URI{Value: proto.String(slipURI), Extract: proto.Bool(true)}, "true")
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED ||
		!strings.Contains(st.GetMessage(), "Failed to fetch '"+slipURI+"'") || !strings.Contains(st.GetMessage(), "escaped.txt") {
		t.Errorf("task with a zip-slip archive: %v %v %q", st.GetState(), st.GetReason(), st.GetMessage())
	}
	escaped, _ := filepath.Glob(filepath.Join(c.AgentWorkDirs[0], "slaves", "*", "frameworks", "*", "executors", "escaped.txt"))
	if len(escaped) > 0 {
		t.Errorf("the zip-slip entry was written outside the sandbox: %v", escaped)
	}
}

// runFetching runs one command task with uris and returns its terminal
// status.
func runFetching(t *testing.T, s *scheduler, id, command string, uris ...*mesospb.CommandInfo_URI) *mesospb.TaskStatus {
	t.Helper()
	offer := s.next(schedulerpb.Event_OFFERS, 20*time.Second).GetOffers().GetOffers()[0]
	s.launchTask(offer, &mesospb.TaskInfo{
		Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)}, AgentId: offer.GetAgentId(),
		Resources: taskResources("*", 0.1, 32),
		Command:   &mesospb.CommandInfo{Value: proto.String(command), Uris: uris},
	})
	for {
		st := s.update(true, 30*time.Second)
		if taskstate.IsTerminal(st.GetState()) {
			return st
		}
	}
}

// fileServer serves files and counts GETs by path.
type fileServer struct {
	*httptest.Server
	mu   sync.Mutex
	gets map[string]int
}

func newFileServer(t *testing.T, files map[string][]byte) *fileServer {
	t.Helper()
	fs := &fileServer{gets: map[string]int{}}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodGet {
			fs.mu.Lock()
			fs.gets[r.URL.Path]++
			fs.mu.Unlock()
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *fileServer) count(p string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.gets[p]
}

// tgz is a gzipped tar of files (name -> content), all mode 0755.
func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// agentMetrics reads the agent's /metrics/snapshot.
func agentMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]float64
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFetchCache: URIs with cache: true are downloaded once per user: a
// second task extracts the cached archive (its script keeps its executable
// bit) without the server seeing a second GET; a small --fetcher_cache_size
// evicts the least recently used file; the containerizer/fetcher/* metrics
// count it all.
func TestFetchCache(t *testing.T) {
	const cacheSize = 1000
	bundle := tgz(t, map[string]string{"bin/hello.sh": "#!/bin/sh\necho hello from the bundle\n"})
	if len(bundle) > 350 {
		t.Fatalf("the bundle is %d bytes; the eviction below wants it under 350", len(bundle))
	}
	srv := newFileServer(t, map[string][]byte{"/bundle.tgz": bundle,
		"/a.bin": bytes.Repeat([]byte("a"), 600), "/b.bin": bytes.Repeat([]byte("b"), 600)})
	c := cluster(t, func(cfg *local.Config) {
		size := uint64(cacheSize)
		cfg.Agent.FetcherCacheSize = &size
	})
	s := subscribe(t, c.MasterAddr, codec.JSON, frameworkInfo("fetch-cache"))
	cached := func(p string) *mesospb.CommandInfo_URI {
		return &mesospb.CommandInfo_URI{Value: proto.String(srv.URL + p), Cache: proto.Bool(true)}
	}

	for _, id := range []string{"bundle-1", "bundle-2"} {
		st := runFetching(t, s, id, "./bin/hello.sh", cached("/bundle.tgz"))
		if st.GetState() != mesospb.TaskState_TASK_FINISHED {
			t.Fatalf("%s: %v %v %q", id, st.GetState(), st.GetReason(), st.GetMessage())
		}
		dir := sandbox(t, c, s.fwID.GetValue(), id)
		if out := readFile(t, dir+"/stdout"); !strings.Contains(out, "hello from the bundle") {
			t.Errorf("%s stdout lacks the script's output:\n%s", id, out)
		}
		// Extracted from the cache: the archive itself is not copied.
		if _, err := os.Stat(dir + "/bundle.tgz"); !os.IsNotExist(err) {
			t.Errorf("%s: the cached archive is in the sandbox (%v)", id, err)
		}
	}
	if n := srv.count("/bundle.tgz"); n != 1 {
		t.Errorf("the server saw %d GETs of the bundle, want 1", n)
	}
	stderr := readFile(t, sandbox(t, c, s.fwID.GetValue(), "bundle-2")+"/stderr")
	if !strings.Contains(stderr, "Fetching URI '"+srv.URL+"/bundle.tgz' from cache") {
		t.Errorf("the second task's stderr does not show a fetch from the cache:\n%s", stderr)
	}
	m := agentMetrics(t, c.AgentAddrs[0])
	if m["containerizer/fetcher/task_fetches_succeeded"] < 2 || m["containerizer/fetcher/task_fetches_failed"] != 0 ||
		m["containerizer/fetcher/cache_size_total_bytes"] != cacheSize ||
		m["containerizer/fetcher/cache_size_used_bytes"] != float64(len(bundle)) {
		t.Errorf("fetcher metrics after two cached fetches: %v", fetcherMetrics(m))
	}

	// a fits beside the bundle; b needs both evicted; a is then fetched
	// again.
	for _, tc := range []struct{ id, uri string }{{"a-1", "/a.bin"}, {"b-1", "/b.bin"}, {"a-2", "/a.bin"}} {
		if st := runFetching(t, s, tc.id, "true", cached(tc.uri)); st.GetState() != mesospb.TaskState_TASK_FINISHED {
			t.Fatalf("%s: %v %v %q", tc.id, st.GetState(), st.GetReason(), st.GetMessage())
		}
	}
	if a, b := srv.count("/a.bin"), srv.count("/b.bin"); a != 2 || b != 1 {
		t.Errorf("GETs: a.bin %d, b.bin %d; want 2 and 1 (a evicted for b)", a, b)
	}
	m = agentMetrics(t, c.AgentAddrs[0])
	if used := m["containerizer/fetcher/cache_size_used_bytes"]; used > cacheSize || used != 600 {
		t.Errorf("cache_size_used_bytes = %v, want 600 (a.bin alone)", used)
	}
	if m["containerizer/fetcher/task_fetches_succeeded"] < 5 {
		t.Errorf("fetcher metrics: %v", fetcherMetrics(m))
	}

	missing := srv.URL + "/missing.tgz"
	st := runFetching(t, s, "missing", "true", &mesospb.CommandInfo_URI{Value: proto.String(missing), Cache: proto.Bool(true)})
	if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED ||
		!strings.Contains(st.GetMessage(), "Failed to fetch '"+missing+"'") {
		t.Errorf("a cached URI that answers 404: %v %v %q", st.GetState(), st.GetReason(), st.GetMessage())
	}
	if m := agentMetrics(t, c.AgentAddrs[0]); m["containerizer/fetcher/task_fetches_failed"] != 1 {
		t.Errorf("fetcher metrics after a failed fetch: %v", fetcherMetrics(m))
	}
}

func fetcherMetrics(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, "containerizer/fetcher/") {
			out[k] = v
		}
	}
	return out
}

// TestFetchRunsInTheContainer: the fetch is done by the container's first
// process (the launch helper, before it becomes the executor), not by the
// agent: a copy of /proc/self/stat made by the fetch names the executor's
// pid, which is the task's parent.
func TestFetchRunsInTheContainer(t *testing.T) {
	c := cluster(t, nil)
	s := subscribe(t, c.MasterAddr, codec.JSON, frameworkInfo("fetch-in-container"))
	st := runFetching(t, s, "where", `fetcher=$(cut -d' ' -f1 fetcher-stat); echo "fetcher pid $fetcher, executor pid $PPID"; test "$fetcher" = "$PPID"`,
		&mesospb.CommandInfo_URI{Value: proto.String("/proc/self/stat"), OutputFile: proto.String("fetcher-stat")})
	if st.GetState() != mesospb.TaskState_TASK_FINISHED {
		out := readFile(t, sandbox(t, c, s.fwID.GetValue(), "where")+"/stdout")
		t.Fatalf("the fetch did not run in the executor's process: %v %q\n%s", st.GetState(), st.GetMessage(), out)
	}
}

// TestFetchInTheContainersCgroups: with the linux launcher and cgroups
// isolation, the fetch runs in the container's cgroups (it counts against
// the container's limits): a copy of /proc/self/cgroup made by the fetch
// is the task's own. With a pid namespace too, the fetch is also in the
// container's namespaces (its /proc/self/stat names pid 1, the executor
// to be).
func TestFetchInTheContainersCgroups(t *testing.T) {
	for _, isolation := range []string{"cgroups/cpu,cgroups/mem", "filesystem/linux,namespaces/pid,cgroups/cpu,cgroups/mem"} {
		t.Run(isolation, func(t *testing.T) {
			c, _, root := isolated(t, isolation, nil)
			s := subscribe(t, c.MasterAddr, codec.JSON, frameworkInfo("fetch-cgroups"))
			command := "cat fetcher-cgroup; diff fetcher-cgroup /proc/self/cgroup"
			if strings.Contains(isolation, "namespaces/pid") {
				command += ` && test "$(cut -d' ' -f1 fetcher-stat)" = 1`
			}
			st := runFetching(t, s, "cg", command,
				&mesospb.CommandInfo_URI{Value: proto.String("/proc/self/cgroup"), OutputFile: proto.String("fetcher-cgroup")},
				&mesospb.CommandInfo_URI{Value: proto.String("/proc/self/stat"), OutputFile: proto.String("fetcher-stat")})
			out := readFile(t, sandbox(t, c, s.fwID.GetValue(), "cg")+"/stdout")
			if st.GetState() != mesospb.TaskState_TASK_FINISHED {
				t.Fatalf("the fetch ran outside the container: %v %q\n%s", st.GetState(), st.GetMessage(), out)
			}
			if !strings.Contains(out, "/"+root+"/") {
				t.Errorf("the fetch's cgroups are not under the containers' root %s:\n%s", root, out)
			}
		})
	}
}

// TestFetchAsTheTaskUser: the fetch runs as the task's user (Mesos's
// fetcher does os::su): the fetched files, through the cache or not, are
// the user's, and the user's cache directory is <cache dir>/<user>.
func TestFetchAsTheTaskUser(t *testing.T) {
	testutil.Need(t, os.Geteuid() == 0, "switching to another user needs root")
	work := t.TempDir()
	// The user must reach its sandbox.
	for d := work; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// ... and run the meso binary (the launch helper, the executor).
	if err := os.Chmod(filepath.Dir(testutil.MesoBinary(t)), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := newFileServer(t, map[string][]byte{"/hello.txt": []byte("hello")})
	c := cluster(t, func(cfg *local.Config) {
		cfg.WorkDir = work
		cfg.Agent.SwitchUser = true
	})
	info := frameworkInfo("fetch-user")
	info.User = proto.String("nobody")
	s := subscribe(t, c.MasterAddr, codec.JSON, info)
	for _, id := range []string{"user-1", "user-2"} {
		st := runFetching(t, s, id, `ls -ln; test "$(stat -c %U hello.txt)" = nobody && test "$(stat -c %U plain.txt)" = nobody`,
			&mesospb.CommandInfo_URI{Value: proto.String(srv.URL + "/hello.txt"), Cache: proto.Bool(true)},
			&mesospb.CommandInfo_URI{Value: proto.String(srv.URL + "/hello.txt"), OutputFile: proto.String("plain.txt")})
		if st.GetState() != mesospb.TaskState_TASK_FINISHED {
			out := readFile(t, sandbox(t, c, s.fwID.GetValue(), id)+"/stdout")
			errOut := readFile(t, sandbox(t, c, s.fwID.GetValue(), id)+"/stderr")
			t.Fatalf("%s: %v %v %q\n%s\n%s", id, st.GetState(), st.GetReason(), st.GetMessage(), out, errOut)
		}
	}
	// One download for the cache, one per task for plain.txt.
	if n := srv.count("/hello.txt"); n != 3 {
		t.Errorf("GETs = %d, want 3", n)
	}
	cached, _ := filepath.Glob(filepath.Join(c.AgentWorkDirs[0], "fetch", "nobody", "c*-hello.txt"))
	if len(cached) != 1 {
		t.Errorf("cache files for nobody: %v", cached)
	}
}
