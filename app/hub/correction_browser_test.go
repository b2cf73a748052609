package hub_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"contactpoint/adapters/web/webtest"
	"contactpoint/domain/access"
)

// TestBrowserCorrectionConflict: a data steward finds a correction conflict
// in the review queue pages, opens it, sees the field, both values and the
// source, and keeps the correction; a shielded child's conflict task shows
// a steward without the shield role no address. Each page passes axe-core.
func TestBrowserCorrectionConflict(t *testing.T) {
	b := webtest.New(t)
	h := startHub(t, newConfig(t))
	defer h.Close()
	base := "http://" + h.Addr()
	officer := tokenFor(t, h, "officer", access.RoleShield)
	zara := kid{agency: "health", system: "pas", id: "H7", given: "Zara", family: "Okafor", dob: "2014-07-01", gender: "female",
		nhs: "4010232137", postcode: "LS7 3QQ", address: "5 Hidden Lane"}
	sendRecords(t, h, "health", stamped(olivia, "2026-01-05T09:00:00Z"), stamped(zara, "2026-01-05T09:00:00Z"))
	a, z := childOf(t, h, "health", "pas", "H1"), childOf(t, h, "health", "pas", "H7")
	shield, _ := json.Marshal(map[string]any{"requested_by": "parent", "requested_by_kind": "parent-carer", "reason_category": "domestic-abuse",
		"review_date": time.Now().AddDate(0, 3, 0).Format(time.DateOnly), "contact": "Shielding team, 0113 496 0999"})
	if code, body := status(t, h, "POST", officer, "/v1/children/"+z+"/shield", shield); code != 201 {
		t.Fatalf("shield: %d %s", code, body)
	}
	for id, c := range map[string]map[string]any{
		a: {"field": "birth_date", "value": "2015-03-15", "reason": "birth certificate seen"},
		z: {"field": "address", "value": map[string]any{"lines": []string{"8 Safe House Road"}, "postcode": "LS8 1ZZ"}, "reason": "the refuge"},
	} {
		if code, body := call(t, h, "POST", "/v1/children/"+id+"/corrections", c); code != 201 {
			t.Fatalf("correct: %d %s", code, body)
		}
	}
	waitProjected(t, h)
	later, moved := olivia, zara
	later.dob = "2015-03-16"
	moved.address, moved.postcode = "12 New Street", "LS12 4AB"
	sendRecords(t, h, "health", stamped(later, "2026-05-05T09:00:00Z"), stamped(moved, "2026-05-05T09:00:00Z"))
	var page struct {
		Tasks []conflictTask `json:"tasks"`
	}
	if code, body := call(t, h, "GET", "/v1/reviews?reason=correction-conflict", nil); code != 200 || json.Unmarshal(body, &page) != nil || len(page.Tasks) != 2 {
		t.Fatalf("queue: %d %s", code, body)
	}
	tasks := byChildID(page.Tasks)

	c := enrol(t, h, "web.conflict.steward", access.RoleSteward)
	p := b.Page(t)
	p.SignIn(base, c.Username, c.Password, code(t, c.TOTPSecret))
	p.Go(base + "/#/reviews?reason=correction-conflict")
	p.WaitText("#view", "birth_date: corrected 2015-03-15; the source states 2015-03-16")
	p.Axe("correction-conflict-queue")
	if txt := p.Text("main"); strings.Contains(txt, "New Street") || strings.Contains(txt, "Safe House") {
		t.Fatalf("the queue page shows a shielded address: %s", txt)
	}
	p.Go(base + "/#/review/" + itoa(tasks[z].ID))
	p.WaitText("#view", "Shielded: contact Shielding team")
	if txt := p.Text("main"); strings.Contains(txt, "New Street") || strings.Contains(txt, "Safe House") || strings.Contains(txt, "LS12") {
		t.Fatalf("the shielded task page shows an address: %s", txt)
	}
	p.Go(base + "/#/review/" + itoa(tasks[a].ID))
	p.WaitText("#view", "The source's value")
	for _, want := range []string{"birth_date", "2015-03-15", "2015-03-16", "pas"} {
		if !strings.Contains(p.Text("#view"), want) {
			t.Fatalf("the task page lacks %q: %s", want, p.Text("#view"))
		}
	}
	p.Axe("correction-conflict-task")
	p.Fill("#s-decision", "reason", "the certificate is right")
	p.Press("#s-decision", "Keep the correction")
	p.WaitText("#s-decision", "Kept: the correction shows again.")
	p.Shot("correction-conflict-kept")
	waitProjected(t, h)
	if code, body := call(t, h, "GET", "/v1/reviews?reason=correction-conflict", nil); code != 200 || json.Unmarshal(body, &page) != nil || len(page.Tasks) != 1 || page.Tasks[0].ChildID != z {
		t.Fatalf("queue after keeping: %d %s", code, body)
	}
}

func byChildID(tasks []conflictTask) map[string]conflictTask {
	out := map[string]conflictTask{}
	for _, x := range tasks {
		out[x.ChildID] = x
	}
	return out
}
