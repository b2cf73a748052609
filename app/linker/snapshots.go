package linker

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// snapshots is the linker's part in keeping an index snapshot: when one is
// due and the file's writing, which runs beside linking on a copy.
type snapshots struct {
	// writing is held from the copy of the index until its file is on
	// disk (unlocked by the goroutine writing it): one write at a time,
	// in order, and no removal during one.
	writing sync.Mutex
	created time.Time // the CHILDREN stream's, for the header
	seq     uint64    // the CHILDREN sequence of the last snapshot written or loaded
	feedSeq uint64    // the last FEEDS message linked

	// dirty is set (under Linker.mu) when an append or a batch failed: the
	// index may differ from the stream until the next run rebuilds it.
	dirty bool

	last atomic.Pointer[SnapshotStats]
}

// SnapshotStats describes the last snapshot written.
type SnapshotStats struct {
	Seq   uint64
	Size  int64
	Pause time.Duration // linking held up while the index was copied
	Write time.Duration // encoding, writing and syncing the file, beside linking
	Err   error
}

// LastSnapshot returns what the last snapshot written took, or nil.
func (l *Linker) LastSnapshot() *SnapshotStats { return l.snaps.last.Load() }

// snapshotDue reports, under l.mu, whether a periodic snapshot is due.
func (l *Linker) snapshotDue() bool {
	return l.SnapshotDir != "" && l.SnapshotEvery > 0 && l.idx.seq >= l.snaps.seq+l.SnapshotEvery
}

// snapshot starts writing a snapshot of the index, under l.mu. The index is
// copied while the lock is held; the file is written by a goroutine while
// linking goes on. A periodic snapshot is passed over while one is being
// written (the next batch asks again); a forced one (after an erasure, on
// shutdown) waits for it, so that the newest index is the one on disk.
func (l *Linker) snapshot(force bool) {
	if l.SnapshotDir == "" || l.snaps.dirty || !l.ready || l.idx == nil {
		return
	}
	if force {
		l.snaps.writing.Lock()
	} else if !l.snaps.writing.TryLock() {
		return
	}
	t := time.Now()
	c := l.idx.clone()
	hd := SnapshotHeader{StreamCreated: l.snaps.created, FeedSeq: l.snaps.feedSeq}
	l.snaps.seq = c.seq
	pause := time.Since(t)
	go func() {
		defer l.snaps.writing.Unlock()
		t := time.Now()
		size, err := c.WriteSnapshot(l.SnapshotDir, hd)
		st := &SnapshotStats{Seq: c.seq, Size: size, Pause: pause, Write: time.Since(t), Err: err}
		l.snaps.last.Store(st)
		if err != nil {
			l.log.Warn("linker: index snapshot not written; the next start rebuilds from an older one or from CHILDREN", "err", err)
			return
		}
		l.log.Debug("linker: index snapshot written", "children_seq", c.seq, "bytes", size, "pause", pause, "took", st.Write)
	}()
}

// snapshotErased follows an erasure, under l.mu: a fresh snapshot replaces
// the one that holds the erased children, or, when the index cannot be
// written (an append failed this run), that one is deleted.
func (l *Linker) snapshotErased() {
	if l.SnapshotDir == "" {
		return
	}
	if l.snaps.dirty {
		if err := l.RemoveSnapshot(); err != nil {
			l.log.Warn("linker: index snapshot not removed", "err", err)
		}
		return
	}
	l.snapshot(true)
}

// WaitSnapshot waits for a snapshot being written.
func (l *Linker) WaitSnapshot() {
	l.snaps.writing.Lock()
	l.snaps.writing.Unlock() //nolint:staticcheck // an empty critical section: waiting is the point
}

// RemoveSnapshot deletes this instance's snapshot. An instance that stops
// linking while the hub goes on (its lease lost, or its run failed) calls
// it: another instance may now erase children, and a snapshot left here
// would keep their data.
func (l *Linker) RemoveSnapshot() error {
	if l.SnapshotDir == "" {
		return nil
	}
	l.snaps.writing.Lock()
	defer l.snaps.writing.Unlock()
	err := os.Remove(filepath.Join(l.SnapshotDir, SnapshotFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Snapshot copies the index and writes it to dir as the running linker
// does, timing the copy (the pause linking would see) and the write: for
// the benchmark.
func (x *Index) Snapshot(ctx context.Context, js jetstream.JetStream, dir string) (SnapshotStats, error) {
	created, err := streamCreated(ctx, js)
	if err != nil {
		return SnapshotStats{}, err
	}
	t := time.Now()
	c := x.clone()
	st := SnapshotStats{Seq: c.seq, Pause: time.Since(t)}
	t = time.Now()
	st.Size, st.Err = c.WriteSnapshot(dir, SnapshotHeader{StreamCreated: created})
	st.Write = time.Since(t)
	return st, st.Err
}
