package child

import (
	"encoding/json"
	"testing"
	"time"

	"contactpoint/domain/record"
)

func corrected(field, value, when string) Event {
	return Event{Type: TypeCorrected, At: *at(when), Corrected: &Correction{Field: field, Value: json.RawMessage(value), Reason: "checked with the school", By: "steward-1"}}
}

func TestCorrections(t *testing.T) {
	health := base() // born 2015-03-14
	school := base()
	school.BirthDate = "2015-04-14"
	later := base()
	later.BirthDate = "2015-05-14"
	tests := []struct {
		name      string
		events    []Event
		dob, rule string
		conflicts int
	}{
		{"the sources alone", []Event{statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", health)},
			"2015-03-14", RuleAuthoritative, 0},
		{"a correction wins", []Event{
			statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", health),
			corrected("birth_date", `"2015-03-15"`, "2026-02-01T00:00:00Z"),
		}, "2015-03-15", RuleCorrected, 0},
		{"a source restating its old value after the correction does not undo it", []Event{
			statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", health),
			corrected("birth_date", `"2015-03-15"`, "2026-02-01T00:00:00Z"),
			statedBy("education", "sims", "E1", "2026-03-01T00:00:00Z", func() record.Child { c := base(); c.BirthDate = "2015-03-15"; return c }()),
		}, "2015-03-15", RuleCorrected, 0},
		{"a source stating a different value after it: the source shows, and a steward is asked", []Event{
			statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", health),
			corrected("birth_date", `"2015-03-15"`, "2026-02-01T00:00:00Z"),
			statedBy("health", "pas", "H1", "2026-03-01T00:00:00Z", later),
		}, "2015-05-14", RuleAuthoritative, 1},
		{"a withdrawn correction", []Event{
			statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", health),
			corrected("birth_date", `"2015-03-15"`, "2026-02-01T00:00:00Z"),
			{Type: TypeCorrectionWithdrawn, At: *at("2026-02-02T00:00:00Z"), CorrectionWithdrawn: &CorrectionWithdrawn{Field: "birth_date", By: "steward-1"}},
		}, "2015-03-14", RuleAuthoritative, 0},
		{"a source value marked wrong is skipped", []Event{
			statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", health),
			statedBy("education", "sims", "E1", "2026-06-01T00:00:00Z", school),
			{Type: TypeValueRejected, At: *at("2026-07-01T00:00:00Z"), Rejected: &ValueRejected{Source: record.SourceKey{Agency: "health", System: "pas", RecordID: "H1"}, Field: "birth_date"}},
		}, "2015-04-14", RuleLatest, 0},
		{"and shows again when the mark is withdrawn", []Event{
			statedBy("health", "pas", "H1", "2026-01-01T00:00:00Z", health),
			statedBy("education", "sims", "E1", "2026-06-01T00:00:00Z", school),
			{Type: TypeValueRejected, At: *at("2026-07-01T00:00:00Z"), Rejected: &ValueRejected{Source: record.SourceKey{Agency: "health", System: "pas", RecordID: "H1"}, Field: "birth_date"}},
			{Type: TypeValueRejected, At: *at("2026-07-02T00:00:00Z"), Rejected: &ValueRejected{Source: record.SourceKey{Agency: "health", System: "pas", RecordID: "H1"}, Field: "birth_date", Withdraw: true}},
		}, "2015-03-14", RuleAuthoritative, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState("c1")
			s.Apply(Batch{Events: tt.events})
			v := Survive(s, nil)
			if v.BirthDate == nil || v.BirthDate.Value != tt.dob || v.BirthDate.Rule != tt.rule {
				t.Fatalf("birth date %+v, want %s by %s", v.BirthDate, tt.dob, tt.rule)
			}
			if len(v.CorrectionConflicts) != tt.conflicts {
				t.Fatalf("conflicts %+v, want %d", v.CorrectionConflicts, tt.conflicts)
			}
			// The stored state keeps corrections and marks: a rebuild from
			// the directory's rows gives the same view.
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			r := NewState("")
			if err := json.Unmarshal(b, r); err != nil {
				t.Fatal(err)
			}
			if a, b := mustView(t, Survive(s, nil)), mustView(t, Survive(r, nil)); a != b {
				t.Fatalf("stored state gives another view:\n%s\n%s", a, b)
			}
		})
	}
}

func mustView(t *testing.T, v View) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCheckCorrection(t *testing.T) {
	for _, c := range []struct {
		field, value string
		ok           bool
	}{
		{"birth_date", `"2015-03-14"`, true},
		{"birth_date", `"2015-02-30"`, false},
		{"birth_date", `"2999-01-01"`, false},
		{"gender", `"female"`, true},
		{"gender", `"f"`, false},
		{"name", `{"given":"Olivia","family":"Hughes"}`, true},
		{"name", `{"given":"Olivia"}`, false},
		{"address", `{"lines":["1 Road"],"postcode":"LS6 2AB"}`, true},
		{"address", `{"lines":[]}`, false},
		{"nhs_number", `"9434765919"`, false},
		{"diagnosis", `"x"`, false},
	} {
		if err := CheckCorrection(c.field, json.RawMessage(c.value)); (err == nil) != c.ok {
			t.Errorf("%s=%s: %v, want ok=%v", c.field, c.value, err, c.ok)
		}
	}
}

// A merge copies statements with the time the hub first heard them, so the
// survivor's view (and an unmerge) gives the same times as before.
func TestCopiesKeepWhenTheyWereStated(t *testing.T) {
	s := NewState("b")
	c := base()
	c.Address = nil
	e := statedBy("education", "sims", "E1", "2026-02-01T00:00:00Z", c)
	e.Stated.Source.UpdatedAt = nil
	s.Apply(Batch{Events: []Event{e}})
	st := s.Sources[record.SourceKey{Agency: "education", System: "sims", RecordID: "E1"}].Statement()
	a := NewState("a")
	a.Apply(Batch{Events: []Event{{Type: TypeAbsorbed, At: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), Absorbed: &Absorbed{Absorbed: "b", Sources: []Stated{st}}}}})
	got := a.Sources[record.SourceKey{Agency: "education", System: "sims", RecordID: "E1"}].UpdatedAt()
	if !got.Equal(*at("2026-02-01T00:00:00Z")) {
		t.Fatalf("copy stated at %v, want the original time", got)
	}
}
