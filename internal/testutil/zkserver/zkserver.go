// Package zkserver starts real ZooKeeper servers (Debian's zookeeper
// package) on free loopback ports for tests: a standalone server or a
// three-node ensemble whose members can be stopped, restarted, paused and
// resumed to create partitions and session expiries.
//
// A test calls [Start] or [StartEnsemble]; when Java or the ZooKeeper jar is
// missing the test is skipped (and fails when CI=true, through
// testutil.Need). Servers are killed in t.Cleanup.
package zkserver

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meso-project/meso/internal/testutil"
)

// Jar is where Debian's zookeeper package installs the server.
const Jar = "/usr/share/java/zookeeper.jar"

// TickTime is the servers' tick (ms). Sessions may last from 2 to 300
// ticks, so tests can use session timeouts from 400 ms up.
const TickTime = 200

// Server is one ZooKeeper server process.
type Server struct {
	t       testing.TB
	ID      int
	Addr    string // client address, 127.0.0.1:port
	dir     string
	cfg     string
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool
}

// Cluster is a standalone server or an ensemble.
type Cluster struct {
	Servers []*Server
}

// Available reports whether a ZooKeeper server can be started here.
func Available() (bool, string) {
	if _, err := exec.LookPath("java"); err != nil {
		return false, "java is not installed (apt-get install zookeeper)"
	}
	if _, err := os.Stat(Jar); err != nil {
		return false, "ZooKeeper is not installed (" + Jar + " is missing; apt-get install zookeeper)"
	}
	return true, ""
}

// Start starts a standalone server and waits until it serves.
func Start(t testing.TB) *Cluster {
	t.Helper()
	return start(t, 1)
}

// StartEnsemble starts an ensemble of n servers (n odd, e.g. 3) and waits
// until a quorum serves.
func StartEnsemble(t testing.TB, n int) *Cluster {
	t.Helper()
	return start(t, n)
}

func start(t testing.TB, n int) *Cluster {
	t.Helper()
	ok, reason := Available()
	testutil.Need(t, ok, reason)
	root := t.TempDir()
	clientPorts := freePorts(t, n)
	var peers []string
	if n > 1 {
		pp := freePorts(t, 2*n)
		for i := 0; i < n; i++ {
			peers = append(peers, fmt.Sprintf("server.%d=127.0.0.1:%d:%d", i+1, pp[2*i], pp[2*i+1]))
		}
	}
	c := &Cluster{}
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("zk%d", i+1))
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "tickTime=%d\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n",
			TickTime, filepath.Join(dir, "data"), clientPorts[i])
		b.WriteString("initLimit=50\nsyncLimit=25\nadmin.enableServer=false\n")
		b.WriteString("4lw.commands.whitelist=srvr,ruok,stat,mntr\n")
		b.WriteString("maxSessionTimeout=60000\nminSessionTimeout=400\n")
		if n > 1 {
			b.WriteString(strings.Join(peers, "\n") + "\n")
			if err := os.WriteFile(filepath.Join(dir, "data", "myid"), []byte(fmt.Sprint(i+1)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg := filepath.Join(dir, "zoo.cfg")
		if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		s := &Server{t: t, ID: i + 1, Addr: fmt.Sprintf("127.0.0.1:%d", clientPorts[i]), dir: dir, cfg: cfg}
		c.Servers = append(c.Servers, s)
	}
	for _, s := range c.Servers {
		s.Start()
	}
	t.Cleanup(c.Stop)
	deadline := time.Now().Add(60 * time.Second)
	for _, s := range c.Servers {
		for !s.Serving() {
			if time.Now().After(deadline) {
				t.Fatalf("zkserver: %s did not start serving within 60s; log:\n%s", s.Addr, s.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// Connect is the servers' client addresses joined with commas, as a zk://
// URL's host list wants them.
func (c *Cluster) Connect() string {
	var addrs []string
	for _, s := range c.Servers {
		addrs = append(addrs, s.Addr)
	}
	return strings.Join(addrs, ",")
}

// URL returns zk://<servers><path>.
func (c *Cluster) URL(path string) string { return "zk://" + c.Connect() + path }

// Stop kills every server.
func (c *Cluster) Stop() {
	for _, s := range c.Servers {
		s.Stop()
	}
}

// Start (re)starts the server process on its port and data directory.
func (s *Server) Start() {
	s.t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command("java", "-Xmx256m", "-XX:+UseSerialGC", "-Xshare:auto",
		"-Dzookeeper.admin.enableServer=false", "-Dzookeeper.4lw.commands.whitelist=*",
		"-cp", Jar+":/usr/share/java/slf4j-nop.jar",
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", s.cfg)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("zkserver: starting java: %v", err)
	}
	s.cmd, s.stopped = cmd, false
	s.exited = make(chan struct{})
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}(s.exited)
}

// Stop kills the server (SIGKILL) and waits for it to exit. Its data stays.
func (s *Server) Stop() {
	if s.cmd == nil || s.stopped {
		return
	}
	s.stopped = true
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// Pause stops the server process (SIGSTOP): its clients' sessions expire
// while their connections stay open. Resume continues it.
func (s *Server) Pause()  { _ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGSTOP) }
func (s *Server) Resume() { _ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT) }

// Serving reports whether the server answers "srvr" with a mode line (in
// an ensemble: whether it has joined a quorum).
func (s *Server) Serving() bool {
	conn, err := net.DialTimeout("tcp", s.Addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("srvr")); err != nil {
		return false
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Mode:") {
			return !strings.Contains(line, "not currently serving")
		}
	}
	return false
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

// freePorts reserves n distinct free loopback ports.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}
