// Package record holds the canonical feed record: one agency's statement of the
// basic information it holds about one child. Every adapter (HTTP JSON, NATS,
// HL7 v2, CTF, CSV) ends in this type; schemas/feed-record.v1.json is its
// authoritative definition, and the Go types mirror it field for field.
package record

import (
	"fmt"
	"strings"
	"time"
)

// SchemaID is the value of the "schema" member that every record carries.
const SchemaID = "contactpoint.feed-record.v1"

// Operations a source may state.
const (
	OpUpsert   = "upsert"
	OpWithdraw = "withdraw"
	// OpMerge: the source merged another of its records into this one.
	OpMerge = "merge"
)

// Agencies that may feed the hub. The set is closed: the schema refuses others.
var Agencies = []string{"health", "education", "social-care", "youth-justice"}

// IsAgency reports whether a is one of Agencies.
func IsAgency(a string) bool {
	for _, x := range Agencies {
		if x == a {
			return true
		}
	}
	return false
}

// IsSystem reports whether s is a well-formed system name, as the schema's
// source.system pattern says: 1–40 characters of a–z, 0–9 and '-', starting
// with a letter or digit. Channels check it before trusting a name they were
// given, so that it is safe as one subject token.
func IsSystem(s string) bool {
	if len(s) == 0 || len(s) > 40 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Record is the canonical feed record.
type Record struct {
	Schema    string    `json:"schema"`
	Source    Source    `json:"source"`
	Operation string    `json:"operation"`
	Child     *Child    `json:"child,omitempty"`
	Consents  []Consent `json:"consents,omitempty"`
	Merge     *Merge    `json:"merge,omitempty"`
}

// Merge names the record a source merged into this one.
type Merge struct {
	AbsorbedRecordID string `json:"absorbed_record_id"`
}

// Source says who stated the record: agency, system and the system's own id.
type Source struct {
	Agency    string     `json:"agency"`
	System    string     `json:"system"`
	RecordID  string     `json:"record_id"`
	Version   string     `json:"version,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// Key identifies a source record across the hub: the same key is the same
// record however often it is resent.
func (s Source) Key() SourceKey { return SourceKey{s.Agency, s.System, s.RecordID} }

// SourceKey is the identity of one record in one agency system.
type SourceKey struct {
	Agency   string `json:"agency"`
	System   string `json:"system"`
	RecordID string `json:"record_id"`
}

func (k SourceKey) String() string { return k.Agency + "/" + k.System + "/" + k.RecordID }

// Subject is the FEEDS subject the record travels on.
func (s Source) Subject() string { return "feeds." + s.Agency + "." + s.System }

// Name is a person's name as a source holds it.
type Name struct {
	Given     string `json:"given,omitempty"`
	Middle    string `json:"middle,omitempty"`
	Family    string `json:"family"`
	Preferred string `json:"preferred,omitempty"`
}

func (n Name) String() string {
	return strings.Join(strings.Fields(n.Given+" "+n.Middle+" "+n.Family), " ")
}

// Address is where the child lives. Most are UK postal addresses with a
// postcode; but a child of no fixed abode, on a Traveller site or living
// abroad is a real child with a real record, so a postcode is not required
// (see the feed schema for what each Kind must carry), and "no known
// address" is itself a value a source may state.
type Address struct {
	Kind     string   `json:"kind,omitempty"` // AddressResidential when empty
	Lines    []string `json:"lines,omitempty"`
	Town     string   `json:"town,omitempty"`
	Postcode string   `json:"postcode,omitempty"`
	Country  string   `json:"country,omitempty"`
	From     string   `json:"from,omitempty"`
}

// Address kinds.
const (
	AddressResidential  = "residential"
	AddressNoFixedAbode = "no-fixed-abode"
	AddressTraveller    = "traveller-site"
	AddressAbroad       = "abroad"
	AddressNoneKnown    = "no-known-address"
)

// Identifiers are the national and local identifiers for a child.
type Identifiers struct {
	NHSNumber string    `json:"nhs_number,omitempty"`
	UPN       string    `json:"upn,omitempty"`
	Local     []LocalID `json:"local,omitempty"`
}

// LocalID is an identifier issued by one agency system.
type LocalID struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// Contact is a parent or carer.
type Contact struct {
	Relationship           string   `json:"relationship"`
	ParentalResponsibility bool     `json:"parental_responsibility,omitempty"`
	Name                   Name     `json:"name"`
	Phone                  string   `json:"phone,omitempty"`
	Email                  string   `json:"email,omitempty"`
	Address                *Address `json:"address,omitempty"`
}

// School is the child's school or education provider.
type School struct {
	URN   string `json:"urn,omitempty"`
	Name  string `json:"name"`
	Phone string `json:"phone,omitempty"`
	From  string `json:"from,omitempty"`
}

// GPPractice is the practice the child is registered with.
type GPPractice struct {
	ODSCode string `json:"ods_code,omitempty"`
	Name    string `json:"name"`
	Phone   string `json:"phone,omitempty"`
}

// Practitioner is a named professional working with the child.
type Practitioner struct {
	Name  string `json:"name"`
	Role  string `json:"role,omitempty"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

// Involvement is a service or practitioner working with the child.
type Involvement struct {
	Service          string        `json:"service"`
	Kind             string        `json:"kind,omitempty"`
	Organisation     string        `json:"organisation,omitempty"`
	Practitioner     *Practitioner `json:"practitioner,omitempty"`
	Phone            string        `json:"phone,omitempty"`
	LeadProfessional bool          `json:"lead_professional,omitempty"`
	From             string        `json:"from,omitempty"`
}

// SensitiveKinds are the kinds of service that may be held only with consent
// and are never named in any view.
var SensitiveKinds = map[string]bool{"drug": true, "alcohol": true, "sexual-health": true, "mental-health": true}

// Sensitive reports whether the involvement is of a sensitive kind.
func (i Involvement) Sensitive() bool { return SensitiveKinds[i.Kind] }

// CAF records whether a Common Assessment Framework assessment exists.
type CAF struct {
	Exists      bool   `json:"exists"`
	CompletedOn string `json:"completed_on,omitempty"`
}

// Consent is recorded consent for the hub to hold a kind of information.
type Consent struct {
	Scope      string    `json:"scope"`
	GivenBy    string    `json:"given_by"`
	RecordedBy string    `json:"recorded_by,omitempty"`
	RecordedAt time.Time `json:"recorded_at"`
	Withdrawn  bool      `json:"withdrawn,omitempty"`
}

// ConsentSensitive is the consent scope that allows sensitive services.
const ConsentSensitive = "sensitive-services"

// Child is the basic information a source holds about a child.
type Child struct {
	Identifiers   *Identifiers  `json:"identifiers,omitempty"`
	Name          Name          `json:"name"`
	PreviousNames []Name        `json:"previous_names,omitempty"`
	BirthDate     string        `json:"birth_date"`
	Gender        string        `json:"gender,omitempty"`
	Address       *Address      `json:"address,omitempty"`
	Contacts      []Contact     `json:"contacts,omitempty"`
	School        *School       `json:"school,omitempty"`
	GPPractice    *GPPractice   `json:"gp_practice,omitempty"`
	Involvements  []Involvement `json:"involvements,omitempty"`
	CAF           *CAF          `json:"caf,omitempty"`
}

// NHSNumber returns the child's NHS number or "".
func (c *Child) NHSNumber() string {
	if c == nil || c.Identifiers == nil {
		return ""
	}
	return c.Identifiers.NHSNumber
}

// UPN returns the child's UPN or "".
func (c *Child) UPN() string {
	if c == nil || c.Identifiers == nil {
		return ""
	}
	return c.Identifiers.UPN
}

// FieldError is one reason a record is refused: the JSON pointer of the field,
// the rule it broke and a sentence an integrator can act on.
type FieldError struct {
	Field   string `json:"field"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

func (e FieldError) Error() string { return fmt.Sprintf("%s: %s (%s)", e.Field, e.Message, e.Rule) }

// Invalid is the error of a record that may not enter the hub.
type Invalid struct{ Errors []FieldError }

func (e *Invalid) Error() string {
	parts := make([]string, 0, len(e.Errors))
	for _, fe := range e.Errors {
		parts = append(parts, fe.Error())
	}
	return "invalid record: " + strings.Join(parts, "; ")
}

// CheckRules applies the rules the schema cannot express across fields: a
// sensitive service is held only with a recorded, unwithdrawn consent.
func (r *Record) CheckRules() []FieldError {
	var errs []FieldError
	if r.Child == nil {
		return nil
	}
	consented := HasSensitiveConsent(r.Consents)
	for i, inv := range r.Child.Involvements {
		if inv.Sensitive() && !consented {
			errs = append(errs, FieldError{
				Field:   fmt.Sprintf("/child/involvements/%d/kind", i),
				Rule:    "sensitive-service-consent",
				Message: "a sensitive service may be recorded only with the recorded consent of the young person or a parent/carer (consents[].scope \"sensitive-services\")",
			})
		}
	}
	if a := r.Child.Address; a != nil && a.Kind == AddressNoneKnown && (len(a.Lines) > 0 || a.Town != "" || a.Postcode != "" || a.Country != "") {
		errs = append(errs, FieldError{
			Field: "/child/address/kind", Rule: "no-known-address",
			Message: "an address of kind no-known-address says the source holds no address: it carries no lines, town, postcode or country",
		})
	}
	return errs
}

// HasSensitiveConsent reports whether the latest consent for sensitive
// services stands.
func HasSensitiveConsent(cs []Consent) bool {
	var latest *Consent
	for i := range cs {
		c := &cs[i]
		if c.Scope != ConsentSensitive {
			continue
		}
		if latest == nil || !c.RecordedAt.Before(latest.RecordedAt) {
			latest = c
		}
	}
	return latest != nil && !latest.Withdrawn
}
