package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"contactpoint/app/hub"
	"contactpoint/domain/access"
)

// kid builds a canonical record for the linkage tests.
type kid struct {
	agency, system, id          string
	given, family, dob, gender  string
	nhs, upn, postcode, address string
	carer, phone                string
}

func (k kid) json() map[string]any {
	c := map[string]any{
		"name":       map[string]any{"given": k.given, "family": k.family},
		"birth_date": k.dob,
		"gender":     k.gender,
		"address":    map[string]any{"lines": []string{k.address}, "postcode": k.postcode},
	}
	ids := map[string]any{}
	if k.nhs != "" {
		ids["nhs_number"] = k.nhs
	}
	if k.upn != "" {
		ids["upn"] = k.upn
	}
	if len(ids) > 0 {
		c["identifiers"] = ids
	}
	if k.carer != "" {
		c["contacts"] = []any{map[string]any{"relationship": "mother", "name": map[string]any{"given": k.carer, "family": k.family}, "phone": k.phone}}
	}
	return map[string]any{
		"schema": "contactpoint.feed-record.v1", "operation": "upsert", "child": c,
		"source": map[string]any{"agency": k.agency, "system": k.system, "record_id": k.id},
	}
}

func send(t *testing.T, h *hub.Hub, ks ...kid) {
	t.Helper()
	by := map[string][]map[string]any{}
	for _, k := range ks {
		by[k.agency] = append(by[k.agency], k.json())
	}
	for agency, recs := range by {
		if code, body := post(t, h, agency, "application/x-ndjson", ndjson(recs)); code != http.StatusAccepted {
			t.Fatalf("%s: %d %v", agency, code, body)
		}
	}
	waitProjected(t, h)
}

func childOf(t *testing.T, h *hub.Hub, agency, system, id string) string {
	t.Helper()
	var c string
	if err := h.DB.QueryRow(context.Background(), `select child_id::text from directory_sources where agency=$1 and system=$2 and record_id=$3`,
		agency, system, id).Scan(&c); err != nil {
		t.Fatalf("no link for %s/%s/%s: %v", agency, system, id, err)
	}
	return c
}

