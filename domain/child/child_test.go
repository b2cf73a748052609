package child

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"contactpoint/domain/record"
)

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func statedBy(agency, system, id, updated string, c record.Child) Event {
	src := record.Source{Agency: agency, System: system, RecordID: id, UpdatedAt: at(updated)}
	return Event{Type: TypeStated, At: *at(updated), Stated: &Stated{Source: src, Child: c, ContentHash: id + updated}}
}

func base() record.Child {
	return record.Child{
		Name:      record.Name{Given: "Olivia", Family: "Hughes"},
		BirthDate: "2015-03-14", Gender: "female",
		Identifiers: &record.Identifiers{NHSNumber: "9434765919"},
		Address:     &record.Address{Lines: []string{"14 Elm Grove"}, Postcode: "LS6 2AB"},
		GPPractice:  &record.GPPractice{Name: "Hyde Park Surgery"},
	}
}

func TestSurvivorship(t *testing.T) {
	health := base()
	school := base()
	school.Name.Given = "Livvy"
	school.BirthDate = "2015-04-14" // the school keyed it wrongly
	school.Identifiers = &record.Identifiers{UPN: "T821200714001"}
	school.Address = &record.Address{Lines: []string{"3 Stanmore Place"}, Postcode: "LS4 2RR"} // a move the school heard of first
	school.GPPractice = &record.GPPractice{Name: "Another Surgery"}
	school.School = &record.School{Name: "Hyde Park Primary"}

	s := NewState("c1")
	s.Apply(Batch{Events: []Event{
		statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", health),
		statedBy("education", "sims", "E1", "2026-06-01T00:00:00Z", school),
	}})
	v := Survive(s, nil)
	tests := []struct {
		field      string
		got, want  any
		source     record.SourceKey
		wantSource string
		rule       string
	}{
		{"name (most recent)", v.Name.Value.Given, "Livvy", v.Name.Source, "education", RuleLatest},
		{"birth date (health is authoritative)", v.BirthDate.Value, "2015-03-14", v.BirthDate.Source, "health", RuleAuthoritative},
		{"nhs number", v.NHSNumber.Value, "9434765919", v.NHSNumber.Source, "health", RuleAuthoritative},
		{"upn (falls back to the only source)", v.UPN.Value, "T821200714001", v.UPN.Source, "education", RuleAuthoritative},
		{"address (most recent)", v.Address.Value.Postcode, "LS4 2RR", v.Address.Source, "education", RuleLatest},
		{"gp (health is authoritative)", v.GPPractice.Value.Name, "Hyde Park Surgery", v.GPPractice.Source, "health", RuleAuthoritative},
		{"school", v.School.Value.Name, "Hyde Park Primary", v.School.Source, "education", RuleAuthoritative},
	}
	rules := map[string]string{"name (most recent)": v.Name.Rule, "address (most recent)": v.Address.Rule}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) || tt.source.Agency != tt.wantSource {
			t.Errorf("%s: got %v from %s, want %v from %s", tt.field, tt.got, tt.source.Agency, tt.want, tt.wantSource)
		}
		if r, ok := rules[tt.field]; ok && r != tt.rule {
			t.Errorf("%s: rule %s, want %s", tt.field, r, tt.rule)
		}
	}
	if len(v.PreviousNames) != 1 || v.PreviousNames[0].Value.Given != "Olivia" {
		t.Errorf("previous names should hold the other source's name: %+v", v.PreviousNames)
	}
	if len(v.Sources) != 2 || !v.UpdatedAt.Equal(*at("2026-06-01T00:00:00Z")) {
		t.Errorf("sources %+v updated %v", v.Sources, v.UpdatedAt)
	}
}

func TestConfigurableRule(t *testing.T) {
	a, b := base(), base()
	b.Name.Given = "Livvy"
	s := NewState("c1")
	s.Apply(Batch{Events: []Event{
		statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", a),
		statedBy("social-care", "lcs", "S1", "2026-06-01T00:00:00Z", b),
	}})
	rules := DefaultRules()
	rules["name"] = FieldRule{Rule: RuleAuthoritative, Authoritative: []string{"health"}}
	if v := Survive(s, rules); v.Name.Value.Given != "Olivia" {
		t.Fatalf("a per-field rule should let health win the name: %v", v.Name.Value)
	}
}

func TestWithdrawalRemovesFacts(t *testing.T) {
	s := NewState("c1")
	school := base()
	school.School = &record.School{Name: "Hyde Park Primary"}
	s.Apply(Batch{Events: []Event{
		statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", base()),
		statedBy("education", "sims", "E1", "2026-02-01T00:00:00Z", school),
		{Type: TypeWithdrawn, Withdrawn: &Withdrawn{Source: record.SourceKey{Agency: "education", System: "sims", RecordID: "E1"}}},
	}})
	v := Survive(s, nil)
	if v.School != nil || len(v.Sources) != 1 {
		t.Fatalf("withdrawn source still shown: %+v", v)
	}
	if s.AlreadyStated(record.SourceKey{Agency: "education", System: "sims", RecordID: "E1"}, "E12026-02-01T00:00:00Z") {
		t.Fatal("a withdrawn source cannot count as already stated")
	}
}

