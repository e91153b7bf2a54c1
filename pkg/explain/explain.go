// Package explain holds the wire types of meso's explainer, a meso
// extension to the Mesos master's HTTP API that answers "why does my
// framework get no offers?" and "why is my task not running?":
//
//	GET /master/explain/framework?framework=<framework ID or name>  → Framework
//	GET /master/explain/task?task=<task ID>[&framework=<ID or name>] → Task
//
// Both answer JSON (application/json). 400 when the parameter is missing,
// 404 when no framework or task matches, 409 when a name matches several
// frameworks (the body lists their IDs), 307 to the leader on a standby
// master. With authentication on they are in the master's read-only realm,
// and the answer only shows what the principal may view (view_frameworks,
// view_tasks). Nothing here exists in Mesos 1.11: tools written for Mesos
// never call it.
//
// The answer is computed from the master's and the allocator's books at
// the time of the request, read-only; Reasons come first, most important
// first, so a client can print the first one and stop.
package explain

// Paths of the explainer's endpoints on the master.
const (
	FrameworkPath = "/master/explain/framework"
	TaskPath      = "/master/explain/task"
)

// Framework explains the offers a framework gets.
type Framework struct {
	FrameworkID string `json:"framework_id"`
	Name        string `json:"name"`
	// Active is false for a framework that is disconnected (or
	// deactivated): it gets no offers until it subscribes again.
	Active  bool     `json:"active"`
	Roles   []Role   `json:"roles"`
	Agents  []Agent  `json:"agents"`
	Offers  []Offer  `json:"outstanding_offers"`
	Filters []Filter `json:"filters"`
	// Reasons sum up why the framework gets no offers, or fewer than it
	// could; empty when nothing holds it back.
	Reasons []Reason `json:"reasons"`
}

// Role is one of a framework's roles as the allocator sees it.
type Role struct {
	Role       string  `json:"role"`
	Suppressed bool    `json:"suppressed"`
	Weight     float64 `json:"weight"`
	// DominantShare is the role's weighted dominant share of the cluster
	// (the DRF role sorter's key); Rank its 1-based place in the role
	// sorter's order among Roles roles (1 is offered first).
	DominantShare float64 `json:"dominant_share"`
	Rank          int     `json:"rank"`
	Roles         int     `json:"roles"`
	// FrameworkShare and FrameworkRank place the framework among the
	// Frameworks frameworks of the role (the framework sorter).
	FrameworkShare float64 `json:"framework_share"`
	FrameworkRank  int     `json:"framework_rank"`
	Frameworks     int     `json:"frameworks"`
	// Quota of the role, nil without one.
	Quota *Quota `json:"quota,omitempty"`
}

// Quota is a role's quota and what counts against it, by resource name.
type Quota struct {
	Guarantees map[string]float64 `json:"guarantees,omitempty"`
	Limits     map[string]float64 `json:"limits,omitempty"`
	Consumed   map[string]float64 `json:"consumed,omitempty"`
	// LimitReached names the resources whose limit the role has reached.
	LimitReached []string `json:"limit_reached,omitempty"`
}

// Agent is one agent from the framework's point of view: what is free on
// it and why none of it is offered to the framework (empty Reasons: it can
// be offered at the next allocation).
type Agent struct {
	AgentID  string `json:"agent_id"`
	Hostname string `json:"hostname"`
	// Free is the agent's unallocated resources, in Mesos's text form
	// ("cpus:2; mem:1024").
	Free    string   `json:"free"`
	Reasons []Reason `json:"reasons"`
}

// Offer is an offer the framework holds and has not answered.
type Offer struct {
	OfferID   string `json:"offer_id"`
	AgentID   string `json:"agent_id"`
	Hostname  string `json:"hostname"`
	Role      string `json:"role"`
	Resources string `json:"resources"`
	// Since is when it was made, in seconds since the epoch.
	Since float64 `json:"since"`
}

// Filter is an active offer filter of the framework (a decline or an
// unused part of an accept with Filters.refuse_seconds).
type Filter struct {
	AgentID   string `json:"agent_id"`
	Hostname  string `json:"hostname"`
	Role      string `json:"role"`
	Resources string `json:"resources"`
	// Until is when the filter expires, in seconds since the epoch.
	Until float64 `json:"until"`
}

// Reason codes.
const (
	FrameworkInactive   = "FRAMEWORK_INACTIVE"       // disconnected or deactivated
	RoleSuppressed      = "ROLE_SUPPRESSED"          // the framework suppressed offers for a role
	OfferFiltered       = "OFFER_FILTERED"           // an offer filter excludes an agent (Agent, Role)
	QuotaLimitReached   = "QUOTA_LIMIT_REACHED"      // the role's quota limit is reached (Role)
	QuotaHeldBack       = "QUOTA_HELD_BACK"          // free resources are held for other roles' quota guarantees
	OffersOutstanding   = "OFFERS_OUTSTANDING"       // the agent's resources sit in offers the framework holds
	AllocatedToOthers   = "ALLOCATED_TO_OTHERS"      // the agent's resources are offered to or used by others
	BelowMinAllocatable = "BELOW_MIN_ALLOCATABLE"    // what is free is below --min_allocatable_resources
	GPUWithheld         = "GPU_WITHHELD"             // a GPU agent, and no GPU_RESOURCES capability
	AgentDeactivated    = "AGENT_DEACTIVATED"        // the agent is deactivated (or draining, or in maintenance)
	ReservedForOthers   = "RESERVED_FOR_OTHER_ROLES" // what is free is reserved for roles the framework is not in
	NoAgents            = "NO_AGENTS"                // no agent is registered
	AgentIncapable      = "AGENT_INCAPABLE"          // the agent lacks MULTI_ROLE or HIERARCHICAL_ROLE the framework or role needs
	DRFOrder            = "DRF_ORDER"                // other roles or frameworks come first in the DRF order (Role)
	TaskNotLaunched     = "TASK_NOT_LAUNCHED"        // no such task: the framework has not launched it
	TaskStaging         = "TASK_STAGING"             // sent to the agent, its executor not yet running it
	TaskUnreachable     = "TASK_UNREACHABLE"         // its agent is unreachable
	TaskTerminal        = "TASK_TERMINAL"            // it ended; the last update says how
)

// Reason is one thing that holds a framework's offers or a task back.
type Reason struct {
	Code string `json:"code"`
	// Message says it for people, with the names and numbers involved and,
	// where there is one, what to do about it.
	Message string `json:"message"`
	AgentID string `json:"agent_id,omitempty"`
	Role    string `json:"role,omitempty"`
}

// Task explains where a task is in its life.
type Task struct {
	TaskID      string `json:"task_id"`
	FrameworkID string `json:"framework_id"`
	Name        string `json:"name"`
	// State is the task's latest state as the master knows it
	// (TASK_STAGING, ...).
	State    string `json:"state"`
	AgentID  string `json:"agent_id,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// ExecutorID and ContainerID are set once known.
	ExecutorID  string  `json:"executor_id,omitempty"`
	ContainerID string  `json:"container_id,omitempty"`
	LastUpdate  *Update `json:"last_update,omitempty"`
	// Reasons say why it is not (or no longer) running, most important
	// first; for a task that runs, empty.
	Reasons []Reason `json:"reasons"`
}

// Update is a task's latest status update.
type Update struct {
	State   string `json:"state"`
	Source  string `json:"source,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Timestamp in seconds since the epoch.
	Timestamp float64 `json:"timestamp"`
}
