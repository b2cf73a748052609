package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"contactpoint/app/hub"
	"contactpoint/app/linker"
	"contactpoint/domain/access"
	"contactpoint/domain/retention"
)

// clock is a hub clock a test moves.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time  { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) set(t time.Time) { c.t.Store(t.UnixNano()) }

// TestRecordEndsWhenTheLawSays: a child crossing 18 leaves search and the
// record view; a steward still finds it within the year; six years on its
// personal data is erased from every stream file, table and backup, and
// neither a rebuild nor a restart brings it back; the audit trail still
// says who looked at it, and its id answers 410 "erased".
func TestRecordEndsWhenTheLawSays(t *testing.T) {
	ctx := context.Background()
	real := time.Now().UTC()
	london, err := time.LoadLocation(retention.DefaultZone)
	if err != nil {
		t.Skip("no time zone database")
	}
	// Born 17 years and 300 days ago: intake takes it (not over 18) and it
	// turns 18 within the year.
	dob := retention.Day(real, london).AddDate(-17, 0, -300)
	var clk clock
	clk.set(real)
	cfg := newConfig(t)
	cfg.Now, cfg.LifecycleEvery = clk.now, -1
	h := startHub(t, cfg)
	defer func() { h.Close() }()

	ghost := kid{agency: "health", system: "pas", id: "RX-GHOST-77", given: "Zebedee", family: "Quillfeather", dob: dob.Format(time.DateOnly),
		gender: "male", nhs: "9434765870", postcode: "LS7 4QZ", address: "99 Wisteria Crescent", carer: "Marigold", phone: "07700 900777"}
	other := kid{agency: "health", system: "pas", id: "RX-OTHER-1", given: "Ann", family: "Other", dob: "2016-01-02", gender: "female",
		nhs: "9434765919", postcode: "LS6 2AB", address: "1 Keep Street"}
	send(t, h, ghost, other)
	id := childOf(t, h, "health", "pas", ghost.id)
	// A quarantined record of the same child (a forbidden field).
	bad := ghost.json()
	bad["child"].(map[string]any)["notes"] = "x"
	if code, _ := post(t, h, "health", "application/x-ndjson", ndjson([]map[string]any{bad})); code != http.StatusUnprocessableEntity {
		t.Fatalf("bad record: %d", code)
	}
	q := url.Values{"family": {ghost.family}, "birth_date": {ghost.dob}}
	if got := search(t, h, q); got.Count != 1 {
		t.Fatalf("before 18: %d results", got.Count)
	}
	pq := url.Values{"family": {ghost.family}, "postcode": {ghost.postcode}}
	_ = search(t, h, pq) // audited criteria that name the child
	if code, _ := viewAs(t, h, readerToken(t, h), "/v1/children/"+id); code != 200 {
		t.Fatalf("view before 18: %d", code)
	}

	// The 18th birthday, in London.
	clk.set(retention.Anniversary(dob, 18).Add(2 * time.Hour))
	plan, err := h.Retention.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || plan[0].ChildID != id || plan[0].Action != retention.Archive || plan[0].Rule != retention.RuleAge18 {
		t.Fatalf("plan on the 18th birthday: %+v", plan)
	}
	runLifecycle(t, h)
	runLifecycle(t, h) // idempotent: nothing twice
	waitProjected(t, h)
	if got := search(t, h, q); got.Count != 0 {
		t.Fatalf("archived child still found by an ordinary search: %d", got.Count)
	}
	if code, body := viewAs(t, h, readerToken(t, h), "/v1/children/"+id); code != http.StatusGone || !strings.Contains(string(body), "archived") {
		t.Fatalf("archived view: %d %s", code, body)
	}
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	code, body := viewAs(t, h, steward, "/v1/children?"+q.Encode()+"&include_archived=true")
	if code != 200 || !strings.Contains(string(body), id) {
		t.Fatalf("steward's include_archived search: %d %s", code, body)
	}
	if code, body := viewAs(t, h, steward, "/v1/children/"+id+"?include_archived=true"); code != 200 || !strings.Contains(string(body), ghost.given) {
		t.Fatalf("steward's enquiry: %d %s", code, body)
	}
	aud := tokenFor(t, h, "auditor", access.RoleAuditor)
	if code, _ := viewAs(t, h, aud, "/v1/archive/children/"+id); code != http.StatusBadRequest {
		t.Fatalf("auditor without a reason: %d", code)
	}
	if code, body := viewAs(t, h, aud, "/v1/archive/children/"+id+"?reason="+url.QueryEscape("subject access request 42")); code != 200 || !strings.Contains(string(body), `"archived"`) {
		t.Fatalf("auditor's read: %d %s", code, body)
	}
	// A year on, the steward no longer finds it.
	clk.set(retention.Anniversary(dob, 19).Add(2 * time.Hour))
	if code, body := viewAs(t, h, steward, "/v1/children?"+q.Encode()+"&include_archived=true"); code != 200 || strings.Contains(string(body), id) {
		t.Fatalf("steward after a year: %d %s", code, body)
	}

	// Six years after archiving: erased.
	clk.set(retention.Anniversary(dob, 24).Add(2 * time.Hour))
	runLifecycle(t, h)
	waitProjected(t, h)
	waitAudit(t, h)

	personal := []string{ghost.given, ghost.family, ghost.nhs, "943 476 5870", ghost.postcode, "Wisteria", ghost.carer, ghost.phone, ghost.id}
	assertGone := func(where string) {
		t.Helper()
		for _, dir := range []string{filepath.Join(cfg.DataDir, "jetstream")} {
			grepTree(t, dir, personal, where+": event log")
		}
		// The linker's index snapshot is rewritten by the erasure itself.
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "linker", linker.SnapshotFile)); err != nil {
			t.Fatalf("%s: no index snapshot to search: %v", where, err)
		}
		grepTree(t, filepath.Join(cfg.DataDir, "linker"), personal, where+": index snapshot")
		grepDatabase(t, h, personal, where)
	}
	assertGone("after erasure")
	for _, path := range []string{"/v1/children/" + id, "/fhir/Patient/" + id} {
		if code, _ := viewAs(t, h, steward, path); code != http.StatusGone && code != http.StatusNotFound {
			t.Fatalf("%s after erasure: %d", path, code)
		}
	}
	if code, body := viewAs(t, h, readerToken(t, h), "/v1/children/"+id); code != http.StatusGone || !strings.Contains(string(body), "erased") {
		t.Fatalf("erased view: %d %s", code, body)
	}
	// The trail still says who looked at the child, and that it was erased.
	code, body = viewAs(t, h, aud, "/v1/audit/children/"+id)
	if code != 200 || !strings.Contains(string(body), "search") {
		t.Fatalf("who looked: %d %s", code, body)
	}
	var n int
	if err := h.DB.QueryRow(ctx, `select count(*) from audit_events where action = 'retention' and subject = $1 and reason = 'erased:archived-plus-6y'`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("erasure entry: %d %v", n, err)
	}
	// The hub's own backup holds none of it.
	out := t.TempDir()
	if err := hub.Backup(ctx, cfg.DataDir, cfg.DatabaseURL, out); err != nil {
		t.Fatal(err)
	}
	grepTree(t, out, personal, "backup")

	// A rebuild shows it erased, never restores it.
	if err := h.Dir.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	assertGone("after rebuild")
	var status string
	if err := h.DB.QueryRow(ctx, `select status from directory where child_id = $1`, id).Scan(&status); err != nil || status != "erased" {
		t.Fatalf("rebuilt status %q %v", status, err)
	}
	// A restart rebuilds the linker's index from CHILDREN: the same record
	// sent again makes a new child, not the ghost.
	h.Close()
	h = startHub(t, cfg)
	ghost.dob = retention.Day(real, london).AddDate(-1, 0, 0).Format(time.DateOnly)
	send(t, h, ghost)
	if again := childOf(t, h, "health", "pas", ghost.id); again == id {
		t.Fatal("a new record was linked to the erased child")
	}
	if code, _ := viewAs(t, h, readerToken(t, h), "/v1/children/"+id); code != http.StatusGone {
		t.Fatalf("erased child after restart: %d", code)
	}
}