func TestMergeAndSplitState(t *testing.T) {
	a := NewState("a")
	a.Apply(Batch{Events: []Event{statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", base())}})
	b := NewState("b")
	b.Apply(Batch{Events: []Event{statedBy("education", "sims", "E1", "2026-01-02T00:00:00Z", base())}})

	var copies []Stated
	for _, ss := range b.Active() {
		copies = append(copies, ss.Statement())
	}
	a.Apply(Batch{Events: []Event{{Type: TypeAbsorbed, Absorbed: &Absorbed{Absorbed: "b", Sources: copies}}}})
	b.Apply(Batch{Events: []Event{{Type: TypeMergedInto, MergedInto: &MergedInto{Survivor: "a"}}}})
	if len(a.Active()) != 2 || b.MergedInto != "a" {
		t.Fatalf("merge: survivor has %d sources, absorbed merged into %q", len(a.Active()), b.MergedInto)
	}
	e1 := record.SourceKey{Agency: "education", System: "sims", RecordID: "E1"}
	a.Apply(Batch{Events: []Event{
		{Type: TypeSourcesMovedOut, MovedOut: &SourcesMovedOut{Sources: []record.SourceKey{e1}, To: "c"}},
		{Type: TypeNotLinked, NotLinked: &NotLinked{Other: "c"}},
	}})
	if len(a.Active()) != 1 || !a.NotLinked["c"] {
		t.Fatalf("split: %d sources, not-linked %v", len(a.Active()), a.NotLinked)
	}
}

func TestStateJSONRoundTrip(t *testing.T) {
	s := NewState("c1")
	s.Apply(Batch{Events: []Event{
		statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", base()),
		statedBy("education", "sims", "E1", "2026-01-02T00:00:00Z", base()),
		{Type: TypeShieldApplied, Shield: &Shield{ReasonCategory: "domestic-violence", ReviewDate: "2027-01-01", Contact: "Shield team"}},
		{Type: TypeNotLinked, NotLinked: &NotLinked{Other: "c9"}},
		{Type: TypeMergedInto, MergedInto: &MergedInto{Survivor: "c0"}},
	}})
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	back := NewState("")
	if err := json.Unmarshal(b, back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(Survive(s, nil), Survive(back, nil)) || back.MergedInto != "c0" || !back.NotLinked["c9"] || back.Shield == nil {
		t.Fatalf("round trip lost state:\n%+v\n%+v", s, back)
	}
	again, _ := json.Marshal(back)
	if string(again) != string(b) {
		t.Fatal("serialised state is not stable")
	}
}

func TestContentHashSeesEveryStatedPart(t *testing.T) {
	r := &record.Record{Source: record.Source{Agency: "health", System: "pas", RecordID: "H1"}, Operation: record.OpUpsert, Child: func() *record.Child { c := base(); return &c }()}
	h := ContentHash(r)
	changed := *r
	c := base()
	c.Address.Postcode = "LS4 2RR"
	changed.Child = &c
	if ContentHash(&changed) == h {
		t.Fatal("a changed address must change the hash")
	}
	merge := record.Record{Source: r.Source, Operation: record.OpMerge, Merge: &record.Merge{AbsorbedRecordID: "H2"}}
	merge2 := merge
	merge2.Merge = &record.Merge{AbsorbedRecordID: "H3"}
	if ContentHash(&merge) == ContentHash(&merge2) {
		t.Fatal("merges of different records must differ")
	}
	if ContentHash(r) != h {
		t.Fatal("hash is not stable")
	}
}

// TestViewSaysHowEachSourceWasLinked: the record view's source list names
// the rule and score that joined each source to the child, and a source's
// later statements (linked by being the same record) keep that rule.
func TestViewSaysHowEachSourceWasLinked(t *testing.T) {
	linked := func(e Event, l Link) Event { e.Stated.Link = l; return e }
	tests := []struct {
		name   string
		events []Event
		want   map[string]Link // record id → link shown
	}{
		{"new child and a scored match", []Event{
			linked(statedBy("health", "pas", "1", "2026-01-01T00:00:00Z", base()), Link{Rule: "new"}),
			linked(statedBy("education", "sims", "2", "2026-02-01T00:00:00Z", base()), Link{Rule: "score", Score: 41.5}),
		}, map[string]Link{"1": {Rule: "new"}, "2": {Rule: "score", Score: 41.5}}},
		{"a later statement keeps the first rule", []Event{
			linked(statedBy("health", "pas", "1", "2026-01-01T00:00:00Z", base()), Link{Rule: "nhs-number"}),
			linked(statedBy("health", "pas", "1", "2026-03-01T00:00:00Z", base()), Link{Rule: "source-record"}),
		}, map[string]Link{"1": {Rule: "nhs-number"}}},
		{"a merge carries the absorbed child's rules", []Event{
			linked(statedBy("health", "pas", "1", "2026-01-01T00:00:00Z", base()), Link{Rule: "new"}),
			{Type: TypeAbsorbed, At: *at("2026-04-01T00:00:00Z"), Absorbed: &Absorbed{Absorbed: "b", Sources: []Stated{
				*linked(statedBy("education", "sims", "2", "2026-02-01T00:00:00Z", base()), Link{Rule: "upn"}).Stated}}},
		}, map[string]Link{"1": {Rule: "new"}, "2": {Rule: "upn"}}},
	}
	for _, tt := range tests {
		s := NewState("a")
		s.Apply(Batch{Events: tt.events})
		v := Survive(s, nil)
		got := map[string]Link{}
		for _, src := range v.Sources {
			if src.Link != nil {
				got[src.Source.RecordID] = *src.Link
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: links %v, want %v", tt.name, got, tt.want)
		}
	}
}
