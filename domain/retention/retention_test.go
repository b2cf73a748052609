package retention

import (
	"testing"
	"time"
)

func d(s string) time.Time {
	t, err := ParseDay(s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		f      Facts
		today  string
		action string
		rule   string
		on     string
	}{
		{"day before the 18th birthday", Facts{BirthDate: d("2008-06-14")}, "2026-06-13", None, RuleAwaitArchive, "2026-06-14"},
		{"on the 18th birthday", Facts{BirthDate: d("2008-06-14")}, "2026-06-14", Archive, RuleAge18, "2026-06-14"},
		{"after the 18th birthday, scheduler late", Facts{BirthDate: d("2008-06-14")}, "2026-07-01", Archive, RuleAge18, "2026-06-14"},
		{"29 February, common year: 28 February is still 17", Facts{BirthDate: d("2008-02-29")}, "2026-02-28", None, RuleAwaitArchive, "2026-03-01"},
		{"29 February, common year: 18 on 1 March", Facts{BirthDate: d("2008-02-29")}, "2026-03-01", Archive, RuleAge18, "2026-03-01"},
		{"29 February, 28 February of the year one turns 18 is early", Facts{BirthDate: d("2012-02-29")}, "2030-02-28", None, RuleAwaitArchive, "2030-03-01"},
		{"died on 28 February of a leap year: live on 29 February", Facts{BirthDate: d("2020-01-01"), DiedOn: d("2027-02-28")}, "2028-02-27", None, RuleAwaitArchive, "2028-02-28"},
		{"care leaver with consent stays past 18", Facts{BirthDate: d("2001-05-02"), CareLeaverConsent: true}, "2026-05-01", None, RuleAwaitArchive, "2026-05-02"},
		{"care leaver archived at 25", Facts{BirthDate: d("2001-05-02"), CareLeaverConsent: true}, "2026-05-02", Archive, RuleCareLeaver25, "2026-05-02"},
		{"care leaver born 29 February reaches 25 on 1 March", Facts{BirthDate: d("2004-02-29"), CareLeaverConsent: true}, "2029-03-01", Archive, RuleCareLeaver25, "2029-03-01"},
		{"death keeps a young child live for a year", Facts{BirthDate: d("2020-01-01"), DiedOn: d("2026-03-10")}, "2027-03-09", None, RuleAwaitArchive, "2027-03-10"},
		{"death: archived a year after", Facts{BirthDate: d("2020-01-01"), DiedOn: d("2026-03-10")}, "2027-03-10", Archive, RuleDeath, "2027-03-10"},
		{"death at 17 keeps the record live past 18", Facts{BirthDate: d("2008-06-14"), DiedOn: d("2026-01-05")}, "2026-06-20", None, RuleAwaitArchive, "2027-01-05"},
		{"death ends a care leaver's consent", Facts{BirthDate: d("2004-01-01"), CareLeaverConsent: true, DiedOn: d("2026-02-01")}, "2027-02-01", Archive, RuleDeath, "2027-02-01"},
		{"death on 29 February: a year after is 1 March", Facts{BirthDate: d("2020-01-01"), DiedOn: d("2028-02-29")}, "2029-03-01", Archive, RuleDeath, "2029-03-01"},
		{"legal hold does not stop archiving", Facts{BirthDate: d("2008-06-14"), LegalHold: true}, "2026-06-14", Archive, RuleAge18, "2026-06-14"},
		{"archived: erasure not yet due", Facts{BirthDate: d("2008-06-14"), ArchivedOn: d("2026-06-14")}, "2032-06-13", None, RuleAwaitErase, "2032-06-14"},
		{"archived: erased after six years", Facts{BirthDate: d("2008-06-14"), ArchivedOn: d("2026-06-14")}, "2032-06-14", Erase, RuleErase6y, "2032-06-14"},
		{"archived on 29 February: erased on 1 March six years on", Facts{ArchivedOn: d("2028-02-29")}, "2034-03-01", Erase, RuleErase6y, "2034-03-01"},
		{"archived on 29 February: 28 February six years on is early", Facts{ArchivedOn: d("2028-02-29")}, "2034-02-28", None, RuleAwaitErase, "2034-03-01"},
		{"legal hold stops erasure", Facts{ArchivedOn: d("2020-01-01"), LegalHold: true}, "2030-01-01", None, RuleLegalHold, ""},
		{"legal hold on a dead child's archived record", Facts{DiedOn: d("2019-01-01"), ArchivedOn: d("2020-01-01"), LegalHold: true}, "2030-01-01", None, RuleLegalHold, ""},
		{"erased: nothing more", Facts{BirthDate: d("2000-01-01"), ArchivedOn: d("2018-01-01"), Erased: true}, "2030-01-01", None, RuleErased, ""},
		{"no date of birth: nothing", Facts{}, "2030-01-01", None, RuleNoBirthDate, ""},
		{"no date of birth but a death", Facts{DiedOn: d("2026-01-01")}, "2027-01-01", Archive, RuleDeath, "2027-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.f, d(tt.today))
			if got.Action != tt.action || got.Rule != tt.rule {
				t.Fatalf("Decide = %s (%s), want %s (%s)", got.Action, got.Rule, tt.action, tt.rule)
			}
			var on string
			if !got.On.IsZero() {
				on = Format(got.On)
			}
			if on != tt.on {
				t.Fatalf("due on %q, want %q", on, tt.on)
			}
			if got.Reason == "" {
				t.Fatal("no reason")
			}
		})
	}
}

