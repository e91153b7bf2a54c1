package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/internal/pb/registrypb"

	"github.com/meso-project/meso/internal/master"
	"github.com/meso-project/meso/internal/master/contender"
	"github.com/meso-project/meso/internal/registry"
	"github.com/meso-project/meso/pkg/detector"
	"github.com/meso-project/meso/pkg/zookeeper"
)

// haParts are what --registry and --zk choose for a master: where the
// registry lives, how the master contends for leadership and how a standby
// finds the leader. close releases them after the master stopped.
type haParts struct {
	registrar master.Registrar
	contender master.Contender
	detector  detector.Detector
	close     func()
}

// boltLockTimeout is how long a master waits for another master's lock on
// the same registry file before it gives up with an error that says so.
const boltLockTimeout = 5 * time.Second

// buildHA builds the registry and, with --zk, the ZooKeeper side: the
// candidacy (with the registry in ZooKeeper, on the same session) and the
// detector (Mesos's master/main.cpp order: registry storage, contender,
// detector).
func (f *masterFlags) buildHA(ctx context.Context, logger *slog.Logger, workDir string) (*haParts, error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (*haParts, error) {
		closeAll()
		return nil, err
	}
	regCfg := registry.Config{
		StoreTimeout:  f.registryStoreTimeout.Duration,
		FetchTimeout:  f.registryFetchTimeout.Duration,
		MaxAgentAge:   f.registryMaxAgentAge.Duration,
		MaxAgentCount: f.registryMaxAgentCount,
		GCInterval:    f.registryGCInterval.Duration,
		Strict:        f.registryStrict,
		Logger:        logger,
	}
	newRegistrar := func(store registry.Store) (*registry.Registrar, error) {
		reg, err := registry.New(store, regCfg)
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { _ = reg.Close(); _ = store.Close() })
		return reg, nil
	}
	parts := &haParts{}
	if f.zk != "" {
		u, err := zookeeper.ParseURL(f.zk)
		if err != nil {
			return fail(fmt.Errorf("Error parsing ZooKeeper URL: %w", err))
		}
		zh := &zkHA{url: u, timeout: f.zkSessionTimeout.Duration, log: logger, cfg: regCfg}
		if err := zh.connect(ctx); err != nil {
			return fail(err)
		}
		closers = append(closers, zh.close)
		parts.contender = zh
		if f.registry == "in_memory" {
			reg, err := newRegistrar(registry.NewMemoryStore())
			if err != nil {
				return fail(err)
			}
			parts.registrar = reg
		} else {
			parts.registrar = zh
		}
		d, err := detector.NewZooKeeper(f.zk, detector.Options{SessionTimeout: f.zkSessionTimeout.Duration, Logger: logger})
		if err != nil {
			return fail(fmt.Errorf("Failed to create a master detector: %w", err))
		}
		closers = append(closers, func() { _ = d.Close() })
		parts.detector = d
	} else {
		var store registry.Store = registry.NewMemoryStore()
		if f.registry != "in_memory" { // replicated_log (validateHA checked the value)
			dir := filepath.Join(workDir, "master")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fail(fmt.Errorf("Failed to create work directory '%s': %w", workDir, err))
			}
			s, err := registry.OpenBoltStore(filepath.Join(dir, registry.BoltFileName), boltLockTimeout)
			if err != nil {
				return fail(fmt.Errorf("cannot open the registry in %s: %w (is another master using this --work_dir?)", dir, err))
			}
			store = s
		}
		reg, err := newRegistrar(store)
		if err != nil {
			return fail(err)
		}
		parts.registrar = reg
	}
	parts.close = closeAll
	return parts, nil
}

// zkHA is a master's ZooKeeper side: its session, its candidacy and (with
// --registry=replicated_log) its registry under the --zk path.
//
// A standby whose candidacy ends — its session expired, e.g. while
// ZooKeeper was unreachable — contends again on a new session, as Mesos's
// Master::lostCandidacy does for a master that is not leading; only a
// leader's loss is final (the master exits). The registry is opened once
// this master is elected (Recover), on the session it won with, so that
// leadership and registry access share one session and end together.
type zkHA struct {
	url     *zookeeper.URL
	timeout time.Duration
	log     *slog.Logger
	cfg     registry.Config

	mu      sync.Mutex
	session *zookeeper.Session
	reg     atomic.Pointer[registry.Registrar]
	store   registry.Store
	// answered is when the last answered lease request was sent (Unix ns).
	answered atomic.Int64
}

