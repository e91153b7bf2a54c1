// Package local runs a whole meso cluster in one process on loopback: one
// master and N agents, each on its own port, sharing a work directory. It is
// what `meso local` starts (Mesos's mesos-local) and what the integration
// tests use. Like cmd/meso it is a composition root: it picks the allocator
// and each agent's containerizer from the tables of internal/builtin.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/meso-project/meso/internal/agent"
	"github.com/meso-project/meso/internal/allocator"
	"github.com/meso-project/meso/internal/builtin"
	"github.com/meso-project/meso/internal/master"
	"github.com/meso-project/meso/pkg/tlsconfig"
)

// Config describes a local cluster. Master and Agent are templates: fields
// that identify a component (listener, work dir, master address) are filled
// in by Start.
type Config struct {
	Logger *slog.Logger
	// IP to listen on; default 127.0.0.1.
	IP string
	// Port of the master; 0 picks a free port. Agents always get free ports
	// unless AgentBasePort is set, then agent i listens on AgentBasePort+i.
	Port          int
	AgentBasePort int
	// WorkDir holds agent-<i> work directories; required.
	WorkDir   string
	NumAgents int
	// Allocator, when set, is used as is; otherwise AllocatorName picks a
	// factory from Allocators (default HierarchicalDRF) and AllocatorOptions
	// configure it.
	Allocator        allocator.Allocator
	AllocatorName    string
	AllocatorOptions allocator.Options
	Master           master.Config
	Agent            agent.Config
	// Containerizer configures every agent's containerizer (the agent
	// flags --isolation, --launcher, --cgroups_*, ...). With more than one
	// agent, agent i keeps its cgroups under <cgroups_root>/agent-<i>, so
	// that no agent takes another's containers for orphans.
	Containerizer builtin.Containerizer
	// TLS, when on, makes the master and every agent serve over it (and
	// the agents reach the master with it); it overrides Agent.TLS.
	TLS *tlsconfig.Config
}

// Cluster is a running local cluster.
type Cluster struct {
	// MasterAddr is "ip:port" of the master.
	MasterAddr string
	// AgentAddrs are "ip:port" of the agents, in start order.
	AgentAddrs []string
	// AgentWorkDirs are the agents' work directories, in start order.
	AgentWorkDirs []string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// Start starts the master and the agents and returns once they are all
// listening (agents register asynchronously). Stop the cluster with Stop.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.WorkDir == "" {
		return nil, errors.New("local: a work directory is required")
	}
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if cfg.NumAgents <= 0 {
		cfg.NumAgents = 1
	}
	if cfg.AllocatorName == "" {
		cfg.AllocatorName = "HierarchicalDRF"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	alloc := cfg.Allocator
	if alloc == nil {
		factory, ok := builtin.Allocators[cfg.AllocatorName]
		if !ok {
			return nil, fmt.Errorf("local: unknown allocator %q (known: HierarchicalDRF)", cfg.AllocatorName)
		}
		opts := cfg.AllocatorOptions
		if opts.AllocationInterval == 0 {
			opts.AllocationInterval = cfg.Master.AllocationInterval
		}
		var err error
		if alloc, err = factory(opts); err != nil {
			return nil, fmt.Errorf("local: creating allocator: %w", err)
		}
	}

	mln, err := net.Listen("tcp", net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, fmt.Errorf("local: master cannot listen: %w", err)
	}
	mcfg := cfg.Master
	mcfg.Logger = logger.With("component", "master")
	if mcfg.Weights == nil {
		mcfg.Weights = cfg.AllocatorOptions.Weights
	}
	mcfg.Allocator = alloc
	m, err := master.New(mcfg)
	if err != nil {
		mln.Close()
		return nil, fmt.Errorf("local: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	c := &Cluster{MasterAddr: mln.Addr().String(), cancel: cancel}
	mtls := cfg.TLS.Listen(mln)
	c.run(func() error { return m.Serve(ctx, mtls) })

	for i := range cfg.NumAgents {
		port := 0
		if cfg.AgentBasePort > 0 {
			port = cfg.AgentBasePort + i
		}
		aln, err := net.Listen("tcp", net.JoinHostPort(cfg.IP, strconv.Itoa(port)))
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("local: agent %d cannot listen: %w", i, err)
		}
		acfg := cfg.Agent
		acfg.Logger = logger.With("component", "agent", "agent_index", i)
		acfg.Master = c.MasterAddr
		if cfg.TLS != nil {
			acfg.TLS = cfg.TLS
		}
		acfg.WorkDir = filepath.Join(cfg.WorkDir, fmt.Sprintf("agent-%d", i))
		if acfg.FetcherCacheDir != "" && cfg.NumAgents > 1 {
			// Each agent clears its cache directory when it starts.
			acfg.FetcherCacheDir = filepath.Join(acfg.FetcherCacheDir, fmt.Sprintf("agent-%d", i))
		}
		acfg.CgroupsEnableCFS = acfg.CgroupsEnableCFS || cfg.Containerizer.CgroupsEnableCFS
		if err := os.MkdirAll(acfg.WorkDir, 0o755); err != nil {
			aln.Close()
			c.Stop()
			return nil, fmt.Errorf("local: %w", err)
		}
		cz := acfg.Containerizer
		if cz == nil {
			czcfg := cfg.Containerizer
			czcfg.Logger = acfg.Logger
			if czcfg.CgroupsRoot == "" {
				czcfg.CgroupsRoot = "mesos"
			}
			if cfg.NumAgents > 1 {
				czcfg.CgroupsRoot += fmt.Sprintf("/agent-%d", i)
			}
			if cz, err = builtin.NewContainerizer(ctx, czcfg); err != nil {
				aln.Close()
				c.Stop()
				return nil, fmt.Errorf("local: agent %d: %w", i, err)
			}
			acfg.Containerizer = cz
		}
		a, err := agent.New(acfg)
		if err != nil {
			aln.Close()
			_ = cz.Close()
			c.Stop()
			return nil, fmt.Errorf("local: agent %d: %w", i, err)
		}
		c.AgentAddrs = append(c.AgentAddrs, aln.Addr().String())
		c.AgentWorkDirs = append(c.AgentWorkDirs, acfg.WorkDir)
		owned := cfg.Agent.Containerizer == nil
		c.run(func() error {
			err := a.Serve(ctx, acfg.TLS.Listen(aln))
			if owned {
				err = errors.Join(err, cz.Close())
			}
			return err
		})
	}
	return c, nil
}

func (c *Cluster) run(f func() error) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			c.mu.Lock()
			c.errs = append(c.errs, err)
			c.mu.Unlock()
		}
	}()
}

// Stop stops every component and waits (up to 30 s) for them to finish.
// It returns the errors the components ended with, if any.
func (c *Cluster) Stop() error {
	c.cancel()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return errors.New("local: components did not stop within 30s")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(c.errs...)
}

// Wait blocks until every component has stopped (e.g. the context given to
// Start is done) and returns their errors.
func (c *Cluster) Wait() error {
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(c.errs...)
}
