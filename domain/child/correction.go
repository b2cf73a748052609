package child

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"contactpoint/domain/record"
)

// Steward correction event types. Nothing is edited in place: a correction
// is an event, withdrawing it is another, and the timeline shows both.
const (
	// TypeCorrected: a data steward corrected a field the sources got
	// wrong. Survivorship shows the corrected value, with the rule
	// RuleCorrected, until a source states a different value after it.
	TypeCorrected = "steward.corrected"
	// TypeCorrectionWithdrawn: the steward's correction of a field no
	// longer stands; the sources' values show again.
	TypeCorrectionWithdrawn = "steward.correction-withdrawn"
	// TypeValueRejected: a steward marked one source's value of a field as
	// wrong, so survivorship skips it (Withdraw undoes that).
	TypeValueRejected = "steward.value-rejected"
	// TypeCorrectionConfirmed: a source stated a value that contradicts a
	// correction, and the steward kept the correction against that value:
	// the correction shows again, and the conflict stays closed until a
	// source states yet another value.
	TypeCorrectionConfirmed = "steward.correction-confirmed"
)

// RuleCorrected is the provenance rule of a value a data steward set.
const RuleCorrected = "steward-correction"

// StewardSystem names the hub's stewards as the source of a correction.
const StewardSystem = "data-steward"

// Correctable fields and the shape of their value.
var Correctable = map[string]string{
	"name":       "an object {given, middle?, family}",
	"birth_date": "a date YYYY-MM-DD",
	"gender":     "one of female, male, other, unknown",
	"address":    "an object {lines, town?, postcode?}",
}

// Correction is a steward's correction of one field.
type Correction struct {
	Field  string          `json:"field"`
	Value  json.RawMessage `json:"value"`
	Reason string          `json:"reason"`
	By     string          `json:"by"`
	// At is when the correction was made (the event's time), so that a
	// source statement after it can be told from one before.
	At time.Time `json:"at"`
	// Kept holds the source values a steward kept this correction against
	// (steward.correction-confirmed). It lives in the state, never in the
	// steward.corrected event, and goes with the correction when it is
	// withdrawn or replaced.
	Kept []KeptValue `json:"kept,omitempty"`
}

// KeptValue is one source's value that a correction was kept against.
type KeptValue struct {
	Source record.SourceKey `json:"source"`
	Value  json.RawMessage  `json:"value"`
}

// CorrectionConfirmed keeps a correction against one source's differing
// value. CorrectionAt names the correction it confirms, so that a
// confirmation decided against an older correction does not attach to a
// newer one.
type CorrectionConfirmed struct {
	Field        string           `json:"field"`
	Source       record.SourceKey `json:"source"`
	Value        json.RawMessage  `json:"value"`
	StatedAt     time.Time        `json:"stated_at"`
	CorrectionAt time.Time        `json:"correction_at"`
	Reason       string           `json:"reason"`
	By           string           `json:"by"`
	// Sensitive: the source stated a sensitive service, so the timeline
	// names it by its agency only, as the view does.
	Sensitive bool `json:"sensitive,omitempty"`
}

// kept reports whether a steward kept the correction against this value
// of the source.
func (c Correction) kept(src record.SourceKey, val json.RawMessage) bool {
	for _, k := range c.Kept {
		if k.Source == src && sameJSON(k.Value, val) {
			return true
		}
	}
	return false
}

// CorrectionWithdrawn ends a field's correction.
type CorrectionWithdrawn struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
	By     string `json:"by"`
}

// ValueRejected marks (or, with Withdraw, unmarks) one source's value of
// a field as wrong.
type ValueRejected struct {
	Source   record.SourceKey `json:"source"`
	Field    string           `json:"field"`
	Reason   string           `json:"reason"`
	By       string           `json:"by"`
	Withdraw bool             `json:"withdraw,omitempty"`
}

// CheckCorrection validates a correction's field and value, returning a
// message naming the field and rule when it is not acceptable.
func CheckCorrection(field string, value json.RawMessage) error {
	shape, ok := Correctable[field]
	if !ok {
		return fmt.Errorf("field %q cannot be corrected: one of name, birth_date, gender, address", field)
	}
	bad := fmt.Errorf("value of %s must be %s", field, shape)
	switch field {
	case "name":
		var n record.Name
		if json.Unmarshal(value, &n) != nil || n.Family == "" || len(n.Family) > 200 || len(n.Given) > 200 || len(n.Middle) > 200 {
			return bad
		}
	case "birth_date":
		var s string
		if json.Unmarshal(value, &s) != nil {
			return bad
		}
		if d, err := time.Parse(time.DateOnly, s); err != nil || d.After(time.Now()) || d.Year() < 1990 {
			return bad
		}
	case "gender":
		var s string
		if json.Unmarshal(value, &s) != nil || (s != "female" && s != "male" && s != "other" && s != "unknown") {
			return bad
		}
	case "address":
		var a record.Address
		if json.Unmarshal(value, &a) != nil || len(a.Lines) == 0 || len(a.Lines) > 6 {
			return bad
		}
	}
	return nil
}

