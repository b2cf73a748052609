package child

import (
	"bytes"
	"encoding/json"
	"testing"

	"contactpoint/domain/retention"
)

func TestRetentionEvents(t *testing.T) {
	st := NewState("c1")
	st.Apply(Batch{ChildID: "c1", Events: []Event{
		statedBy("health", "pas", "RI-1", "2026-01-01T00:00:00Z", base()),
		{Type: TypeShieldApplied, Shield: &Shield{Contact: "Shield Desk 0113"}},
		{Type: TypeRetentionException, Retention: &RetentionException{Kind: retention.ExCareLeaverConsent, Reason: "consent form", By: "p1"}},
		{Type: TypeRetentionException, Retention: &RetentionException{Kind: retention.ExLegalHold, Reason: "inquiry", By: "p2"}},
	}})
	if st.Status() != "active" {
		t.Fatalf("status %s", st.Status())
	}
	f := st.RetentionFacts(*at("2004-01-01T00:00:00Z"))
	if !f.CareLeaverConsent || !f.LegalHold || !f.ArchivedOn.IsZero() {
		t.Fatalf("facts %+v", f)
	}
	st.Apply(Batch{ChildID: "c1", Events: []Event{
		{Type: TypeRetentionException, Retention: &RetentionException{Kind: retention.ExCareLeaverWithdrawn, Reason: "withdrawn", By: "p1"}},
		{Type: TypeArchived, Archived: &Archived{On: "2026-06-14", Rule: retention.RuleAge18, Reason: "18", By: "hub/retention"}},
		// A second archive (a retry) does not move the date.
		{Type: TypeArchived, Archived: &Archived{On: "2026-06-15", Rule: retention.RuleAge18, By: "hub/retention"}},
	}})
	if st.Status() != "archived" || st.Retention.ArchivedOn != "2026-06-14" || st.Retention.CareLeaverConsent {
		t.Fatalf("after archive: %s %+v", st.Status(), st.Retention)
	}
	// The state survives its stored form.
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	back := NewState("")
	if err := json.Unmarshal(raw, back); err != nil {
		t.Fatal(err)
	}
	if back.Status() != "archived" || !back.Retention.LegalHold {
		t.Fatalf("stored: %s %+v", back.Status(), back.Retention)
	}
	st.Apply(Batch{ChildID: "c1", Events: []Event{{Type: TypeErased, At: *at("2032-06-14T02:00:00Z"), Erased: &Erased{Rule: retention.RuleErase6y, Reason: "six years", By: "hub/retention", ArchivedOn: "2026-06-14"}}}})
	if st.Status() != "erased" || len(st.Sources) != 0 || st.Shield != nil {
		t.Fatalf("after erasure: %s, %d sources, shield %v", st.Status(), len(st.Sources), st.Shield)
	}
	raw, _ = json.Marshal(st)
	for _, personal := range []string{"Olivia", "Hughes", "9434765919", "Elm Grove", "LS6 2AB", "Shield Desk", "consent form", "inquiry"} {
		if bytes.Contains(raw, []byte(personal)) {
			t.Errorf("erased state still holds %q", personal)
		}
	}
	if v := Survive(st, DefaultRules()); v.Name != nil || v.Address != nil {
		t.Errorf("erased view shows data: %+v", v)
	}
}
