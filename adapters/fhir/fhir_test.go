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
			p := fhir.FromView(shown, fhir.DefaultSystems)
			b, _ := json.Marshal(p)
			if err := fhirtest.Validate(b); err != nil {
				t.Fatalf("invalid Patient: %v\n%s", err, b)
			}
			restricted := p.Meta != nil && len(p.Meta.Security) == 1 && p.Meta.Security[0] == fhir.Restricted
			if restricted != tc.shielded {
				t.Fatalf("restricted=%v: %s", restricted, b)
			}
			if tc.shielded {
				if p.Address != nil || p.Telecom != nil || p.GeneralPractitioner != nil {
					t.Fatalf("restricted patient carries withheld data: %s", b)
				}
				// Whom to contact, and nothing else of a contact.
				if len(p.Contact) != 1 || p.Contact[0].Organization == nil || p.Contact[0].Organization.Display != "Shielding team" ||
					p.Contact[0].Name != nil || p.Contact[0].Telecom != nil || p.Contact[0].Address != nil {
					t.Fatalf("restricted patient's contact: %s", b)
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
			if err := fhirtest.UKCore(b); err != nil {
				t.Fatalf("UK Core: %v\n%s", err, b)
			}
		})
	}
}

func TestBundleOutcomeAndMetadataAreValidFHIR(t *testing.T) {
	shown, _ := access.Show(access.Ordinary, view(false))
	one, zero := 1, 0
	p := fhir.FromView(shown, fhir.DefaultSystems)
	p.Superseded([]fhir.Version{{ID: "0190b6c0-0000-7000-8000-000000000009", Seq: 41}})
	subset, err := fhir.Shape(p, "", []string{"name", "birthDate"})
	if err != nil {
		t.Fatal(err)
	}
	summary, _ := fhir.Shape(p, "true", nil)
	docs := map[string]any{
		"bundle": fhir.Bundle{ResourceType: "Bundle", Type: "searchset", Total: &one,
			Link:  []fhir.BundleLink{{Relation: "self", URL: "http://hub/fhir/Patient?family=hughes"}, {Relation: "next", URL: "http://hub/fhir/Patient?family=hughes&_offset=20"}},
			Entry: []fhir.BundleEntry{{FullURL: "http://hub/fhir/Patient/" + shown.ChildID, Resource: p, Search: fhir.Match(0.9)}, fhir.Warning("informational", "x")}},
		"empty bundle":        fhir.Bundle{ResourceType: "Bundle", Type: "searchset", Total: &zero},
		"outcome":             fhir.Outcome("not-found", "no patient with that id"),
		"spine outcome":       fhir.OutcomeFor(429, "", "", "slow down"),
		"metadata":            fhir.CapabilityStatement("http://hub/fhir", "http://hub", "2025-01-01", fhir.DefaultSystems),
		"elements":            subset,
		"summary":             summary,
		"replaced":            fhir.Replaced(fhir.Version{ID: "0190b6c0-0000-7000-8000-000000000009", Seq: 41}, shown.ChildID, false),
		"replaced restricted": fhir.Replaced(fhir.Version{ID: "0190b6c0-0000-7000-8000-000000000009", Seq: 41}, shown.ChildID, true),
	}
	for name, d := range docs {
		b, _ := json.Marshal(d)
		// The published schema is that of 4.0.0, whose fhirVersion enum
		// predates the 4.0.1 technical correction the facade declares.
		b = []byte(strings.Replace(string(b), `"fhirVersion":"4.0.1"`, `"fhirVersion":"4.0.0"`, 1))
		if err := fhirtest.Validate(b); err != nil {
			t.Errorf("%s: %v\n%s", name, err, b)
		}
		if err := fhirtest.UKCore(b); err != nil {
			t.Errorf("%s: UK Core: %v\n%s", name, err, b)
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
		{q: "identifier=9434765919"},
		{q: "identifier=1234567890", wantErr: true},
		{q: "identifier=T821200714001"},
		{q: "family=hughes&birthdate=2015"},
		{q: "family=hughes&birthdate=2015-03"},
		{q: "family=hughes&birthdate=2015-3", wantErr: true},
		{q: "name=hughes&birthdate=2015-03-14"},
		{q: "name=olivia+hughes&birthdate=2015-03-14"},
		{q: "name=hughes&family=hughes&birthdate=2015-03-14", wantErr: true},
		{q: "family:exact=Hughes&birthdate=2015-03-14"},
		{q: "_id=0190b6c0-0000-7000-8000-000000000001"},
		{q: "_id=0190b6c0-0000-7000-8000-000000000001&family=x", wantErr: true},
		{q: "family=hughes&birthdate=2015-03-14&_max-results=51", wantErr: true},
		{q: "family=hughes&birthdate=2015-03-14&_max-results=5&_exact-match=true"},
		{q: "family=hughes&birthdate=2015-03-14&_fuzzy-match=true&_exact-match=true", wantErr: true},
		{q: "family=hughes&birthdate=2015-03-14&_count=51", wantErr: true},
		{q: "family=hughes&birthdate=2015-03-14&_summary=bogus", wantErr: true},
		{q: "family=hughes", wantErr: true},
		{q: "family=x&birthdate=sa2015-01-01", wantErr: true},
		{q: "family=x&address-postalcode=nowhere", wantErr: true},
		{q: "family=x&name=y", wantErr: true},
		{q: "gender=boy", wantErr: true},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.q)
		c, err := fhir.ParseSearch(q, fhir.DefaultSystems)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err=%v", tt.q, err)
			continue
		}
		if err == nil && c.ID == "" && len(c.Criteria) == 0 {
			t.Errorf("%s: no criteria", tt.q)
		}
	}
}

