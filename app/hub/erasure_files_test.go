package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"contactpoint/app/hub"
	"contactpoint/app/retention"
	"contactpoint/domain/access"
	dretention "contactpoint/domain/retention"
)

// TestErasureLeavesNoByteInPostgresFiles: on a PostgreSQL cluster of the
// test's own, a child is sent, quarantined once, searched, paired with
// another child in a review task, archived and erased; after a checkpoint no
// file of the cluster's data directory (the WAL aside) holds any of its
// names, address, identifiers, carer, phone or record id — not in a dead
// row version, an index, TOAST or the planner's statistics — and none of the
// stream files holds its record id, though the review task on the other
// child's subject compared the two. A restart and a rebuild leave it so.
func TestErasureLeavesNoByteInPostgresFiles(t *testing.T) {
	ctx := context.Background()
	london, err := time.LoadLocation(dretention.DefaultZone)
	if err != nil {
		t.Skip("no time zone database")
	}
	pg := newCluster(t)
	real := time.Now().UTC()
	dob := dretention.Day(real, london).AddDate(-17, 0, -300)
	var clk clock
	clk.set(real)
	cfg := hub.Config{HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(), DatabaseURL: pg.url("contactpoint"), Now: clk.now, LifecycleEvery: -1}
	h := startHub(t, cfg)
	defer func() { h.Close() }()

	ghost := kid{agency: "health", system: "pas", id: "RX-QUILL-31", given: "Xanthippe", family: "Quillfeather", dob: dob.Format(time.DateOnly),
		gender: "female", nhs: "9434765870", upn: "R801200123456", postcode: "LS7 4QZ", address: "99 Wisteria Crescent", carer: "Marigold", phone: "07700 900777"}
	// A second child erased the same day, and the school's record of a girl
	// of the same name and birthday who moved: a review task on her subject
	// compares her record with this one's, which names its record id.
	paired := kid{agency: "health", system: "pas", id: "RX-PAIRED-58", given: "Olwen", family: "Brackenridge", dob: ghost.dob,
		gender: "female", nhs: "9434765919", postcode: "LS6 2AB", address: "14 Juniper Mews", carer: "Perpetua", phone: "07700 900555"}
	cousin := kid{agency: "education", system: "sims", id: "E-KEEP-5", given: paired.given, family: paired.family, dob: ghost.dob,
		gender: "female", upn: "T821200714001", postcode: "LS4 2RR", address: "3 Stanmore Place"}
	send(t, h, ghost, paired)
	send(t, h, cousin)
	id := childOf(t, h, ghost.agency, ghost.system, ghost.id)
	pairedID := childOf(t, h, paired.agency, paired.system, paired.id)
	cousinID := childOf(t, h, cousin.agency, cousin.system, cousin.id)
	var task int64
	if err := h.DB.QueryRow(ctx, `select task_id from review_tasks where child_id = $1 and candidate_id = $2`, cousinID, pairedID).Scan(&task); err != nil {
		t.Fatalf("want a review task on the cousin about the paired child: %v", err)
	}
	// The steward sees which of the paired child's records was compared,
	// though the event names it by digest.
	if code, body := call(t, h, "GET", fmt.Sprintf("/v1/reviews/%d", task), nil); code != 200 ||
		!strings.Contains(string(body), `"compared_source":{"agency":"health","system":"pas","record_id":"`+paired.id+`"}`) {
		t.Fatalf("review task: %d %s", code, body)
	}
	// A record linked to the cousin by her UPN, which a steward splits off
	// to a child of its own, erased the same day: its statement stays on the
	// cousin's subject until the erasure reaches it.
	split := kid{agency: "health", system: "pas", id: "RX-SPLIT-3", given: paired.given, family: paired.family, dob: ghost.dob, gender: "female",
		upn: cousin.upn, postcode: "LS9 9ZZ", address: "7 Larkspur Row", carer: "Hildegard", phone: "07700 900333"}
	send(t, h, split)
	if got := childOf(t, h, split.agency, split.system, split.id); got != cousinID {
		t.Fatalf("the split record went to %s, want the cousin %s", got, cousinID)
	}
	splitID := splitOff(t, h, cousinID, "a different girl", split)
	if splitID == cousinID {
		t.Fatal("the split left the record on the cousin")
	}
	// A child a steward merged into the cousin and then unmerged, erased
	// the same day: the merge copied her statements onto the cousin's
	// subject, where they stay after the unmerge until the erasure reaches
	// them.
	undone := kid{agency: "social-care", system: "mosaic", id: "SC-UNDONE-8", given: "Zephyrine", family: "Ottoline", dob: ghost.dob, gender: "female",
		postcode: "LS12 5QT", address: "21 Quincewood Lane", carer: "Philippa", phone: "07700 900444"}
	send(t, h, undone)
	undoneID := childOf(t, h, undone.agency, undone.system, undone.id)
	if undoneID == cousinID {
		t.Fatal("the unmerged child's record went to the cousin")
	}
	mergeThenUnmerge(t, h, cousinID, undoneID, "two children")
	if got := childOf(t, h, undone.agency, undone.system, undone.id); got != undoneID {
		t.Fatalf("after the unmerge the record is on %s, want %s", got, undoneID)
	}
	if !reviewEvidenceShown(t, h, cousinID) {
		t.Fatal("the cousin's timeline hides a review request whose compared record is the candidate's")
	}
	bad := ghost.json()
	bad["child"].(map[string]any)["notes"] = "x"
	if code, _ := post(t, h, "health", "application/x-ndjson", ndjson([]map[string]any{bad})); code != http.StatusUnprocessableEntity {
		t.Fatalf("bad record: %d", code)
	}
	if got := search(t, h, url.Values{"family": {ghost.family}, "postcode": {ghost.postcode}}); got.Count != 1 {
		t.Fatalf("search: %d", got.Count)
	}
	if code, _ := viewAs(t, h, readerToken(t, h), "/v1/children/"+id); code != 200 {
		t.Fatalf("view: %d", code)
	}
	// A legal hold keeps the cousin (and her review task) past the day the
	// other two are erased.
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	if code, body := postAs(t, h, steward, "/v1/children/"+cousinID+"/retention", map[string]string{"kind": dretention.ExLegalHold, "reason": "proceedings in the family court"}); code != http.StatusCreated {
		t.Fatalf("legal hold: %d %s", code, body)
	}
	waitProjected(t, h)
	waitAudit(t, h)
	// The planner's statistics sample every column, as autovacuum's
	// analyse would on a busy hub: of the tables, not of a session's
	// temporary staging tables, which autovacuum never sees (a plain
	// ANALYZE on a pooled connection would sample the directory's staging
	// rows, and keep those statistics for as long as the session lives).
	if _, err := h.DB.Exec(ctx, `do $$ declare r record; begin
		for r in select c.oid::regclass as t from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r' loop
			execute 'analyze ' || r.t;
		end loop; end $$`); err != nil {
		t.Fatal(err)
	}

	clk.set(dretention.Anniversary(dob, 18).Add(2 * time.Hour))
	runLifecycle(t, h)
	clk.set(dretention.Anniversary(dob, 24).Add(2 * time.Hour))
	waitProjected(t, h)
	rep, err := h.Retention.Run(ctx, true)
	if err != nil || len(rep.Items) != 4 || rep.Items[0].Action != dretention.Erase || rep.Rewrite == nil || rep.Rewrite.Children != 4 {
		t.Fatalf("dry run before the erasure: %+v %v", rep, err)
	}
	// The keys that seal the criteria of the audit entries naming them: an
	// erasure that deleted the rows but left their bytes in a file would
	// not have shredded anything.
	var keys [][]byte
	rows, err := h.DB.Query(ctx, `select key from audit_keys where children && $1`, []string{id, pairedID, splitID, undoneID})
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k []byte
		_ = rows.Scan(&k)
		keys = append(keys, k)
	}
	rows.Close()
	if len(keys) == 0 {
		t.Fatal("no audit key names the children")
	}
	// The rewrite fails after the erasures (the projection's instance is
	// gone, say): the children are erased and stay pending, and the next
	// run, which has nothing else to do, rewrites the files.
	rebuild := h.Retention.Rebuild
	h.Retention.Rebuild = func(context.Context, string) error { return errors.New("no instance answered") }
	rep, err = h.Retention.Run(ctx, false)
	h.Retention.Rebuild = rebuild
	if err != nil || len(rep.Items) != 4 || !rep.Items[0].Done || rep.Rewrite == nil || rep.Rewrite.Done || rep.Rewrite.Error == "" {
		t.Fatalf("erasure run with the rewrite failing: %+v %+v %v", rep.Items, rep.Rewrite, err)
	}
	waitProjected(t, h) // the directory shows them erased: nothing is due
	start := time.Now()
	rep, err = h.Retention.Run(ctx, false)
	if err != nil || len(rep.Items) != 0 || rep.Rewrite == nil || !rep.Rewrite.Done || rep.Rewrite.Error != "" || rep.Rewrite.Children != 4 {
		t.Fatalf("the run after: %+v %+v %v", rep.Items, rep.Rewrite, err)
	}
	t.Logf("rewrite took %s (%.2fs: %v)", time.Since(start).Round(time.Millisecond), rep.Rewrite.Seconds, rep.Rewrite.Tables)
	var rewritten int
	if err := h.DB.QueryRow(ctx, `select count(*) from retention_runs where child_id = $1 and action = $2`, id, retention.ActionRewrite).Scan(&rewritten); err != nil || rewritten != 1 {
		t.Fatalf("rewrite not recorded: %d %v", rewritten, err)
	}
	// A second run has nothing to rewrite.
	if rep, err := h.Retention.Run(ctx, false); err != nil || rep.Rewrite != nil {
		t.Fatalf("second run: %+v %v", rep.Rewrite, err)
	}
	waitProjected(t, h)
	waitAudit(t, h)

	// The paired and split children's names are the cousin's too, and stay
	// with her. The moved-out events on her subject that named the split
	// and unmerged records are restated without them.
	personal := []string{ghost.given, ghost.family, ghost.nhs, "943 476 5870", ghost.upn, ghost.postcode, "Wisteria", ghost.carer, ghost.phone, ghost.id,
		paired.nhs, "943 476 5919", paired.postcode, "Juniper", paired.carer, paired.phone, paired.id,
		split.postcode, "Larkspur", split.carer, split.phone, split.id,
		undone.given, undone.family, undone.postcode, "Quincewood", undone.carer, undone.phone, undone.id}
	assertGone := func(where string) {
		t.Helper()
		if _, err := h.DB.Exec(ctx, "checkpoint"); err != nil {
			t.Fatal(err)
		}
		grepCluster(t, h, pg.dir, personal, where)
		for i, k := range keys {
			grepCluster(t, h, pg.dir, []string{string(k)}, fmt.Sprintf("%s: audit key %d", where, i))
		}
		grepTree(t, filepath.Join(cfg.DataDir, "jetstream"), personal, where+": event log")
	}
	assertGone("after erasure")
	// The cousin's task stays, naming the erased child by its id only, and
	// closed: there is no child left to compare her with.
	erasedTask := func(where string) {
		t.Helper()
		var status string
		if err := h.DB.QueryRow(ctx, `select status from review_tasks where task_id = $1 and child_id = $2 and candidate_id = $3`, task, cousinID, pairedID).Scan(&status); err != nil || status != "erased" {
			t.Fatalf("%s: the cousin's task: %q %v", where, status, err)
		}
		if code, body := call(t, h, "GET", "/v1/reviews", nil); code != 200 || strings.Contains(string(body), pairedID) {
			t.Fatalf("%s: the steward's queue: %d %s", where, code, body)
		}
	}
	erasedTask("after erasure")

	h.Close()
	h = startHub(t, cfg)
	waitProjected(t, h)
	if err := h.Dir.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	assertGone("after a restart and a rebuild")
	erasedTask("after a restart and a rebuild")
	if code, _ := viewAs(t, h, readerToken(t, h), "/v1/children/"+id); code != http.StatusGone {
		t.Fatalf("erased child after restart: %d", code)
	}
}

