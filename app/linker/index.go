package linker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/google/uuid"

	"contactpoint/domain/child"
	"contactpoint/domain/match"
	"contactpoint/domain/record"
)

// maxBlock bounds the children one blocking key may name. A key shared by
// more (a very common name born in a busy month) stops being used for
// candidates, so that candidate generation costs the same per record
// whatever the size of the population.
const maxBlock = MaxBlock

// MaxBlock is maxBlock for those who measure blocking from outside.
const MaxBlock = 64

// ref is an internal child number: blocking lists hold four bytes a child
// instead of sixteen.
type ref int32

// src numbers a source record in Index.srcs.
type src int32

// The index of a large area holds millions of entries, and the garbage
// collector's marking work grows with the pointers in them. So the index is
// laid out in slices and maps of plain values — child numbers, 16-byte keys,
// packed features one string a source — rather than maps of pointers.

type childEntry struct {
	id         uuid.UUID
	lastSeq    uint64
	mergedInto ref   // -1 while the child stands
	srcs       []src // the source records whose features the child holds, oldest first
}

type sourceEntry struct {
	child     ref // the child the source was last stated to
	holder    ref // the child holding its features for matching; -1 when none
	withdrawn bool
	hash      [sha256.Size]byte
	// keyOff and keyLen place the source's key in Index.keyArena: a review
	// names the candidate's source record it compared with.
	keyOff uint32
	keyLen uint16
}

// key16 is a 16-byte digest naming a source record or an identifier: a
// fixed-size map key holding no pointer, with no practical chance of two
// names sharing one.
type key16 [16]byte

func digest(parts ...string) key16 {
	var buf [128]byte
	b := buf[:0]
	for _, p := range parts {
		b = append(append(b, p...), 0)
	}
	sum := sha256.Sum256(b)
	return key16(sum[:16])
}

func sourceKey(k record.SourceKey) key16 { return digest(k.Agency, k.System, k.RecordID) }

// contentHash turns the hex content hash into bytes (any other string is
// digested, so that equal strings still give equal hashes).
func contentHash(h string) [sha256.Size]byte {
	var b [sha256.Size]byte
	if len(h) == 2*sha256.Size {
		if _, err := hex.Decode(b[:], []byte(h)); err == nil {
			return b
		}
	}
	return sha256.Sum256([]byte(h))
}

type blockList struct{ first, last, n int32 }

type blockNode struct {
	r    ref
	next int32
}

// Index is the linker's memory: which child each source record and
// identifier belongs to, the identifying features of every source for
// matching, the blocking keys that find candidates, and how far each
// child's subject has got. It is derived from the CHILDREN stream alone, so
// it can always be rebuilt.
type Index struct {
	refs      map[uuid.UUID]ref
	children  []childEntry
	sourceIdx map[key16]src
	srcs      []sourceEntry
	feats     []string // packed features, by src
	keyArena  []byte   // source keys, agency NUL system NUL record id, one after another
	nhs       map[key16]ref
	upn       map[key16]ref
	blocks    map[uint64]blockList // by blockKey: 8 bytes a key instead of a string
	nodes     []blockNode          // the blocks' entries, linked in order
	common    map[uint64]bool      // keys past maxBlock
	reviewed  map[[2]ref]bool      // pairs already sent to review
	notLinked map[[2]ref]bool      // pairs a steward said are different children
	// stewardMerged marks children a steward's merge made: a shadow run
	// under new rules never proposes to undo a person's decision.
	stewardMerged map[ref]bool
	// awaiting marks children with a review requested and not yet
	// answered by a merge or a not-link: an update to one of their records
	// is matched again.
	awaiting map[ref]bool
	// erased marks children whose personal data was erased: never a
	// candidate, a holder of an identifier or a source record again.
	erased map[ref]bool

	// seq is the last CHILDREN sequence the index has taken in, read back
	// or appended by the linker: a snapshot reflects the stream up to it.
	seq uint64

	// pending holds the features of the record being decided, and
	// pendingKeys its hashed blocking keys, so that applying its statement
	// need not work them out again.
	pending     *match.Features
	pendingKeys []uint64

	// Scratch for candidates and unpacked features, reused record after
	// record so that deciding allocates little.
	seen    []uint32
	epoch   uint32
	cands   []ref
	scratch []match.Features
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		refs:      map[uuid.UUID]ref{},
		sourceIdx: map[key16]src{},
		nhs:       map[key16]ref{},
		upn:       map[key16]ref{},
		blocks:    map[uint64]blockList{},
		common:    map[uint64]bool{},
		reviewed:  map[[2]ref]bool{},
		notLinked: map[[2]ref]bool{},

		stewardMerged: map[ref]bool{},
		awaiting:      map[ref]bool{},
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
	x.children = append(x.children, childEntry{id: id, mergedInto: -1})
	return r
}

// standingWithSources reports whether r stands and holds source records.
func (x *Index) standingWithSources(r ref) bool {
	return x.children[r].mergedInto < 0 && len(x.children[r].srcs) > 0
}

