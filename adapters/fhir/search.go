package fhir

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"contactpoint/domain/ident"
	"contactpoint/projections/directory"
	"contactpoint/schemas"
)

// Paging. A searchset pages through at most Window matches: the directory
// is for finding a child, not for browsing, so a search matching more is
// answered TOO_MANY_MATCHES and the searcher is asked for more detail.
const (
	DefaultCount = 20
	MaxCount     = directory.MaxCap
	Window       = 100
	MaxResults   = 50 // PDS's upper bound on _max-results
)

// SearchParams are the parameters Patient search understands; anything
// else is refused rather than ignored, because ignoring it would widen a
// search the caller meant to be narrow.
var SearchParams = []string{"family", "family:exact", "given", "name", "birthdate", "gender", "address-postalcode",
	"identifier", "_id", "_count", "_offset", "_format", "_summary", "_elements", "_fuzzy-match", "_exact-match", "_max-results"}

// Search is a parsed Patient search.
type Search struct {
	// Criteria are the directory searches to run: one, or two for a
	// one-word name (it may be a family or a given name).
	Criteria []directory.Criteria
	// Audit is what the audit trail keeps of the search: what was asked.
	Audit       map[string]string
	ID          string // _id: the search is a read of one id
	FamilyExact string // family:exact: the current family name, exactly
	Count       int    // page size
	Offset      int    // matches before this page
	// MaxResults is PDS's _max-results: when set, a search matching more
	// is TOO_MANY_MATCHES rather than paged.
	MaxResults int
	// Exact is PDS's _exact-match: every name given matches the current
	// name exactly. NotFuzzy is _fuzzy-match=false: names match exactly or
	// as a prefix, not by sound or spelling distance.
	Exact, NotFuzzy bool
	Summary         string
	Elements        []string
}

// ParamError is a search the caller must change; Spine is the PDS code.
type ParamError struct{ Spine, Msg string }

func (e *ParamError) Error() string { return e.Msg }

func invalid(format string, a ...any) error {
	return &ParamError{SpineInvalidSearchData, fmt.Sprintf(format, a...)}
}

// ParseSearch turns FHIR search parameters into directory searches; sys
// names the hub's own identifier systems.
func ParseSearch(q url.Values, sys Systems) (Search, error) {
	s := Search{Count: DefaultCount, Audit: map[string]string{}}
	for k := range q {
		if !known(k) {
			return s, invalid("unsupported search parameter %q; supported: %s", k, strings.Join(SearchParams, ", "))
		}
	}
	for _, k := range []string{"family", "family:exact", "given", "name", "gender", "address-postalcode", "identifier", "_id", "_count", "_offset", "_summary", "_elements", "_fuzzy-match", "_exact-match", "_max-results"} {
		if len(q[k]) > 1 {
			return s, invalid("parameter %s may be given once", k)
		}
	}
	var c directory.Criteria
	c.Family, c.Given = strings.TrimSpace(q.Get("family")), strings.TrimSpace(q.Get("given"))
	if fe := strings.TrimSpace(q.Get("family:exact")); fe != "" {
		if c.Family != "" && !strings.EqualFold(c.Family, fe) {
			return s, invalid("family and family:exact disagree")
		}
		c.Family, s.FamilyExact = fe, fe
	}
	for _, v := range []string{c.Family, c.Given, q.Get("name")} {
		if len(v) > 100 {
			return s, invalid("names are at most 100 characters")
		}
	}
	if g := q.Get("gender"); g != "" {
		switch g {
		case "male", "female", "other", "unknown":
			c.Gender = g
		default:
			return s, invalid("gender must be male, female, other or unknown")
		}
	}
	for _, bd := range q["birthdate"] {
		if err := birthdate(&c, bd); err != nil {
			return s, err
		}
	}
	if pc := q.Get("address-postalcode"); pc != "" {
		if c.Postcode = schemas.NormalisePostcode(pc); c.Postcode == "" {
			return s, invalid("address-postalcode is not a UK postcode")
		}
	}
	if id := q.Get("identifier"); id != "" {
		if err := identifier(&c, id, sys); err != nil {
			return s, err
		}
	}
	if id := q.Get("_id"); id != "" {
		s.ID = id
	}
	var err error
	if s.Count, err = intParam(q, "_count", DefaultCount, 0, MaxCount); err != nil {
		return s, err
	}
	if s.Offset, err = intParam(q, "_offset", 0, 0, Window); err != nil {
		return s, err
	}
	if s.MaxResults, err = intParam(q, "_max-results", 0, 1, MaxResults); err != nil {
		return s, err
	}
	if s.Exact, err = boolParam(q, "_exact-match"); err != nil {
		return s, err
	}
	fuzzy := true
	if q.Get("_fuzzy-match") != "" {
		if fuzzy, err = boolParam(q, "_fuzzy-match"); err != nil {
			return s, err
		}
	}
	s.NotFuzzy = !fuzzy
	if s.Exact && fuzzy && q.Get("_fuzzy-match") != "" {
		return s, invalid("_exact-match and _fuzzy-match cannot both be true")
	}
	switch s.Summary = q.Get("_summary"); s.Summary {
	case "", "true", "false", "count", "data", "text":
	default:
		return s, invalid("_summary must be true, false, count, data or text")
	}
	if e := q.Get("_elements"); e != "" {
		for _, el := range strings.Split(e, ",") {
			if el = strings.TrimSpace(el); el != "" {
				s.Elements = append(s.Elements, el)
			}
		}
	}
	if s.ID != "" {
		if len(q) > len(only(q, "_id", "_format", "_summary", "_elements", "_count")) {
			return s, invalid("_id cannot be combined with other search parameters")
		}
		s.Audit["_id"] = s.ID
		return s, nil
	}
	name := strings.Fields(q.Get("name"))
	switch {
	case len(name) > 0 && (c.Family != "" || c.Given != ""):
		return s, invalid("name cannot be combined with family or given")
	case len(name) == 1:
		// One word may be either part of a name, as FHIR's name parameter
		// means: search both ways and merge.
		f, g := c, c
		f.Family, g.Given = name[0], name[0]
		s.Criteria = []directory.Criteria{f, g}
	case len(name) > 1:
		c.Given, c.Family = strings.Join(name[:len(name)-1], " "), name[len(name)-1]
		s.Criteria = []directory.Criteria{c}
	default:
		s.Criteria = []directory.Criteria{c}
	}
	for _, cr := range s.Criteria {
		if err := cr.Check(); err != nil {
			return s, &ParamError{SpineMissingValue, err.Error()}
		}
	}
	return s, nil
}

