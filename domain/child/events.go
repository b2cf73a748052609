// Package child holds the child aggregate: the events that make up one
// child's history, the state rebuilt from them, and survivorship — how the
// directory's view of a child is derived from what each source stated.
// Events are facts as each source stated them or as the hub decided them;
// the view is never stored as the truth.
package child

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	json "github.com/goccy/go-json"

	"contactpoint/domain/record"
)

// Event types. The names are part of the stored log: never rename one.
const (
	TypeRegistered = "child.registered"
	TypeStated     = "source.stated"
	TypeWithdrawn  = "source.withdrawn"
)

// Event is one fact in a child's history. Exactly one payload is set, as
// named by Type.
type Event struct {
	Type       string        `json:"type"`
	At         time.Time     `json:"at"`
	Registered *Registered   `json:"registered,omitempty"`
	Stated     *Stated       `json:"stated,omitempty"`
	Withdrawn  *Withdrawn    `json:"withdrawn,omitempty"`
	Shield     *Shield       `json:"shield,omitempty"`
	Lifted     *ShieldLifted `json:"lifted,omitempty"`
	Revealed   *Revealed     `json:"revealed,omitempty"`

	Corrected           *Correction          `json:"corrected,omitempty"`
	CorrectionWithdrawn *CorrectionWithdrawn `json:"correction_withdrawn,omitempty"`
	Rejected            *ValueRejected       `json:"rejected,omitempty"`
	Confirmed           *CorrectionConfirmed `json:"confirmed,omitempty"`
	Unmerged            *Unmerged            `json:"unmerged,omitempty"`

	Involvement *InvolvementIndicated `json:"involvement,omitempty"`

	Absorbed   *Absorbed        `json:"absorbed,omitempty"`
	MergedInto *MergedInto      `json:"merged_into,omitempty"`
	MovedOut   *SourcesMovedOut `json:"moved_out,omitempty"`
	Review     *ReviewRequested `json:"review,omitempty"`
	NotLinked  *NotLinked       `json:"not_linked,omitempty"`

	Archived  *Archived           `json:"archived,omitempty"`
	Erased    *Erased             `json:"erased,omitempty"`
	Retention *RetentionException `json:"retention,omitempty"`
}

// Registered opens a child's stream.
type Registered struct {
	ChildID string `json:"child_id"`
	Reason  string `json:"reason"`
}

// Link says why a source record was joined to this child.
type Link struct {
	Rule  string  `json:"rule"` // source-record, nhs-number, upn, new, score, steward
	Score float64 `json:"score,omitempty"`
}

// Stated is a source's statement of a child's basic information.
type Stated struct {
	Source      record.Source    `json:"source"`
	Child       record.Child     `json:"child"`
	Consents    []record.Consent `json:"consents,omitempty"`
	ContentHash string           `json:"content_hash"`
	FeedSeq     uint64           `json:"feed_seq"`
	Link        Link             `json:"link"`
	// StatedAt is when the hub first heard the statement, on a copy made
	// by a merge, split or unmerge; unset, the event's own time is.
	StatedAt *time.Time `json:"stated_at,omitempty"`
	// Earlier are the FEEDS sequences of the record's earlier statements
	// and withdrawals, on a copy a split or an unmerge made: the subject
	// that holds them may be erased before this child, whose erasure must
	// still find every FEEDS message of its records.
	Earlier []uint64 `json:"earlier_feed_seqs,omitempty"`
}

// Withdrawn says a source no longer holds the record (it deleted it, or the
// child left its care); the source's facts stop contributing to the view.
type Withdrawn struct {
	Source  record.SourceKey `json:"source"`
	FeedSeq uint64           `json:"feed_seq"`
}

// Batch is the unit appended to a child's subject: every event one decision
// yields, in one message, so that they land all-or-nothing.
type Batch struct {
	ChildID string  `json:"child_id"`
	Events  []Event `json:"events"`
}

// Types lists the event types in the batch, for a header that lets readers
// filter without decoding.
func (b Batch) Types() []string {
	out := make([]string, len(b.Events))
	for i, e := range b.Events {
		out[i] = e.Type
	}
	return out
}

