// Package registry is the master's durable state: the registry of Mesos
// 1.11 (admitted, unreachable and gone agents, maintenance machines and
// schedule, quota configs, weights, minimum capabilities, and the last
// leading master), kept by a Registrar in a Store.
//
// # Walkthrough
//
// The composition root picks a Store for --registry: NewMemoryStore
// (in_memory), OpenBoltStore (a file in --work_dir, one master) or
// NewZKStore (under --zk's path, masters in HA; the caller owns the
// *zk.Conn). It hands the store to New with a Config (DefaultConfig has
// Mesos's flag defaults).
//
// When the master is elected it calls Registrar.Recover with its
// MasterInfo. That reads every record (fencing out the previous leader's
// store, see Store), rebuilds the registry and stores the new MasterInfo;
// the master then rebuilds its view from the returned registry (agents to
// wait for, unreachable and gone agents, weights, quota, maintenance) and
// checks MissingCapabilities.
//
// From then on the master calls Apply with an Operation (AdmitAgent,
// MarkAgentUnreachable, UpdateQuota, ...) whenever its durable state
// changes, and acts on the result only when Apply returns: the change is on
// disk (or in a ZooKeeper quorum) by then. Apply blocks, so the master's
// actor calls it from a goroutine and posts the answer back to its loop.
// Operations reaching the registrar while a write is in progress are
// batched into the next write, so throughput grows with concurrency while
// each write stays one transaction. An operation that Mesos would refuse
// returns a *RejectedError with Mesos's reason; a store failure aborts the
// registrar for good (ErrAborted), and the master should exit and leave
// the registry to the next leader, as Mesos's does.
//
// Every Config.GCInterval the master calls GC, which drops unreachable and
// gone agents beyond --registry_max_agent_age and --registry_max_agent_count
// (oldest first) and returns what it dropped. Metrics returns the
// registrar/* metrics for /metrics/snapshot.
//
// # Records
//
// The registry is not stored as one blob. Each entry (an agent, a role's
// weight, ...) is a record under its own key, <kind>/<name>, whose value is
// a registrypb.Record; a write holds only the records a batch changed. A
// record's seq keeps the registry's lists in order across restarts. See
// Store for the contract the three stores share and ZKStore for the
// ZooKeeper layout.
package registry
