package simulate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

// ErrConfig is returned for a configuration that cannot run.
var ErrConfig = errors.New("simulate: bad configuration")

// Config is one simulation. The JSON names are those of a --scenario file
// (and of `meso simulate`'s flags); zero values take the defaults below.
type Config struct {
	// Master is a running master to drive ("host:port", "http://host:port"
	// or a zk:// URL); empty starts one as a child process of MesoBinary.
	Master string `json:"master,omitempty"`
	// MesoBinary is the meso executable that runs the child master.
	MesoBinary string `json:"-"`
	// MasterFlags are extra flags for the child master, e.g.
	// "--allocation_interval=100ms".
	MasterFlags []string `json:"master_flags,omitempty"`

	// Agents is the number of simulated agents, each with AgentResources.
	Agents         int    `json:"agents"`
	AgentResources string `json:"agent_resources,omitempty"`

	// Frameworks is the number of synthetic frameworks; Tasks the number
	// of tasks they launch and finish between them.
	Frameworks int `json:"frameworks"`
	Tasks      int `json:"tasks"`
	// Roles are the frameworks' roles, handed out round-robin (default
	// "*"); a role may be "a,b" for a multi-role framework.
	Roles []string `json:"roles,omitempty"`
	// AcceptRatio is the share of offers a framework accepts (default 1);
	// the others are declined with RefuseSeconds (default 5, Mesos's).
	AcceptRatio   float64 `json:"accept_ratio,omitempty"`
	RefuseSeconds float64 `json:"refuse_seconds,omitempty"`
	// TaskResources is one task's size (default "cpus:0.1;mem:32");
	// TasksPerOffer caps the tasks launched on one offer (0: as many as
	// fit).
	TaskResources string `json:"task_resources,omitempty"`
	TasksPerOffer int    `json:"tasks_per_offer,omitempty"`
	// TaskDuration is how long a task runs (default "uniform:0s,1s").
	TaskDuration Distribution `json:"task_duration"`
	// Starting makes agents send TASK_STARTING before TASK_RUNNING, as the
	// command executor does (one more update per task).
	Starting bool `json:"starting,omitempty"`

	// Probe adds a framework that launches one task at a time (each
	// running ProbeTaskDuration, default 100ms) while the others work, and
	// reports its offer → TASK_RUNNING latency separately: for the offers
	// it got while the other frameworks still had tasks to launch, i.e.
	// while they wanted more than the cluster had free.
	Probe             bool          `json:"probe,omitempty"`
	ProbeTaskDuration time.Duration `json:"-"`

	// StatusUpdateRetry is how long an agent waits for an acknowledgement
	// before re-sending an update (default 10s, Mesos's first interval;
	// it doubles up to 10 minutes).
	StatusUpdateRetry time.Duration `json:"-"`
	// Timeout bounds the run (default 10 minutes).
	Timeout time.Duration `json:"-"`
	// Senders is the number of connections the agents share for their
	// calls to the master (default 256).
	Senders int `json:"senders,omitempty"`

	// Progress receives a progress line every second (nil: none).
	Progress io.Writer    `json:"-"`
	Logger   *slog.Logger `json:"-"`
}

// Defaults.
const (
	DefaultAgentResources    = "cpus:8;mem:16384;disk:102400;ports:[31000-32000]"
	DefaultTaskResources     = "cpus:0.1;mem:32"
	DefaultRefuseSeconds     = 5
	DefaultStatusUpdateRetry = 10 * time.Second
	DefaultTimeout           = 10 * time.Minute
	DefaultSenders           = 256
	DefaultProbeTaskDuration = 100 * time.Millisecond
	maxStatusUpdateRetry     = 10 * time.Minute
)

