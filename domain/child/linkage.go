package child

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"contactpoint/domain/record"
)

// Linkage event types: how children are joined, parted and reviewed.
const (
	// TypeAbsorbed: this child (the survivor) takes another child's source
	// records; the event carries copies of them so the survivor's stream
	// alone rebuilds its state.
	TypeAbsorbed = "child.absorbed"
	// TypeMergedInto ends a child's stream: it is now part of the survivor.
	TypeMergedInto = "child.merged-into"
	// TypeSourcesMovedOut: a steward split source records off to another child.
	TypeSourcesMovedOut = "sources.moved-out"
	// TypeReviewRequested: the linker was unsure whether this child is
	// another; a data steward decides.
	TypeReviewRequested = "match.review-requested"
	// TypeNotLinked: a decision that this child and another are different
	// children, remembered so the pair is never linked or asked again.
	TypeNotLinked = "match.not-linked"
	// TypeUnmerged: a steward undid a merge; this child, once absorbed,
	// stands again (its records come back as source.stated copies).
	TypeUnmerged = "child.unmerged"
)

// Unmerged is the restored child's half of an unmerge; the survivor's half
// is a sources.moved-out to it.
type Unmerged struct {
	Survivor string `json:"survivor"`
	Decision
}

// Decision says who made a linkage decision and why.
type Decision struct {
	By     string `json:"by"` // "linker", or the steward's practitioner id
	Reason string `json:"reason,omitempty"`
}

// Absorbed is the survivor's half of a merge.
type Absorbed struct {
	Absorbed string   `json:"absorbed"`
	Sources  []Stated `json:"sources"`
	// Withdrawn names the sources among Sources that their agency had
	// withdrawn: they move too, so the survivor answers for every record.
	Withdrawn []record.SourceKey `json:"withdrawn,omitempty"`
	Decision
}

// MergedInto is the absorbed child's half of a merge.
type MergedInto struct {
	Survivor string `json:"survivor"`
	Decision
}

// SourcesMovedOut is the origin's half of a split; the destination gets
// source.stated copies of the records.
type SourcesMovedOut struct {
	Sources []record.SourceKey `json:"sources"`
	To      string             `json:"to"`
	Decision
}

// ReviewRequested names the child this one may be, with the evidence.
type ReviewRequested struct {
	Candidate string           `json:"candidate"`
	Source    record.SourceKey `json:"source"`
	Score     float64          `json:"score"`
	Evidence  json.RawMessage  `json:"evidence,omitempty"`
	// Why is the kind of doubt (match.WhyScoreBand, WhyTwin, WhyIdentifier,
	// WhyHousehold) and Reason the rule's sentence, naming no value; Compared
	// is the candidate's source record the record was compared with. Older
	// events carry none of the three.
	Why      string            `json:"why,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Compared *record.SourceKey `json:"compared,omitempty"`
	// ComparedRef names the compared record by ComparedDigest instead of
	// Compared, on events written since: the event lives on this child's
	// subject, and erasing the candidate must not leave its record id in
	// clear in another child's history. The projection resolves it
	// through the candidate's source records while they exist.
	ComparedRef string `json:"compared_ref,omitempty"`
	// Task and Decided are set on a request an erasure said again: its
	// first message also copied a record of the erased child, and was
	// deleted. The task keeps the id it had (the sequence of that
	// message), and Decided is its decision by then, if it had one, so
	// that a rebuild, which meets the request after the decision, gives
	// the task as it was.
	Task    uint64        `json:"task,omitempty"`
	Decided *TaskDecision `json:"decided,omitempty"`
}

// TaskID is the id of the review task the request opened, when it is in
// the CHILDREN message at sequence seq: seq, or the first id of a request
// said again.
func (r *ReviewRequested) TaskID(seq uint64) uint64 {
	if r.Task > 0 {
		return r.Task
	}
	return seq
}

// TaskDecision is how a review task was closed: Status "linked" or
// "not-linked", by whom, when and why.
type TaskDecision struct {
	Status string    `json:"status"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// ComparedDigest is the reference to a candidate's source record that a
// review request carries: the hex SHA-256 of "<candidate id>/<agency>/
// <system>/<record id>". It names nothing by itself; knowing the candidate
// and its records one finds which was compared, and once the candidate is
// erased nobody does. (projections/directory computes the same in SQL.)
func ComparedDigest(candidate string, k record.SourceKey) string {
	sum := sha256.Sum256([]byte(candidate + "/" + k.Agency + "/" + k.System + "/" + k.RecordID))
	return hex.EncodeToString(sum[:])
}

// NotLinked records that this child is not Other.
type NotLinked struct {
	Other string `json:"other"`
	Decision
}

// Statement returns the source's current statement as an event payload, for
// copying it to another child in a merge or split.
func (s *SourceState) Statement() Stated {
	at := s.StatedAt
	st := Stated{Source: s.Source, Child: s.Child, Consents: s.Consents, ContentHash: s.ContentHash, FeedSeq: s.FeedSeq, Link: s.Link}
	if !at.IsZero() {
		st.StatedAt = &at
	}
	return st
}

// statedAt is when the hub first heard a statement: its own record of it
// on a copy, else the time of the event that carries it.
func statedAt(st *Stated, e Event) time.Time {
	if st.StatedAt != nil {
		return *st.StatedAt
	}
	return e.At
}

func (s *State) applyLinkage(e Event) {
	switch e.Type {
	case TypeAbsorbed:
		if a := e.Absorbed; a != nil {
			for _, st := range a.Sources {
				s.Sources[st.Source.Key()] = &SourceState{
					Source: st.Source, Child: st.Child, Consents: st.Consents,
					ContentHash: st.ContentHash, FeedSeq: st.FeedSeq, StatedAt: statedAt(&st, e), Link: st.Link,
				}
			}
			for _, k := range a.Withdrawn {
				if ss := s.Sources[k]; ss != nil {
					ss.Withdrawn = true
				}
			}
		}
	case TypeMergedInto:
		if m := e.MergedInto; m != nil {
			s.MergedInto = m.Survivor
		}
	case TypeUnmerged:
		// The child stands again with the records the unmerge gives back,
		// as source.stated copies in the same batch. Those it held before
		// the merge and that left the survivor since (split off to another
		// child, erased) are not its any more: its earlier statements of
		// them must not bring them back.
		s.MergedInto = ""
		clear(s.Sources)
	case TypeSourcesMovedOut:
		if m := e.MovedOut; m != nil {
			for _, k := range m.Sources {
				delete(s.Sources, k)
			}
		}
	case TypeNotLinked:
		if n := e.NotLinked; n != nil {
			if s.NotLinked == nil {
				s.NotLinked = map[string]bool{}
			}
			s.NotLinked[n.Other] = true
		}
	}
}
