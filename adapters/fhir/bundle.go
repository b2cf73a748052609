package fhir

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"contactpoint/projections/directory"
	"contactpoint/schemas"
)

// Bundle is a searchset.
type Bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        int           `json:"total"`
	Link         []BundleLink  `json:"link,omitempty"`
	Entry        []BundleEntry `json:"entry,omitempty"`
}

// BundleLink is a link of the bundle.
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is one match.
type BundleEntry struct {
	FullURL  string      `json:"fullUrl,omitempty"`
	Resource Patient     `json:"resource"`
	Search   EntrySearch `json:"search"`
}

// EntrySearch says why the entry is in the bundle.
type EntrySearch struct {
	Mode  string  `json:"mode"`
	Score float64 `json:"score"`
}

// OperationOutcome is every error the facade returns.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// Issue is one problem.
type Issue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics,omitempty"`
}

// Outcome returns an OperationOutcome with one error issue. The
// diagnostics must never carry data about a child: callers pass fixed text.
func Outcome(code, diagnostics string) OperationOutcome {
	return OperationOutcome{ResourceType: "OperationOutcome", Issue: []Issue{{Severity: "error", Code: code, Diagnostics: diagnostics}}}
}

// Score maps a directory score to FHIR's 0..1: the directory adds up to
// one point per name given, so divide by the names in the query.
func Score(raw float64, c directory.Criteria) float64 {
	n := 0.0
	if c.Family != "" {
		n++
	}
	if c.Given != "" {
		n++
	}
	if n == 0 {
		return 1
	}
	s := raw / n
	if s > 1 {
		s = 1
	}
	if s < 0 {
		s = 0
	}
	return float64(int(s*1000)) / 1000
}

// Search parameters the facade understands on GET /fhir/Patient.
var SearchParams = []string{"family", "given", "birthdate", "gender", "address-postalcode", "identifier", "_count"}

// ParseSearch turns FHIR search parameters into directory criteria. An
// unknown parameter is refused rather than ignored: ignoring it would
// widen a search the caller meant to be narrow.
func ParseSearch(q url.Values) (directory.Criteria, error) {
	var c directory.Criteria
	for k := range q {
		if !known(k) {
			return c, fmt.Errorf("unsupported search parameter %q; supported: %s", k, strings.Join(SearchParams, ", "))
		}
	}
	c.Family, c.Given = q.Get("family"), q.Get("given")
	if g := q.Get("gender"); g != "" {
		switch g {
		case "male", "female", "other", "unknown":
			c.Gender = g
		default:
			return c, fmt.Errorf("gender must be male, female, other or unknown")
		}
	}
	for _, bd := range q["birthdate"] {
		prefix, date := "eq", bd
		if len(bd) > 2 && bd[0] >= 'a' && bd[0] <= 'z' {
			prefix, date = bd[:2], bd[2:]
		}
		d, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return c, fmt.Errorf("birthdate must be a date YYYY-MM-DD, optionally prefixed eq, ge, le, gt or lt")
		}
		switch prefix {
		case "eq":
			c.BirthDate = date
		case "ge":
			c.BornFrom = date
		case "gt":
			c.BornFrom = d.AddDate(0, 0, 1).Format(time.DateOnly)
		case "le":
			c.BornTo = date
		case "lt":
			c.BornTo = d.AddDate(0, 0, -1).Format(time.DateOnly)
		default:
			return c, fmt.Errorf("birthdate prefix %q is not supported; use eq, ge, le, gt or lt", prefix)
		}
	}
	if pc := q.Get("address-postalcode"); pc != "" {
		if c.Postcode = schemas.NormalisePostcode(pc); c.Postcode == "" {
			return c, fmt.Errorf("address-postalcode is not a UK postcode")
		}
	}
	if id := q.Get("identifier"); id != "" {
		sys, val, ok := strings.Cut(id, "|")
		if !ok {
			return c, fmt.Errorf("identifier must be %s|<nhs number>", NHSNumberSystem)
		}
		switch sys {
		case NHSNumberSystem:
			c.NHSNumber = strings.ReplaceAll(val, " ", "")
		case UPNSystem:
			c.UPN = val
		default:
			return c, fmt.Errorf("identifier system must be %s or %s", NHSNumberSystem, UPNSystem)
		}
	}
	if n := q.Get("_count"); n != "" {
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 {
			return c, fmt.Errorf("_count must be a positive integer")
		}
		c.Limit = v
	}
	return c, nil
}

func known(k string) bool {
	for _, p := range SearchParams {
		if p == k {
			return true
		}
	}
	return false
}
