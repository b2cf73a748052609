package fhir_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"contactpoint/adapters/fhir"
	"contactpoint/adapters/fhir/fhirtest"
	"contactpoint/domain/access"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

func view(shielded bool) child.View {
	s := child.NewState("0190b6c0-0000-7000-8000-000000000001")
	up := time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)
	s.Apply(child.Batch{Events: []child.Event{{Type: child.TypeStated, Stated: &child.Stated{
		Source: record.Source{Agency: "health", System: "pas", RecordID: "P1", UpdatedAt: &up},
		Child: record.Child{
			Identifiers: &record.Identifiers{NHSNumber: "9434765919", UPN: "A801200001001"},
			Name:        record.Name{Given: "Olivia", Middle: "Rose", Family: "Hughes"}, PreviousNames: []record.Name{{Given: "Olivia", Family: "Oldname"}},
			BirthDate: "2015-03-14", Gender: "female",
			Address:    &record.Address{Lines: []string{"12 Secret Row"}, Town: "Leeds", Postcode: "LS6 2AB"},
			Contacts:   []record.Contact{{Relationship: "mother", Name: record.Name{Given: "Mary", Family: "Hughes"}, Phone: "07700900111", Email: "m@example.org"}},
			GPPractice: &record.GPPractice{ODSCode: "B86001", Name: "Hidden Surgery"},
		}}}}})
	if shielded {
		s.Apply(child.Batch{Events: []child.Event{{Type: child.TypeShieldApplied, Shield: &child.Shield{ReasonCategory: "x", ReviewDate: "2030-01-01", Contact: "Shielding team"}}}})
	}
	return child.Survive(s, nil)
}

func TestPatientIsValidFHIR(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shielded bool
		viewer   access.Viewer
	}{
		{"open", false, access.Ordinary},
		{"shielded ordinary", true, access.Ordinary},
		{"shielded officer", true, access.Viewer{Roles: []string{access.RoleShield}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shown, _ := access.Show(tc.viewer, view(tc.shielded))
			p := fhir.FromView(shown)
			b, _ := json.Marshal(p)
			if err := fhirtest.Validate(b); err != nil {
				t.Fatalf("invalid Patient: %v\n%s", err, b)
			}
			restricted := p.Meta != nil && len(p.Meta.Security) == 1 && p.Meta.Security[0] == fhir.Restricted
			if restricted != tc.shielded {
				t.Fatalf("restricted=%v: %s", restricted, b)
			}
			if tc.shielded {
				if p.Address != nil || p.Telecom != nil || p.Contact != nil || p.GeneralPractitioner != nil {
					t.Fatalf("restricted patient carries withheld data: %s", b)
				}
				hidden := []string{"Secret", "LS6", "Mary", "07700900111", "B86001", "Oldname"}
				if !access.SeesShielded(tc.viewer) {
					hidden = append(hidden, "Rose") // middle name
				}
				for _, hidden := range hidden {
					if strings.Contains(string(b), hidden) {
						t.Fatalf("restricted patient shows %q: %s", hidden, b)
					}
				}
			} else if p.Address == nil || p.Contact == nil || p.GeneralPractitioner == nil {
				t.Fatalf("open patient lacks details: %s", b)
			}
		})
	}
}

func TestBundleOutcomeAndMetadataAreValidFHIR(t *testing.T) {
	shown, _ := access.Show(access.Ordinary, view(false))
	docs := map[string]any{
		"bundle": fhir.Bundle{ResourceType: "Bundle", Type: "searchset", Total: 1,
			Link:  []fhir.BundleLink{{Relation: "self", URL: "http://hub/fhir/Patient?family=hughes"}},
			Entry: []fhir.BundleEntry{{FullURL: "http://hub/fhir/Patient/" + shown.ChildID, Resource: fhir.FromView(shown), Search: fhir.EntrySearch{Mode: "match", Score: 0.9}}}},
		"empty bundle": fhir.Bundle{ResourceType: "Bundle", Type: "searchset"},
		"outcome":      fhir.Outcome("not-found", "no patient with that id"),
		"metadata":     fhir.CapabilityStatement("http://hub/fhir", "2025-01-01"),
	}
	for name, d := range docs {
		b, _ := json.Marshal(d)
		// The published schema is that of 4.0.0, whose fhirVersion enum
		// predates the 4.0.1 technical correction the facade declares.
		b = []byte(strings.Replace(string(b), `"fhirVersion":"4.0.1"`, `"fhirVersion":"4.0.0"`, 1))
		if err := fhirtest.Validate(b); err != nil {
			t.Errorf("%s: %v\n%s", name, err, b)
		}
	}
	// The schema is not a rubber stamp.
	if err := fhirtest.Validate([]byte(`{"resourceType":"Patient","gender":"boy"}`)); err == nil {
		t.Fatal("schema accepted an invalid gender")
	}
}

func TestParseSearch(t *testing.T) {
	tests := []struct {
		q       string
		wantErr bool
		check   func(t *testing.T, c any)
	}{
		{q: "family=hughes&birthdate=2015-03-14"},
		{q: "family=hughes&birthdate=ge2014-01-01&birthdate=le2016-01-01"},
		{q: "identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919"},
		{q: "identifier=9434765919", wantErr: true},
		{q: "family=x&birthdate=sa2015-01-01", wantErr: true},
		{q: "family=x&address-postalcode=nowhere", wantErr: true},
		{q: "family=x&name=y", wantErr: true},
		{q: "gender=boy", wantErr: true},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.q)
		c, err := fhir.ParseSearch(q)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err=%v", tt.q, err)
			continue
		}
		if err == nil && c.Check() != nil {
			t.Errorf("%s: criteria refused: %v", tt.q, c.Check())
		}
	}
}