func (s *State) applyCorrection(e Event) {
	switch e.Type {
	case TypeCorrected:
		if c := e.Corrected; c != nil {
			if s.Corrections == nil {
				s.Corrections = map[string]Correction{}
			}
			cc := *c
			cc.At = e.At
			// What was kept comes only from confirmations of this
			// correction, never from the correction event itself.
			cc.Kept = nil
			s.Corrections[c.Field] = cc
		}
	case TypeCorrectionWithdrawn:
		if w := e.CorrectionWithdrawn; w != nil {
			delete(s.Corrections, w.Field)
		}
	case TypeCorrectionConfirmed:
		cf := e.Confirmed
		if cf == nil {
			return
		}
		c, ok := s.Corrections[cf.Field]
		if !ok || !c.At.Equal(cf.CorrectionAt) || c.kept(cf.Source, cf.Value) {
			return
		}
		// A fresh slice: states copied for a preview must not share it.
		c.Kept = append(append([]KeptValue(nil), c.Kept...), KeptValue{Source: cf.Source, Value: cf.Value})
		s.Corrections[cf.Field] = c
	case TypeValueRejected:
		if r := e.Rejected; r != nil {
			k := r.Source.String() + "|" + r.Field
			if r.Withdraw {
				delete(s.Rejected, k)
				return
			}
			if s.Rejected == nil {
				s.Rejected = map[string]bool{}
			}
			s.Rejected[k] = true
		}
	}
}

// rejected reports whether a steward marked the source's value of field
// as wrong.
func (s *State) rejected(src record.SourceKey, field string) bool {
	return s.Rejected[src.String()+"|"+field]
}

// CorrectionConflict is a correction that a source has since contradicted:
// the source's newer value shows, and a steward is asked to decide again.
type CorrectionConflict struct {
	Field  string           `json:"field"`
	Source record.SourceKey `json:"source"`
	At     time.Time        `json:"at"` // when the source stated it
}

// correctable lists the correctable fields in a fixed order, so that
// conflicts (and the tasks derived from them) come out in the same order.
var correctable = []string{"name", "birth_date", "gender", "address"}

// contradiction finds the source, among srcs (most recent first), that
// contradicts correction c of field: an active source, not marked wrong for
// the field, that stated a value after the correction which differs from it
// and which a steward has not kept the correction against. It is the one
// rule both the view and the review queue follow.
func (s *State) contradiction(srcs []*SourceState, field string, c Correction) (*SourceState, json.RawMessage) {
	for _, ss := range srcs {
		if !ss.StatedAt.After(c.At) || s.rejected(ss.Source.Key(), field) {
			continue
		}
		val, has := fieldValue(&ss.Child, field)
		if !has || sameJSON(val, c.Value) || c.kept(ss.Source.Key(), val) {
			continue
		}
		return ss, val
	}
	return nil, nil
}

// correct applies the stewards' corrections to a view survivorship built.
// A correction wins unless a source contradicts it (contradiction); then the
// source's value stands (as survivorship chose it) and the conflict is
// reported so that a steward is asked.
func correct(v View, s *State, srcs []*SourceState) (View, []CorrectionConflict) {
	var conflicts []CorrectionConflict
	steward := record.SourceKey{Agency: HubAgency, System: StewardSystem}
	for _, field := range correctable {
		c, ok := s.Corrections[field]
		if !ok {
			continue
		}
		if contradicted, _ := s.contradiction(srcs, field, c); contradicted != nil {
			conflicts = append(conflicts, CorrectionConflict{Field: field, Source: contradicted.Source.Key(), At: contradicted.StatedAt})
			continue
		}
		p := Provenance{Source: steward, UpdatedAt: c.At, Rule: RuleCorrected}
		switch field {
		case "name":
			var n record.Name
			if json.Unmarshal(c.Value, &n) == nil {
				v.Name = &Fact[record.Name]{n, p}
			}
		case "birth_date":
			var d string
			if json.Unmarshal(c.Value, &d) == nil {
				v.BirthDate = &Fact[string]{d, p}
			}
		case "gender":
			var g string
			if json.Unmarshal(c.Value, &g) == nil {
				v.Gender = &Fact[string]{g, p}
			}
		case "address":
			var a record.Address
			if json.Unmarshal(c.Value, &a) == nil {
				v.Address = &Fact[record.Address]{a, p}
			}
		}
	}
	return v, conflicts
}

