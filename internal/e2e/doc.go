// Package e2e holds meso's end-to-end tests: a real master and real agents
// (internal/local) on loopback, real executor processes (the meso binary),
// and schedulers speaking the v1 scheduler API over plain HTTP the way any
// Mesos framework would — JSON and protobuf, RecordIO streams, stream ids.
package e2e
