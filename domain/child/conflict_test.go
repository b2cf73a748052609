package child

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"contactpoint/domain/record"
)

// stated is statedBy with the FEEDS sequence the statement came from.
func stated(agency, system, id, when string, seq uint64, dob string) Event {
	c := base()
	c.BirthDate = dob
	e := statedBy(agency, system, id, when, c)
	e.Stated.FeedSeq = seq
	return e
}

// confirmed keeps the birth-date correction made at correctionAt against
// the source's value dob.
func confirmed(agency, system, id, dob, when, correctionAt string) Event {
	return Event{Type: TypeCorrectionConfirmed, At: *at(when), Confirmed: &CorrectionConfirmed{Field: "birth_date",
		Source: record.SourceKey{Agency: agency, System: system, RecordID: id}, Value: json.RawMessage(`"` + dob + `"`),
		CorrectionAt: *at(correctionAt), Reason: "the school's register is wrong", By: "steward-1"}}
}

func TestConflictTasks(t *testing.T) {
	const corrAt = "2026-02-01T00:00:00Z"
	start := []Event{
		stated("health", "pas", "H1", "2026-01-01T00:00:00Z", 1, "2015-03-14"),
		corrected("birth_date", `"2015-03-15"`, corrAt),
	}
	with := func(es ...Event) []Event { return append(append([]Event(nil), start...), es...) }
	school := stated("education", "sims", "E1", "2026-03-01T00:00:00Z", 7, "2015-04-14")
	sensitive := stated("health", "sexual-health-clinic", "S1", "2026-03-01T00:00:00Z", 9, "2015-04-14")
	sensitive.Stated.Child.Involvements = []record.Involvement{{Service: "clinic", Kind: "sexual-health"}}
	sensitive.Stated.Consents = []record.Consent{{Scope: "sensitive-services"}}
	tests := []struct {
		name   string
		events []Event
		// want is the tasks as "field source stated-value feed-seq"; dob
		// and rule are what the view shows (while a conflict is open, the
		// value survivorship picks from the sources).
		want      []string
		dob, rule string
	}{
		{"a correction nobody contradicts", start, nil, "2015-03-15", RuleCorrected},
		{"a source states a different value after it: a task", with(school),
			[]string{`birth_date education/sims/E1 "2015-04-14" 7`}, "2015-03-14", RuleAuthoritative},
		{"kept against that value: no task, the correction shows", with(school, confirmed("education", "sims", "E1", "2015-04-14", "2026-03-02T00:00:00Z", corrAt)),
			nil, "2015-03-15", RuleCorrected},
		{"the same source restating the kept value does not reopen it", with(school, confirmed("education", "sims", "E1", "2015-04-14", "2026-03-02T00:00:00Z", corrAt),
			stated("education", "sims", "E1", "2026-04-01T00:00:00Z", 8, "2015-04-14")),
			nil, "2015-03-15", RuleCorrected},
		{"the same source stating yet another value reopens it", with(school, confirmed("education", "sims", "E1", "2015-04-14", "2026-03-02T00:00:00Z", corrAt),
			stated("education", "sims", "E1", "2026-04-01T00:00:00Z", 8, "2015-05-14")),
			[]string{`birth_date education/sims/E1 "2015-05-14" 8`}, "2015-03-14", RuleAuthoritative},
		{"another source stating the kept value is a conflict of its own", with(school, confirmed("education", "sims", "E1", "2015-04-14", "2026-03-02T00:00:00Z", corrAt),
			stated("health", "pas", "H1", "2026-04-01T00:00:00Z", 8, "2015-04-14")),
			[]string{`birth_date health/pas/H1 "2015-04-14" 8`}, "2015-04-14", RuleAuthoritative},
		{"a confirmation of an older correction does not close the task", with(school, confirmed("education", "sims", "E1", "2015-04-14", "2026-03-02T00:00:00Z", "2026-01-15T00:00:00Z")),
			[]string{`birth_date education/sims/E1 "2015-04-14" 7`}, "2015-03-14", RuleAuthoritative},
		{"a new correction drops what was kept against the old one", with(school, confirmed("education", "sims", "E1", "2015-04-14", "2026-03-02T00:00:00Z", corrAt),
			corrected("birth_date", `"2015-03-16"`, "2026-03-03T00:00:00Z"), stated("education", "sims", "E1", "2026-04-01T00:00:00Z", 8, "2015-04-14")),
			[]string{`birth_date education/sims/E1 "2015-04-14" 8`}, "2015-03-14", RuleAuthoritative},
		{"a correction event cannot bring kept values of its own", append([]Event{start[0], func() Event {
			e := corrected("birth_date", `"2015-03-15"`, corrAt)
			e.Corrected.Kept = []KeptValue{{Source: record.SourceKey{Agency: "education", System: "sims", RecordID: "E1"}, Value: json.RawMessage(`"2015-04-14"`)}}
			return e
		}()}, school),
			[]string{`birth_date education/sims/E1 "2015-04-14" 7`}, "2015-03-14", RuleAuthoritative},
		{"withdrawing the correction accepts the source", with(school,
			Event{Type: TypeCorrectionWithdrawn, At: *at("2026-03-02T00:00:00Z"), CorrectionWithdrawn: &CorrectionWithdrawn{Field: "birth_date", By: "steward-1"}}),
			nil, "2015-03-14", RuleAuthoritative},
		{"a source that named a sensitive service is shown by its agency", with(sensitive),
			[]string{`birth_date health/withheld/ "2015-04-14" 9`}, "2015-04-14", RuleAuthoritative},
		{"a merged child has no tasks: its record is the survivor's", with(school,
			Event{Type: TypeMergedInto, At: *at("2026-03-05T00:00:00Z"), MergedInto: &MergedInto{Survivor: "c0"}}),
			nil, "2015-03-14", RuleAuthoritative},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState("c1")
			s.Apply(Batch{Events: tt.events})
			var got []string
			for _, c := range s.ConflictTasks() {
				got = append(got, c.Field+" "+c.Source.String()+" "+string(c.Stated)+" "+itoa(c.FeedSeq))
				if string(c.Corrected) == "" || c.CorrectedBy != "steward-1" {
					t.Errorf("task %+v lacks the correction", c)
				}
			}
			if !equal(got, tt.want) {
				t.Fatalf("tasks %q, want %q", got, tt.want)
			}
			v := Survive(s, nil)
			if v.BirthDate == nil || v.BirthDate.Value != tt.dob || v.BirthDate.Rule != tt.rule {
				t.Fatalf("birth date %+v, want %s by %s", v.BirthDate, tt.dob, tt.rule)
			}
			// One rule: the view lists a conflict exactly when there is a
			// task (a merged child's view is its survivor's).
			if s.MergedInto == "" && len(v.CorrectionConflicts) != len(got) {
				t.Fatalf("view conflicts %+v, tasks %q", v.CorrectionConflicts, got)
			}
			// The stored state keeps what was kept.
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

func TestConfirm(t *testing.T) {
	sensitive := stated("health", "sexual-health-clinic", "S1", "2026-03-01T00:00:00Z", 9, "2015-04-14")
	sensitive.Stated.Child.Involvements = []record.Involvement{{Service: "clinic", Kind: "sexual-health"}}
	sensitive.Stated.Consents = []record.Consent{{Scope: "sensitive-services"}}
	events := []Event{
		stated("health", "pas", "H1", "2026-01-01T00:00:00Z", 1, "2015-03-14"),
		corrected("birth_date", `"2015-03-15"`, "2026-02-01T00:00:00Z"),
		sensitive,
	}
	tests := []struct {
		name    string
		field   string
		feedSeq uint64
		err     error
	}{
		{"the contradicting statement", "birth_date", 9, nil},
		{"another statement", "birth_date", 1, ErrNoConflict},
		{"a field with no correction", "gender", 9, ErrNoConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState("c1")
			s.Apply(Batch{Events: events})
			cf, err := s.Confirm(tt.field, tt.feedSeq, "checked", "steward-2")
			if !errors.Is(err, tt.err) {
				t.Fatalf("confirm: %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			// The event names the source in full, so that its later
			// statements are matched; the timeline withholds it.
			if cf.Source.System != "sexual-health-clinic" || !cf.Sensitive || string(cf.Value) != `"2015-04-14"` || !cf.CorrectionAt.Equal(*at("2026-02-01T00:00:00Z")) {
				t.Fatalf("confirmation %+v", cf)
			}
			s.Apply(Batch{Events: []Event{{Type: TypeCorrectionConfirmed, At: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Confirmed: cf}}})
			if ts := s.ConflictTasks(); len(ts) != 0 {
				t.Fatalf("tasks after confirming: %+v", ts)
			}
			if v := Survive(s, nil); v.BirthDate.Rule != RuleCorrected {
				t.Fatalf("after confirming the view shows %+v", v.BirthDate)
			}
		})
	}
}

func itoa(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
