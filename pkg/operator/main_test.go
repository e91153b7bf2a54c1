package operator

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (streams,
// sessions' input pumps, redirected requests).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
