package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/masterpb"
	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/pkg/codec"
	"github.com/meso-project/meso/pkg/operator"
	"github.com/meso-project/meso/pkg/resources"
	"github.com/meso-project/meso/pkg/taskstate"
)

// Ops runs the operator verbs (meso cluster, meso task list, ...) against
// one cluster, writing tables for people or, with JSON, JSON for scripts.
type Ops struct {
	Client *operator.Client
	Out    io.Writer
	// Err receives diagnostics (meso task exec's stderr, too).
	Err  io.Writer
	JSON bool
	// Now is the clock for relative times (tests fix it); nil: time.Now.
	Now func() time.Time
}

// Explain turns an error of pkg/operator into one that says what to do
// next.
func (o *Ops) Explain(err error) error {
	if err == nil {
		return nil
	}
	master := o.Client.Master()
	if errors.Is(err, operator.ErrUnreachable) {
		return fmt.Errorf("%w\nIs the master running at %s? Pass --master=host:port (or zk://host:port/path), or set MESOS_MASTER", err, master)
	}
	var se *operator.StatusError
	if errors.As(err, &se) {
		switch se.Code {
		case http.StatusUnauthorized:
			return fmt.Errorf("%w\nThe cluster requires authentication: pass --principal and --secret", err)
		case http.StatusForbidden:
			return fmt.Errorf("%w\nThe principal may not do this: ask the cluster's operator to grant it in --acls", err)
		case http.StatusNotImplemented:
			return fmt.Errorf("%w\nThis master does not implement %s", err, se.Op)
		case http.StatusServiceUnavailable:
			return fmt.Errorf("%w\nThe master is not ready (no leader elected, or recovering): try again shortly", err)
		}
	}
	return err
}

// writeJSON prints v as indented JSON: proto messages in Mesos's JSON
// dialect, anything else with encoding/json.
func (o *Ops) writeJSON(v any) error {
	var b []byte
	var err error
	if m, ok := v.(proto.Message); ok {
		b, err = codec.Marshal(codec.JSON, m)
		if err == nil {
			var raw json.RawMessage = b
			b, err = json.MarshalIndent(raw, "", "  ")
		}
	} else {
		b, err = json.MarshalIndent(v, "", "  ")
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.Out, "%s\n", b)
	return err
}

func (o *Ops) table() *tabwriter.Writer { return tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0) }

func (o *Ops) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Quantities sums the scalar resources by name.
type Quantities map[string]float64

func sumScalars(rs ...[]*mesospb.Resource) Quantities {
	q := Quantities{}
	for _, list := range rs {
		for _, r := range list {
			if r.GetType() == mesospb.Value_SCALAR {
				q[r.GetName()] += r.GetScalar().GetValue()
			}
		}
	}
	return q
}

func reservedOf(rs []*mesospb.Resource) []*mesospb.Resource {
	var out []*mesospb.Resource
	for _, r := range rs {
		if len(r.GetReservations()) > 0 || (r.Role != nil && r.GetRole() != "*") {
			out = append(out, r)
		}
	}
	return out
}

