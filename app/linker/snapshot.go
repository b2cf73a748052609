package linker

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/domain/match"
	"contactpoint/domain/record"
)

// SnapshotFile is the name of the index snapshot in the linker's directory.
const SnapshotFile = "index.snap"

// snapshotVersion is the layout of the file; a file of another version is
// not read. The packed features and blocking keys inside are checked apart
// (formFingerprint), as their form belongs to domain/match.
const snapshotVersion = 1

var snapshotMagic = [8]byte{'C', 'P', 'L', 'N', 'K', 'I', 'D', 'X'}

// headerSize is magic, version, payload length.
const headerSize = 8 + 4 + 8

// ErrSnapshot is the cause of every snapshot that cannot be used.
var ErrSnapshot = errors.New("index snapshot unusable")

// SnapshotHeader says what a snapshot reflects.
type SnapshotHeader struct {
	// StreamCreated is when the CHILDREN stream the snapshot was read from
	// was made: a recreated stream numbers its messages anew.
	StreamCreated time.Time
	// Seq is the last CHILDREN sequence the index had taken in.
	Seq uint64
	// FeedSeq is the linker's FEEDS checkpoint when it was taken (for the
	// log: linking resumes from the checkpoint in PostgreSQL).
	FeedSeq uint64
	// Children is the number of children in the index.
	Children int
}

// formFingerprint digests the packed features and blocking keys of a fixed
// record: when a release changes either form, snapshots of the old one no
// longer match and the index is rebuilt from the stream instead.
var formFingerprint = sync.OnceValue(fingerprintForm)

func fingerprintForm() [32]byte {
	c := record.Child{
		Identifiers:   &record.Identifiers{NHSNumber: "9434765919", UPN: "A123456789012"},
		Name:          record.Name{Given: "Jane", Middle: "Ann", Family: "O'Neill-Smith", Preferred: "Janey"},
		PreviousNames: []record.Name{{Given: "Jayne", Family: "Smith"}},
		BirthDate:     "2015-03-07",
		Gender:        "female",
		Address:       &record.Address{Lines: []string{"1 High Street"}, Town: "Leeds", Postcode: "LS1 4AP"},
	}
	f := match.FeaturesOf(&c)
	h := sha256.New()
	h.Write([]byte(f.Pack()))
	for _, k := range blockKeys(&f, nil) {
		h.Write(binary.LittleEndian.AppendUint64(nil, k))
	}
	return [32]byte(h.Sum(nil))
}

// clone copies what a snapshot writes, so that the file can be written
// while the linker goes on changing its own index. Strings and the key
// arena's bytes are never changed in place, so they are shared.
func (x *Index) clone() *Index {
	c := &Index{
		refs:      x.refs, // not written: the children's ids say it
		children:  slices.Clone(x.children),
		sourceIdx: maps.Clone(x.sourceIdx),
		srcs:      slices.Clone(x.srcs),
		feats:     slices.Clone(x.feats),
		keyArena:  x.keyArena[:len(x.keyArena):len(x.keyArena)],
		nhs:       maps.Clone(x.nhs),
		upn:       maps.Clone(x.upn),
		blocks:    maps.Clone(x.blocks),
		nodes:     slices.Clone(x.nodes),
		common:    maps.Clone(x.common),
		reviewed:  maps.Clone(x.reviewed),
		notLinked: maps.Clone(x.notLinked),

		stewardMerged: maps.Clone(x.stewardMerged),
		awaiting:      maps.Clone(x.awaiting),
		erased:        maps.Clone(x.erased),
		seq:           x.seq,
	}
	n := 0
	for i := range x.children {
		n += len(x.children[i].srcs)
	}
	flat := make([]src, 0, n)
	for i := range c.children {
		s := c.children[i].srcs
		flat = append(flat, s...)
		c.children[i].srcs = flat[len(flat)-len(s) : len(flat) : len(flat)]
	}
	return c
}

// encoder writes the payload and digests it as it goes.
type encoder struct {
	w   *bufio.Writer
	h   hash.Hash
	n   uint64
	buf [binary.MaxVarintLen64]byte
	err error
}

