package hub_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"contactpoint/adapters/auth"
	"contactpoint/domain/access"
)

// TestSessionCookieSecure: the session cookie is Secure whenever the hub is
// reached over TLS, and with the setting that forces it behind a proxy;
// over plain HTTP without it, it is not (a local development hub).
func TestSessionCookieSecure(t *testing.T) {
	p := newPKI(t)
	files := p.files(t)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12}}}
	for _, tc := range []struct {
		name       string
		tls, force bool
		wantSecure bool
	}{
		{name: "over TLS", tls: true, wantSecure: true},
		{name: "plain HTTP, forced", force: true, wantSecure: true},
		{name: "plain HTTP", wantSecure: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := newConfig(t)
			if tc.tls {
				cfg.HTTPTLSCert, cfg.HTTPTLSKey = files.CertFile, files.KeyFile
			}
			cfg.Auth.SecureCookie = tc.force
			h := startHub(t, cfg)
			defer h.Close()
			if got := strings.HasPrefix(h.URL(), "https://"); got != tc.tls {
				t.Fatalf("URL %s", h.URL())
			}
			c := enrol(t, h, "cookie.user", access.RolePractitioner)
			totp, err := auth.TOTPCode(c.TOTPSecret, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(map[string]string{"username": c.Username, "password": c.Password, "code": totp})
			resp, err := client.Post(h.URL()+"/v1/auth/login", "application/json", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("sign-in: %d", resp.StatusCode)
			}
			var session *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == auth.CookieName {
					session = ck
				}
			}
			if session == nil {
				t.Fatal("no session cookie")
			}
			if session.Secure != tc.wantSecure || !session.HttpOnly {
				t.Errorf("session cookie Secure=%v HttpOnly=%v, want Secure=%v", session.Secure, session.HttpOnly, tc.wantSecure)
			}

			if tc.tls {
				// The port speaks HTTPS only: a plain request gets no session.
				resp, err := http.Post("http://"+h.Addr()+"/v1/auth/login", "application/json", bytes.NewReader(b))
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						t.Error("the HTTPS port answered a plain HTTP sign-in")
					}
				}
			}
		})
	}
}
