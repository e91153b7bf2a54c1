package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/meso-project/meso/internal/flags"
	"github.com/meso-project/meso/internal/local"
)

func localCommand() *cobra.Command {
	var (
		mf                    masterFlags
		af                    agentFlags
		ip, workDir, logLevel string
		port, numAgents       int
		numSlaves             int
		lf                    logFlags
		an                    localAuthnFlags
	)
	return flagCommand("local", "Run a master and agents in one process (like mesos-local)",
		`Runs a whole cluster in one process on this machine: a master and --num_agents agents,
on loopback. It needs nothing else (no ZooKeeper). Takes the master's and the agent's flags.

Then, in another shell:
  meso execute --master=127.0.0.1:5050 --name=hello --command='echo hello from meso'`,
		false, func(fs *flag.FlagSet) runFunc {
			fs.StringVar(&ip, "ip", "127.0.0.1", "IP address the master and agents listen on")
			fs.IntVar(&port, "port", 5050, "port of the master (agents take free ports)")
			fs.StringVar(&workDir, "work_dir", filepath.Join(os.TempDir(), "meso", "local"), "directory for the agents' work directories")
			fs.IntVar(&numAgents, "num_agents", 1, "number of agents")
			fs.IntVar(&numSlaves, "num_slaves", 0, "old name of --num_agents")
			fs.StringVar(&logLevel, "logging_level", "INFO", "log level: INFO, WARNING, ERROR or DEBUG")
			lf.register(fs)
			mf.register(fs, false)
			af.register(fs, false)
			an.register(fs)
			return func(ctx context.Context, _ []string) error {
				if numSlaves > 0 {
					numAgents = numSlaves
				}
				// One process, one log: the master and every agent show it,
				// as mesos-local's do (glog names it after the binary).
				logger, level, logFile, closeLog, err := lf.logger(logLevel, "mesos-local")
				if err != nil {
					return err
				}
				defer closeLog()
				alloc, err := mf.allocator()
				if err != nil {
					return err
				}
				dump := flags.Dump(fs)
				acfg, err := af.config(logger, dump)
				if err != nil {
					return err
				}
				acfg.LogFile = logFile
				// One process, one level, as in mesos-local: SET_LOGGING_LEVEL on
				// the master or an agent changes what the whole cluster logs.
				acfg.LogLevel = level
				if err := os.MkdirAll(workDir, 0o755); err != nil {
					return fmt.Errorf("cannot create --work_dir: %w", err)
				}
				mf.workDir = workDir // the master's registry lives in <work_dir>/master
				if err := mf.validateHA(); err != nil {
					return err
				}
				if err := mf.authz.build(); err != nil {
					return err
				}
				acfg.Authorizer = mf.authz.built // one cluster, one --acls
				acfg.EnablePprof = mf.enablePprof
				realms, auth, err := an.resolve(logger, func(name string) bool {
					set := false
					fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
					return set
				})
				if err != nil {
					return err
				}
				acfg.Authenticators, acfg.Credential, acfg.ExecutorSecretKey = auth.realms, auth.credential, auth.jwtKey
				ha, err := mf.buildHA(ctx, logger, workDir)
				if err != nil {
					return err
				}
				defer ha.close()
				mcfg := mf.config(logger, nil, dump)
				mcfg.Registrar = ha.registrar
				mcfg.Authenticators = realms
				mcfg.LogLevel = level // SET_LOGGING_LEVEL changes what the cluster logs
				mcfg.LogFile = logFile
				tc, err := tlsFromEnv(logger)
				if err != nil {
					return err
				}
				c, err := local.Start(ctx, local.Config{
					TLS:           tc,
					Logger:        logger,
					IP:            ip,
					Port:          port,
					WorkDir:       workDir,
					NumAgents:     numAgents,
					Allocator:     alloc,
					Master:        mcfg,
					Agent:         acfg,
					Containerizer: af.containerizer(logger, acfg.ExecutorCommand[0]),
				})
				if err != nil {
					return fmt.Errorf("%w (is another cluster running? try --port)", err)
				}
				fmt.Printf(`meso local: master at %s%s with %d agent(s) %v
web UI: %s%s/
work directory: %s

Run a task from another shell:
  %s execute --master=%s --name=hello --command='echo hello from meso'

Press Ctrl-C to stop.
`, describeTLS(tc), c.MasterAddr, len(c.AgentAddrs), c.AgentAddrs, describeTLS(tc), c.MasterAddr, workDir, os.Args[0], c.MasterAddr)
				<-ctx.Done()
				fmt.Println("meso local: stopping")
				return c.Stop()
			}
		})
}
