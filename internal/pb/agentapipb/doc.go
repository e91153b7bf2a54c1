// Package agentapipb holds the generated Go types of meso's own agent <->
// master protocol (package meso.internal.agentapi): the Calls an agent posts
// to the master and the Events the master streams back. The protocol is
// described in internal/pb/proto/meso/internal/agentapi.proto; regenerate
// with 'make proto' and never edit the .pb.go files by hand.
package agentapipb
