// Package schemas embeds the versioned JSON Schemas that say what the hub may
// hold, and validates feed records against them. The schemas are the single
// source of truth: the Go types in domain/record mirror them, and nothing
// reaches the event log without passing them.
package schemas

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"contactpoint/domain/ident"
	"contactpoint/domain/record"
)

//go:embed *.json examples/*.json
var FS embed.FS

// FeedRecordV1 is the file name of the canonical feed record schema.
const FeedRecordV1 = "feed-record.v1.json"

// MaxRecordBytes bounds one record: a child's basic information is a few
// kilobytes, so anything far larger is a mistake or an attack.
const MaxRecordBytes = 64 << 10

// forbidden names fields that agencies' systems commonly hold but the hub is
// never allowed to: they get a sharper message than an unknown field.
var forbidden = map[string]string{
	"diagnosis": "health", "diagnoses": "health", "condition": "health", "conditions": "health",
	"medication": "health", "medications": "health", "allergies": "health", "clinical": "health",
	"notes": "case notes", "case_notes": "case notes", "casenotes": "case notes", "comments": "case notes",
	"assessment": "assessment", "assessment_outcome": "assessment", "attainment": "attainment",
	"results": "attainment", "grades": "attainment", "attendance": "attendance", "exclusions": "attendance",
	"sen": "special educational needs", "send": "special educational needs",
	"ethnicity": "ethnicity", "religion": "religion", "nationality": "nationality",
	"disability": "health", "risk": "case notes", "concerns": "case notes",
}

var postcodeRE = regexp.MustCompile(`^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$`)

// NormalisePostcode upper-cases a UK postcode and puts exactly one space
// before the inward code; it returns "" for a string that is not one.
func NormalisePostcode(s string) string {
	p := strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if len(p) < 5 || len(p) > 7 {
		return ""
	}
	p = p[:len(p)-3] + " " + p[len(p)-3:]
	if !postcodeRE.MatchString(p) {
		return ""
	}
	return p
}

// Validator checks feed records against the embedded schema and the rules
// that span fields. It is safe for concurrent use.
type Validator struct {
	schema *jsonschema.Schema
	now    func() time.Time
}

// NewValidator compiles the feed record schema. now gives "today" for the
// date-of-birth rule; nil means time.Now.
func NewValidator(now func() time.Time) (*Validator, error) {
	if now == nil {
		now = time.Now
	}
	v := &Validator{now: now}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "nhs-number", Validate: stringFormat(func(s string) error {
		return ident.CheckNHS(ident.NormaliseNHS(s))
	})})
	c.RegisterFormat(&jsonschema.Format{Name: "upn", Validate: stringFormat(func(s string) error {
		return ident.CheckUPN(ident.NormaliseUPN(s))
	})})
	c.RegisterFormat(&jsonschema.Format{Name: "uk-postcode", Validate: stringFormat(func(s string) error {
		if NormalisePostcode(s) == "" {
			return errors.New("not a UK postcode")
		}
		return nil
	})})
	c.RegisterFormat(&jsonschema.Format{Name: "child-birth-date", Validate: stringFormat(v.checkBirthDate)})
	raw, err := FS.ReadFile(FeedRecordV1)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	if err := c.AddResource(FeedRecordV1, doc); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	if v.schema, err = c.Compile(FeedRecordV1); err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	return v, nil
}

func stringFormat(f func(string) error) func(any) error {
	return func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil // the type keyword reports non-strings
		}
		return f(s)
	}
}

func (v *Validator) checkBirthDate(s string) error {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return errors.New("not a real calendar date in YYYY-MM-DD form")
	}
	y, m, dd := v.now().UTC().Date()
	today := time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
	if d.After(today) {
		return errors.New("date of birth is in the future")
	}
	if d.Before(today.AddDate(-18, 0, 0)) {
		return errors.New("date of birth is more than 18 years ago: the hub holds children and young people up to 18")
	}
	return nil
}

// Decode validates raw JSON as a feed record and returns it normalised
// (identifiers without spaces, postcodes in standard form). A refused record
// gets every reason, each naming its field and rule.
func (v *Validator) Decode(raw []byte) (*record.Record, error) {
	if len(raw) > MaxRecordBytes {
		return nil, &record.Invalid{Errors: []record.FieldError{{Field: "", Rule: "max-size",
			Message: fmt.Sprintf("record is %d bytes; at most %d are allowed", len(raw), MaxRecordBytes)}}}
	}
	// The record carries no numbers, so float64 (rather than json.Number)
	// loses nothing, and a faster decoder than the validator's own halves
	// the cost of intake.
	var inst any
	if err := json.Unmarshal(raw, &inst); err != nil {
		return nil, &record.Invalid{Errors: []record.FieldError{{Field: "", Rule: "json",
			Message: "not well-formed JSON: " + err.Error()}}}
	}
	if err := v.schema.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return nil, &record.Invalid{Errors: fieldErrors(ve)}
		}
		return nil, fmt.Errorf("validate record: %w", err)
	}
	var r record.Record
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		// The schema accepted it, so this is a mismatch between schema and types.
		return nil, fmt.Errorf("decode valid record: %w", err)
	}
	normalise(&r)
	if fes := r.CheckRules(); len(fes) > 0 {
		return nil, &record.Invalid{Errors: fes}
	}
	return &r, nil
}