// resolve follows merges to the child that stands.
func (x *Index) resolve(r ref) ref {
	for i := 0; i < 64 && x.children[r].mergedInto >= 0; i++ {
		r = x.children[r].mergedInto
	}
	return r
}

// source returns the index's entry for a source record.
func (x *Index) source(k record.SourceKey) (sourceEntry, bool) {
	s, ok := x.sourceIdx[sourceKey(k)]
	if !ok {
		return sourceEntry{}, false
	}
	return x.srcs[s], true
}

// sameContent reports whether a source's last statement had this hash.
func (se sourceEntry) sameContent(hash string) bool { return se.hash == contentHash(hash) }

func (x *Index) lookupNHS(n string) (ref, bool) {
	if n == "" {
		return 0, false
	}
	r, ok := x.nhs[digest("nhs", n)]
	if !ok {
		return 0, false
	}
	return x.resolve(r), true
}

func (x *Index) lookupUPN(u string) (ref, bool) {
	if u == "" {
		return 0, false
	}
	r, ok := x.upn[digest("upn", u)]
	if !ok {
		return 0, false
	}
	return x.resolve(r), true
}

// hold makes r the holder of s's features, taking them from any other child.
func (x *Index) hold(r ref, s src) {
	h := x.srcs[s].holder
	if h == r {
		return
	}
	if h >= 0 {
		x.release(h, s)
	}
	x.srcs[s].holder = r
	x.children[r].srcs = append(x.children[r].srcs, s)
}

// release takes s's features from child r, if r holds them.
func (x *Index) release(r ref, s src) {
	if x.srcs[s].holder != r {
		return
	}
	x.srcs[s].holder = -1
	c := &x.children[r]
	if i := slices.Index(c.srcs, s); i >= 0 {
		c.srcs = slices.Delete(c.srcs, i, i+1)
	}
}

// releaseKey is release by source key.
func (x *Index) releaseKey(r ref, k record.SourceKey) {
	if s, ok := x.sourceIdx[sourceKey(k)]; ok {
		x.release(r, s)
	}
}

// releaseAll takes every source's features from r (it merged into another).
func (x *Index) releaseAll(r ref) {
	for _, s := range x.children[r].srcs {
		x.srcs[s].holder = -1
	}
	x.children[r].srcs = nil
}

// sourceKeyOf returns the key of the i-th source record child r holds for
// matching (the order features unpacks them in).
func (x *Index) sourceKeyOf(r ref, i int) (record.SourceKey, bool) {
	ss := x.children[r].srcs
	if i < 0 || i >= len(ss) {
		return record.SourceKey{}, false
	}
	e := x.srcs[ss[i]]
	parts := bytes.SplitN(x.keyArena[e.keyOff:e.keyOff+uint32(e.keyLen)], []byte{0}, 3)
	if len(parts) != 3 {
		return record.SourceKey{}, false
	}
	return record.SourceKey{Agency: string(parts[0]), System: string(parts[1]), RecordID: string(parts[2])}, true
}

// withdraw marks a source record withdrawn by its source.
func (x *Index) withdraw(k record.SourceKey) {
	if s, ok := x.sourceIdx[sourceKey(k)]; ok {
		x.srcs[s].withdrawn = true
	}
}

// addSource records a source statement as the child's.
func (x *Index) addSource(r ref, st *child.Stated) {
	k := sourceKey(st.Source.Key())
	s, ok := x.sourceIdx[k]
	if !ok {
		s = src(len(x.srcs))
		x.sourceIdx[k] = s
		sk := st.Source.Key()
		off := len(x.keyArena)
		x.keyArena = append(append(append(append(append(x.keyArena, sk.Agency...), 0), sk.System...), 0), sk.RecordID...)
		x.srcs = append(x.srcs, sourceEntry{holder: -1, keyOff: uint32(off), keyLen: uint16(len(x.keyArena) - off)})
		x.feats = append(x.feats, "")
	}
	x.srcs[s].child, x.srcs[s].hash, x.srcs[s].withdrawn = r, contentHash(st.ContentHash), false
	var f match.Features
	keys := x.pendingKeys
	if x.pending != nil {
		f = *x.pending
	} else {
		f = match.FeaturesOf(&st.Child)
		keys = blockKeys(&f, nil)
	}
	x.feats[s] = f.Pack()
	x.hold(r, s)
	// The first child to claim an identifier keeps it: a second claim is
	// evidence for duplicate resolution, not a silent move.
	if f.NHS != "" {
		if k := digest("nhs", f.NHS); !mapHas(x.nhs, k) {
			x.nhs[k] = r
		}
	}
	if f.UPN != "" {
		if k := digest("upn", f.UPN); !mapHas(x.upn, k) {
			x.upn[k] = r
		}
	}
	for _, k := range keys {
		x.file(k, r)
	}
}

// BlockKeys appends f's hashed blocking keys to into, as the index files
// them.
func BlockKeys(f *match.Features, into []uint64) []uint64 { return blockKeys(f, into) }

