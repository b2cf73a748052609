package child

import (
	"encoding/json"
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
			s.Corrections[c.Field] = cc
		}
	case TypeCorrectionWithdrawn:
		if w := e.CorrectionWithdrawn; w != nil {
			delete(s.Corrections, w.Field)
		}
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

// correct applies the stewards' corrections to a view survivorship built.
// A correction wins unless an active source stated a different value of
// the field after it; then the source's value stands (as survivorship chose
// it) and the conflict is reported so that a steward is asked.
func correct(v View, s *State, srcs []*SourceState) (View, []CorrectionConflict) {
	var conflicts []CorrectionConflict
	steward := record.SourceKey{Agency: HubAgency, System: StewardSystem}
	for _, field := range []string{"name", "birth_date", "gender", "address"} {
		c, ok := s.Corrections[field]
		if !ok {
			continue
		}
		var contradicted *SourceState
		for _, ss := range srcs {
			if !ss.StatedAt.After(c.At) || s.rejected(ss.Source.Key(), field) {
				continue
			}
			if val, has := fieldValue(&ss.Child, field); has && !sameJSON(val, c.Value) {
				contradicted = ss
				break
			}
		}
		if contradicted != nil {
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
