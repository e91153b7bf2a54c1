package httpapi

import (
	"net/http"
	"net/http/pprof"
)

// PprofPath is where RegisterPprof serves Go's profiles.
const PprofPath = "/debug/pprof/"

// RegisterPprof serves Go's runtime profiles (net/http/pprof) under
// /debug/pprof/ on rt: the index, the named profiles (heap, goroutine,
// allocs, mutex, block, threadcreate), profile (CPU, ?seconds=N),
// trace, cmdline and symbol. meso serves them only with --enable_pprof,
// an addition to Mesos (whose /profiler/* needs gperftools); guard wraps
// each handler with the authorization the server applies to endpoints
// (get_endpoints on /debug/pprof), and the router's own Wrap with
// authentication (the read-write realm: a CPU profile or a trace costs
// the server time).
//
// Use: go tool pprof http://HOST:PORT/debug/pprof/profile?seconds=30
func RegisterPprof(rt *Router, guard func(http.HandlerFunc) http.HandlerFunc) {
	const process = "debug"
	rt.HandleFunc(process, "/pprof", guard(pprof.Index)) // and /debug/pprof/<name>
	rt.HandleFunc(process, "/pprof/cmdline", guard(pprof.Cmdline))
	rt.HandleFunc(process, "/pprof/profile", guard(pprof.Profile))
	rt.HandleFunc(process, "/pprof/symbol", guard(pprof.Symbol))
	rt.HandleFunc(process, "/pprof/trace", guard(pprof.Trace))
}