// ContentHash fingerprints what a source stated, so that a resend of the
// same content is recognised as such however long after it arrives.
func ContentHash(r *record.Record) string {
	b, _ := json.Marshal(struct {
		S string           `json:"s"`
		O string           `json:"o"`
		C *record.Child    `json:"c"`
		K []record.Consent `json:"k"`
		V string           `json:"v"`
		M *record.Merge    `json:"m,omitempty"`
	}{r.Source.Key().String(), r.Operation, r.Child, r.Consents, r.Source.Version, r.Merge})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Shield event types.
const (
	TypeShieldApplied = "shield.applied"
	TypeShieldLifted  = "shield.lifted"
)

// Shield records why and at whose request a child's record is shielded.
type Shield struct {
	RequestedBy     string `json:"requested_by"`      // practitioner id, or a description of the parent/carer
	RequestedByKind string `json:"requested_by_kind"` // practitioner | parent-carer
	AppliedBy       string `json:"applied_by"`        // the shield officer's id
	ReasonCategory  string `json:"reason_category"`   // e.g. domestic-violence, witness-protection, adoption
	ReviewDate      string `json:"review_date"`       // YYYY-MM-DD
	Contact         string `json:"contact"`           // whom an ordinary user should contact
	// CarriedFrom names the child whose shield this is when the hub carried
	// it over in a merge or split: the shield belongs to the child, not to
	// one of its records, so it follows the child's records wherever they go.
	CarriedFrom string `json:"carried_from,omitempty"`
	// CarriedBy is the decision that carried it (a merge or split).
	CarriedBy string `json:"carried_by,omitempty"`
}

// TypeShieldRevealed is a break-glass reveal: a child-protection
// practitioner saw a shielded record in full, for a stated reason.
const TypeShieldRevealed = "shield.revealed"

// TypeRevealEnded: the practitioner left the revealed record before the
// reveal ran out. Its payload is a Revealed whose Until is when it ended.
const TypeRevealEnded = "shield.reveal-ended"

// Revealed records a break-glass reveal. It is on the child's own stream so
// the reveal is part of the child's history, whoever later reads it.
type Revealed struct {
	PractitionerID string    `json:"practitioner_id"`
	Reason         string    `json:"reason"`
	Until          time.Time `json:"until"`
}

// ShieldLifted ends a shield.
type ShieldLifted struct {
	LiftedBy string `json:"lifted_by"`
	Reason   string `json:"reason"`
}

// EachFeedSeq calls fn with every FEEDS sequence the event names for a
// source record: a statement's own and the earlier ones it carries (on the
// copies of a merge too), a withdrawal's. A record's FEEDS messages are
// named only in its events: a copy made of them must carry them on
// (Stated.Earlier), or erasing the child deletes its events and leaves the
// messages behind.
func (e Event) EachFeedSeq(fn func(k record.SourceKey, seq uint64)) {
	stated := func(st *Stated) {
		k := st.Source.Key()
		fn(k, st.FeedSeq)
		for _, f := range st.Earlier {
			fn(k, f)
		}
	}
	switch {
	case e.Stated != nil:
		stated(e.Stated)
	case e.Withdrawn != nil:
		fn(e.Withdrawn.Source, e.Withdrawn.FeedSeq)
	case e.Absorbed != nil:
		for i := range e.Absorbed.Sources {
			stated(&e.Absorbed.Sources[i])
		}
	}
}

// EarlierThan is the Stated.Earlier of a copy whose own FEEDS sequence is
// own: seqs without repeats, zeros and own, in order.
func EarlierThan(seqs []uint64, own uint64) []uint64 {
	seqs = slices.Clone(seqs)
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	out := seqs[:0]
	for _, s := range seqs {
		if s != 0 && s != own {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// SourcesNamed lists the source records an event states or names: the
// record a statement or withdrawal is of, the records a merge copies or a
// split moves, the record a steward's rejection is of, and the candidate's
// record a review request compared (on requests that name it in clear).
func (e Event) SourcesNamed() []record.SourceKey {
	switch {
	case e.Stated != nil:
		return []record.SourceKey{e.Stated.Source.Key()}
	case e.Withdrawn != nil:
		return []record.SourceKey{e.Withdrawn.Source}
	case e.Absorbed != nil:
		out := make([]record.SourceKey, 0, len(e.Absorbed.Sources))
		for _, st := range e.Absorbed.Sources {
			out = append(out, st.Source.Key())
		}
		return out
	case e.MovedOut != nil:
		return e.MovedOut.Sources
	case e.Rejected != nil:
		return []record.SourceKey{e.Rejected.Source}
	case e.Review != nil && e.Review.Compared != nil:
		return []record.SourceKey{*e.Review.Compared}
	}
	return nil
}
