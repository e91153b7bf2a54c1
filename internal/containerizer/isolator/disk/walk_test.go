package disk

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// writeData writes n bytes of random data (which no filesystem can leave
// sparse or compress away) to path.
func writeData(t *testing.T, path string, n int) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// blocks returns the bytes allocated to path itself.
func blocks(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return uint64(st.Blocks) * 512
}

func TestDu(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeData(t, filepath.Join(dir, "a", "one"), 100<<10)
	writeData(t, filepath.Join(dir, "a", "b", "two"), 300<<10)
	// A big file outside the tree, reached only through a symlink.
	outside := filepath.Join(t.TempDir(), "big")
	writeData(t, outside, 2<<20)
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	// A second name for "one".
	if err := os.Link(filepath.Join(dir, "a", "one"), filepath.Join(dir, "hardlink")); err != nil {
		t.Fatal(err)
	}

	var want uint64
	for _, p := range []string{"", "a", "a/b", "a/one", "a/b/two", "link"} {
		want += blocks(t, filepath.Join(dir, p))
	}
	got, err := du(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("du = %d, want %d (hard link once, symlink not followed)", got, want)
	}
	if got < 400<<10 || got >= 2<<20 {
		t.Errorf("du = %d, want about 400KB", got)
	}

	// The system's du agrees, in its 1K blocks.
	if path, err := exec.LookPath("du"); err == nil {
		out, err := exec.Command(path, "-k", "-s", dir).Output()
		if err != nil {
			t.Fatalf("du -k -s: %v", err)
		}
		kb, err := strconv.ParseUint(strings.Fields(string(out))[0], 10, 64)
		if err != nil {
			t.Fatalf("du output %q: %v", out, err)
		}
		if want := (got + 1023) / 1024; kb != want {
			t.Errorf("du -k -s says %dK, we say %dK", kb, want)
		}
	}

	// A symlinked root is followed.
	root := filepath.Join(t.TempDir(), "sandbox")
	if err := os.Symlink(dir, root); err != nil {
		t.Fatal(err)
	}
	if viaLink, err := du(t.Context(), root); err != nil || viaLink != got {
		t.Errorf("du(symlink to the tree) = %d, %v; want %d", viaLink, err, got)
	}
}

func TestDuErrors(t *testing.T) {
	if _, err := du(t.Context(), filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("du(missing) error = %v, want ErrNotExist", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := du(ctx, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Errorf("du(cancelled) error = %v, want context.Canceled", err)
	}
}
