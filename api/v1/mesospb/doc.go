// Package mesospb holds the generated Go types of the core Mesos v1 types (package mesos.v1): IDs, FrameworkInfo, Resource, Offer, TaskInfo, TaskStatus and the rest.
//
// The messages are wire-compatible with Apache Mesos: same names, field
// numbers, types and defaults. The source is api/proto; regenerate with
// 'make proto' and never edit the .pb.go files by hand.
package mesospb
