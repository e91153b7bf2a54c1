// Package checkpointpb holds the generated Go types of the status update
// records a meso agent checkpoints (package meso.internal.checkpoint, with
// Mesos's field numbers). The protocol is described in
// internal/pb/proto/meso/internal/checkpoint.proto; regenerate with
// 'make proto' and never edit the .pb.go files by hand.
package checkpointpb
