package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	tests := []struct {
		method, path string
		code         int
		typ, body    string
	}{
		{"GET", "/", 200, "text/html", `<script type="module" src="/static/app.js">`},
		{"GET", "/master/", 200, "text/html", "<title>meso</title>"},
		{"HEAD", "/", 200, "text/html", ""},
		{"GET", "/static/app.js", 200, "text/javascript", "subscribe("},
		{"GET", "/master/static/style.css", 200, "text/css", ":root"},
		{"GET", "/static/stream.js", 200, "text/javascript", "class RecordIO"},
		{"GET", "/static/nope.js", 404, "", ""},
		{"GET", "/static/", 404, "", ""},
		{"GET", "/static/../webui.go", 404, "", ""},
		{"POST", "/", 405, "", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.code)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); tt.typ != "" && !strings.HasPrefix(ct, tt.typ) {
			t.Errorf("%s %s: Content-Type %q, want %s", tt.method, tt.path, ct, tt.typ)
		}
		if !strings.Contains(string(b), tt.body) {
			t.Errorf("%s %s: body does not contain %q:\n%.300s", tt.method, tt.path, tt.body, b)
		}
	}
}
