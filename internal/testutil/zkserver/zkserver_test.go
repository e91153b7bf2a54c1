package zkserver

import (
	"testing"
	"time"
)

func TestStandaloneAndEnsemble(t *testing.T) {
	c := Start(t)
	if !c.Servers[0].Serving() {
		t.Fatal("standalone server not serving")
	}
	e := StartEnsemble(t, 3)
	e.Servers[0].Stop()
	// Two of three still form a quorum.
	deadline := time.Now().Add(20 * time.Second)
	for !(e.Servers[1].Serving() && e.Servers[2].Serving()) {
		if time.Now().After(deadline) {
			t.Fatalf("ensemble lost its quorum with one server down:\n%s", e.Servers[1].Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.Servers[0].Start()
}