// String is "cpus:2 disk:100 mem:1024" (names sorted, gpus only when some).
func (q Quantities) String() string {
	names := make([]string, 0, len(q))
	for n := range q {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, n+":"+resources.FormatScalar(q[n]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// ClusterSummary is `meso cluster --json`.
type ClusterSummary struct {
	Leader     string         `json:"leader"`
	MasterID   string         `json:"master_id"`
	Version    string         `json:"version"`
	Agents     int            `json:"agents"`
	Active     int            `json:"active_agents"`
	Frameworks int            `json:"frameworks"`
	Tasks      map[string]int `json:"tasks"`
	Total      Quantities     `json:"total"`
	Used       Quantities     `json:"used"`
	Offered    Quantities     `json:"offered"`
	Reserved   Quantities     `json:"reserved"`
}

// Cluster prints a summary of the cluster.
func (o *Ops) Cluster(ctx context.Context) error {
	m, err := o.Client.GetMaster(ctx)
	if err != nil {
		return o.Explain(err)
	}
	st, err := o.Client.GetState(ctx)
	if err != nil {
		return o.Explain(err)
	}
	leader, _ := o.Client.Leader(ctx)
	s := ClusterSummary{Leader: strings.TrimPrefix(strings.TrimPrefix(leader, "http://"), "https://"),
		MasterID: m.GetMasterInfo().GetId(), Version: m.GetMasterInfo().GetVersion(), Tasks: map[string]int{},
		Total: Quantities{}, Used: Quantities{}, Offered: Quantities{}, Reserved: Quantities{}}
	if v, err := o.Client.GetVersion(ctx); err == nil && v.GetVersionInfo().GetVersion() != "" {
		s.Version = v.GetVersionInfo().GetVersion()
	}
	var total, used, offered, res [][]*mesospb.Resource
	for _, a := range st.GetGetAgents().GetAgents() {
		s.Agents++
		if a.GetActive() {
			s.Active++
		}
		total = append(total, a.GetTotalResources())
		used = append(used, a.GetAllocatedResources())
		offered = append(offered, a.GetOfferedResources())
		res = append(res, reservedOf(a.GetTotalResources()))
	}
	s.Total, s.Used, s.Offered, s.Reserved = sumScalars(total...), sumScalars(used...), sumScalars(offered...), sumScalars(res...)
	s.Frameworks = len(st.GetGetFrameworks().GetFrameworks())
	ts := st.GetGetTasks()
	for _, list := range [][]*mesospb.Task{ts.GetPendingTasks(), ts.GetTasks(), ts.GetUnreachableTasks(), ts.GetCompletedTasks()} {
		for _, t := range list {
			s.Tasks[t.GetState().String()]++
		}
	}
	if o.JSON {
		return o.writeJSON(s)
	}
	tw := o.table()
	fmt.Fprintf(tw, "Leader:\t%s (%s)\n", s.Leader, s.MasterID)
	fmt.Fprintf(tw, "Version:\t%s\n", s.Version)
	fmt.Fprintf(tw, "Agents:\t%d (%d active)\n", s.Agents, s.Active)
	fmt.Fprintf(tw, "Frameworks:\t%d\n", s.Frameworks)
	states := make([]string, 0, len(s.Tasks))
	for k, v := range s.Tasks {
		states = append(states, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(states)
	if len(states) == 0 {
		states = []string{"none"}
	}
	fmt.Fprintf(tw, "Tasks:\t%s\n", strings.Join(states, " "))
	fmt.Fprintf(tw, "Resources:\t\n")
	fmt.Fprintf(tw, "  total\t%s\n", s.Total)
	fmt.Fprintf(tw, "  used\t%s\n", s.Used)
	fmt.Fprintf(tw, "  offered\t%s\n", s.Offered)
	fmt.Fprintf(tw, "  reserved\t%s\n", s.Reserved)
	return tw.Flush()
}

// AgentList prints the agents.
func (o *Ops) AgentList(ctx context.Context) error {
	r, err := o.Client.GetAgents(ctx)
	if err != nil {
		return o.Explain(err)
	}
	if o.JSON {
		return o.writeJSON(r)
	}
	tw := o.table()
	fmt.Fprintln(tw, "ID\tHOSTNAME\tADDRESS\tSTATE\tTOTAL\tUSED\tOFFERED")
	for _, a := range r.GetAgents() {
		state := "active"
		switch {
		case a.GetDrainInfo() != nil:
			state = strings.ToLower(strings.TrimPrefix(a.GetDrainInfo().GetState().String(), ""))
		case a.GetDeactivated():
			state = "deactivated"
		case !a.GetActive():
			state = "disconnected"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.GetAgentInfo().GetId().GetValue(), a.GetAgentInfo().GetHostname(),
			operator.AgentAddress(a), state, sumScalars(a.GetTotalResources()), sumScalars(a.GetAllocatedResources()),
			sumScalars(a.GetOfferedResources()))
	}
	return tw.Flush()
}

// FrameworkList prints the frameworks (with completed ones when all).
func (o *Ops) FrameworkList(ctx context.Context, all bool) error {
	r, err := o.Client.GetFrameworks(ctx)
	if err != nil {
		return o.Explain(err)
	}
	if !all {
		r = &masterpb.Response_GetFrameworks{Frameworks: r.GetFrameworks()}
	}
	if o.JSON {
		return o.writeJSON(r)
	}
	tw := o.table()
	fmt.Fprintln(tw, "ID\tNAME\tROLES\tSTATE\tUSED\tOFFERED")
	row := func(f *masterpb.Response_GetFrameworks_Framework, state string) {
		info := f.GetFrameworkInfo()
		roles := info.GetRoles()
		if len(roles) == 0 && info.Role != nil {
			roles = []string{info.GetRole()}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", info.GetId().GetValue(), info.GetName(), strings.Join(roles, ","),
			state, sumScalars(f.GetAllocatedResources()), sumScalars(f.GetOfferedResources()))
	}
	for _, f := range r.GetFrameworks() {
		state := "active"
		switch {
		case !f.GetConnected():
			state = "disconnected"
		case !f.GetActive():
			state = "inactive"
		}
		row(f, state)
	}
	for _, f := range r.GetCompletedFrameworks() {
		row(f, "completed")
	}
	return tw.Flush()
}

// tasks returns the master's tasks: pending, running and unreachable, and
// with all the completed ones too.
func (o *Ops) tasks(ctx context.Context, all bool) ([]*mesospb.Task, error) {
	r, err := o.Client.GetTasks(ctx)
	if err != nil {
		return nil, o.Explain(err)
	}
	out := append(append(append([]*mesospb.Task(nil), r.GetPendingTasks()...), r.GetTasks()...), r.GetUnreachableTasks()...)
	if all {
		out = append(out, r.GetCompletedTasks()...)
	}
	return out, nil
}

// TaskList prints the tasks (completed ones too with all).
func (o *Ops) TaskList(ctx context.Context, all bool) error {
	ts, err := o.tasks(ctx, all)
	if err != nil {
		return err
	}
	if o.JSON {
		return o.writeJSON(&masterpb.Response_GetTasks{Tasks: ts})
	}
	tw := o.table()
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tFRAMEWORK\tAGENT\tRESOURCES")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.GetTaskId().GetValue(), t.GetName(), t.GetState(),
			t.GetFrameworkId().GetValue(), t.GetAgentId().GetValue(), sumScalars(t.GetResources()))
	}
	return tw.Flush()
}

// findTask finds a task by ID or, failing that, by name; among several,
// a running one, else the last completed.
func (o *Ops) findTask(ctx context.Context, idOrName string) (*mesospb.Task, error) {
	ts, err := o.tasks(ctx, true)
	if err != nil {
		return nil, err
	}
	pick := func(match func(*mesospb.Task) bool) *mesospb.Task {
		var found *mesospb.Task
		for _, t := range ts {
			if match(t) && (found == nil || !taskstate.IsTerminal(found.GetState()) || taskstate.IsTerminal(t.GetState())) {
				if found == nil || taskstate.IsTerminal(found.GetState()) {
					found = t
				}
			}
		}
		return found
	}
	if t := pick(func(t *mesospb.Task) bool { return t.GetTaskId().GetValue() == idOrName }); t != nil {
		return t, nil
	}
	if t := pick(func(t *mesospb.Task) bool { return t.GetName() == idOrName }); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("no task with ID or name %q (see 'meso task list --all')", idOrName)
}

// agentOf returns the HTTP address of the task's agent.
func (o *Ops) agentOf(ctx context.Context, t *mesospb.Task) (string, error) {
	r, err := o.Client.GetAgents(ctx)
	if err != nil {
		return "", o.Explain(err)
	}
	for _, a := range r.GetAgents() {
		if a.GetAgentInfo().GetId().GetValue() == t.GetAgentId().GetValue() {
			return operator.AgentAddress(a), nil
		}
	}
	return "", fmt.Errorf("task %s ran on agent %s, which the master no longer knows (removed or unreachable)",
		t.GetTaskId().GetValue(), t.GetAgentId().GetValue())
}

// TaskLogs prints a task's stdout (stderr with stderr) from its sandbox;
// with follow it keeps printing what is appended until the task ends (and
// its output is read) or ctx ends. poll is the follow interval (0: 1s).
func (o *Ops) TaskLogs(ctx context.Context, task string, stderr, follow bool, poll time.Duration) error {
	t, err := o.findTask(ctx, task)
	if err != nil {
		return err
	}
	if t.GetAgentId().GetValue() == "" {
		return fmt.Errorf("task %s has no agent yet (%s): no logs", t.GetTaskId().GetValue(), t.GetState())
	}
	agent, err := o.agentOf(ctx, t)
	if err != nil {
		return err
	}
	file := "stdout"
	if stderr {
		file = "stderr"
	}
	path := operator.SandboxPath(t) + "/" + file
	if poll == 0 {
		poll = time.Second
	}
	var offset uint64
	for {
		data, _, err := o.Client.ReadFile(ctx, agent, path, offset, 0)
		if err != nil && follow && ctx.Err() != nil {
			return nil // interrupted
		}
		if err != nil && follow && !taskstate.IsTerminal(t.GetState()) && statusOf(err) == http.StatusNotFound {
			err, data = nil, nil // its sandbox is not there yet: the task is starting
		}
		if err != nil {
			var se *operator.StatusError
			if errors.As(err, &se) && se.Code == http.StatusNotFound {
				return fmt.Errorf("no %s for task %s on agent %s (its sandbox may have been garbage collected): %w",
					file, t.GetTaskId().GetValue(), agent, err)
			}
			return o.Explain(err)
		}
		if _, err := o.Out.Write(data); err != nil {
			return err
		}
		offset += uint64(len(data))
		if !follow || (taskstate.IsTerminal(t.GetState()) && len(data) == 0) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
		if !taskstate.IsTerminal(t.GetState()) {
			if nt, err := o.findTask(ctx, t.GetTaskId().GetValue()); err == nil {
				t = nt
			}
		}
	}
}

// TaskExec runs cmd nested in the task's container with stdin, stdout and
// stderr attached, and returns its exit code.
func (o *Ops) TaskExec(ctx context.Context, task string, cmd []string, stdin io.Reader) (int, error) {
	t, err := o.findTask(ctx, task)
	if err != nil {
		return -1, err
	}
	if t.GetState() != mesospb.TaskState_TASK_RUNNING {
		return -1, fmt.Errorf("task %s is %s: exec needs a running task", t.GetTaskId().GetValue(), t.GetState())
	}
	parent := operator.TaskContainer(t)
	if parent == nil {
		return -1, fmt.Errorf("task %s has no container ID in its status updates: cannot exec in it", t.GetTaskId().GetValue())
	}
	agent, err := o.agentOf(ctx, t)
	if err != nil {
		return -1, err
	}
	status, err := o.Client.Exec(ctx, agent, operator.Session{Parent: parent, Command: cmd, Shell: len(cmd) == 1,
		Stdin: stdin, Stdout: o.Out, Stderr: o.Err})
	if err != nil {
		return -1, o.Explain(err)
	}
	return operator.ExitCode(status), nil
}

// Roles prints the roles with their weights, frameworks and resources.
func (o *Ops) Roles(ctx context.Context) error {
	r, err := o.Client.GetRoles(ctx)
	if err != nil {
		return o.Explain(err)
	}
	if o.JSON {
		return o.writeJSON(r)
	}
	tw := o.table()
	fmt.Fprintln(tw, "ROLE\tWEIGHT\tFRAMEWORKS\tALLOCATED")
	for _, role := range r.GetRoles() {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", role.GetName(), resources.FormatScalar(role.GetWeight()),
			len(role.GetFrameworks()), sumScalars(role.GetResources()))
	}
	return tw.Flush()
}

func quantityMap[V interface{ GetValue() float64 }](m map[string]V) Quantities {
	q := Quantities{}
	for k, v := range m {
		q[k] = v.GetValue()
	}
	return q
}

// QuotaGet prints the roles' quota.
func (o *Ops) QuotaGet(ctx context.Context) error {
	r, err := o.Client.GetQuota(ctx)
	if err != nil {
		return o.Explain(err)
	}
	if o.JSON {
		return o.writeJSON(r)
	}
	tw := o.table()
	fmt.Fprintln(tw, "ROLE\tGUARANTEES\tLIMITS")
	configs := r.GetStatus().GetConfigs()
	sort.Slice(configs, func(i, j int) bool { return configs[i].GetRole() < configs[j].GetRole() })
	for _, c := range configs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.GetRole(), quantityMap(c.GetGuarantees()), quantityMap(c.GetLimits()))
	}
	return tw.Flush()
}

