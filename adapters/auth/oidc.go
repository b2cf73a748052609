package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"contactpoint/domain/audit"
	"contactpoint/domain/registry"
)

// OIDCConfig lets practitioners sign in through a deployment's OpenID
// Connect identity provider instead of a password and code. The provider
// says who someone is; the register still says whether they may read.
type OIDCConfig struct {
	Issuer       string // the provider's issuer URL; empty turns OpenID Connect off
	ClientID     string
	ClientSecret string
	RedirectURL  string // this hub's /v1/auth/oidc/callback as the provider knows it
	// Claim of the ID token that names the practitioner: "email" (the
	// default), "sub", "preferred_username" or another string claim.
	Claim string
	// Match says which register field the claim is compared with:
	// "username" (the default) or "email".
	Match  string
	Scopes []string // in addition to openid; default email and profile
}

// Enabled reports whether OpenID Connect is configured.
func (c OIDCConfig) Enabled() bool { return c.Issuer != "" }

// Validate checks the configuration without contacting the provider.
func (c OIDCConfig) Validate() error {
	var errs []error
	for name, u := range map[string]string{"issuer": c.Issuer, "redirect-url": c.RedirectURL} {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an http(s) URL", name))
		}
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client-id is required"))
	}
	if c.Match != "" && c.Match != "username" && c.Match != "email" {
		errs = append(errs, errors.New(`match must be "username" or "email"`))
	}
	return errors.Join(errs...)
}

// oidcClient discovers the provider on first use rather than at start, so
// that a provider outage does not stop the hub starting (password sign-in
// still works) and a later sign-in retries discovery.
type oidcClient struct {
	cfg      OIDCConfig
	stateKey []byte

	mu       sync.Mutex
	provider *oidc.Provider
}

// EnableOIDC turns on the OpenID Connect routes.
func (s *Service) EnableOIDC(cfg OIDCConfig) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("oidc: %w", err)
	}
	if cfg.Claim == "" {
		cfg.Claim = "email"
	}
	if cfg.Match == "" {
		cfg.Match = "username"
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"email", "profile"}
	}
	// A key of its own for the state cookie, so that nothing signed for
	// it can be taken for a session token or the other way round.
	m := hmac.New(sha256.New, s.tokens.key)
	m.Write([]byte("contactpoint oidc state"))
	s.oidc = &oidcClient{cfg: cfg, stateKey: m.Sum(nil)}
	return nil
}

func (o *oidcClient) discover(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc discovery: %w", err)
	}
	o.provider = p
	return p, nil
}

func (o *oidcClient) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...)}
}

// registerOIDC adds the OpenID Connect routes when it is configured.
func (s *Service) registerOIDC(mux *http.ServeMux) {
	if s.oidc == nil {
		return
	}
	mux.HandleFunc("GET /v1/auth/oidc/login", s.oidcLogin)
	mux.HandleFunc("GET /v1/auth/oidc/callback", s.oidcCallback)
}

const (
	oidcCookie     = "cp_oidc"
	oidcCookiePath = "/v1/auth/oidc/"
	oidcRoute      = "GET /v1/auth/oidc/callback"
	oidcStateTTL   = 10 * time.Minute
)

// oidcState travels in a signed cookie between the redirect to the provider
// and the callback, so that any instance of the hub can finish a sign-in
// another began. The PKCE verifier in it never goes to the provider's
// front channel.
type oidcState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
}

