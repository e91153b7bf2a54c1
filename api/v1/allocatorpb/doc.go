// Package allocatorpb holds the generated Go types of the Mesos v1 allocator messages (package mesos.v1.allocator): inverse offer status.
//
// The messages are wire-compatible with Apache Mesos: same names, field
// numbers, types and defaults. The source is api/proto; regenerate with
// 'make proto' and never edit the .pb.go files by hand.
package allocatorpb
