package hub_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"contactpoint/domain/access"
)

// TestWebPages: the practitioners' pages are static, locked down by their
// headers, and reach children only through the API with the session the
// sign-in sets — so the policy and the audit trail cover them too.
func TestWebPages(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	childID := seedOne(t, h)
	base := "http://" + h.Addr()

	for _, tt := range []struct{ path, ctype string }{
		{"/", "text/html"}, {"/assets/app.js", "text/javascript"}, {"/assets/app.css", "text/css"},
	} {
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ctype) ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Fatalf("%s: %d %v", tt.path, resp.StatusCode, resp.Header)
		}
	}
	for _, p := range []string{"/assets/missing.js", "/assets/..%2Fweb.go", "/nothing-here"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("%s served", p)
		}
	}
	js, _ := http.Get(base + "/assets/app.js")
	src, _ := io.ReadAll(js.Body)
	js.Body.Close()
	if strings.Contains(string(src), "innerHTML") {
		t.Fatal("the pages must write data as text, never as HTML")
	}

	// The page's flow: sign in (a session cookie), search, open the record.
	c := enrol(t, h, "web.user", access.RolePractitioner)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	b, _ := json.Marshal(map[string]string{"username": c.Username, "password": c.Password, "code": code(t, c.TOTPSecret)})
	resp, err := client.Post(base+"/v1/auth/login", "application/json", bytes.NewReader(b))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign in: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, p := range []string{"/v1/auth/me", "/v1/children?family=Hughes&birth_date=2015-03-14", "/v1/children/" + childID} {
		resp, err := client.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s with the session cookie: %d %s", p, resp.StatusCode, body)
		}
	}
	p, _ := h.Registry.ByUsername(t.Context(), c.Username)
	waitAudited(t, h)
	if n := auditCount(t, h, "actor = $1 and action in ('search', 'view')", p.ID); n != 2 {
		t.Fatalf("the page's search and view left %d audit records, want 2", n)
	}
}
