package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWriteJSONNonFinite: a NaN or an infinity that got into a view some
// other way than a client's call is rendered as the Mesos JSON dialect
// writes it, instead of failing the endpoint with "json: unsupported value".
func TestWriteJSONNonFinite(t *testing.T) {
	type framework = map[string]any
	v := map[string]any{
		"frameworks": []framework{{"failover_timeout": math.NaN(), "resources": map[string]float64{"cpus": math.Inf(1), "mem": 5}}},
		"limits":     []float32{float32(math.Inf(-1)), 1},
		"raw":        json.RawMessage(`{"a":1}`),
		"ptr":        new(float64),
		"nil":        (*int)(nil),
	}
	rec := httptest.NewRecorder()
	WriteJSON(rec, nil, http.StatusOK, v)
	if rec.Code != http.StatusOK {
		t.Fatalf("WriteJSON = %d %s, want 200", rec.Code, rec.Body)
	}
	var got any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	want := map[string]any{
		"frameworks": []any{map[string]any{"failover_timeout": "NaN", "resources": map[string]any{"cpus": "Infinity", "mem": 5.0}}},
		"limits":     []any{"-Infinity", 1.0},
		"raw":        map[string]any{"a": 1.0},
		"ptr":        0.0,
		"nil":        nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
}
