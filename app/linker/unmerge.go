package linker

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// Errors of unmerge.
var (
	ErrNotAbsorbed   = errors.New("that child was not merged into this one")
	ErrMergedSince   = errors.New("the survivor has itself been merged since; unmerge that merge first")
	ErrNothingToMove = errors.New("none of the records the absorbed child brought is still on the survivor")
)

// Unmerge undoes a merge: the absorbed child stands again with exactly the
// source records it brought that the survivor still holds (withdrawn ones
// included, and with every statement their sources made since), the pair is
// remembered as different children, and a shielded survivor shields the
// restored child too. Like a split, the restored child's half is written
// first; the survivor's half says the records moved out.
func (l *Linker) Unmerge(ctx context.Context, survivor, absorbed uuid.UUID, d child.Decision) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.planUnmerge(ctx, survivor, absorbed, d)
	if err != nil {
		return err
	}
	if err := l.append(ctx, p); err != nil {
		return err
	}
	for _, id := range p.order {
		l.idx.apply(id, p.per[id].batch)
	}
	return l.carryShield(ctx, survivor, absorbed, "unmerge")
}

func (l *Linker) planUnmerge(ctx context.Context, survivor, absorbed uuid.UUID, d child.Decision) (plan, error) {
	var p plan
	rs, err := l.standing(survivor)
	if err != nil {
		return p, err
	}
	ra, ok := l.idx.refs[absorbed]
	if !ok {
		return p, ErrUnknownChild
	}
	if l.idx.children[ra].mergedInto != rs {
		if l.idx.children[ra].mergedInto >= 0 && l.idx.resolve(ra) == rs {
			return p, ErrMergedSince
		}
		return p, ErrNotAbsorbed
	}
	brought, err := absorbedSources(ctx, l.js, survivor, absorbed)
	if err != nil {
		return p, err
	}
	surv, _, err := LoadChild(ctx, l.js, survivor)
	if err != nil {
		return p, err
	}
	abs, _, err := LoadChild(ctx, l.js, absorbed)
	if err != nil {
		return p, err
	}
	earlier, err := earlierFeeds(ctx, l.js, survivor, brought)
	if err != nil {
		return p, err
	}
	now := l.now().UTC()
	back := []child.Event{{Type: child.TypeUnmerged, At: now, Unmerged: &child.Unmerged{Survivor: survivor.String(), Decision: d}}}
	var moved []record.SourceKey
	for _, ss := range surv.All() {
		k := ss.Source.Key()
		if !brought[k] {
			continue
		}
		st := ss.Statement()
		st.Earlier = child.EarlierThan(earlier[k], st.FeedSeq)
		back = append(back, child.Event{Type: child.TypeStated, At: now, Stated: &st})
		if ss.Withdrawn {
			back = append(back, child.Event{Type: child.TypeWithdrawn, At: now, Withdrawn: &child.Withdrawn{Source: k, FeedSeq: ss.FeedSeq}})
		}
		moved = append(moved, k)
	}
	if len(moved) == 0 {
		return p, ErrNothingToMove
	}
	if len(moved) >= len(surv.Sources) {
		return p, ErrSplitEverything
	}
	back = append(back, child.Event{Type: child.TypeNotLinked, At: now, NotLinked: &child.NotLinked{Other: survivor.String(), Decision: d}})
	if surv.Shield != nil && abs.Shield == nil {
		back = append(back, carried(surv.Shield, survivor, "unmerge", now))
	}
	p.add(absorbed, 0, back...)
	p.add(survivor, 0,
		child.Event{Type: child.TypeSourcesMovedOut, At: now, MovedOut: &child.SourcesMovedOut{Sources: moved, To: absorbed.String(), Decision: d}},
		child.Event{Type: child.TypeNotLinked, At: now, NotLinked: &child.NotLinked{Other: absorbed.String(), Decision: d}})
	return p, nil
}

