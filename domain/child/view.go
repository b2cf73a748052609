package child

import (
	"sort"
	"strings"
	"time"

	"contactpoint/domain/record"
)

// Survivorship rules: which source's value the view shows for a field.
const (
	// RuleLatest: the most recently updated source that states the field.
	RuleLatest = "most-recent"
	// RuleAuthoritative: the most recently updated of the field's
	// authoritative agencies, falling back to RuleLatest when none states it.
	RuleAuthoritative = "authoritative-then-most-recent"
	// RuleUnion: every source's entries, de-duplicated.
	RuleUnion = "all-sources"
)

// FieldRule is the survivorship rule of one field.
type FieldRule struct {
	Rule          string   `json:"rule"`
	Authoritative []string `json:"authoritative,omitempty"` // agencies, most trusted first
}

// Rules maps view fields to their survivorship rule.
type Rules map[string]FieldRule

// DefaultRules: the agency that issues or keeps a fact is its authority (the
// NHS number and GP from health, the UPN and school from education); personal
// details come from whichever source updated them last, as moves and name
// changes reach one agency first.
func DefaultRules() Rules {
	return Rules{
		"name":         {Rule: RuleLatest},
		"birth_date":   {Rule: RuleAuthoritative, Authoritative: []string{"health"}},
		"gender":       {Rule: RuleLatest},
		"nhs_number":   {Rule: RuleAuthoritative, Authoritative: []string{"health"}},
		"upn":          {Rule: RuleAuthoritative, Authoritative: []string{"education"}},
		"address":      {Rule: RuleLatest},
		"school":       {Rule: RuleAuthoritative, Authoritative: []string{"education"}},
		"gp_practice":  {Rule: RuleAuthoritative, Authoritative: []string{"health"}},
		"caf":          {Rule: RuleLatest},
		"contacts":     {Rule: RuleUnion},
		"involvements": {Rule: RuleUnion},
	}
}

// Provenance says where a shown value came from and why it was chosen.
type Provenance struct {
	Source    record.SourceKey `json:"source"`
	UpdatedAt time.Time        `json:"updated_at"`
	Rule      string           `json:"rule"`
}

// Fact is a value with its provenance.
type Fact[T any] struct {
	Value T `json:"value"`
	Provenance
}

// View is the directory's derived picture of a child: each fact from the
// source survivorship chose, with where it came from.
type View struct {
	ChildID       string                     `json:"id"`
	Name          *Fact[record.Name]         `json:"name,omitempty"`
	PreviousNames []Fact[record.Name]        `json:"previous_names,omitempty"`
	BirthDate     *Fact[string]              `json:"birth_date,omitempty"`
	Gender        *Fact[string]              `json:"gender,omitempty"`
	NHSNumber     *Fact[string]              `json:"nhs_number,omitempty"`
	UPN           *Fact[string]              `json:"upn,omitempty"`
	Address       *Fact[record.Address]      `json:"address,omitempty"`
	Contacts      []Fact[record.Contact]     `json:"contacts,omitempty"`
	School        *Fact[record.School]       `json:"school,omitempty"`
	GPPractice    *Fact[record.GPPractice]   `json:"gp_practice,omitempty"`
	Involvements  []Fact[record.Involvement] `json:"involvements,omitempty"`
	CAF           *Fact[record.CAF]          `json:"caf,omitempty"`
	Shield        *Shield                    `json:"shield,omitempty"`
	// Guard is set by the directory, never by Survive, while the child may be
	// a duplicate of a shielded child (an open review task pairs them): until
	// a steward decides, the child is treated as shielded.
	Guard *Guard `json:"guard,omitempty"`
	// CorrectionConflicts are stewards' corrections a source has since
	// contradicted: the source's value shows, and a steward is asked.
	CorrectionConflicts []CorrectionConflict `json:"correction_conflicts,omitempty"`
	Notice              *Notice              `json:"notice,omitempty"` // set by the access policy only
	Sources             []SourceSummary      `json:"sources"`
	UpdatedAt           time.Time            `json:"updated_at"`
}

// SourceSummary lists a contributing source record, with the rule (and
// score) that linked it to this child: "source-record", "nhs-number",
// "upn", "score", "new", or a steward's merge or split.
type SourceSummary struct {
	Source    record.SourceKey `json:"source"`
	UpdatedAt time.Time        `json:"updated_at"`
	Link      *Link            `json:"link,omitempty"`
}