// reviewEvidenceShown reports whether the child's timeline, as a steward
// without the shield role reads it, shows its review request's evidence.
func reviewEvidenceShown(t *testing.T, h *hub.Hub, id string) bool {
	t.Helper()
	code, body := call(t, h, "GET", "/v1/children/"+id+"/history", nil)
	var out struct {
		Events []struct {
			Event struct {
				Type   string `json:"type"`
				Review *struct {
					Evidence json.RawMessage `json:"evidence"`
				} `json:"review"`
			} `json:"event"`
		} `json:"events"`
	}
	if code != 200 || json.Unmarshal(body, &out) != nil {
		t.Fatalf("history: %d %s", code, body)
	}
	for _, e := range out.Events {
		if e.Event.Type == "match.review-requested" && e.Event.Review != nil {
			return len(e.Event.Review.Evidence) > 0
		}
	}
	t.Fatalf("no review request in the timeline: %s", body)
	return false
}

// grepCluster fails if any file of a PostgreSQL data directory, the WAL
// aside, holds any of the values, naming the relation a file belongs to.
func grepCluster(t *testing.T, h *hub.Hub, dataDir string, values []string, where string) {
	t.Helper()
	err := filepath.Walk(dataDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if fi.Name() == "pg_wal" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				var rel string
				_ = h.DB.QueryRow(context.Background(), `select coalesce(max(n.nspname || '.' || c.relname), 'a dropped relation') from pg_class c
					join pg_namespace n on n.oid = c.relnamespace where pg_relation_filenode(c.oid)::text = split_part($1, '.', 1)`, filepath.Base(p)).Scan(&rel)
				t.Errorf("%s: %s (%s) holds %q", where, strings.TrimPrefix(p, dataDir), rel, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