func (e *encoder) bytes(b []byte) {
	if e.err != nil {
		return
	}
	e.h.Write(b)
	e.n += uint64(len(b))
	_, e.err = e.w.Write(b)
}

func (e *encoder) uvarint(v uint64) { e.bytes(e.buf[:binary.PutUvarint(e.buf[:], v)]) }
func (e *encoder) varint(v int64)   { e.bytes(e.buf[:binary.PutVarint(e.buf[:], v)]) }
func (e *encoder) u64(v uint64)     { e.bytes(binary.LittleEndian.AppendUint64(e.buf[:0], v)) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.bytes([]byte(s)) }

const (
	srcLive      = 1 // in sourceIdx: not erased
	srcWithdrawn = 2
)

// encode writes the index. Nothing of an erased child's sources is
// written — not its record keys (the source's record id), features or
// content hashes, nor its identifiers' digests or its blocking-key entries —
// so that a snapshot taken after an erasure holds none of the child's data.
func (x *Index) encode(e *encoder, hd SnapshotHeader) {
	fp := formFingerprint()
	e.bytes(fp[:])
	e.varint(hd.StreamCreated.UnixNano())
	e.u64(x.seq)
	e.u64(hd.FeedSeq)

	e.uvarint(uint64(len(x.children)))
	for i := range x.children {
		c := &x.children[i]
		e.bytes(c.id[:])
		e.uvarint(c.lastSeq)
		e.varint(int64(c.mergedInto))
		e.uvarint(uint64(len(c.srcs)))
		for _, s := range c.srcs {
			e.uvarint(uint64(s))
		}
	}
	live := make([]bool, len(x.srcs))
	digests := make([]key16, len(x.srcs))
	for k, s := range x.sourceIdx {
		live[s], digests[s] = true, k
	}
	e.uvarint(uint64(len(x.srcs)))
	for i := range x.srcs {
		se := &x.srcs[i]
		var flags byte
		if live[i] {
			flags |= srcLive
		}
		if se.withdrawn {
			flags |= srcWithdrawn
		}
		e.bytes([]byte{flags})
		e.varint(int64(se.child))
		e.varint(int64(se.holder))
		if !live[i] {
			continue
		}
		e.bytes(digests[i][:])
		e.bytes(se.hash[:])
		key := x.keyArena[se.keyOff : se.keyOff+uint32(se.keyLen)]
		e.uvarint(uint64(len(key)))
		e.bytes(key)
		e.str(x.feats[i])
	}
	for _, m := range []map[key16]ref{x.nhs, x.upn} {
		e.uvarint(uint64(len(m)))
		for k, r := range m {
			e.bytes(k[:])
			e.uvarint(uint64(r))
		}
	}
	// Block lists without erased children (they are never candidates, and a
	// rebuild, which meets only their tombstones, files nothing for them)
	// and without repeats: the running index files a child again when
	// another child's statement came between (a rebuild reads each child's
	// batch whole and files it once), and a repeat only brings the list
	// nearer to maxBlock.
	var refs []ref
	type block struct {
		key  uint64
		refs []ref
	}
	var blocks []block
	for k, b := range x.blocks {
		refs = refs[:0]
		for n := b.first; n >= 0; n = x.nodes[n].next {
			if r := x.nodes[n].r; !x.erased[r] && !slices.Contains(refs, r) {
				refs = append(refs, r)
			}
		}
		if len(refs) > 0 {
			blocks = append(blocks, block{k, slices.Clone(refs)})
		}
	}
	e.uvarint(uint64(len(blocks)))
	for _, b := range blocks {
		e.u64(b.key)
		e.uvarint(uint64(len(b.refs)))
		for _, r := range b.refs {
			e.uvarint(uint64(r))
		}
	}
	e.uvarint(uint64(len(x.common)))
	for k := range x.common {
		e.u64(k)
	}
	for _, m := range []map[[2]ref]bool{x.reviewed, x.notLinked} {
		e.uvarint(uint64(len(m)))
		for p := range m {
			e.uvarint(uint64(p[0]))
			e.uvarint(uint64(p[1]))
		}
	}
	for _, m := range []map[ref]bool{x.stewardMerged, x.awaiting, x.erased} {
		e.uvarint(uint64(len(m)))
		for r := range m {
			e.uvarint(uint64(r))
		}
	}
}