// withDefaults fills in zero values and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Agents <= 0 {
		return c, fmt.Errorf("%w: agents must be positive", ErrConfig)
	}
	if c.Frameworks <= 0 && !c.Probe {
		return c, fmt.Errorf("%w: frameworks must be positive", ErrConfig)
	}
	if c.Tasks < 0 {
		return c, fmt.Errorf("%w: tasks must not be negative", ErrConfig)
	}
	if c.Master != "" && len(c.MasterFlags) > 0 {
		return c, fmt.Errorf("%w: master_flags (and --allocation_interval) configure the child master; "+
			"they cannot apply to the running master given with --master (%s): set them where it was started", ErrConfig, c.Master)
	}
	if c.AgentResources == "" {
		c.AgentResources = DefaultAgentResources
	}
	if c.TaskResources == "" {
		c.TaskResources = DefaultTaskResources
	}
	if len(c.Roles) == 0 {
		c.Roles = []string{"*"}
	}
	if c.AcceptRatio == 0 {
		c.AcceptRatio = 1
	}
	if c.AcceptRatio < 0 || c.AcceptRatio > 1 {
		return c, fmt.Errorf("%w: accept_ratio %v is not in (0, 1]", ErrConfig, c.AcceptRatio)
	}
	if c.RefuseSeconds == 0 {
		c.RefuseSeconds = DefaultRefuseSeconds
	}
	if c.TaskDuration.Kind == "" {
		c.TaskDuration = Distribution{Kind: Uniform, A: 0, B: time.Second}
	}
	if c.ProbeTaskDuration <= 0 {
		c.ProbeTaskDuration = DefaultProbeTaskDuration
	}
	if c.StatusUpdateRetry <= 0 {
		c.StatusUpdateRetry = DefaultStatusUpdateRetry
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Senders <= 0 {
		c.Senders = DefaultSenders
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Master == "" && c.MesoBinary == "" {
		return c, fmt.Errorf("%w: no master and no meso binary to start one", ErrConfig)
	}
	return c, nil
}

// LoadScenario reads a JSON scenario file over c: the keys it has replace
// c's values (flags given on the command line are applied after it by the
// caller).
func LoadScenario(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("simulate: reading scenario: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("simulate: scenario %s: %w", path, err)
	}
	return nil
}

// Distribution kinds.
const (
	Constant    = "constant"
	Uniform     = "uniform"
	Exponential = "exponential"
)

// Distribution is a distribution of durations, written
// "constant:1s" (or just "1s"), "uniform:100ms,2s" (between the two) or
// "exponential:500ms" (that mean).
type Distribution struct {
	Kind string
	A, B time.Duration
}

// ParseDistribution parses the text form of a Distribution.
func ParseDistribution(s string) (Distribution, error) {
	kind, args, ok := strings.Cut(s, ":")
	if !ok {
		kind, args = Constant, s
	}
	bad := func(err error) (Distribution, error) {
		return Distribution{}, fmt.Errorf("%w: duration distribution %q (want constant:D, uniform:D1,D2 or exponential:MEAN): %v", ErrConfig, s, err)
	}
	switch kind {
	case Constant, Exponential:
		d, err := time.ParseDuration(args)
		if err != nil || d < 0 {
			return bad(err)
		}
		return Distribution{Kind: kind, A: d}, nil
	case Uniform:
		lo, hi, ok := strings.Cut(args, ",")
		if !ok {
			return bad(errors.New("uniform needs two durations"))
		}
		a, err := time.ParseDuration(lo)
		if err != nil {
			return bad(err)
		}
		b, err := time.ParseDuration(hi)
		if err != nil {
			return bad(err)
		}
		if a < 0 || b < a {
			return bad(errors.New("want 0 <= D1 <= D2"))
		}
		return Distribution{Kind: kind, A: a, B: b}, nil
	}
	return bad(fmt.Errorf("unknown kind %q", kind))
}

func (d Distribution) String() string {
	switch d.Kind {
	case Uniform:
		return fmt.Sprintf("uniform:%v,%v", d.A, d.B)
	case "":
		return ""
	}
	return d.Kind + ":" + d.A.String()
}

// Draw returns one duration.
func (d Distribution) Draw() time.Duration {
	switch d.Kind {
	case Uniform:
		if d.B <= d.A {
			return d.A
		}
		return d.A + rand.N(d.B-d.A+1)
	case Exponential:
		return time.Duration(math.Round(rand.ExpFloat64() * float64(d.A)))
	}
	return d.A
}

// Set and Type make a Distribution a flag.Value.
func (d *Distribution) Set(s string) error {
	v, err := ParseDistribution(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func (d *Distribution) Type() string { return "distribution" }

func (d Distribution) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Distribution) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	return d.Set(s)
}
