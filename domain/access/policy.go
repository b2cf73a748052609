package access

import (
	"context"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// Ordinary is the viewer assumed for a request that reached the hub without
// one: an ordinary practitioner without the shield role. Failing towards the
// narrowest view means a gap in authentication can never widen what is shown.
var Ordinary = Viewer{Roles: []string{RolePractitioner}}

// ViewerOrOrdinary returns the viewer in ctx, or Ordinary.
func ViewerOrOrdinary(ctx context.Context) Viewer {
	if v, ok := ViewerFrom(ctx); ok {
		return v
	}
	return Ordinary
}

// CanRead reports whether the viewer may search the directory and read
// records. Auditors and administrators work on the audit trail and the hub,
// not on children.
func CanRead(v Viewer) bool {
	return v.Has(RolePractitioner) || v.Has(RoleShield) || v.Has(RoleSteward)
}

// SeesShielded reports whether the viewer sees shielded records in full,
// may search shielded records on their hidden fields, and manages shields.
func SeesShielded(v Viewer) bool { return v.Has(RoleShield) }

// CanIndicate reports whether the viewer may record that they work with a
// child: only practitioners work with children.
func CanIndicate(v Viewer) bool { return v.Has(RolePractitioner) }

// Messages the policy puts in views. They name no service, kind or place.
const (
	SensitiveServices = "One or more sensitive services are involved."
	SensitiveRoute    = "Contact the lead professional, who can pass on a request where the young person's consent allows."
	ShieldedOrdinary  = "This record is shielded. Its address, contacts, school, GP practice, practitioners and services are withheld. Contact the named contact if you need to reach the child or the people working with them."
	ShieldedFull      = "This record is shielded. You see it in full because you hold the shield role: do not pass on what is withheld from others."
)

// Policy provenance for entries the policy writes itself.
const (
	RuleSensitive  = "sensitive-services-summary"
	WithheldSystem = "withheld"
	PolicySystem   = "access-policy"
)

// Show returns what the viewer may see of a child, and false when the viewer
// may not read records at all. The result shares no slices with cv.
//
// Two rules apply, in this order:
//   - sensitive services (every viewer): each is removed, with the source
//     system that stated it, and one entry says that one or more sensitive
//     services are involved, with the lead professional as the contact route
//     when there is one who is not a sensitive service themselves;
//   - shielding (viewers without the shield role): only name, date of
//     birth, gender and identifiers remain, with a notice naming whom to
//     contact; sources are reduced to their agency.
func Show(v Viewer, cv child.View) (child.View, bool) {
	if !CanRead(v) {
		return child.View{}, false
	}
	out := summariseSensitive(cv)
	if cv.Shield == nil {
		return out, true
	}
	if SeesShielded(v) {
		s := *cv.Shield
		out.Shield = &s
		out.Notice = &child.Notice{Shielded: true, Message: ShieldedFull, Contact: s.Contact}
		return out, true
	}
	return shieldedOrdinary(out, cv.Shield.Contact), true
}

// shieldedOrdinary keeps only what an ordinary viewer may see of a shielded
// child. It builds a new view field by field rather than deleting from the
// full one, so a field added to View later stays hidden until someone
// decides otherwise here.
func shieldedOrdinary(v child.View, contact string) child.View {
	out := child.View{
		ChildID:   v.ChildID,
		Name:      agencyOnly(v.Name),
		BirthDate: agencyOnly(v.BirthDate),
		Gender:    agencyOnly(v.Gender),
		NHSNumber: agencyOnly(v.NHSNumber),
		UPN:       agencyOnly(v.UPN),
		Sources:   []child.SourceSummary{},
		Notice:    &child.Notice{Shielded: true, Message: ShieldedOrdinary, Contact: contact},
	}
	if out.Name != nil {
		// Middle and preferred names travel with the name but can point to
		// a new identity: keep only what the shielded view promises.
		out.Name.Value = record.Name{Given: out.Name.Value.Given, Family: out.Name.Value.Family}
	}
	return out
}

// agencyOnly copies a fact, reducing its source to the agency: a system
// name or record id can name a school or practice.
func agencyOnly[T any](f *child.Fact[T]) *child.Fact[T] {
	if f == nil {
		return nil
	}
	c := *f
	c.Source = child.Withhold(f.Source)
	return &c
}

// summariseSensitive replaces sensitive involvements with one entry and
// withholds the systems that stated them wherever they appear. Survive
// already withholds those systems; doing it here as well keeps views
// stored by older versions safe.
func summariseSensitive(cv child.View) child.View {
	withheld := map[record.SourceKey]bool{}
	for _, f := range cv.Involvements {
		if f.Value.Sensitive() {
			withheld[f.Source] = true
		}
	}
	out := cv.WithSources(func(k record.SourceKey) record.SourceKey {
		if withheld[k] {
			return child.Withhold(k)
		}
		return k
	})
	out.Shield, out.Notice = nil, nil
	if len(withheld) == 0 {
		return out
	}
	kept := out.Involvements[:0:0]
	for _, f := range out.Involvements {
		if !f.Value.Sensitive() {
			kept = append(kept, f)
		}
	}
	entry := record.Involvement{Service: SensitiveServices}
	for _, f := range kept {
		if f.Value.LeadProfessional {
			entry.Phone = f.Value.Phone
			entry.Organisation = f.Value.Organisation
			if p := f.Value.Practitioner; p != nil {
				entry.Practitioner = &record.Practitioner{Name: p.Name, Role: "lead professional — " + SensitiveRoute, Phone: p.Phone, Email: p.Email}
			}
			break
		}
	}
	out.Involvements = append(kept, child.Fact[record.Involvement]{Value: entry,
		Provenance: child.Provenance{Source: record.SourceKey{Agency: child.HubAgency, System: PolicySystem}, Rule: RuleSensitive}})
	return out
}
