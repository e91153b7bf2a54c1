//go:build linux

package master

// Data-driven scenario tests of the master core, in the style of
// etcd-io/raft's and cockroachdb/datadriven's testdata files. Each file in
// testdata/scenarios/*.txt is a sequence of blocks
//
//	command key=value flag ...
//	----
//	expected output (one line per event; nothing for no output)
//
// separated by blank lines; lines starting with # are comments. A line
// "skip: <reason>" outside a block skips the whole file (a scenario that
// pins the correct Mesos behaviour where the master is known to be wrong);
// -noskip runs it anyway. -rewrite rewrites the expected outputs from what
// the master does (review the diff before committing), keeping comments,
// and leaves skipped files alone.
//
// The harness (core_test.go) drives *state directly, with the real
// HierarchicalDRF allocator and a real in-memory registry. Commands:
//
//	master-start [weights=r1:2,r2:1]     the first master (m1), elected, registry recovered
//	master-failover                      the leader dies; m<n+1> recovers the registry;
//	                                     every stream is lost
//	agent-register name=a1 resources=cpus:4;mem:4096
//	                                     REGISTER from slave(1)@10.0.0.<n>:5051, hostname a1
//	agent-reregister name=a1             REREGISTER with the agent's ID, frameworks and tasks
//	agent-disconnect name=a1 [restart]   the agent's stream breaks; with restart, the agent
//	                                     process restarts and keeps only the tasks of
//	                                     checkpointing frameworks
//	agent-partition name=a1              the agent stops answering PINGs (agent-heal: again)
//	framework-subscribe name=f1 [roles=r1[,r2]] [multi-role] [partition-aware] [checkpoint]
//	                                     SUBSCRIBE; a known framework re-subscribes with its ID
//	                                     (and its previous FrameworkInfo unless roles= is given)
//	framework-disconnect name=f1         the scheduler's stream ends
//	allocate                             one allocation cycle; prints each OFFER
//	launch framework=f1 offer=O0 task=t1 resources=cpus:1;mem:128 [task=... resources=...] [refuse=S]
//	                                     [executor=e1 executor-resources=cpus:0.1;mem:32]
//	decline framework=f1 offer=O0 [refuse=S]
//	status-update agent=a1 task=t1 state=TASK_RUNNING
//	executor-exited agent=a1 framework=f1 executor=e1 [status=N]
//	acknowledge framework=f1 task=t1     acknowledges the task's latest update
//	reconcile framework=f1 [task=t1 [agent=a1]]
//	kill framework=f1 task=t1
//	teardown framework=f1
//	ping [rounds=N]                      N rounds of the ping timer, AgentPingTimeout (15s) apart
//	tick 5s                              advance the clock
//	recovered-timeout                    the AgentReregisterTimeout after recovery fires
//	registry-gc                          the registry GC timer fires (RegistryMaxAgentAge 2 weeks)
//	state                                books of the master, /state's used and offered
//	                                     resources and the allocator's, DRF shares
//
// Each command prints its own result (an error: "error: <kind>: <message>")
// followed by the events every agent and scheduler stream received, agents
// first, then frameworks, each in order of creation ("a1 <- RUN_TASK ...").
// HEARTBEATs and PINGs are not printed (the agent models answer PINGs).
// Offer IDs are printed without the master ID ("O3").

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/schedulerpb"
	"github.com/meso-project/meso/pkg/resources"
)

var (
	scenarioRewrite = flag.Bool("rewrite", false, "rewrite the expected outputs of testdata/scenarios/*.txt")
	scenarioNoSkip  = flag.Bool("noskip", false, "run the scenarios marked skip: too")
)

func TestMasterScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScenarioFile(t, file)
		})
	}
}

// scenarioBlock is one command of a file and where its expected output
// sits (lines [outStart, outEnd) of the file).
type scenarioBlock struct {
	line             int // 1-based line of the command
	cmd              string
	want             []string
	outStart, outEnd int
}

type scenarioFile struct {
	lines  []string
	blocks []scenarioBlock
	skip   string
}

func parseScenario(t *testing.T, name, text string) *scenarioFile {
	t.Helper()
	sf := &scenarioFile{lines: strings.Split(strings.TrimRight(text, "\n"), "\n")}
	lines := sf.lines
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
			continue
		case strings.HasPrefix(l, "skip:"):
			sf.skip = strings.TrimSpace(strings.TrimPrefix(l, "skip:"))
			continue
		}
		b := scenarioBlock{line: i + 1, cmd: l}
		i++
		if i >= len(lines) || strings.TrimSpace(lines[i]) != "----" {
			t.Fatalf("%s:%d: want ---- after %q", name, b.line, l)
		}
		b.outStart = i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			b.want = append(b.want, lines[i])
		}
		b.outEnd = i
		sf.blocks = append(sf.blocks, b)
	}
	return sf
}

