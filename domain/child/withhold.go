package child

import "contactpoint/domain/record"

// WithheldSystem replaces the system and record id of a source that must
// not be named; the agency stays.
const WithheldSystem = "withheld"

// Withhold returns k reduced to its agency.
func Withhold(k record.SourceKey) record.SourceKey {
	return record.SourceKey{Agency: k.Agency, System: WithheldSystem}
}

// WithSources returns a copy of v, sharing no slice or fact with it, in
// which every source key (in provenance and in the source list) is replaced
// by f's answer; the source list keeps one entry per resulting key.
func (v View) WithSources(f func(record.SourceKey) record.SourceKey) View {
	out := v
	out.Name = mapFact(v.Name, f)
	out.BirthDate = mapFact(v.BirthDate, f)
	out.Gender = mapFact(v.Gender, f)
	out.NHSNumber = mapFact(v.NHSNumber, f)
	out.UPN = mapFact(v.UPN, f)
	out.Address = mapFact(v.Address, f)
	out.School = mapFact(v.School, f)
	out.GPPractice = mapFact(v.GPPractice, f)
	out.CAF = mapFact(v.CAF, f)
	out.PreviousNames = mapFacts(v.PreviousNames, f)
	out.Contacts = mapFacts(v.Contacts, f)
	out.Involvements = mapFacts(v.Involvements, f)
	if v.Shield != nil {
		s := *v.Shield
		out.Shield = &s
	}
	if v.Notice != nil {
		n := *v.Notice
		out.Notice = &n
	}
	if v.Guard != nil {
		g := *v.Guard
		g.Candidates = append([]string(nil), v.Guard.Candidates...)
		out.Guard = &g
	}
	if v.CorrectionConflicts != nil {
		out.CorrectionConflicts = make([]CorrectionConflict, len(v.CorrectionConflicts))
		for i, c := range v.CorrectionConflicts {
			c.Source = f(c.Source)
			out.CorrectionConflicts[i] = c
		}
	}
	out.Sources = make([]SourceSummary, 0, len(v.Sources))
	seen := map[record.SourceKey]bool{}
	for _, s := range v.Sources {
		s.Source = f(s.Source)
		if !seen[s.Source] {
			seen[s.Source] = true
			out.Sources = append(out.Sources, s)
		}
	}
	return out
}

func mapFact[T any](x *Fact[T], f func(record.SourceKey) record.SourceKey) *Fact[T] {
	if x == nil {
		return nil
	}
	c := *x
	c.Source = f(c.Source)
	return &c
}

func mapFacts[T any](xs []Fact[T], f func(record.SourceKey) record.SourceKey) []Fact[T] {
	if xs == nil {
		return nil
	}
	out := make([]Fact[T], len(xs))
	for i, x := range xs {
		x.Source = f(x.Source)
		out[i] = x
	}
	return out
}

// withholdSensitiveSources: a source that stated a sensitive service is
// often that service's own system, whose name would name it. Its facts keep
// their agency only, whether or not the consent still stands: a withdrawn
// consent must not leave the service's name behind in the provenance.
func withholdSensitiveSources(v View, srcs []*SourceState) View {
	keys := map[record.SourceKey]bool{}
	for _, ss := range srcs {
		for _, in := range ss.Child.Involvements {
			if in.Sensitive() {
				keys[ss.Source.Key()] = true
			}
		}
	}
	if len(keys) == 0 {
		return v
	}
	return v.WithSources(func(k record.SourceKey) record.SourceKey {
		if keys[k] {
			return Withhold(k)
		}
		return k
	})
}
