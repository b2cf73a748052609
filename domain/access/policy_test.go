package access

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

var roles = []string{RolePractitioner, RoleShield, RoleSteward, RoleAuditor, RoleAdmin}

func src(agency, system, id string) record.Source {
	t := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	return record.Source{Agency: agency, System: system, RecordID: id, UpdatedAt: &t}
}

// fullChild is a child stated by two sources, one of them a sensitive
// service with consent, so that every field of the view is set.
func fullChild(shielded bool) child.View {
	s := child.NewState("0190b6c0-0000-7000-8000-000000000001")
	consent := []record.Consent{{Scope: record.ConsentSensitive, GivenBy: "young-person", RecordedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}}
	s.Apply(child.Batch{Events: []child.Event{
		{Type: child.TypeStated, Stated: &child.Stated{Source: src("health", "riverside-pas", "P1"), Child: record.Child{
			Identifiers:   &record.Identifiers{NHSNumber: "9434765919", UPN: "A801200001001"},
			Name:          record.Name{Given: "Olivia", Middle: "Rose", Family: "Hughes"},
			PreviousNames: []record.Name{{Given: "Olivia", Family: "Formername"}},
			BirthDate:     "2015-03-14", Gender: "female",
			Address:    &record.Address{Lines: []string{"12 Secret Row"}, Town: "Hiddenville", Postcode: "LS6 2AB"},
			Contacts:   []record.Contact{{Relationship: "mother", Name: record.Name{Given: "Mary", Family: "Carername"}, Phone: "07700900111"}},
			School:     &record.School{URN: "107000", Name: "Quiet Lane Primary", Phone: "01130000001"},
			GPPractice: &record.GPPractice{ODSCode: "B86001", Name: "Hidden Surgery", Phone: "01130000002"},
			Involvements: []record.Involvement{
				{Service: "Early Help", Organisation: "City Council", LeadProfessional: true, Phone: "01130000003",
					Practitioner: &record.Practitioner{Name: "Lead Workername", Phone: "01130000004"}},
			},
			CAF: &record.CAF{Exists: true, CompletedOn: "2023-10-01"},
		}}},
		{Type: child.TypeStated, Stated: &child.Stated{Source: src("health", "youth-drug-service", "D9"), Consents: consent, Child: record.Child{
			Name: record.Name{Given: "Olivia", Family: "Hughes"}, BirthDate: "2015-03-14",
			Involvements: []record.Involvement{{Service: "Young People's Drug Team", Kind: "drug", Organisation: "Substance Trust",
				Practitioner: &record.Practitioner{Name: "Drug Workername", Phone: "01130000009"}}},
		}}},
	}})
	if shielded {
		s.Apply(child.Batch{Events: []child.Event{{Type: child.TypeShieldApplied, Shield: &child.Shield{
			RequestedBy: "practitioner-7", RequestedByKind: "practitioner", AppliedBy: "officer-1",
			ReasonCategory: "domestic-abuse", ReviewDate: "2026-01-01", Contact: "Shielding team 0113 000 0999"}}}})
	}
	return child.Survive(s, nil)
}

