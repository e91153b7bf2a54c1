package containerizer

import "time"

// SetUnkillableWait shortens the wait for a container the launcher could
// not kill, for a test; it returns the function that restores it.
func SetUnkillableWait(d time.Duration) func() {
	old := unkillableWait
	unkillableWait = d
	return func() { unkillableWait = old }
}
