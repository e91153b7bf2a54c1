package fetcher

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/meso-project/meso/api/v1/mesospb"
)

// BenchmarkFetch measures one container's fetch of a 16 MiB file from an
// HTTP server on loopback, what a task pays before its executor starts:
// straight into the sandbox (no cache), downloaded into the cache and
// copied (a miss), and copied from the cache (a hit); then the same for a
// gzipped tar of 64 files that is extracted.
func BenchmarkFetch(b *testing.B) {
	blob := make([]byte, 16<<20)
	rand.Read(blob)
	var archive bytes.Buffer
	zw := gzip.NewWriter(&archive)
	tw := tar.NewWriter(zw)
	for i := range 64 {
		part := blob[i*len(blob)/64 : (i+1)*len(blob)/64]
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("lib/part-%02d", i), Mode: 0o644, Size: int64(len(part)), Typeflag: tar.TypeReg})
		tw.Write(part)
	}
	tw.Close()
	zw.Close()
	files := map[string][]byte{"/blob.bin": blob, "/bundle.tgz": archive.Bytes()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	}))
	b.Cleanup(srv.Close)

	for _, file := range []struct {
		path    string
		extract bool
	}{{"/blob.bin", false}, {"/bundle.tgz", true}} {
		for _, mode := range []string{"bypass", "miss", "hit"} {
			b.Run(fmt.Sprintf("%s/%s", filepath.Base(file.path), mode), func(b *testing.B) {
				cache, err := NewCache(CacheConfig{Dir: filepath.Join(b.TempDir(), "cache"), Size: 1 << 30})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(cache.Close)
				uri := &mesospb.CommandInfo_URI{Value: proto.String(srv.URL + file.path),
					Extract: proto.Bool(file.extract), Cache: proto.Bool(mode != "bypass")}
				fetch := func(i int) {
					sandbox := filepath.Join(b.TempDir(), strconv.Itoa(i))
					if err := os.Mkdir(sandbox, 0o755); err != nil {
						b.Fatal(err)
					}
					lease, err := cache.Prepare(context.Background(), Request{ContainerID: strconv.Itoa(i), Sandbox: sandbox,
						URIs: []*mesospb.CommandInfo_URI{uri}})
					if err != nil {
						b.Fatal(err)
					}
					err = Run(context.Background(), lease.Plan, Options{})
					cache.Finish(lease, true, err)
					if err != nil {
						b.Fatal(err)
					}
				}
				if mode == "hit" {
					fetch(-1) // fill the cache
				}
				b.SetBytes(int64(len(files[file.path])))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if mode == "miss" {
						b.StopTimer()
						cache.Close()
						if cache, err = NewCache(CacheConfig{Dir: filepath.Join(b.TempDir(), "cache"), Size: 1 << 30}); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
					fetch(i)
				}
			})
		}
	}
}