// TestRetentionExceptions: a care leaver's consent keeps a record past 18,
// a legal hold stops erasure and its release lets it happen.
func TestRetentionExceptions(t *testing.T) {
	ctx := context.Background()
	real := time.Now().UTC()
	london, _ := time.LoadLocation(retention.DefaultZone)
	dob := retention.Day(real, london).AddDate(-17, 0, -100)
	var clk clock
	clk.set(real)
	cfg := newConfig(t)
	cfg.Now, cfg.LifecycleEvery = clk.now, -1
	h := startHub(t, cfg)
	defer h.Close()
	k := kid{agency: "health", system: "pas", id: "RX-CL-1", given: "Carys", family: "Leaver", dob: dob.Format(time.DateOnly), gender: "female", postcode: "LS9 8AA", address: "3 Hope Row"}
	send(t, h, k)
	id := childOf(t, h, "health", "pas", k.id)
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	exception := func(kind, date string) {
		t.Helper()
		code, body := postAs(t, h, steward, "/v1/children/"+id+"/retention", map[string]string{"kind": kind, "reason": "recorded with the young person", "date": date})
		if code != http.StatusCreated {
			t.Fatalf("%s: %d %s", kind, code, body)
		}
		waitProjected(t, h)
	}
	if code, _ := postAs(t, h, readerToken(t, h), "/v1/children/"+id+"/retention", map[string]string{"kind": retention.ExLegalHold, "reason": "not mine to make"}); code != http.StatusForbidden {
		t.Fatalf("a practitioner recorded an exception: %d", code)
	}
	exception(retention.ExCareLeaverConsent, "")
	clk.set(retention.Anniversary(dob, 18).Add(2 * time.Hour))
	if plan, _ := h.Retention.Plan(ctx); len(plan) != 0 {
		t.Fatalf("care leaver archived at 18: %+v", plan)
	}
	clk.set(retention.Anniversary(dob, 25).Add(2 * time.Hour))
	runLifecycle(t, h)
	waitProjected(t, h)
	exception(retention.ExLegalHold, "")
	clk.set(retention.Anniversary(dob, 32).Add(2 * time.Hour))
	if plan, _ := h.Retention.Plan(ctx); len(plan) != 0 {
		t.Fatalf("held record due: %+v", plan)
	}
	exception(retention.ExLegalHoldReleased, "")
	plan, _ := h.Retention.Plan(ctx)
	if len(plan) != 1 || plan[0].Action != retention.Erase {
		t.Fatalf("released hold: %+v", plan)
	}
}

