package linker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

func openJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := natsjs.Open(context.Background(), natsjs.Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc.JS
}

// liveLinker is a linker writing to a real CHILDREN stream, without
// PostgreSQL: records are decided and appended as link does.
func liveLinker(js jetstream.JetStream, idx *Index) *Linker {
	l := New(js, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), DefaultConfig())
	l.cfg.IDKey = []byte("0123456789abcdef0123456789abcdef")
	l.now = func() time.Time { return fixed }
	l.idx, l.ready, l.runID = idx, true, uuid.NewString()
	return l
}

// feed decides and appends records as link does, bridges included.
func feed(t *testing.T, l *Linker, recs []record.Record, firstSeq uint64) {
	t.Helper()
	ctx := context.Background()
	l.mu.Lock()
	defer l.mu.Unlock()
	var p plan
	var bs []bridge
	for i := range recs {
		seq := firstSeq + uint64(i)
		bs = append(bs, l.decide(&p, &recs[i], child.ContentHash(&recs[i]), seq, fixed.Add(time.Duration(seq)*time.Millisecond))...)
	}
	if err := l.append(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := l.resolveBridges(ctx, bs); err != nil {
		t.Fatal(err)
	}
}

// describe writes what the index knows in terms that do not depend on its
// internal numbering: by child id and source key. Erased children's
// traces that a rebuild cannot see (their deleted messages) are left out,
// as they are never used again.
func describe(x *Index) string {
	var lines []string
	id := func(r ref) string { return x.children[r].id.String() }
	for r := range x.children {
		c := &x.children[r]
		if x.erased[ref(r)] {
			lines = append(lines, fmt.Sprintf("child %s erased lastSeq=%d", c.id, c.lastSeq))
			continue
		}
		var held []string
		for i := range c.srcs {
			k, _ := x.sourceKeyOf(ref(r), i)
			held = append(held, k.String()+"="+x.feats[c.srcs[i]])
		}
		merged := ""
		if c.mergedInto >= 0 {
			merged = id(x.resolve(ref(r)))
		}
		lines = append(lines, fmt.Sprintf("child %s lastSeq=%d merged=%s awaiting=%v steward=%v holds=%q",
			c.id, c.lastSeq, merged, x.awaiting[ref(r)], x.stewardMerged[ref(r)], held))
	}
	for k, s := range x.sourceIdx {
		se := x.srcs[s]
		holder := ""
		if se.holder >= 0 {
			holder = id(se.holder)
		}
		lines = append(lines, fmt.Sprintf("source %x child=%s holder=%s withdrawn=%v hash=%x", k, id(se.child), holder, se.withdrawn, se.hash))
	}
	for name, m := range map[string]map[key16]ref{"nhs": x.nhs, "upn": x.upn} {
		for k, r := range m {
			lines = append(lines, fmt.Sprintf("%s %x %s", name, k, id(r)))
		}
	}
	for k, b := range x.blocks {
		var ids []string
		for n := b.first; n >= 0; n = x.nodes[n].next {
			if r := x.nodes[n].r; !x.erased[r] && !slices.Contains(ids, id(r)) {
				ids = append(ids, id(r))
			}
		}
		if len(ids) > 0 {
			lines = append(lines, fmt.Sprintf("block %x %v", k, ids))
		}
	}
	for k := range x.common {
		lines = append(lines, fmt.Sprintf("common %x", k))
	}
	for name, m := range map[string]map[[2]ref]bool{"reviewed": x.reviewed, "not-linked": x.notLinked} {
		for p := range m {
			if x.erased[p[0]] || x.erased[p[1]] {
				continue
			}
			a, b := id(p[0]), id(p[1])
			if b < a {
				a, b = b, a
			}
			lines = append(lines, fmt.Sprintf("%s %s %s", name, a, b))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// unique is a child whose every value appears nowhere else, so that a file
// can be searched for them.
func unique(id, given, family, nhs string) record.Record {
	return record.Record{Schema: record.SchemaID, Source: record.Source{Agency: "health", System: "pas", RecordID: id}, Operation: record.OpUpsert,
		Child: &record.Child{Name: record.Name{Given: given, Family: family}, BirthDate: "2012-02-29", Gender: "female",
			Address:     &record.Address{Lines: []string{"7 Quillfeather Lane"}, Town: "Wexcombe", Postcode: "ZZ9 9ZZ"},
			Identifiers: &record.Identifiers{NHSNumber: nhs}}}
}

func childOf(t *testing.T, l *Linker, k record.SourceKey) uuid.UUID {
	t.Helper()
	se, ok := l.idx.source(k)
	if !ok {
		t.Fatalf("no child holds %s", k)
	}
	return l.idx.children[l.idx.resolve(se.child)].id
}

func writeSnap(t *testing.T, l *Linker, dir string) {
	t.Helper()
	created, err := streamCreated(context.Background(), l.js)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.idx.clone().WriteSnapshot(dir, SnapshotHeader{StreamCreated: created}); err != nil {
		t.Fatal(err)
	}
}

// erase erases the children and deletes their earlier messages, as the
// retention service does.
func erase(t *testing.T, l *Linker, ids ...uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	tombs, err := l.Erase(ctx, ids, child.Erased{Rule: "test", Reason: "six years after archiving", By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.js.Stream(ctx, natsjs.StreamChildren)
	if err != nil {
		t.Fatal(err)
	}
	for id, seq := range tombs {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject("children."+id.String()), jetstream.WithPurgeSequence(seq)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSnapshotAndTailAreAFullRebuild: an index read from a snapshot and
// brought up to date with the messages after it knows what a full rebuild
// knows, and decides new records the same way, whatever happened in the
// tail: new children, links, merges, splits, unmerges, withdrawals and
// erasures.
func TestSnapshotAndTailAreAFullRebuild(t *testing.T) {
	ctx := context.Background()
	js := openJS(t)
	dir := t.TempDir()
	recs := feedOf(t, 1200, 21)
	third := len(recs) / 3
	l := liveLinker(js, NewIndex())
	feed(t, l, recs[:third], 1)
	feed(t, l, []record.Record{unique("U1", "Ottoline", "Vexworthy", "9990001112")}, 10001)
	writeSnap(t, l, dir)

	// The tail.
	feed(t, l, recs[third:2*third], uint64(third+1))
	withdraw := recs[3]
	withdraw.Operation = record.OpWithdraw
	feed(t, l, []record.Record{withdraw,
		unique("U2", "Peregrina", "Quaxley", "9990002223"), unique("U3", "Rosamund", "Trevannion", "9990003334"),
		unique("U4", "Seraphine", "Ulverston", "9990004445")}, 10002)
	u1 := childOf(t, l, record.SourceKey{Agency: "health", System: "pas", RecordID: "U1"})
	u2 := childOf(t, l, record.SourceKey{Agency: "health", System: "pas", RecordID: "U2"})
	u3 := childOf(t, l, record.SourceKey{Agency: "health", System: "pas", RecordID: "U3"})
	u4 := childOf(t, l, record.SourceKey{Agency: "health", System: "pas", RecordID: "U4"})
	d := child.Decision{By: "steward", Reason: "the same child"}
	surv, err := l.Merge(ctx, u2, u3, d)
	if err != nil {
		t.Fatal(err)
	}
	absorbed := u3
	if surv == u3 {
		absorbed = u2
	}
	a, b := childOf(t, l, recs[10].Source.Key()), childOf(t, l, recs[11].Source.Key())
	m1, m2 := childOf(t, l, recs[20].Source.Key()), childOf(t, l, recs[40].Source.Key())
	if a == b || m1 == m2 {
		t.Fatal("the records chosen for a merge are of one child already")
	}
	{
		if _, err := l.Merge(ctx, a, b, d); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Split(ctx, childOf(t, l, recs[10].Source.Key()), []record.SourceKey{recs[11].Source.Key()}, uuid.Nil, d); err != nil {
			t.Fatal(err)
		}
	}
	{
		s, err := l.Merge(ctx, m1, m2, d)
		if err != nil {
			t.Fatal(err)
		}
		other := m1
		if s == m1 {
			other = m2
		}
		if err := l.Unmerge(ctx, s, other, d); err != nil {
			t.Fatal(err)
		}
	}
	erase(t, l, u1)
	erase(t, l, surv, absorbed)
	erase(t, l, u4)
	checkHolding(t, l.idx)

	fromSnap, tail, why, err := LoadIndex(ctx, js, dir)
	if err != nil || why != "" {
		t.Fatalf("snapshot not used: %q %v", why, err)
	}
	if tail == 0 {
		t.Fatal("no tail applied")
	}
	full, err := RebuildIndex(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	checkHolding(t, fromSnap)
	checkHolding(t, full)
	want := describe(full)
	if got := describe(fromSnap); got != want {
		t.Fatalf("snapshot + tail differs from a full rebuild:\n%s", diffLines(got, want))
	}
	if got := describe(l.idx); got != want {
		t.Fatalf("the running index differs from a full rebuild:\n%s", diffLines(got, want))
	}

	// The same decisions on what comes next. (Each linker appends to its
	// own stream: the decisions are compared, not the appends.)
	rest := recs[2*third:]
	rest = append(rest, unique("U5", "Ottoline", "Vexworthy", "9990001112"))
	pa := run(liveLinker(nil, fromSnap), rest, uint64(2*third+1))
	pb := run(liveLinker(nil, full), rest, uint64(2*third+1))
	if ea, eb := encode(t, pa), encode(t, pb); !bytes.Equal(ea, eb) {
		t.Fatal("an index from a snapshot and tail decided differently from a full rebuild")
	}
	checkHolding(t, fromSnap)
}

func diffLines(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var out []string
	for _, s := range g {
		if !slices.Contains(w, s) {
			out = append(out, "+ "+s)
		}
	}
	for _, s := range w {
		if !slices.Contains(g, s) {
			out = append(out, "- "+s)
		}
	}
	if len(out) > 20 {
		out = out[:20]
	}
	return strings.Join(out, "\n")
}

// TestAnErasureRewritesTheSnapshot: the linker writes a fresh snapshot as
// soon as it erases, and none of the erased child's names, address or
// identifiers is left in the snapshot directory.
func TestAnErasureRewritesTheSnapshot(t *testing.T) {
	js := openJS(t)
	dir := t.TempDir()
	l := liveLinker(js, NewIndex())
	l.SnapshotDir = dir
	created, err := streamCreated(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	l.snaps.created = created
	feed(t, l, feedOf(t, 300, 5), 1)
	gone := unique("ERASE-ME-4711", "Ottoline", "Vexworthy", "9990001112")
	kept := unique("KEEP-ME-4712", "Peregrina", "Quaxley", "9990002223")
	kept.Child.Address = &record.Address{Lines: []string{"3 Marchbank Row"}, Postcode: "YY1 1YY"}
	feed(t, l, []record.Record{gone, kept}, 1000)
	personal := []string{"ERASE-ME-4711", "Ottoline", "Vexworthy", "9990001112", "Quillfeather", "ZZ9"}
	l.mu.Lock()
	l.snapshot(true)
	l.mu.Unlock()
	l.WaitSnapshot()
	grep := func(values []string) []string {
		t.Helper()
		var found []string
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range values {
				if bytes.Contains(bytes.ToUpper(b), bytes.ToUpper([]byte(v))) {
					found = append(found, f.Name()+": "+v)
				}
			}
		}
		return found
	}
	// Without this the test below proves nothing: the snapshot holds the
	// child before the erasure, in some form.
	if found := grep(personal); len(found) < 3 {
		t.Fatalf("before the erasure the snapshot holds only %v", found)
	}
	erase(t, l, childOf(t, l, gone.Source.Key()))
	l.WaitSnapshot()
	if found := grep(personal); len(found) > 0 {
		t.Fatalf("after the erasure the snapshot directory still holds %v", found)
	}
	if found := grep([]string{"KEEP-ME-4712", "Quaxley"}); len(found) != 2 {
		t.Fatalf("the snapshot lost a child that was not erased: %v", found)
	}
	if st := l.LastSnapshot(); st == nil || st.Err != nil || st.Size == 0 {
		t.Fatalf("last snapshot %+v", st)
	}
	// After a failed append the index is not written; an erasure then
	// deletes the snapshot, which still holds the child.
	l.snaps.dirty = true
	erase(t, l, childOf(t, l, kept.Source.Key()))
	if _, err := os.Stat(filepath.Join(dir, SnapshotFile)); err == nil {
		t.Fatal("an erasure that could not rewrite the snapshot left it in place")
	}
}

// TestAFaultySnapshotMeansAFullRebuild: whatever is wrong with the file,
// the start rebuilds from the stream and says why.
func TestAFaultySnapshotMeansAFullRebuild(t *testing.T) {
	ctx := context.Background()
	js := openJS(t)
	l := liveLinker(js, NewIndex())
	feed(t, l, feedOf(t, 300, 9), 1)
	created, err := streamCreated(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	full, err := RebuildIndex(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	want := describe(full)
	good := func(t *testing.T, dir string) []byte {
		if _, err := l.idx.clone().WriteSnapshot(dir, SnapshotHeader{StreamCreated: created}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, SnapshotFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		why    string // "" when the snapshot is to be used
	}{
		{"sound", func(t *testing.T, dir string) { good(t, dir) }, ""},
		{"missing", func(t *testing.T, dir string) {}, "no such file"},
		{"empty", func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, SnapshotFile), nil, 0o600) }, "truncated"},
		{"truncated", func(t *testing.T, dir string) {
			b := good(t, dir)
			os.WriteFile(filepath.Join(dir, SnapshotFile), b[:len(b)/2], 0o600)
		}, "truncated"},
		{"a byte changed", func(t *testing.T, dir string) {
			b := good(t, dir)
			b[len(b)/2] ^= 0x40
			os.WriteFile(filepath.Join(dir, SnapshotFile), b, 0o600)
		}, "checksum"},
		{"another version", func(t *testing.T, dir string) {
			b := good(t, dir)
			binary.LittleEndian.PutUint32(b[8:], snapshotVersion+1)
			os.WriteFile(filepath.Join(dir, SnapshotFile), b, 0o600)
		}, "format version"},
		{"ahead of the stream", func(t *testing.T, dir string) {
			c := l.idx.clone()
			c.seq += 1000
			if _, err := c.WriteSnapshot(dir, SnapshotHeader{StreamCreated: created}); err != nil {
				t.Fatal(err)
			}
		}, "ahead of the CHILDREN stream"},
		{"another stream", func(t *testing.T, dir string) {
			if _, err := l.idx.clone().WriteSnapshot(dir, SnapshotHeader{StreamCreated: created.Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}, "made anew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.damage(t, dir)
			x, tail, why, err := LoadIndex(ctx, js, dir)
			if err != nil {
				t.Fatal(err)
			}
			if (tt.why == "") != (why == "") || !strings.Contains(why, tt.why) {
				t.Fatalf("reason %q, want %q", why, tt.why)
			}
			if tail != 0 {
				t.Fatalf("tail %d with nothing after the snapshot", tail)
			}
			if got := describe(x); got != want {
				t.Fatalf("index differs from a full rebuild:\n%s", diffLines(got, want))
			}
		})
	}
}

// resealed gives the payload a correct length and checksum, so that a
// changed payload reaches the decoder rather than the checksum.
func resealed(b []byte) []byte {
	if len(b) < headerSize {
		return b
	}
	payload := b[headerSize:]
	out := append(append([]byte(nil), b[:headerSize]...), payload...)
	binary.LittleEndian.PutUint64(out[12:], uint64(len(payload)))
	sum := sha256.Sum256(payload)
	return append(out, sum[:]...)
}

func smallSnapshot(t testing.TB) []byte {
	x := NewIndex()
	l := &Linker{idx: x, cfg: DefaultConfig(), now: func() time.Time { return fixed }, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var p plan
	recs := feedOf(t, 8, 3)
	for i := range recs {
		l.decide(&p, &recs[i], child.ContentHash(&recs[i]), uint64(i+1), fixed)
	}
	x.forget(0)
	x.reviewed[[2]ref{1, 2}], x.notLinked[[2]ref{2, 3}], x.awaiting[1], x.stewardMerged[2] = true, true, true, true
	x.common[42] = true
	dir := t.TempDir()
	if _, err := x.WriteSnapshot(dir, SnapshotHeader{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, SnapshotFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeSnapshotRefusesDamage: every truncation and every single byte
// changed in a sealed payload is refused or decoded without a panic, and
// whatever decodes holds together (its numbers are in range).
func TestDecodeSnapshotRefusesDamage(t *testing.T) {
	b := smallSnapshot(t)
	x, _, err := DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	checkHolding(t, x)
	for n := 0; n < len(b); n++ {
		if _, _, err := DecodeSnapshot(b[:n]); err == nil {
			t.Fatalf("a file cut at %d of %d bytes decoded", n, len(b))
		}
		if _, _, err := DecodeSnapshot(resealed(b[:n+1])); err == nil && n+1 < len(b)-sha256.Size {
			t.Fatalf("a payload cut at %d decoded", n+1)
		}
	}
	for i := headerSize; i < len(b)-sha256.Size; i++ {
		for _, flip := range []byte{0x01, 0xff} {
			c := slices.Clone(b[:len(b)-sha256.Size])
			c[i] ^= flip
			if x, _, err := DecodeSnapshot(resealed(c)); err == nil {
				useAll(x)
			}
		}
	}
}

// useAll walks everything a decoded index points at, as the linker would.
func useAll(x *Index) {
	for r := range x.children {
		x.resolve(ref(r))
		x.features(ref(r), nil)
		for i := range x.children[r].srcs {
			x.sourceKeyOf(ref(r), i)
		}
	}
	for _, b := range x.blocks {
		x.candidates([]uint64{0})
		for n, i := b.first, 0; n >= 0 && i <= maxBlock; n, i = x.nodes[n].next, i+1 {
			x.resolve(x.nodes[n].r)
		}
	}
	for k := range x.nhs {
		x.resolve(x.nhs[k])
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	b := smallSnapshot(f)
	f.Add(b[headerSize : len(b)-sha256.Size])
	f.Fuzz(func(t *testing.T, payload []byte) {
		head := make([]byte, headerSize)
		copy(head, snapshotMagic[:])
		binary.LittleEndian.PutUint32(head[8:], snapshotVersion)
		if x, _, err := DecodeSnapshot(resealed(append(head, payload...))); err == nil {
			useAll(x)
		}
	})
}

// BenchmarkDecodeSnapshot reads a 20,000-child area's snapshot.
func BenchmarkDecodeSnapshot(b *testing.B) {
	l := newTestLinker()
	run(l, feedOf(b, 20000, 1), 1)
	dir := b.TempDir()
	if _, err := l.idx.WriteSnapshot(dir, SnapshotHeader{}); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, SnapshotFile))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := DecodeSnapshot(data); err != nil {
			b.Fatal(err)
		}
	}
}
