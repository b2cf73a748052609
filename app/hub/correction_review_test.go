package hub_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"contactpoint/domain/access"
)

// conflictTask is a correction-conflict task as GET /v1/reviews lists it.
type conflictTask struct {
	ID         int64  `json:"id"`
	ChildID    string `json:"child_id"`
	Why        string `json:"why"`
	Shielded   bool   `json:"shielded"`
	Contact    string `json:"contact"`
	Correction *struct {
		Field     string          `json:"field"`
		Corrected json.RawMessage `json:"corrected"`
		Stated    json.RawMessage `json:"stated"`
		Source    struct{ Agency, System, RecordID string }
		StatedAt  time.Time `json:"stated_at"`
	} `json:"correction"`
}

// TestCorrectionConflictReview: a source that contradicts a steward's
// correction puts a task in the review queue, listed under its reason with
// both values, the source and when; keeping the correction closes it and
// the correction shows again, accepting the source withdraws the
// correction; the timeline shows the decisions. A shielded child's task
// shows a steward without the shield role only what other tasks about a
// shielded child show: no corrected or stated address, no source.
func TestCorrectionConflictReview(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	shieldSteward := tokenFor(t, h, "shield-steward", access.RoleSteward, access.RoleShield)
	officer := tokenFor(t, h, "officer", access.RoleShield)
	zara := kid{agency: "health", system: "pas", id: "H7", given: "Zara", family: "Okafor", dob: "2014-07-01", gender: "female",
		nhs: "4010232137", postcode: "LS7 3QQ", address: "5 Hidden Lane"}
	sendRecords(t, h, "health", stamped(olivia, "2026-01-05T09:00:00Z"), stamped(zara, "2026-01-05T09:00:00Z"))
	a, z := childOf(t, h, "health", "pas", "H1"), childOf(t, h, "health", "pas", "H7")
	must := func(token, method, path string, body any, want int) string {
		t.Helper()
		b, _ := json.Marshal(body)
		if body == nil {
			b = nil
		}
		code, got := status(t, h, method, token, path, b)
		if code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, code, got, want)
		}
		return got
	}
	must(officer, "POST", "/v1/children/"+z+"/shield", map[string]any{"requested_by": "parent", "requested_by_kind": "parent-carer",
		"reason_category": "domestic-abuse", "review_date": time.Now().AddDate(0, 3, 0).Format(time.DateOnly), "contact": "Shielding team, 0113 496 0999"}, 201)
	must(steward, "POST", "/v1/children/"+a+"/corrections", map[string]any{"field": "birth_date", "value": "2015-03-15", "reason": "birth certificate seen"}, 201)
	must(shieldSteward, "POST", "/v1/children/"+z+"/corrections", map[string]any{"field": "address",
		"value": map[string]any{"lines": []string{"8 Safe House Road"}, "postcode": "LS8 1ZZ"}, "reason": "the refuge's address"}, 201)
	waitProjected(t, h)
	queue := func(token, query string) ([]conflictTask, string, string) {
		t.Helper()
		body := must(token, "GET", "/v1/reviews?"+query, nil, 200)
		var page struct {
			Tasks []conflictTask `json:"tasks"`
			Next  string         `json:"next"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		return page.Tasks, page.Next, body
	}
	if tasks, _, _ := queue(steward, "reason=correction-conflict"); len(tasks) != 0 {
		t.Fatalf("tasks before any source contradicts: %+v", tasks)
	}

	// The sources state differing values after the corrections.
	later, moved := olivia, zara
	later.dob = "2015-03-16"
	moved.address, moved.postcode = "12 New Street", "LS12 4AB"
	sendRecords(t, h, "health", stamped(later, "2026-05-05T09:00:00Z"), stamped(moved, "2026-05-05T09:00:00Z"))

	byChild := func(tasks []conflictTask) map[string]conflictTask {
		out := map[string]conflictTask{}
		for _, x := range tasks {
			out[x.ChildID] = x
		}
		return out
	}
	tests := []struct {
		name, token, query string
	}{
		{"by reason, oldest first", shieldSteward, "reason=correction-conflict"},
		{"by reason, by score", shieldSteward, "reason=correction-conflict&order=score"},
		{"every reason", shieldSteward, ""},
	}
	for _, tt := range tests {
		tasks, _, _ := queue(tt.token, tt.query)
		got := byChild(tasks)
		ta, tz := got[a], got[z]
		if len(tasks) != 2 || ta.Correction == nil || tz.Correction == nil {
			t.Fatalf("%s: %+v", tt.name, tasks)
		}
		if ta.Why != "correction conflict" || ta.Correction.Field != "birth_date" || string(ta.Correction.Corrected) != `"2015-03-15"` ||
			string(ta.Correction.Stated) != `"2015-03-16"` || ta.Correction.Source.System != "pas" || ta.Correction.StatedAt.IsZero() {
			t.Fatalf("%s: Olivia's task %+v", tt.name, ta.Correction)
		}
		if !strings.Contains(string(tz.Correction.Stated), "12 New Street") || !strings.Contains(string(tz.Correction.Corrected), "8 Safe House Road") {
			t.Fatalf("%s: a shield officer's steward does not see Zara's values: %+v", tt.name, tz.Correction)
		}
	}
	// Paged one at a time, both are reached.
	first, next, _ := queue(shieldSteward, "reason=correction-conflict&order=score&limit=1")
	second, last, _ := queue(shieldSteward, "reason=correction-conflict&order=score&limit=1&after="+next)
	if len(first) != 1 || len(second) != 1 || next == "" || last != "" || first[0].ID == second[0].ID {
		t.Fatalf("pages %+v %+v (next %q, then %q)", first, second, next, last)
	}
	// A steward without the shield role: Zara's task is shielded, with
	// whom to contact and nothing of her addresses or source.
	tasks, _, raw := queue(steward, "reason=correction-conflict")
	tz := byChild(tasks)[z]
	if !tz.Shielded || tz.Correction != nil || tz.Contact == "" || byChild(tasks)[a].Correction == nil {
		t.Fatalf("shielded task as a steward sees it: %+v", tasks)
	}
	for _, hidden := range []string{"New Street", "LS12", "Safe House", "LS8", "Hidden Lane"} {
		if strings.Contains(raw, hidden) {
			t.Fatalf("the queue shows %q of a shielded child to a steward: %s", hidden, raw)
		}
	}
	one := must(steward, "GET", "/v1/reviews/"+itoa(tz.ID), nil, 200)
	if strings.Contains(one, "New Street") || strings.Contains(one, "Safe House") || !strings.Contains(one, `"shielded":true`) {
		t.Fatalf("one shielded task: %s", one)
	}

	ta := byChild(tasks)[a]
	decide := func(token string, id int64, decision string, want int) string {
		t.Helper()
		return must(token, "POST", "/v1/reviews/"+itoa(id)+"/decision", map[string]string{"decision": decision, "reason": "checked with the family"}, want)
	}
	decide(steward, ta.ID, "link", http.StatusBadRequest)
	// Keep Zara's correction, as a steward without the shield role: the
	// answer shows what the timeline would, the task closes and the
	// corrected address shows again.
	body := decide(steward, tz.ID, "keep-correction", http.StatusOK)
	if strings.Contains(body, "New Street") || strings.Contains(body, "LS12") || !strings.Contains(body, "steward.correction-confirmed") {
		t.Fatalf("the decision's answer shows a shielded address: %s", body)
	}
	waitProjected(t, h)
	view := must(shieldSteward, "GET", "/v1/children/"+z, nil, 200)
	if !strings.Contains(view, "8 Safe House Road") || strings.Contains(view, "correction_conflicts") {
		t.Fatalf("after keeping the correction: %s", view)
	}
	decide(steward, tz.ID, "keep-correction", http.StatusNotFound)
	// Accept Olivia's source: the correction is withdrawn, the source's
	// date shows.
	decide(steward, ta.ID, "accept-source", http.StatusOK)
	waitProjected(t, h)
	if view := must(steward, "GET", "/v1/children/"+a, nil, 200); !strings.Contains(view, `"2015-03-16"`) || strings.Contains(view, "steward-correction") {
		t.Fatalf("after accepting the source: %s", view)
	}
	if tasks, _, _ := queue(steward, "reason=correction-conflict"); len(tasks) != 0 {
		t.Fatalf("tasks after both decisions: %+v", tasks)
	}
	if hist := must(steward, "GET", "/v1/children/"+a+"/history", nil, 200); !strings.Contains(hist, "steward.correction-withdrawn") {
		t.Fatalf("Olivia's timeline: %s", hist)
	}
	hist := must(steward, "GET", "/v1/children/"+z+"/history", nil, 200)
	if !strings.Contains(hist, "steward.correction-confirmed") || strings.Contains(hist, "Safe House") || strings.Contains(hist, "New Street") {
		t.Fatalf("Zara's timeline as a steward sees it: %s", hist)
	}
	if hist := must(shieldSteward, "GET", "/v1/children/"+z+"/history", nil, 200); !strings.Contains(hist, "12 New Street") {
		t.Fatalf("Zara's timeline as a shield officer's steward sees it lacks the kept value: %s", hist)
	}
	// The same address again keeps it closed; yet another reopens it.
	restated := moved
	restated.given = "Zarah"
	sendRecords(t, h, "health", stamped(restated, "2026-06-01T09:00:00Z"))
	if tasks, _, _ := queue(steward, "reason=correction-conflict"); len(tasks) != 0 {
		t.Fatalf("the kept address restated: %+v", tasks)
	}
	again := moved
	again.address = "14 Other Road"
	sendRecords(t, h, "health", stamped(again, "2026-06-05T09:00:00Z"))
	if tasks, _, _ := queue(shieldSteward, "reason=correction-conflict"); len(tasks) != 1 || tasks[0].ChildID != z || !strings.Contains(string(tasks[0].Correction.Stated), "14 Other Road") {
		t.Fatalf("after yet another address: %+v", tasks)
	}
}
