package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"contactpoint/app/hub"
	"contactpoint/domain/access"
)

// The shield belongs to the child: each door through which two children
// become one, or one becomes two, or a record arrives, is tried here with
// the shield on the child that loses its identity, and the result is read
// as an ordinary practitioner.

// movedOlivia is olivia as the school holds her after a move it heard of
// first, with a UPN and no NHS number: a possible match of olivia, so a
// review task pairs them.
func movedOlivia() kid {
	moved := olivia
	moved.agency, moved.system, moved.id, moved.nhs, moved.upn = "education", "sims", "E1", "", "T821200714001"
	moved.postcode, moved.address, moved.carer, moved.phone = "LS4 2RR", "3 Stanmore Place", "", ""
	return moved
}

// decideOnlyTask decides the one open review task.
func decideOnlyTask(t *testing.T, h *hub.Hub, decision string) {
	t.Helper()
	_, body := call(t, h, "GET", "/v1/reviews", nil)
	var list struct {
		Tasks []struct {
			ID int64 `json:"id"`
		} `json:"tasks"`
	}
	if json.Unmarshal(body, &list) != nil || len(list.Tasks) != 1 {
		t.Fatalf("want one task: %s", body)
	}
	if code, b := call(t, h, "POST", fmt.Sprintf("/v1/reviews/%d/decision", list.Tasks[0].ID), map[string]string{"decision": decision, "reason": "checked"}); code != 200 {
		t.Fatalf("decision: %d %s", code, b)
	}
}

func officerToken(t *testing.T, h *hub.Hub) string {
	return tokenFor(t, h, "officer", access.RoleShield)
}

// shieldChild applies a shield through id and returns the child it landed on.
func shieldChild(t *testing.T, h *hub.Hub, id string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"requested_by": "a social worker", "requested_by_kind": "practitioner",
		"reason_category": "domestic-abuse", "review_date": time.Now().AddDate(0, 3, 0).Format(time.DateOnly), "contact": "Shielding team 0113 000 0999"})
	code, resp := status(t, h, "POST", officerToken(t, h), "/v1/children/"+id+"/shield", body)
	if code != http.StatusCreated {
		t.Fatalf("shield %s: %d %s", id, code, resp)
	}
	var out struct {
		ChildID string `json:"child_id"`
	}
	_ = json.Unmarshal([]byte(resp), &out)
	waitProjected(t, h)
	return out.ChildID
}

// ordinaryView is the record as a practitioner without the shield role
// reads it.
func ordinaryView(t *testing.T, h *hub.Hub, id string) (shielded bool, body string) {
	t.Helper()
	code, b := status(t, h, "GET", readerToken(t, h), "/v1/children/"+id, nil)
	if code != http.StatusOK {
		t.Fatalf("read %s: %d %s", id, code, b)
	}
	var v struct {
		Notice *struct{ Shielded bool } `json:"notice"`
	}
	_ = json.Unmarshal([]byte(b), &v)
	return v.Notice != nil && v.Notice.Shielded, b
}

func mustBeShielded(t *testing.T, h *hub.Hub, id string, hidden ...string) {
	t.Helper()
	shielded, body := ordinaryView(t, h, id)
	if !shielded {
		t.Fatalf("child %s is not shielded: %s", id, body)
	}
	for _, s := range hidden {
		if strings.Contains(body, s) {
			t.Fatalf("child %s shows %q behind its shield: %s", id, s, body)
		}
	}
}

