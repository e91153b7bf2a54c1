// Package buildinfo holds what the master and the agent report about the
// build they run (/version, /state, GET_VERSION): the Apache Mesos release
// whose wire behaviour meso reproduces, and build date, time and user.
// Both report the same values, as a Mesos master and agent of one build do.
package buildinfo

import "time"

// MesosVersion is the Mesos release meso speaks for.
const MesosVersion = "1.11.0"

// Build information, reported beside MesosVersion.
var (
	BuildDate = "2024-08-01 00:00:00"
	BuildTime = float64(time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC).Unix())
	BuildUser = "meso"
)
