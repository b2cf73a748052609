package child

import (
	"sort"
	"time"

	json "github.com/goccy/go-json"

	"contactpoint/domain/record"
)

// SourceState is what one source last stated about the child.
type SourceState struct {
	Source      record.Source
	Child       record.Child
	Consents    []record.Consent
	ContentHash string
	FeedSeq     uint64
	StatedAt    time.Time
	Withdrawn   bool
	// Link is the rule (and score) that joined the source to this child.
	Link Link
}

// UpdatedAt is when the source says it last changed the record, or when the
// hub heard of it if the source does not say.
func (s *SourceState) UpdatedAt() time.Time {
	if s.Source.UpdatedAt != nil {
		return *s.Source.UpdatedAt
	}
	return s.StatedAt
}

// State is a child rebuilt from its events.
type State struct {
	ID      string
	Sources map[record.SourceKey]*SourceState
	Shield  *Shield // nil when not shielded
	// MergedInto is the survivor's id once this child has been merged.
	MergedInto string
	// NotLinked holds the ids of children decided to be different children.
	NotLinked map[string]bool
	// Indicated holds involvement practitioners recorded in the hub, by
	// practitioner id.
	Indicated map[string]IndicatedState
	// Corrections are the stewards' corrections standing, by field.
	Corrections map[string]Correction
	// Rejected holds "<source key>|<field>" for source values a steward
	// marked as wrong.
	Rejected map[string]bool
	// Retention holds archiving, erasure and their exceptions; nil when
	// none has happened.
	Retention *RetentionState
}

// NewState returns the empty state of a child with the given id.
func NewState(id string) *State {
	return &State{ID: id, Sources: map[record.SourceKey]*SourceState{}}
}

// Apply folds a batch of events into the state.
func (s *State) Apply(b Batch) {
	for _, e := range b.Events {
		s.apply(e)
	}
}

func (s *State) apply(e Event) {
	switch e.Type {
	case TypeRegistered:
		if e.Registered != nil {
			s.ID = e.Registered.ChildID
		}
	case TypeStated:
		st := e.Stated
		if st == nil {
			return
		}
		link := st.Link
		// A source's later statements are linked by being the same source
		// record; the rule that first joined it to this child is the one
		// worth showing.
		if prev := s.Sources[st.Source.Key()]; prev != nil && link.Rule == "source-record" && prev.Link.Rule != "" {
			link = prev.Link
		}
		s.Sources[st.Source.Key()] = &SourceState{
			Source: st.Source, Child: st.Child, Consents: st.Consents,
			ContentHash: st.ContentHash, FeedSeq: st.FeedSeq, StatedAt: statedAt(st, e), Link: link,
		}
	case TypeShieldApplied:
		s.Shield = e.Shield
	case TypeShieldLifted:
		s.Shield = nil
	case TypeInvolvementIndicated:
		s.applyIndicated(e)
	case TypeCorrected, TypeCorrectionWithdrawn, TypeValueRejected, TypeCorrectionConfirmed:
		s.applyCorrection(e)
	case TypeAbsorbed, TypeMergedInto, TypeSourcesMovedOut, TypeNotLinked, TypeUnmerged:
		s.applyLinkage(e)
	case TypeArchived, TypeErased, TypeRetentionException:
		s.applyRetention(e)
	case TypeWithdrawn:
		if w := e.Withdrawn; w != nil {
			if ss := s.Sources[w.Source]; ss != nil {
				ss.Withdrawn = true
				ss.FeedSeq = w.FeedSeq
			}
		}
	}
}

// Active returns the sources that still stand, in a fixed order (by key) so
// that everything derived from them is deterministic.
func (s *State) Active() []*SourceState {
	out := make([]*SourceState, 0, len(s.Sources))
	for _, ss := range s.Sources {
		if !ss.Withdrawn {
			out = append(out, ss)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source.Key().String() < out[j].Source.Key().String() })
	return out
}

