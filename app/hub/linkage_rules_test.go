package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"

	"contactpoint/adapters/natsjs"
	"contactpoint/domain/match"
)

// TestShadowRescoreChangesNothingUntilApplied: a shadow run under new rules
// reports the merges and splits they would make and writes nothing; applied,
// the changes land as ordinary merge and split events whose reason names
// the rules version.
func TestShadowRescoreChangesNothingUntilApplied(t *testing.T) {
	ctx := context.Background()
	h := startHub(t, newConfig(t))
	defer h.Close()
	school := olivia // linked by score under the defaults: a nickname, the same household
	school.agency, school.system, school.id, school.nhs, school.given = "education", "sims", "E1", "", "Livvy"
	moved := olivia // a possible match under the defaults: moved, nothing else shared
	moved.agency, moved.system, moved.id, moved.nhs = "education", "sims", "E2", ""
	moved.postcode, moved.address, moved.carer, moved.phone = "LS4 2RR", "3 Stanmore Place", "", ""
	send(t, h, olivia)
	send(t, h, school, moved)
	a := childOf(t, h, "health", "pas", "H1")
	if childOf(t, h, "education", "sims", "E1") != a || childOf(t, h, "education", "sims", "E2") == a {
		t.Fatal("the defaults did not link as the test expects")
	}

	// Version 2: a nickname is no evidence at all, and lower thresholds.
	rules := match.DefaultRules()
	rules.Version = 2
	rules.Thresholds = match.Thresholds{Upper: 20, Lower: 10}
	rules.Weights.M[match.FieldGiven][match.Close] = 1e-12
	b, _ := json.Marshal(rules)
	if rules, _ = match.ParseRules(b); rules.Version != 2 {
		t.Fatal("rules did not parse")
	}

	before, err := natsjs.LastSeq(ctx, h.NATS.JS, natsjs.StreamChildren)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := h.Linker.Rescore(rules)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Merges() != 1 || rep.Splits() != 1 {
		t.Fatalf("shadow run: %d merges, %d splits, want 1 and 1: %+v", rep.Merges(), rep.Splits(), rep.Changes)
	}
	after, _ := natsjs.LastSeq(ctx, h.NATS.JS, natsjs.StreamChildren)
	if after != before || childOf(t, h, "education", "sims", "E1") != a || childOf(t, h, "education", "sims", "E2") == a {
		t.Fatal("a shadow run changed the children")
	}

	n, err := h.Linker.ApplyRescore(ctx, rep)
	if err != nil || n != 2 {
		t.Fatalf("applied %d: %v", n, err)
	}
	waitProjected(t, h)
	if childOf(t, h, "education", "sims", "E2") != a {
		t.Error("the merge did not land")
	}
	if childOf(t, h, "education", "sims", "E1") == a {
		t.Error("the split did not land")
	}
	var kinds []string
	rows, err := h.DB.Query(ctx, `select kind from linkage_decisions where reason = 'rules version 2' order by kind`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, k)
	}
	rows.Close()
	if fmt.Sprint(kinds) != "[absorbed merged-into moved-out not-linked not-linked]" {
		t.Errorf("decisions with the rules' reason: %v", kinds)
	}
}

