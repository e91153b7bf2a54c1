// Package masterpb holds the generated Go types of the master's v1 operator API (package mesos.v1.master): Call, Response and Event.
//
// The messages are wire-compatible with Apache Mesos: same names, field
// numbers, types and defaults. The source is api/proto; regenerate with
// 'make proto' and never edit the .pb.go files by hand.
package masterpb
