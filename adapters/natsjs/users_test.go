package natsjs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func testHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestEmbeddedAuthConfiguration(t *testing.T) {
	hash := testHash(t, "agency-secret")
	listen := "127.0.0.1:0"
	cases := []struct {
		name    string
		cfg     Config
		users   int    // server users expected, the hub's included
		wantErr string // part of the error, "" for none
	}{
		{"no port, no users", Config{}, 0, ""},
		{"port without users", Config{Listen: listen}, 0, "nats-users is empty"},
		{"one agency", Config{Listen: listen, Agencies: []AgencyUser{{"health", "pas", hash}}}, 2, ""},
		{"unknown agency", Config{Listen: listen, Agencies: []AgencyUser{{"police", "pnc", hash}}}, 0, "agency \"police\""},
		{"system with a dot", Config{Listen: listen, Agencies: []AgencyUser{{"health", "a.b", hash}}}, 0, "system"},
		{"system with a wildcard", Config{Listen: listen, Agencies: []AgencyUser{{"health", "pas>", hash}}}, 0, "system"},
		{"clear-text password", Config{Listen: listen, Agencies: []AgencyUser{{"health", "pas", "agency-secret"}}}, 0, "bcrypt"},
		{"listed twice", Config{Listen: listen, Agencies: []AgencyUser{{"health", "pas", hash}, {"health", "pas", hash}}}, 0, "twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			users, opt, err := embeddedAuth(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "agency-secret") || strings.Contains(err.Error(), hash) {
					t.Fatalf("error reveals the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != tc.users || (tc.users > 0) != (opt != nil) {
				t.Fatalf("%d users, hub option %v", len(users), opt != nil)
			}
			for _, u := range users {
				if u.Username == HubUser && (u.Permissions != nil || len(u.Password) < 32) {
					t.Fatalf("hub user %+v", u.Permissions)
				}
			}
		})
	}
}

// TestOpenRefusesAnOpenPort: nothing is started when the port would accept
// anyone.
func TestOpenRefusesAnOpenPort(t *testing.T) {
	_, err := Open(context.Background(), Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, ErrListenWithoutUsers) {
		t.Fatalf("Open with a port and no users: %v", err)
	}
}
