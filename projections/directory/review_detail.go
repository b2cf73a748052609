package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"contactpoint/domain/child"
)

// SideBySide fills each task's Fields: the two children's values as their
// record views show them, beside the comparison level and weight of each
// field from the task's evidence, so that a steward sees what was compared
// without opening two records. Tasks about a restricted child must be
// withheld after this (ReviewTask.Withhold drops Fields with the evidence).
func (s *Store) SideBySide(ctx context.Context, tasks []ReviewTask) error {
	if len(tasks) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, 2*len(tasks))
	for _, t := range tasks {
		ids = append(ids, t.ChildID, t.CandidateID)
	}
	rows, err := s.pool.Query(ctx, `select child_id, view from directory where child_id = any($1)`, ids)
	if err != nil {
		return fmt.Errorf("review values: %w", err)
	}
	defer rows.Close()
	views := map[uuid.UUID]child.View{}
	for rows.Next() {
		var id uuid.UUID
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return fmt.Errorf("review values: %w", err)
		}
		var v child.View
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("review values: %w", err)
		}
		views[id] = v
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("review values: %w", err)
	}
	for i := range tasks {
		a, b := views[tasks[i].ChildID], views[tasks[i].CandidateID]
		tasks[i].Fields = sideBySide(tasks[i].Evidence, &a, &b)
	}
	return nil
}

// sideBySide pairs the evidence's fields with the views' values.
func sideBySide(evidence json.RawMessage, a, b *child.View) []ReviewField {
	var e struct {
		Fields []struct {
			Field    string  `json:"field"`
			Level    string  `json:"level"`
			Weight   float64 `json:"weight"`
			Counted  float64 `json:"counted"`
			Sentence string  `json:"sentence"`
		} `json:"fields"`
	}
	if len(evidence) == 0 || json.Unmarshal(evidence, &e) != nil {
		return nil
	}
	out := make([]ReviewField, 0, len(e.Fields))
	for _, f := range e.Fields {
		out = append(out, ReviewField{Field: f.Field, Level: f.Level, Weight: f.Weight, Counted: f.Counted, Sentence: f.Sentence,
			Child: viewValue(a, f.Field), Candidate: viewValue(b, f.Field)})
	}
	return out
}

// viewValue is the value a record view shows for a compared field (the
// keys of match.Field), "" when it shows none.
func viewValue(v *child.View, field string) string {
	switch field {
	case "given":
		if v.Name != nil {
			return strings.Join(strings.Fields(v.Name.Value.Given+" "+v.Name.Value.Middle), " ")
		}
	case "family":
		if v.Name != nil {
			return v.Name.Value.Family
		}
	case "birth_date":
		if v.BirthDate != nil {
			return v.BirthDate.Value
		}
	case "gender":
		if v.Gender != nil {
			return v.Gender.Value
		}
	case "postcode":
		if v.Address != nil {
			return v.Address.Value.Postcode
		}
	case "address":
		if v.Address != nil && len(v.Address.Value.Lines) > 0 {
			return v.Address.Value.Lines[0]
		}
	case "carer", "phone":
		var parts []string
		for _, c := range v.Contacts {
			x := c.Value.Name.String()
			if field == "phone" {
				x = c.Value.Phone
			}
			if x != "" {
				parts = append(parts, x)
			}
		}
		return strings.Join(parts, "; ")
	case "nhs_number":
		if v.NHSNumber != nil {
			return v.NHSNumber.Value
		}
	case "upn":
		if v.UPN != nil {
			return v.UPN.Value
		}
	}
	return ""
}