func runLifecycle(t *testing.T, h *hub.Hub) {
	t.Helper()
	waitLinkerReady(t, h)
	rep, err := h.Retention.Run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range rep.Items {
		if it.Error != "" {
			t.Fatalf("lifecycle: %+v", it)
		}
	}
}

func waitLinkerReady(t *testing.T, h *hub.Hub) {
	t.Helper()
	waitProjected(t, h)
}

func waitAudit(t *testing.T, h *hub.Hub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		ok, err := h.AuditProj.Caught(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func viewAs(t *testing.T, h *hub.Hub, token, path string) (int, []byte) {
	t.Helper()
	resp, err := get(t, h, token, path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

func postAs(t *testing.T, h *hub.Hub, token, path string, body any) (int, []byte) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.Addr()+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// grepTree fails if any file under dir holds any of the values.
func grepTree(t *testing.T, dir string, values []string, where string) bool {
	t.Helper()
	found := false
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s: %s holds %q", where, p, v)
				found = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// logHolding logs every message of every stream that holds any of the
// values — the subject, sequence, headers and the start of the data — so a
// long model run that finds a remnant says which message keeps it.
func logHolding(t *testing.T, h *hub.Hub, values []string) {
	t.Helper()
	ctx := context.Background()
	names := h.NATS.JS.StreamNames(ctx)
	for name := range names.Name() {
		s, err := h.NATS.JS.Stream(ctx, name)
		if err != nil {
			t.Logf("stream %s: %v", name, err)
			continue
		}
		st := s.CachedInfo().State
		for seq := st.FirstSeq; seq > 0 && seq <= st.LastSeq; seq++ {
			msg, err := s.GetMsg(ctx, seq)
			if err != nil {
				continue
			}
			for _, v := range values {
				if bytes.Contains(msg.Data, []byte(v)) {
					t.Logf("%s seq %d subject %s headers %v holds %q: %.600s", name, seq, msg.Subject, msg.Header, v, msg.Data)
					break
				}
			}
		}
	}
}

// grepDatabase fails if any row of any table holds any of the values.
func grepDatabase(t *testing.T, h *hub.Hub, values []string, where string) {
	t.Helper()
	ctx := context.Background()
	rows, err := h.DB.Query(ctx, `select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	for _, tbl := range tables {
		for _, v := range values {
			var n int
			q := fmt.Sprintf(`select count(*) from %q x where position($1 in convert_from(convert_to(x::text, 'UTF8'), 'UTF8')) > 0 or position($2 in x::text) > 0`, tbl)
			if err := h.DB.QueryRow(ctx, q, v, fmt.Sprintf("%x", v)).Scan(&n); err != nil {
				t.Fatalf("%s: %v", tbl, err)
			}
			if n > 0 {
				t.Errorf("%s: table %s holds %q in %d rows", where, tbl, v, n)
			}
		}
	}
}