// TestShowEveryFieldEveryRole is the view policy as a table: for each field,
// whether each role sees it on an unshielded and a shielded child.
func TestShowEveryFieldEveryRole(t *testing.T) {
	fields := []struct {
		name string
		has  func(v child.View) bool
		// visible to a reader on an unshielded child; on a shielded one to
		// ordinary readers and to the shield role.
		open, shieldedOrdinary, shieldedOfficer bool
	}{
		{"name", func(v child.View) bool { return v.Name != nil && v.Name.Value.Family == "Hughes" }, true, true, true},
		{"middle name", func(v child.View) bool { return v.Name != nil && v.Name.Value.Middle != "" }, true, false, true},
		{"previous names", func(v child.View) bool { return len(v.PreviousNames) > 0 }, true, false, true},
		{"birth date", func(v child.View) bool { return v.BirthDate != nil }, true, true, true},
		{"gender", func(v child.View) bool { return v.Gender != nil }, true, true, true},
		{"nhs number", func(v child.View) bool { return v.NHSNumber != nil }, true, true, true},
		{"upn", func(v child.View) bool { return v.UPN != nil }, true, true, true},
		{"address", func(v child.View) bool { return v.Address != nil }, true, false, true},
		{"contacts", func(v child.View) bool { return len(v.Contacts) > 0 }, true, false, true},
		{"school", func(v child.View) bool { return v.School != nil }, true, false, true},
		{"gp practice", func(v child.View) bool { return v.GPPractice != nil }, true, false, true},
		{"practitioners", func(v child.View) bool { return hasService(v, "Early Help") }, true, false, true},
		{"sensitive summary", func(v child.View) bool { return hasService(v, SensitiveServices) }, true, false, true},
		{"sensitive service named", func(v child.View) bool { return hasService(v, "Young People's Drug Team") }, false, false, false},
		{"caf", func(v child.View) bool { return v.CAF != nil }, true, false, true},
		{"sources", func(v child.View) bool { return len(v.Sources) > 0 }, true, false, true},
		{"source systems", func(v child.View) bool { return strings.Contains(fmt.Sprint(v.Sources), "riverside-pas") }, true, false, true},
		{"sensitive source system", func(v child.View) bool { return strings.Contains(mustJSON(t, v), "youth-drug-service") }, false, false, false},
		{"shield details", func(v child.View) bool { return v.Shield != nil && v.Shield.ReasonCategory != "" }, false, false, true},
		{"shield notice", func(v child.View) bool { return v.Notice != nil && v.Notice.Shielded && v.Notice.Contact != "" }, false, true, true},
	}
	open, shielded := fullChild(false), fullChild(true)
	for _, role := range append(roles, "") {
		viewer := Viewer{ID: "u1", Roles: []string{role}}
		reads := role == RolePractitioner || role == RoleShield || role == RoleSteward
		for _, f := range fields {
			t.Run(fmt.Sprintf("%s/%s", orNone(role), f.name), func(t *testing.T) {
				got, ok := Show(viewer, open)
				if ok != reads {
					t.Fatalf("may read: %v, want %v", ok, reads)
				}
				if !ok {
					return
				}
				if f.has(got) != f.open {
					t.Errorf("unshielded: shown=%v want %v", f.has(got), f.open)
				}
				want := f.shieldedOrdinary
				if role == RoleShield {
					want = f.shieldedOfficer
				}
				got, _ = Show(viewer, shielded)
				if f.has(got) != want {
					t.Errorf("shielded: shown=%v want %v", f.has(got), want)
				}
			})
		}
	}
}

func TestSensitiveRouteIsTheLeadProfessional(t *testing.T) {
	got, _ := Show(Ordinary, fullChild(false))
	for _, f := range got.Involvements {
		if f.Value.Service == SensitiveServices {
			if f.Value.Practitioner == nil || f.Value.Practitioner.Name != "Lead Workername" {
				t.Fatalf("contact route: %+v", f.Value)
			}
			return
		}
	}
	t.Fatal("no sensitive-services entry")
}

func TestShowDoesNotChangeItsInput(t *testing.T) {
	v := fullChild(true)
	before := mustJSON(t, v)
	Show(Ordinary, v)
	Show(Viewer{Roles: []string{RoleShield}}, v)
	if mustJSON(t, v) != before {
		t.Fatal("Show changed the view it was given")
	}
}

func TestNoViewerIsOrdinary(t *testing.T) {
	v := ViewerOrOrdinary(t.Context())
	if !CanRead(v) || SeesShielded(v) {
		t.Fatalf("the default viewer must be an ordinary practitioner: %+v", v)
	}
}