func runScenarioFile(t *testing.T, file string) {
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sf := parseScenario(t, file, string(text))
	if sf.skip != "" && !*scenarioNoSkip {
		t.Skip(sf.skip)
	}
	h := newCoreHarness(t)
	got := make([][]string, len(sf.blocks))
	for i, b := range sf.blocks {
		out := runScenarioCommand(t, h, file, b)
		if out != "" {
			got[i] = strings.Split(out, "\n")
		}
		if *scenarioRewrite {
			continue
		}
		if !slices.Equal(b.want, got[i]) {
			t.Fatalf("%s:%d: %s\noutput differs (-want +got):\n%s", file, b.line, b.cmd, lineDiff(b.want, got[i]))
		}
	}
	if *scenarioRewrite && sf.skip == "" {
		var out []string
		prev := 0
		for i, b := range sf.blocks {
			out = append(out, sf.lines[prev:b.outStart]...)
			out = append(out, got[i]...)
			prev = b.outEnd
		}
		out = append(out, sf.lines[prev:]...)
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// lineDiff renders a line diff of want and got (longest common
// subsequence): "  " common, "- " only wanted, "+ " only got.
func lineDiff(want, got []string) string {
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j]:
			b.WriteString("  " + want[i] + "\n")
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			b.WriteString("+ " + got[j] + "\n")
			j++
		default:
			b.WriteString("- " + want[i] + "\n")
			i++
		}
	}
	return b.String()
}

// scenarioArgs are a command's arguments: key=value pairs in order
// (repeatable) and bare words. Every argument must be used.
type scenarioArgs struct {
	t     *testing.T
	where string
	kv    [][2]string
	used  []bool
}

func parseArgs(t *testing.T, where string, fields []string) *scenarioArgs {
	a := &scenarioArgs{t: t, where: where}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		a.kv = append(a.kv, [2]string{k, v})
	}
	a.used = make([]bool, len(a.kv))
	return a
}

// get returns the first value of key, or def when absent.
func (a *scenarioArgs) get(key, def string) string {
	for i, kv := range a.kv {
		if kv[0] == key {
			a.used[i] = true
			return kv[1]
		}
	}
	return def
}

func (a *scenarioArgs) must(key string) string {
	a.t.Helper()
	for i, kv := range a.kv {
		if kv[0] == key {
			a.used[i] = true
			return kv[1]
		}
	}
	a.t.Fatalf("%s: missing %s=", a.where, key)
	return ""
}

// all returns every value of key, in order.
func (a *scenarioArgs) all(key string) []string {
	var out []string
	for i, kv := range a.kv {
		if kv[0] == key {
			a.used[i] = true
			out = append(out, kv[1])
		}
	}
	return out
}

func (a *scenarioArgs) flag(key string) bool {
	for i, kv := range a.kv {
		if kv[0] == key && kv[1] == "" {
			a.used[i] = true
			return true
		}
	}
	return false
}

// positional returns the i-th bare word.
func (a *scenarioArgs) positional(i int) string {
	n := 0
	for j, kv := range a.kv {
		if kv[1] == "" && !strings.Contains(kv[0], "=") {
			if n == i {
				a.used[j] = true
				return kv[0]
			}
			n++
		}
	}
	return ""
}

func (a *scenarioArgs) done() {
	a.t.Helper()
	for i, u := range a.used {
		if !u {
			a.t.Fatalf("%s: unknown argument %s=%s", a.where, a.kv[i][0], a.kv[i][1])
		}
	}
}