// WriteSnapshot writes the index into dir/index.snap atomically: a
// temporary file, synced, renamed over the old one (which unlinks it), and
// the directory synced. It returns the file's size.
func (x *Index) WriteSnapshot(dir string, hd SnapshotHeader) (int64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("index snapshot: %w", err)
	}
	f, err := os.CreateTemp(dir, ".index.snap-*")
	if err != nil {
		return 0, fmt.Errorf("index snapshot: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) //nolint:errcheck // gone after the rename
	size, err := x.writeTo(f, hd)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, SnapshotFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return 0, fmt.Errorf("index snapshot: %w", err)
	}
	return size, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeTo writes header, payload and the payload's SHA-256. The payload's
// length goes in the header, written last, once known.
func (x *Index) writeTo(f *os.File, hd SnapshotHeader) (int64, error) {
	var head [headerSize]byte
	copy(head[:], snapshotMagic[:])
	binary.LittleEndian.PutUint32(head[8:], snapshotVersion)
	if _, err := f.Write(head[:]); err != nil {
		return 0, err
	}
	e := &encoder{w: bufio.NewWriterSize(f, 1<<20), h: sha256.New()}
	x.encode(e, hd)
	if e.err != nil {
		return 0, e.err
	}
	if _, err := e.w.Write(e.h.Sum(nil)); err != nil {
		return 0, err
	}
	if err := e.w.Flush(); err != nil {
		return 0, err
	}
	binary.LittleEndian.PutUint64(head[12:], e.n)
	if _, err := f.WriteAt(head[12:], 12); err != nil {
		return 0, err
	}
	return headerSize + int64(e.n) + sha256.Size, nil
}

// ReadSnapshot reads dir/index.snap. Any fault of the file — missing,
// truncated, another version or form, a bad checksum, contents that do not
// hold together — is an error wrapping ErrSnapshot (or the file system's).
func ReadSnapshot(dir string) (*Index, SnapshotHeader, error) {
	b, err := os.ReadFile(filepath.Join(dir, SnapshotFile))
	if err != nil {
		return nil, SnapshotHeader{}, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	return DecodeSnapshot(b)
}

// DecodeSnapshot decodes a snapshot file's bytes. It never panics, whatever
// the bytes.
func DecodeSnapshot(b []byte) (*Index, SnapshotHeader, error) {
	if len(b) < headerSize+sha256.Size || [8]byte(b[:8]) != snapshotMagic {
		return nil, SnapshotHeader{}, fmt.Errorf("%w: not a snapshot or truncated", ErrSnapshot)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != snapshotVersion {
		return nil, SnapshotHeader{}, fmt.Errorf("%w: format version %d, not %d", ErrSnapshot, v, snapshotVersion)
	}
	n := binary.LittleEndian.Uint64(b[12:])
	if n != uint64(len(b)-headerSize-sha256.Size) {
		return nil, SnapshotHeader{}, fmt.Errorf("%w: truncated", ErrSnapshot)
	}
	payload := b[headerSize : headerSize+int(n)]
	if sum := sha256.Sum256(payload); [32]byte(b[headerSize+int(n):]) != sum {
		return nil, SnapshotHeader{}, fmt.Errorf("%w: checksum mismatch", ErrSnapshot)
	}
	d := &decoder{b: payload}
	x, hd := d.index()
	if d.err != nil {
		return nil, SnapshotHeader{}, fmt.Errorf("%w: %w", ErrSnapshot, d.err)
	}
	return x, hd, nil
}

var errMalformed = errors.New("malformed contents")

// decoder reads the payload; the first fault sticks and every later read
// returns zero values, so decoding runs to its end without a check at each
// step and never indexes past the bytes.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errMalformed, what)
	}
	d.b = nil
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

// key reads 16 bytes (zeros once the bytes have run out).
func (d *decoder) key() [16]byte {
	var k [16]byte
	copy(k[:], d.take(16))
	return k
}

func (d *decoder) uvarint() uint64 { return readVarint(d, binary.Uvarint) }

func (d *decoder) varint() int64 { return readVarint(d, binary.Varint) }

// readVarint reads one number in read's encoding (binary.Uvarint or
// binary.Varint); zero once the decoder has failed.
func readVarint[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u64() uint64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// count reads a length that each entry needs at least min bytes for, so
// that a corrupt count cannot ask for more memory than the file could hold.
func (d *decoder) count(min int) int {
	v := d.uvarint()
	if d.err == nil && v > uint64(len(d.b)/min) {
		d.fail("count larger than the file")
		return 0
	}
	return int(v)
}

// ref reads a child number below n; opt allows -1 (none).
func (d *decoder) ref(n int, opt bool) ref {
	v := d.varint()
	if v >= int64(n) || v < -1 || (v == -1 && !opt) {
		d.fail("child number out of range")
		return -1
	}
	return ref(v)
}

func (d *decoder) uref(n int) ref {
	v := d.uvarint()
	if v >= uint64(n) {
		d.fail("child number out of range")
		return 0
	}
	return ref(v)
}

func (d *decoder) index() (*Index, SnapshotHeader) {
	var hd SnapshotHeader
	var fp [32]byte
	copy(fp[:], d.take(32))
	if d.err == nil && fp != formFingerprint() {
		d.fail("features or blocking keys of another form")
	}
	hd.StreamCreated = time.Unix(0, d.varint()).UTC()
	hd.Seq = d.u64()
	hd.FeedSeq = d.u64()
	x := NewIndex()
	x.seq = hd.Seq

	nc := d.count(16 + 3)
	// Maps made at their size: growing them entry by entry is most of a
	// load's time at national size.
	x.refs = make(map[uuid.UUID]ref, nc)
	x.children = make([]childEntry, nc)
	srcRefs := make([][]uint64, nc)
	for i := 0; i < nc && d.err == nil; i++ {
		c := &x.children[i]
		c.id = uuid.UUID(d.key())
		c.lastSeq = d.uvarint()
		c.mergedInto = ref(d.varint())
		ns := d.count(1)
		srcRefs[i] = make([]uint64, ns)
		for j := range srcRefs[i] {
			srcRefs[i][j] = d.uvarint()
		}
		x.refs[c.id] = ref(i)
	}
	if len(x.refs) != nc {
		d.fail("a child twice")
	}
	for i := range x.children {
		if m := x.children[i].mergedInto; m < -1 || int(m) >= nc {
			d.fail("child number out of range")
		}
	}

	ns := d.count(3)
	x.sourceIdx = make(map[key16]src, ns)
	x.srcs = make([]sourceEntry, ns)
	x.feats = make([]string, ns)
	live := 0
	for i := 0; i < ns && d.err == nil; i++ {
		se := &x.srcs[i]
		flags := d.take(1)
		if flags == nil {
			break
		}
		se.withdrawn = flags[0]&srcWithdrawn != 0
		se.child = d.ref(nc, false)
		se.holder = d.ref(nc, true)
		if flags[0]&srcLive == 0 {
			continue
		}
		k := key16(d.key())
		copy(se.hash[:], d.take(sha256.Size))
		key := d.take(int(d.uvarint()))
		if len(key) > 0xffff {
			d.fail("source key too long")
		}
		se.keyOff, se.keyLen = uint32(len(x.keyArena)), uint16(len(key))
		x.keyArena = append(x.keyArena, key...)
		x.feats[i] = string(d.take(int(d.uvarint())))
		x.sourceIdx[k] = src(i)
		live++
	}
	if d.err == nil && len(x.sourceIdx) != live {
		d.fail("a source twice")
	}
	for i := range srcRefs {
		if d.err != nil {
			break
		}
		c := &x.children[i]
		c.srcs = make([]src, len(srcRefs[i]))
		for j, s := range srcRefs[i] {
			if s >= uint64(ns) {
				d.fail("source number out of range")
				break
			}
			c.srcs[j] = src(s)
		}
	}
	for _, m := range []*map[key16]ref{&x.nhs, &x.upn} {
		n := d.count(17)
		*m = make(map[key16]ref, n)
		for i := 0; i < n && d.err == nil; i++ {
			k := key16(d.key())
			(*m)[k] = d.uref(nc)
		}
	}
	nb := d.count(9)
	x.blocks = make(map[uint64]blockList, nb)
	for i := 0; i < nb && d.err == nil; i++ {
		key := d.u64()
		n := d.count(1)
		if n == 0 || n > maxBlock {
			d.fail("block size out of range")
			break
		}
		b := blockList{first: int32(len(x.nodes)), n: int32(n)}
		for j := 0; j < n; j++ {
			x.nodes = append(x.nodes, blockNode{r: d.uref(nc), next: int32(len(x.nodes) + 1)})
		}
		b.last = int32(len(x.nodes) - 1)
		x.nodes[b.last].next = -1
		x.blocks[key] = b
	}
	if d.err == nil && len(x.blocks) != nb {
		d.fail("a block twice")
	}
	nk := d.count(8)
	for i := 0; i < nk && d.err == nil; i++ {
		x.common[d.u64()] = true
	}
	for _, m := range []map[[2]ref]bool{x.reviewed, x.notLinked} {
		n := d.count(2)
		for i := 0; i < n && d.err == nil; i++ {
			m[[2]ref{d.uref(nc), d.uref(nc)}] = true
		}
	}
	x.erased = map[ref]bool{}
	for _, m := range []map[ref]bool{x.stewardMerged, x.awaiting, x.erased} {
		n := d.count(1)
		for i := 0; i < n && d.err == nil; i++ {
			m[d.uref(nc)] = true
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("bytes after the end")
	}
	hd.Children = nc
	return x, hd
}

// LoadIndex makes the linker's index for a start: the snapshot in dir when
// it can be used, brought up to date with the CHILDREN messages after it
// (the same apply as a full rebuild), else a full rebuild. why says, with
// no personal data, why the snapshot was not used ("" when it was); tail is
// the number of messages applied after it.
func LoadIndex(ctx context.Context, js jetstream.JetStream, dir string) (idx *Index, tail uint64, why string, err error) {
	idx, _, tail, why, err = loadIndex(ctx, js, dir)
	return idx, tail, why, err
}

func loadIndex(ctx context.Context, js jetstream.JetStream, dir string) (*Index, int, uint64, string, error) {
	why := "no snapshot directory is set"
	if dir != "" {
		x, hd, err := ReadSnapshot(dir)
		if err == nil {
			why, err = usable(ctx, js, hd)
		} else {
			why = err.Error()
		}
		if err != nil && why == "" {
			return nil, 0, 0, "", err // the event log did not answer
		}
		if why == "" {
			skipped, err := x.applyFrom(ctx, js, hd.Seq+1)
			if err != nil {
				return nil, 0, 0, "", err
			}
			return x, skipped, x.seq - hd.Seq, "", nil
		}
	}
	idx, skipped, err := rebuildIndex(ctx, js)
	return idx, skipped, 0, why, err
}

// usable compares a snapshot with the CHILDREN stream: why is "" when the
// snapshot fits it. err is the event log's failure to answer.
func usable(ctx context.Context, js jetstream.JetStream, hd SnapshotHeader) (why string, err error) {
	st, err := js.Stream(ctx, natsjs.StreamChildren)
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", natsjs.StreamChildren, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", natsjs.StreamChildren, err)
	}
	switch {
	case !info.Created.Equal(hd.StreamCreated):
		return "the CHILDREN stream was made anew after the snapshot", nil
	case hd.Seq > info.State.LastSeq:
		return fmt.Sprintf("the snapshot is ahead of the CHILDREN stream (%d > %d)", hd.Seq, info.State.LastSeq), nil
	}
	return "", nil
}

// streamCreated is when the CHILDREN stream was made.
func streamCreated(ctx context.Context, js jetstream.JetStream) (time.Time, error) {
	st, err := js.Stream(ctx, natsjs.StreamChildren)
	if err != nil {
		return time.Time{}, fmt.Errorf("stream %s: %w", natsjs.StreamChildren, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("stream %s: %w", natsjs.StreamChildren, err)
	}
	return info.Created, nil
}
