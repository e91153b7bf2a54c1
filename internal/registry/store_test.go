package registry

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// storeHarness opens stores on one set of data, as successive masters
// would.
type storeHarness struct {
	// openStore returns a new store on the data, closed at the end of the
	// test (closing it twice is harmless).
	openStore func(t *testing.T) (Store, error)
	// shared: two stores may be open on the data at once, and the later
	// Recover fences the earlier store. Otherwise the data is exclusive: a
	// second open fails with ErrLocked while the first store is open.
	shared bool
}

// testStoreContract runs the Store contract against the stores newHarness
// makes (each subtest gets fresh data), in the shape of hashicorp/raft's
// store tests.
func testStoreContract(t *testing.T, newHarness func(t *testing.T) storeHarness) {
	ctx := context.Background()
	k := func(kind Kind, name string) Key { return Key{Kind: kind, Name: name} }
	put := func(kind Kind, name, v string) Entry { return Entry{Key: k(kind, name), Value: []byte(v)} }
	del := func(kind Kind, name string) Entry { return Entry{Key: k(kind, name)} }

	// reopen closes s (when the data is exclusive) and returns what a new
	// store on the data recovers.
	reopen := func(t *testing.T, h storeHarness, s Store) map[Key]string {
		t.Helper()
		if !h.shared {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		s2 := h.open(t)
		defer s2.Close()
		got, err := s2.Recover(ctx)
		if err != nil {
			t.Fatalf("Recover: %v", err)
		}
		return asMap(got)
	}
	recovered := func(t *testing.T, h storeHarness) Store {
		t.Helper()
		s := h.open(t)
		got, err := s.Recover(ctx)
		if err != nil {
			t.Fatalf("Recover: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("new store recovered %d records", len(got))
		}
		return s
	}
	write := func(t *testing.T, s Store, changes ...Entry) {
		t.Helper()
		if err := s.Write(ctx, changes); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}

	t.Run("WriteBeforeRecover", func(t *testing.T) {
		s := newHarness(t).open(t)
		defer s.Close()
		if err := s.Write(ctx, []Entry{put(KindAgents, "a", "1")}); !errors.Is(err, ErrNotRecovered) {
			t.Fatalf("Write before Recover = %v, want ErrNotRecovered", err)
		}
	})

	t.Run("RoundTripEveryKind", func(t *testing.T) {
		h := newHarness(t)
		s := recovered(t, h)
		var changes []Entry
		want := map[Key]string{}
		for i, kind := range Kinds {
			for j := range 3 {
				e := put(kind, fmt.Sprintf("n%d", j), fmt.Sprintf("v%d-%d", i, j))
				changes = append(changes, e)
				want[e.Key] = string(e.Value)
			}
		}
		changes = append(changes, put(KindWeights, "eng%2Fweb", "role with a slash"))
		want[k(KindWeights, "eng%2Fweb")] = "role with a slash"
		write(t, s, changes...)
		if diff := cmp.Diff(want, reopen(t, h, s)); diff != "" {
			t.Fatalf("recovered records (-want +got):\n%s", diff)
		}
	})

	t.Run("OverwriteAndDelete", func(t *testing.T) {
		h := newHarness(t)
		s := recovered(t, h)
		write(t, s, put(KindAgents, "a", "1"), put(KindAgents, "b", "1"))
		write(t, s, put(KindAgents, "a", "2"), del(KindAgents, "b"), del(KindAgents, "never"))
		want := map[Key]string{k(KindAgents, "a"): "2"}
		if diff := cmp.Diff(want, reopen(t, h, s)); diff != "" {
			t.Fatalf("recovered records (-want +got):\n%s", diff)
		}
	})

	t.Run("ChangesApplyInOrder", func(t *testing.T) {
		h := newHarness(t)
		s := recovered(t, h)
		write(t, s, put(KindGone, "x", "1"), del(KindGone, "x"), put(KindGone, "y", "1"), del(KindGone, "y"),
			put(KindGone, "y", "2"))
		want := map[Key]string{k(KindGone, "y"): "2"}
		if diff := cmp.Diff(want, reopen(t, h, s)); diff != "" {
			t.Fatalf("recovered records (-want +got):\n%s", diff)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		h := newHarness(t)
		s := recovered(t, h)
		for _, bad := range []Key{{Kind: "nope", Name: "a"}, {Kind: KindAgents, Name: ""}, {Kind: KindAgents, Name: "a/b"},
			{Kind: KindAgents, Name: ".."}, {Kind: KindAgents, Name: "."}} {
			err := s.Write(ctx, []Entry{put(KindAgents, "ok", "1"), {Key: bad, Value: []byte("x")}})
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Write with key %q = %v, want ErrInvalidKey", bad, err)
			}
		}
		if got := reopen(t, h, s); len(got) != 0 {
			t.Fatalf("a write with an invalid key applied %v", got)
		}
	})

	t.Run("EmptyWrite", func(t *testing.T) {
		s := recovered(t, newHarness(t))
		defer s.Close()
		write(t, s)
	})

	t.Run("LargeWrite", func(t *testing.T) {
		// 3 MB in one write: more than one ZooKeeper request may carry.
		h := newHarness(t)
		s := recovered(t, h)
		value := strings.Repeat("r", 1024)
		var puts, dels []Entry
		for i := range 3000 {
			puts = append(puts, put(KindAgents, fmt.Sprintf("agent-%04d", i), value))
			dels = append(dels, del(KindAgents, fmt.Sprintf("agent-%04d", i)))
		}
		write(t, s, puts...)
		if !h.shared {
			if got := reopen(t, h, s); len(got) != 3000 {
				t.Fatalf("recovered %d records, want 3000", len(got))
			}
			s = h.open(t)
			if _, err := s.Recover(ctx); err != nil {
				t.Fatal(err)
			}
		} else if got := reopen(t, h, s); len(got) != 3000 {
			t.Fatalf("recovered %d records, want 3000", len(got))
		} else {
			s = h.open(t) // the reopened store fenced s
			if _, err := s.Recover(ctx); err != nil {
				t.Fatal(err)
			}
		}
		write(t, s, dels...)
		if got := reopen(t, h, s); len(got) != 0 {
			t.Fatalf("recovered %d records after deleting all", len(got))
		}
	})

	t.Run("ConcurrentWrites", func(t *testing.T) {
		h := newHarness(t)
		s := recovered(t, h)
		var wg sync.WaitGroup
		want := map[Key]string{}
		for g := range 8 {
			for i := range 10 {
				want[k(KindAgents, fmt.Sprintf("g%d-%d", g, i))] = "v"
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					if err := s.Write(ctx, []Entry{put(KindAgents, fmt.Sprintf("g%d-%d", g, i), "v")}); err != nil {
						t.Errorf("Write: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		if diff := cmp.Diff(want, reopen(t, h, s)); diff != "" {
			t.Fatalf("recovered records (-want +got):\n%s", diff)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		h := newHarness(t)
		s := recovered(t, h)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Write(cctx, []Entry{put(KindAgents, "a", "1")}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Write with a canceled context = %v, want context.Canceled", err)
		}
		if got := reopen(t, h, s); len(got) != 0 {
			t.Fatalf("a canceled write applied %v", got)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s := recovered(t, newHarness(t))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(ctx, []Entry{put(KindAgents, "a", "1")}); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Close = %v, want ErrClosed", err)
		}
		if _, err := s.Recover(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Recover after Close = %v, want ErrClosed", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
	})

	t.Run("Fencing", func(t *testing.T) {
		h := newHarness(t)
		if !h.shared {
			t.Skip("the store's data is exclusive; see Exclusive")
		}
		a := recovered(t, h)
		defer a.Close()
		write(t, a, put(KindAgents, "a1", "from a"))
		b := h.open(t)
		defer b.Close()
		got, err := b.Recover(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[Key]string{k(KindAgents, "a1"): "from a"}, asMap(got)); diff != "" {
			t.Fatalf("b recovered (-want +got):\n%s", diff)
		}
		// The deposed store's writes fail and change nothing, large ones too.
		err = a.Write(ctx, []Entry{put(KindAgents, "a1", "stale"), put(KindAgents, "a2", "stale")})
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("deposed store's Write = %v, want ErrFenced", err)
		}
		var big []Entry
		for i := range 1500 {
			big = append(big, put(KindGone, fmt.Sprintf("g%d", i), strings.Repeat("x", 1024)))
		}
		if err := a.Write(ctx, big); !errors.Is(err, ErrFenced) {
			t.Fatalf("deposed store's large Write = %v, want ErrFenced", err)
		}
		write(t, b, put(KindAgents, "b1", "from b"))
		want := map[Key]string{k(KindAgents, "a1"): "from a", k(KindAgents, "b1"): "from b"}
		if diff := cmp.Diff(want, reopen(t, h, b)); diff != "" {
			t.Fatalf("records after the deposed store's writes (-want +got):\n%s", diff)
		}
	})

	t.Run("Exclusive", func(t *testing.T) {
		h := newHarness(t)
		if h.shared {
			t.Skip("the store's data is shared; see Fencing")
		}
		a := recovered(t, h)
		write(t, a, put(KindAgents, "a1", "1"))
		start := time.Now()
		if _, err := h.openStore(t); !errors.Is(err, ErrLocked) {
			t.Fatalf("second open = %v, want ErrLocked", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("second open took %v to fail", d)
		}
		if diff := cmp.Diff(map[Key]string{k(KindAgents, "a1"): "1"}, reopen(t, h, a)); diff != "" {
			t.Fatalf("records after close (-want +got):\n%s", diff)
		}
	})
}

func (h storeHarness) open(t *testing.T) Store {
	t.Helper()
	s, err := h.openStore(t)
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	return s
}

func asMap(es []Entry) map[Key]string {
	m := map[Key]string{}
	for _, e := range es {
		m[e.Key] = string(e.Value)
	}
	return m
}

func TestMemoryStoreContract(t *testing.T) {
	testStoreContract(t, func(t *testing.T) storeHarness {
		base := NewMemoryStore()
		return storeHarness{shared: true, openStore: func(t *testing.T) (Store, error) { return base.Reopen(), nil }}
	})
}

func TestBoltStoreContract(t *testing.T) {
	testStoreContract(t, func(t *testing.T) storeHarness {
		path := filepath.Join(t.TempDir(), BoltFileName)
		return storeHarness{openStore: func(t *testing.T) (Store, error) {
			s, err := OpenBoltStore(path, 200*time.Millisecond)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { s.Close() })
			return s, nil
		}}
	})
}

func TestKeyValid(t *testing.T) {
	for _, name := range []string{"a", "%", "%2E", "eng%2Fweb", "a.b", "..."} {
		if err := (Key{Kind: KindWeights, Name: name}).Valid(); err != nil {
			t.Errorf("Valid(%q) = %v", name, err)
		}
	}
}

func TestEscapeName(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "%",
		"abc-XYZ_09.1":              "abc-XYZ_09.1",
		"eng/web":                   "eng%2Fweb",
		".":                         "%2E",
		"..":                        "%2E%2E",
		"a b%":                      "a%20b%25",
		"\x00é":                     "%00%C3%A9",
		"20261130-211500-1-5050-S0": "20261130-211500-1-5050-S0",
	} {
		if got := escapeName(in); got != want {
			t.Errorf("escapeName(%q) = %q, want %q", in, got, want)
		}
	}
}
