// Package fhir is the hub's FHIR R4 facade: Patient resources, searchset
// Bundles, OperationOutcomes and the CapabilityStatement, mapped from
// directory views that have already passed the access policy. It decides
// nothing about access itself; for a shielded view it marks the resource
// restricted, as NHS PDS does, and leaves out what the policy withheld.
package fhir

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// Code systems, identifier systems and profiles.
const (
	NHSNumberSystem       = "https://fhir.nhs.uk/Id/nhs-number"
	ODSSystem             = "https://fhir.nhs.uk/Id/ods-organization-code"
	ConfidentialitySystem = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	ContentType           = "application/fhir+json; charset=utf-8"

	// UKCorePatient is the profile every Patient claims (meta.profile).
	UKCorePatient = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
	// NHSNumberVerificationExt carries how far an NHS number was checked.
	NHSNumberVerificationExt    = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
	NHSNumberVerificationSystem = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
	RoleCodeSystem              = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
)

// DefaultPublicURL is the public base URL the hub's own systems derive
// from when the deployment names none (public-url): right for a hub that
// answers on one machine, not for one whose identifiers are stored by
// other systems, which must name the address it is reached by.
const DefaultPublicURL = "http://localhost:8080"

// Systems are the URLs the hub owns. They derive from the deployment's
// configured public base URL, never from the host a request arrived on, so
// an identifier a client stores keeps its system whichever proxy or
// address it reached the hub through, and two deployments never share one.
type Systems struct {
	// Base is the public base URL: scheme and host in lower case, a path
	// prefix if any, no trailing slash.
	Base string
	// UPN is the identifier system of the Department for Education's
	// unique pupil number, which has no national FHIR system:
	// <base>/fhir/Id/upn.
	UPN string
	// Capability is the canonical URL of the CapabilityStatement:
	// <base>/fhir/metadata.
	Capability string
}