// absorbedSources reads, from the survivor's own subject, which source
// records the merge of absorbed brought (every merge of it, if it was
// merged, unmerged and merged again, counts its last).
func absorbedSources(ctx context.Context, js jetstream.JetStream, survivor, absorbed uuid.UUID) (map[record.SourceKey]bool, error) {
	var out map[record.SourceKey]bool
	err := EachChildMsg(ctx, js, survivor, 0, func(m *jetstream.RawStreamMsg) (bool, error) {
		_, b, err := DecodeChildMsg(m.Subject, m.Data)
		if err != nil {
			return true, nil // parked by the projections; skipped by every reader
		}
		for _, e := range b.Events {
			if e.Type == child.TypeAbsorbed && e.Absorbed.Absorbed == absorbed.String() {
				out = map[record.SourceKey]bool{}
				for _, s := range e.Absorbed.Sources {
					out[s.Source.Key()] = true
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("unmerge: %w", err)
	}
	if out == nil {
		return nil, ErrNotAbsorbed
	}
	return out, nil
}

// Preview is what the children a steward command touches would look like
// after it, without anything appended: the states, to be shown through the
// access policy.
type Preview struct {
	States []*child.State
}

// PreviewSplit answers what a split would give.
func (l *Linker) PreviewSplit(ctx context.Context, from uuid.UUID, keys []record.SourceKey, to uuid.UUID, d child.Decision) (Preview, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, _, err := l.planSplit(ctx, from, keys, to, d)
	if err != nil {
		return Preview{}, err
	}
	return l.preview(ctx, p)
}

// PreviewMerge answers what a merge of a and b would give: the survivor
// (the older child) with the other's records, and the other merged into it.
func (l *Linker) PreviewMerge(ctx context.Context, a, b uuid.UUID, d child.Decision) (Preview, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ra, err := l.standing(a)
	if err != nil {
		return Preview{}, err
	}
	rb, err := l.standing(b)
	if err != nil {
		return Preview{}, err
	}
	if ra == rb {
		return Preview{}, ErrSameChild
	}
	if l.idx.isNotLinked(ra, rb) {
		return Preview{}, ErrNotLinkedPair
	}
	surv, abs := a, b
	if b.String() < a.String() {
		surv, abs = b, a
	}
	absState, _, err := LoadChild(ctx, l.js, abs)
	if err != nil {
		return Preview{}, err
	}
	now := l.now().UTC()
	ab := &child.Absorbed{Absorbed: abs.String(), Decision: d}
	for _, ss := range absState.All() {
		ab.Sources = append(ab.Sources, ss.Statement())
		if ss.Withdrawn {
			ab.Withdrawn = append(ab.Withdrawn, ss.Source.Key())
		}
	}
	var p plan
	p.add(surv, 0, child.Event{Type: child.TypeAbsorbed, At: now, Absorbed: ab})
	if absState.Shield != nil {
		p.add(surv, 0, carried(absState.Shield, abs, "merge", now))
	}
	p.add(abs, 0, child.Event{Type: child.TypeMergedInto, At: now, MergedInto: &child.MergedInto{Survivor: surv.String(), Decision: d}})
	pv, err := l.preview(ctx, p)
	if err != nil {
		return pv, err
	}
	// A survivor that is shielded already keeps its own shield.
	if absState.Shield != nil && len(pv.States) > 0 && pv.States[0].Shield != nil && pv.States[0].Shield.CarriedFrom == abs.String() {
		if own, _, err := LoadChild(ctx, l.js, surv); err == nil && own.Shield != nil {
			pv.States[0].Shield = own.Shield
		}
	}
	return pv, nil
}

// UnmergePreview answers what an unmerge would give.
func (l *Linker) UnmergePreview(ctx context.Context, survivor, absorbed uuid.UUID, d child.Decision) (Preview, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.planUnmerge(ctx, survivor, absorbed, d)
	if err != nil {
		return Preview{}, err
	}
	return l.preview(ctx, p)
}

// preview applies a plan to the children's current states, read from the
// log, in the plan's order.
func (l *Linker) preview(ctx context.Context, p plan) (Preview, error) {
	var out Preview
	for _, id := range p.order {
		st, last, err := LoadChild(ctx, l.js, id)
		if err != nil {
			return out, err
		}
		if last == 0 {
			st = child.NewState(id.String())
		}
		st.Apply(p.per[id].batch)
		out.States = append(out.States, st)
	}
	return out, nil
}
