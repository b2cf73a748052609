package linker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// Errors of steward commands, for the API to map to statuses.
var (
	ErrUnknownChild    = errors.New("no such child")
	ErrMergedChild     = errors.New("the child has been merged into another; act on the survivor")
	ErrSameChild       = errors.New("both ids name the same child")
	ErrNotLinkedPair   = errors.New("a steward decided these are different children")
	ErrUnknownSource   = errors.New("the child holds no such source record")
	ErrSplitEverything = errors.New("a split must leave the child at least one source record")
)

// EachChildMsg calls fn with each message of the child's own subject after
// sequence `after`, in order, by direct get (next message by subject),
// never a consumer: reading one child must not cost the server a consumer.
// It stops at the subject's end or when fn returns false or an error.
func EachChildMsg(ctx context.Context, js jetstream.JetStream, id uuid.UUID, after uint64, fn func(m *jetstream.RawStreamMsg) (bool, error)) error {
	st, err := js.Stream(ctx, natsjs.StreamChildren)
	if err != nil {
		return fmt.Errorf("read child: %w", err)
	}
	subj := "children." + id.String()
	for seq := after + 1; ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read child: %w", err)
		}
		more, err := fn(m)
		if err != nil || !more {
			return err
		}
		seq = m.Sequence + 1
	}
}