func runScenarioCommand(t *testing.T, h *coreHarness, file string, b scenarioBlock) string {
	t.Helper()
	fields := strings.Fields(b.cmd)
	where := fmt.Sprintf("%s:%d", file, b.line)
	args := parseArgs(t, where, fields[1:])
	if fields[0] != "master-start" && h.cur == nil {
		t.Fatalf("%s: the first command must be master-start", where)
	}
	agent := func(key string) *coreAgent {
		name := args.must(key)
		a := h.agents[name]
		if a == nil {
			t.Fatalf("%s: unknown agent %s", where, name)
		}
		return a
	}
	framework := func() *coreFramework {
		name := args.must("framework")
		f := h.frameworks[name]
		if f == nil {
			t.Fatalf("%s: unknown framework %s", where, name)
		}
		return f
	}
	refuse := func() *mesospb.Filters {
		s := args.get("refuse", "")
		if s == "" {
			return nil
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s: refuse=%s: %v", where, s, err)
		}
		return &mesospb.Filters{RefuseSeconds: proto.Float64(v)}
	}
	offerIDs := func() []*mesospb.OfferID {
		var ids []*mesospb.OfferID
		for _, ref := range strings.Split(args.must("offer"), ",") {
			ids = append(ids, &mesospb.OfferID{Value: proto.String(h.offerID(ref))})
		}
		return ids
	}

	var lines []string
	switch fields[0] {
	case "master-start":
		if h.cur != nil {
			t.Fatalf("%s: the master is already started", where)
		}
		if w := args.get("weights", ""); w != "" {
			for _, rw := range strings.Split(w, ",") {
				role, v, _ := strings.Cut(rw, ":")
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("%s: weights: %v", where, err)
				}
				h.weights[role] = f
			}
		}
		args.done()
		lines = append(lines, h.startMaster())

	case "master-failover":
		args.done()
		lines = append(lines, h.failover())

	case "agent-register":
		name, res := args.must("name"), args.must("resources")
		args.done()
		out, err := h.registerAgent(name, res)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		lines = append(lines, out...)

	case "agent-reregister":
		a := agent("name")
		args.done()
		lines = append(lines, h.reregisterAgent(a)...)

	case "agent-disconnect":
		a := agent("name")
		restart := args.flag("restart")
		args.done()
		h.disconnectAgent(a)
		if restart {
			// The agent process restarts and recovers its checkpoint: the
			// tasks of frameworks that do not checkpoint are gone.
			a.tasks = slices.DeleteFunc(a.tasks, func(t *coreTask) bool {
				return !a.frameworks[t.frameworkID].GetCheckpoint()
			})
			for fid, fi := range a.frameworks {
				if !fi.GetCheckpoint() {
					delete(a.frameworks, fid)
				}
			}
		}

	case "agent-partition", "agent-heal":
		a := agent("name")
		args.done()
		a.responsive = fields[0] == "agent-heal"

	case "framework-subscribe":
		name := args.must("name")
		var info *mesospb.FrameworkInfo
		if roles := args.get("roles", ""); roles != "" || h.frameworks[name] == nil {
			info = &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String(name)}
			rs := strings.Split(roles, ",")
			if roles == "" {
				rs = []string{"*"}
			}
			if args.flag("multi-role") || len(rs) > 1 {
				info.Roles = rs
				info.Capabilities = append(info.Capabilities, &mesospb.FrameworkInfo_Capability{
					Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum()})
			} else {
				info.Role = proto.String(rs[0])
			}
			if args.flag("partition-aware") {
				info.Capabilities = append(info.Capabilities, &mesospb.FrameworkInfo_Capability{
					Type: mesospb.FrameworkInfo_Capability_PARTITION_AWARE.Enum()})
			}
			if args.flag("checkpoint") {
				info.Checkpoint = proto.Bool(true)
			}
		}
		args.done()
		lines = append(lines, h.subscribe(name, info)...)

	case "framework-disconnect":
		name := args.must("name")
		args.done()
		f := h.frameworks[name]
		if f == nil {
			t.Fatalf("%s: unknown framework %s", where, name)
		}
		h.disconnectScheduler(f)

	case "allocate":
		args.done()
		h.cur.st.allocate()

	case "launch":
		f := framework()
		ids := offerIDs()
		taskIDs, res := args.all("task"), args.all("resources")
		filters := refuse()
		var executor *mesospb.ExecutorInfo
		if eid := args.get("executor", ""); eid != "" {
			rs, err := resources.Parse(args.must("executor-resources"), "*")
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			executor = &mesospb.ExecutorInfo{
				ExecutorId: &mesospb.ExecutorID{Value: proto.String(eid)},
				Command:    &mesospb.CommandInfo{Value: proto.String("executor")},
				Resources:  rs,
			}
		}
		args.done()
		if len(taskIDs) != len(res) {
			t.Fatalf("%s: want one resources= per task=", where)
		}
		var agentID *mesospb.AgentID
		if o := f.offers[ids[0].GetValue()]; o != nil {
			agentID = o.AgentId
		}
		var tasks []*mesospb.TaskInfo
		for i, id := range taskIDs {
			rs, err := resources.Parse(res[i], "*")
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			ti := &mesospb.TaskInfo{
				Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)}, AgentId: agentID,
				Resources: rs,
			}
			if executor != nil {
				ti.Executor = proto.Clone(executor).(*mesospb.ExecutorInfo)
			} else {
				ti.Command = &mesospb.CommandInfo{Value: proto.String("sleep 1000")}
			}
			tasks = append(tasks, ti)
		}
		lines = append(lines, h.call(f, &schedulerpb.Call{
			Type: schedulerpb.Call_ACCEPT.Enum(),
			Accept: &schedulerpb.Call_Accept{
				OfferIds: ids,
				Operations: []*mesospb.Offer_Operation{{Type: mesospb.Offer_Operation_LAUNCH.Enum(),
					Launch: &mesospb.Offer_Operation_Launch{TaskInfos: tasks}}},
				Filters: filters,
			},
		})...)

	case "decline":
		f := framework()
		ids := offerIDs()
		filters := refuse()
		args.done()
		lines = append(lines, h.call(f, &schedulerpb.Call{
			Type:    schedulerpb.Call_DECLINE.Enum(),
			Decline: &schedulerpb.Call_Decline{OfferIds: ids, Filters: filters},
		})...)

	case "status-update":
		a := agent("agent")
		task := args.must("task")
		name := args.must("state")
		args.done()
		v, ok := mesospb.TaskState_value[name]
		if !ok {
			t.Fatalf("%s: unknown task state %s", where, name)
		}
		lines = append(lines, h.statusUpdate(a, task, mesospb.TaskState(v))...)

	case "executor-exited":
		a := agent("agent")
		f := framework()
		eid := args.must("executor")
		status, err := strconv.Atoi(args.get("status", "0"))
		if err != nil {
			t.Fatalf("%s: status: %v", where, err)
		}
		args.done()
		lines = append(lines, h.executorExited(a, f, eid, int32(status))...)

	case "acknowledge":
		f := framework()
		task := args.must("task")
		args.done()
		st := f.updates[task]
		if st == nil || len(st.GetUuid()) == 0 {
			t.Fatalf("%s: %s has no acknowledgeable update for %s", where, f.name, task)
		}
		lines = append(lines, h.call(f, &schedulerpb.Call{
			Type: schedulerpb.Call_ACKNOWLEDGE.Enum(),
			Acknowledge: &schedulerpb.Call_Acknowledge{AgentId: st.AgentId, TaskId: st.TaskId,
				Uuid: st.GetUuid()},
		})...)

	case "reconcile":
		f := framework()
		rec := &schedulerpb.Call_Reconcile{}
		if task := args.get("task", ""); task != "" {
			rt := &schedulerpb.Call_Reconcile_Task{TaskId: &mesospb.TaskID{Value: proto.String(task)}}
			if name := args.get("agent", ""); name != "" {
				a := h.agents[name]
				if a == nil {
					t.Fatalf("%s: unknown agent %s", where, name)
				}
				rt.AgentId = &mesospb.AgentID{Value: proto.String(a.id)}
			}
			rec.Tasks = append(rec.Tasks, rt)
		}
		args.done()
		lines = append(lines, h.call(f, &schedulerpb.Call{Type: schedulerpb.Call_RECONCILE.Enum(), Reconcile: rec})...)

	case "kill":
		f := framework()
		task := args.must("task")
		args.done()
		lines = append(lines, h.call(f, &schedulerpb.Call{Type: schedulerpb.Call_KILL.Enum(),
			Kill: &schedulerpb.Call_Kill{TaskId: &mesospb.TaskID{Value: proto.String(task)}}})...)

	case "teardown":
		f := framework()
		args.done()
		lines = append(lines, h.call(f, &schedulerpb.Call{Type: schedulerpb.Call_TEARDOWN.Enum()})...)

	case "ping":
		rounds, err := strconv.Atoi(args.get("rounds", "1"))
		if err != nil {
			t.Fatalf("%s: rounds: %v", where, err)
		}
		args.done()
		for range rounds {
			h.now = h.now.Add(h.cur.m.cfg.AgentPingTimeout)
			h.cur.st.pingAgents()
			if out := h.finish(nil); out != "" {
				lines = append(lines, strings.Split(out, "\n")...)
			}
		}

	case "tick":
		d, err := time.ParseDuration(args.positional(0))
		if err != nil {
			t.Fatalf("%s: tick: %v", where, err)
		}
		args.done()
		h.now = h.now.Add(d)

	case "recovered-timeout":
		args.done()
		h.cur.st.recoveredAgentsTimeout()

	case "registry-gc":
		args.done()
		h.cur.st.pruneRegistry()

	case "state":
		args.done()
		lines = append(lines, h.summary()...)

	default:
		t.Fatalf("%s: unknown command %q", where, fields[0])
	}
	return h.finish(lines)
}
