//go:build unix && !linux

package containerizer

// descendants is only implemented on Linux; elsewhere a destroy signals the
// process group alone.
func descendants(int) []int { return nil }