// ConflictTask is a correction a source contradicts, with what a steward
// needs to decide it: the field, the corrected value, the source's
// differing value, which source and when it stated it. Source is named as
// the view names it: a source that stated a sensitive service keeps only
// its agency.
type ConflictTask struct {
	Field       string           `json:"field"`
	Corrected   json.RawMessage  `json:"corrected"`
	CorrectedAt time.Time        `json:"corrected_at"`
	CorrectedBy string           `json:"corrected_by"`
	Source      record.SourceKey `json:"source"`
	Stated      json.RawMessage  `json:"stated"`
	StatedAt    time.Time        `json:"stated_at"`
	// FeedSeq is the FEEDS sequence of the contradicting statement: it
	// names the statement without naming its system.
	FeedSeq uint64 `json:"feed_seq"`
}

// ConflictTasks lists the open correction conflicts of the child, by the
// same rule as the view's correction_conflicts, in field order. A merged or
// erased child has none: its record is its survivor's, or gone.
func (s *State) ConflictTasks() []ConflictTask {
	if len(s.Corrections) == 0 || s.MergedInto != "" || s.Status() == "erased" {
		return nil
	}
	srcs := recentFirst(s.Active())
	var out []ConflictTask
	for _, field := range correctable {
		c, ok := s.Corrections[field]
		if !ok {
			continue
		}
		ss, val := s.contradiction(srcs, field, c)
		if ss == nil {
			continue
		}
		src := ss.Source.Key()
		if statesSensitive(ss) {
			src = Withhold(src)
		}
		out = append(out, ConflictTask{Field: field, Corrected: c.Value, CorrectedAt: c.At, CorrectedBy: c.By,
			Source: src, Stated: val, StatedAt: ss.StatedAt, FeedSeq: ss.FeedSeq})
	}
	return out
}

// ErrNoConflict is returned by Confirm when no source contradicts a
// correction of the field with that statement (any more).
var ErrNoConflict = errors.New("no source contradicts a correction of that field with that statement")

// Confirm decides a correction conflict by keeping the correction against
// the statement with FEEDS sequence feedSeq: the steward.correction-confirmed
// payload, naming the source in full so the state can match its later
// statements.
func (s *State) Confirm(field string, feedSeq uint64, reason, by string) (*CorrectionConfirmed, error) {
	c, ok := s.Corrections[field]
	if !ok || s.MergedInto != "" {
		return nil, ErrNoConflict
	}
	ss, val := s.contradiction(recentFirst(s.Active()), field, c)
	if ss == nil || ss.FeedSeq != feedSeq {
		return nil, ErrNoConflict
	}
	return &CorrectionConfirmed{Field: field, Source: ss.Source.Key(), Value: val, StatedAt: ss.StatedAt,
		CorrectionAt: c.At, Reason: reason, By: by, Sensitive: statesSensitive(ss)}, nil
}

// statesSensitive reports whether the source's statement names a sensitive
// service (whose system would name it).
func statesSensitive(ss *SourceState) bool {
	for _, in := range ss.Child.Involvements {
		if in.Sensitive() {
			return true
		}
	}
	return false
}

// fieldValue is a source's value of a correctable field, as JSON.
func fieldValue(c *record.Child, field string) (json.RawMessage, bool) {
	var v any
	switch field {
	case "name":
		if c.Name.Family == "" {
			return nil, false
		}
		v = c.Name
	case "birth_date":
		if c.BirthDate == "" {
			return nil, false
		}
		v = c.BirthDate
	case "gender":
		if c.Gender == "" || c.Gender == "unknown" {
			return nil, false
		}
		v = c.Gender
	case "address":
		if c.Address == nil {
			return nil, false
		}
		v = c.Address
	default:
		return nil, false
	}
	b, err := json.Marshal(v)
	return b, err == nil
}

// sameJSON compares two JSON values by meaning, not by bytes.
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// WhyCorrectionConflict is the review-queue reason of a correction that a
// source contradicts, beside the linker's reasons (domain/match).
const WhyCorrectionConflict = "correction conflict"
