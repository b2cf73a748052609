package child

import (
	"time"

	"contactpoint/domain/record"
	"contactpoint/domain/retention"
)

// Retention event types: a record ends when the law says (domain/retention).
const (
	TypeArchived           = "child.archived"
	TypeErased             = "child.erased"
	TypeRetentionException = "retention.exception"
)

// Archived takes a child out of ordinary search and record views: a data
// steward may still find it for a year, then only an auditor may read it.
type Archived struct {
	On     string `json:"on"` // YYYY-MM-DD, London
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
	By     string `json:"by"` // "hub/retention" for the scheduler, else a practitioner id
}

// Erased is the tombstone left on the child's subject when its personal
// data is erased. It carries no personal data: only that the child existed,
// when it was erased, by which rule and on whose authority, so that a
// rebuilt projection shows the child as erased and never restores it.
type Erased struct {
	Rule       string `json:"rule"`
	Reason     string `json:"reason"`
	By         string `json:"by"`
	ArchivedOn string `json:"archived_on,omitempty"`
	// Linked are the children the erased child's merges, splits and
	// unmerges joined it to, directly or through others (ids only). The
	// events that joined them were on the erased child's subject and go
	// with it; copies of a record that passed through it may still be on
	// theirs, and erasing that record's child later must find them.
	Linked []string `json:"linked,omitempty"`
}

// RetentionException is a care leaver's consent (or its withdrawal), a
// death, or a legal hold (or its release), with who recorded it and why.
type RetentionException struct {
	Kind   string `json:"kind"` // retention.Ex*
	Reason string `json:"reason"`
	By     string `json:"by"`
	// Date is the day of death for a death; unused otherwise.
	Date string `json:"date,omitempty"`
}

// RetentionState is what the retention rules need from a child's history.
type RetentionState struct {
	ArchivedOn        string  `json:"archived_on,omitempty"`
	ArchivedRule      string  `json:"archived_rule,omitempty"`
	Erased            *Erased `json:"erased,omitempty"`
	ErasedAt          string  `json:"erased_at,omitempty"`
	CareLeaverConsent bool    `json:"care_leaver_consent,omitempty"`
	DiedOn            string  `json:"died_on,omitempty"`
	LegalHold         bool    `json:"legal_hold,omitempty"`
}

func (r *RetentionState) empty() bool { return r == nil || *r == RetentionState{} }

// Status is the record's place in its life: active, archived or erased.
func (s *State) Status() string {
	switch {
	case s.Retention != nil && s.Retention.Erased != nil:
		return "erased"
	case s.Retention != nil && s.Retention.ArchivedOn != "":
		return "archived"
	}
	return "active"
}

// RetentionFacts are the facts domain/retention decides on; the date of
// birth is the directory's (survivorship), given by the caller.
func (s *State) RetentionFacts(birthDate time.Time) retention.Facts {
	f := retention.Facts{BirthDate: birthDate}
	r := s.Retention
	if r == nil {
		return f
	}
	f.ArchivedOn, _ = retention.ParseDay(r.ArchivedOn)
	f.Erased = r.Erased != nil
	f.CareLeaverConsent = r.CareLeaverConsent
	f.DiedOn, _ = retention.ParseDay(r.DiedOn)
	f.LegalHold = r.LegalHold
	return f
}

func (s *State) applyRetention(e Event) {
	if s.Retention == nil {
		s.Retention = &RetentionState{}
	}
	r := s.Retention
	switch e.Type {
	case TypeArchived:
		if e.Archived != nil && r.ArchivedOn == "" {
			r.ArchivedOn, r.ArchivedRule = e.Archived.On, e.Archived.Rule
		}
	case TypeRetentionException:
		x := e.Retention
		if x == nil {
			break
		}
		switch x.Kind {
		case retention.ExCareLeaverConsent:
			r.CareLeaverConsent = true
		case retention.ExCareLeaverWithdrawn:
			r.CareLeaverConsent = false
		case retention.ExDeath:
			r.DiedOn = x.Date
		case retention.ExLegalHold:
			r.LegalHold = true
		case retention.ExLegalHoldReleased:
			r.LegalHold = false
		}
	case TypeErased:
		if e.Erased == nil {
			break
		}
		// Everything personal goes: what sources stated, shields (their
		// reasons and contacts), involvements, corrections. What stays says
		// only that the child existed and was erased.
		er := *e.Erased
		*s = State{ID: s.ID, Sources: map[record.SourceKey]*SourceState{}, MergedInto: s.MergedInto, NotLinked: s.NotLinked,
			Retention: &RetentionState{Erased: &er, ErasedAt: e.At.UTC().Format(time.RFC3339), ArchivedOn: r.ArchivedOn}}
		return
	}
	if r.empty() {
		s.Retention = nil
	}
}
