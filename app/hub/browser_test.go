package hub_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"contactpoint/adapters/web/webtest"
	"contactpoint/domain/access"
	"contactpoint/domain/ident"
)

// TestBrowserJourneys: every role signs in to the pages in a real browser
// (Chromium), lands on its own page with a navigation of what its roles
// allow, does its main work and sees the result. Every page visited passes
// axe-core at WCAG 2.2 AA and is saved as a screenshot. The pages use the
// JSON API, so what they show is what the access policy lets through: the
// shielded child's pages are checked for its hidden values.
func TestBrowserJourneys(t *testing.T) {
	b := webtest.New(t)
	h := startHub(t, newConfig(t))
	defer h.Close()
	base := "http://" + h.Addr()

	// Olivia, the same child as the school knows her after a move (a review
	// task), her twin Amelia (shielded later), and a record refused for a
	// forbidden field (the quarantine).
	moved := olivia
	moved.agency, moved.system, moved.id, moved.nhs, moved.upn = "education", "sims", "E1", "", "T821200714001"
	moved.postcode, moved.address, moved.carer, moved.phone = "LS4 2RR", "3 Stanmore Place", "", ""
	twin := olivia
	twin.id, twin.given, twin.nhs = "H2", "Amelia", "4010232137"
	send(t, h, olivia, twin)
	send(t, h, moved)
	oliviaID, twinID := childOf(t, h, "health", "pas", "H1"), childOf(t, h, "health", "pas", "H2")
	bad := strings.Replace(string(example(t, "health")), `"child":{`, `"child":{"notes":"seen in clinic",`, 1)
	if code, _ := post(t, h, "health", "application/json", []byte(bad)); code != http.StatusUnprocessableEntity {
		t.Fatalf("the record with notes was not quarantined: %d", code)
	}

	signIn := func(t *testing.T, username string, roles ...string) *webtest.Page {
		c := enrol(t, h, username, roles...)
		p := b.Page(t)
		p.SignIn(base, c.Username, c.Password, code(t, c.TOTPSecret))
		return p
	}
	landsOn := func(t *testing.T, p *webtest.Page, title string, nav ...string) {
		t.Helper()
		if got := p.Text("#view h1"); got != title {
			t.Fatalf("landed on %q, want %q", got, title)
		}
		if got := p.Nav(); !slices.Equal(got, nav) {
			t.Fatalf("navigation %v, want %v", got, nav)
		}
	}

	t.Run("practitioner", func(t *testing.T) {
		p := signIn(t, "web.practitioner", access.RolePractitioner)
		landsOn(t, p, "Find a child", "Find a child")
		p.Checked("practitioner-search")

		// Too little to go on: the API's refusal is shown, then cleared by
		// the next search that succeeds.
		p.Fill("#search-form", "family", "Hughes")
		p.Press("#search-form", "Search")
		p.Wait("the refusal", `document.getElementById("message").textContent !== ""`)
		shapes := []map[string]string{
			{"family": "Hughes", "birth_date": "2015-03-14"},
			{"family": "Hughes", "age_from": "10", "age_to": "12"},
			{"family": "Hughes", "postcode": "LS6 2AB"},
			{"nhs_number": "9434765919"},
			{"upn": "T821200714001"},
		}
		for _, s := range shapes {
			p.JS(`document.getElementById("search-form").reset(); "ok"`)
			for k, v := range s {
				p.Fill("#search-form", k, v)
			}
			p.Press("#search-form", "Search")
			p.Wait("results for "+strings.Join(slices.Collect(mapKeys(s)), "+"), `document.querySelectorAll("#results li a").length > 0`)
			if msg := p.Text("#message"); msg != "" {
				t.Fatalf("the error stayed after a search that succeeded: %q", msg)
			}
		}
		p.JS(`document.getElementById("search-form").reset(); "ok"`)
		p.Fill("#search-form", "nhs_number", "9434765919")
		p.Press("#search-form", "Search")
		p.WaitText("#results", "Olivia")
		p.Checked("practitioner-results")

		// The record has its own address: reload and back work.
		p.Press("#results", "Olivia Hughes")
		p.WaitText("#view", "Whom to contact")
		if !strings.Contains(p.JS(`location.hash`), oliviaID) {
			t.Fatalf("the record's URL does not name the child: %s", p.JS(`location.hash`))
		}
		txt := p.Text("#view")
		for _, want := range []string{"14 March 2015", "from the hospital's record, updated ", "the agency that keeps this fact is preferred", "Sarah Hughes (mother)"} {
			if !strings.Contains(txt, want) {
				t.Errorf("record page lacks %q: %s", want, txt)
			}
		}
		p.Checked("practitioner-record")
		p.Reload()
		p.WaitText("#view", "Whom to contact")
		p.Back()
		p.WaitText("#results", "Olivia")

		p.Press("#results", "Olivia Hughes")
		p.WaitText("#view", "Indicate my involvement")
		p.Fill("#view", "service", "School nursing")
		p.Fill("#view", "phone", "0113 496 0000")
		p.Press("#view", "Indicate my involvement")
		p.WaitText("#view", "Your involvement is recorded.")

		// Fits a 375 px phone without sideways scrolling.
		p.Viewport(375, 800)
		p.Reload()
		p.WaitText("#view", "Whom to contact")
		if w := p.JS(`String(document.documentElement.scrollWidth)`); w != "375" {
			t.Errorf("the record page is %s px wide on a 375 px screen", w)
		}
		p.Checked("practitioner-record-mobile")
		p.Back()
		p.WaitText("#results", "Olivia")
		if w := p.JS(`String(document.documentElement.scrollWidth)`); w != "375" {
			t.Errorf("the search page is %s px wide on a 375 px screen", w)
		}
		p.Checked("practitioner-search-mobile")
	})

	t.Run("keyboard", func(t *testing.T) {
		c := enrol(t, h, "web.keyboard", access.RolePractitioner)
		p := b.Page(t)
		p.Go(base + "/")
		p.Wait("the sign-in form", `!document.getElementById("signin").hidden`)
		tabTo := func(what, test string) {
			t.Helper()
			for range 40 {
				if p.JS(`(() => { const e = document.activeElement; return String(!!e && !!(`+test+`)); })()`) == "true" {
					return
				}
				p.Keys("\t")
			}
			t.Fatalf("Tab never reached %s (focus on %s)", what, p.Focused())
		}
		tabTo("the username", `e.name === "username"`)
		p.Keys(c.Username + "\t" + c.Password + "\t" + code(t, c.TOTPSecret) + "\r")
		p.Wait("signed in", `document.querySelector("#search-form")`)
		tabTo("the NHS number", `e.name === "nhs_number"`)
		p.Keys("9434765919\r")
		p.WaitText("#results", "Olivia")
		tabTo("the result", `e.tagName === "A" && e.closest("#results")`)
		p.Keys("\r")
		p.WaitText("#view", "Whom to contact")
		tabTo("the involvement form", `e.name === "service"`)
		p.Keys("Keyboard service")
		tabTo("the phone", `e.name === "phone"`)
		p.Keys("0113 496 0999\r")
		p.WaitText("#view", "Your involvement is recorded.")
	})

	t.Run("data steward", func(t *testing.T) {
		p := signIn(t, "web.steward", access.RoleSteward)
		landsOn(t, p, "Review queue", "Find a child", "Review queue", "Quarantine", "Data quality", "Parked")
		p.Fill("#view form", "order", "score")
		p.Press("#view form", "Filter")
		p.Wait("ordered by score", `location.hash.includes("order=score")`)
		p.WaitText("#view table", "Task ")
		p.WaitText("#s-linkage-rules-in-force", "Version")
		p.Checked("steward-reviews")

		p.JS(`document.querySelector("#view table a").click(); "ok"`)
		p.WaitText("#view", "Side by side")
		p.WaitText("#view table", "birth")
		p.Checked("steward-review-task")
		p.Fill("#view", "reason", "same child, moved house")
		p.Press("#view", "Link (same child)")
		p.WaitText("#view", "Linked: the children are merged into")

		p.Go(base + "/#/manage/" + oliviaID)
		p.WaitText("#view", "Every event of this child")
		p.WaitText("#view", "education/sims/E1")
		p.Check("#s-split-records-off", "sources", "education/sims/E1")
		p.Fill("#s-split-records-off", "reason", "not the same child")
		p.Press("#s-split-records-off", "Preview")
		p.WaitText("#s-split-records-off", "Preview — nothing has been changed")
		p.Checked("steward-timeline-and-tools")
		p.Fill("#s-correct-a-value", "field", "gender")
		p.Fill("#s-correct-a-value", "gender", "female")
		p.Fill("#s-correct-a-value", "reason", "confirmed with the school")
		p.Press("#s-correct-a-value", "Correct")
		p.WaitText("#s-correct-a-value", "Corrected.")
		p.Fill("#s-the-record-as-of-a-date", "date", time.Now().UTC().Format(time.DateOnly))
		p.Press("#s-the-record-as-of-a-date", "Show the record then")
		p.WaitText("#view", "As the directory showed it on")
		p.Checked("steward-record-as-of")

		p.Go(base + "/#/quarantine")
		p.WaitText("#view table", "notes")
		p.Checked("steward-quarantine")
		p.JS(`document.querySelector("#view table a").click(); "ok"`)
		p.WaitText("#view", "Fix and resubmit")
		p.JS(`(() => { const t = document.querySelector("#view textarea"); const r = JSON.parse(t.value); delete r.child.notes; t.value = JSON.stringify(r); return "ok"; })()`)
		p.Checked("steward-quarantine-entry")
		p.Press("#view", "Resubmit")
		p.WaitText("#view", "Resubmitted")

		p.Go(base + "/#/parked")
		p.WaitText("#view", "Messages that could not be applied")
		p.Checked("steward-parked")

		// Data quality: figures per agency system, charts drawn as SVG by
		// the hub and loaded as images under the pages' policy.
		p.Go(base + "/#/quality")
		p.WaitText("#view", "Freshness")
		p.WaitText("#view", "royal-infirmary-pas")
		p.WaitText("#view", "forbidden-field")
		// Arrivals, not the directory: the record resubmitted from the
		// quarantine above is received (and was quarantined) on its day.
		p.WaitText("#view", "Received in all")
		p.Wait("the resubmitted record received", `[...document.querySelectorAll("#view table tr")].some((r) => { const c = [...r.cells].map((c) => c.textContent); return c[2] === "royal-infirmary-pas" && c[3] === "1" && c[4] === "1"; })`)
		p.Wait("the charts", `[...document.querySelectorAll("#view img")].length === 3 && [...document.querySelectorAll("#view img")].every((i) => i.complete && i.naturalWidth > 0)`)
		p.Checked("steward-quality")
	})

	// A steward's other decisions, each previewed where the API offers a
	// dry run, and each checked on the pages afterwards: not-link on a
	// review task, merge and its undoing, and a split.
	t.Run("data steward decisions", func(t *testing.T) {
		nhs := func(nine string) string {
			d, ok := ident.NHSCheckDigit(nine)
			if !ok {
				t.Fatalf("%s has no NHS check digit", nine)
			}
			return nine + string(d)
		}
		// Jack as the hospital and, after a move, the school know him: a
		// review task (the only open one: the journey above decided
		// Olivia's).
		jack := kid{agency: "health", system: "pas", id: "H30", given: "Jack", family: "Wilson", dob: "2016-09-21", gender: "male",
			nhs: nhs("401023215"), postcode: "LS8 1AA", address: "22 Oak Road"}
		jackSchool := jack
		jackSchool.agency, jackSchool.system, jackSchool.id, jackSchool.nhs = "education", "sims", "E30", ""
		jackSchool.postcode, jackSchool.address = "LS11 5CC", "9 Beeston Road"
		// Ava and Ruby, two children a steward will merge and unmerge.
		ava := kid{agency: "health", system: "pas", id: "H40", given: "Ava", family: "Clarke", dob: "2014-02-11", gender: "female",
			nhs: nhs("401023219"), postcode: "LS7 3BB", address: "5 Chapel Street"}
		ruby := kid{agency: "education", system: "sims", id: "E40", given: "Ruby", family: "Stone", dob: "2013-06-30", gender: "female",
			postcode: "LS9 8DD", address: "40 York Road"}
		// Leo, whom the hospital and the GP practice both know by his NHS
		// number: one child with two source records, one to split off.
		leo := kid{agency: "health", system: "pas", id: "H50", given: "Leo", family: "Grant", dob: "2012-12-01", gender: "male",
			nhs: nhs("401023221"), postcode: "LS2 9JT", address: "1 Park Lane"}
		leoGP := leo
		leoGP.system, leoGP.id = "emis", "G50"
		send(t, h, jack, ava, ruby, leo)
		send(t, h, jackSchool)
		send(t, h, leoGP)
		jackID, jackSchoolID := childOf(t, h, "health", "pas", "H30"), childOf(t, h, "education", "sims", "E30")
		avaID, rubyID := childOf(t, h, "health", "pas", "H40"), childOf(t, h, "education", "sims", "E40")
		leoID := childOf(t, h, "health", "pas", "H50")
		if jackID == jackSchoolID || avaID == rubyID || childOf(t, h, "health", "emis", "G50") != leoID {
			t.Fatalf("set-up: Jack %s/%s, Ava %s, Ruby %s, Leo's GP record not on %s", jackID, jackSchoolID, avaID, rubyID, leoID)
		}
		p := signIn(t, "web.steward2", access.RoleSteward)

		// Not the same child: the task is closed, the two stay apart.
		p.Go(base + "/#/reviews")
		p.WaitText("#view table", "Task ")
		p.JS(`document.querySelector("#view table a").click(); "ok"`)
		p.WaitText("#view", "Side by side")
		p.WaitText("#view", "Wilson")
		p.Fill("#s-decision", "reason", "different children: the school's Jack has another mother")
		p.Press("#s-decision", "Not the same child")
		p.WaitText("#s-decision", "Recorded as different children.")
		p.Checked("steward-not-linked")
		p.Reload()
		p.WaitText("#view", "Side by side")
		p.WaitText("#view dl", "not-linked")
		if p.JS(`String(!!document.getElementById("s-decision"))`) != "false" {
			t.Error("the decided task still offers a decision")
		}
		waitProjected(t, h)
		if a, b := childOf(t, h, "health", "pas", "H30"), childOf(t, h, "education", "sims", "E30"); a == b {
			t.Fatalf("not-link merged the children into %s", a)
		}
		p.Checked("steward-not-linked-task")

		// Merge, previewed first: the preview changes nothing.
		p.Go(base + "/#/manage/" + avaID)
		p.WaitText("#view", "Merge with another child")
		p.Fill("#s-merge-with-another-child", "other", rubyID)
		p.Fill("#s-merge-with-another-child", "reason", "the same child, known to the school by another name")
		p.Press("#s-merge-with-another-child", "Preview")
		p.WaitText("#s-merge-with-another-child", "Preview — nothing has been changed")
		p.Wait("the merged child in the preview", `[...document.querySelectorAll("#s-merge-with-another-child .preview h3")].some((h) => /Clarke|Stone/.test(h.textContent))`)
		p.Checked("steward-merge-preview")
		if childOf(t, h, "education", "sims", "E40") != rubyID {
			t.Fatal("the merge preview changed the directory")
		}
		p.Press("#s-merge-with-another-child", "Merge")
		p.WaitText("#s-merge-with-another-child", "Merged; the survivor is ")
		survivor := strings.TrimSuffix(strings.TrimPrefix(p.Text("#s-merge-with-another-child .result"), "Merged; the survivor is "), ".")
		absorbed := map[string]string{avaID: rubyID, rubyID: avaID}[survivor]
		if absorbed == "" {
			t.Fatalf("the survivor %q is neither child", survivor)
		}
		waitProjected(t, h)
		// The absorbed child's page shows the survivor and says so.
		p.Go(base + "/#/child/" + absorbed)
		p.WaitText("#view", "merged into")
		p.WaitText("#view .notice a", survivor)
		p.Checked("steward-merged-record")
		// The survivor holds both children's records.
		p.Press("#view .notice", survivor)
		p.WaitText("#view", "Timeline and steward's tools")
		if strings.Contains(p.Text("#view"), "merged into") {
			t.Error("the survivor's own page says it was merged")
		}
		p.Go(base + "/#/manage/" + survivor)
		p.WaitText("#s-split-records-off", "education/sims/E40")
		p.WaitText("#s-split-records-off", "health/pas/H40")

		// Unmerge, previewed first: both children exist again.
		p.Go(base + "/#/manage/" + survivor)
		p.WaitText("#view", "Undo a merge")
		p.Fill("#s-undo-a-merge", "absorbed", absorbed)
		p.Fill("#s-undo-a-merge", "reason", "merged in error")
		p.Press("#s-undo-a-merge", "Preview")
		p.WaitText("#s-undo-a-merge", "Preview — nothing has been changed")
		p.Checked("steward-unmerge-preview")
		if childOf(t, h, "education", "sims", "E40") != survivor && childOf(t, h, "health", "pas", "H40") != survivor {
			t.Fatal("the unmerge preview changed the directory")
		}
		p.Press("#s-undo-a-merge", "Unmerge")
		p.WaitText("#s-undo-a-merge", "Restored "+absorbed+".")
		waitProjected(t, h)
		for _, c := range []struct{ id, shows, lacks string }{{avaID, "Ava", "Ruby"}, {rubyID, "Ruby", "Ava"}} {
			p.Go(base + "/#/child/" + c.id)
			p.WaitText("#view", c.shows)
			if txt := p.Text("#view"); strings.Contains(txt, c.lacks) || strings.Contains(txt, "merged into") {
				t.Errorf("after the unmerge %s's page shows %q or a merge: %s", c.shows, c.lacks, txt)
			}
		}
		p.Checked("steward-unmerged-record")
		if childOf(t, h, "health", "pas", "H40") != avaID || childOf(t, h, "education", "sims", "E40") != rubyID {
			t.Fatal("the unmerge did not give each record back its own child")
		}

		// Split, previewed first: the GP's record becomes a child of its own.
		p.Go(base + "/#/manage/" + leoID)
		p.WaitText("#s-split-records-off", "health/emis/G50")
		p.Check("#s-split-records-off", "sources", "health/emis/G50")
		p.Fill("#s-split-records-off", "reason", "the GP's Leo is another child with a mistyped NHS number")
		p.Press("#s-split-records-off", "Preview")
		p.WaitText("#s-split-records-off", "Preview — nothing has been changed")
		p.Checked("steward-split-preview")
		if childOf(t, h, "health", "emis", "G50") != leoID {
			t.Fatal("the split preview changed the directory")
		}
		p.Press("#s-split-records-off", "Split")
		p.WaitText("#s-split-records-off", "Split; records moved to ")
		moved := strings.TrimSuffix(strings.TrimPrefix(p.Text("#s-split-records-off .result"), "Split; records moved to "), ".")
		waitProjected(t, h)
		if got := childOf(t, h, "health", "emis", "G50"); got != moved || got == leoID {
			t.Fatalf("the GP's record is on %s; the page said %s (Leo is %s)", got, moved, leoID)
		}
		p.Go(base + "/#/child/" + moved)
		p.WaitText("#view", "Leo")
		p.Go(base + "/#/manage/" + leoID)
		p.WaitText("#view", "sources.moved-out")
		p.Checked("steward-split-done")
	})

	t.Run("shield officer", func(t *testing.T) {
		p := signIn(t, "web.shield", access.RoleShield)
		landsOn(t, p, "Shields", "Find a child", "Shields")
		p.WaitText("#view", "due by")
		p.Fill("#view", "child", twinID)
		p.Fill("#view", "requested_by", "social worker 4471")
		p.Fill("#view", "review_date", "2027-06-30")
		p.Fill("#view", "contact", "Leeds shield team, 0113 000 0000")
		p.Press("#view", "Apply shield")
		p.WaitText("#view", "Shield applied")
		p.Checked("shield-officer-shields")
		// Lifting is the same page's other form; the child is shielded
		// again at once for the ordinary practitioner's check below.
		p.Fill("#s-lift-a-shield", "child", twinID)
		p.Fill("#s-lift-a-shield", "reason", "applied to the wrong twin, reapplied")
		p.Press("#s-lift-a-shield", "Lift shield")
		p.WaitText("#s-lift-a-shield", "Shield lifted")
		p.JS(`document.querySelector("#s-apply-a-shield .result").textContent = ""; "ok"`)
		p.Press("#s-apply-a-shield", "Apply shield")
		p.Wait("the shield applied again", `document.querySelector("#s-apply-a-shield .result").textContent.includes("Shield applied") || document.getElementById("message").textContent`)
		if msg := p.Text("#message"); msg != "" {
			t.Fatalf("applying the shield again: %s", msg)
		}
	})

	t.Run("shielded child as a practitioner", func(t *testing.T) {
		waitProjected(t, h)
		p := signIn(t, "web.ordinary", access.RolePractitioner)
		p.Go(base + "/#/search?family=Hughes&birth_date=2015-03-14")
		p.WaitText("#results", "Amelia")
		if !strings.Contains(p.JS(`[...document.querySelectorAll("#results li")].find((li) => li.textContent.includes("Amelia")).textContent`), "Shielded") {
			t.Fatal("the shielded child is not marked shielded in the results")
		}
		p.Checked("practitioner-results-shielded")
		p.Go(base + "/#/child/" + twinID)
		p.WaitText("#view", "Contact: Leeds shield team")
		page := p.Text("main")
		for _, hidden := range []string{"Elm Grove", "LS6", "Sarah", "07700", "hospital", "pas", "mother"} {
			if strings.Contains(page, hidden) {
				t.Errorf("the shielded child's page shows %q: %s", hidden, page)
			}
		}
		p.Checked("practitioner-record-shielded")
		p.Go(base + "/#/search?family=Hughes&postcode=LS6%202AB")
		p.Wait("the postcode search", `document.querySelector("#results li") || document.getElementById("message").textContent`)
		if strings.Contains(p.Text("main"), "Amelia") {
			t.Error("a postcode search found the shielded child")
		}
	})

	t.Run("child protection", func(t *testing.T) {
		p := signIn(t, "web.protection", access.RoleChildProtection)
		landsOn(t, p, "Find a child", "Find a child")
		p.Go(base + "/#/child/" + twinID)
		p.WaitText("#view", "Break-glass reveal")
		if strings.Contains(p.Text("main"), "Elm Grove") {
			t.Fatal("the shielded record was shown before the reveal")
		}
		p.Fill("#s-break-glass-reveal", "reason", "child at risk tonight, police request 4471")
		p.Check("#s-break-glass-reveal", "acknowledge_warning", "yes")
		p.Press("#s-break-glass-reveal", "Reveal the record")
		p.WaitText("#s-break-glass-reveal", "Elm Grove")
		p.Checked("child-protection-reveal")
		p.Press("#s-break-glass-reveal", "Leave the record")
		p.WaitText("#s-break-glass-reveal", "You have left the record.")
	})

	t.Run("auditor", func(t *testing.T) {
		waitAudited(t, h)
		p := signIn(t, "web.auditor", access.RoleAuditor)
		landsOn(t, p, "Audit", "Audit")
		p.WaitText("#view", "Misuse signals")
		p.Fill("#view section", "child", oliviaID)
		p.Press("#view section", "Show")
		p.WaitText("#view", "Download as CSV")
		if got := p.JS(`fetch(document.querySelector("a[download]").href).then((r) => r.headers.get("Content-Type"))`); !strings.HasPrefix(got, "text/csv") {
			t.Errorf("the CSV download answered %q", got)
		}
		p.Checked("auditor-child")
		p.Press("#view", "Replay")
		p.WaitText("#view", "Shown: ")
		p.Checked("auditor-replay")
		prac, err := h.Registry.ByUsername(t.Context(), "web.practitioner")
		if err != nil {
			t.Fatal(err)
		}
		p.Fill("#s-what-this-practitioner-viewed", "practitioner", prac.ID)
		p.Press("#s-what-this-practitioner-viewed", "Show")
		p.WaitText("#s-what-this-practitioner-viewed", "search")
		p.Checked("auditor-practitioner")
	})

	t.Run("administrator", func(t *testing.T) {
		p := signIn(t, "web.admin", access.RoleAdmin)
		landsOn(t, p, "Register", "Data quality", "Register", "Agency keys", "Parked")
		p.WaitText("#view table", "web.steward")
		p.Fill("#view section", "username", "new.starter")
		p.Fill("#view section", "name", "New Starter")
		p.Fill("#view section", "organisation", "Leeds City Council")
		p.Fill("#view section", "job_role", "School nurse")
		p.Check("#view section", "roles", "practitioner")
		p.Fill("#view section", "check_type", "enhanced-dbs")
		p.Fill("#view section", "vetted", "2026-01-10")
		p.Fill("#view section", "vetting_expires", "2029-01-10")
		p.Fill("#view section", "trained", "2026-01-12")
		p.Fill("#view section", "training_expires", "2026-12-20")
		p.Press("#view section", "Add")
		p.WaitText("#view", "Authenticator secret")
		p.Checked("administrator-register")
		p.Reload()
		p.WaitText("#view table", "expires soon")
		p.Press("#view table", "New Starter")
		p.WaitText("#view", "Status")
		p.Press("#view", "Suspend")
		p.WaitText("#view", "Status is now suspended")
		p.Press("#view", "Reinstate")
		p.WaitText("#view", "Status is now active")
		p.Checked("administrator-practitioner")

		p.Go(base + "/#/keys")
		p.WaitText("#view", "Issue a key")
		p.Fill("#view section", "system", "browser-test")
		p.Press("#view section", "Issue")
		p.WaitText("#view", "cpk_")
		p.Reload()
		p.WaitText("#view table", "browser-test")
		p.Checked("administrator-keys")
		p.JS(`document.querySelector("#view table button").click(); "ok"`)
		p.Wait("the key revoked", `![...document.querySelectorAll("#view table button")].length || document.querySelector("#view table").textContent.includes("UTC")`)

		p.Go(base + "/#/parked")
		p.WaitText("#view", "Notices that could not be delivered")
		p.WaitText("#s-how-far-each-consumer-is-behind", "directory")
		p.Checked("administrator-parked")
	})
	t.Logf("screenshots in %s", b.Shots)
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