func TestPartialDatesCoverEveryDay(t *testing.T) {
	for q, want := range map[string][2]string{
		"birthdate=2015":                           {"2015-01-01", "2015-12-31"},
		"birthdate=2016-02":                        {"2016-02-01", "2016-02-29"},
		"birthdate=gt2015":                         {"2016-01-01", ""},
		"birthdate=lt2015-03&birthdate=ge2010":     {"2010-01-01", "2015-02-28"},
		"birthdate=ge2014&birthdate=le2015-06":     {"2014-01-01", "2015-06-30"},
		"birthdate=2015&birthdate=2015-03":         {"2015-03-01", "2015-03-31"},
		"birthdate=ge2015-03-10&birthdate=2015-03": {"2015-03-10", "2015-03-31"},
	} {
		v, _ := url.ParseQuery(q + "&family=hughes&birthdate=le2030-01-01")
		s, err := fhir.ParseSearch(v, fhir.DefaultSystems)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		c := s.Criteria[0]
		to := want[1]
		if to == "" {
			to = "2030-01-01"
		}
		if c.BornFrom != want[0] || c.BornTo != to {
			t.Errorf("%s: %s..%s, want %s..%s", q, c.BornFrom, c.BornTo, want[0], to)
		}
	}
}

func TestIdentifierWithoutSystem(t *testing.T) {
	for q, want := range map[string][2]string{
		"identifier=943+476+5919":  {"9434765919", ""},
		"identifier=t821200714001": {"", "t821200714001"},
		"identifier=" + url.QueryEscape(fhir.DefaultSystems.UPN+"|A801200001001"): {"", "A801200001001"},
	} {
		v, _ := url.ParseQuery(q)
		s, err := fhir.ParseSearch(v, fhir.DefaultSystems)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if c := s.Criteria[0]; c.NHSNumber != want[0] || c.UPN != want[1] {
			t.Errorf("%s: nhs %q upn %q", q, c.NHSNumber, c.UPN)
		}
	}
}

func TestOneWordNameIsEitherName(t *testing.T) {
	v, _ := url.ParseQuery("name=Hughes&birthdate=2015-03-14")
	s, err := fhir.ParseSearch(v, fhir.DefaultSystems)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Criteria) != 2 || s.Criteria[0].Family != "Hughes" || s.Criteria[1].Given != "Hughes" {
		t.Fatalf("criteria %+v", s.Criteria)
	}
}

func TestCapabilityStatementListsEverySearchParameter(t *testing.T) {
	cs := fhir.CapabilityStatement("http://hub/fhir", "http://hub", "2025-01-01", fhir.DefaultSystems)
	b, _ := json.Marshal(cs)
	for _, p := range fhir.SearchParams {
		name := strings.TrimSuffix(p, ":exact")
		if p == "_offset" {
			continue // the hub's paging cursor, in next and previous links
		}
		if !strings.Contains(string(b), `"name":"`+name+`"`) {
			t.Errorf("CapabilityStatement does not list %s", p)
		}
	}
	for _, want := range []string{`"security"`, `Bearer`, fhir.UKCorePatient, "TOO_MANY_MATCHES", "not for browsing"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("CapabilityStatement lacks %s", want)
		}
	}
	sm, _ := json.Marshal(fhir.SmartConfiguration("https://hub.example", true))
	for _, want := range []string{`"token_endpoint":"https://hub.example/v1/auth/login"`, `"authorization_endpoint":"https://hub.example/v1/auth/oidc/login"`} {
		if !strings.Contains(string(sm), want) {
			t.Errorf("smart-configuration lacks %s: %s", want, sm)
		}
	}
}

