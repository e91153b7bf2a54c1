// Command restart measures how fast a restarted agent takes its running
// tasks back: a master and an agent run as real `meso` processes on
// loopback (posix launcher), a checkpointing framework (pkg/scheduler)
// starts -tasks `sleep` tasks, then, -rounds times, the agent is killed
// with SIGKILL and started again on the same --work_dir and port. Each
// round prints the time from the restart to the agent re-registered with
// every executor re-subscribed (slave/registered = 1 and
// slave/executors_running = -tasks in its /metrics/snapshot), and the
// agent's own slave/recovery_time_secs (reading the checkpoints and
// adopting the containers).
//
// Usage (from the repository root):
//
//	go build -o bin/meso ./cmd/meso
//	go run ./bench/restart -meso=bin/meso -tasks=1000 -rounds=5
//
// MESO_BENCH_KEEP=1 keeps the work directory (agent logs) for a look.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/resources"
	"github.com/meso-project/meso/pkg/scheduler"
)

var errDone = errors.New("done")

func main() {
	bin := flag.String("meso", "bin/meso", "path to the meso binary")
	tasks := flag.Int("tasks", 1000, "running tasks on the agent")
	rounds := flag.Int("rounds", 5, "restarts")
	flag.Parse()
	abs, err := filepath.Abs(*bin)
	if err != nil {
		log.Fatal(err)
	}
	work, err := os.MkdirTemp("", "meso-bench-restart-")
	if err != nil {
		log.Fatal(err)
	}
	if os.Getenv("MESO_BENCH_KEEP") == "" {
		defer os.RemoveAll(work)
	}
	masterAddr := "127.0.0.1:" + strconv.Itoa(freePort())
	agentPort := strconv.Itoa(freePort())
	m := run(abs, filepath.Join(work, "master.log"), "master", "--ip=127.0.0.1",
		"--port="+masterAddr[len("127.0.0.1:"):], "--work_dir="+filepath.Join(work, "master"), "--allocation_interval=100ms")
	defer m.Process.Kill()
	agentArgs := []string{"agent", "--master=" + masterAddr, "--ip=127.0.0.1", "--port=" + agentPort,
		"--work_dir=" + filepath.Join(work, "agent"), "--launcher=posix", "--isolation=posix/cpu,posix/mem",
		"--resources=cpus:1000;mem:1000000;disk:10000;ports:[31000-32000]", "--registration_backoff_factor=10ms"}
	agent := run(abs, filepath.Join(work, "agent-0.log"), agentArgs...)
	metrics := "http://127.0.0.1:" + agentPort + "/metrics/snapshot"
	defer func() {
		// Kill the tasks the way an operator would.
		kill(agent)
		c := run(abs, filepath.Join(work, "agent-cleanup.log"), append(agentArgs, "--recover=cleanup")...)
		_ = c.Wait()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	if err := launch(ctx, masterAddr, *tasks); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d tasks running after %v\n", *tasks, time.Since(start).Round(time.Millisecond))
	waitFor(metrics, func(m map[string]float64) bool { return m["slave/status_updates_pending"] == 0 })

	var took []time.Duration
	for i := range *rounds {
		kill(agent)
		t0 := time.Now()
		logPath := filepath.Join(work, fmt.Sprintf("agent-%d.log", i+1))
		agent = run(abs, logPath, agentArgs...)
		var recovery float64
		waitFor(metrics, func(m map[string]float64) bool {
			recovery = m["slave/recovery_time_secs"]
			return m["slave/registered"] == 1 && m["slave/executors_running"] == float64(*tasks)
		})
		d := time.Since(t0)
		took = append(took, d)
		fmt.Printf("restart %d: re-registered with %d executors re-subscribed %v after the restart (recovery of the checkpoints and containers: %.3fs; %s)\n",
			i+1, *tasks, d.Round(time.Millisecond), recovery, logLine(logPath, "finished recovery"))
	}
	slices.Sort(took)
	fmt.Printf("restart with %d running tasks: median %v, min %v, max %v (%d rounds)\n", *tasks,
		took[len(took)/2].Round(time.Millisecond), took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), len(took))
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func run(bin, logPath string, args ...string) *exec.Cmd {
	f, err := os.Create(logPath)
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	return cmd
}

func kill(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// waitFor polls the agent's metrics until ok.
func waitFor(url string, ok func(map[string]float64) bool) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			var m map[string]float64
			err := json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			if err == nil && ok(m) {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	log.Fatalf("timed out waiting on %s", url)
}

// launch starts n checkpointed `sleep` tasks and returns once all run.
func launch(ctx context.Context, masterAddr string, n int) error {
	u := "root"
	if cur, err := osuser.Current(); err == nil {
		u = cur.Username
	}
	cli, err := scheduler.New(scheduler.Config{Master: masterAddr, Framework: &mesospb.FrameworkInfo{
		User: proto.String(u), Name: proto.String("bench-restart"), Checkpoint: proto.Bool(true),
		FailoverTimeout: proto.Float64(3600)}})
	if err != nil {
		return err
	}
	res, err := resources.Parse("cpus:0.01;mem:32", "*")
	if err != nil {
		return err
	}
	launched, running := false, map[string]bool{}
	err = cli.Run(ctx, func(ctx context.Context, ev *schedulerpb.Event) error {
		switch ev.GetType() {
		case schedulerpb.Event_OFFERS:
			for _, o := range ev.GetOffers().GetOffers() {
				if launched {
					_ = cli.Call(ctx, scheduler.Decline([]*mesospb.OfferID{o.GetId()}, scheduler.RefuseFor(3600)))
					continue
				}
				launched = true
				var infos []*mesospb.TaskInfo
				for i := range n {
					id := fmt.Sprintf("t%04d", i)
					infos = append(infos, &mesospb.TaskInfo{Name: proto.String(id),
						TaskId: &mesospb.TaskID{Value: proto.String(id)}, AgentId: o.GetAgentId(),
						Resources: withRole(res, o),
						Command:   &mesospb.CommandInfo{Value: proto.String("exec sleep 3600")}})
				}
				if err := cli.Call(ctx, scheduler.LaunchTasks(o, infos...)); err != nil {
					return err
				}
			}
		case schedulerpb.Event_UPDATE:
			st := ev.GetUpdate().GetStatus()
			if len(st.GetUuid()) > 0 {
				if err := cli.Call(ctx, scheduler.Acknowledge(st)); err != nil {
					return err
				}
			}
			switch st.GetState() {
			case mesospb.TaskState_TASK_STARTING:
			case mesospb.TaskState_TASK_RUNNING:
				running[st.GetTaskId().GetValue()] = true
				if len(running) == n {
					return errDone
				}
			default:
				return fmt.Errorf("task %s: %v: %s", st.GetTaskId().GetValue(), st.GetState(), st.GetMessage())
			}
		}
		return nil
	})
	if err != errDone {
		return fmt.Errorf("launching: %v (%d of %d running)", err, len(running), n)
	}
	// Leave the framework subscribed state behind: disconnecting is enough
	// (failover_timeout keeps its tasks).
	return nil
}

// withRole gives task resources the offer's allocation info when it has
// one (as frameworks must).
func withRole(res resources.Resources, o *mesospb.Offer) []*mesospb.Resource {
	if len(o.GetResources()) > 0 && o.GetResources()[0].GetAllocationInfo() != nil {
		return res.Allocate(o.GetResources()[0].GetAllocationInfo().GetRole())
	}
	return res
}

// logLine returns the first line of the log at path that holds what.
func logLine(path, what string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, what) {
			if i := strings.Index(l, "msg="); i >= 0 {
				return l[i:]
			}
			return l
		}
	}
	return ""
}
