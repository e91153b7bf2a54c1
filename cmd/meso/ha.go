package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

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
	registrar *registry.Registrar
	contender master.Contender
	detector  detector.Detector
	close     func()
}

// boltLockTimeout is how long a master waits for another master's lock on
// the same registry file before it gives up with an error that says so.
const boltLockTimeout = 5 * time.Second

// buildHA builds the registry store and registrar and, with --zk, the
// ZooKeeper session, contender and detector (Mesos's master/main.cpp
// order: registry storage, contender, detector).
func (f *masterFlags) buildHA(ctx context.Context, logger *slog.Logger, workDir string) (*haParts, error) {
	parts := &haParts{close: func() {}}
	var closers []func()
	fail := func(err error) (*haParts, error) {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		return nil, err
	}
	var store registry.Store
	var session *zookeeper.Session
	var zkURL *zookeeper.URL
	if f.zk != "" {
		u, err := zookeeper.ParseURL(f.zk)
		if err != nil {
			return fail(fmt.Errorf("Error parsing ZooKeeper URL: %w", err))
		}
		zkURL = u
		connectCtx, cancel := context.WithTimeout(ctx, f.zkSessionTimeout.Duration+10*time.Second)
		s, err := zookeeper.Connect(connectCtx, u, f.zkSessionTimeout.Duration, logger)
		cancel()
		if err != nil {
			return fail(fmt.Errorf("cannot connect to ZooKeeper at %s: %w (is ZooKeeper running? check --zk)", u.Redacted(), err))
		}
		session = s
		closers = append(closers, func() { _ = s.Close() })
	}
	switch f.registry {
	case "in_memory":
		store = registry.NewMemoryStore()
	default: // replicated_log (validateHA checked the value)
		if session != nil {
			s, err := registry.NewZKStore(session.Conn(), zkURL.Path, session.ACL())
			if err != nil {
				return fail(err)
			}
			store = s
		} else {
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
		closers = append(closers, func() { _ = store.Close() })
	}
	reg, err := registry.New(store, registry.Config{
		StoreTimeout:  f.registryStoreTimeout.Duration,
		FetchTimeout:  f.registryFetchTimeout.Duration,
		MaxAgentAge:   f.registryMaxAgentAge.Duration,
		MaxAgentCount: f.registryMaxAgentCount,
		GCInterval:    f.registryGCInterval.Duration,
		Strict:        f.registryStrict,
		Logger:        logger,
	})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { _ = reg.Close() })
	parts.registrar = reg
	if session != nil {
		parts.contender = contender.NewZooKeeper(session, zkURL.Path, logger)
		d, err := detector.NewZooKeeper(f.zk, detector.Options{SessionTimeout: f.zkSessionTimeout.Duration, Logger: logger})
		if err != nil {
			return fail(fmt.Errorf("Failed to create a master detector: %w", err))
		}
		closers = append(closers, func() { _ = d.Close() })
		parts.detector = d
	}
	parts.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	return parts, nil
}
