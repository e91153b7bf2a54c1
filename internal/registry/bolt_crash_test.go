package registry

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// The child process of TestBoltCrashSafety is this test binary, re-run with
// these variables set.
const (
	crashFileEnv  = "MESO_REGISTRY_CRASH_FILE"
	crashRoundEnv = "MESO_REGISTRY_CRASH_ROUND"
)

// TestBoltCrashChild is the child of TestBoltCrashSafety: a master that
// applies operations from 8 goroutines as fast as it can and prints each
// acknowledgement, until it is killed.
func TestBoltCrashChild(t *testing.T) {
	path := os.Getenv(crashFileEnv)
	if path == "" {
		t.Skip("the child process of TestBoltCrashSafety")
	}
	round := os.Getenv(crashRoundEnv)
	store, err := OpenBoltStore(path, 10*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	r, err := New(store, Config{Logger: discardLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	if _, err := r.Recover(ctx, masterInfo("m-"+round)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	ack := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	for g := range 8 {
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("r%s-g%d-%d", round, g, i)
				if _, err := r.Apply(ctx, &AdmitAgent{Info: agentInfo(id)}); err != nil {
					fail(err)
				}
				ack("agent %s", id)
			}
		}()
	}
	// One goroutine overwrites a record: the recovered weight is never
	// older than the last acknowledged one.
	go func() {
		for i := 1; ; i++ {
			w := &mesospb.WeightInfo{Role: ptr("eng"), Weight: ptrF(float64(i))}
			if _, err := r.Apply(ctx, &UpdateWeights{Weights: []*mesospb.WeightInfo{w}}); err != nil {
				fail(err)
			}
			ack("weight %d", i)
		}
	}()
	select {}
}

func ptr(s string) *string    { return &s }
func ptrF(f float64) *float64 { return &f }

// TestBoltCrashSafety kills (SIGKILL) a master writing to a bbolt registry
// in the middle of a stream of operations, three times, and checks after
// each kill that everything it acknowledged was recovered.
func TestBoltCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), BoltFileName)
	acked := map[string]bool{}
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestBoltCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashFileEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it at a different point of the stream each round; every line
		// read, even after the kill, is an acknowledged operation.
		killAt := 300 + 250*round
		lastWeight, n := 0, 0
		timeout := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			kind, value, _ := strings.Cut(sc.Text(), " ")
			switch kind {
			case "agent":
				acked[value] = true
			case "weight":
				lastWeight, _ = strconv.Atoi(value)
			}
			if n++; n == killAt {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		timeout.Stop()
		err = cmd.Wait()
		if n < killAt {
			t.Fatalf("round %d: the child stopped after %d acknowledgements (%v):\n%s", round, n, err, stderr.String())
		}

		store, err := OpenBoltStore(path, 0)
		if err != nil {
			t.Fatalf("round %d: reopening after the kill: %v", round, err)
		}
		r := newRegistrar(t, store, Config{})
		reg := r.Registry()
		have := map[string]bool{}
		for _, id := range agentIDs(reg) {
			have[id] = true
		}
		var lost []string
		for id := range acked {
			if !have[id] {
				lost = append(lost, id)
			}
		}
		if len(lost) > 0 {
			t.Fatalf("round %d: %d acknowledged agents lost, e.g. %v", round, len(lost), lost[:min(5, len(lost))])
		}
		if got := reg.GetWeights(); lastWeight > 0 && (len(got) != 1 || got[0].GetInfo().GetWeight() < float64(lastWeight)) {
			t.Fatalf("round %d: weight %v recovered, but %d was acknowledged", round, got, lastWeight)
		}
		t.Logf("round %d: killed after %d acknowledgements; %d agents acknowledged in all, %d recovered",
			round, n, len(acked), len(have))
		r.Close()
		store.Close()
	}
}
