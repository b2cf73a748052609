package directory

import (
	"github.com/google/uuid"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// fold is the directory's one derivation from CHILDREN messages: each
// touched child's state, which child each source record belongs to, and
// what the events mean for the review queue, the decision log and the
// reveals, in event order. The live apply folds a batch over the states
// it loads and writes the result by upsert and statements; a rebuild's
// bulk load folds the whole stream into one fold and writes it once by
// COPY (bulk.go).
type fold struct {
	states map[uuid.UUID]*touched
	ids    []uuid.UUID // the touched children, in the order first touched
	links  map[record.SourceKey]sourceLink
	// claims lists the records each child claimed in the fold (some may
	// have moved on since), so that an erasure finds its child's links.
	claims map[uuid.UUID][]record.SourceKey
	// erased are the children erased in the fold: their earlier links go
	// before the fold's are written, as they went when the erasure was
	// applied, so that a record the erased child held starts afresh.
	erased []uuid.UUID
	ops    []linkageOp
}

// sourceLink is a directory_sources row: the child a source record
// belongs to, as its last claiming message left it.
type sourceLink struct {
	child     uuid.UUID
	withdrawn bool
	// sensitive stays set once the record has stated a sensitive
	// service, within a fold as in the table (see writeChildren).
	sensitive bool
}

// newFold starts a fold over states, the children's states as they stand
// before it (absent children start empty).
func newFold(states map[uuid.UUID]*touched) *fold {
	if states == nil {
		states = map[uuid.UUID]*touched{}
	}
	return &fold{states: states, links: map[record.SourceKey]sourceLink{}, claims: map[uuid.UUID][]record.SourceKey{}}
}

// add folds one message of child id; seq is its CHILDREN sequence.
func (f *fold) add(seq uint64, id uuid.UUID, b child.Batch) {
	t := f.states[id]
	if t == nil {
		t = &touched{state: child.NewState(id.String())}
		f.states[id] = t
	}
	if !t.folded {
		t.folded = true
		f.ids = append(f.ids, id)
	}
	t.state.Apply(b)
	t.lastSeq = seq
	for _, e := range b.Events {
		if e.Type == child.TypeErased {
			for _, k := range f.claims[id] {
				if f.links[k].child == id {
					delete(f.links, k)
				}
			}
			delete(f.claims, id)
			f.erased = append(f.erased, id)
		}
		// A batch can end between the two halves of a merge, when survivor
		// and absorbed child both hold the record: the last claim wins.
		for _, k := range claimedSources(e) {
			ss := t.state.Sources[k]
			if ss == nil {
				continue // moved on again within the message
			}
			f.links[k] = sourceLink{child: id, withdrawn: ss.Withdrawn, sensitive: f.links[k].sensitive || statesSensitive(ss)}
			f.claims[id] = append(f.claims[id], k)
		}
		f.ops = append(f.ops, linkageOps(seq, id, e)...)
	}
}
