package linker

import (
	"sort"

	"github.com/google/uuid"

	"contactpoint/domain/child"
	"contactpoint/domain/match"
	"contactpoint/domain/record"
)

// maxBlock bounds the children one blocking key may name. A key shared by
// more (a very common name born in a busy month) stops being used for
// candidates, so that candidate generation costs the same per record
// whatever the size of the population.
const maxBlock = 64

// ref is an internal child number: blocking lists hold four bytes a child
// instead of sixteen.
type ref int32

type childEntry struct {
	id         uuid.UUID
	lastSeq    uint64
	sources    map[record.SourceKey]*match.Features
	mergedInto ref // -1 while the child stands
	notLinked  map[ref]bool
}

type sourceEntry struct {
	child     ref
	hash      string
	withdrawn bool
}

// Index is the linker's memory: which child each source record and
// identifier belongs to, the identifying features of every source for
// matching, the blocking keys that find candidates, and how far each
// child's subject has got. It is derived from the CHILDREN stream alone, so
// it can always be rebuilt.
type Index struct {
	refs     map[uuid.UUID]ref
	children []*childEntry
	sources  map[record.SourceKey]sourceEntry
	nhs      map[string]ref
	upn      map[string]ref
	blocks   map[uint64][]ref // by blockKey: 8 bytes a key instead of a string
	common   map[uint64]bool  // keys past maxBlock
	reviewed map[[2]ref]bool  // pairs already sent to review
	// pending holds the features of the record being decided, so that
	// applying its statement need not work them out again.
	pending *match.Features
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		refs:     map[uuid.UUID]ref{},
		sources:  map[record.SourceKey]sourceEntry{},
		nhs:      map[string]ref{},
		upn:      map[string]ref{},
		blocks:   map[uint64][]ref{},
		common:   map[uint64]bool{},
		reviewed: map[[2]ref]bool{},
	}
}

// Children is the number of children ever registered (merged ones included).
func (x *Index) Children() int { return len(x.children) }

func (x *Index) ref(id uuid.UUID) ref {
	if r, ok := x.refs[id]; ok {
		return r
	}
	r := ref(len(x.children))
	x.refs[id] = r
	x.children = append(x.children, &childEntry{id: id, sources: map[record.SourceKey]*match.Features{}, mergedInto: -1})
	return r
}

// resolve follows merges to the child that stands.
func (x *Index) resolve(r ref) ref {
	for i := 0; i < 64 && x.children[r].mergedInto >= 0; i++ {
		r = x.children[r].mergedInto
	}
	return r
}

func (x *Index) lookupNHS(n string) (ref, bool) {
	if n == "" {
		return 0, false
	}
	r, ok := x.nhs[n]
	if !ok {
		return 0, false
	}
	return x.resolve(r), true
}

func (x *Index) lookupUPN(u string) (ref, bool) {
	if u == "" {
		return 0, false
	}
	r, ok := x.upn[u]
	if !ok {
		return 0, false
	}
	return x.resolve(r), true
}

// addSource records a source statement as the child's.
func (x *Index) addSource(r ref, st *child.Stated) {
	k := st.Source.Key()
	x.sources[k] = sourceEntry{child: r, hash: st.ContentHash}
	var f match.Features
	if x.pending != nil {
		f = *x.pending
	} else {
		f = match.FeaturesOf(&st.Child)
	}
	x.children[r].sources[k] = &f
	// The first child to claim an identifier keeps it: a second claim is
	// evidence for duplicate resolution, not a silent move.
	if f.NHS != "" {
		if _, ok := x.nhs[f.NHS]; !ok {
			x.nhs[f.NHS] = r
		}
	}
	if f.UPN != "" {
		if _, ok := x.upn[f.UPN]; !ok {
			x.upn[f.UPN] = r
		}
	}
	for _, k := range match.BlockingKeys(&f) {
		key := blockKey(k)
		if x.common[key] {
			continue
		}
		b := x.blocks[key]
		if len(b) > 0 && b[len(b)-1] == r {
			continue
		}
		if len(b) >= maxBlock {
			delete(x.blocks, key)
			x.common[key] = true
			continue
		}
		x.blocks[key] = append(b, r)
	}
}