// Survive derives the view of a child from its active sources.
func Survive(s *State, rules Rules) View {
	if rules == nil {
		rules = DefaultRules()
	}
	srcs := recentFirst(s.Active())
	v := View{ChildID: s.ID, Shield: s.Shield}
	for _, ss := range srcs {
		var link *Link
		if ss.Link.Rule != "" {
			link = &ss.Link
		}
		v.Sources = append(v.Sources, SourceSummary{ss.Source.Key(), ss.UpdatedAt(), link})
		if t := ss.UpdatedAt(); t.After(v.UpdatedAt) {
			v.UpdatedAt = t
		}
	}
	v.Name = pick(s.usable(srcs, "name"), rules["name"], func(c *record.Child) (record.Name, bool) { return c.Name, c.Name.Family != "" })
	v.BirthDate = pick(s.usable(srcs, "birth_date"), rules["birth_date"], func(c *record.Child) (string, bool) { return c.BirthDate, c.BirthDate != "" })
	v.Gender = pick(s.usable(srcs, "gender"), rules["gender"], func(c *record.Child) (string, bool) { return c.Gender, c.Gender != "" && c.Gender != "unknown" })
	v.NHSNumber = pick(s.usable(srcs, "nhs_number"), rules["nhs_number"], func(c *record.Child) (string, bool) { return c.NHSNumber(), c.NHSNumber() != "" })
	v.UPN = pick(s.usable(srcs, "upn"), rules["upn"], func(c *record.Child) (string, bool) { return c.UPN(), c.UPN() != "" })
	v.Address = pick(s.usable(srcs, "address"), rules["address"], func(c *record.Child) (record.Address, bool) { return deref(c.Address) })
	v.School = pick(s.usable(srcs, "school"), rules["school"], func(c *record.Child) (record.School, bool) { return deref(c.School) })
	v.GPPractice = pick(s.usable(srcs, "gp_practice"), rules["gp_practice"], func(c *record.Child) (record.GPPractice, bool) { return deref(c.GPPractice) })
	v.CAF = pick(s.usable(srcs, "caf"), rules["caf"], func(c *record.Child) (record.CAF, bool) { return deref(c.CAF) })

	seenName := map[string]bool{}
	if v.Name != nil {
		seenName[nameKey(v.Name.Value)] = true
	}
	seenContact := map[string]bool{}
	seenInv := map[string]bool{}
	for _, ss := range srcs {
		p := Provenance{Source: ss.Source.Key(), UpdatedAt: ss.UpdatedAt(), Rule: RuleUnion}
		names := append([]record.Name{ss.Child.Name}, ss.Child.PreviousNames...)
		for _, n := range names {
			if k := nameKey(n); !seenName[k] {
				seenName[k] = true
				v.PreviousNames = append(v.PreviousNames, Fact[record.Name]{n, p})
			}
		}
		for _, c := range ss.Child.Contacts {
			k := c.Relationship + "|" + nameKey(c.Name)
			if !seenContact[k] {
				seenContact[k] = true
				v.Contacts = append(v.Contacts, Fact[record.Contact]{c, p})
			}
		}
		consented := record.HasSensitiveConsent(ss.Consents)
		for _, in := range ss.Child.Involvements {
			if in.Sensitive() && !consented {
				continue // consent withdrawn: the service leaves every view
			}
			k := strings.ToLower(in.Service + "|" + in.Organisation + "|" + practitionerName(in))
			if !seenInv[k] {
				seenInv[k] = true
				v.Involvements = append(v.Involvements, Fact[record.Involvement]{in, p})
			}
		}
	}
	v.Involvements = append(v.Involvements, indicatedFacts(s)...)
	for _, f := range v.Involvements {
		if f.Rule == RuleIndicated && f.UpdatedAt.After(v.UpdatedAt) {
			v.UpdatedAt = f.UpdatedAt
		}
	}
	v, v.CorrectionConflicts = correct(v, s, srcs)
	return withholdSensitiveSources(v, srcs)
}

// recentFirst sorts srcs most recently updated first, ties broken by key
// so that the order is total.
func recentFirst(srcs []*SourceState) []*SourceState {
	sort.SliceStable(srcs, func(i, j int) bool {
		ti, tj := srcs[i].UpdatedAt(), srcs[j].UpdatedAt()
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return srcs[i].Source.Key().String() < srcs[j].Source.Key().String()
	})
	return srcs
}

// usable is srcs without the sources whose value of field a steward marked
// as wrong.
func (s *State) usable(srcs []*SourceState, field string) []*SourceState {
	if len(s.Rejected) == 0 {
		return srcs
	}
	out := make([]*SourceState, 0, len(srcs))
	for _, ss := range srcs {
		if !s.rejected(ss.Source.Key(), field) {
			out = append(out, ss)
		}
	}
	return out
}

func practitionerName(in record.Involvement) string {
	if in.Practitioner == nil {
		return ""
	}
	return in.Practitioner.Name
}

func nameKey(n record.Name) string {
	return strings.ToLower(strings.Join(strings.Fields(n.Given+" "+n.Family), " "))
}

func deref[T any](p *T) (T, bool) {
	if p == nil {
		var z T
		return z, false
	}
	return *p, true
}

// pick applies a field's rule to sources already sorted most recent first.
func pick[T any](srcs []*SourceState, r FieldRule, get func(*record.Child) (T, bool)) *Fact[T] {
	if r.Rule == RuleAuthoritative {
		for _, agency := range r.Authoritative {
			for _, ss := range srcs {
				if ss.Source.Agency != agency {
					continue
				}
				if val, ok := get(&ss.Child); ok {
					return &Fact[T]{val, Provenance{ss.Source.Key(), ss.UpdatedAt(), RuleAuthoritative}}
				}
			}
		}
	}
	for _, ss := range srcs {
		if val, ok := get(&ss.Child); ok {
			return &Fact[T]{val, Provenance{ss.Source.Key(), ss.UpdatedAt(), RuleLatest}}
		}
	}
	return nil
}
