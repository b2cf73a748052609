// Package csvfeed reads the CSV extracts that social-care (and other) case
// management systems produce, with the meaning of each column given by a
// mapping in configuration rather than by code, since every system names
// its columns differently. Only mapped columns are read: anything else in
// the file (case notes, assessments, flags) is never looked at, and is left
// out of the bytes kept for quarantine too.
package csvfeed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Mapping says which CSV column feeds which field of the canonical record.
// Field paths follow the record's JSON names, with list positions as
// numbers: "child.name.family", "child.address.lines.0",
// "child.contacts.1.phone", "child.involvements.0.practitioner.name".
type Mapping struct {
	// Columns maps a record field path to the CSV header that holds it.
	Columns map[string]string `mapstructure:"columns" yaml:"columns" json:"columns"`
	// RecordID is the header of the column holding the system's own id for
	// the child; the same as Columns["source.record_id"], which may be used instead.
	RecordID string `mapstructure:"record_id" yaml:"record_id" json:"record_id"`
	// DateFormat is the layout of date columns, as a Go layout ("02/01/2006")
	// or with letters ("dd/mm/yyyy"); empty means ISO 8601 (2006-01-02).
	DateFormat string `mapstructure:"date_format" yaml:"date_format" json:"date_format"`
	// TimeFormat is the layout of source.updated_at; empty means RFC 3339.
	TimeFormat string `mapstructure:"time_format" yaml:"time_format" json:"time_format"`
	// Gender maps the system's codes to female, male, other or unknown;
	// when empty, common codes (M, F, U, Male, ...) are understood.
	Gender map[string]string `mapstructure:"gender" yaml:"gender" json:"gender"`
	// Relationship maps the system's contact relationship codes to the
	// record's (mother, father, parent, step-parent, carer, foster-carer,
	// guardian, grandparent, other).
	Relationship map[string]string `mapstructure:"relationship" yaml:"relationship" json:"relationship"`
	// Kind maps the system's service types to involvement kinds.
	Kind map[string]string `mapstructure:"kind" yaml:"kind" json:"kind"`
	// Operation maps the values of the "operation" column (e.g. "D") to
	// upsert or withdraw; rows without the column are upserts.
	Operation map[string]string `mapstructure:"operation" yaml:"operation" json:"operation"`
	// Defaults gives fixed values for fields the file does not carry, such
	// as the service and organisation of every involvement in the extract.
	Defaults map[string]string `mapstructure:"defaults" yaml:"defaults" json:"defaults"`
	// Comma is the field separator; empty means ",".
	Comma string `mapstructure:"comma" yaml:"comma" json:"comma"`
}

// fieldKind says how a column's text becomes a field.
type fieldKind int

const (
	kText fieldKind = iota
	kDate
	kTime
	kBool
	kGender
	kRelationship
	kKind
	kOperation
)

// fields is the closed set of paths a column may feed: exactly the fields
// of the canonical record. A path outside it is a configuration error, so
// that a mapping cannot smuggle in a field the hub may not hold.
var fields = func() map[string]fieldKind {
	f := map[string]fieldKind{
		"operation":                    kOperation,
		"source.record_id":             kText,
		"source.version":               kText,
		"source.updated_at":            kTime,
		"child.identifiers.nhs_number": kText,
		"child.identifiers.upn":        kText,
		"child.identifiers.local":      kText,
		"child.name.given":             kText,
		"child.name.middle":            kText,
		"child.name.family":            kText,
		"child.name.preferred":         kText,
		"child.birth_date":             kDate,
		"child.gender":                 kGender,
		"child.address.town":           kText,
		"child.address.postcode":       kText,
		"child.address.kind":           kText,
		"child.address.country":        kText,
		"child.address.from":           kDate,
		"child.school.name":            kText,
		"child.school.urn":             kText,
		"child.school.phone":           kText,
		"child.school.from":            kDate,
		"child.gp_practice.name":       kText,
		"child.gp_practice.ods_code":   kText,
		"child.gp_practice.phone":      kText,
		"child.caf.exists":             kBool,
		"child.caf.completed_on":       kDate,
	}
	for i := range maxAddressLines {
		f["child.address.lines."+strconv.Itoa(i)] = kText
	}
	for i := range maxContacts {
		p := "child.contacts." + strconv.Itoa(i) + "."
		f[p+"relationship"] = kRelationship
		f[p+"parental_responsibility"] = kBool
		f[p+"name.given"] = kText
		f[p+"name.middle"] = kText
		f[p+"name.family"] = kText
		f[p+"phone"] = kText
		f[p+"email"] = kText
	}
	for i := range maxInvolvements {
		p := "child.involvements." + strconv.Itoa(i) + "."
		for _, s := range []string{"service", "organisation", "practitioner.name", "practitioner.role", "practitioner.phone", "practitioner.email", "phone"} {
			f[p+s] = kText
		}
		f[p+"kind"] = kKind
		f[p+"lead_professional"] = kBool
		f[p+"from"] = kDate
	}
	return f
}()