func TestElementsOnlyLeaveOut(t *testing.T) {
	shown, _ := access.Show(access.Ordinary, view(true))
	res, err := fhir.Shape(fhir.FromView(shown, fhir.DefaultSystems), "", []string{"address", "name"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	if strings.Contains(string(b), "address") || strings.Contains(string(b), "Secret") || !strings.Contains(string(b), "SUBSETTED") || !strings.Contains(string(b), `"code":"R"`) {
		t.Fatalf("subset of a restricted patient: %s", b)
	}
}

// TestSystemsDeriveFromThePublicURL: the hub's own systems are the
// configured public URL's, normalised so that one deployment has one
// spelling, and a URL that would put a query, fragment or user into every
// identifier system is refused.
func TestSystemsDeriveFromThePublicURL(t *testing.T) {
	for _, tc := range []struct {
		in, upn, capability string
		wantErr             bool
	}{
		{in: "https://hub.leeds.gov.uk", upn: "https://hub.leeds.gov.uk/fhir/Id/upn", capability: "https://hub.leeds.gov.uk/fhir/metadata"},
		{in: "HTTPS://Hub.Leeds.GOV.uk/", upn: "https://hub.leeds.gov.uk/fhir/Id/upn", capability: "https://hub.leeds.gov.uk/fhir/metadata"},
		{in: " https://council.gov.uk/contactpoint/ ", upn: "https://council.gov.uk/contactpoint/fhir/Id/upn", capability: "https://council.gov.uk/contactpoint/fhir/metadata"},
		{in: "http://localhost:8080", upn: "http://localhost:8080/fhir/Id/upn", capability: "http://localhost:8080/fhir/metadata"},
		{in: "", wantErr: true},
		{in: "hub.leeds.gov.uk", wantErr: true},
		{in: "ftp://hub.leeds.gov.uk", wantErr: true},
		{in: "https://", wantErr: true},
		{in: "https://hub.leeds.gov.uk/?x=1", wantErr: true},
		{in: "https://hub.leeds.gov.uk/#top", wantErr: true},
		{in: "https://ops@hub.leeds.gov.uk", wantErr: true},
		{in: "mailto:ops@hub.leeds.gov.uk", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s, err := fhir.NewSystems(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (s.UPN != tc.upn || s.Capability != tc.capability) {
				t.Fatalf("systems %+v, want %s and %s", s, tc.upn, tc.capability)
			}
		})
	}
	if strings.Contains(fhir.DefaultSystems.UPN, "example") {
		t.Fatalf("the default UPN system %s is on an example domain", fhir.DefaultSystems.UPN)
	}
}

// TestUPNTravelsOnTheConfiguredSystem: a Patient carries the UPN on the
// deployment's system, a search accepts it by that system and by value
// alone, and refuses it by any other system (another deployment's or the
// default), rather than matching a number that system did not issue.
func TestUPNTravelsOnTheConfiguredSystem(t *testing.T) {
	sys, err := fhir.NewSystems("https://hub.leeds.gov.uk")
	if err != nil {
		t.Fatal(err)
	}
	shown, _ := access.Show(access.Ordinary, view(false))
	p := fhir.FromView(shown, sys)
	found := false
	for _, id := range p.Identifier {
		if id.Value == "A801200001001" {
			found = id.System == "https://hub.leeds.gov.uk/fhir/Id/upn"
		}
	}
	if !found {
		t.Fatalf("UPN not on the configured system: %+v", p.Identifier)
	}
	for _, tc := range []struct {
		q, upn  string
		wantErr bool
	}{
		{q: "https://hub.leeds.gov.uk/fhir/Id/upn|A801200001001", upn: "A801200001001"},
		{q: "T821200714001", upn: "T821200714001"},
		{q: fhir.DefaultSystems.UPN + "|A801200001001", wantErr: true},
		{q: "https://contactpoint.example.org/fhir/Id/upn|A801200001001", wantErr: true},
	} {
		s, err := fhir.ParseSearch(url.Values{"identifier": {tc.q}}, sys)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, want error %v", tc.q, err, tc.wantErr)
			continue
		}
		if err == nil && s.Criteria[0].UPN != tc.upn {
			t.Errorf("%s: searched UPN %q", tc.q, s.Criteria[0].UPN)
		}
	}
	cs, _ := json.Marshal(fhir.CapabilityStatement("https://hub.leeds.gov.uk/fhir", "https://hub.leeds.gov.uk", "2025-01-01", sys))
	for _, want := range []string{`"url":"https://hub.leeds.gov.uk/fhir/metadata"`, "https://hub.leeds.gov.uk/fhir/Id/upn", `"code":"vread"`} {
		if !strings.Contains(string(cs), want) {
			t.Errorf("CapabilityStatement lacks %s", want)
		}
	}
}