func (o *oidcClient) seal(st oidcState) string {
	b, _ := json.Marshal(st)
	p := base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, o.stateKey)
	m.Write([]byte(p))
	return p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (o *oidcClient) open(v string, now time.Time) (oidcState, bool) {
	var st oidcState
	p, sig, ok := strings.Cut(v, ".")
	if !ok {
		return st, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return st, false
	}
	m := hmac.New(sha256.New, o.stateKey)
	m.Write([]byte(p))
	if !hmac.Equal(got, m.Sum(nil)) {
		return st, false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(b, &st) != nil || now.Unix() >= st.Expires {
		return st, false
	}
	return st, true
}

// oidcLogin sends the browser to the provider with a fresh state, nonce
// and PKCE challenge.
func (s *Service) oidcLogin(w http.ResponseWriter, r *http.Request) {
	p, err := s.oidc.discover(r.Context())
	if err != nil {
		s.Log.Error("oidc sign-in unavailable", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the identity provider cannot be reached; try again or sign in with your password")
		return
	}
	now := s.Now()
	st := oidcState{State: randomToken(24), Nonce: randomToken(24), Verifier: oauth2.GenerateVerifier(), Expires: now.Add(oidcStateTTL).Unix()}
	// SameSite Lax, not Strict: the callback is a top-level navigation from
	// the provider's site, and a Strict cookie would not come back with it.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: s.oidc.seal(st), Path: oidcCookiePath, MaxAge: int(oidcStateTTL.Seconds()),
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.oidc.oauth(p).AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
}

// oidcRefusal is a failed OpenID Connect sign-in: what the audit trail
// records and what the caller is told.
type oidcRefusal struct {
	actor, reason string
	status        int
	code, msg     string
}

func (s *Service) oidcCallback(w http.ResponseWriter, r *http.Request) {
	// The state cookie is single-use whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: oidcCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	sess, ref, err := s.oidcSignIn(ctx, r)
	if err != nil {
		s.Log.Error("oidc sign-in failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "sign-in is unavailable; try again")
		return
	}
	if ref != nil {
		e := audit.Entry{Action: audit.ActLoginFailed, Outcome: audit.Refused, Actor: ref.actor, Route: oidcRoute, Reason: ref.reason, Status: ref.status}
		if aerr := s.Audit.Record(ctx, e); aerr != nil {
			s.Log.Error("audit of failed sign-in not written", "err", aerr)
		}
		writeError(w, ref.status, ref.code, ref.msg)
		return
	}
	s.writeSession(w, r, sess)
}

// oidcSignIn finishes a sign-in: the state and the provider's answer are
// checked, the ID token verified, and the practitioner it names found on
// the register and checked as a password sign-in would be. An error is the
// hub's fault; a refusal is the caller's.
func (s *Service) oidcSignIn(ctx context.Context, r *http.Request) (Session, *oidcRefusal, error) {
	now := s.Now()
	bad := func(reason string) *oidcRefusal {
		return &oidcRefusal{reason: reason, status: http.StatusUnauthorized, code: "oidc-failed",
			msg: "sign-in with your organisation's account did not complete; start again"}
	}
	q := r.URL.Query()
	ck, err := r.Cookie(oidcCookie)
	if err != nil {
		return Session{}, bad("oidc-no-state"), nil
	}
	st, ok := s.oidc.open(ck.Value, now)
	if !ok || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		return Session{}, bad("oidc-state"), nil
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		// The provider turned the user away (or was cancelled).
		return Session{}, bad("oidc-provider-refused"), nil
	}
	p, err := s.oidc.discover(ctx)
	if err != nil {
		return Session{}, nil, err
	}
	tok, err := s.oidc.oauth(p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Session{}, bad("oidc-exchange"), nil
		}
		return Session{}, nil, fmt.Errorf("oidc code exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Session{}, bad("oidc-no-id-token"), nil
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: s.oidc.cfg.ClientID, Now: s.Now}).Verify(ctx, raw)
	if err != nil {
		return Session{}, bad("oidc-id-token"), nil
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return Session{}, bad("oidc-nonce"), nil
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Session{}, bad("oidc-id-token"), nil
	}
	name, ok := claims[s.oidc.cfg.Claim].(string)
	if !ok || name == "" {
		return Session{}, bad("oidc-claim"), nil
	}
	if s.oidc.cfg.Claim == "email" {
		// An address the provider has not verified names nobody.
		if v, present := claims["email_verified"]; present && v != true {
			return Session{}, bad("oidc-email-unverified"), nil
		}
		name = strings.ToLower(name)
	}
	prac, err := s.oidcPractitioner(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		return Session{}, &oidcRefusal{reason: "unknown-user", status: http.StatusForbidden, code: "not-registered",
			msg: "your account is not on the hub's register; contact your administrator"}, nil
	case errors.Is(err, errAmbiguous):
		return Session{}, &oidcRefusal{reason: "ambiguous-user", status: http.StatusForbidden, code: "not-registered",
			msg: "your account matches more than one entry on the hub's register; contact your administrator"}, nil
	case err != nil:
		return Session{}, nil, err
	}
	if err := registry.Eligible(prac, now); err != nil {
		return Session{}, &oidcRefusal{actor: prac.ID, reason: reasonCode(err), status: http.StatusForbidden, code: "not-eligible",
			msg: "your access to the hub is not current (" + err.Error() + "); contact your administrator"}, nil
	}
	sess, err := s.openSession(ctx, prac, now, oidcRoute)
	return sess, nil, err
}

var errAmbiguous = errors.New("more than one practitioner matches")

// oidcPractitioner finds the practitioner the claim names.
func (s *Service) oidcPractitioner(ctx context.Context, name string) (registry.Practitioner, error) {
	if s.oidc.cfg.Match == "email" {
		return s.Reg.ByEmail(ctx, name)
	}
	if !registry.ValidUsername(name) {
		return registry.Practitioner{}, ErrNotFound
	}
	return s.Reg.ByUsername(ctx, name)
}

// ByEmail returns the practitioner, not one who has left, whose email on
// the register is email (compared without case).
func (r *Registry) ByEmail(ctx context.Context, email string) (registry.Practitioner, error) {
	rows, err := r.pool.Query(ctx, `select state from practitioners
		where lower(state->>'email') = lower($1) and status <> $2 limit 2`, email, string(registry.StatusLeft))
	if err != nil {
		return registry.Practitioner{}, fmt.Errorf("read register: %w", err)
	}
	var found []registry.Practitioner
	for rows.Next() {
		var raw []byte
		var p registry.Practitioner
		if err := rows.Scan(&raw); err != nil {
			return p, fmt.Errorf("read register: %w", err)
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return p, fmt.Errorf("decode register entry: %w", err)
		}
		found = append(found, p)
	}
	if err := rows.Err(); err != nil {
		return registry.Practitioner{}, fmt.Errorf("read register: %w", err)
	}
	switch len(found) {
	case 0:
		return registry.Practitioner{}, ErrNotFound
	case 1:
		return found[0], nil
	}
	return registry.Practitioner{}, errAmbiguous
}

// secure reports whether cookies are marked Secure: always when configured
// (the hub sits behind a proxy that terminates TLS), else when the request
// itself came over TLS. A browser then never sends the session over plain
// HTTP.
func (s *Service) secure(r *http.Request) bool { return s.cfg.SecureCookie || r.TLS != nil }

// writeSession answers a successful sign-in, by password or provider: the
// session cookie for the browser and a bearer token for the API.
func (s *Service) writeSession(w http.ResponseWriter, r *http.Request, sess Session) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: sess.Cookie, Path: "/", Expires: sess.SessionExpires,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, loginResponse{Token: sess.Bearer, TokenType: "Bearer", ExpiresAt: sess.BearerExpires,
		SessionExpiresAt: sess.SessionExpires, Practitioner: me(sess.Practitioner)})
}
