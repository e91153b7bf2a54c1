package httpapi

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/meso-project/meso/api/v1/schedulerpb"
)

// TestDecodeCallLargeBodyMemory is the 60 MB body on the whole
// request path: reading the body and decoding it (a SUBSCRIBE with a 60 MB
// name, a MESSAGE with 45 MB of data) allocates at most 3 bytes per byte
// of body, the body itself included (6.2 and 6.9 before, with a generic
// tree of the document built twice). pkg/codec's
// TestUnmarshalJSONLargeBodyMemory covers more shapes.
func TestDecodeCallLargeBodyMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 60 MB bodies")
	}
	size := 60 << 20
	if raceEnabled {
		size = 4 << 20
	}
	bodies := map[string]string{
		"string field": `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"` + strings.Repeat("n", size) + `"}}}`,
		"bytes field": `{"type":"MESSAGE","framework_id":{"value":"f"},"message":{"agent_id":{"value":"a"},"executor_id":{"value":"e"},"data":"` +
			base64.StdEncoding.EncodeToString(make([]byte, size*3/4)) + `"}}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/scheduler", bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/json")
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			call := &schedulerpb.Call{}
			if _, err := DecodeCall(req, call); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(call)
			per := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(body))
			t.Logf("%s: %d bytes of body, %.2f bytes allocated per byte (body included)", name, len(body), per)
			if per > 3 {
				t.Errorf("reading and decoding allocated %.2f bytes per byte of body, want <= 3", per)
			}
		})
	}
}