func normalise(r *record.Record) {
	c := r.Child
	if c == nil {
		return
	}
	if c.Identifiers != nil {
		c.Identifiers.NHSNumber = ident.NormaliseNHS(c.Identifiers.NHSNumber)
		c.Identifiers.UPN = ident.NormaliseUPN(c.Identifiers.UPN)
	}
	if c.Address != nil {
		c.Address.Postcode = NormalisePostcode(c.Address.Postcode)
		pseudoPostcode(c.Address)
	}
	for i := range c.Contacts {
		if a := c.Contacts[i].Address; a != nil {
			a.Postcode = NormalisePostcode(a.Postcode)
		}
	}
}

// pseudoPostcode turns the NHS pseudo-postcodes that health systems record
// for a child without a usable address into what they mean: ZZ99 3VZ is no
// fixed abode, ZZ99 3WZ no known address, ZZ99 3CZ (and the other home
// nations' ZZ99 codes) a UK address whose postcode is not known, and any
// other ZZ99 code a country abroad. Kept as a postcode it would be one that
// every such child shares.
func pseudoPostcode(a *record.Address) {
	if !strings.HasPrefix(a.Postcode, "ZZ99 ") {
		return
	}
	code := a.Postcode
	a.Postcode = ""
	switch code {
	case "ZZ99 3VZ":
		a.Kind = record.AddressNoFixedAbode
	case "ZZ99 3WZ":
		if len(a.Lines) == 0 && a.Town == "" {
			*a = record.Address{Kind: record.AddressNoneKnown, From: a.From}
		}
	case "ZZ99 3CZ", "ZZ99 3GZ", "ZZ99 1WZ", "ZZ99 2WZ":
		// A home nation: a UK address, postcode unknown.
	default:
		a.Kind = record.AddressAbroad
		if a.Country == "" {
			a.Country = "not stated"
		}
	}
}

var printer = message.NewPrinter(language.English)

// fieldErrors flattens the validator's tree to its leaves, one per broken
// rule, sorted by field so that the same record always reads the same.
func fieldErrors(ve *jsonschema.ValidationError) []record.FieldError {
	var out []record.FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		out = append(out, leafErrors(e)...)
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return dedupe(out)
}

func pointer(loc []string, extra ...string) string {
	var b strings.Builder
	for _, t := range append(append([]string{}, loc...), extra...) {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

func leafErrors(e *jsonschema.ValidationError) []record.FieldError {
	loc := e.InstanceLocation
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		var out []record.FieldError
		for _, p := range k.Properties {
			fe := record.FieldError{Field: pointer(loc, p), Rule: "basic-information-only"}
			if what, ok := forbidden[strings.ToLower(p)]; ok {
				fe.Rule = "forbidden-field"
				fe.Message = fmt.Sprintf("field %q carries %s information, which the hub is not allowed to hold: it may hold basic information only", p, what)
			} else {
				fe.Message = fmt.Sprintf("field %q is not part of the feed record: the hub may hold basic information only", p)
			}
			out = append(out, fe)
		}
		return out
	case *kind.Required:
		var out []record.FieldError
		for _, m := range k.Missing {
			out = append(out, record.FieldError{Field: pointer(loc, m), Rule: "required", Message: fmt.Sprintf("field %q is required", m)})
		}
		return out
	case *kind.Format:
		msg := fmt.Sprintf("not a valid %s", k.Want)
		if k.Err != nil {
			msg = k.Err.Error()
		}
		return []record.FieldError{{Field: pointer(loc), Rule: "format:" + k.Want, Message: msg}}
	default:
		kw := e.ErrorKind.KeywordPath()
		rule := "schema"
		if len(kw) > 0 {
			rule = kw[len(kw)-1]
		}
		return []record.FieldError{{Field: pointer(loc), Rule: rule, Message: e.ErrorKind.LocalizedString(printer)}}
	}
}

func dedupe(in []record.FieldError) []record.FieldError {
	seen := make(map[record.FieldError]bool, len(in))
	out := in[:0]
	for _, fe := range in {
		if !seen[fe] {
			seen[fe] = true
			out = append(out, fe)
		}
	}
	return out
}