func TestShieldSurvivesEveryMergeDoor(t *testing.T) {
	// moved is olivia after a move, with a UPN and no NHS number: a
	// possible match of olivia, so a review task pairs them.
	moved := movedOlivia()
	twice := moved // the hospital's duplicate registration of her
	twice.agency, twice.system, twice.id, twice.upn = "health", "pas", "H9", ""
	doors := []struct {
		name   string
		second kid
		merge  func(t *testing.T, h *hub.Hub, a, e string)
	}{
		{"steward merge", moved, func(t *testing.T, h *hub.Hub, a, e string) {
			if code, b := call(t, h, "POST", "/v1/children/"+a+"/merge", map[string]string{"other": e, "reason": "same child"}); code != 200 {
				t.Fatalf("merge: %d %s", code, b)
			}
		}},
		{"review task linked", moved, func(t *testing.T, h *hub.Hub, a, e string) { decideOnlyTask(t, h, "link") }},
		{"identifiers in one record name both", moved, func(t *testing.T, h *hub.Hub, a, e string) {
			// The council knows her NHS number and her UPN, and her new address.
			council := moved
			council.agency, council.system, council.id, council.nhs = "social-care", "lcs", "S1", olivia.nhs
			send(t, h, council)
		}},
		{"the source merged its records (A40)", twice, func(t *testing.T, h *hub.Hub, a, e string) {
			// The hospital had registered her twice (H9, after the move) and
			// merges the second record into the first.
			m := olivia.json()
			m["operation"], m["merge"] = "merge", map[string]any{"absorbed_record_id": "H9"}
			if code, b := post(t, h, "health", "application/json", mustMarshal(t, m)); code != http.StatusAccepted {
				t.Fatalf("merge record: %d %v", code, b)
			}
		}},
	}
	for _, d := range doors {
		t.Run(d.name, func(t *testing.T) {
			h := startHub(t, newConfig(t))
			defer h.Close()
			send(t, h, olivia)
			send(t, h, d.second)
			sec := d.second
			a, e := childOf(t, h, "health", "pas", "H1"), childOf(t, h, sec.agency, sec.system, sec.id)
			if a == e {
				t.Fatal("the possible match was linked automatically")
			}
			// The shield is on the younger child, which a merge absorbs.
			if got := shieldChild(t, h, e); got != e {
				t.Fatalf("shield landed on %s, not %s", got, e)
			}
			d.merge(t, h, a, e)
			waitProjected(t, h)
			surv := childOf(t, h, "health", "pas", "H1")
			if childOf(t, h, sec.agency, sec.system, sec.id) != surv {
				t.Fatal("the door did not merge the two children")
			}
			mustBeShielded(t, h, surv, "Stanmore", "LS4 2RR", "Elm Grove", "LS6 2AB", "Sarah", `"sims"`, `"pas"`)
			mustBeShielded(t, h, e, "Stanmore")
			// The shield's history came with it, as an event.
			var carried string
			if err := h.DB.QueryRow(context.Background(), `select coalesce(convert_from(state, 'UTF8')::jsonb->'shield'->>'carried_from', '') from directory where child_id = $1`, surv).Scan(&carried); err != nil || carried != e {
				t.Fatalf("survivor's shield carried from %q, want %s (%v)", carried, e, err)
			}
			// And it survives a rebuild from the log.
			if err := h.Dir.Rebuild(context.Background()); err != nil {
				t.Fatal(err)
			}
			mustBeShielded(t, h, surv, "Stanmore", "LS6 2AB")
		})
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSplitShieldsBothHalves(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	school := olivia
	school.agency, school.system, school.id, school.nhs, school.upn = "education", "sims", "E1", "", "T821200714001"
	send(t, h, olivia, school)
	a := childOf(t, h, "health", "pas", "H1")
	if childOf(t, h, "education", "sims", "E1") != a {
		t.Fatal("setup: the school record did not link")
	}
	shieldChild(t, h, a)
	code, body := call(t, h, "POST", "/v1/children/"+a+"/split", map[string]any{
		"sources": []map[string]string{{"agency": "education", "system": "sims", "record_id": "E1"}}, "reason": "two children"})
	if code != 200 {
		t.Fatalf("split: %d %s", code, body)
	}
	waitProjected(t, h)
	b := childOf(t, h, "education", "sims", "E1")
	if b == a {
		t.Fatal("split did not move the record")
	}
	mustBeShielded(t, h, a, "Elm Grove", "Sarah")
	mustBeShielded(t, h, b, "Elm Grove", "Sarah", "sims")
}

func TestShieldThroughAnAbsorbedID(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	moved := movedOlivia()
	send(t, h, olivia)
	send(t, h, moved)
	a, e := childOf(t, h, "health", "pas", "H1"), childOf(t, h, "education", "sims", "E1")
	if code, b := call(t, h, "POST", "/v1/children/"+a+"/merge", map[string]string{"other": e, "reason": "same"}); code != 200 {
		t.Fatalf("merge: %d %s", code, b)
	}
	waitProjected(t, h)
	if got := shieldChild(t, h, e); got != a {
		t.Fatalf("a shield through the absorbed id landed on %s, not the survivor %s", got, a)
	}
	mustBeShielded(t, h, a, "Stanmore", "Elm Grove")
	// So does an involvement, and a lift.
	in, _ := json.Marshal(map[string]string{"service": "Health visiting", "phone": "0113 496 0500"})
	if code, b := status(t, h, "POST", readerToken(t, h), "/v1/children/"+e+"/involvement", in); code != http.StatusCreated || !strings.Contains(b, a) {
		t.Fatalf("involvement through the absorbed id: %d %s", code, b)
	}
	lift, _ := json.Marshal(map[string]string{"reason": "risk has passed"})
	if code, b := status(t, h, "POST", officerToken(t, h), "/v1/children/"+e+"/shield/lift", lift); code != http.StatusOK || !strings.Contains(b, a) {
		t.Fatalf("lift through the absorbed id: %d %s", code, b)
	}
	waitProjected(t, h)
	if shielded, _ := ordinaryView(t, h, a); shielded {
		t.Fatal("lift through the absorbed id did not lift the survivor's shield")
	}
}

func TestPossibleDuplicateOfAShieldedChild(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	send(t, h, olivia)
	a := childOf(t, h, "health", "pas", "H1")
	shieldChild(t, h, a)
	// A new record that may be her arrives from the school: until a steward
	// decides, it is shown as shielded, and a search on its postcode finds
	// nothing.
	moved := movedOlivia()
	send(t, h, moved)
	e := childOf(t, h, "education", "sims", "E1")
	if e == a {
		t.Fatal("setup: the possible match was linked")
	}
	mustBeShielded(t, h, e, "Stanmore", "LS4 2RR", "sims")
	res := search(t, h, map[string][]string{"family": {"Hughes"}, "postcode": {"LS4 2RR"}})
	if res.Count != 0 {
		t.Fatalf("a postcode search found the possible duplicate of a shielded child: %+v", res)
	}
	// The steward without the shield role sees the task withheld.
	_, body := call(t, h, "GET", "/v1/reviews", nil)
	if !strings.Contains(string(body), `"shielded":true`) || strings.Contains(string(body), "sims") || strings.Contains(string(body), "evidence") {
		t.Fatalf("review task of a shielded child not withheld: %s", body)
	}
	var list struct {
		Tasks []struct {
			ID int64 `json:"id"`
		} `json:"tasks"`
	}
	_ = json.Unmarshal(body, &list)
	if code, b := call(t, h, "POST", fmt.Sprintf("/v1/reviews/%d/decision", list.Tasks[0].ID), map[string]string{"decision": "not-link", "reason": "another child"}); code != 200 {
		t.Fatalf("decision: %d %s", code, b)
	}
	waitProjected(t, h)
	if shielded, b := ordinaryView(t, h, e); shielded || !strings.Contains(b, "Stanmore") {
		t.Fatalf("decided not the same child, yet still shielded: %s", b)
	}
	mustBeShielded(t, h, a, "Elm Grove")
}

func TestNewSourcesStayBehindTheShield(t *testing.T) {
	h := startHub(t, feedsConfig(t))
	defer h.Close()
	ctfFile, err := os.ReadFile(filepath.Join("..", "..", "adapters", "ctf", "testdata", "sample.xml"))
	if err != nil {
		t.Fatal(err)
	}
	school := systemKey(t, h, "education", "elm-grove-mis")
	if code, rep := upload(t, h, school, "education", "ctf", bytes.NewReader(ctfFile)); code != 200 {
		t.Fatalf("ctf: %d %v", code, rep)
	}
	waitProjected(t, h)
	res := search(t, h, map[string][]string{"family": {"Nowak"}, "birth_date": {"2018-09-30"}})
	if res.Count != 1 {
		t.Fatalf("pupil not found: %+v", res)
	}
	id := res.Results[0].Child.ID
	shieldChild(t, h, id)
	// The school's next file gives her new address.
	moved := bytes.Replace(ctfFile, []byte("<Gender>F</Gender>\n      <Ethnicity>"),
		[]byte("<Gender>F</Gender>\n      <Address><AddressLines><AddressLine1>7 Refuge Walk</AddressLine1></AddressLines><PostCode>LS2 9JT</PostCode></Address>\n      <Ethnicity>"), 1)
	if bytes.Equal(moved, ctfFile) {
		t.Fatal("setup: could not add the address")
	}
	if code, rep := upload(t, h, school, "education", "ctf", bytes.NewReader(moved)); code != 200 {
		t.Fatalf("ctf: %d %v", code, rep)
	}
	waitProjected(t, h)
	mustBeShielded(t, h, id, "Refuge", "LS2 9JT", "elm-grove")
	if res := search(t, h, map[string][]string{"family": {"Nowak"}, "postcode": {"LS2 9JT"}}); res.Count != 0 {
		t.Fatalf("found by the new postcode: %+v", res)
	}
}

// A message on a child's own stream that no reader can apply (put there by
// a bug or by someone with access to the stream) does not stop the
// commands on that child: readers skip it, and the directory parks it.
func TestCommandsOnAChildWithAPoisonMessage(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	moved := movedOlivia()
	send(t, h, olivia)
	send(t, h, moved)
	a, e := childOf(t, h, "health", "pas", "H1"), childOf(t, h, "education", "sims", "E1")
	for _, bad := range []string{`{"child_id":"` + e + `","events":[{"type":"source.stated"}]}`, `not json`, `{}`} {
		if _, err := h.NATS.JS.Publish(context.Background(), "children."+e, []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	waitProjected(t, h)
	if got := shieldChild(t, h, e); got != e {
		t.Fatalf("shield landed on %s", got)
	}
	if code, b := call(t, h, "POST", "/v1/children/"+a+"/merge", map[string]string{"other": e, "reason": "same child"}); code != 200 {
		t.Fatalf("merge of a child with a poison message: %d %s", code, b)
	}
	waitProjected(t, h)
	mustBeShielded(t, h, a, "Stanmore", "Elm Grove")
}

// TestAnUnmergeBringsNoRevealBack: a child-protection practitioner reveals
// a shielded child's record; a steward merges the child into another and
// the practitioner leaves it (the end lands on the survivor); the steward
// undoes the merge. The restored child is behind its shield again: the
// reveal opened a record that the merge ended.
func TestAnUnmergeBringsNoRevealBack(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	x := kid{agency: "health", system: "pas", id: "RX-REV-61", given: "Leocadia", family: "Fernsby", dob: "2014-01-20", gender: "female",
		nhs: "9935181901", postcode: "LS10 2DD", address: "4 Cobnut Lane", carer: "Gwendolen", phone: "07700 900661"}
	y := kid{agency: "social-care", system: "mosaic", id: "SC-REV-62", given: "Ambrose", family: "Kettlewell", dob: "2013-07-07", gender: "male",
		nhs: "9378657974", postcode: "LS11 3EE", address: "8 Damson Row"}
	send(t, h, x, y)
	xID, yID := childOf(t, h, x.agency, x.system, x.id), childOf(t, h, y.agency, y.system, y.id)
	survID, absID, abs := xID, yID, y
	if yID < xID {
		survID, absID, abs = yID, xID, x
	}
	shieldChild(t, h, absID)
	cp := tokenFor(t, h, "protection", access.RoleChildProtection)
	body, _ := json.Marshal(map[string]any{"reason": "section 47 enquiry tonight", "acknowledge_warning": true})
	if code, resp := status(t, h, "POST", cp, "/v1/children/"+absID+"/reveal", body); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("reveal: %d %s", code, resp)
	}
	waitProjected(t, h)
	if code, resp := status(t, h, "GET", cp, "/v1/children/"+absID, nil); code != 200 || !strings.Contains(resp, abs.address) {
		t.Fatalf("the revealed record: %d %s", code, resp)
	}
	if code, resp := call(t, h, "POST", "/v1/children/"+survID+"/merge", map[string]string{"other": absID, "reason": "looked the same"}); code != 200 {
		t.Fatalf("merge: %d %s", code, resp)
	}
	waitProjected(t, h)
	if code, resp := status(t, h, "DELETE", cp, "/v1/children/"+absID+"/reveal", nil); code >= 500 {
		t.Fatalf("end reveal: %d %s", code, resp)
	}
	if code, resp := call(t, h, "POST", "/v1/children/"+survID+"/unmerge", map[string]string{"absorbed": absID, "reason": "two children"}); code != 200 {
		t.Fatalf("unmerge: %d %s", code, resp)
	}
	waitProjected(t, h)
	for _, where := range []string{"after the unmerge", "after a rebuild"} {
		if code, resp := status(t, h, "GET", cp, "/v1/children/"+absID, nil); code != 200 || strings.Contains(resp, abs.address) || strings.Contains(resp, abs.postcode) {
			t.Fatalf("%s the reveal came back: %d %s", where, code, resp)
		}
		if err := h.Dir.Rebuild(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAnUnmergeGivesBackOnlyWhatTheSurvivorHeld: a record of the absorbed
// child that left the survivor while the merge stood (a steward split it
// off to another child) is not the restored child's: its earlier
// statement on her own subject must not bring it back to her record, where
// the child it went to may be shielded.
func TestAnUnmergeGivesBackOnlyWhatTheSurvivorHeld(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	a := kid{agency: "health", system: "pas", id: "RX-UNM-71", given: "Evander", family: "Thornbury", dob: "2012-05-05", gender: "male",
		nhs: "9434765935", postcode: "LS19 6FF", address: "3 Alder Carr", carer: "Wilfreda", phone: "07700 900771"}
	b1 := kid{agency: "education", system: "sims", id: "E-UNM-72", given: "Clemency", family: "Arkwright", dob: "2013-09-09", gender: "female",
		nhs: "9434765943", postcode: "LS20 7GG", address: "6 Tamarisk Way", carer: "Hepzibah", phone: "07700 900772"}
	b2 := b1
	b2.agency, b2.system, b2.id, b2.address, b2.carer, b2.phone = "social-care", "mosaic", "SC-UNM-73", "11 Juniper Bank", "Perpetua", "07700 900773"
	send(t, h, a)
	send(t, h, b1)
	send(t, h, b2)
	aID, bID := childOf(t, h, a.agency, a.system, a.id), childOf(t, h, b1.agency, b1.system, b1.id)
	allOn(t, h, bID, b2)
	if bID < aID {
		// Ids are time-ordered: the first child registered survives a merge.
		t.Fatalf("the later child %s has the older id than %s", bID, aID)
	}
	if code, resp := call(t, h, "POST", "/v1/children/"+aID+"/merge", map[string]string{"other": bID, "reason": "looked the same"}); code != 200 {
		t.Fatalf("merge: %d %s", code, resp)
	}
	waitProjected(t, h)
	shieldChild(t, h, aID)
	cID := splitOff(t, h, aID, "another girl", b1)
	if code, resp := call(t, h, "POST", "/v1/children/"+aID+"/unmerge", map[string]string{"absorbed": bID, "reason": "two children"}); code != 200 {
		t.Fatalf("unmerge: %d %s", code, resp)
	}
	waitProjected(t, h)
	// The restored child carried the survivor's shield; the officer lifts
	// hers, not the split record's child's.
	officer := tokenFor(t, h, "officer", access.RoleShield)
	lift, _ := json.Marshal(map[string]any{"reason": "review: risk has passed"})
	if code, resp := status(t, h, "POST", officer, "/v1/children/"+bID+"/shield/lift", lift); code != 200 {
		t.Fatalf("lift: %d %s", code, resp)
	}
	waitProjected(t, h)
	steward := tokenFor(t, h, "steward", access.RoleSteward)
	for _, where := range []string{"after the unmerge", "after a rebuild"} {
		code, resp := viewAs(t, h, steward, "/v1/children/"+bID)
		if code != 200 || !strings.Contains(string(resp), b2.carer) || strings.Contains(string(resp), b1.carer) || strings.Contains(string(resp), b1.id) {
			t.Errorf("%s, the restored child: %d %s", where, code, resp)
		}
		if got := childOf(t, h, b1.agency, b1.system, b1.id); got != cID {
			t.Errorf("%s, the split record is on %s, want %s", where, got, cID)
		}
		mustBeShielded(t, h, cID, b1.address, b1.carer)
		if err := h.Dir.Rebuild(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
