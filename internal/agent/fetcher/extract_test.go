package fetcher

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ulikunitz/xz"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// entry is one archive member for the test builders.
type entry struct {
	name, body, link string
	kind             byte // tar.TypeReg, TypeDir, TypeSymlink, TypeLink
	mode             int64
}

func tarBytes(t *testing.T, ents []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.kind, Linkname: e.link, Mode: e.mode, Size: int64(len(e.body))}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.kind != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.kind == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	xw, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(b)
	if err := xw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bzip2Bytes uses the bzip2 program: the standard library only decompresses.
func bzip2Bytes(t *testing.T, b []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath("bzip2"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("bzip2 program not installed (scripts/install-deps.sh installs it); compress/bzip2 cannot write")
		}
		t.Skip("bzip2 program not installed; compress/bzip2 cannot write")
	}
	cmd := exec.Command("bzip2", "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func zipBytes(t *testing.T, ents []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		body := e.body
		switch e.kind {
		case tar.TypeDir:
			h.SetMode(fs.ModeDir | 0o755)
		case tar.TypeSymlink:
			h.SetMode(fs.ModeSymlink | 0o777)
			body = e.link
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var tree = []entry{
	{name: "app/", kind: tar.TypeDir, mode: 0o755},
	{name: "app/run.sh", kind: tar.TypeReg, body: "#!/bin/sh\n", mode: 0o755},
	{name: "app/conf/a.txt", kind: tar.TypeReg, body: "A"},
	{name: "app/cur", kind: tar.TypeSymlink, link: "conf/a.txt"},
}

// snapshot lists the sandbox: path -> content, "-> target" for links.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			got[rel] = "-> " + l
		case d.IsDir():
			got[rel+"/"] = ""
		default:
			b, _ := os.ReadFile(p)
			got[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// fetchArchive puts body in a file named name and fetches it with extract.
func fetchArchive(t *testing.T, name string, body []byte, lim Limits) (sandbox string, err error) {
	t.Helper()
	src := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	sandbox = filepath.Join(parent, "sandbox")
	if err := os.Mkdir(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	err = Fetch(context.Background(), []*mesospb.CommandInfo_URI{uriOf(src)}, sandbox, Options{Limits: lim})
	return sandbox, err
}

func TestExtractFormats(t *testing.T) {
	plainTar := tarBytes(t, tree)
	for _, tc := range []struct {
		name string
		body func(t *testing.T) []byte
	}{
		{"b.tar", func(*testing.T) []byte { return plainTar }},
		{"b.tar.gz", func(t *testing.T) []byte { return gzipBytes(t, plainTar) }},
		{"b.tgz", func(t *testing.T) []byte { return gzipBytes(t, plainTar) }},
		{"b.tar.bz2", func(t *testing.T) []byte { return bzip2Bytes(t, plainTar) }},
		{"b.tbz2", func(t *testing.T) []byte { return bzip2Bytes(t, plainTar) }},
		{"b.tar.xz", func(t *testing.T) []byte { return xzBytes(t, plainTar) }},
		{"b.txz", func(t *testing.T) []byte { return xzBytes(t, plainTar) }},
		{"b.zip", func(t *testing.T) []byte { return zipBytes(t, tree) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body(t)
			sandbox, err := fetchArchive(t, tc.name, body, Limits{})
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			want := map[string]string{
				tc.name:          string(body), // Mesos keeps the archive
				"app/":           "",
				"app/run.sh":     "#!/bin/sh\n",
				"app/conf/":      "",
				"app/conf/a.txt": "A",
				"app/cur":        "-> conf/a.txt",
			}
			if diff := cmp.Diff(want, snapshot(t, sandbox)); diff != "" {
				t.Errorf("sandbox (-want +got):\n%s", diff)
			}
			if strings.HasSuffix(tc.name, ".zip") {
				return
			}
			fi, err := os.Stat(filepath.Join(sandbox, "app/run.sh"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o100 == 0 {
				t.Errorf("run.sh mode = %v, want the archive's executable bit", fi.Mode())
			}
		})
	}
}

func TestExtractBareGzip(t *testing.T) {
	body := gzipBytes(t, []byte("plain"))
	sandbox, err := fetchArchive(t, "notes.txt.gz", body, Limits{})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	want := map[string]string{"notes.txt.gz": string(body), "notes.txt": "plain"}
	if diff := cmp.Diff(want, snapshot(t, sandbox)); diff != "" {
		t.Errorf("sandbox (-want +got):\n%s", diff)
	}
}

func TestExtractFalseKeepsArchive(t *testing.T) {
	body := tarBytes(t, tree)
	src := filepath.Join(t.TempDir(), "k.tar")
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	sandbox := t.TempDir()
	u := uriOf(src)
	u.Extract = new(bool)
	if err := Fetch(context.Background(), []*mesospb.CommandInfo_URI{u}, sandbox, Options{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"k.tar": string(body)}, snapshot(t, sandbox)); diff != "" {
		t.Errorf("sandbox (-want +got):\n%s", diff)
	}
}

func TestExtractCorruptArchive(t *testing.T) {
	_, err := fetchArchive(t, "bad.tar.gz", []byte("not gzip at all, not tar either"), Limits{})
	if err == nil || !strings.Contains(err.Error(), "Failed to extract archive '") {
		t.Errorf("err = %v, want Mesos's extract failure", err)
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		ents []entry
		want string
	}{
		{"dotdot", []entry{{name: "../evil", kind: tar.TypeReg, body: "x"}}, "entry '../evil': path with '..' refused"},
		{"dotdot deep", []entry{{name: "a/../../evil", kind: tar.TypeReg, body: "x"}}, "entry 'a/../../evil'"},
		{"absolute", []entry{{name: "/tmp/evil", kind: tar.TypeReg, body: "x"}}, "entry '/tmp/evil': absolute path refused"},
		{"symlink then write through it", []entry{
			{name: "d", kind: tar.TypeSymlink, link: "."},
			{name: "d/evil", kind: tar.TypeReg, body: "x"},
		}, "entry 'd/evil': path through symlink 'd' refused"},
		{"symlink outside", []entry{{name: "out", kind: tar.TypeSymlink, link: "../outside"}}, "entry 'out': symlink to '../outside' outside the sandbox refused"},
		{"absolute symlink", []entry{{name: "out", kind: tar.TypeSymlink, link: "/etc"}}, "entry 'out': symlink to '/etc'"},
		{"symlink via symlink dotdot", []entry{
			{name: "s", kind: tar.TypeSymlink, link: "."},
			{name: "t", kind: tar.TypeSymlink, link: "s/../outside"},
		}, "entry 't': symlink to 's/../outside' outside the sandbox refused"},
		{"overwrite a symlink", []entry{
			{name: "a", kind: tar.TypeReg, body: "ok"},
			{name: "l", kind: tar.TypeSymlink, link: "a"},
			{name: "l", kind: tar.TypeReg, body: "x"},
		}, "entry 'l': existing symlink 'l' refused"},
		{"hard link outside", []entry{{name: "h", kind: tar.TypeLink, link: "../outside/secret"}}, "entry 'h': hard link to '../outside/secret' outside the sandbox refused"},
		{"hard link absolute", []entry{{name: "h", kind: tar.TypeLink, link: "/etc/passwd"}}, "entry 'h': hard link to '/etc/passwd'"},
	} {
		for _, format := range []string{"tar", "zip"} {
			if format == "zip" && tc.ents[len(tc.ents)-1].kind == tar.TypeLink {
				continue // zip has no hard links
			}
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				var body []byte
				if format == "tar" {
					body = tarBytes(t, tc.ents)
				} else {
					body = zipBytes(t, tc.ents)
				}
				sandbox, err := fetchArchive(t, "evil."+format, body, Limits{})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want containing %q", err, tc.want)
				}
				// Nothing beside the sandbox in its parent.
				ents, err := os.ReadDir(filepath.Dir(sandbox))
				if err != nil {
					t.Fatal(err)
				}
				if len(ents) != 1 || ents[0].Name() != "sandbox" {
					t.Errorf("the sandbox's parent holds %v", ents)
				}
			})
		}
	}
}

func TestExtractHardLinkInside(t *testing.T) {
	body := tarBytes(t, []entry{
		{name: "a", kind: tar.TypeReg, body: "same"},
		{name: "b", kind: tar.TypeLink, link: "a"},
	})
	sandbox, err := fetchArchive(t, "h.tar", body, Limits{})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	a, _ := os.Stat(filepath.Join(sandbox, "a"))
	b, err := os.Stat(filepath.Join(sandbox, "b"))
	if err != nil || !os.SameFile(a, b) {
		t.Errorf("b is not a hard link to a: %v", err)
	}
}

func TestExtractLimits(t *testing.T) {
	// 1 MiB of zeros gzips to about 1 KiB: a small bomb.
	big := tarBytes(t, []entry{{name: "zeros", kind: tar.TypeReg, body: string(make([]byte, 1<<20))}})
	_, err := fetchArchive(t, "bomb.tar.gz", gzipBytes(t, big), Limits{MaxExtractedBytes: 64 << 10})
	if !errors.Is(err, ErrLimit) {
		t.Errorf("size: err = %v, want ErrLimit", err)
	}
	_, err = fetchArchive(t, "bomb.gz", gzipBytes(t, make([]byte, 1<<20)), Limits{MaxExtractedBytes: 64 << 10})
	if !errors.Is(err, ErrLimit) {
		t.Errorf("bare gz size: err = %v, want ErrLimit", err)
	}
	var many []entry
	for i := range 20 {
		many = append(many, entry{name: strings.Repeat("f", i+1), kind: tar.TypeReg})
	}
	_, err = fetchArchive(t, "many.zip", zipBytes(t, many), Limits{MaxEntries: 10})
	if !errors.Is(err, ErrLimit) {
		t.Errorf("entries: err = %v, want ErrLimit", err)
	}
}
