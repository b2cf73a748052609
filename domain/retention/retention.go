// Package retention holds the rules that end a child's record: when it is
// archived, when a data steward may still find it, and when its personal
// data is erased. The rules are pure: given what is known about a child and
// today's date where the hub works, Decide says what is due and why.
package retention

import "time"

// Actions a decision can call for.
const (
	None    = "none"
	Archive = "archive"
	Erase   = "erase"
)

// Rules, as they appear on events and in the audit trail. The names are
// part of the stored log: never rename one.
const (
	RuleAge18        = "age-18"           // archived at the 18th birthday
	RuleCareLeaver25 = "care-leaver-25"   // a care leaver's consent keeps the record to 25
	RuleDeath        = "death-plus-1y"    // a death keeps the record live for one year
	RuleErase6y      = "archived-plus-6y" // erased six years after archiving
	RuleLegalHold    = "legal-hold"       // a steward's hold stops erasure
	RuleNoBirthDate  = "no-date-of-birth" // nothing can be worked out without one
	RuleErased       = "erased"           // nothing is left to do
	RuleStewardMade  = "steward-request"  // a steward's erasure outside the schedule
	RuleAwaitArchive = "not-yet-due"      // live, and nothing is due yet
	RuleAwaitErase   = "archived-not-due" // archived, erasure not yet due
)

// Exception kinds of a retention.exception event.
const (
	ExCareLeaverConsent   = "care-leaver-consent"
	ExCareLeaverWithdrawn = "care-leaver-consent-withdrawn"
	ExDeath               = "death"
	ExLegalHold           = "legal-hold"
	ExLegalHoldReleased   = "legal-hold-released"
)

// ValidException reports whether kind is an exception the rules know.
func ValidException(kind string) bool {
	switch kind {
	case ExCareLeaverConsent, ExCareLeaverWithdrawn, ExDeath, ExLegalHold, ExLegalHoldReleased:
		return true
	}
	return false
}

// Periods the law sets.
const (
	ArchiveAge      = 18
	CareLeaverAge   = 25
	DeathLiveYears  = 1
	StewardYears    = 1
	EraseAfterYears = 6
	DefaultZone     = "Europe/London"
	dateOnly        = time.DateOnly
)

// Facts are what the rules need to know about one child. Dates are civil
// dates (see Day); a zero time means not known.
type Facts struct {
	BirthDate time.Time
	// ArchivedOn is the day the child was archived; zero while live.
	ArchivedOn time.Time
	Erased     bool
	// CareLeaverConsent is a care leaver's standing consent to stay on the
	// directory to 25.
	CareLeaverConsent bool
	// DiedOn is the day of the child's death, when recorded.
	DiedOn time.Time
	// LegalHold is a steward's hold against erasure.
	LegalHold bool
}

// Decision is what is due for a child on a day, the rule that makes it due
// and the day it fell due (or falls due, for None with a date).
type Decision struct {
	Action string
	Rule   string
	// On is the day the action fell due; for None, the day the next one
	// will, when that can be known (zero otherwise).
	On     time.Time
	Reason string
}

// Day is the civil date of t where the hub works, as midnight UTC of that
// date: a child is 18 from the start of the birthday in London, whatever
// the server's zone, and British Summer Time moves that instant by an hour.
func Day(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// ParseDay reads a YYYY-MM-DD civil date.
func ParseDay(s string) (time.Time, error) { return time.Parse(dateOnly, s) }

// Format writes a civil date as YYYY-MM-DD.
func Format(d time.Time) string { return d.Format(dateOnly) }

// Anniversary is the day n years after d. A child born on 29 February
// reaches an age on 1 March in a common year: in England a person attains
// an age at the start of the anniversary of their birth, and a common year
// has no 29 February, so the anniversary is the day after 28 February
// (time.Date normalises 29 February of a common year to 1 March).
func Anniversary(d time.Time, n int) time.Time {
	return time.Date(d.Year()+n, d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
}

// ArchiveDay is the day a live child is archived, with the rule that sets
// it: one year after a death; the 25th birthday for a care leaver who
// consented; else the 18th birthday. A death ends a care leaver's consent.
// ok is false when nothing can be worked out (no date of birth, no death).
func ArchiveDay(f Facts) (day time.Time, rule string, ok bool) {
	switch {
	case !f.DiedOn.IsZero():
		return Anniversary(f.DiedOn, DeathLiveYears), RuleDeath, true
	case f.BirthDate.IsZero():
		return time.Time{}, RuleNoBirthDate, false
	case f.CareLeaverConsent:
		return Anniversary(f.BirthDate, CareLeaverAge), RuleCareLeaver25, true
	}
	return Anniversary(f.BirthDate, ArchiveAge), RuleAge18, true
}

// EraseDay is the day an archived child's personal data is erased.
func EraseDay(archivedOn time.Time) time.Time { return Anniversary(archivedOn, EraseAfterYears) }

// Decide says what is due for the child on today (a civil date, see Day).
// It is idempotent: once an action is done, the facts say so and the next
// decision moves on (archived children wait for erasure; erased ones need
// nothing).
func Decide(f Facts, today time.Time) Decision {
	if f.Erased {
		return Decision{Action: None, Rule: RuleErased, Reason: "the child's personal data has been erased"}
	}
	if !f.ArchivedOn.IsZero() {
		due := EraseDay(f.ArchivedOn)
		if f.LegalHold {
			return Decision{Action: None, Rule: RuleLegalHold, Reason: "a legal hold stops erasure until a steward releases it"}
		}
		if today.Before(due) {
			return Decision{Action: None, Rule: RuleAwaitErase, On: due, Reason: "archived; erasure falls due six years after archiving"}
		}
		return Decision{Action: Erase, Rule: RuleErase6y, On: due, Reason: "six years since the record was archived"}
	}
	day, rule, ok := ArchiveDay(f)
	if !ok {
		return Decision{Action: None, Rule: rule, Reason: "no date of birth is known, so no archive date can be worked out"}
	}
	if today.Before(day) {
		return Decision{Action: None, Rule: RuleAwaitArchive, On: day, Reason: "live until " + Format(day) + " (" + rule + ")"}
	}
	reasons := map[string]string{
		RuleAge18:        "the child reached 18",
		RuleCareLeaver25: "the care leaver reached 25",
		RuleDeath:        "one year since the child's death",
	}
	return Decision{Action: Archive, Rule: rule, On: day, Reason: reasons[rule]}
}

// StewardMayFind reports whether a data steward may still find an
// archived child (for enquiries): for one year after archiving. After
// that only an auditor may read it, for a stated reason.
func StewardMayFind(archivedOn, today time.Time) bool {
	return !archivedOn.IsZero() && today.Before(Anniversary(archivedOn, StewardYears))
}

// StewardSince is the earliest archive day a steward may still find on
// today: the bound the directory's search uses.
func StewardSince(today time.Time) time.Time {
	return Anniversary(today, -StewardYears).AddDate(0, 0, 1)
}