func call(t *testing.T, h *hub.Hub, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+h.Addr()+path, rd)
	req.Header.Set("Content-Type", "application/json")
	stewardAuth(t, h, req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

var olivia = kid{agency: "health", system: "pas", id: "H1", given: "Olivia", family: "Hughes", dob: "2015-03-14", gender: "female",
	nhs: "9434765919", postcode: "LS6 2AB", address: "14 Elm Grove", carer: "Sarah", phone: "07700 900123"}

func TestProbabilisticLinkAndTwins(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	school := olivia
	school.agency, school.system, school.id, school.nhs, school.upn = "education", "sims", "E1", "", "T821200714001"
	school.given = "Livvy" // a nickname the school uses
	school.phone = "+44 7700 900123"
	twin := olivia
	twin.id, twin.given, twin.nhs = "H2", "Amelia", "4010232137"
	send(t, h, olivia, twin)
	send(t, h, school)

	a, b, e := childOf(t, h, "health", "pas", "H1"), childOf(t, h, "health", "pas", "H2"), childOf(t, h, "education", "sims", "E1")
	if a == b {
		t.Fatal("twins were linked into one child")
	}
	if e != a {
		t.Fatalf("the school's record of Olivia (nickname, no NHS number) was not linked to her: %s vs %s", e, a)
	}
	var rule string
	if err := h.DB.QueryRow(context.Background(), `select s->'child'->'name'->>'given' from directory, jsonb_array_elements(convert_from(state, 'UTF8')::jsonb->'sources') s
		where child_id = $1 and s->'source'->>'agency' = 'education'`, a).Scan(&rule); err != nil || rule != "Livvy" {
		t.Fatalf("education source not held on the child: %q %v", rule, err)
	}
}

func TestReviewMergeAndSplit(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	// The same child after a house move the school has not heard of, and
	// with no identifier in common: a possible match, not a certain one.
	moved := olivia
	moved.agency, moved.system, moved.id, moved.nhs, moved.upn = "education", "sims", "E1", "", "T821200714001"
	moved.postcode, moved.address, moved.carer, moved.phone = "LS4 2RR", "3 Stanmore Place", "", ""
	send(t, h, olivia)
	send(t, h, moved)
	a, e := childOf(t, h, "health", "pas", "H1"), childOf(t, h, "education", "sims", "E1")
	if a == e {
		t.Fatal("an uncertain match was linked automatically")
	}
	code, body := call(t, h, "GET", "/v1/reviews", nil)
	var list struct {
		Count int `json:"count"`
		Tasks []struct {
			ID          int64           `json:"id"`
			ChildID     string          `json:"child_id"`
			CandidateID string          `json:"candidate_id"`
			Evidence    json.RawMessage `json:"evidence"`
		} `json:"tasks"`
	}
	if code != 200 || json.Unmarshal(body, &list) != nil || list.Count != 1 {
		t.Fatalf("want one review task: %d %s", code, body)
	}
	task := list.Tasks[0]
	if task.ChildID != e || task.CandidateID != a || !strings.Contains(string(task.Evidence), "birth") {
		t.Fatalf("task does not name the pair with evidence: %+v", task)
	}

	// The steward links them: a merge. The absorbed id leads to the survivor.
	code, body = call(t, h, "POST", fmt.Sprintf("/v1/reviews/%d/decision", task.ID), map[string]string{"decision": "link", "reason": "same child, moved house"})
	if code != 200 {
		t.Fatalf("decision: %d %s", code, body)
	}
	waitProjected(t, h)
	if got := childOf(t, h, "education", "sims", "E1"); got != a {
		t.Fatalf("after the merge the school record is on %s, want the survivor %s", got, a)
	}
	code, body = call(t, h, "GET", "/v1/children/"+e, nil)
	if code != 200 || !strings.Contains(string(body), `"id":"`+a+`"`) || !strings.Contains(string(body), "education") {
		t.Fatalf("absorbed id does not lead to the survivor: %d %s", code, body)
	}
	if n, _, _ := h.Store.Count(context.Background()); n != 1 {
		t.Fatalf("want one active child after the merge, got %d", n)
	}
	if code, body = call(t, h, "GET", "/v1/reviews", nil); code != 200 || !strings.Contains(string(body), `"count":0`) {
		t.Fatalf("decided task still open: %s", body)
	}

	// The steward splits the school record off again.
	code, body = call(t, h, "POST", "/v1/children/"+a+"/split", map[string]any{
		"sources": []map[string]string{{"agency": "education", "system": "sims", "record_id": "E1"}}, "reason": "different child after all"})
	if code != 200 {
		t.Fatalf("split: %d %s", code, body)
	}
	waitProjected(t, h)
	split := childOf(t, h, "education", "sims", "E1")
	if split == a || split == e {
		t.Fatalf("split record on %s", split)
	}
	// An update from the school stays with the split child: the pair is
	// remembered as different children.
	moved.given = "Olivia-Grace"
	send(t, h, moved)
	if got := childOf(t, h, "education", "sims", "E1"); got != split {
		t.Fatalf("update went to %s, want %s", got, split)
	}
	if n, _, _ := h.Store.Count(context.Background()); n != 2 {
		t.Fatalf("want two active children after the split, got %d", n)
	}
	// History is kept and the projection rebuilt from it agrees.
	before := dump(t, h)
	if err := h.Dir.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := dump(t, h); after != before {
		t.Fatal("rebuilt directory differs after merge and split")
	}
	// Each steward decision is on the audit trail, by whom and about which children.
	if err := h.WaitAudited(context.Background()); err != nil {
		t.Fatal(err)
	}
	var audited int
	if err := h.DB.QueryRow(context.Background(), `select count(*) from audit_events where action = 'steward-decision'
		and reason in ('link', 'split') and $1 = any(children)`, a).Scan(&audited); err != nil || audited != 2 {
		t.Fatalf("want the link and the split on the audit trail, got %d (%v)", audited, err)
	}
	var decisions int
	if err := h.DB.QueryRow(context.Background(), `select count(*) from linkage_decisions`).Scan(&decisions); err != nil || decisions < 4 {
		t.Fatalf("want the merge and split decisions logged, got %d (%v)", decisions, err)
	}
}

func TestNotLinkIsRemembered(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	moved := olivia
	moved.agency, moved.system, moved.id, moved.nhs = "education", "sims", "E1", ""
	moved.postcode, moved.address, moved.carer, moved.phone = "LS4 2RR", "3 Stanmore Place", "", ""
	send(t, h, olivia)
	send(t, h, moved)
	decideOnlyTask(t, h, "not-link")
	waitProjected(t, h)
	a, e := childOf(t, h, "health", "pas", "H1"), childOf(t, h, "education", "sims", "E1")
	// A merge of the pair is now refused.
	if code, b := call(t, h, "POST", "/v1/children/"+a+"/merge", map[string]string{"other": e, "reason": "try"}); code != http.StatusConflict {
		t.Fatalf("merge of a not-linked pair: %d %s", code, b)
	}
	if code, b := call(t, h, "GET", "/v1/reviews", nil); code != 200 || !strings.Contains(string(b), `"count":0`) {
		t.Fatalf("task still open: %s", b)
	}
}

func TestLinksExport(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	send(t, h, olivia)
	code, body := call(t, h, "GET", "/v1/links/export", nil)
	a := childOf(t, h, "health", "pas", "H1")
	if code != 200 || string(body) != "agency,system,record_id,child_id,withdrawn,shielded\nhealth,pas,H1,"+a+",false,false\n" {
		t.Fatalf("export: %d %q", code, body)
	}
}

// stewardAuth signs a request in as a data steward.
func stewardAuth(t *testing.T, h *hub.Hub, req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+tokenFor(t, h, "steward", access.RoleSteward))
}
