package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not PHC argon2id", h)
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		if ok, err := CheckPassword(h, pw); ok != want || err != nil {
			t.Errorf("CheckPassword(%q) = %v, %v", pw, ok, err)
		}
	}
	if _, err := CheckPassword("$2a$10$notargon", "x"); err == nil {
		t.Error("foreign hash accepted")
	}
	if h2, _ := HashPassword("correct horse battery"); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
}

func TestTOTP(t *testing.T) {
	secret, url, err := NewTOTP("a.smith")
	if err != nil || !strings.HasPrefix(url, "otpauth://totp/ContactPoint:a.smith") {
		t.Fatalf("%v %q", err, url)
	}
	now := time.Date(2025, 6, 2, 10, 0, 15, 0, time.UTC)
	code, _ := TOTPCode(secret, now)
	step := now.Unix() / 30
	tests := []struct {
		name string
		at   time.Time
		code string
		want int64
	}{
		{"now", now, code, step},
		{"one step late", now.Add(30 * time.Second), code, step},
		{"two steps late", now.Add(61 * time.Second), code, 0},
		{"wrong", now, "000000", 0},
		{"too short", now, code[:5], 0},
		{"injection", now, "1' OR '1'='1", 0},
	}
	for _, tt := range tests {
		if tt.name == "wrong" && code == "000000" {
			continue
		}
		if got := checkTOTP(secret, tt.code, tt.at); got != tt.want {
			t.Errorf("%s: step %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestTokens(t *testing.T) {
	tk, err := NewTokens([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewTokens([]byte(strings.Repeat("x", 32)))
	now := time.Unix(1_750_000_000, 0)
	c := Claims{Subject: "p1", Session: "s1", Kind: KindBearer, Issued: now.Unix(), Expires: now.Add(15 * time.Minute).Unix()}
	tok := tk.Sign(c)
	body := tok[len(tokenPrefix):strings.LastIndexByte(tok, '.')]
	forged := tokenPrefix + strings.Replace(body, body[len(body)-4:], "AAAA", 1) + tok[strings.LastIndexByte(tok, '.'):]
	tests := []struct {
		name string
		tok  string
		kind string
		at   time.Time
		want error
	}{
		{"valid", tok, KindBearer, now, nil},
		{"expired", tok, KindBearer, now.Add(15 * time.Minute), ErrTokenExpired},
		{"session token used as bearer", tk.Sign(Claims{Subject: "p1", Session: "s1", Kind: KindSession, Expires: now.Add(time.Hour).Unix()}), KindBearer, now, ErrTokenMalformed},
		{"claims tampered", forged, KindBearer, now, ErrTokenSignature},
		{"signature stripped", tok[:strings.LastIndexByte(tok, '.')+1], KindBearer, now, ErrTokenSignature},
		{"signed with another key", other.Sign(c), KindBearer, now, ErrTokenSignature},
		{"not a token", "eyJhbGciOiJub25lIn0.e30.", KindBearer, now, ErrTokenMalformed},
		{"empty", "", KindBearer, now, ErrTokenMalformed},
	}
	for _, tt := range tests {
		_, err := tk.Verify(tt.tok, tt.kind, tt.at)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := NewTokens([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
}