// NewSystems derives the hub's systems from its public base URL, which
// must be an absolute http or https URL with a host and nothing after the
// path: a query, fragment or user name in it would end up in every
// identifier system.
func NewSystems(publicURL string) (Systems, error) {
	u, err := url.Parse(strings.TrimSpace(publicURL))
	if err != nil {
		return Systems{}, fmt.Errorf("public URL %q does not parse: %w", publicURL, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return Systems{}, fmt.Errorf("public URL %q must start https:// (or http://)", publicURL)
	case u.Host == "" || u.Opaque != "":
		return Systems{}, fmt.Errorf("public URL %q has no host", publicURL)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return Systems{}, fmt.Errorf("public URL %q must be a scheme, host and optional path, without user, query or fragment", publicURL)
	}
	base := strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimRight(u.EscapedPath(), "/")
	return Systems{Base: base, UPN: base + "/fhir/Id/upn", Capability: base + "/fhir/metadata"}, nil
}

// DefaultSystems are those of DefaultPublicURL.
var DefaultSystems = func() Systems {
	s, err := NewSystems(DefaultPublicURL)
	if err != nil {
		panic(err)
	}
	return s
}()

// notTraced is the verification status the hub can vouch for: the number
// passed its check digit, but the hub does not trace numbers against PDS,
// and a source saying it traced one is not evidence the hub holds.
var notTraced = CodeableConcept{Coding: []Coding{{System: NHSNumberVerificationSystem, Code: "02", Display: "Number present but not traced"}}}

// Patient is the subset of FHIR R4 Patient the facade fills.
type Patient struct {
	ResourceType        string         `json:"resourceType"`
	ID                  string         `json:"id"`
	Meta                *Meta          `json:"meta,omitempty"`
	Identifier          []Identifier   `json:"identifier,omitempty"`
	Active              *bool          `json:"active,omitempty"`
	Name                []HumanName    `json:"name,omitempty"`
	Telecom             []ContactPoint `json:"telecom,omitempty"`
	Gender              string         `json:"gender,omitempty"`
	BirthDate           string         `json:"birthDate,omitempty"`
	Address             []Address      `json:"address,omitempty"`
	Contact             []Contact      `json:"contact,omitempty"`
	GeneralPractitioner []Reference    `json:"generalPractitioner,omitempty"`
	Link                []PatientLink  `json:"link,omitempty"`
}

// Meta of a resource.
type Meta struct {
	VersionID   string   `json:"versionId,omitempty"`
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Profile     []string `json:"profile,omitempty"`
	Security    []Coding `json:"security,omitempty"`
	Tag         []Coding `json:"tag,omitempty"`
}

// Coding is a code in a system.
type Coding struct {
	System  string `json:"system,omitempty"`
	Version string `json:"version,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is codings or text.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Extension is a FHIR extension with a coded or string value.
type Extension struct {
	URL                  string           `json:"url"`
	ValueCodeableConcept *CodeableConcept `json:"valueCodeableConcept,omitempty"`
	ValueString          string           `json:"valueString,omitempty"`
}

// Identifier is a business identifier.
type Identifier struct {
	Extension []Extension `json:"extension,omitempty"`
	System    string      `json:"system,omitempty"`
	Value     string      `json:"value,omitempty"`
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

// Contact is a parent or carer, or for a restricted patient whom to ask.
type Contact struct {
	Relationship []CodeableConcept `json:"relationship,omitempty"`
	Name         *HumanName        `json:"name,omitempty"`
	Telecom      []ContactPoint    `json:"telecom,omitempty"`
	Address      *Address          `json:"address,omitempty"`
	Organization *Reference        `json:"organization,omitempty"`
}

// Reference points at another resource, by reference or identifier.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// PatientLink ties a Patient to one it replaced or that replaced it.
type PatientLink struct {
	Other Reference `json:"other"`
	Type  string    `json:"type"`
}

// Restricted is the security label of a shielded child.
var Restricted = Coding{System: ConfidentialitySystem, Code: "R", Display: "restricted"}

// ShieldContactRelationship labels the one contact a restricted Patient
// carries: the route the shield names, not a relative.
const ShieldContactRelationship = "Contact for this restricted record"

// FromView maps a view that has passed the access policy to a Patient.
// Whether the view is restricted is what the policy said (its notice); the
// facade only decides how a restricted view goes on the wire: labelled R,
// as PDS labels a restricted patient, with the name, birth date, gender,
// identifiers and whom to contact, and nothing else whatever the view
// holds (a shield officer's view included), so that whatever receives the
// resource keeps the label and the details are read in the record view.
func FromView(v child.View, sys Systems) Patient {
	p := Patient{ResourceType: "Patient", ID: v.ChildID, Meta: &Meta{Profile: []string{UKCorePatient}}}
	restricted := v.Notice != nil && v.Notice.Shielded
	if !v.UpdatedAt.IsZero() {
		p.Meta.LastUpdated = v.UpdatedAt.UTC().Format(time.RFC3339)
	}
	if restricted {
		p.Meta.Security = []Coding{Restricted}
	}
	if v.NHSNumber != nil {
		p.Identifier = append(p.Identifier, Identifier{System: NHSNumberSystem, Value: v.NHSNumber.Value,
			Extension: []Extension{{URL: NHSNumberVerificationExt, ValueCodeableConcept: &notTraced}}})
	}
	if v.UPN != nil {
		p.Identifier = append(p.Identifier, Identifier{System: sys.UPN, Value: v.UPN.Value})
	}
	if v.Name != nil {
		p.Name = append(p.Name, humanName("official", v.Name.Value))
	}
	if !restricted {
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
	if restricted {
		if c := v.Notice.Contact; c != "" {
			p.Contact = []Contact{{Relationship: []CodeableConcept{{Text: ShieldContactRelationship}}, Organization: &Reference{Display: c}}}
		}
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

// Version is one version of a Patient: its id and meta.versionId, the
// CHILDREN sequence of the last message the directory applied to it.
type Version struct {
	ID  string
	Seq uint64
}

// Reference is the version-specific reference of the version.
func (v Version) Reference() string { return fmt.Sprintf("Patient/%s/_history/%d", v.ID, v.Seq) }

// Superseded adds to a survivor the children it absorbed, as PDS signals a
// superseded NHS number: the survivor "replaces" each of them. Each link
// names the absorbed record's last version, which a vread answers with
// that record's replaced-by form; the plain id would read as the survivor.
func (p *Patient) Superseded(absorbed []Version) {
	for _, v := range absorbed {
		p.Link = append(p.Link, PatientLink{Other: Reference{Reference: v.Reference()}, Type: "replaces"})
	}
}

// Replaced is an absorbed child's own last version, as a vread of it
// answers: no data, only that it is inactive and which Patient replaced
// it. The data always comes from the survivor. A restricted survivor's
// label goes with it, so whatever receives the link treats it as the
// survivor's.
func Replaced(old Version, survivorID string, restricted bool) Patient {
	inactive := false
	p := Patient{ResourceType: "Patient", ID: old.ID, Active: &inactive,
		Meta: &Meta{VersionID: fmt.Sprint(old.Seq), Profile: []string{UKCorePatient}},
		Link: []PatientLink{{Other: Reference{Reference: "Patient/" + survivorID}, Type: "replaced-by"}}}
	if restricted {
		p.Meta.Security = []Coding{Restricted}
	}
	return p
}

// relationshipCodes are the feed's relationships that have a code in
// HL7's RoleCode (which UK Core's person relationship type draws on);
// the rest travel as text only rather than under a code that is nearly
// right.
var relationshipCodes = map[string]Coding{
	"mother":      {System: RoleCodeSystem, Code: "MTH", Display: "mother"},
	"father":      {System: RoleCodeSystem, Code: "FTH", Display: "father"},
	"parent":      {System: RoleCodeSystem, Code: "PRN", Display: "parent"},
	"step-parent": {System: RoleCodeSystem, Code: "STPPRN", Display: "step parent"},
	"guardian":    {System: RoleCodeSystem, Code: "GUARD", Display: "guardian"},
	"grandparent": {System: RoleCodeSystem, Code: "GRPRN", Display: "grandparent"},
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
	rel := CodeableConcept{Text: c.Relationship}
	if code, ok := relationshipCodes[c.Relationship]; ok {
		rel.Coding = []Coding{code}
	}
	out := Contact{Name: &n, Relationship: []CodeableConcept{rel}}
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