// parseQuantities parses "cpus:2;mem:1024" (or with commas or spaces).
func parseQuantities(s string) (map[string]*mesospb.Value_Scalar, error) {
	out := map[string]*mesospb.Value_Scalar{}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
		name, value, ok := strings.Cut(part, ":")
		if !ok {
			name, value, ok = strings.Cut(part, "=")
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if !ok || err != nil || v < 0 || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("bad quantity %q: write name:value, e.g. cpus:2;mem:1024", part)
		}
		out[strings.TrimSpace(name)] = &mesospb.Value_Scalar{Value: proto.Float64(v)}
	}
	return out, nil
}

// QuotaSet sets a role's quota guarantees and limits ("cpus:2;mem:1024";
// empty: none).
func (o *Ops) QuotaSet(ctx context.Context, role, guarantees, limits string, force bool) error {
	g, err := parseQuantities(guarantees)
	if err != nil {
		return fmt.Errorf("--guarantees: %w", err)
	}
	l, err := parseQuantities(limits)
	if err != nil {
		return fmt.Errorf("--limits: %w", err)
	}
	if err := o.Client.UpdateQuota(ctx, force, &quotapb.QuotaConfig{Role: proto.String(role), Guarantees: g, Limits: l}); err != nil {
		return o.Explain(err)
	}
	return o.done("Quota of role %s set.\n", role)
}

