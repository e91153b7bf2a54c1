package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/meso-project/meso/bench/internal/benchutil"
	"github.com/meso-project/meso/internal/procstat"
)

// raiseNoFile raises this process's RLIMIT_NOFILE (and so the master's,
// which inherits it) to at least want: the agents' streams take one
// descriptor each in this process and one in the master. Raising the hard
// limit needs root (CAP_SYS_RESOURCE).
func raiseNoFile(want uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= want {
		return nil
	}
	hard := lim.Max
	if lim.Max < want {
		lim.Max = want
	}
	lim.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		lim.Max = hard
		return fmt.Errorf("raising RLIMIT_NOFILE to %d (the hard limit is %d): %w; this process and the master each hold "+
			"one connection per agent: raise `ulimit -Hn` to %d first (needs CAP_SYS_RESOURCE), or use fewer agents", want, lim.Max, err, want)
	}
	return nil
}

// masterProc is the `meso master` process under test; it keeps its port
// and --work_dir (its registry) across restarts.
type masterProc struct {
	bin, addr, workDir, logDir string
	extra, env                 []string
	starts                     int
	logPath                    string
	cmd                        *exec.Cmd
	exited                     chan struct{}
	http                       *http.Client
}

func newMasterProc(bin, work string, extra, env []string) (*masterProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return &masterProc{bin: bin, addr: "127.0.0.1:" + strconv.Itoa(port), workDir: filepath.Join(work, "master"),
		logDir: work, extra: extra, env: env,
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}}, nil
}

func (m *masterProc) start() error {
	m.starts++
	m.logPath = filepath.Join(m.logDir, fmt.Sprintf("master.%d.log", m.starts))
	f, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(m.addr)
	args := append([]string{"master", "--ip=127.0.0.1", "--port=" + port, "--work_dir=" + m.workDir,
		"--registry=replicated_log"}, m.extra...)
	cmd := exec.Command(m.bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), m.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	m.cmd, m.exited = cmd, make(chan struct{})
	exited := m.exited
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(exited)
	}()
	return nil
}

func (m *masterProc) kill() {
	if m.cmd == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	<-m.exited
	m.cmd = nil
	m.http.CloseIdleConnections()
}

func (m *masterProc) running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

func (m *masterProc) metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.addr+"/metrics/snapshot", nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics/snapshot: %s", resp.Status)
	}
	var out map[string]float64
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// waitElected waits until the master leads and has recovered its
// registry (meso reports master/elected 1 only then).
func (m *masterProc) waitElected(ctx context.Context) error {
	return poll(ctx, 2*time.Minute, 10*time.Millisecond, "the master to be elected", func() (bool, error) {
		if !m.running() {
			return false, fmt.Errorf("the master exited; see %s", m.logPath)
		}
		s, err := m.metrics(ctx)
		return err == nil && s["master/elected"] == 1, nil
	})
}

// waitMetric waits until the master's metric name is want.
func (m *masterProc) waitMetric(ctx context.Context, name string, want float64, timeout time.Duration) error {
	return poll(ctx, timeout, 20*time.Millisecond, fmt.Sprintf("%s = %v", name, want), func() (bool, error) {
		if !m.running() {
			return false, fmt.Errorf("the master exited; see %s", m.logPath)
		}
		s, err := m.metrics(ctx)
		return err == nil && s[name] == want, nil
	})
}

// memory is the master's VmRSS and VmHWM in bytes.
func (m *masterProc) memory() (rss, hwm int64, err error) {
	st, err := procstat.Read(m.cmd.Process.Pid)
	return st.RSS, st.PeakRSS, err
}

// record starts -cpuprofile and -trace of the master (through its
// --enable_pprof endpoints) when cfg.profilePhase is phase, for
// cfg.profileFor; the function it returns waits for them and says where
// they are.
func (m *masterProc) record(ctx context.Context, cfg config, phase string) func() error {
	if cfg.profilePhase != phase {
		return func() error { return nil }
	}
	type job struct{ kind, path, how string }
	var jobs []job
	if cfg.cpuProfile != "" {
		jobs = append(jobs, job{"profile", cfg.cpuProfile, "go tool pprof -top"})
	}
	if cfg.trace != "" {
		jobs = append(jobs, job{"trace", cfg.trace, "go tool trace"})
	}
	errs := make(chan error, len(jobs))
	for _, j := range jobs {
		go func() { errs <- m.pprof(ctx, j.kind, cfg.profileFor, j.path) }()
	}
	return func() error {
		for range jobs {
			if err := <-errs; err != nil {
				return fmt.Errorf("profiling the master: %w", err)
			}
		}
		for _, j := range jobs {
			fmt.Printf("%s: the master's %s of the first %v is in %s (%s %s)\n", phase, j.kind, cfg.profileFor, j.path, j.how, j.path)
		}
		return nil
	}
}

// pprof writes the master's /debug/pprof/<kind> of d to path.
func (m *masterProc) pprof(ctx context.Context, kind string, d time.Duration, path string) error {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", m.addr, kind, int(d.Seconds()+0.5))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpu is the CPU time the master process has used.
func (m *masterProc) cpu() time.Duration {
	st, _ := procstat.Read(m.cmd.Process.Pid)
	return st.CPU
}

// logTime returns the time of the last line of the master's log whose
// message is msg.
func (m *masterProc) logTime(msg string) (time.Time, bool) {
	ts := benchutil.LogTimes(m.logPath, msg)
	if len(ts) == 0 {
		return time.Time{}, false
	}
	return ts[len(ts)-1], true
}

// poll is benchutil.Poll.
var poll = benchutil.Poll
