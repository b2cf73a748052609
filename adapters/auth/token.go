package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Token kinds. A bearer token is short-lived and for the API; a session
// token lives in a cookie for the web pages. Both name the sign-in session
// they come from, so signing out ends both.
const (
	KindBearer  = "bearer"
	KindSession = "session"
)

// Claims are what a token asserts.
type Claims struct {
	Subject string `json:"sub"` // practitioner id
	Session string `json:"sid"`
	Kind    string `json:"kind"`
	Issued  int64  `json:"iat"`
	Expires int64  `json:"exp"`
}

// Tokens signs and verifies tokens with HMAC-SHA256. The format is
// "cp1.<base64url claims>.<base64url mac>": nothing to negotiate, so no
// algorithm confusion.
type Tokens struct{ key []byte }

// NewTokens returns a signer with key (at least 32 bytes).
func NewTokens(key []byte) (*Tokens, error) {
	if len(key) < 32 {
		return nil, errors.New("token signing key must be at least 32 bytes")
	}
	return &Tokens{key: key}, nil
}

// Token errors. Callers answer 401 to all alike.
var (
	ErrTokenMalformed = errors.New("token malformed")
	ErrTokenSignature = errors.New("token signature invalid")
	ErrTokenExpired   = errors.New("token expired")
)

const tokenPrefix = "cp1."

// Sign returns the token for c.
func (t *Tokens) Sign(c Claims) string {
	body, _ := json.Marshal(c)
	p := tokenPrefix + base64.RawURLEncoding.EncodeToString(body)
	return p + "." + base64.RawURLEncoding.EncodeToString(t.mac(p))
}

func (t *Tokens) mac(s string) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Verify checks a token's signature, kind and expiry at now.
func (t *Tokens) Verify(tok, kind string, now time.Time) (Claims, error) {
	var c Claims
	if !strings.HasPrefix(tok, tokenPrefix) || len(tok) > 1024 {
		return c, ErrTokenMalformed
	}
	i := strings.LastIndexByte(tok, '.')
	if i <= len(tokenPrefix) {
		return c, ErrTokenMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		return c, ErrTokenMalformed
	}
	if !hmac.Equal(sig, t.mac(tok[:i])) {
		return c, ErrTokenSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(tok[len(tokenPrefix):i])
	if err != nil || json.Unmarshal(body, &c) != nil || c.Subject == "" || c.Session == "" {
		return Claims{}, ErrTokenMalformed
	}
	if c.Kind != kind {
		return Claims{}, ErrTokenMalformed
	}
	if now.Unix() >= c.Expires {
		return Claims{}, ErrTokenExpired
	}
	return c, nil
}