var (
	_ master.Contender = (*zkHA)(nil)
	_ master.Lease     = (*zkHA)(nil)
	_ master.Registrar = (*zkHA)(nil)
)

// LeaseValid implements master.Lease: a request this master sent to
// ZooKeeper within two thirds of the session timeout has been answered,
// so ZooKeeper cannot have expired the session yet and no other master can
// have been elected. It counts from when the request was sent, not from
// when its answer was read: after a long pause (a frozen process) answers
// and watch events buffered before the pause must not renew the lease.
func (z *zkHA) LeaseValid() bool {
	return time.Since(time.Unix(0, z.answered.Load())) < z.timeout*2/3
}

// keepLease sends a small request (an exists on the --zk path) every
// quarter of the session timeout while this master leads, recording when
// each answered one was sent.
func (z *zkHA) keepLease(ctx context.Context, s *zookeeper.Session) {
	t := time.NewTicker(z.timeout / 4)
	defer t.Stop()
	for {
		sent := time.Now()
		if _, _, err := s.Conn().Exists(z.url.Path); err == nil {
			z.answered.Store(sent.UnixNano())
		}
		select {
		case <-ctx.Done():
			return
		case <-s.Expired():
			return
		case <-t.C:
		}
	}
}

// connect opens a session, retrying every zookeeper.RetryInterval until
// ctx ends (a master waits for ZooKeeper rather than give up).
func (z *zkHA) connect(ctx context.Context) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, z.timeout+10*time.Second)
		s, err := zookeeper.Connect(cctx, z.url, z.timeout, z.log)
		cancel()
		if err == nil {
			z.mu.Lock()
			old := z.session
			z.session = s
			z.mu.Unlock()
			if old != nil {
				_ = old.Close()
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cannot connect to ZooKeeper at %s: %w (is ZooKeeper running? check --zk)", z.url.Redacted(), err)
		}
		z.log.Warn("cannot connect to ZooKeeper; trying again", "zk", z.url.Redacted(), "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(zookeeper.RetryInterval):
		}
	}
}

func (z *zkHA) current() *zookeeper.Session {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.session
}

// Contend implements master.Contender.
func (z *zkHA) Contend(ctx context.Context, info *mesospb.MasterInfo) (<-chan struct{}, error) {
	for {
		s := z.current()
		// The lease starts now: this request is about to be answered by
		// the election itself.
		z.answered.Store(time.Now().UnixNano())
		lost, err := contender.NewZooKeeper(s, z.url.Path, z.log).Contend(ctx, info)
		if err == nil {
			go z.keepLease(ctx, s)
			return lost, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !errors.Is(err, contender.ErrLost) && !errors.Is(err, zookeeper.ErrSessionExpired) {
			return nil, err
		}
		z.log.Warn("lost the candidacy while standing by; contending again on a new ZooKeeper session", "err", err)
		if err := z.connect(ctx); err != nil {
			return nil, err
		}
	}
}

// Recover implements master.Registrar: it opens the registry in ZooKeeper
// on the session this master was elected with.
func (z *zkHA) Recover(ctx context.Context, info *mesospb.MasterInfo) (*registrypb.Registry, error) {
	s := z.current()
	store, err := registry.NewZKStore(s.Conn(), z.url.Path, s.ACL())
	if err != nil {
		return nil, err
	}
	reg, err := registry.New(store, z.cfg)
	if err != nil {
		return nil, err
	}
	z.mu.Lock()
	z.store = store
	z.mu.Unlock()
	z.reg.Store(reg)
	return reg.Recover(ctx, info)
}

// ApplyAll implements master.Registrar.
func (z *zkHA) ApplyAll(ctx context.Context, ops []registry.Operation) ([]registry.Outcome, error) {
	reg := z.reg.Load()
	if reg == nil {
		return nil, registry.ErrNotRecovered
	}
	return reg.ApplyAll(ctx, ops)
}

// Metrics are the registrar's (none before this master leads).
func (z *zkHA) Metrics() map[string]float64 {
	if reg := z.reg.Load(); reg != nil {
		return reg.Metrics()
	}
	return map[string]float64{}
}

// Registry is the registrar's last durable registry.
func (z *zkHA) Registry() *registrypb.Registry {
	if reg := z.reg.Load(); reg != nil {
		return reg.Registry()
	}
	return &registrypb.Registry{}
}

func (z *zkHA) close() {
	if reg := z.reg.Load(); reg != nil {
		_ = reg.Close()
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.store != nil {
		_ = z.store.Close()
	}
	if z.session != nil {
		_ = z.session.Close()
	}
}
