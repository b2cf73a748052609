package auth_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"contactpoint/adapters/auth"
	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/adapters/postgres/pgtest"
	"contactpoint/domain/access"
	"contactpoint/domain/audit"
)

// trail keeps the audit entries the service writes, to check the reason
// each refusal was recorded with.
type trail struct {
	mu      sync.Mutex
	entries []audit.Entry
}

func (t *trail) Record(_ context.Context, e audit.Entry) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entries = append(t.entries, e)
	return nil
}

func (t *trail) reasons() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, e := range t.entries {
		out = append(out, e.Reason)
	}
	return out
}

// signInService is the sign-in service on a real register (JetStream and
// PostgreSQL) behind an HTTP server.
func signInService(t *testing.T) (*auth.Registry, *trail, string) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := natsjs.Open(ctx, natsjs.Config{DataDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if err := natsjs.EnsureAuthStreams(ctx, conn.JS); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	reg := auth.NewRegistry(conn.JS, db)
	if err := reg.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	tr := &trail{}
	key, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	svc, err := auth.New(reg, tr, log, auth.Config{TokenKey: key})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return reg, tr, srv.URL
}

type answer struct {
	status     int
	body       string
	retryAfter string
	took       time.Duration
}

func signIn(t *testing.T, url, username, password, code string) answer {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": username, "password": password, "code": code})
	start := time.Now()
	resp, err := http.Post(url+"/v1/auth/login", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(body), retryAfter: resp.Header.Get("Retry-After"), took: time.Since(start)}
}

// TestRefusalsLookAlike: an unknown username, a wrong password, a locked
// account and a suspended one — even with the right password and code —
// get the same status and body, in about the same time; only the audit
// trail tells them apart.
func TestRefusalsLookAlike(t *testing.T) {
	reg, tr, url := signInService(t)
	ctx := context.Background()
	enrol := func(username string) auth.Credentials {
		t.Helper()
		_, c, err := reg.Enrol(ctx, auth.Enrolment{Username: username, Name: "Test " + username, Organisation: "Test Council",
			JobRole: "Tester", Roles: []string{access.RolePractitioner}}, "system")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	code := func(c auth.Credentials) string {
		t.Helper()
		s, err := auth.TOTPCode(c.TOTPSecret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	known, locked, suspended := enrol("known.user"), enrol("locked.user"), enrol("suspended.user")
	for i := range 5 {
		if a := signIn(t, url, locked.Username, "wrong-password-"+string(rune('a'+i)), code(locked)); a.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i, a.status, a.body)
		}
	}
	p, err := reg.ByUsername(ctx, suspended.Username)
	if err != nil {
		t.Fatal(err)
	}
	status := "suspended"
	if _, err := reg.Apply(ctx, p.ID, "system", auth.Change{Status: &status}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, reason string
		try          func() answer
	}{
		{"unknown username", "unknown-user", func() answer { return signIn(t, url, "no.such.user", "some-password-1", "123456") }},
		{"wrong password", "bad-password", func() answer { return signIn(t, url, known.Username, "some-password-1", code(known)) }},
		{"locked, right password and code", "locked", func() answer { return signIn(t, url, locked.Username, locked.Password, code(locked)) }},
		{"suspended, right password and code", "suspended", func() answer {
			return signIn(t, url, suspended.Username, suspended.Password, code(suspended))
		}},
	}
	var first answer
	medians := map[string]time.Duration{}
	for i, tc := range cases {
		// Three tries each (a wrong password's fourth would not lock the
		// account yet): the answers must be the same every time.
		var took []time.Duration
		for range 3 {
			before := len(tr.reasons())
			a := tc.try()
			if i == 0 && first.status == 0 {
				first = a
			}
			if a.status != first.status || a.body != first.body || a.retryAfter != "" {
				t.Errorf("%s: %d %q (Retry-After %q), want the unknown username's %d %q", tc.name, a.status, a.body, a.retryAfter, first.status, first.body)
			}
			got := tr.reasons()[before:]
			if !slices.Contains(got, tc.reason) && !(tc.reason == "suspended" && slices.Contains(got, "code-reused")) {
				t.Errorf("%s: audited %v, want %s", tc.name, got, tc.reason)
			}
			took = append(took, a.took)
		}
		slices.Sort(took)
		medians[tc.name] = took[1]
	}
	if first.status != http.StatusUnauthorized {
		t.Errorf("refusal status %d, want 401", first.status)
	}
	// Every refusal runs the password hash, so none answers in a fraction
	// of another's time. The bound is loose: the machine is shared.
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for _, d := range medians {
		lo, hi = min(lo, d), max(hi, d)
	}
	t.Logf("median answer times: %v", medians)
	if lo < hi/3 {
		t.Errorf("answer times differ too much (%v): a refusal can be told from another by its timing", medians)
	}
}
