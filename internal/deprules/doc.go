// Package deprules holds the test that enforces the dependency rules of
// DESIGN.md §2 over the module's real import graph (`go list -deps`):
//
//  1. pkg/... and api/... never import internal/... (framework authors import pkg/).
//  2. internal/master and internal/agent never import each other.
//  3. The allocator never imports the master; the containerizer never imports the agent.
//  4. Only the composition roots pick concrete implementations (allocators,
//     registry stores, launchers, isolators): cmd/meso and internal/local,
//     from the factory tables that internal/builtin holds in one file.
package deprules
