package linker

import (
	"context"

	"github.com/google/uuid"

	"contactpoint/domain/child"
)

// Erase appends the tombstone child.erased to each child's subject and makes
// the index forget them: their source records, identifiers and blocking
// keys, so that a new record is never matched to a ghost. ids are a
// standing child and the children merged into it; a child already erased is
// passed over, so a retry after a crash appends nothing twice. It returns
// the CHILDREN sequence of each tombstone (the one already there for a
// child erased before), for the caller to delete everything before it.
func (l *Linker) Erase(ctx context.Context, ids []uuid.UUID, er child.Erased) (map[uuid.UUID]uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return nil, ErrNotReady
	}
	now := l.now().UTC()
	var p plan
	for _, id := range ids {
		r, ok := l.idx.refs[id]
		if !ok {
			return nil, ErrUnknownChild
		}
		if l.idx.erased[r] {
			continue
		}
		e := er
		p.add(id, 0, child.Event{Type: child.TypeErased, At: now, Erased: &e})
	}
	if err := l.append(ctx, p); err != nil {
		return nil, err
	}
	for _, id := range p.order {
		l.idx.apply(id, p.per[id].batch)
	}
	if len(p.order) > 0 {
		// The snapshot on disk still holds the erased children's data: a
		// fresh one replaces it (the rename unlinks the old file).
		l.snapshotErased()
	}
	out := make(map[uuid.UUID]uint64, len(ids))
	for _, id := range ids {
		out[id] = l.idx.children[l.idx.refs[id]].lastSeq
	}
	return out, nil
}

// forget drops every trace of an erased child from the index. The scans of
// the identifier and source maps cost one pass over the index per erased
// child, which a daily run of a few erasures affords; a rebuild meets the
// tombstone alone (the subject's earlier messages are deleted) and has
// nothing to scan for.
func (x *Index) forget(r ref) {
	if x.erased == nil {
		x.erased = map[ref]bool{}
	}
	x.erased[r] = true
	x.releaseAll(r)
	delete(x.awaiting, r)
	delete(x.stewardMerged, r)
	for k, s := range x.sourceIdx {
		if e := &x.srcs[s]; e.child == r || x.resolve(e.child) == r {
			delete(x.sourceIdx, k)
			x.feats[s] = ""
			e.holder = -1
		}
	}
	for k, v := range x.nhs {
		if v == r || x.resolve(v) == r {
			delete(x.nhs, k)
		}
	}
	for k, v := range x.upn {
		if v == r || x.resolve(v) == r {
			delete(x.upn, k)
		}
	}
}

// Restate appends events to one child's own subject, following no merge:
// the erasure deletes a message on another child's subject that copied the
// erased child's records, and restates here what else the message said of
// that child (its registration, a shield it still holds, a pair decided
// apart), so that its state comes out the same without the message.
func (l *Linker) Restate(ctx context.Context, id uuid.UUID, events []child.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready {
		return ErrNotReady
	}
	if _, ok := l.idx.refs[id]; !ok {
		return ErrUnknownChild
	}
	var p plan
	p.add(id, 0, events...)
	if err := l.append(ctx, p); err != nil {
		return err
	}
	l.idx.apply(id, p.per[id].batch)
	return nil
}
