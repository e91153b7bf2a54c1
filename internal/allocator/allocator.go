// Package allocator defines the contract between the master and a resource
// allocator: the master tells the allocator what exists (agents, frameworks,
// what is in use) and the allocator decides which framework role is offered
// which agent's free resources. It mirrors the lifecycle of Mesos's allocator
// module (src/master/allocator/allocator.hpp); the built-in implementation is
// HierarchicalDRF in the hierarchical subpackage.
//
// Implementations are synchronous and deterministic: no goroutines, no clocks,
// no I/O. The master calls them from its own event loop, passing the current
// time where it matters, so an Allocator needs no locking and is not safe for
// concurrent use.
package allocator

import (
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/pkg/resources"
)

// Allocation is one decision of an allocation cycle: resources of one agent
// for one role of one framework. The master turns each Allocation into exactly
// one Offer. The resources carry AllocationInfo{role: Role}.
type Allocation struct {
	FrameworkID string
	AgentID     string
	Role        string
	Resources   resources.Resources
}

// Options configure an allocator; zero values mean Mesos's defaults.
type Options struct {
	// AllocationInterval is the batch interval (--allocation_interval, 1secs).
	// Offer filters last at least this long.
	AllocationInterval time.Duration
	// MinAllocatable lists alternative minimum quantities an offer must reach
	// (--min_allocatable_resources, "cpus:0.01|mem:32"). Empty means the default.
	MinAllocatable []map[string]float64
	// DisableGPUFilter offers agents with gpus to frameworks without the
	// GPU_RESOURCES capability too (--filter_gpu_resources=false). By
	// default, as in Mesos, such agents are withheld from them.
	DisableGPUFilter bool
	// FairSharingExcludedResourceNames are resource names that do not count
	// towards DRF shares (--fair_sharing_excluded_resource_names, e.g. gpus).
	FairSharingExcludedResourceNames []string
	// Weights by role (--weights); roles not listed weigh 1.
	Weights map[string]float64
	// RoleSorter and FrameworkSorter name the sorters: "drf" (default) or "random".
	RoleSorter, FrameworkSorter string
	// Seed makes randomised choices (agent shuffling, random sorter) repeatable.
	Seed int64
}

// Framework describes a framework to the allocator.
type Framework struct {
	Info *mesospb.FrameworkInfo
	// SuppressedRoles are roles the framework wants no offers for.
	SuppressedRoles []string
	// Active is false for frameworks that are known but disconnected.
	Active bool
}

// Agent describes an agent to the allocator.
type Agent struct {
	Info *mesospb.AgentInfo
	// Total is everything the agent has, including what is in use.
	Total resources.Resources
	// Capabilities the agent advertises (MULTI_ROLE, HIERARCHICAL_ROLE, ...).
	Capabilities []mesospb.AgentInfo_Capability_Type
}

// Allocator is a resource allocator driven by the master.
//
// Resource accounting contract: resources handed out by Allocate count as
// allocated to (framework, role) until the master gives them back with
// RecoverResources (offer declined, rescinded or partly unused; task
// terminated). Resources in use when an agent or framework is added are
// passed in as used. IDs are plain strings (FrameworkID/AgentID values).
//
// Calls for unknown frameworks or agents are ignored, so the master need not
// track what it has told the allocator.
type Allocator interface {
	// AddFramework adds a framework; used maps agent ID to resources the
	// framework already holds there (after a master failover).
	AddFramework(id string, fw Framework, used map[string]resources.Resources)
	// RemoveFramework forgets a framework and all it holds.
	RemoveFramework(id string)
	// ActivateFramework and DeactivateFramework start and stop offers to a
	// framework without forgetting its allocations (connect/disconnect).
	ActivateFramework(id string)
	DeactivateFramework(id string)
	// UpdateFramework replaces the framework's info (roles, capabilities,
	// offer_filters) and suppressed roles.
	UpdateFramework(id string, fw Framework)

	// AddAgent adds an agent; used maps framework ID to resources in use there.
	AddAgent(id string, agent Agent, used map[string]resources.Resources)
	// RemoveAgent forgets an agent and everything allocated on it.
	RemoveAgent(id string)
	// ActivateAgent and DeactivateAgent start and stop offering an agent.
	ActivateAgent(id string)
	DeactivateAgent(id string)
	// UpdateAgentTotal replaces an agent's total resources (e.g. after a
	// dynamic reservation changed their form).
	UpdateAgentTotal(id string, total resources.Resources)

	// UpdateAllocation replaces resources a framework holds on an agent, for
	// offer operations that change the form of allocated resources (RESERVE,
	// UNRESERVE, CREATE, DESTROY).
	UpdateAllocation(frameworkID, agentID string, from, to resources.Resources)

	// RecoverResources returns resources a framework held on an agent. With a
	// non-nil filter whose refuse_seconds is positive, the framework is not
	// offered a subset of these resources from this agent for that long
	// (at least AllocationInterval); spec §1.10.
	RecoverResources(frameworkID, agentID string, res resources.Resources, filters *mesospb.Filters, now time.Time)

	// SuppressOffers stops offers to the framework for roles (all its roles
	// when empty). ReviveOffers resumes them and clears their offer filters.
	SuppressOffers(frameworkID string, roles []string)
	ReviveOffers(frameworkID string, roles []string, now time.Time)

	// UpdateWeights sets the weights of the roles listed; other roles keep
	// theirs (1 unless set before).
	UpdateWeights(weights map[string]float64)

	// UpdateQuota sets a role's quota (spec §6.4); a zero Quota removes it.
	UpdateQuota(role string, quota Quota)

	// Allocate runs one allocation cycle at time now and returns what to
	// offer. Allocated resources count as held by the framework until
	// recovered.
	Allocate(now time.Time) []Allocation
}