// apply folds one child batch into the index, as the linker planned it or
// as it was read back from the stream.
func (x *Index) apply(id uuid.UUID, b child.Batch) {
	r := x.ref(id)
	c := x.children[r]
	for _, e := range b.Events {
		switch e.Type {
		case child.TypeStated:
			x.addSource(r, e.Stated)
		case child.TypeWithdrawn:
			if se, ok := x.sources[e.Withdrawn.Source]; ok {
				se.withdrawn = true
				x.sources[e.Withdrawn.Source] = se
			}
			delete(c.sources, e.Withdrawn.Source)
		case child.TypeAbsorbed:
			for i := range e.Absorbed.Sources {
				x.addSource(r, &e.Absorbed.Sources[i])
			}
			for _, k := range e.Absorbed.Withdrawn {
				if se, ok := x.sources[k]; ok {
					se.withdrawn = true
					x.sources[k] = se
				}
				delete(c.sources, k)
			}
			if a, err := uuid.Parse(e.Absorbed.Absorbed); err == nil {
				ar := x.ref(a)
				// The survivor's event alone makes the merge: the absorbed
				// child's own marker may not have been written yet.
				x.children[ar].mergedInto = r
				x.children[ar].sources = map[record.SourceKey]*match.Features{}
			}
		case child.TypeMergedInto:
			if s, err := uuid.Parse(e.MergedInto.Survivor); err == nil {
				c.mergedInto = x.ref(s)
				c.sources = map[record.SourceKey]*match.Features{}
			}
		case child.TypeSourcesMovedOut:
			for _, k := range e.MovedOut.Sources {
				delete(c.sources, k)
			}
		case child.TypeReviewRequested:
			if o, err := uuid.Parse(e.Review.Candidate); err == nil {
				x.reviewed[pair(r, x.ref(o))] = true
			}
		case child.TypeNotLinked:
			if o, err := uuid.Parse(e.NotLinked.Other); err == nil {
				or := x.ref(o)
				if c.notLinked == nil {
					c.notLinked = map[ref]bool{}
				}
				c.notLinked[or] = true
			}
		}
	}
}

// notLinked reports whether a steward decided a and b are different children.
func (x *Index) notLinked(a, b ref) bool {
	return x.children[a].notLinked[b] || x.children[b].notLinked[a]
}

// candidates returns the standing children that share a blocking key with f,
// each once, in the order first found (deterministic for a given index).
func (x *Index) candidates(f *match.Features) []ref {
	var out []ref
	seen := map[ref]bool{}
	for _, key := range match.BlockingKeys(f) {
		for _, r := range x.blocks[blockKey(key)] {
			r = x.resolve(r)
			if !seen[r] && len(x.children[r].sources) > 0 {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// features lists a child's source features for DecideBest.
func (x *Index) features(r ref) []match.Features {
	c := x.children[r]
	keys := make([]record.SourceKey, 0, len(c.sources))
	for k := range c.sources {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	out := make([]match.Features, 0, len(keys))
	for _, k := range keys {
		out = append(out, *c.sources[k])
	}
	return out
}

func pair(a, b ref) [2]ref {
	if b < a {
		a, b = b, a
	}
	return [2]ref{a, b}
}

// compare decides whether two standing children are one, from their
// sources' features: the best verdict over every pair of sources.
func (x *Index) compare(a, b ref, w match.Weights, t match.Thresholds) match.Decision {
	var best match.Decision
	fb := x.features(b)
	for i, f := range x.features(a) {
		d, _ := match.DecideBest(f, fb, w, t)
		if i == 0 || rank(d) > rank(best) || (rank(d) == rank(best) && d.Score > best.Score) {
			best = d
		}
	}
	return best
}

// blockKey hashes a blocking key. Two keys that collide only add a
// candidate, which scoring then judges like any other.
// (FNV-1a, written out so that hashing allocates nothing.)
func blockKey(k string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(k); i++ {
		h ^= uint64(k[i])
		h *= 1099511628211
	}
	return h
}
