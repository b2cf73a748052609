package linker

import (
	"github.com/google/uuid"

	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

type sourceEntry struct {
	child     uuid.UUID
	hash      string
	withdrawn bool
}

// Index is the linker's memory of which child each source record and
// identifier belongs to, and how far each child's subject has got. It is
// derived from the CHILDREN stream alone, so it can always be rebuilt.
type Index struct {
	sources map[record.SourceKey]sourceEntry
	nhs     map[string]uuid.UUID
	upn     map[string]uuid.UUID
	lastSeq map[uuid.UUID]uint64
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		sources: map[record.SourceKey]sourceEntry{},
		nhs:     map[string]uuid.UUID{},
		upn:     map[string]uuid.UUID{},
		lastSeq: map[uuid.UUID]uint64{},
	}
}

// Children is the number of children known.
func (x *Index) Children() int { return len(x.lastSeq) }

// apply folds one child batch into the index, as the linker planned it or
// as it was read back from the stream.
func (x *Index) apply(id uuid.UUID, b child.Batch) {
	for _, e := range b.Events {
		switch e.Type {
		case child.TypeRegistered:
			if _, ok := x.lastSeq[id]; !ok {
				x.lastSeq[id] = 0
			}
		case child.TypeStated:
			st := e.Stated
			x.sources[st.Source.Key()] = sourceEntry{child: id, hash: st.ContentHash}
			// The first child to claim an identifier keeps it: a second claim
			// is a conflict for duplicate resolution, not a silent move.
			if n := st.Child.NHSNumber(); n != "" {
				if _, ok := x.nhs[n]; !ok {
					x.nhs[n] = id
				}
			}
			if u := st.Child.UPN(); u != "" {
				if _, ok := x.upn[u]; !ok {
					x.upn[u] = id
				}
			}
		case child.TypeWithdrawn:
			if se, ok := x.sources[e.Withdrawn.Source]; ok {
				se.withdrawn = true
				x.sources[e.Withdrawn.Source] = se
			}
		}
	}
}