// TestShieldedHidesEverythingHidden: for any record and any ordinary viewer,
// no hidden value of a shielded child appears anywhere in what is shown.
func TestShieldedHidesEverythingHidden(t *testing.T) {
	for seed := uint64(0); seed < 500; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		g := &gen{r: r}
		st := g.state(true)
		v := child.Survive(st, nil)
		viewer := g.ordinaryViewer()
		shown, ok := Show(viewer, v)
		if !ok {
			continue
		}
		out := mustJSON(t, shown)
		for _, h := range g.hidden {
			if strings.Contains(out, h) {
				t.Fatalf("seed %d: hidden value %q shown to %v:\n%s", seed, h, viewer.Roles, out)
			}
		}
		if shown.Notice == nil || !shown.Notice.Shielded {
			t.Fatalf("seed %d: no shield notice", seed)
		}
	}
}

// TestSensitiveNeverNamed: for any record and any viewer, no sensitive
// service's name, kind, organisation, practitioner or source system shows.
func TestSensitiveNeverNamed(t *testing.T) {
	for seed := uint64(0); seed < 500; seed++ {
		r := rand.New(rand.NewPCG(seed, 2))
		g := &gen{r: r}
		st := g.state(r.IntN(2) == 0)
		v := child.Survive(st, nil)
		viewer := Viewer{Roles: []string{roles[r.IntN(len(roles))]}}
		shown, ok := Show(viewer, v)
		if !ok {
			continue
		}
		out := mustJSON(t, shown)
		for _, s := range g.sensitive {
			if strings.Contains(out, s) {
				t.Fatalf("seed %d: sensitive value %q shown to %v:\n%s", seed, s, viewer.Roles, out)
			}
		}
		for k := range record.SensitiveKinds {
			if strings.Contains(out, k) {
				t.Fatalf("seed %d: sensitive kind %q named", seed, k)
			}
		}
		if g.consentedSensitive && st.Shield == nil && !hasService(shown, SensitiveServices) {
			t.Fatalf("seed %d: sensitive services involved but not said", seed)
		}
	}
}

// gen makes random children whose every value is a unique token, noting
// which tokens must stay hidden.
type gen struct {
	r                  *rand.Rand
	n                  int
	hidden             []string // hidden when shielded from ordinary viewers
	sensitive          []string // hidden from everyone
	consentedSensitive bool
}

func (g *gen) tok(kind string) string {
	g.n++
	return fmt.Sprintf("%s%dq%x", kind, g.n, g.r.Uint32())
}
func (g *gen) hide(kind string) string { s := g.tok(kind); g.hidden = append(g.hidden, s); return s }
func (g *gen) sens(kind string) string {
	s := g.tok(kind)
	g.sensitive = append(g.sensitive, s)
	return s
}
func (g *gen) maybe() bool { return g.r.IntN(3) > 0 }

func (g *gen) ordinaryViewer() Viewer {
	var rs []string
	for _, r := range roles {
		if r != RoleShield && g.r.IntN(2) == 0 {
			rs = append(rs, r)
		}
	}
	return Viewer{ID: g.tok("viewer"), Roles: rs}
}

func (g *gen) state(shielded bool) *child.State {
	s := child.NewState(g.tok("id"))
	var evs []child.Event
	for i, n := 0, 1+g.r.IntN(4); i < n; i++ {
		evs = append(evs, g.stated())
	}
	for i, n := 0, g.r.IntN(3); i < n; i++ {
		evs = append(evs, child.Event{Type: child.TypeInvolvementIndicated, At: time.Unix(int64(g.r.IntN(1e9)), 0).UTC(),
			Involvement: &child.InvolvementIndicated{PractitionerID: g.hide("pid"), Name: g.hide("pname"), Role: g.hide("prole"),
				Organisation: g.hide("porg"), Service: g.hide("psvc"), Phone: g.hide("pphone"), Email: g.hide("pemail")}})
	}
	if shielded {
		evs = append(evs, child.Event{Type: child.TypeShieldApplied, Shield: &child.Shield{
			RequestedBy: g.hide("reqby"), RequestedByKind: "parent-carer", AppliedBy: g.hide("appby"),
			ReasonCategory: g.hide("reason"), ReviewDate: "2030-01-01", Contact: g.tok("contact")}})
	}
	s.Apply(child.Batch{Events: evs})
	return s
}

