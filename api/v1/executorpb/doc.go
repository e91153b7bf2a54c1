// Package executorpb holds the generated Go types of the v1 executor API (package mesos.v1.executor): the Call an executor sends and the Event it receives.
//
// The messages are wire-compatible with Apache Mesos: same names, field
// numbers, types and defaults. The source is api/proto; regenerate with
// 'make proto' and never edit the .pb.go files by hand.
package executorpb
