package access

import (
	"encoding/json"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// MayReadHistory reports whether the viewer may read a child's timeline:
// data stewards (who correct it), shield officers, and auditors answering a
// subject access request.
func MayReadHistory(v Viewer) bool {
	return v.Has(RoleSteward) || v.Has(RoleShield) || v.Has(RoleAuditor)
}

// ShowEvent returns what the viewer may see of one event of a child's
// history. restricted is whether the child is restricted now (Restricted
// of its present view): the timeline of a shielded child must not tell a
// viewer without the shield role what its record does not.
//
// For every viewer, a statement by a source that names a sensitive service
// loses the service and the source's system, as the view does. For a
// restricted child and a viewer without the shield role, each event keeps
// its type, time, who decided and the ids it joins, and of a statement only
// what the shielded view shows (name, date of birth, gender, identifiers),
// with its source reduced to the agency.
func ShowEvent(v Viewer, restricted bool, e child.Event) child.Event {
	out := child.Event{Type: e.Type, At: e.At}
	open := !restricted || SeesShielded(v)
	switch e.Type {
	case child.TypeRegistered:
		if r := e.Registered; r != nil {
			c := *r
			if !SeesShielded(v) {
				// It names the record that opened the child, which may have
				// moved to a shielded child since; the statement that
				// follows it says the same, through the policy.
				c.Reason = ""
			}
			out.Registered = &c
		}
	case child.TypeStated:
		if st := e.Stated; st != nil {
			c := showStatement(*st, open)
			out.Stated = &c
		}
	case child.TypeWithdrawn:
		if w := e.Withdrawn; w != nil {
			c := *w
			c.Source = sourceFor(c.Source, open, false)
			out.Withdrawn = &c
		}
	case child.TypeShieldApplied:
		if sh := e.Shield; sh != nil {
			c := *sh
			if !SeesShielded(v) {
				// Who asked and why are for shield officers; whom to
				// contact is for everyone.
				c = child.Shield{Contact: sh.Contact}
			}
			out.Shield = &c
		}
	case child.TypeShieldLifted:
		if l := e.Lifted; l != nil {
			c := *l
			if !SeesShielded(v) {
				c.Reason = ""
			}
			out.Lifted = &c
		}
	case child.TypeShieldRevealed, child.TypeRevealEnded:
		if r := e.Revealed; r != nil {
			c := *r
			if !SeesShielded(v) && !v.Has(RoleAuditor) {
				c.Reason = ""
			}
			out.Revealed = &c
		}
	case child.TypeInvolvementIndicated:
		if in := e.Involvement; in != nil && open {
			c := *in
			out.Involvement = &c
		}
	case child.TypeAbsorbed:
		if a := e.Absorbed; a != nil {
			c := child.Absorbed{Absorbed: a.Absorbed, Decision: a.Decision}
			for _, st := range a.Sources {
				c.Sources = append(c.Sources, showStatement(st, open))
			}
			for _, k := range a.Withdrawn {
				c.Withdrawn = append(c.Withdrawn, sourceFor(k, open, false))
			}
			out.Absorbed = &c
		}
	case child.TypeMergedInto:
		if m := e.MergedInto; m != nil {
			c := *m
			out.MergedInto = &c
		}
	case child.TypeUnmerged:
		if u := e.Unmerged; u != nil {
			c := *u
			out.Unmerged = &c
		}
	case child.TypeSourcesMovedOut:
		if m := e.MovedOut; m != nil {
			c := *m
			c.Sources = nil
			for _, k := range m.Sources {
				c.Sources = append(c.Sources, sourceFor(k, open, false))
			}
			out.MovedOut = &c
		}
	case child.TypeReviewRequested:
		if r := e.Review; r != nil {
			c := *r
			if !open {
				// Built field by field, so a field added later stays
				// hidden: the evidence compares addresses, schools and
				// carers, and the source records name systems.
				c = child.ReviewRequested{Candidate: r.Candidate, Score: r.Score, Why: r.Why, Reason: r.Reason,
					Source: sourceFor(r.Source, false, false)}
			}
			out.Review = &c
		}
	case child.TypeNotLinked:
		if n := e.NotLinked; n != nil {
			c := *n
			out.NotLinked = &c
		}
	case child.TypeCorrected:
		if c0 := e.Corrected; c0 != nil {
			c := *c0
			if !open && !shownWhenRestricted[c.Field] && c.Field != "name" {
				c.Value = json.RawMessage(`"` + Withheld + `"`)
			}
			out.Corrected = &c
		}
	case child.TypeCorrectionConfirmed:
		if cf := e.Confirmed; cf != nil {
			// The source's value is shown as a correction of the field
			// would be, and the source as the view names it.
			c := *cf
			c.Source = sourceFor(cf.Source, open, cf.Sensitive)
			if !open && !shownWhenRestricted[c.Field] && c.Field != "name" {
				c.Value = json.RawMessage(`"` + Withheld + `"`)
			}
			out.Confirmed = &c
		}
	case child.TypeCorrectionWithdrawn:
		if w := e.CorrectionWithdrawn; w != nil {
			c := *w
			out.CorrectionWithdrawn = &c
		}
	case child.TypeValueRejected:
		if r := e.Rejected; r != nil {
			c := *r
			c.Source = sourceFor(r.Source, open, false)
			out.Rejected = &c
		}
	}
	return out
}

// sourceFor is a source key as the timeline shows it.
func sourceFor(k record.SourceKey, open, sensitive bool) record.SourceKey {
	if open && !sensitive {
		return k
	}
	return child.Withhold(k)
}

// showStatement is a source's statement as the timeline shows it.
func showStatement(st child.Stated, open bool) child.Stated {
	sensitive := false
	for _, in := range st.Child.Involvements {
		if in.Sensitive() {
			sensitive = true
		}
	}
	out := child.Stated{Source: st.Source, Link: st.Link, FeedSeq: st.FeedSeq, StatedAt: st.StatedAt}
	out.Source.System, out.Source.RecordID = sourceFor(st.Source.Key(), open, sensitive).System, sourceFor(st.Source.Key(), open, sensitive).RecordID
	if !open {
		c := st.Child
		out.Child = record.Child{Identifiers: c.Identifiers, Name: record.Name{Given: c.Name.Given, Family: c.Name.Family},
			BirthDate: c.BirthDate, Gender: c.Gender}
		return out
	}
	out.Child = st.Child
	out.Consents = st.Consents
	if sensitive {
		kept := make([]record.Involvement, 0, len(st.Child.Involvements))
		for _, in := range st.Child.Involvements {
			if !in.Sensitive() {
				kept = append(kept, in)
			}
		}
		kept = append(kept, record.Involvement{Service: SensitiveServices})
		out.Child.Involvements = kept
		out.Consents = nil
	}
	return out
}
