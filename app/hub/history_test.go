package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"contactpoint/adapters/natsjs"
	"contactpoint/app/hub"
	"contactpoint/domain/access"
)

// stamped is k's record with the source's own update time, so that views
// built at different moments compare equal.
func stamped(k kid, updated string) map[string]any {
	r := k.json()
	r["source"].(map[string]any)["updated_at"] = updated
	return r
}

func sendRecords(t *testing.T, h *hub.Hub, agency string, recs ...map[string]any) {
	t.Helper()
	if code, body := post(t, h, agency, "application/x-ndjson", ndjson(recs)); code != http.StatusAccepted {
		t.Fatalf("%s: %d %v", agency, code, body)
	}
	waitProjected(t, h)
}

// viewJSON is a child's record as a data steward reads it, without its id.
func viewJSON(t *testing.T, h *hub.Hub, id string) string {
	t.Helper()
	code, body := call(t, h, "GET", "/v1/children/"+id, nil)
	if code != 200 {
		t.Fatalf("read %s: %d %s", id, code, body)
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	delete(v, "id")
	b, _ := json.Marshal(v)
	return string(b)
}

func TestUnmergeRestoresTheAbsorbedChild(t *testing.T) {
	moved := movedOlivia()
	load := func(h *hub.Hub) (string, string) {
		sendRecords(t, h, "health", stamped(olivia, "2026-01-05T09:00:00Z"))
		sendRecords(t, h, "education", stamped(moved, "2026-02-05T09:00:00Z"))
		return childOf(t, h, "health", "pas", "H1"), childOf(t, h, "education", "sims", "E1")
	}
	// A hub that never merged them.
	never := startHub(t, newConfig(t))
	defer never.Close()
	na, ne := load(never)
	wantA, wantE := viewJSON(t, never, na), viewJSON(t, never, ne)

	h := startHub(t, newConfig(t))
	defer h.Close()
	a, e := load(h)
	if code, b := call(t, h, "POST", "/v1/children/"+a+"/merge", map[string]string{"other": e, "reason": "looked the same"}); code != 200 {
		t.Fatalf("merge: %d %s", code, b)
	}
	waitProjected(t, h)
	// A dry run shows both records and appends nothing.
	before := streamMsgs(t, h, natsjs.StreamChildren)
	code, body := call(t, h, "POST", "/v1/children/"+a+"/unmerge?dry_run=true", map[string]string{"absorbed": e, "reason": "two children"})
	if code != 200 || !strings.Contains(string(body), "Stanmore") || !strings.Contains(string(body), "Elm Grove") {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if after := streamMsgs(t, h, natsjs.StreamChildren); after != before {
		t.Fatalf("a dry run appended %d messages", after-before)
	}
	// A shield applied after the merge must reach both halves.
	shieldChild(t, h, a)
	if code, b := call(t, h, "POST", "/v1/children/"+a+"/unmerge", map[string]string{"absorbed": e, "reason": "two children"}); code != 200 {
		t.Fatalf("unmerge: %d %s", code, b)
	}
	waitProjected(t, h)
	if got := childOf(t, h, "education", "sims", "E1"); got != e {
		t.Fatalf("the school record is on %s after the unmerge, want the restored child %s", got, e)
	}
	mustBeShielded(t, h, e, "Stanmore")
	mustBeShielded(t, h, a, "Elm Grove")
	// Lifted, the two records are exactly those of a hub that never merged.
	for _, id := range []string{a, e} {
		lift, _ := json.Marshal(map[string]string{"reason": "risk has passed"})
		if code, b := status(t, h, "POST", officerToken(t, h), "/v1/children/"+id+"/shield/lift", lift); code != http.StatusOK {
			t.Fatalf("lift: %d %s", code, b)
		}
	}
	waitProjected(t, h)
	if got := viewJSON(t, h, a); got != wantA {
		t.Errorf("survivor after unmerge:\n%s\nwant\n%s", got, wantA)
	}
	if got := viewJSON(t, h, e); got != wantE {
		t.Errorf("restored child:\n%s\nwant\n%s", got, wantE)
	}
	// The pair is remembered as different: a merge is refused.
	if code, b := call(t, h, "POST", "/v1/children/"+a+"/merge", map[string]string{"other": e, "reason": "again"}); code != http.StatusConflict {
		t.Fatalf("merge after unmerge: %d %s", code, b)
	}
	// And a rebuild from the log agrees.
	before2 := dump(t, h)
	if err := h.Dir.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dump(t, h) != before2 {
		t.Fatal("rebuilt directory differs after an unmerge")
	}
}

func TestSplitAndMergeDryRun(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	school := olivia
	school.agency, school.system, school.id, school.nhs, school.upn = "education", "sims", "E1", "", "T821200714001"
	school.given = "Livvy"
	twin := olivia
	twin.id, twin.given, twin.nhs = "H2", "Amelia", "4010232137"
	send(t, h, olivia, school, twin)
	a, b := childOf(t, h, "health", "pas", "H1"), childOf(t, h, "health", "pas", "H2")
	before := streamMsgs(t, h, natsjs.StreamChildren)
	code, body := call(t, h, "POST", "/v1/children/"+a+"/split?dry_run=true", map[string]any{
		"sources": []map[string]string{{"agency": "education", "system": "sims", "record_id": "E1"}}, "reason": "check"})
	var out struct {
		DryRun   bool `json:"dry_run"`
		Children []struct {
			ID      string `json:"id"`
			Sources []any  `json:"sources"`
		} `json:"children"`
	}
	if code != 200 || json.Unmarshal(body, &out) != nil || !out.DryRun || len(out.Children) != 2 {
		t.Fatalf("split dry run: %d %s", code, body)
	}
	for _, c := range out.Children {
		if len(c.Sources) != 1 {
			t.Fatalf("each half should hold one record: %s", body)
		}
	}
	code, body = call(t, h, "POST", "/v1/children/"+a+"/merge?dry_run=true", map[string]string{"other": b, "reason": "check"})
	if code != 200 || !strings.Contains(string(body), "Amelia") || !strings.Contains(string(body), "merged into") {
		t.Fatalf("merge dry run: %d %s", code, body)
	}
	if after := streamMsgs(t, h, natsjs.StreamChildren); after != before {
		t.Fatalf("dry runs appended %d messages", after-before)
	}
	if childOf(t, h, "education", "sims", "E1") != a {
		t.Fatal("a dry run moved a record")
	}
}

func TestCorrections(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	sendRecords(t, h, "health", stamped(olivia, "2026-01-05T09:00:00Z"))
	a := childOf(t, h, "health", "pas", "H1")
	dob := func() (string, string) {
		t.Helper()
		code, body := call(t, h, "GET", "/v1/children/"+a, nil)
		var v struct {
			BirthDate struct {
				Value string `json:"value"`
				Rule  string `json:"rule"`
			} `json:"birth_date"`
		}
		if code != 200 || json.Unmarshal(body, &v) != nil {
			t.Fatalf("read: %d %s", code, body)
		}
		return v.BirthDate.Value, v.BirthDate.Rule
	}
	for _, bad := range []map[string]any{
		{"field": "birth_date", "value": "2015-02-30", "reason": "x"},
		{"field": "nhs_number", "value": "9434765919", "reason": "x"},
		{"field": "birth_date", "value": "2015-03-15"},
	} {
		if code, b := call(t, h, "POST", "/v1/children/"+a+"/corrections", bad); code != http.StatusBadRequest {
			t.Fatalf("bad correction %v: %d %s", bad, code, b)
		}
	}
	if code, b := call(t, h, "POST", "/v1/children/"+a+"/corrections", map[string]any{"field": "birth_date", "value": "2015-03-15", "reason": "birth certificate seen"}); code != http.StatusCreated {
		t.Fatalf("correct: %d %s", code, b)
	}
	waitProjected(t, h)
	if v, rule := dob(); v != "2015-03-15" || rule != "steward-correction" {
		t.Fatalf("after the correction: %s by %s", v, rule)
	}
	// It survives a rebuild: it is an event.
	if err := h.Dir.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, rule := dob(); v != "2015-03-15" || rule != "steward-correction" {
		t.Fatalf("after a rebuild: %s by %s", v, rule)
	}
	// A search on the corrected date finds her.
	if res := search(t, h, url.Values{"family": {"Hughes"}, "birth_date": {"2015-03-15"}}); res.Count != 1 {
		t.Fatalf("search on the corrected date: %+v", res)
	}
	// The source states another date later: it shows, and the steward is asked.
	later := olivia
	later.dob = "2015-03-16"
	sendRecords(t, h, "health", stamped(later, "2026-05-05T09:00:00Z"))
	if v, _ := dob(); v != "2015-03-16" {
		t.Fatalf("a later source statement: %s", v)
	}
	_, body := call(t, h, "GET", "/v1/children/"+a, nil)
	if !strings.Contains(string(body), "correction_conflicts") {
		t.Fatalf("the conflict is not shown: %s", body)
	}
	// Withdrawn, the sources decide; the history shows both.
	if code, b := call(t, h, "DELETE", "/v1/children/"+a+"/corrections/birth_date", map[string]string{"reason": "the hospital corrected it"}); code != 200 {
		t.Fatalf("withdraw: %d %s", code, b)
	}
	waitProjected(t, h)
	code, hist := call(t, h, "GET", "/v1/children/"+a+"/history", nil)
	if code != 200 || !strings.Contains(string(hist), "steward.corrected") || !strings.Contains(string(hist), "steward.correction-withdrawn") {
		t.Fatalf("history: %d %s", code, hist)
	}
	// A source's value marked wrong is skipped.
	if code, b := call(t, h, "POST", "/v1/children/"+a+"/rejections", map[string]any{
		"source": map[string]string{"agency": "health", "system": "pas", "record_id": "H1"}, "field": "birth_date", "reason": "keyed wrongly"}); code != http.StatusCreated {
		t.Fatalf("reject: %d %s", code, b)
	}
	waitProjected(t, h)
	if _, body := call(t, h, "GET", "/v1/children/"+a, nil); strings.Contains(string(body), `"birth_date"`) {
		t.Fatalf("a rejected value still shows: %s", body)
	}
}

func TestTimelineAndTimeTravel(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	sendRecords(t, h, "health", stamped(olivia, "2026-01-05T09:00:00Z"))
	a := childOf(t, h, "health", "pas", "H1")
	time.Sleep(20 * time.Millisecond)
	between := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	moved := olivia
	moved.address, moved.postcode = "3 Stanmore Place", "LS4 2RR"
	sendRecords(t, h, "health", stamped(moved, "2026-03-05T09:00:00Z"))
	school := olivia
	school.agency, school.system, school.id, school.nhs, school.upn = "education", "sims", "E1", "", "T821200714001"
	school.address, school.postcode, school.carer = "9 Far Away", "LS9 9ZZ", ""
	send(t, h, school)
	e := childOf(t, h, "education", "sims", "E1")
	if e != a {
		if code, b := call(t, h, "POST", "/v1/children/"+a+"/merge", map[string]string{"other": e, "reason": "same"}); code != 200 {
			t.Fatalf("merge: %d %s", code, b)
		}
		waitProjected(t, h)
	}

	asOf := func(token, id string, at time.Time) (int, string) {
		return status(t, h, "GET", token, "/v1/children/"+id+"?as_of="+url.QueryEscape(at.Format(time.RFC3339Nano)), nil)
	}
	reader := readerToken(t, h)
	if code, b := asOf(reader, a, between); code != 200 || !strings.Contains(b, "Elm Grove") || strings.Contains(b, "Stanmore") {
		t.Fatalf("as of before the move: %d %s", code, b)
	}
	// Now the school's newer address shows (the most recent source).
	if code, b := asOf(reader, a, time.Now()); code != 200 || !strings.Contains(b, "Far Away") {
		t.Fatalf("as of now: %d %s", code, b)
	}
	if code, _ := asOf(reader, a, between.AddDate(-1, 0, 0)); code != http.StatusNotFound {
		t.Fatalf("as of before the child existed: %d", code)
	}
	if code, _ := status(t, h, "GET", reader, "/v1/children/"+a+"?as_of=yesterday", nil); code != http.StatusBadRequest {
		t.Fatalf("a bad as_of: %d", code)
	}

	// Shielded now: the past is shown shielded to a practitioner too, and
	// the timeline hides what the record hides from a steward.
	shieldChild(t, h, a)
	if code, b := asOf(reader, a, between); code != 200 || strings.Contains(b, "Elm Grove") || !strings.Contains(b, `"shielded":true`) {
		t.Fatalf("as of, shielded now: %d %s", code, b)
	}
	code, hist := call(t, h, "GET", "/v1/children/"+a+"/history", nil)
	if code != 200 {
		t.Fatalf("history: %d %s", code, hist)
	}
	for _, hidden := range []string{"Elm Grove", "Stanmore", "Far Away", "LS6 2AB", "Sarah", `"pas"`, `"sims"`, "domestic-abuse"} {
		if strings.Contains(string(hist), hidden) {
			t.Errorf("a steward sees %q in a shielded child's history: %s", hidden, clip(string(hist), hidden))
		}
	}
	for _, ev := range []string{"source.stated", "shield.applied"} {
		if !strings.Contains(string(hist), ev) {
			t.Errorf("history lacks %s: %s", ev, hist)
		}
	}
	officer := tokenFor(t, h, "officer-history", access.RoleShield)
	code, full := status(t, h, "GET", officer, "/v1/children/"+a+"/history", nil)
	if code != 200 || !strings.Contains(full, "Elm Grove") || !strings.Contains(full, "Far Away") || !strings.Contains(full, "domestic-abuse") {
		t.Fatalf("shield officer's history: %d %s", code, full)
	}
	// A practitioner may not read histories.
	if code, _ := status(t, h, "GET", reader, "/v1/children/"+a+"/history", nil); code != http.StatusForbidden {
		t.Fatalf("practitioner reading a history: %d", code)
	}
}

// What did a practitioner see when they opened a child? The audit entry of
// the view says where in the log it was answered from; the auditor's replay
// rebuilds it, through the policy with the roles the practitioner held, and
// it is the answer given, byte for byte — however the record changed since.
func TestReplayOfAViewIsTheAnswerGiven(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	sendRecords(t, h, "health", stamped(olivia, "2026-01-05T09:00:00Z"))
	a := childOf(t, h, "health", "pas", "H1")
	reader := readerToken(t, h)
	open := func() []byte {
		t.Helper()
		resp, err := get(t, h, reader, "/v1/children/"+a)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf strings.Builder
		if _, err := io.Copy(&buf, resp.Body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("view: %d %v", resp.StatusCode, err)
		}
		return []byte(strings.TrimRight(buf.String(), "\n"))
	}
	first := open()
	// The record moves on: a new address, then a shield.
	moved := olivia
	moved.address, moved.postcode = "3 Stanmore Place", "LS4 2RR"
	sendRecords(t, h, "health", stamped(moved, "2026-03-05T09:00:00Z"))
	second := open()
	shieldChild(t, h, a)
	third := open()
	if string(first) == string(second) || string(second) == string(third) {
		t.Fatal("setup: the answers should differ")
	}
	waitAudited(t, h)
	var seqs []int64
	rows, err := h.DB.Query(context.Background(), `select seq from audit_events where action = 'view' and route = 'GET /v1/children/{id}' and $1 = any(children) order by seq`, a)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int64
		_ = rows.Scan(&s)
		seqs = append(seqs, s)
	}
	rows.Close()
	if len(seqs) != 3 {
		t.Fatalf("want three audited views, got %d", len(seqs))
	}
	auditorTok := tokenFor(t, h, "auditor-replay", access.RoleAuditor)
	for i, want := range [][]byte{first, second, third} {
		code, body := status(t, h, "GET", auditorTok, fmt.Sprintf("/v1/audit/views/%d/replay", seqs[i]), nil)
		var out struct {
			Answer json.RawMessage `json:"answer"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("replay %d: %d %s", i, code, body)
		}
		if string(out.Answer) != string(want) {
			t.Errorf("replay of view %d differs from the answer given:\n%s\nwant\n%s", i, out.Answer, want)
		}
	}
	// Only auditors replay.
	if code, _ := status(t, h, "GET", reader, fmt.Sprintf("/v1/audit/views/%d/replay", seqs[0]), nil); code != http.StatusForbidden {
		t.Fatalf("a practitioner replaying: %d", code)
	}
}

// TestHistoryOfAnUnmergedChildIsItsOwn: a child a steward merged and then
// unmerged stands again, shielded; its former survivor, whose carried
// shield an officer lifts, shows its own timeline — the merge and the
// unmerge — without the restored child's own events.
func TestHistoryOfAnUnmergedChildIsItsOwn(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	x := kid{agency: "health", system: "pas", id: "RX-HIST-51", given: "Perdita", family: "Glasswell", dob: "2011-05-05", gender: "female",
		nhs: "9960308243", postcode: "LS16 5PA", address: "7 Alder Rise"}
	y := kid{agency: "social-care", system: "mosaic", id: "SC-HIST-52", given: "Tobias", family: "Marchbank", dob: "2010-10-10", gender: "male",
		nhs: "6281948211", postcode: "LS17 6QB", address: "9 Birch Hollow"}
	send(t, h, x, y)
	xID, yID := childOf(t, h, x.agency, x.system, x.id), childOf(t, h, y.agency, y.system, y.id)
	survID, absID := xID, yID
	if yID < xID {
		survID, absID = yID, xID
	}
	shieldChild(t, h, absID)
	// A steward's correction on the child to be absorbed, behind its shield.
	if code, body := call(t, h, "POST", "/v1/children/"+absID+"/corrections", map[string]any{"field": "address",
		"value": map[string]any{"lines": []string{"3 Quillon Yard"}, "postcode": "LS18 4RT"}, "reason": "confirmed by phone"}); code != 201 {
		t.Fatalf("correction: %d %s", code, body)
	}
	waitProjected(t, h)
	mergeThenUnmerge(t, h, survID, absID, "two children")
	if code, body := status(t, h, "POST", officerToken(t, h), "/v1/children/"+survID+"/shield/lift", []byte(`{"reason":"the risk was the other child's"}`)); code != http.StatusOK {
		t.Fatalf("lift: %d %s", code, body)
	}
	waitProjected(t, h)
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	code, body := viewAs(t, h, steward, "/v1/children/"+survID+"/history")
	if code != 200 || strings.Contains(string(body), "Quillon") || !strings.Contains(string(body), "child.unmerged") && !strings.Contains(string(body), "sources.moved-out") {
		t.Fatalf("the former survivor's timeline: %d %s", code, body)
	}
	if _, b := viewAs(t, h, steward, "/v1/children/"+absID+"/history"); strings.Contains(string(b), "Quillon") {
		t.Fatalf("the restored child's own timeline shows its hidden correction: %s", b)
	}
}
