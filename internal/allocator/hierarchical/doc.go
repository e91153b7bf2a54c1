// Package hierarchical implements HierarchicalDRF, the built-in allocator of
// Mesos (src/master/allocator/mesos/hierarchical.cpp), as a synchronous,
// deterministic state machine: no goroutines, no clocks (time is an
// argument), no I/O. The master calls it from its event loop.
//
// # Model
//
// The allocator knows agents (their total resources and what each framework
// holds on them), frameworks (roles, capabilities, suppressed roles, offer
// filters), roles (weights, quota) and refused-offer filters. "Holds" covers
// both outstanding offers and resources in use: the master gives both back
// the same way, through RecoverResources.
//
// Ordering is two-level. The role sorter orders roles as a tree ("eng/web"
// under "eng", internal nodes aggregating their subtree, weights per node);
// each role has a framework sorter ordering its frameworks. Both are DRF by
// default (package sorter/drf; --role_sorter/--framework_sorter=random for
// the weighted random sorter): the client with the smallest dominant share
// of the cluster divided by its weight goes first, ties to fewer past
// allocations, then to the name.
//
// # Data layout
//
// Everything the cycle touches is indexed by dense integers: agents, frameworks,
// slots (one per framework and role: the framework-sorter client, the unit
// offers and filters are kept for) and roles (role-sorter clients). Free
// indices are reused.
//
// An agent's resources are entries, one per resource kind (name, type,
// reservation, disk, revocable, shared): total and available amounts, scalars as
// fixed-point int64 thousandths (package quantity), ranges as interval lists,
// sets as item lists. What each framework holds is a list of (role, entry,
// amount). Sorters and quota see only quantity.Vec, a fixed array of
// scalar amounts (cpus, mem, disk, gpus, then interned custom names).
// Protobuf Resources are built only for the allocations a cycle makes.
//
// Filters live per agent in dense per-slot arrays: the slot's refused set
// (an ID into interned refused sets: frameworks that declined the same
// offer share one) and the filter's expiry, 12 bytes each. Per slot, "has"
// and "verified" bitsets over agents say whether a filter exists and
// whether it was checked to cover what the agent offers now. A verified bit
// stays valid while the agent's available resources do not grow, because a
// subset stays a subset when the candidate shrinks; growth
// (RecoverResources, total changes) queues the agent, and the next cycle
// checks all its filters again in one pass over its arrays, once per
// distinct refused set (spec §1.10's subset rule against the agent's whole
// available resources; what a filter does not cover that way is checked
// exactly for its framework later in the cycle). Expiry is checked lazily
// against the cycle's time: a global earliest expiry makes the check free
// until something is due.
//
// Quota (spec §6.4) is tracked incrementally per top-level role: the scalar
// reservations of its subtree on agents' totals plus the unreserved
// non-revocable scalars offered or allocated to its subtree; the free
// unreserved non-revocable scalars of all agents are the available headroom.
//
// # A cycle
//
// Allocate(now):
//
//  1. Drop expired filters; check the filters of agents that grew again.
//  2. Candidate agents: the active agents minus those on which every
//     eligible slot (active framework, subscribed, unsuppressed role) has a
//     verified filter, one AND of bitsets per eligible slot. A cluster in
//     which everyone declined everything costs (eligible slots x agents/64)
//     word operations; suppressed frameworks cost nothing.
//  3. Shuffle the candidates (seeded).
//  4. If a role has quota guarantees, stage 1: for each agent, roles below
//     their guarantees in role order, frameworks in framework order; each
//     gets unreserved scalars towards its unsatisfied guarantee, more up to
//     its limits and the headroom surplus, plus its own reservations,
//     non-scalars and revocable resources, only if it makes progress. The
//     agents are then reshuffled.
//  5. Stage 2: for each agent, roles in role-sorter order (sorted once per
//     agent, as Mesos does), frameworks in framework-sorter order. The first
//     framework that can take the agent gets everything its role may use
//     (unreserved plus reservations of the role or its ancestors, minus what
//     its capabilities exclude), unreserved scalars chopped to the role's
//     quota limits (counting what it holds and was offered) and to the
//     headroom surplus (available - required, where required is the sum of
//     unsatisfied guarantees). Skipped: a framework whose slot is verified
//     filtered (no work at all), a GPU agent for a framework without
//     GPU_RESOURCES, a MULTI_ROLE framework on an agent without MULTI_ROLE, a
//     hierarchical role on an agent without HIERARCHICAL_ROLE, a candidate
//     below min_allocatable (per-role offer_filters override the master's),
//     and a candidate a filter covers (checked exactly, then remembered).
//  6. Every allocation moves the amounts into the framework's holding and
//     updates both sorters at once; the DRF sorter moves the changed nodes to
//     their new places (binary search and a short copy) instead of re-sorting.
//     A framework offered on one agent in both stages gets one Allocation.
//  7. Build protobuf resources (with AllocationInfo) for the allocations.
//
// A cycle that makes no offers allocates nothing on the heap; one that makes
// offers allocates in proportion to them.
//
// # Not implemented
//
// fair_sharing_excluded_resource_names, region awareness, maintenance and
// inverse offers, agent whitelists, offer constraints, shared resources
// offered to several frameworks at once (a shared volume is held whole by
// one framework here), quota on nested roles (quota is per top-level role,
// covering its subtree), the recovery pause after a master failover, and
// custom scalar names beyond quantity.MaxDims (they are offered but not
// counted in shares or quota).
package hierarchical
