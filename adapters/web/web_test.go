package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"contactpoint/adapters/web"
	"contactpoint/adapters/web/webtest"
)

// TestAssets: the pages are served with their types and a policy that runs
// only their own script, and the script never writes data as HTML.
func TestAssets(t *testing.T) {
	mux := http.NewServeMux()
	web.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, ctype := range map[string]string{"/": "text/html", "/assets/app.js": "text/javascript", "/assets/app.css": "text/css"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
		if path == "/assets/app.js" {
			if m := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function`).Find(body); m != nil {
				t.Fatalf("the script uses %s: data must be written as text", m)
			}
		}
		if path == "/" && regexp.MustCompile(`<script>|\sstyle=|\son[a-z]+=`).Match(body) {
			t.Fatal("the page has inline script or style, which the policy refuses")
		}
	}
}

// TestValuesAreText: in a real browser, names that look like markup are
// shown as the characters they are, in the header, the results and the
// record, and nothing they hold runs or loads.
func TestValuesAreText(t *testing.T) {
	b := webtest.New(t)
	hostile := `<img src=x onerror="document.title='pwned'">`
	name := map[string]any{"value": map[string]string{"given": hostile, "family": "<b>Bold</b>"}, "source": map[string]string{"agency": "health", "system": "pas"},
		"updated_at": "2026-10-02T09:14:00Z", "rule": "most-recent"}
	kid := map[string]any{"id": "0190c0de-0000-7000-8000-000000000001", "name": name, "sources": []any{},
		"birth_date": map[string]any{"value": "2015-03-14", "source": map[string]string{"agency": "health", "system": "pas"}, "updated_at": "2026-10-02T09:14:00Z", "rule": "authoritative-then-most-recent"}}
	mux := http.NewServeMux()
	web.Register(mux)
	answer := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	mux.HandleFunc("GET /v1/auth/me", answer(map[string]any{"id": "p1", "name": hostile, "organisation": "<i>Org</i>", "roles": []string{"practitioner"}}))
	mux.HandleFunc("GET /v1/children", answer(map[string]any{"count": 1, "results": []any{map[string]any{"child": kid, "reasons": []string{hostile}}}}))
	mux.HandleFunc("GET /v1/children/{id}", answer(kid))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	p := b.Page(t)
	p.Go(srv.URL + "/#/search?family=x&birth_date=2015-03-14")
	p.WaitText("#results", "<b>Bold</b>")
	p.Press("#results", hostile+" <b>Bold</b>")
	p.WaitText("#view", "from the hospital's record, updated 2 October 2026")
	if got := p.JS(`String(document.querySelectorAll("img, b, i").length)`); got != "0" {
		t.Fatalf("markup in data became %s elements", got)
	}
	if !strings.Contains(p.Text("#who"), hostile) || p.JS(`document.title`) == "pwned" {
		t.Fatalf("the name was not shown as text: %q, title %q", p.Text("#who"), p.JS(`document.title`))
	}
	p.Checked("web-values-are-text")

	// Signed out, the sign-in page passes axe too.
	out := b.Page(t)
	mux2 := http.NewServeMux()
	web.Register(mux2)
	srv2 := httptest.NewServer(mux2)
	defer srv2.Close()
	out.Go(srv2.URL + "/")
	out.Wait("the sign-in form", `!document.getElementById("signin").hidden`)
	out.Checked("web-sign-in")
}
