// Package registrypb holds the generated Go types of the master's durable
// registry (package meso.internal.registry): Registry, with Mesos 1.11's
// field numbers, and Record, the unit a registry store keeps under one key.
// The messages are described in
// internal/pb/proto/meso/internal/registry.proto; regenerate with
// 'make proto' and never edit the .pb.go files by hand.
package registrypb