// The day is London's: near midnight, summer time decides which day it is.
func TestDayInLondon(t *testing.T) {
	london, err := time.LoadLocation(DefaultZone)
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	born := Facts{BirthDate: d("2008-06-14")}
	tests := []struct {
		instant string
		day     string
		action  string
	}{
		// 23:30 UTC on 13 June is 00:30 BST on 14 June: 18 already.
		{"2026-06-13T23:30:00Z", "2026-06-14", Archive},
		{"2026-06-13T22:59:59Z", "2026-06-13", None},
		// In winter London is on UTC.
		{"2026-12-31T23:30:00Z", "2026-12-31", Archive},
		// The clocks go back on 25 October 2026: 00:30 UTC is 01:30 BST, the same day.
		{"2026-10-25T00:30:00Z", "2026-10-25", Archive},
		// The clocks go forward on 29 March 2026: 00:30 UTC is still 29 March (GMT).
		{"2026-03-29T00:30:00Z", "2026-03-29", None},
	}
	for _, tt := range tests {
		at, _ := time.Parse(time.RFC3339, tt.instant)
		day := Day(at, london)
		if Format(day) != tt.day {
			t.Errorf("Day(%s) = %s, want %s", tt.instant, Format(day), tt.day)
		}
		if got := Decide(born, day).Action; got != tt.action {
			t.Errorf("at %s: %s, want %s", tt.instant, got, tt.action)
		}
	}
	// A birthday on 29 February, an instant just after midnight in London
	// on 1 March of a common year.
	leap := Facts{BirthDate: d("2008-02-29")}
	at, _ := time.Parse(time.RFC3339, "2026-03-01T00:00:01Z")
	if got := Decide(leap, Day(at, london)).Action; got != Archive {
		t.Errorf("29 February birthday at 1 March 00:00:01 London: %s, want archive", got)
	}
	at, _ = time.Parse(time.RFC3339, "2026-02-28T23:59:59Z")
	if got := Decide(leap, Day(at, london)).Action; got != None {
		t.Errorf("29 February birthday at 28 February 23:59:59 London: %s, want none", got)
	}
}

func TestStewardWindow(t *testing.T) {
	tests := []struct {
		archived, today string
		may             bool
	}{
		{"2026-06-14", "2026-06-14", true},
		{"2026-06-14", "2027-06-13", true},
		{"2026-06-14", "2027-06-14", false},
		{"2028-02-29", "2029-02-28", true},
		{"2028-02-29", "2029-03-01", false},
		{"", "2026-01-01", false},
	}
	for _, tt := range tests {
		var a time.Time
		if tt.archived != "" {
			a = d(tt.archived)
		}
		if got := StewardMayFind(a, d(tt.today)); got != tt.may {
			t.Errorf("StewardMayFind(%s, %s) = %v, want %v", tt.archived, tt.today, got, tt.may)
		}
		if tt.archived != "" {
			since := StewardSince(d(tt.today))
			if got := !a.Before(since); got != tt.may {
				t.Errorf("StewardSince(%s) = %s: archived %s found %v, want %v", tt.today, Format(since), tt.archived, got, tt.may)
			}
		}
	}
}

func TestExceptionKinds(t *testing.T) {
	for _, k := range []string{ExCareLeaverConsent, ExCareLeaverWithdrawn, ExDeath, ExLegalHold, ExLegalHoldReleased} {
		if !ValidException(k) {
			t.Errorf("%s not valid", k)
		}
	}
	if ValidException("shredded") {
		t.Error("unknown kind accepted")
	}
}
