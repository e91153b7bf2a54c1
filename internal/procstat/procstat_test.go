package procstat

import (
	"os"
	"testing"
	"time"
)

func TestReadSelf(t *testing.T) {
	before, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn some CPU: the clock ticks at 10 ms.
	for end := time.Now().Add(60 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.CPU <= before.CPU {
		t.Errorf("CPU did not grow over 60 ms of spinning: %v then %v", before.CPU, after.CPU)
	}
	if after.RSS <= 0 || after.PeakRSS < after.RSS {
		t.Errorf("RSS %d, peak %d", after.RSS, after.PeakRSS)
	}
}

func TestReadMissing(t *testing.T) {
	if _, err := Read(1 << 30); err == nil {
		t.Error("Read of a pid that cannot exist succeeded")
	}
}
