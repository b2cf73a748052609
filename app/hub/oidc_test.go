package hub_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"contactpoint/adapters/auth"
	"contactpoint/domain/access"
)

// fakeIdP is an OpenID Connect provider in the test process: discovery,
// JWKS, an authorisation endpoint that signs in whoever the test says, and
// a token endpoint that checks PKCE and signs ID tokens with an RSA key.
type fakeIdP struct {
	srv          *httptest.Server
	key          *rsa.PrivateKey
	clientID     string
	clientSecret string

	mu     sync.Mutex
	codes  map[string]grant
	user   map[string]any // claims of the next sign-in
	signer *rsa.PrivateKey
	nonce  string // when set, replaces the nonce the hub sent
	aud    string // when set, replaces the audience
	refuse bool   // answer the authorisation request with access_denied
}

type grant struct {
	claims    map[string]any
	nonce     string
	challenge string
	redirect  string
}

func newFakeIdP(t *testing.T) *fakeIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := &fakeIdP{key: key, signer: key, clientID: "contactpoint", clientSecret: "client-secret", codes: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		u := idp.srv.URL
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token", "jwks_uri": u + "/jwks",
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", idp.authorize)
	mux.HandleFunc("POST /token", idp.token)
	idp.srv = httptest.NewServer(mux)
	t.Cleanup(idp.srv.Close)
	return idp
}

func (idp *fakeIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	idp.mu.Lock()
	defer idp.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	bq := url.Values{"state": {q.Get("state")}}
	switch {
	case idp.refuse:
		bq.Set("error", "access_denied")
	case q.Get("client_id") != idp.clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || !strings.Contains(q.Get("scope"), "openid"):
		http.Error(w, "bad authorisation request", http.StatusBadRequest)
		return
	default:
		code := strings.TrimRight(base64.URLEncoding.EncodeToString([]byte(time.Now().String()+q.Get("state"))), "=")
		idp.codes[code] = grant{claims: idp.user, nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
		bq.Set("code", code)
	}
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (idp *fakeIdP) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	idp.mu.Lock()
	g, found := idp.codes[r.PostFormValue("code")]
	delete(idp.codes, r.PostFormValue("code"))
	signer, nonce, aud := idp.signer, idp.nonce, idp.aud
	idp.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if id != idp.clientID || secret != idp.clientSecret || !found || r.PostFormValue("grant_type") != "authorization_code" ||
		r.PostFormValue("redirect_uri") != g.redirect || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		return
	}
	if nonce == "" {
		nonce = g.nonce
	}
	if aud == "" {
		aud = idp.clientID
	}
	now := time.Now()
	claims := map[string]any{"iss": idp.srv.URL, "aud": aud, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "nonce": nonce}
	for k, v := range g.claims {
		claims[k] = v
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: signer}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	payload, _ := json.Marshal(claims)
	jws, err := sig.Sign(payload)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	raw, _ := jws.CompactSerialize()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": raw})
}