// A flat extract has one row per child; these bound the repeated groups a
// row can spell out in columns.
const (
	maxAddressLines  = 4
	maxContacts      = 2
	maxInvolvements  = 3
	defaultDateStyle = "2006-01-02"
)

var (
	genders       = []string{"female", "male", "other", "unknown"}
	relationships = []string{"mother", "father", "parent", "step-parent", "carer", "foster-carer", "guardian", "grandparent", "other"}
	operations    = []string{"upsert", "withdraw"}
	defaultGender = map[string]string{
		"f": "female", "female": "female", "m": "male", "male": "male",
		"o": "other", "other": "other", "u": "unknown", "unknown": "unknown", "n": "unknown", "not known": "unknown",
	}
)

// Fields lists the record field paths a column may be mapped to.
func Fields() []string {
	out := make([]string, 0, len(fields))
	for p := range fields {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// LoadMapping reads a mapping from a YAML or JSON file.
func LoadMapping(path string) (Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Mapping{}, fmt.Errorf("csv mapping: %w", err)
	}
	m, err := ParseMapping(b)
	if err != nil {
		return Mapping{}, fmt.Errorf("csv mapping %s: %w", path, err)
	}
	return m, nil
}

// ParseMapping reads a mapping from YAML or JSON (JSON is YAML) and
// validates it. Unknown keys are refused, so a misspelt option is caught.
func ParseMapping(b []byte) (Mapping, error) {
	var m Mapping
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return Mapping{}, fmt.Errorf("csv mapping: %w", err)
	}
	if err := m.Validate(); err != nil {
		return Mapping{}, err
	}
	return m, nil
}

// Validate reports every problem with the mapping at once.
func (m Mapping) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, p := range sortedKeys(m.Columns) {
		if _, ok := fields[p]; !ok {
			bad("column %q is mapped to %q, which is not a field of the feed record (see csvfeed.Fields)", m.Columns[p], p)
		}
		if strings.TrimSpace(m.Columns[p]) == "" {
			bad("field %q is mapped to an empty header", p)
		}
	}
	for _, p := range sortedKeys(m.Defaults) {
		if _, ok := fields[p]; !ok {
			bad("default for %q: not a field of the feed record", p)
		}
	}
	if m.RecordID == "" && m.Columns["source.record_id"] == "" {
		bad("record_id: the column holding the system's id for the child is required")
	}
	if m.RecordID != "" && m.Columns["source.record_id"] != "" && m.RecordID != m.Columns["source.record_id"] {
		bad("record_id %q and columns[source.record_id] %q disagree", m.RecordID, m.Columns["source.record_id"])
	}
	for _, k := range sortedKeys(m.Gender) {
		if !in(m.Gender[k], genders) {
			bad("gender %q maps to %q: want one of %s", k, m.Gender[k], strings.Join(genders, ", "))
		}
	}
	for _, k := range sortedKeys(m.Relationship) {
		if !in(m.Relationship[k], relationships) {
			bad("relationship %q maps to %q: want one of %s", k, m.Relationship[k], strings.Join(relationships, ", "))
		}
	}
	for _, k := range sortedKeys(m.Operation) {
		if !in(m.Operation[k], operations) {
			bad("operation %q maps to %q: want upsert or withdraw", k, m.Operation[k])
		}
	}
	if _, err := dateLayout(m.DateFormat); err != nil {
		bad("date_format: %v", err)
	}
	if len([]rune(m.Comma)) > 1 {
		bad("comma %q: want one character", m.Comma)
	}
	seen := map[string]string{}
	for _, p := range sortedKeys(m.Columns) {
		h := m.Columns[p]
		if other, dup := seen[h]; dup && p != "source.record_id" && other != "source.record_id" {
			bad("header %q is mapped to both %q and %q", h, other, p)
		}
		seen[h] = p
	}
	if len(errs) > 0 {
		return fmt.Errorf("csv mapping: %w", errors.Join(errs...))
	}
	return nil
}

// dateLayout turns a configured format into a Go layout, accepting the
// letter style ("dd/mm/yyyy") that people write in configuration files.
func dateLayout(f string) (string, error) {
	if f == "" {
		return defaultDateStyle, nil
	}
	layout := f
	if !strings.Contains(f, "2006") && !strings.Contains(f, "06") {
		layout = strings.NewReplacer("yyyy", "2006", "YYYY", "2006", "yy", "06", "YY", "06",
			"mm", "01", "MM", "01", "dd", "02", "DD", "02").Replace(f)
	}
	probe := time.Date(2009, 11, 23, 0, 0, 0, 0, time.UTC)
	back, err := time.Parse(layout, probe.Format(layout))
	if err != nil || !back.Equal(probe) {
		return "", fmt.Errorf("%q does not give year, month and day", f)
	}
	return layout, nil
}

func in(s string, set []string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