// All returns every source, withdrawn ones included, in key order.
func (s *State) All() []*SourceState {
	out := make([]*SourceState, 0, len(s.Sources))
	for _, ss := range s.Sources {
		out = append(out, ss)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source.Key().String() < out[j].Source.Key().String() })
	return out
}

// AlreadyStated reports whether the source's current statement has exactly
// this content: a resend that the linker must not append again.
func (s *State) AlreadyStated(k record.SourceKey, hash string) bool {
	ss := s.Sources[k]
	return ss != nil && !ss.Withdrawn && ss.ContentHash == hash
}

// storedSource is the serialised form of a SourceState.
type storedSource struct {
	Source      record.Source    `json:"source"`
	Child       record.Child     `json:"child"`
	Consents    []record.Consent `json:"consents,omitempty"`
	ContentHash string           `json:"content_hash"`
	FeedSeq     uint64           `json:"feed_seq"`
	StatedAt    time.Time        `json:"stated_at"`
	Withdrawn   bool             `json:"withdrawn,omitempty"`
	Link        Link             `json:"link"`
}

type storedState struct {
	ID      string         `json:"id"`
	Sources []storedSource `json:"sources"`
	Shield  *Shield        `json:"shield,omitempty"`

	MergedInto string   `json:"merged_into,omitempty"`
	NotLinked  []string `json:"not_linked,omitempty"`

	Indicated []IndicatedState `json:"indicated,omitempty"`

	Corrections map[string]Correction `json:"corrections,omitempty"`
	Rejected    []string              `json:"rejected,omitempty"`

	Retention *RetentionState `json:"retention,omitempty"`
}

// MarshalJSON stores the state with its sources in key order.
func (s *State) MarshalJSON() ([]byte, error) {
	st := storedState{ID: s.ID, Sources: make([]storedSource, 0, len(s.Sources)), Shield: s.Shield, MergedInto: s.MergedInto}
	for o := range s.NotLinked {
		st.NotLinked = append(st.NotLinked, o)
	}
	sort.Strings(st.NotLinked)
	keys := make([]record.SourceKey, 0, len(s.Sources))
	for k := range s.Sources {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		ss := s.Sources[k]
		st.Sources = append(st.Sources, storedSource{ss.Source, ss.Child, ss.Consents, ss.ContentHash, ss.FeedSeq, ss.StatedAt, ss.Withdrawn, ss.Link})
	}
	for _, f := range indicatedFacts(s) {
		st.Indicated = append(st.Indicated, s.Indicated[f.Source.RecordID])
	}
	st.Corrections = s.Corrections
	for k := range s.Rejected {
		st.Rejected = append(st.Rejected, k)
	}
	sort.Strings(st.Rejected)
	st.Retention = s.Retention
	return json.Marshal(st)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *State) UnmarshalJSON(b []byte) error {
	var st storedState
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	s.ID = st.ID
	s.Shield = st.Shield
	s.MergedInto = st.MergedInto
	s.NotLinked = nil
	for _, o := range st.NotLinked {
		if s.NotLinked == nil {
			s.NotLinked = map[string]bool{}
		}
		s.NotLinked[o] = true
	}
	s.Indicated = nil
	for _, in := range st.Indicated {
		if s.Indicated == nil {
			s.Indicated = map[string]IndicatedState{}
		}
		s.Indicated[in.PractitionerID] = in
	}
	s.Corrections = st.Corrections
	s.Retention = st.Retention
	s.Rejected = nil
	for _, k := range st.Rejected {
		if s.Rejected == nil {
			s.Rejected = map[string]bool{}
		}
		s.Rejected[k] = true
	}
	s.Sources = make(map[record.SourceKey]*SourceState, len(st.Sources))
	for _, x := range st.Sources {
		s.Sources[x.Source.Key()] = &SourceState{x.Source, x.Child, x.Consents, x.ContentHash, x.FeedSeq, x.StatedAt, x.Withdrawn, x.Link}
	}
	return nil
}