func only(q url.Values, keys ...string) url.Values {
	out := url.Values{}
	for _, k := range keys {
		if v, ok := q[k]; ok {
			out[k] = v
		}
	}
	return out
}

// birthdate reads one birthdate parameter: a prefix (eq, ge, gt, le, lt)
// and a date of year, month or day precision, which stands for every day
// it covers, as FHIR's date search means.
func birthdate(c *directory.Criteria, bd string) error {
	prefix, date := "eq", bd
	if len(bd) > 2 && bd[0] >= 'a' && bd[0] <= 'z' {
		prefix, date = bd[:2], bd[2:]
	}
	var first, last time.Time
	var err error
	day := false
	switch len(date) {
	case 4:
		first, err = time.Parse("2006", date)
		last = first.AddDate(1, 0, -1)
	case 7:
		first, err = time.Parse("2006-01", date)
		last = first.AddDate(0, 1, -1)
	case 10:
		first, err = time.Parse(time.DateOnly, date)
		last, day = first, true
	default:
		err = fmt.Errorf("bad length")
	}
	if err != nil {
		return invalid("birthdate must be a date YYYY, YYYY-MM or YYYY-MM-DD, optionally prefixed eq, ge, le, gt or lt")
	}
	f := func(t time.Time) string { return t.Format(time.DateOnly) }
	from, to := c.BornFrom, c.BornTo
	switch prefix {
	case "eq":
		if day {
			if c.BirthDate != "" && c.BirthDate != f(first) {
				return invalid("two different birthdate values cannot both match")
			}
			c.BirthDate = f(first)
			return nil
		}
		from, to = later(from, f(first)), earlier(to, f(last))
	case "ge":
		from = later(from, f(first))
	case "gt":
		from = later(from, f(last.AddDate(0, 0, 1)))
	case "le":
		to = earlier(to, f(last))
	case "lt":
		to = earlier(to, f(first.AddDate(0, 0, -1)))
	default:
		return invalid("birthdate prefix %q is not supported; use eq, ge, le, gt or lt", prefix)
	}
	c.BornFrom, c.BornTo = from, to
	return nil
}

func later(a, b string) string {
	if a == "" || b > a {
		return b
	}
	return a
}

func earlier(a, b string) string {
	if a == "" || b < a {
		return b
	}
	return a
}

// identifier reads system|value, or a bare value when its form says which
// identifier it is: ten digits with a valid check digit are an NHS number,
// a letter, eleven digits and a check character a UPN.
func identifier(c *directory.Criteria, id string, systems Systems) error {
	sys, val, ok := strings.Cut(id, "|")
	if !ok {
		sys, val = "", id
	}
	val = strings.TrimSpace(val)
	if sys == "" {
		compact := ident.NormaliseNHS(val)
		nhs := ident.CheckNHS(compact) == nil
		upn := ident.CheckUPN(ident.NormaliseUPN(val)) == nil
		switch {
		case nhs && !upn:
			sys, val = NHSNumberSystem, compact
		case upn && !nhs:
			sys = systems.UPN
		default:
			return invalid("identifier without a system must be a valid NHS number or UPN; otherwise give the system, %s|<nhs number> or %s|<upn>", NHSNumberSystem, systems.UPN)
		}
	}
	switch sys {
	case NHSNumberSystem:
		// A number that fails its check digit matches nobody, as a search
		// for it on PDS does: answered empty rather than refused.
		c.NHSNumber = ident.NormaliseNHS(val)
	case systems.UPN:
		c.UPN = val
	default:
		return invalid("identifier system must be %s or %s", NHSNumberSystem, systems.UPN)
	}
	return nil
}

func intParam(q url.Values, k string, def, lo, hi int) (int, error) {
	v := q.Get(k)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, invalid("%s must be a whole number from %d to %d", k, lo, hi)
	}
	return n, nil
}

func boolParam(q url.Values, k string) (bool, error) {
	switch q.Get(k) {
	case "":
		return false, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalid("%s must be true or false", k)
}

func known(k string) bool {
	for _, p := range SearchParams {
		if p == k {
			return true
		}
	}
	return false
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
