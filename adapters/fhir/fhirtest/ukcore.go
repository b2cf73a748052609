package fhirtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The UK Core constraints the facade claims, checked beside the R4 schema
// (which knows nothing of profiles). They are the rules of UK Core Patient
// the hub's resources can break, not the whole profile.
const (
	ukCorePatient = UKCorePatientProfile
	// UKCorePatientProfile is the profile a Patient must claim.
	UKCorePatientProfile = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
	nhsSystem            = "https://fhir.nhs.uk/Id/nhs-number"
	verificationExt      = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
	verificationCS       = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
)

// relationshipSystems are those UK Core's person relationship type draws on.
var relationshipSystems = []string{"http://terminology.hl7.org/CodeSystem/v3-RoleCode", "http://terminology.hl7.org/CodeSystem/v2-0131"}

type coding struct{ System, Code string }

type patient struct {
	ResourceType string
	ID           string
	Meta         struct {
		Profile  []string
		Security []coding
	}
	Identifier []struct {
		System, Value string
		Extension     []struct {
			URL                  string
			ValueCodeableConcept struct{ Coding []coding }
		}
	}
	Name    []struct{ Use string }
	Address []json.RawMessage
	Telecom []json.RawMessage
	Contact []struct {
		Relationship []struct {
			Coding []coding
			Text   string
		}
		Name         json.RawMessage
		Telecom      json.RawMessage
		Address      json.RawMessage
		Organization *struct{ Display string }
	}
	GeneralPractitioner []json.RawMessage
	Link                []struct {
		Other struct{ Reference string }
		Type  string
	}
}

// UKCore checks a Patient, or every Patient in a Bundle, against the UK
// Core rules the facade claims; other resources pass.
func UKCore(body []byte) error {
	var head struct {
		ResourceType string
		Entry        []struct {
			FullURL  string
			Resource json.RawMessage
		}
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	switch head.ResourceType {
	case "Patient":
		return ukCorePatientCheck(body)
	case "Bundle":
		for i, e := range head.Entry {
			var rt struct{ ResourceType, ID string }
			_ = json.Unmarshal(e.Resource, &rt)
			if rt.ResourceType != "Patient" {
				continue
			}
			if !strings.HasPrefix(e.FullURL, "http://") && !strings.HasPrefix(e.FullURL, "https://") || !strings.HasSuffix(e.FullURL, "/Patient/"+rt.ID) {
				return fmt.Errorf("entry %d: fullUrl %q is not the absolute URL of Patient/%s", i, e.FullURL, rt.ID)
			}
			if err := ukCorePatientCheck(e.Resource); err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
		}
	}
	return nil
}

func ukCorePatientCheck(b []byte) error {
	var p patient
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("patient: %w", err)
	}
	if !slices.Contains(p.Meta.Profile, ukCorePatient) {
		return errors.New("meta.profile does not claim UKCore-Patient")
	}
	for _, id := range p.Identifier {
		if id.System != nhsSystem {
			if id.System == "" {
				return errors.New("an identifier has no system")
			}
			continue
		}
		if !validNHS(id.Value) {
			return fmt.Errorf("NHS number identifier is not ten digits with a valid check digit")
		}
		n := 0
		for _, e := range id.Extension {
			if e.URL != verificationExt {
				continue
			}
			n++
			cs := e.ValueCodeableConcept.Coding
			if len(cs) != 1 || cs[0].System != verificationCS || len(cs[0].Code) != 2 || cs[0].Code < "01" || cs[0].Code > "08" {
				return fmt.Errorf("NHS number verification status is not a code 01-08 of %s", verificationCS)
			}
		}
		if n != 1 {
			return fmt.Errorf("NHS number carries %d verification status extensions, want 1", n)
		}
	}
	for _, n := range p.Name {
		if !slices.Contains([]string{"usual", "official", "temp", "nickname", "anonymous", "old", "maiden", ""}, n.Use) {
			return fmt.Errorf("name.use %q", n.Use)
		}
	}
	restricted := slices.ContainsFunc(p.Meta.Security, func(c coding) bool { return c.Code == "R" })
	if restricted {
		// PDS's restricted patient: no address, telecom or GP; UK Core lets
		// a contact carry only an organisation, which is whom to ask.
		if len(p.Address)+len(p.Telecom)+len(p.GeneralPractitioner) > 0 {
			return errors.New("restricted patient carries address, telecom or generalPractitioner")
		}
		for _, c := range p.Contact {
			if c.Name != nil || c.Telecom != nil || c.Address != nil || c.Organization == nil {
				return errors.New("restricted patient carries a contact other than whom to ask")
			}
		}
	}
	for _, c := range p.Contact {
		if c.Name == nil && c.Telecom == nil && c.Address == nil && c.Organization == nil {
			return errors.New("pat-1: a contact has neither details nor an organisation")
		}
		for _, r := range c.Relationship {
			for _, cd := range r.Coding {
				if !slices.Contains(relationshipSystems, cd.System) {
					return fmt.Errorf("contact relationship coded in %s, outside UK Core's person relationship type", cd.System)
				}
			}
		}
	}
	for _, l := range p.Link {
		if l.Type != "replaces" && l.Type != "replaced-by" && l.Type != "refer" && l.Type != "seealso" || !strings.HasPrefix(l.Other.Reference, "Patient/") {
			return fmt.Errorf("link %+v", l)
		}
	}
	return nil
}

func validNHS(n string) bool {
	if len(n) != 10 {
		return false
	}
	sum := 0
	for i := 0; i < 10; i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
		if i < 9 {
			sum += int(n[i]-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	return check != 10 && check == int(n[9]-'0')
}
