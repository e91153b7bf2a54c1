//go:build !linux

package gc

// platformHooks: outside Linux there are no persistent volume mounts to
// clear.
func platformHooks() hooks { return hooks{} }
