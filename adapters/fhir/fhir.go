// Package fhir is the hub's FHIR R4 facade: Patient resources, searchset
// Bundles, OperationOutcomes and the CapabilityStatement, mapped from
// directory views that have already passed the access policy. It decides
// nothing about access itself; for a shielded view it marks the resource
// restricted, as NHS PDS does, and leaves out what the policy withheld.
package fhir

import (
	"strings"
	"time"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// Code systems and identifier systems.
const (
	NHSNumberSystem       = "https://fhir.nhs.uk/Id/nhs-number"
	ODSSystem             = "https://fhir.nhs.uk/Id/ods-organization-code"
	UPNSystem             = "https://contactpoint.example.org/fhir/Id/upn"
	ConfidentialitySystem = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	ContentType           = "application/fhir+json; charset=utf-8"
)

// Patient is the subset of FHIR R4 Patient the facade fills.
type Patient struct {
	ResourceType        string         `json:"resourceType"`
	ID                  string         `json:"id"`
	Meta                *Meta          `json:"meta,omitempty"`
	Identifier          []Identifier   `json:"identifier,omitempty"`
	Name                []HumanName    `json:"name,omitempty"`
	Telecom             []ContactPoint `json:"telecom,omitempty"`
	Gender              string         `json:"gender,omitempty"`
	BirthDate           string         `json:"birthDate,omitempty"`
	Address             []Address      `json:"address,omitempty"`
	Contact             []Contact      `json:"contact,omitempty"`
	GeneralPractitioner []Reference    `json:"generalPractitioner,omitempty"`
}

// Meta of a resource.
type Meta struct {
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Security    []Coding `json:"security,omitempty"`
}

// Coding is a code in a system.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is codings or text.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Identifier is a business identifier.
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// HumanName is a person's name.
type HumanName struct {
	Use    string   `json:"use,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

// ContactPoint is a phone number or email address.
type ContactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
	Use    string `json:"use,omitempty"`
}

// Address is a postal address.
type Address struct {
	Use        string   `json:"use,omitempty"`
	Line       []string `json:"line,omitempty"`
	City       string   `json:"city,omitempty"`
	PostalCode string   `json:"postalCode,omitempty"`
}

// Contact is a parent or carer.
type Contact struct {
	Relationship []CodeableConcept `json:"relationship,omitempty"`
	Name         *HumanName        `json:"name,omitempty"`
	Telecom      []ContactPoint    `json:"telecom,omitempty"`
	Address      *Address          `json:"address,omitempty"`
}

// Reference points at another resource, here by identifier only.
type Reference struct {
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Restricted is the security label of a shielded child.
var Restricted = Coding{System: ConfidentialitySystem, Code: "R", Display: "restricted"}

// FromView maps a view that has passed the access policy to a Patient.
// A shielded view is labelled restricted and carries no address, telecom,
// contact or GP whatever the view holds: the facade does not rely on the
// policy alone for what a restricted Patient may never carry.
func FromView(v child.View) Patient {
	p := Patient{ResourceType: "Patient", ID: v.ChildID}
	shielded := v.Notice != nil && v.Notice.Shielded || v.Shield != nil
	if !v.UpdatedAt.IsZero() || shielded {
		p.Meta = &Meta{}
		if !v.UpdatedAt.IsZero() {
			p.Meta.LastUpdated = v.UpdatedAt.UTC().Format(time.RFC3339)
		}
		if shielded {
			p.Meta.Security = []Coding{Restricted}
		}
	}
	if v.NHSNumber != nil {
		p.Identifier = append(p.Identifier, Identifier{System: NHSNumberSystem, Value: v.NHSNumber.Value})
	}
	if v.UPN != nil {
		p.Identifier = append(p.Identifier, Identifier{System: UPNSystem, Value: v.UPN.Value})
	}
	if v.Name != nil {
		p.Name = append(p.Name, humanName("official", v.Name.Value))
	}
	if !shielded {
		for _, n := range v.PreviousNames {
			p.Name = append(p.Name, humanName("old", n.Value))
		}
	}
	if v.Gender != nil {
		p.Gender = v.Gender.Value
	}
	if v.BirthDate != nil {
		p.BirthDate = v.BirthDate.Value
	}
	if shielded {
		// Restricted on the wire for every viewer, shield officers
		// included, as in PDS: whatever receives the resource keeps the
		// label, and the withheld details are read in the record view.
		return p
	}
	if v.Address != nil {
		p.Address = []Address{address(v.Address.Value)}
	}
	for _, c := range v.Contacts {
		p.Contact = append(p.Contact, contact(c.Value))
	}
	if v.GPPractice != nil {
		gp := v.GPPractice.Value
		ref := Reference{Display: gp.Name}
		if gp.ODSCode != "" {
			ref.Identifier = &Identifier{System: ODSSystem, Value: gp.ODSCode}
		}
		p.GeneralPractitioner = []Reference{ref}
	}
	return p
}

func humanName(use string, n record.Name) HumanName {
	h := HumanName{Use: use, Family: n.Family}
	for _, g := range []string{n.Given, n.Middle} {
		if g = strings.TrimSpace(g); g != "" {
			h.Given = append(h.Given, g)
		}
	}
	return h
}

func address(a record.Address) Address {
	return Address{Use: "home", Line: a.Lines, City: a.Town, PostalCode: a.Postcode}
}

func contact(c record.Contact) Contact {
	n := humanName("", c.Name)
	out := Contact{Name: &n, Relationship: []CodeableConcept{{Text: c.Relationship}}}
	if c.Phone != "" {
		out.Telecom = append(out.Telecom, ContactPoint{System: "phone", Value: c.Phone})
	}
	if c.Email != "" {
		out.Telecom = append(out.Telecom, ContactPoint{System: "email", Value: c.Email})
	}
	if c.Address != nil {
		a := address(*c.Address)
		out.Address = &a
	}
	return out
}
