package fetcher

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzExtract feeds arbitrary bytes to the tar and zip extractors: they may
// fail, but must never panic nor write beside the sandbox.
func FuzzExtract(f *testing.F) {
	f.Add(tarBytes(&testing.T{}, tree), false)
	f.Add(zipBytes(&testing.T{}, tree), true)
	f.Add(tarBytes(&testing.T{}, []entry{
		{name: "d", kind: tar.TypeSymlink, link: "."},
		{name: "d/../x", kind: tar.TypeReg, body: "x"},
		{name: "h", kind: tar.TypeLink, link: "../y"},
	}), false)
	f.Add(zipBytes(&testing.T{}, []entry{{name: "../z", kind: tar.TypeReg, body: "z"}}), true)
	f.Add([]byte{0x1f, 0x8b, 0x08}, false)
	f.Fuzz(func(t *testing.T, data []byte, isZip bool) {
		parent := t.TempDir()
		sandbox := filepath.Join(parent, "sandbox")
		if err := os.Mkdir(sandbox, 0o755); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(sandbox)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		name := "in.tar"
		if isZip {
			name = "in.zip"
		}
		if err := root.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		x := &extractor{root: root, lim: Limits{MaxExtractedBytes: 1 << 20, MaxEntries: 100}}
		f, err := root.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if isZip {
			_ = x.zip(f)
		} else {
			_ = x.tarAny(bytes.NewReader(data))
		}
		ents, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 || ents[0].Name() != "sandbox" {
			t.Fatalf("extraction wrote beside the sandbox: %v", ents)
		}
	})
}
