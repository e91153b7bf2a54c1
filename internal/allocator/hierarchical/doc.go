// Package hierarchical implements HierarchicalDRF, the built-in allocator of
// Mesos (src/master/allocator/mesos/hierarchical.cpp), as a synchronous,
// deterministic state machine: no goroutines, no clocks (time is an
// argument), no I/O. The master calls it from its event loop.
//
// # Model
//
// The allocator knows agents (their total resources and what each framework
// holds on them), frameworks (roles, capabilities, suppressed roles, offer
// filters) and roles. Free resources of an agent are its total minus what
// frameworks hold; "hold" covers both outstanding offers and resources in
// use, because the master reports both back the same way, through
// RecoverResources.
//
// Ordering is two-level. A role sorter orders the roles that have
// frameworks; each role has a framework sorter ordering its frameworks.
// Both default to DRF (package sorter/drf): the client with the smallest
// dominant share of the cluster, divided by its weight, goes first. Shares
// count what is allocated, offers included, so handing out an offer pushes
// its receiver back in the order for the next agent of the same cycle.
//
// # A cycle
//
// Allocate(now) shuffles the active agents with a seeded generator, then for
// each agent walks roles and frameworks in sorter order; the first eligible
// framework of a role receives everything the role may use on that agent.
// Eligibility: the framework is active and not suppressed for the role; the
// GPU, MULTI_ROLE and HIERARCHICAL_ROLE rules hold; the candidate reaches a
// minimum-allocatable alternative; no unexpired refused-offer filter covers
// it. Filters are checked lazily against now and dropped once expired.
//
// # Layout for speed later
//
// Agents live in an index-addressed slice (agentOrder) and sorters are
// behind the sorter.Sorter interface, so a later version can replace maps by
// dense indices and bitsets, and cache available resources per agent,
// without changing the cycle's shape.
//
// Not implemented yet: quota (guarantees, limits, headroom, stage 1),
// hierarchical role trees in the sorters (roles "a/b" are flat clients),
// fair_sharing_excluded_resource_names, region awareness, maintenance and
// inverse offers, agent whitelists, offer constraints, shared resources
// offered more than once, recovery pause after master failover.
package hierarchical
