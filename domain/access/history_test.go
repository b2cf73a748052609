package access

import (
	"encoding/json"
	"testing"
	"time"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// A kept correction carries the source's value: for a restricted child a
// viewer without the shield role sees neither the value (an address) nor
// the source's system, and a source that named a sensitive service is named
// by its agency for everyone.
func TestShowEventCorrectionConfirmed(t *testing.T) {
	steward := Viewer{ID: "s", Roles: []string{RoleSteward}}
	officer := Viewer{ID: "o", Roles: []string{RoleShield}}
	src := record.SourceKey{Agency: "education", System: "sims", RecordID: "E1"}
	event := func(field, value string, sensitive bool) child.Event {
		return child.Event{Type: child.TypeCorrectionConfirmed, At: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
			Confirmed: &child.CorrectionConfirmed{Field: field, Source: src, Value: json.RawMessage(value), Reason: "checked", By: "s", Sensitive: sensitive}}
	}
	addr := `{"lines":["1 Secret Road"],"postcode":"LS1 1AA"}`
	withheld := `"` + Withheld + `"`
	tests := []struct {
		name         string
		v            Viewer
		restricted   bool
		e            child.Event
		value, sysID string
	}{
		{"an ordinary child, a steward", steward, false, event("address", addr, false), addr, "sims/E1"},
		{"a restricted child, a steward: no address, no system", steward, true, event("address", addr, false), withheld, "withheld/"},
		{"a restricted child, a steward: the date of birth shows as the shielded view shows it", steward, true, event("birth_date", `"2015-04-14"`, false), `"2015-04-14"`, "withheld/"},
		{"a restricted child, a shield officer", officer, true, event("address", addr, false), addr, "sims/E1"},
		{"a sensitive source, anyone", officer, false, event("birth_date", `"2015-04-14"`, true), `"2015-04-14"`, "withheld/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ShowEvent(tt.v, tt.restricted, tt.e).Confirmed
			if got == nil {
				t.Fatal("the confirmation is not shown")
			}
			if string(got.Value) != tt.value || got.Source.System+"/"+got.Source.RecordID != tt.sysID || got.Source.Agency != "education" {
				t.Fatalf("shown %s from %+v, want %s from %s", got.Value, got.Source, tt.value, tt.sysID)
			}
			if got.Reason != "checked" || got.Field != tt.e.Confirmed.Field {
				t.Fatalf("shown %+v", got)
			}
		})
	}
}
