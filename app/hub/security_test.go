package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"contactpoint/adapters/auth"
	"contactpoint/adapters/natsjs"
	"contactpoint/app/hub"
	"contactpoint/domain/access"
	"contactpoint/domain/record"
)

// Credentials made for a hub under test, so that each user signs in once
// (a one-time code cannot be used twice).
var creds = struct {
	sync.Mutex
	tokens map[*hub.Hub]map[string]string
	keys   map[*hub.Hub]map[string]string
}{tokens: map[*hub.Hub]map[string]string{}, keys: map[*hub.Hub]map[string]string{}}

// enrol puts a vetted, trained practitioner with roles on the register and
// returns their credentials.
func enrol(t *testing.T, h *hub.Hub, username string, roles ...string) auth.Credentials {
	t.Helper()
	_, c, err := h.Registry.Enrol(context.Background(), auth.Enrolment{Username: username, Name: "Test " + username,
		Organisation: "Test Council", JobRole: "Tester", Roles: roles}, "system")
	if err != nil {
		t.Fatalf("enrol %s: %v", username, err)
	}
	return c
}

// login signs in over HTTP and returns the status and body.
func login(t *testing.T, h *hub.Hub, username, password, code string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": username, "password": password, "code": code})
	resp, err := http.Post("http://"+h.Addr()+"/v1/auth/login", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func code(t *testing.T, secret string) string {
	c, err := auth.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signIn enrols username with roles and returns a bearer token.
func signIn(t *testing.T, h *hub.Hub, username string, roles ...string) string {
	t.Helper()
	c := enrol(t, h, username, roles...)
	status, body := login(t, h, c.Username, c.Password, code(t, c.TOTPSecret))
	if status != http.StatusOK {
		t.Fatalf("sign in %s: %d %v", username, status, body)
	}
	return body["token"].(string)
}

// tokenFor returns a cached bearer token for a role-named user.
func tokenFor(t *testing.T, h *hub.Hub, username string, roles ...string) string {
	t.Helper()
	creds.Lock()
	defer creds.Unlock()
	m := creds.tokens[h]
	if m == nil {
		m = map[string]string{}
		creds.tokens[h] = m
	}
	if tok, ok := m[username]; ok {
		return tok
	}
	m[username] = signIn(t, h, username, roles...)
	return m[username]
}

func readerToken(t *testing.T, h *hub.Hub) string {
	return tokenFor(t, h, "reader", access.RolePractitioner)
}

// agencyKey returns an API key for agency's test system (a health key for
// an unknown agency, which intake refuses by name).
func agencyKey(t *testing.T, h *hub.Hub, agency string) string {
	return systemKey(t, h, agency, "test-system")
}

// feedKey returns the key of the agency system that the first record of
// body names, as an agency's own system would hold.
func feedKey(t *testing.T, h *hub.Hub, agency string, body []byte) string {
	var rec struct {
		Source struct{ System string }
	}
	first, _, _ := bytes.Cut(body, []byte("\n"))
	if json.Unmarshal(first, &rec) != nil || rec.Source.System == "" {
		return agencyKey(t, h, agency)
	}
	return systemKey(t, h, agency, rec.Source.System)
}

func systemKey(t *testing.T, h *hub.Hub, agency, system string) string {
	t.Helper()
	if !record.IsAgency(agency) {
		agency = "health"
	}
	id := agency + "/" + system
	creds.Lock()
	defer creds.Unlock()
	m := creds.keys[h]
	if m == nil {
		m = map[string]string{}
		creds.keys[h] = m
	}
	if k, ok := m[id]; ok {
		return k
	}
	k, _, err := h.Registry.IssueKey(context.Background(), agency, system, "system")
	if err != nil {
		t.Fatal(err)
	}
	m[id] = k
	return k
}

func do(t *testing.T, h *hub.Hub, method, token, path string, body []byte) (*http.Response, error) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+h.Addr()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return http.DefaultClient.Do(req)
}

func get(t *testing.T, h *hub.Hub, token, path string) (*http.Response, error) {
	return do(t, h, http.MethodGet, token, path, nil)
}

func status(t *testing.T, h *hub.Hub, method, token, path string, body []byte) (int, string) {
	t.Helper()
	resp, err := do(t, h, method, token, path, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitAudited(t *testing.T, h *hub.Hub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.WaitAudited(ctx); err != nil {
		t.Fatalf("audit projection did not catch up: %v", err)
	}
}

// auditCount counts projected audit entries matching a SQL condition.
func auditCount(t *testing.T, h *hub.Hub, where string, args ...any) int {
	t.Helper()
	waitAudited(t, h)
	var n int
	if err := h.DB.QueryRow(context.Background(), "select count(*) from audit_events where "+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func seedOne(t *testing.T, h *hub.Hub) string {
	t.Helper()
	if code, body := post(t, h, "health", "application/json", example(t, "health")); code != http.StatusAccepted {
		t.Fatalf("seed: %d %v", code, body)
	}
	waitProjected(t, h)
	res := search(t, h, url.Values{"family": {"Hughes"}, "birth_date": {"2015-03-14"}})
	if res.Count != 1 {
		t.Fatalf("seed: %+v", res)
	}
	return res.Results[0].Child.ID
}

func TestRefusalsAreAudited(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	ctx := context.Background()
	childID := seedOne(t, h)
	path := "/v1/children/" + childID

	vetExpired := enrol(t, h, "vet.expired", access.RolePractitioner)
	trainExpired := enrol(t, h, "train.expired", access.RolePractitioner)
	susp := enrol(t, h, "suspended", access.RolePractitioner)
	wrong2fa := enrol(t, h, "wrong.code", access.RolePractitioner)
	past := time.Now().AddDate(-2, 0, 0)
	mustApply := func(username string, c auth.Change) {
		p, err := h.Registry.ByUsername(ctx, username)
		if err == nil {
			_, err = h.Registry.Apply(ctx, p.ID, "system", c)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mustApply("vet.expired", auth.Change{Vetting: auth.NewVetting("enhanced-dbs", past, past.AddDate(1, 0, 0))})
	mustApply("train.expired", auth.Change{Training: auth.NewTraining(past, past.AddDate(1, 0, 0))})
	suspended := "suspended"
	mustApply("suspended", auth.Change{Status: &suspended})

	auditorTok := tokenFor(t, h, "auditor", access.RoleAuditor)
	educationKey := agencyKey(t, h, "education")

	tests := []struct {
		name   string
		try    func() int
		want   int
		action string
		reason string
	}{
		{"unauthenticated", func() int { c, _ := status(t, h, "GET", "", path, nil); return c }, 401, "refused", "no-credentials"},
		{"wrong second factor", func() int { c, _ := login(t, h, wrong2fa.Username, wrong2fa.Password, "000001"); return c }, 401, "login-failed", "bad-code"},
		{"wrong password", func() int {
			c, _ := login(t, h, wrong2fa.Username, wrong2fa.Password+"x", code(t, wrong2fa.TOTPSecret))
			return c
		}, 401, "login-failed", "bad-password"},
		{"expired vetting", func() int {
			c, _ := login(t, h, vetExpired.Username, vetExpired.Password, code(t, vetExpired.TOTPSecret))
			return c
		}, 401, "login-failed", "vetting-expired"}, // answered as a wrong password; the trail keeps why
		{"expired training", func() int {
			c, _ := login(t, h, trainExpired.Username, trainExpired.Password, code(t, trainExpired.TOTPSecret))
			return c
		}, 401, "login-failed", "training-expired"},
		{"suspended", func() int { c, _ := login(t, h, susp.Username, susp.Password, code(t, susp.TOTPSecret)); return c }, 401, "login-failed", "suspended"},
		{"wrong role", func() int { c, _ := status(t, h, "GET", auditorTok, path, nil); return c }, 403, "refused", "role"},
		{"another agency's key", func() int {
			req, _ := http.NewRequest("POST", "http://"+h.Addr()+"/v1/feeds/health/records", bytes.NewReader(example(t, "health")))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-API-Key", educationKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}, 403, "refused", "wrong-agency"},
		{"revoked key", func() int {
			key, k, err := h.Registry.IssueKey(ctx, "health", "revoked-system", "system")
			if err != nil {
				t.Fatal(err)
			}
			id := k.ID
			if err := h.Registry.RevokeKey(ctx, id, "system"); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("POST", "http://"+h.Addr()+"/v1/feeds/health/records", bytes.NewReader(example(t, "health")))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}, 401, "refused", "key-invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := auditCount(t, h, "action = $1 and reason = $2 and outcome = 'refused'", tt.action, tt.reason)
			if got := tt.try(); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			if after := auditCount(t, h, "action = $1 and reason = $2 and outcome = 'refused'", tt.action, tt.reason); after != before+1 {
				t.Fatalf("audit entries %s/%s: %d → %d, want one more", tt.action, tt.reason, before, after)
			}
		})
	}
}

// TestExpiryEndsOpenSessions: a token issued while eligible stops working
// the moment the register says otherwise.
func TestExpiryEndsOpenSessions(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	ctx := context.Background()
	path := "/v1/children/" + uuid.NewString()
	for _, tt := range []struct {
		user   string
		change func(id string) auth.Change
	}{
		{"lapses.vetting", func(string) auth.Change {
			return auth.Change{Vetting: auth.NewVetting("enhanced-dbs", time.Now().AddDate(-3, 0, 0), time.Now().Add(-time.Second))}
		}},
		{"lapses.training", func(string) auth.Change {
			return auth.Change{Training: auth.NewTraining(time.Now().AddDate(-1, 0, 0), time.Now().Add(-time.Second))}
		}},
		{"is.suspended", func(string) auth.Change { s := "suspended"; return auth.Change{Status: &s} }},
		{"loses.role", func(string) auth.Change { r := []string{access.RoleAuditor}; return auth.Change{Roles: &r} }},
	} {
		t.Run(tt.user, func(t *testing.T) {
			tok := signIn(t, h, tt.user, access.RolePractitioner)
			if c, b := status(t, h, "GET", tok, path, nil); c != http.StatusNotFound {
				t.Fatalf("before: %d %s", c, b)
			}
			p, _ := h.Registry.ByUsername(ctx, tt.user)
			if _, err := h.Registry.Apply(ctx, p.ID, "system", tt.change(p.ID)); err != nil {
				t.Fatal(err)
			}
			if c, b := status(t, h, "GET", tok, path, nil); c != http.StatusForbidden {
				t.Fatalf("after: %d %s", c, b)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	tok := signIn(t, h, "token.user", access.RolePractitioner)
	path := "/v1/children/" + uuid.NewString()
	dot := strings.LastIndexByte(tok, '.')
	claims := tok[len("cp1."):dot]
	var tampered []string
	// Flip one character of the claims, and of the signature.
	for _, i := range []int{len("cp1.") + len(claims)/2, len(tok) - 2} {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		tampered = append(tampered, string(b))
	}
	tests := []struct {
		name, token string
		want        int
	}{
		{"valid", tok, 404},
		{"claims tampered", tampered[0], 401},
		{"signature tampered", tampered[1], 401},
		{"signature removed", tok[:dot+1], 401},
		{"alg none", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", 401},
		{"garbage", "' OR 1=1 --", 401},
	}
	for _, tt := range tests {
		if c, b := status(t, h, "GET", tt.token, path, nil); c != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, c, b, tt.want)
		}
	}

	// A token issued sixteen minutes ago has expired.
	c := enrol(t, h, "token.old", access.RolePractitioner)
	then := time.Now().Add(-16 * time.Minute)
	h.Auth.Now = func() time.Time { return then }
	code, _ := auth.TOTPCode(c.TOTPSecret, then)
	sess, err := h.Auth.Login(context.Background(), c.Username, c.Password, code)
	h.Auth.Now = time.Now
	if err != nil {
		t.Fatal(err)
	}
	if c, b := status(t, h, "GET", sess.Bearer, path, nil); c != 401 || !strings.Contains(b, "unauthenticated") {
		t.Fatalf("expired token: %d %s", c, b)
	}
	if n := auditCount(t, h, "reason = 'token-expired'"); n != 1 {
		t.Fatalf("expired token audited %d times", n)
	}

	// Signing out ends the session's tokens at once.
	if c, _ := status(t, h, "POST", tok, "/v1/auth/logout", nil); c != http.StatusNoContent {
		t.Fatalf("logout: %d", c)
	}
	if c, _ := status(t, h, "GET", tok, path, nil); c != 401 {
		t.Fatalf("token after logout: %d", c)
	}
}

func TestBruteForceLockout(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	c := enrol(t, h, "target", access.RolePractitioner)
	for i := 0; i < 5; i++ {
		if st, _ := login(t, h, c.Username, "guess"+strconv.Itoa(i)+"-password", code(t, c.TOTPSecret)); st != 401 {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	// Locked: even the right password and code are refused, with the
	// answer an unknown username gets.
	if st, body := login(t, h, c.Username, c.Password, code(t, c.TOTPSecret)); st != http.StatusUnauthorized || body["error"].(map[string]any)["code"] != "bad-credentials" {
		t.Fatalf("locked account: %d %v", st, body)
	}
	if n := auditCount(t, h, "action = 'login-failed' and reason = 'locked'"); n != 1 {
		t.Fatalf("lockout audited %d times", n)
	}
	// An administrator's reset clears the lock.
	p, _ := h.Registry.ByUsername(context.Background(), "target")
	nc, err := h.Registry.IssueCredentials(context.Background(), p.ID, "system")
	if err != nil {
		t.Fatal(err)
	}
	if st, body := login(t, h, nc.Username, nc.Password, code(t, nc.TOTPSecret)); st != 200 {
		t.Fatalf("after reset: %d %v", st, body)
	}
	// Unknown users are refused exactly as wrong passwords are.
	if st, body := login(t, h, "nobody", "whatever-password", "123456"); st != 401 || body["error"].(map[string]any)["code"] != "bad-credentials" {
		t.Fatalf("unknown user: %d %v", st, body)
	}
}

// TestSearchAndViewAuditedOnce is the end-to-end proof of invariant 5: one
// search and one view leave exactly one audit record each, with criteria
// and ids; and with the audit trail gone, neither answers.
func TestSearchAndViewAuditedOnce(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	ctx := context.Background()
	childID := seedOne(t, h)
	tok := signIn(t, h, "once", access.RolePractitioner)
	p, _ := h.Registry.ByUsername(ctx, "once")

	if c, b := status(t, h, "GET", tok, "/v1/children?family=Hughes&birth_date=2015-03-14", nil); c != 200 || !strings.Contains(b, childID) {
		t.Fatalf("search: %d %s", c, b)
	}
	if n := auditCount(t, h, "actor = $1 and action = 'search'", p.ID); n != 1 {
		t.Fatalf("search left %d audit records", n)
	}
	var crit map[string]string
	var kids []string
	if err := h.DB.QueryRow(ctx, "select criteria, children from audit_events where actor = $1 and action = 'search'", p.ID).Scan(&crit, &kids); err != nil {
		t.Fatal(err)
	}
	if crit["family"] != "Hughes" || crit["birth_date"] != "2015-03-14" || len(kids) != 1 || kids[0] != childID {
		t.Fatalf("search record: %v %v", crit, kids)
	}
	if c, b := status(t, h, "GET", tok, "/v1/children/"+childID, nil); c != 200 {
		t.Fatalf("view: %d %s", c, b)
	}
	if n := auditCount(t, h, "actor = $1 and action = 'view' and children = array[$2]", p.ID, childID); n != 1 {
		t.Fatalf("view left %d audit records", n)
	}
	// The FHIR facade's search and read are audited the same way.
	if c, b := status(t, h, "GET", tok, "/fhir/Patient?family=Hughes&birthdate=2015-03-14", nil); c != 200 || !strings.Contains(b, childID) {
		t.Fatalf("FHIR search: %d %s", c, b)
	}
	if n := auditCount(t, h, "actor = $1 and action = 'search'", p.ID); n != 2 {
		t.Fatalf("after a FHIR search the practitioner has %d search records, want 2", n)
	}
	if c, b := status(t, h, "GET", tok, "/fhir/Patient/"+childID, nil); c != 200 {
		t.Fatalf("FHIR read: %d %s", c, b)
	}
	if n := auditCount(t, h, "actor = $1 and action = 'view' and children = array[$2]", p.ID, childID); n != 2 {
		t.Fatalf("after a FHIR read the practitioner has %d view records, want 2", n)
	}
	var raw []byte
	if err := h.DB.QueryRow(ctx, "select row_to_json(a)::text from audit_events a where actor = $1 and action = 'view'", p.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "9434765919") || strings.Contains(string(raw), "Olivia") {
		t.Fatalf("audit record holds record data: %s", raw)
	}

	// Take the audit trail away: reads fail closed.
	if err := h.NATS.JS.DeleteStream(ctx, natsjs.StreamAudit); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/children?family=Hughes&birth_date=2015-03-14", "/v1/children/" + childID,
		"/fhir/Patient?family=Hughes&birthdate=2015-03-14", "/fhir/Patient/" + childID} {
		c, b := status(t, h, "GET", tok, path, nil)
		if c != http.StatusServiceUnavailable || strings.Contains(b, childID) || strings.Contains(b, "Hughes") {
			t.Fatalf("%s without an audit trail: %d %s", path, c, b)
		}
	}
	if err := natsjs.EnsureAuthStreams(ctx, h.NATS.JS); err != nil {
		t.Fatal(err)
	}
	if c, _ := status(t, h, "GET", tok, "/v1/children/"+childID, nil); c != 200 {
		t.Fatalf("view after the trail is back: %d", c)
	}
}

// TestGuessingIDs: without authorisation an id reveals nothing, not even
// whether it exists.
func TestGuessingIDs(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	childID := seedOne(t, h)
	auditorTok := tokenFor(t, h, "auditor", access.RoleAuditor)
	for _, id := range []string{childID, uuid.NewString()} {
		for _, tok := range []string{"", "cp1.forged.token", auditorTok} {
			c1, b1 := status(t, h, "GET", tok, "/v1/children/"+id, nil)
			if c1 != 401 && c1 != 403 || strings.Contains(b1, "Hughes") {
				t.Fatalf("%s with %q: %d %s", id, tok, c1, b1)
			}
		}
	}
	// Unauthenticated answers are the same for a real and an invented id.
	c1, b1 := status(t, h, "GET", "", "/v1/children/"+childID, nil)
	c2, b2 := status(t, h, "GET", "", "/v1/children/"+uuid.NewString(), nil)
	if c1 != c2 || b1 != b2 {
		t.Fatalf("real and invented ids answered differently: %d %s / %d %s", c1, b1, c2, b2)
	}
}

// TestInjectionInEveryParameter sends hostile strings in every query and
// path parameter of every route, signed in with every role: nothing fails
// with a 500 and the directory survives.
func TestInjectionInEveryParameter(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	seedOne(t, h)
	tok := tokenFor(t, h, "everything", access.RolePractitioner, access.RoleShield, access.RoleSteward, access.RoleAuditor, access.RoleAdmin)
	evil := []string{`'; DROP TABLE directory; --`, `" OR "1"="1`, `%' OR 1=1 --`, `../../etc/passwd`, `<script>alert(1)</script>`,
		"\x00", `{"$gt":""}`, `${jndi:ldap://x/a}`, strings.Repeat("A", 5000)}
	params := []string{"family", "given", "birth_date", "birth_date_from", "birth_date_to", "age_from", "age_to", "gender",
		"postcode", "nhs_number", "upn", "limit", "from", "to", "format", "system", "name", "birthdate", "identifier", "_count"}
	brace := regexp.MustCompile(`\{[^}]+\}`)
	for pattern := range access.Routes {
		method, path, _ := strings.Cut(pattern, " ")
		if pattern == "POST /v1/auth/logout" {
			continue
		}
		for _, e := range evil {
			p := brace.ReplaceAllString(path, url.PathEscape(e))
			q := url.Values{}
			for _, k := range params {
				q.Set(k, e)
			}
			body, _ := json.Marshal(map[string]string{"username": e, "password": e, "code": e, "agency": e, "system": e, "reason": e})
			c, b := status(t, h, method, tok, p+"?"+q.Encode(), body)
			if c >= 500 && c != http.StatusServiceUnavailable || strings.Contains(b, "SQLSTATE") || strings.Contains(b, "<script>") {
				t.Errorf("%s with %.20q: %d %.200s", pattern, e, c, b)
			}
		}
	}
	if n, _, err := h.Store.Count(context.Background()); err != nil || n != 1 {
		t.Fatalf("directory after injection: %d, %v", n, err)
	}
}

func TestAuditorsQueries(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	ctx := context.Background()
	childID := seedOne(t, h)
	reader := tokenFor(t, h, "looker", access.RolePractitioner)
	if c, _ := status(t, h, "GET", reader, "/v1/children/"+childID, nil); c != 200 {
		t.Fatal(c)
	}
	lookerID := func() string { p, _ := h.Registry.ByUsername(ctx, "looker"); return p.ID }()
	aud := tokenFor(t, h, "auditor", access.RoleAuditor)
	waitAudited(t, h)

	c, b := status(t, h, "GET", aud, "/v1/audit/children/"+childID+"?from=2000-01-01", nil)
	if c != 200 || !strings.Contains(b, lookerID) || !strings.Contains(b, `"actor_name":"Test looker"`) {
		t.Fatalf("who looked at this child: %d %s", c, b)
	}
	c, b = status(t, h, "GET", aud, "/v1/audit/practitioners/"+lookerID+"?format=csv", nil)
	lines := strings.Split(strings.TrimSpace(b), "\n")
	if c != 200 || !strings.HasPrefix(lines[0], "seq,at,action") || !strings.Contains(b, childID) {
		t.Fatalf("what this practitioner looked at (CSV): %d %s", c, b)
	}
	if c, b = status(t, h, "GET", aud, "/v1/audit/practitioners/"+lookerID+"?to=2000-01-01", nil); c != 200 || !strings.Contains(b, `"count":0`) {
		t.Fatalf("time range: %d %s", c, b)
	}
	if c, _ = status(t, h, "GET", reader, "/v1/audit/children/"+childID, nil); c != 403 {
		t.Fatalf("practitioner reading the audit trail: %d", c)
	}
	if n := auditCount(t, h, "action = 'export' and subject = $1", lookerID); n != 1 {
		t.Fatalf("export audited %d times", n)
	}
	if c, b = status(t, h, "GET", aud, "/v1/audit/signals", nil); c != 200 || !strings.Contains(b, `"signals"`) {
		t.Fatalf("signals: %d %s", c, b)
	}
}

func TestAdministratorsManageTheRegister(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	admin := tokenFor(t, h, "admin", access.RoleAdmin)
	body := `{"username":"new.worker","name":"New Worker","organisation":"Leeds CC","job_role":"Health visitor",
		"roles":["practitioner"],"vetting":{"check_type":"enhanced-dbs","date":"2024-01-10","expires":"2099-01-10"},
		"training":{"completed":"2024-02-01","expires":"2099-02-01"}}`
	c, b := status(t, h, "POST", admin, "/v1/practitioners", []byte(body))
	if c != 201 {
		t.Fatalf("create: %d %s", c, b)
	}
	var created struct {
		Practitioner struct{ ID string }
		Credentials  auth.Credentials
	}
	_ = json.Unmarshal([]byte(b), &created)
	if st, resp := login(t, h, created.Credentials.Username, created.Credentials.Password, code(t, created.Credentials.TOTPSecret)); st != 200 {
		t.Fatalf("new practitioner signs in: %d %v", st, resp)
	}
	if c, b = status(t, h, "PATCH", admin, "/v1/practitioners/"+created.Practitioner.ID, []byte(`{"status":"suspended","reason":"investigation"}`)); c != 200 || !strings.Contains(b, `"status":"suspended"`) {
		t.Fatalf("suspend: %d %s", c, b)
	}
	if c, b = status(t, h, "POST", admin, "/v1/agency-keys", []byte(`{"agency":"education","system":"sims"}`)); c != 201 || !strings.Contains(b, `"key":"cpk_`) {
		t.Fatalf("issue key: %d %s", c, b)
	}
	if c, _ = status(t, h, "POST", readerToken(t, h), "/v1/practitioners", []byte(body)); c != 403 {
		t.Fatalf("practitioner creating users: %d", c)
	}
	// The register is an event stream too.
	if n := streamMsgs(t, h, natsjs.StreamRegistry); n < 5 {
		t.Fatalf("REGISTRY holds %d events", n)
	}
}

// TestEveryRouteHasAnAccessRule reads every route the adapters register
// and checks that the access policy has a rule for it, that every rule is
// for a route that exists, and that no non-public route answers a caller
// who has not signed in.
func TestEveryRouteHasAnAccessRule(t *testing.T) {
	registered := map[string]string{}
	root := filepath.Join("..", "..", "adapters")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				p, _ := strconv.Unquote(lit.Value)
				registered[p] = path
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(registered) < 10 {
		t.Fatalf("found only %d routes: %v", len(registered), registered)
	}
	for p, file := range registered {
		if _, ok := access.Routes[p]; !ok {
			t.Errorf("route %q (%s) has no rule in domain/access/routes.go", p, file)
		}
	}
	for p := range access.Routes {
		if _, ok := registered[p]; !ok {
			t.Errorf("rule for %q, which no adapter registers", p)
		}
	}

	h := startHub(t, newConfig(t))
	defer h.Close()
	brace := regexp.MustCompile(`\{[^}]+\}`)
	for p, rule := range access.Routes {
		if rule.Audience == access.Public {
			continue
		}
		method, path, _ := strings.Cut(p, " ")
		path = brace.ReplaceAllString(path, uuid.NewString())
		if c, b := status(t, h, method, "", path, []byte(`{}`)); c != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d %s", p, c, b)
		}
	}
}