// blockKeys appends f's hashed blocking keys to into.
func blockKeys(f *match.Features, into []uint64) []uint64 {
	for _, k := range match.BlockingKeys(f) {
		into = append(into, blockKey(k))
	}
	return into
}

func mapHas[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

// file adds r to a blocking key's list, unless the key is common.
func (x *Index) file(key uint64, r ref) {
	if x.common[key] {
		return
	}
	b, ok := x.blocks[key]
	if ok && x.nodes[b.last].r == r {
		return
	}
	if b.n >= maxBlock {
		delete(x.blocks, key)
		x.common[key] = true
		return
	}
	n := int32(len(x.nodes))
	x.nodes = append(x.nodes, blockNode{r: r, next: -1})
	if ok {
		x.nodes[b.last].next = n
		b.last = n
	} else {
		b.first, b.last = n, n
	}
	b.n++
	x.blocks[key] = b
}

// apply folds one child batch into the index, as the linker planned it or
// as it was read back from the stream.
func (x *Index) apply(id uuid.UUID, b child.Batch) {
	r := x.ref(id)
	for _, e := range b.Events {
		switch e.Type {
		case child.TypeStated:
			x.addSource(r, e.Stated)
		case child.TypeWithdrawn:
			x.withdraw(e.Withdrawn.Source)
			x.releaseKey(r, e.Withdrawn.Source)
		case child.TypeAbsorbed:
			delete(x.awaiting, r)
			if e.Absorbed.By != ByLinker {
				x.stewardMerged[r] = true
			}
			for i := range e.Absorbed.Sources {
				x.addSource(r, &e.Absorbed.Sources[i])
			}
			for _, k := range e.Absorbed.Withdrawn {
				x.withdraw(k)
				x.releaseKey(r, k)
			}
			if a, err := uuid.Parse(e.Absorbed.Absorbed); err == nil {
				ar := x.ref(a)
				// The survivor's event alone makes the merge: the absorbed
				// child's own marker may not have been written yet.
				x.children[ar].mergedInto = r
				x.releaseAll(ar)
			}
		case child.TypeMergedInto:
			if s, err := uuid.Parse(e.MergedInto.Survivor); err == nil {
				sr := x.ref(s)
				x.children[r].mergedInto = sr
				x.releaseAll(r)
			}
		case child.TypeUnmerged:
			// The child stands again; its records come back as the
			// source.stated events in the same batch.
			x.children[r].mergedInto = -1
		case child.TypeSourcesMovedOut:
			for _, k := range e.MovedOut.Sources {
				x.releaseKey(r, k)
			}
		case child.TypeErased:
			x.forget(r)
		case child.TypeReviewRequested:
			if o, err := uuid.Parse(e.Review.Candidate); err == nil {
				x.reviewed[pair(r, x.ref(o))] = true
				if e.Review.Decided == nil {
					x.awaiting[r] = true
				}
			}
		case child.TypeNotLinked:
			delete(x.awaiting, r)
			if o, err := uuid.Parse(e.NotLinked.Other); err == nil {
				x.notLinked[pair(r, x.ref(o))] = true
			}
		}
	}
}

// isNotLinked reports whether a steward decided a and b are different children.
func (x *Index) isNotLinked(a, b ref) bool { return x.notLinked[pair(a, b)] }

// candidates returns the standing children filed under the hashed blocking
// keys, each once, in the order first found (deterministic for a given
// index). The slice is the index's own, valid until the next call.
func (x *Index) candidates(keys []uint64) []ref {
	if len(x.seen) < len(x.children) {
		x.seen = append(x.seen, make([]uint32, len(x.children)-len(x.seen))...)
	}
	x.epoch++
	if x.epoch == 0 { // wrapped: forget every mark
		clear(x.seen)
		x.epoch = 1
	}
	out := x.cands[:0]
	for _, key := range keys {
		b, ok := x.blocks[key]
		if !ok {
			continue
		}
		for n := b.first; n >= 0; n = x.nodes[n].next {
			r := x.resolve(x.nodes[n].r)
			if x.seen[r] != x.epoch && x.standingWithSources(r) {
				x.seen[r] = x.epoch
				out = append(out, r)
			}
		}
	}
	x.cands = out
	return out
}

// features unpacks a child's source features into into's room, oldest
// source first, and returns them.
func (x *Index) features(r ref, into []match.Features) []match.Features {
	ss := x.children[r].srcs
	if cap(into) < len(ss) {
		grown := make([]match.Features, len(ss))
		copy(grown, into[:cap(into)])
		into = grown
	}
	into = into[:len(ss)]
	for i, s := range ss {
		// Only the index packs these strings: one that does not unpack
		// would be a bug, and its zero features match nothing.
		if err := into[i].Unpack(x.feats[s]); err != nil {
			into[i] = match.Features{}
		}
	}
	return into
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
	fb := x.features(b, nil)
	for i, f := range x.features(a, nil) {
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