// TestReviewsPagePastFiveHundred: every open task is reached through the
// API, a page at a time, with why and the side-by-side fields, and the
// linkage rules in force are shown to stewards.
func TestReviewsPagePastFiveHundred(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	givens := []string{"Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Freya", "Evie", "Rosie", "Ella", "Daisy", "Poppy", "Ruby", "Willow", "Phoebe", "Sienna", "Harper", "Alice", "Florence", "Matilda", "Hannah", "Emma", "Jasmine", "Elsie"}
	families := []string{"Hughes", "Patel", "Khan", "Wood", "Walsh", "Reid", "Lloyd", "Booth", "Nash", "Frost", "Pryce", "Quinn", "Dale", "Marsh", "Webb", "Hale", "Stone", "Lamb", "Hart", "Shaw", "Kemp"}
	const pairs = 510
	var first, second []kid
	for i := range pairs {
		k := olivia
		k.id, k.nhs = fmt.Sprint("H", i), ""
		k.given, k.family = givens[i%len(givens)], families[i/len(givens)]
		k.dob = fmt.Sprintf("20%02d-%02d-%02d", 10+i%8, 1+i%12, 1+i%28)
		k.postcode, k.address, k.carer = fmt.Sprintf("LS%d %dAB", 1+i%20, i%10), fmt.Sprint(i+1, " Elm Grove"), ""
		m := k
		m.agency, m.system, m.id = "education", "sims", fmt.Sprint("E", i)
		m.postcode, m.address, m.phone = "M1 1AE", "3 Church Lane", ""
		first, second = append(first, k), append(second, m)
	}
	send(t, h, first...)
	send(t, h, second...)

	seen := map[int64]bool{}
	pages := 0
	for after := ""; ; pages++ {
		path := "/v1/reviews?limit=500"
		if after != "" {
			path += "&after=" + url.QueryEscape(after)
		}
		code, body := call(t, h, "GET", path, nil)
		if code != 200 {
			t.Fatalf("page %d: %d %s", pages, code, body)
		}
		var page struct {
			Count int
			Next  string
			Tasks []struct {
				ID     int64
				Why    string
				Fields []struct{ Field, Level, Child, Candidate string }
			}
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, task := range page.Tasks {
			if seen[task.ID] {
				t.Fatalf("task %d on two pages", task.ID)
			}
			seen[task.ID] = true
			if task.Why == "" || len(task.Fields) == 0 || task.Fields[0].Child == "" || task.Fields[0].Candidate == "" {
				t.Fatalf("task %d does not say why or show the values: %+v", task.ID, task)
			}
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	counts, err := h.Store.ReviewCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != counts["open"] || len(seen) < pairs || pages != 1 {
		t.Fatalf("%d tasks over %d pages, want every one of the %d open over 2", len(seen), pages+1, counts["open"])
	}
	code, body := call(t, h, "GET", "/v1/reviews?reason=household-conflict&order=score&limit=10", nil)
	if code != 200 {
		t.Fatalf("filtered: %d %s", code, body)
	}

	code, body = call(t, h, "GET", "/v1/linkage/rules", nil)
	var rules struct {
		Version int
		Fields  []struct {
			Name   string
			Levels []struct{ Weight float64 }
		}
	}
	if code != 200 || json.Unmarshal(body, &rules) != nil || rules.Version != 0 || rules.Fields[0].Name != "given name" || rules.Fields[0].Levels[len(rules.Fields[0].Levels)-1].Weight != 6.43 {
		t.Fatalf("linkage rules: %d %s", code, body)
	}
}

// TestRematchOnUpdate: when a source updates a record that went to a new
// child, or whose child awaits a review, the linker weighs it against the
// candidates again, and links it when the update shows it is a child the
// hub already holds.
func TestRematchOnUpdate(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	// Each case is its own family in its own home.
	homes := map[string]kid{
		"Marsh": {dob: "2014-05-06", postcode: "LS8 1AA", address: "9 Oak Road", phone: "07700 900301"},
		"Webb":  {dob: "2012-09-10", postcode: "LS9 2BB", address: "21 Ash Lane", phone: "07700 900302"},
	}
	base := func(family, nhs string) kid {
		k := olivia
		home := homes[family]
		k.family, k.nhs, k.id = family, nhs, "H-"+family
		k.dob, k.postcode, k.address, k.phone = home.dob, home.postcode, home.address, home.phone
		return k
	}
	tests := []struct {
		name          string
		first, update kid
		wantReview    bool // the first version is a review, not a plain new child
	}{
		{"a new child whose record is corrected", func() kid {
			k := base("Marsh", "")
			k.agency, k.system, k.id, k.dob = "education", "sims", "E-marsh", "2015-08-23"
			k.postcode, k.address, k.carer, k.phone = "M1 1AE", "3 Church Lane", "", ""
			return k
		}(), func() kid {
			k := base("Marsh", "")
			k.agency, k.system, k.id = "education", "sims", "E-marsh"
			return k
		}(), false},
		{"a child awaiting review whose record gains the carer's phone", func() kid {
			k := base("Webb", "")
			k.agency, k.system, k.id = "education", "sims", "E-webb"
			k.postcode, k.address, k.carer, k.phone = "M1 1AE", "3 Church Lane", "", ""
			return k
		}(), func() kid {
			k := base("Webb", "")
			k.agency, k.system, k.id = "education", "sims", "E-webb"
			k.postcode, k.address = "M1 1AE", "3 Church Lane"
			return k
		}(), true},
	}
	for _, tt := range tests {
		known := base(tt.first.family, "")
		known.nhs = map[string]string{"Marsh": "9434765919", "Webb": "4010232137"}[tt.first.family]
		send(t, h, known)
		send(t, h, tt.first)
		a := childOf(t, h, known.agency, known.system, known.id)
		if childOf(t, h, tt.first.agency, tt.first.system, tt.first.id) == a {
			t.Fatalf("%s: the first version already linked", tt.name)
		}
		var open int
		if err := h.DB.QueryRow(context.Background(), `select count(*) from review_tasks where status = 'open' and (child_id::text = $1 or candidate_id::text = $1)`, a).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if (open > 0) != tt.wantReview {
			t.Fatalf("%s: %d open reviews after the first version", tt.name, open)
		}
		send(t, h, tt.update)
		if got := childOf(t, h, tt.update.agency, tt.update.system, tt.update.id); got != a {
			t.Errorf("%s: the updated record is on %s, not the child it matches (%s)", tt.name, got, a)
		}
	}
}

// TestTwinsRecordMovesToItsOwnChild: a twin's first record, with no
// identifier and a name a letter from its twin's, is linked to the twin;
// when a record of it with its own NHS number arrives, the stray record
// moves to the new child, as a split the linker makes.
func TestTwinsRecordMovesToItsOwnChild(t *testing.T) {
	h := startHub(t, newConfig(t))
	defer h.Close()
	mollie := olivia
	mollie.given = "Mollie"
	millieSchool := mollie
	millieSchool.agency, millieSchool.system, millieSchool.id, millieSchool.nhs, millieSchool.given = "education", "sims", "E1", "", "Millie"
	millie := mollie
	millie.id, millie.nhs, millie.given = "H2", "4010232137", "Millie"
	send(t, h, mollie)
	send(t, h, millieSchool)
	a := childOf(t, h, "health", "pas", "H1")
	if childOf(t, h, "education", "sims", "E1") != a {
		t.Skip("the school's record was not linked to the twin; nothing to move")
	}
	send(t, h, millie)
	b := childOf(t, h, "health", "pas", "H2")
	if b == a {
		t.Fatal("twins with different NHS numbers were linked")
	}
	if got := childOf(t, h, "education", "sims", "E1"); got != b {
		t.Fatalf("the school's record of Millie stayed on %s, want her own child %s", got, b)
	}
	var reason string
	if err := h.DB.QueryRow(context.Background(), `select reason from linkage_decisions where kind = 'moved-out'`).Scan(&reason); err != nil || reason == "" {
		t.Fatalf("no split recorded: %q %v", reason, err)
	}
}