// WeightsGet prints the roles' weights.
func (o *Ops) WeightsGet(ctx context.Context) error {
	r, err := o.Client.GetWeights(ctx)
	if err != nil {
		return o.Explain(err)
	}
	if o.JSON {
		return o.writeJSON(r)
	}
	tw := o.table()
	fmt.Fprintln(tw, "ROLE\tWEIGHT")
	ws := r.GetWeightInfos()
	sort.Slice(ws, func(i, j int) bool { return ws[i].GetRole() < ws[j].GetRole() })
	for _, w := range ws {
		fmt.Fprintf(tw, "%s\t%s\n", w.GetRole(), resources.FormatScalar(w.GetWeight()))
	}
	return tw.Flush()
}

// WeightsSet sets weights given as "role=weight" arguments.
func (o *Ops) WeightsSet(ctx context.Context, args []string) error {
	var ws []*mesospb.WeightInfo
	for _, a := range args {
		role, w, ok := strings.Cut(a, "=")
		v, err := strconv.ParseFloat(w, 64)
		if !ok || err != nil || v <= 0 || role == "" {
			return fmt.Errorf("bad weight %q: write role=weight with a weight above 0, e.g. dev=2", a)
		}
		ws = append(ws, &mesospb.WeightInfo{Role: proto.String(role), Weight: proto.Float64(v)})
	}
	if err := o.Client.UpdateWeights(ctx, ws...); err != nil {
		return o.Explain(err)
	}
	return o.done("Weights set.\n")
}