// LoadChild rebuilds a child's state from its own subject. Messages that
// cannot be decoded are skipped (the directory parks them); the sequence
// returned is the subject's last.
func LoadChild(ctx context.Context, js jetstream.JetStream, id uuid.UUID) (*child.State, uint64, error) {
	s := child.NewState(id.String())
	var last uint64
	err := EachChildMsg(ctx, js, id, 0, func(m *jetstream.RawStreamMsg) (bool, error) {
		// A message the decoder refuses is skipped, as the projections park
		// it and the index rebuild skips it, so every reader agrees on the
		// child's state; its sequence still counts, as the next append must
		// expect it.
		if _, b, err := DecodeChildMsg(m.Subject, m.Data); err == nil {
			s.Apply(b)
		}
		last = m.Sequence
		return true, nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("load child: %w", err)
	}
	return s, last, nil
}

// standing resolves a child id for a command.
func (l *Linker) standing(id uuid.UUID) (ref, error) {
	if !l.ready {
		return 0, ErrNotReady
	}
	r, ok := l.idx.refs[id]
	if !ok {
		return 0, ErrUnknownChild
	}
	if l.idx.children[r].mergedInto >= 0 {
		return 0, ErrMergedChild
	}
	if l.idx.erased[r] {
		return 0, ErrUnknownChild
	}
	return r, nil
}

// Merge joins two children on a steward's decision. The survivor is the
// older child (the smaller UUIDv7), so the result does not depend on the
// order the ids were given in. It returns the survivor's id.
func (l *Linker) Merge(ctx context.Context, a, b uuid.UUID, d child.Decision) (uuid.UUID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ra, err := l.standing(a)
	if err != nil {
		return uuid.Nil, err
	}
	rb, err := l.standing(b)
	if err != nil {
		return uuid.Nil, err
	}
	if ra == rb {
		return uuid.Nil, ErrSameChild
	}
	if l.idx.isNotLinked(ra, rb) {
		return uuid.Nil, ErrNotLinkedPair
	}
	if err := l.mergeRefs(ctx, ra, rb, d); err != nil {
		return uuid.Nil, err
	}
	return l.idx.children[l.idx.resolve(ra)].id, nil
}

// mergeRefs merges two standing children; a no-op if they are already one.
// The survivor's half (which carries the absorbed child's source records)
// is written first: if the process stops between the two halves, the index
// rebuilt from the stream already treats the merge as done and
// completeMerges writes the absorbed child's half.
func (l *Linker) mergeRefs(ctx context.Context, a, b ref, d child.Decision) error {
	x := l.idx
	a, b = x.resolve(a), x.resolve(b)
	if a == b || x.isNotLinked(a, b) {
		return nil
	}
	surv, abs := a, b
	if x.children[b].id.String() < x.children[a].id.String() {
		surv, abs = b, a
	}
	absID, survID := x.children[abs].id, x.children[surv].id
	state, _, err := LoadChild(ctx, l.js, absID)
	if err != nil {
		return err
	}
	now := l.now().UTC()
	ab := &child.Absorbed{Absorbed: absID.String(), Sources: make([]child.Stated, 0, len(state.Sources)), Decision: d}
	for _, ss := range state.All() {
		ab.Sources = append(ab.Sources, ss.Statement())
		if ss.Withdrawn {
			ab.Withdrawn = append(ab.Withdrawn, ss.Source.Key())
		}
	}
	events := []child.Event{{Type: child.TypeAbsorbed, At: now, Absorbed: ab}}
	// The shield belongs to the child: the survivor takes it in the same
	// message as the records, so no reader ever sees the records unshielded.
	if state.Shield != nil {
		surv, _, err := LoadChild(ctx, l.js, survID)
		if err != nil {
			return err
		}
		if surv.Shield == nil {
			events = append(events, carried(state.Shield, absID, "merge", now))
		}
	}
	var p plan
	p.add(survID, 0, events...)
	if err := l.append(ctx, p); err != nil {
		return err
	}
	x.apply(survID, p.per[survID].batch)
	if err := l.markMerged(ctx, abs, surv, d); err != nil {
		return err
	}
	// A shield officer may have shielded the absorbed child between the
	// read above and its merged-into half; writers to a merged child go to
	// the survivor from then on, so this one check closes the gap.
	return l.carryShield(ctx, absID, survID, "merge")
}

// carried is a shield.applied event that carries another child's shield.
func carried(sh *child.Shield, from uuid.UUID, why string, at time.Time) child.Event {
	c := *sh
	c.CarriedFrom, c.CarriedBy = from.String(), why
	return child.Event{Type: child.TypeShieldApplied, At: at, Shield: &c}
}

// carryShield shields `to` with `from`'s shield when from is shielded and
// to is not.
func (l *Linker) carryShield(ctx context.Context, from, to uuid.UUID, why string) error {
	fs, _, err := LoadChild(ctx, l.js, from)
	if err != nil || fs.Shield == nil {
		return err
	}
	ts, _, err := LoadChild(ctx, l.js, to)
	if err != nil || ts.Shield != nil {
		return err
	}
	var p plan
	p.add(to, 0, carried(fs.Shield, from, why, l.now().UTC()))
	if err := l.append(ctx, p); err != nil {
		return err
	}
	l.idx.apply(to, p.per[to].batch)
	return nil
}

func (l *Linker) markMerged(ctx context.Context, abs, surv ref, d child.Decision) error {
	x := l.idx
	var p plan
	absID := x.children[abs].id
	p.add(absID, 0, child.Event{Type: child.TypeMergedInto, At: l.now().UTC(), MergedInto: &child.MergedInto{Survivor: x.children[surv].id.String(), Decision: d}})
	if err := l.append(ctx, p); err != nil {
		return err
	}
	x.children[abs].mergedInto = surv
	return nil
}

// completeMerges finds merges whose absorbed half is missing and writes it.
func (l *Linker) completeMerges(ctx context.Context) error {
	for r, c := range l.idx.children {
		if c.mergedInto < 0 {
			continue
		}
		st, _, err := LoadChild(ctx, l.js, c.id)
		if err != nil {
			return err
		}
		if st.MergedInto == "" {
			if err := l.markMerged(ctx, ref(r), c.mergedInto, child.Decision{By: ByLinker, Reason: "completing an interrupted merge"}); err != nil {
				return err
			}
			surv := l.idx.children[l.idx.resolve(c.mergedInto)].id
			if err := l.carryShield(ctx, c.id, surv, "merge"); err != nil {
				return err
			}
		}
	}
	return nil
}

// NotLink records a steward's decision that two children are different, on
// both children's streams, so the pair is never linked or asked again.
func (l *Linker) NotLink(ctx context.Context, a, b uuid.UUID, d child.Decision) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ra, err := l.standing(a)
	if err != nil {
		return err
	}
	rb, err := l.standing(b)
	if err != nil {
		return err
	}
	if ra == rb {
		return ErrSameChild
	}
	now := l.now().UTC()
	var p plan
	p.add(a, 0, child.Event{Type: child.TypeNotLinked, At: now, NotLinked: &child.NotLinked{Other: b.String(), Decision: d}})
	p.add(b, 0, child.Event{Type: child.TypeNotLinked, At: now, NotLinked: &child.NotLinked{Other: a.String(), Decision: d}})
	if err := l.append(ctx, p); err != nil {
		return err
	}
	for _, id := range p.order {
		l.idx.apply(id, p.per[id].batch)
	}
	return nil
}

// Split moves chosen source records off a wrongly merged child to a new
// child (to == uuid.Nil) or to another standing child, and remembers that
// the two are different children. History stays: the origin's stream says
// the records moved out, the destination's says they were stated to it.
func (l *Linker) Split(ctx context.Context, from uuid.UUID, keys []record.SourceKey, to uuid.UUID, d child.Decision) (uuid.UUID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, to, err := l.planSplit(ctx, from, keys, to, d)
	if err != nil {
		return uuid.Nil, err
	}
	l.idx.ref(to)
	if err := l.append(ctx, p); err != nil {
		return uuid.Nil, err
	}
	for _, id := range p.order {
		l.idx.apply(id, p.per[id].batch)
	}
	// A shield applied to the origin while the split was being decided.
	if err := l.carryShield(ctx, from, to, "split"); err != nil {
		return uuid.Nil, err
	}
	return to, nil
}