// MetricsReporter is an optional capability of an Allocator: the numbers
// behind Mesos's allocator/mesos/* metrics that only the allocator knows
// (src/master/allocator/mesos/metrics.cpp and the DRF sorter's metrics).
// The master adds what it measures itself around Allocate (allocation
// runs and their timers).
//
// Metrics is called on the master's loop like every other method, with
// the current time (filters that expired by then are not counted). It may
// walk the allocator's state, as Mesos's pull gauges do, but must not
// change it.
type MetricsReporter interface {
	// Metrics returns values by Mesos metric name:
	// allocator/mesos/resources/<cpus|mem|disk>/{total,offered_or_allocated},
	// allocator/mesos/roles/<role>/shares/dominant,
	// allocator/mesos/offer_filters/roles/<role>/active and
	// allocator/mesos/quota/roles/<role>/resources/<name>/{guarantee,limit,consumed,offered_or_allocated}.
	Metrics(now time.Time) map[string]float64
}

// Quota is a role's quota: scalar quantities by resource name (cpus, mem,
// disk, gpus, custom scalars). Guarantees are held back for the role when
// the resources exist; Limits cap what the role is offered plus what it
// holds. A missing limit means no limit.
type Quota struct {
	Guarantees map[string]float64
	Limits     map[string]float64
}

// Factory builds an allocator. The composition root (cmd/meso, internal/local)
// picks one from a table keyed by the name Mesos uses on --allocator.
type Factory func(Options) (Allocator, error)

// Explainer is an optional capability of an Allocator: a read-only account
// of why a framework is or is not offered resources, for meso's explainer
// endpoints (pkg/explain). It is called on the master's loop like Metrics,
// with the current time, and must not change the allocator's state: what
// it reports is what Allocate would do at now, as far as the allocator
// alone can tell (other frameworks served first in the same cycle aside).
type Explainer interface {
	// Explain returns the framework's explanation, false when the
	// allocator does not know the framework.
	Explain(frameworkID string, now time.Time) (Explanation, bool)
}

// Explanation is an allocator's account of one framework.
type Explanation struct {
	// Active is false for a deactivated (disconnected) framework.
	Active bool
	// Roles are the framework's subscribed roles, sorted by name.
	Roles   []RoleExplanation
	Filters []FilterExplanation
	// Agents are all agents, sorted by ID.
	Agents []AgentExplanation
}

// RoleExplanation is one role of a framework as the allocator sees it.
type RoleExplanation struct {
	Role       string
	Suppressed bool
	Weight     float64
	// DominantShare is the role's weighted dominant share; Rank its
	// 1-based place among the Roles roles in the role sorter's order (0
	// when the role is not in the order: no framework of it may be
	// offered, or the sorter is random and has no fixed order).
	DominantShare float64
	Rank, Roles   int
	// FrameworkShare and FrameworkRank place the framework among the
	// Frameworks frameworks of the role that may be offered resources.
	FrameworkShare float64
	FrameworkRank  int
	Frameworks     int
	Quota          *QuotaExplanation
}

// QuotaExplanation is a role's quota and consumption by resource name.
type QuotaExplanation struct {
	Guarantees, Limits, Consumed map[string]float64
	// LimitReached lists, sorted, the names whose limit is reached.
	LimitReached []string
}

// FilterExplanation is an unexpired refused-offer filter.
type FilterExplanation struct {
	AgentID   string
	Role      string
	Resources resources.Resources
	Until     time.Time
}

// AgentExplanation is an agent from the framework's point of view.
type AgentExplanation struct {
	AgentID string
	// Free is the agent's unallocated resources.
	Free resources.Resources
	// Held is true when the framework itself holds resources on the
	// agent (offered to it or in use by it).
	Held bool
	// Reasons are empty when some of the agent's free resources would be
	// offered to the framework at the next allocation.
	Reasons []AgentReason
}

// AgentReason is why an agent's free resources are not offered to a
// framework (for one role, or for all when Role is empty).
type AgentReason struct {
	// Code is one of pkg/explain's reason codes (AGENT_DEACTIVATED,
	// ALLOCATED_TO_OTHERS, OFFER_FILTERED, ...).
	Code string
	Role string
	// Until is when an OFFER_FILTERED filter expires.
	Until time.Time
	// Detail adds names and numbers (e.g. the resources involved).
	Detail string
}
