// Package webui is meso's web UI: static files (plain ES modules and CSS,
// no build step) embedded in the binary and served by the master at "/"
// (the page) and under "/static/" (its assets).
//
// The page is a client of public endpoints only: it keeps one operator
// SUBSCRIBE stream open on the master's /api/v1 and updates its model from
// the stream's events (no polling of /state); it reads /roles for weights,
// quota and offered resources, the explainer
// (/master/explain/framework, package explain), and the agents'
// /monitor/statistics, /state and /files/* with JSONP, as Mesos's web UI
// does, since agents are other origins. On a standby master it follows the
// leader through /master/redirect.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// Assets is the UI's assets path prefix: the master routes it and "/" to
// Handler.
const Assets = "/static/"

// Handler serves the UI: a request whose path contains "/static/" gets the
// embedded file it names (404 when none), any other path the page. The
// master's router may hand it the path with "/master" in front ("/" is
// served as "/master/"), so the handler looks for the assets prefix
// anywhere in the path. GET and HEAD only.
func Handler() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	assets := http.FileServerFS(sub)
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "405 Method Not Allowed.", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		name := "index.html"
		if _, rest, ok := strings.Cut(r.URL.Path, Assets); ok {
			name = path.Clean(rest)
			if name == "." || name == "index.html" || strings.HasPrefix(name, "..") {
				http.NotFound(w, r)
				return
			}
		}
		if name != "index.html" {
			r2 := new(http.Request)
			*r2 = *r
			u := *r.URL
			u.Path, u.RawPath = "/"+name, ""
			r2.URL = &u
			assets.ServeHTTP(w, r2)
			return
		}
		// The page itself, never cached, so that an upgraded master
		// serves its own. (FileServer would redirect /index.html.)
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Type", "text/html; charset=utf-8")
		if r.Method == http.MethodGet {
			_, _ = w.Write(index)
		}
	})
}
