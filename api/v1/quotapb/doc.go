// Package quotapb holds the generated Go types of the Mesos v1 quota messages (package mesos.v1.quota): QuotaConfig, QuotaInfo, QuotaRequest, QuotaStatus.
//
// The messages are wire-compatible with Apache Mesos: same names, field
// numbers, types and defaults. The source is api/proto; regenerate with
// 'make proto' and never edit the .pb.go files by hand.
package quotapb
