package access

import (
	"context"
	"time"

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
	return v.Has(RolePractitioner) || v.Has(RoleShield) || v.Has(RoleSteward) || v.Has(RoleChildProtection)
}

// CanReveal reports whether the viewer may break the glass on a shielded
// record: a child-protection practitioner, and nobody else. Shield officers
// need no reveal: they see shielded records in full already.
func CanReveal(v Viewer) bool { return v.Has(RoleChildProtection) }

// RevealFor is how long a break-glass reveal lasts unless the viewer leaves
// the record first.
const RevealFor = 15 * time.Minute

// RevealWarning is what a viewer is told before a reveal, and must
// acknowledge.
const RevealWarning = "This record is shielded because the child may be at risk if their whereabouts are known. " +
	"Revealing it is recorded, reported to the shield officers at once and investigated. Reveal only for child protection, and say why."

// Restricted reports whether the child must be treated as shielded, and
// whom ordinary viewers should contact: a child is restricted while it is
// shielded itself or while it may be a duplicate of a shielded child (the
// directory sets Guard until a steward decides). This is the one statement
// of what "shielded" means for every outward path; the directory derives
// its search columns from it.
func Restricted(cv child.View) (bool, string) {
	switch {
	case cv.Shield != nil:
		return true, cv.Shield.Contact
	case cv.Guard != nil:
		return true, cv.Guard.Contact
	}
	return false, ""
}

// Fields a search or an audit entry can name.
const (
	FieldFamily        = "family"
	FieldGiven         = "given"
	FieldBirthDate     = "birth_date"
	FieldBornFrom      = "birth_date_from"
	FieldBornTo        = "birth_date_to"
	FieldGender        = "gender"
	FieldPostcode      = "postcode"
	FieldPreviousNames = "previous_names"
	FieldNHSNumber     = "nhs_number"
	FieldUPN           = "upn"
)

// shownWhenRestricted are the fields a restricted child shows to a viewer
// without the shield role: name, date of birth, gender and identifiers.
var shownWhenRestricted = map[string]bool{
	FieldFamily: true, FieldGiven: true, FieldBirthDate: true, FieldBornFrom: true, FieldBornTo: true,
	FieldGender: true, FieldNHSNumber: true, FieldUPN: true,
}

// MayMatchRestricted reports whether a search on field may match a
// restricted child for this viewer. A search on a hidden field (a postcode,
// a previous name) must not match it, or the answer would tell an ordinary
// viewer where the child lives or who they used to be.
func MayMatchRestricted(v Viewer, field string) bool {
	return SeesShielded(v) || shownWhenRestricted[field]
}

// AuditCriteria returns what an auditor may see of the criteria of a
// search entry. When the search returned a restricted child (restricted)
// and the auditor lacks the shield role, a criterion that may have matched a
// hidden field is withheld: a postcode always, and a name when the searcher
// held the shield role (their name search also matched previous names).
// The entry itself keeps every criterion for a shield-role auditor.
func AuditCriteria(auditor Viewer, searcherRoles []string, restricted bool, crit map[string]string) map[string]string {
	if !restricted || SeesShielded(auditor) || crit == nil {
		return crit
	}
	searcherShield := SeesShielded(Viewer{Roles: searcherRoles})
	out := make(map[string]string, len(crit))
	for k, val := range crit {
		name := k == FieldFamily || k == FieldGiven
		if k == FieldPostcode || k == FieldPreviousNames || name && searcherShield {
			val = Withheld
		}
		out[k] = val // other keys are the route's own parameters
	}
	return out
}

// Withheld replaces a value the viewer may not see.
const Withheld = "withheld: shielded"

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
	GuardedOrdinary   = "This record may be the same child as a shielded record, so it is shielded until a data steward decides. Its address, contacts, school, GP practice, practitioners and services are withheld. Contact the named contact if you need to reach the child or the people working with them."
	GuardedFull       = "This record may be the same child as a shielded record and is shielded from others until a data steward decides. You see it in full because you hold the shield role."
	RevealedNotice    = "This record is shielded. You have revealed it under break-glass: the reveal is recorded and investigated. Do not pass on what is withheld from others."
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
	restricted, contact := Restricted(cv)
	if !restricted {
		return out, true
	}
	switch {
	case SeesShielded(v):
		msg := ShieldedFull
		if cv.Shield != nil {
			s := *cv.Shield
			out.Shield = &s
		} else {
			msg = GuardedFull
		}
		if cv.Guard != nil {
			g := *cv.Guard
			g.Candidates = append([]string(nil), cv.Guard.Candidates...)
			out.Guard = &g
		}
		out.Notice = &child.Notice{Shielded: true, Message: msg, Contact: contact}
		return out, true
	case CanReveal(v) && v.Revealed != "" && v.Revealed == cv.ChildID:
		// Break-glass: the record in full, but not the shield's own
		// details (who asked, why): those are for shield officers.
		out.Notice = &child.Notice{Shielded: true, Message: RevealedNotice, Contact: contact}
		return out, true
	}
	o := shieldedOrdinary(out, contact)
	if cv.Shield == nil {
		o.Notice.Message = GuardedOrdinary
	}
	return o, true
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
	out.Shield, out.Notice, out.Guard = nil, nil, nil
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
