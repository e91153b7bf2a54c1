package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meso-project/meso/bench/internal/benchutil"
)

// proc is a child process (ZooKeeper or a master) in its own process
// group, so that a Ctrl-C in the terminal reaches only the benchmark,
// which then kills it. Pdeathsig kills it too should the benchmark die
// without cleaning up.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been waited for
}

func startProc(logPath, name string, args ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p, nil
}

// kill sends SIGKILL to the process group and waits for the process.
func (p *proc) kill() {
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// zkJar is where Debian's zookeeper package installs the server.
const zkJar = "/usr/share/java/zookeeper.jar"

// startZooKeeper starts a standalone ZooKeeper server on a free loopback
// port under dir and waits until it serves. The configuration is the one
// of internal/testutil/zkserver (tickTime 200 ms, so sessions may be as
// short as 400 ms); the session timeouts used here are well inside it.
func startZooKeeper(ctx context.Context, dir string) (*proc, string, error) {
	if _, err := exec.LookPath("java"); err != nil {
		return nil, "", errors.New("java is not installed (apt-get install zookeeper)")
	}
	if _, err := os.Stat(zkJar); err != nil {
		return nil, "", fmt.Errorf("ZooKeeper is not installed (%s is missing; apt-get install zookeeper)", zkJar)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cfg := fmt.Sprintf("tickTime=200\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"initLimit=50\nsyncLimit=25\nadmin.enableServer=false\n4lw.commands.whitelist=srvr,ruok,stat,mntr\n"+
		"maxSessionTimeout=60000\nminSessionTimeout=400\n", data, port)
	cfgPath := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, "", err
	}
	p, err := startProc(filepath.Join(dir, "server.log"), "java", "-Xmx256m", "-XX:+UseSerialGC", "-Xshare:auto",
		"-Dzookeeper.admin.enableServer=false", "-Dzookeeper.4lw.commands.whitelist=*",
		"-cp", zkJar+":/usr/share/java/slf4j-nop.jar",
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", cfgPath)
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	err = poll(ctx, time.Minute, 50*time.Millisecond, "ZooKeeper to serve", func() (bool, error) {
		if !p.running() {
			return false, fmt.Errorf("ZooKeeper exited; see %s", filepath.Join(dir, "server.log"))
		}
		return zkServing(addr), nil
	})
	if err != nil {
		p.kill()
		return nil, "", err
	}
	return p, addr, nil
}

// zkServing reports whether the server at addr answers "srvr" with a mode.
func zkServing(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
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
		if line := sc.Text(); strings.HasPrefix(line, "Mode:") {
			return !strings.Contains(line, "not currently serving")
		}
	}
	return false
}

// master is one `meso master` process of the cluster; it keeps its port
// and --work_dir across restarts, and gets a new log file each time.
type master struct {
	id      int
	addr    string // 127.0.0.1:port
	workDir string
	logPath string // of the current run
	starts  int
	proc    *proc
}

// cluster is the three masters sharing the ZooKeeper group at zkURL.
type cluster struct {
	bin     string
	work    string
	zkURL   string
	session time.Duration
	masters []*master
	http    *http.Client
}

func newCluster(bin, work, zkURL string, session time.Duration, n int) (*cluster, error) {
	c := &cluster{bin: bin, work: work, zkURL: zkURL, session: session,
		http: &http.Client{
			Timeout:       5 * time.Second,
			Transport:     &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
	for i := range n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		c.masters = append(c.masters, &master{id: i + 1, addr: "127.0.0.1:" + strconv.Itoa(port),
			workDir: filepath.Join(work, fmt.Sprintf("master%d", i+1))})
	}
	return c, nil
}

// start (re)starts m on its port and work directory.
func (c *cluster) start(m *master) error {
	m.starts++
	m.logPath = filepath.Join(c.work, fmt.Sprintf("master%d.%d.log", m.id, m.starts))
	_, port, _ := net.SplitHostPort(m.addr)
	p, err := startProc(m.logPath, c.bin, "master", "--zk="+c.zkURL, "--quorum=2", "--ip=127.0.0.1",
		"--port="+port, "--work_dir="+m.workDir, "--zk_session_timeout="+mesosDuration(c.session))
	if err != nil {
		return err
	}
	m.proc = p
	return nil
}

// stop kills every master and closes the metrics client's connections.
func (c *cluster) stop() {
	for _, m := range c.masters {
		m.proc.kill()
	}
	c.http.CloseIdleConnections()
}

// metrics reads m's /metrics/snapshot.
func (c *cluster) metrics(ctx context.Context, m *master) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.addr+"/metrics/snapshot", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: /metrics/snapshot: %s", m.addr, resp.Status)
	}
	var out map[string]float64
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// leader returns the one running master other than except that reports
// master/elected 1 (meso sets it once the leader has recovered the
// registry), or nil.
func (c *cluster) leader(ctx context.Context, except *master) (*master, error) {
	for _, m := range c.masters {
		if m == except {
			continue
		}
		if !m.proc.running() {
			return nil, fmt.Errorf("master %d exited; see %s", m.id, m.logPath)
		}
		if s, err := c.metrics(ctx, m); err == nil && s["master/elected"] == 1 {
			return m, nil
		}
	}
	return nil, nil
}

// waitStandby waits until the (re)started m is a candidate in the
// ZooKeeper group and answers as a standby.
func (c *cluster) waitStandby(ctx context.Context, m *master) error {
	return poll(ctx, time.Minute, 20*time.Millisecond, fmt.Sprintf("master %d to stand by", m.id), func() (bool, error) {
		if !m.proc.running() {
			return false, fmt.Errorf("master %d exited; see %s", m.id, m.logPath)
		}
		if _, ok := logTime(m.logPath, "contender: this master is a candidate for leadership"); !ok {
			return false, nil
		}
		s, err := c.metrics(ctx, m)
		return err == nil && s["master/elected"] == 0, nil
	})
}

// poll is benchutil.Poll.
var poll = benchutil.Poll

// logTime returns the time of the first line of the log at path whose
// message is msg.
func logTime(path, msg string) (time.Time, bool) {
	ts := benchutil.LogTimes(path, msg)
	if len(ts) == 0 {
		return time.Time{}, false
	}
	return ts[0], true
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// mesosDuration formats d as a Mesos flag duration ("2000ms").
func mesosDuration(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}
