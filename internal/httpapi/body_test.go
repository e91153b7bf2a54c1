package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestBody: an answer within BodyHeld is sent whole with its length, a
// larger one without it, as it comes; the bytes are the same either way.
func TestBody(t *testing.T) {
	for _, size := range []int{0, 10, BodyHeld, BodyHeld + 1, 3 * BodyHeld} {
		want := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		rec := httptest.NewRecorder()
		b := NewBody(rec, http.StatusAccepted)
		for rest := want; len(rest) > 0; {
			n := min(len(rest), 100_000)
			if _, err := b.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusAccepted || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("%d bytes: status %d, body of %d bytes", size, rec.Code, rec.Body.Len())
		}
		length := rec.Header().Get("Content-Length")
		if size <= BodyHeld && length != strconv.Itoa(size) {
			t.Errorf("%d bytes: Content-Length %q", size, length)
		}
		if size > BodyHeld && length != "" {
			t.Errorf("%d bytes: Content-Length %q, want none (sent as it came)", size, length)
		}
	}
}
