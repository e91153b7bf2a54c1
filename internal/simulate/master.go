package simulate

import (
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
	"sync"
	"syscall"
	"time"

	"github.com/meso-project/meso/pkg/detector"
)

// childMaster is a `meso master` the run started: in-memory registry, a
// temporary work directory, its log in <dir>/master.log.
type childMaster struct {
	cmd  *exec.Cmd
	addr string
	dir  string
	done chan struct{}
	err  error
}

// startMaster starts bin as a master on a free loopback port and waits
// until it answers.
func startMaster(ctx context.Context, bin string, flags []string) (*childMaster, error) {
	dir, err := os.MkdirTemp("", "meso-simulate-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "master.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	args := []string{"master", "--ip=127.0.0.1", "--port=" + strconv.Itoa(port),
		"--registry=in_memory", "--work_dir=" + dir, "--logging_level=WARNING"}
	args = append(args, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("simulate: starting the master: %w", err)
	}
	m := &childMaster{cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, done: make(chan struct{})}
	go func() {
		m.err = cmd.Wait()
		close(m.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + m.addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m, nil
			}
		}
		select {
		case <-m.done:
			log, _ := os.ReadFile(filepath.Join(dir, "master.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("simulate: the master exited (%v): %s", m.err, tail(log, 2000))
		case <-ctx.Done():
			m.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, errors.New("simulate: the master did not answer /health within 30s")
		}
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// exited reports whether the master ended, and how.
func (m *childMaster) exited() (bool, error) {
	select {
	case <-m.done:
		return true, m.err
	default:
		return false, nil
	}
}

// stop ends the master (SIGTERM, then SIGKILL) and removes its directory;
// keepLog copies its log first when it is not empty.
func (m *childMaster) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	os.RemoveAll(m.dir)
}

// metricsSnapshot GETs the master's /metrics/snapshot.
func metricsSnapshot(ctx context.Context, addr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics/snapshot", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("simulate: reading the master's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("simulate: reading the master's metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("simulate: decoding the master's metrics: %w", err)
	}
	return out, nil
}

// leaderWatch follows the leading master for the agents.
type leaderWatch struct {
	mu      sync.Mutex
	addr    string
	changed chan struct{} // closed and replaced on every change
}

func newLeaderWatch() *leaderWatch { return &leaderWatch{changed: make(chan struct{})} }

func (w *leaderWatch) set(addr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.addr = addr
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *leaderWatch) current() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addr
}

// wait returns the leader's address, waiting for one to be known.
func (w *leaderWatch) wait(ctx context.Context) (string, error) {
	for {
		w.mu.Lock()
		addr, ch := w.addr, w.changed
		w.mu.Unlock()
		if addr != "" {
			return addr, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// run follows d until ctx ends or d fails.
func (w *leaderWatch) run(ctx context.Context, d detector.Detector) {
	var prev *detector.Leader
	for {
		l, err := d.Detect(ctx, prev)
		if err != nil {
			return
		}
		prev = l
		addr := ""
		if l != nil {
			addr = l.Address()
		}
		w.set(addr)
	}
}
