// Package maintenancepb holds the generated Go types of the Mesos v1 maintenance messages (package mesos.v1.maintenance): schedules, windows and cluster status.
//
// The messages are wire-compatible with Apache Mesos: same names, field
// numbers, types and defaults. The source is api/proto; regenerate with
// 'make proto' and never edit the .pb.go files by hand.
package maintenancepb