func (g *gen) stated() child.Event {
	sysName := g.hide("sys")
	c := record.Child{
		Name:      record.Name{Given: g.tok("given"), Family: g.tok("family"), Middle: g.hide("middle"), Preferred: g.hide("pref")},
		BirthDate: fmt.Sprintf("201%d-0%d-1%d", g.r.IntN(10), 1+g.r.IntN(9), g.r.IntN(10)),
	}
	if g.maybe() {
		c.Identifiers = &record.Identifiers{NHSNumber: g.tok("nhs"), UPN: g.tok("upn"), Local: []record.LocalID{{System: g.hide("lsys"), Value: g.hide("lval")}}}
	}
	if g.maybe() {
		c.PreviousNames = []record.Name{{Given: g.hide("pgiven"), Family: g.hide("pfamily")}}
	}
	if g.maybe() {
		c.Address = &record.Address{Lines: []string{g.hide("line")}, Town: g.hide("town"), Postcode: g.hide("pc")}
	}
	for i, n := 0, g.r.IntN(3); i < n; i++ {
		c.Contacts = append(c.Contacts, record.Contact{Relationship: g.hide("rel"), Name: record.Name{Given: g.hide("cg"), Family: g.hide("cf")},
			Phone: g.hide("cphone"), Email: g.hide("cemail"), Address: &record.Address{Lines: []string{g.hide("cline")}, Postcode: g.hide("cpc")}})
	}
	if g.maybe() {
		c.School = &record.School{URN: g.hide("urn"), Name: g.hide("school"), Phone: g.hide("sphone")}
	}
	if g.maybe() {
		c.GPPractice = &record.GPPractice{ODSCode: g.hide("ods"), Name: g.hide("gp"), Phone: g.hide("gphone")}
	}
	if g.maybe() {
		c.CAF = &record.CAF{Exists: true, CompletedOn: g.hide("caf")}
	}
	for i, n := 0, g.r.IntN(3); i < n; i++ {
		c.Involvements = append(c.Involvements, record.Involvement{Service: g.hide("svc"), Organisation: g.hide("org"), Phone: g.hide("iphone"),
			LeadProfessional: g.r.IntN(2) == 0, Practitioner: &record.Practitioner{Name: g.hide("iname"), Role: g.hide("irole"), Email: g.hide("iemail")}})
	}
	var consents []record.Consent
	sensitiveSource := false
	if g.r.IntN(2) == 0 {
		kinds := []string{"drug", "alcohol", "sexual-health", "mental-health"}
		c.Involvements = append(c.Involvements, record.Involvement{Service: g.sens("ssvc"), Kind: kinds[g.r.IntN(4)], Organisation: g.sens("sorg"),
			Phone: g.sens("sphone"), LeadProfessional: g.r.IntN(2) == 0, Practitioner: &record.Practitioner{Name: g.sens("sname"), Role: g.sens("srole"), Phone: g.sens("spphone"), Email: g.sens("semail")}})
		sensitiveSource = true
		consents = []record.Consent{{Scope: record.ConsentSensitive, GivenBy: "young-person", RecordedAt: time.Unix(int64(g.r.IntN(1e9)), 0).UTC(), Withdrawn: g.r.IntN(4) == 0}}
		if !consents[0].Withdrawn {
			g.consentedSensitive = true
		}
	}
	if sensitiveSource {
		g.sensitive = append(g.sensitive, sysName)
	}
	up := time.Unix(int64(g.r.IntN(1e9)), 0).UTC()
	return child.Event{Type: child.TypeStated, Stated: &child.Stated{
		Source:   record.Source{Agency: record.Agencies[g.r.IntN(4)], System: sysName, RecordID: g.hide("rid"), UpdatedAt: &up},
		Child:    c,
		Consents: consents,
	}}
}

func hasService(v child.View, name string) bool {
	for _, f := range v.Involvements {
		if f.Value.Service == name {
			return true
		}
	}
	return false
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func orNone(s string) string {
	if s == "" {
		return "no-role"
	}
	return s
}