// AgentAction deactivates, reactivates or drains an agent.
func (o *Ops) AgentAction(ctx context.Context, action, agentID string) error {
	var err error
	switch action {
	case "deactivate":
		err = o.Client.DeactivateAgent(ctx, agentID)
	case "reactivate":
		err = o.Client.ReactivateAgent(ctx, agentID)
	case "drain":
		err = o.Client.DrainAgent(ctx, agentID, false)
	default:
		return fmt.Errorf("unknown agent action %q", action)
	}
	if err != nil {
		return o.Explain(err)
	}
	return o.done("Agent %s: %s done.\n", agentID, action)
}

// statusOf returns the HTTP status of an *operator.StatusError, or 0.
func statusOf(err error) int {
	var se *operator.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// done reports a change that succeeded: a sentence for people, {} for
// scripts (--json output always parses).
func (o *Ops) done(format string, args ...any) error {
	if o.JSON {
		_, err := fmt.Fprintln(o.Out, "{}")
		return err
	}
	_, err := fmt.Fprintf(o.Out, format, args...)
	return err
}

// Completions are the candidates shell completion offers for a verb's
// argument: "task" (task IDs, running ones first), "agent" (agent IDs) or
// "framework" (framework IDs and names). Errors give none.
func (o *Ops) Completions(ctx context.Context, kind string) []string {
	var out []string
	switch kind {
	case "task":
		ts, _ := o.tasks(ctx, true)
		for _, t := range ts {
			out = append(out, t.GetTaskId().GetValue()+"\t"+t.GetName()+" "+t.GetState().String())
		}
	case "agent":
		r, _ := o.Client.GetAgents(ctx)
		for _, a := range r.GetAgents() {
			out = append(out, a.GetAgentInfo().GetId().GetValue()+"\t"+a.GetAgentInfo().GetHostname())
		}
	case "framework":
		r, _ := o.Client.GetFrameworks(ctx)
		for _, f := range r.GetFrameworks() {
			out = append(out, f.GetFrameworkInfo().GetId().GetValue()+"\t"+f.GetFrameworkInfo().GetName(), f.GetFrameworkInfo().GetName())
		}
	}
	return out
}