// planSplit decides the events of a split without appending them.
func (l *Linker) planSplit(ctx context.Context, from uuid.UUID, keys []record.SourceKey, to uuid.UUID, d child.Decision) (plan, uuid.UUID, error) {
	var p plan
	rf, err := l.standing(from)
	if err != nil {
		return p, uuid.Nil, err
	}
	state, _, err := LoadChild(ctx, l.js, from)
	if err != nil {
		return p, uuid.Nil, err
	}
	moving := map[record.SourceKey]bool{}
	for _, k := range keys {
		if ss := state.Sources[k]; ss == nil {
			return p, uuid.Nil, fmt.Errorf("%w: %s", ErrUnknownSource, k)
		}
		moving[k] = true
	}
	if len(moving) == 0 || len(moving) >= len(state.Sources) {
		return p, uuid.Nil, ErrSplitEverything
	}
	now := l.now().UTC()
	var destEvents []child.Event
	if to == uuid.Nil {
		if to, err = uuid.NewV7(); err != nil {
			return p, uuid.Nil, err
		}
		destEvents = append(destEvents, child.Event{Type: child.TypeRegistered, At: now, Registered: &child.Registered{ChildID: to.String(), Reason: "split from " + from.String()}})
	} else if rt, err := l.standing(to); err != nil {
		return p, uuid.Nil, err
	} else if rt == rf {
		return p, uuid.Nil, ErrSameChild
	}
	earlier, err := earlierFeeds(ctx, l.js, from, moving)
	if err != nil {
		return p, uuid.Nil, err
	}
	moved := make([]record.SourceKey, 0, len(moving))
	for _, ss := range state.Active() {
		k := ss.Source.Key()
		if !moving[k] {
			continue
		}
		st := ss.Statement()
		st.Earlier = child.EarlierThan(earlier[k], st.FeedSeq)
		st.Link = child.Link{Rule: "steward-split"}
		destEvents = append(destEvents, child.Event{Type: child.TypeStated, At: now, Stated: &st})
		moved = append(moved, k)
	}
	destEvents = append(destEvents, child.Event{Type: child.TypeNotLinked, At: now, NotLinked: &child.NotLinked{Other: from.String(), Decision: d}})
	// Records that leave a shielded child stay behind its shield: the
	// other child is shielded in the same message that gives it them.
	if state.Shield != nil {
		ds := child.NewState(to.String())
		if len(destEvents) == 0 || destEvents[0].Type != child.TypeRegistered {
			if ds, _, err = LoadChild(ctx, l.js, to); err != nil {
				return p, uuid.Nil, err
			}
		}
		if ds.Shield == nil {
			destEvents = append(destEvents, carried(state.Shield, from, "split", now))
		}
	}
	p.add(to, 0, destEvents...)
	p.add(from, 0,
		child.Event{Type: child.TypeSourcesMovedOut, At: now, MovedOut: &child.SourcesMovedOut{Sources: moved, To: to.String(), Decision: d}},
		child.Event{Type: child.TypeNotLinked, At: now, NotLinked: &child.NotLinked{Other: to.String(), Decision: d}})
	return p, to, nil
}

// earlierFeeds reads, from a child's own subject, the FEEDS sequences of
// every statement and withdrawal of the given records there, and those the
// copies among them carried. A split or an unmerge gives the other child
// copies with them (Stated.Earlier): the FEEDS messages of a record's
// earlier versions are otherwise named only here, and this subject may be
// erased first.
func earlierFeeds(ctx context.Context, js jetstream.JetStream, id uuid.UUID, keys map[record.SourceKey]bool) (map[record.SourceKey][]uint64, error) {
	out := map[record.SourceKey][]uint64{}
	err := EachChildMsg(ctx, js, id, 0, func(m *jetstream.RawStreamMsg) (bool, error) {
		_, b, err := DecodeChildMsg(m.Subject, m.Data)
		if err != nil {
			return true, nil // parked: skipped by every reader
		}
		for _, e := range b.Events {
			e.EachFeedSeq(func(k record.SourceKey, seq uint64) {
				if keys[k] {
					out[k] = append(out[k], seq)
				}
			})
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("linker: earlier statements: %w", err)
	}
	return out, nil
}