// browser follows the sign-in through the provider step by step, keeping
// cookies as a browser would.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func location(t *testing.T, c *http.Client, u string) *url.URL {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestOIDCSignIn(t *testing.T) {
	idp := newFakeIdP(t)
	cfg := newConfig(t)
	cfg.HTTPAddr = freeAddr(t)
	cfg.Auth.OIDC = auth.OIDCConfig{Issuer: idp.srv.URL, ClientID: idp.clientID, ClientSecret: idp.clientSecret,
		RedirectURL: "http://" + cfg.HTTPAddr + "/v1/auth/oidc/callback", Claim: "email", Match: "email"}
	h := startHub(t, cfg)
	defer h.Close()
	ctx := context.Background()

	withEmail := func(username, email string, c auth.Change) string {
		enrol(t, h, username, access.RolePractitioner)
		p, err := h.Registry.ByUsername(ctx, username)
		if err != nil {
			t.Fatal(err)
		}
		c.Email = &email
		if _, err := h.Registry.Apply(ctx, p.ID, "system", c); err != nil {
			t.Fatal(err)
		}
		return p.ID
	}
	amira := withEmail("amira", "amira.patel@leeds.example", auth.Change{})
	suspended := "suspended"
	sam := withEmail("sam", "sam.jones@leeds.example", auth.Change{Status: &suspended, Reason: "investigation"})
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}

	user := func(email string) map[string]any {
		return map[string]any{"sub": "idp-" + email, "email": email, "email_verified": true}
	}
	cases := []struct {
		name   string
		claims map[string]any
		idp    func(*fakeIdP) // the provider misbehaving
		mangle func(*url.URL, *http.Client)
		status int
		reason string // audit reason of a refusal
		actor  string
	}{
		{name: "registered and eligible, email in another case", claims: user("Amira.Patel@Leeds.example"), status: 200},
		{name: "not on the register", claims: user("nobody@leeds.example"), status: 403, reason: "unknown-user"},
		{name: "suspended", claims: user("sam.jones@leeds.example"), status: 403, reason: "suspended", actor: sam},
		{name: "email not verified", claims: map[string]any{"sub": "x", "email": "amira.patel@leeds.example", "email_verified": false},
			status: 401, reason: "oidc-email-unverified"},
		{name: "no email claim", claims: map[string]any{"sub": "amira.patel@leeds.example"}, status: 401, reason: "oidc-claim"},
		{name: "ID token signed by another key", claims: user("amira.patel@leeds.example"),
			idp: func(p *fakeIdP) { p.signer = stranger }, status: 401, reason: "oidc-id-token"},
		{name: "ID token for another client", claims: user("amira.patel@leeds.example"),
			idp: func(p *fakeIdP) { p.aud = "someone-else" }, status: 401, reason: "oidc-id-token"},
		{name: "replayed nonce", claims: user("amira.patel@leeds.example"),
			idp: func(p *fakeIdP) { p.nonce = "an-old-nonce" }, status: 401, reason: "oidc-nonce"},
		{name: "provider refuses", claims: user("amira.patel@leeds.example"),
			idp: func(p *fakeIdP) { p.refuse = true }, status: 401, reason: "oidc-provider-refused"},
		{name: "state changed", claims: user("amira.patel@leeds.example"), status: 401, reason: "oidc-state",
			mangle: func(u *url.URL, _ *http.Client) { q := u.Query(); q.Set("state", "forged"); u.RawQuery = q.Encode() }},
		{name: "callback in another browser", claims: user("amira.patel@leeds.example"), status: 401, reason: "oidc-no-state",
			mangle: func(_ *url.URL, c *http.Client) { c.Jar, _ = cookiejar.New(nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idp.mu.Lock()
			idp.user, idp.signer, idp.nonce, idp.aud, idp.refuse = tc.claims, idp.key, "", "", false
			if tc.idp != nil {
				tc.idp(idp)
			}
			idp.mu.Unlock()
			const refusals = "action = 'login-failed' and route = 'GET /v1/auth/oidc/callback' and reason = $1 and actor = $2"
			before := auditCount(t, h, refusals, tc.reason, tc.actor)
			c := browser(t)
			toIdP := location(t, c, "http://"+h.Addr()+"/v1/auth/oidc/login")
			if !strings.HasPrefix(toIdP.String(), idp.srv.URL+"/authorize?") || toIdP.Query().Get("code_challenge_method") != "S256" {
				t.Fatalf("login redirect %s", toIdP)
			}
			back := location(t, c, toIdP.String())
			if tc.mangle != nil {
				tc.mangle(back, c)
			}
			resp, err := c.Get(back.String())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("callback: %d %s", resp.StatusCode, body)
			}
			if tc.status != 200 {
				if strings.Contains(string(body), `"token"`) {
					t.Fatalf("refusal carries a token: %s", body)
				}
				if n := auditCount(t, h, refusals, tc.reason, tc.actor) - before; n != 1 {
					t.Fatalf("failed sign-in audited %d times with reason %s", n, tc.reason)
				}
				return
			}
			var out struct {
				Token        string
				Practitioner struct{ ID string }
			}
			if err := json.Unmarshal(body, &out); err != nil || out.Practitioner.ID != amira || out.Token == "" {
				t.Fatalf("sign-in answer %s (%v)", body, err)
			}
			if c, b := status(t, h, "GET", out.Token, "/v1/auth/me", nil); c != 200 || !strings.Contains(b, amira) {
				t.Fatalf("bearer from OpenID Connect sign-in: %d %s", c, b)
			}
			if n := auditCount(t, h, "action = 'login' and route = 'GET /v1/auth/oidc/callback' and actor = $1", amira); n < 1 {
				t.Fatal("sign-in not audited")
			}
			// The state cookie is spent: the same callback cannot sign in twice.
			again, err := c.Get(back.String())
			if err != nil {
				t.Fatal(err)
			}
			again.Body.Close()
			if again.StatusCode != 401 {
				t.Fatalf("callback replayed: %d", again.StatusCode)
			}
		})
	}
}

func TestOIDCOffWhenNotConfigured(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	for _, p := range []string{"/v1/auth/oidc/login", "/v1/auth/oidc/callback?code=x&state=y"} {
		if c, b := status(t, h, "GET", "", p, nil); c != http.StatusNotFound {
			t.Errorf("GET %s without OpenID Connect configured: %d %s", p, c, b)
		}
	}
}
