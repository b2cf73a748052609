// Package web serves the practitioners' pages: sign in, search, and a
// child's record. The pages are static and use the same JSON API as every
// other client, so the access policy, shielding and the audit trail apply
// to them without a second path to keep right.
package web

import (
	"embed"
	"net/http"
	"path"
)

//go:embed assets
var assets embed.FS

// securityHeaders keep the pages from running anything but their own script
// and from being framed; responses about children are never cached.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

var types = map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8"}

// Register adds the pages' routes: GET / and GET /assets/{name}.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { serve(w, "index.html") })
	mux.HandleFunc("GET /assets/{name}", func(w http.ResponseWriter, r *http.Request) { serve(w, r.PathValue("name")) })
}

func serve(w http.ResponseWriter, name string) {
	b, err := assets.ReadFile("assets/" + path.Base(name))
	ctype, ok := types[path.Ext(name)]
	if err != nil || !ok {
		http.NotFound(w, nil)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(b)
}
