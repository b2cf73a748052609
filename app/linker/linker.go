// Package linker is the aggregate layer between FEEDS and CHILDREN: it
// resolves which child each feed record is about — deterministic
// identifiers first, then probabilistic matching with a review queue for the
// uncertain — and appends the resulting events to that child's own subject,
// with optimistic concurrency. It is the single writer of linkage: merges,
// splits and review decisions by data stewards go through it too.
package linker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/childmsg"
	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/parked"
	"contactpoint/adapters/postgres"
	"contactpoint/domain/child"
	"contactpoint/domain/match"
	"contactpoint/domain/record"
)

// CheckpointName is the linker's row in the checkpoints table.
const CheckpointName = "linker"

// ByLinker is the Decision.By of the linker's own decisions.
const ByLinker = "linker"

// ErrNotReady is returned by commands while the linker rebuilds its index.
var ErrNotReady = errors.New("the linker is starting; try again shortly")

// IDKeyName is the linker's row in hub_secrets: the key of ChildID.
const IDKeyName = "child-id"

// IDKeySize is the size of a generated ChildID key in bytes.
const IDKeySize = 32

// Config holds the matching parameters and the child id key.
type Config struct {
	Weights    match.Weights
	Thresholds match.Thresholds
	// Rules is the version in force, as stewards are shown it; Weights and
	// Thresholds are its (WithRules sets all three).
	Rules match.Rules
	// IDKey keys ChildID. Every instance and every restart must use the
	// same one, so that re-deciding a record names the same child: the hub
	// passes the one in hub_secrets. Empty: Run reads (or makes) that one.
	IDKey []byte
}

// DefaultConfig uses the documented default weights and thresholds.
func DefaultConfig() Config {
	return Config{}.WithRules(match.DefaultRules())
}

// WithRules puts a version of the rules in force.
func (c Config) WithRules(r match.Rules) Config {
	c.Rules, c.Weights, c.Thresholds = r, r.Weights, r.Thresholds
	c.Weights.TF, c.Weights.Variants = r.Frequencies, match.VariantSet(r.Variants)
	return c
}

// Rules returns the rules in force.
func (l *Linker) Rules() match.Rules { return l.cfg.Rules }

// Linker consumes FEEDS and writes CHILDREN.
type Linker struct {
	js        jetstream.JetStream
	pool      *pgxpool.Pool
	log       *slog.Logger
	cfg       Config
	now       func() time.Time
	BatchSize int

	mu    sync.Mutex // serialises feed batches and steward commands
	idx   *Index
	ready bool

	decided, scored atomic.Int64

	// suspects are FEEDS messages that failed alone with the database and
	// event log answering: the next pass parks them instead of deciding
	// them. aloneUntil makes the next pass decide one message at a time up
	// to that sequence, to find which message of a failed batch is to blame.
	// Both live as long as the linker, across the runs of its supervisor.
	suspects   map[uint64]parked.Reason
	aloneUntil uint64

	// SnapshotDir, when set, is where the index snapshot is kept (the
	// instance's own data directory); SnapshotEvery is how many CHILDREN
	// messages the index may move past the last snapshot before another is
	// written (0: only after an erasure and on shutdown).
	SnapshotDir   string
	SnapshotEvery uint64
	snaps         snapshots

	// runID names this run in a header of every message it appends, so
	// that a conflicting append can tell its own earlier message, and
	// another linker's, from a shield officer's or a practitioner's.
	runID string
}

// HeaderLinkerRun is the header naming the linker run that appended a
// CHILDREN message: a random id, no personal data.
const HeaderLinkerRun = "Cp-Linker-Run"

// errAnotherWriter: a linker run other than this one appended to a child
// after this run's index read it. Only one linker holds the lease at a time,
// so this is a holder that lost its lease and has not stopped yet, or one
// that took over: either way this run's index is stale. The run ends without
// parking anything and its restart rebuilds the index from CHILDREN.
var errAnotherWriter = errors.New("another linker appended to a child this run had read")

// errStillConflicting: other writers kept moving a child's stream. It is
// contention, not the record's fault, so it is retried and never parked.
var errStillConflicting = errors.New("still conflicting after retries")

// failure is a failed run of feed messages first..last, for Run to tell an
// outage from a poison message.
type failure struct {
	first, last uint64
	cause       error
}

func (f *failure) Error() string {
	return fmt.Sprintf("feed seq %d-%d: %v", f.first, f.last, f.cause)
}

func (f *failure) Unwrap() error { return f.cause }

// Stats counts the feed records decided and the candidate children scored
// since the linker was made: their ratio is the blocking's cost per record.
type Stats struct{ Decided, Scored int64 }

// Stats returns the linker's counters.
func (l *Linker) Stats() Stats { return Stats{Decided: l.decided.Load(), Scored: l.scored.Load()} }

// New returns a linker.
func New(js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger, cfg Config) *Linker {
	return &Linker{js: js, pool: pool, log: log, cfg: cfg, now: time.Now, BatchSize: 1000, suspects: map[uint64]parked.Reason{}}
}

// Run rebuilds the index from CHILDREN, then links FEEDS from the linker's
// checkpoint until ctx ends or the event log fails. A failed run loses
// nothing: run it again and it resumes from its checkpoint.
//
// A message that cannot be linked does not stop it. One that does not
// decode or lacks what linking needs is parked as it is met. When a batch
// fails otherwise while PostgreSQL and NATS answer, Run rebuilds the index
// (the failed decisions may have half changed it) and takes the batch again
// one message at a time; a message that fails alone is parked on the next
// pass. While either does not answer, nothing is parked: Run returns the
// error and its supervisor retries from the checkpoint.
func (l *Linker) Run(ctx context.Context) error {
	// Steward commands act on the index only while a run follows FEEDS:
	// on an instance that lost (or never held) the linker's lease, the
	// index is stale and the commands answer ErrNotReady.
	defer func() {
		l.mu.Lock()
		l.ready = false
		l.mu.Unlock()
	}()
	if len(l.cfg.IDKey) == 0 {
		key, err := postgres.Secret(ctx, l.pool, IDKeyName, IDKeySize)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("linker: %w", err)
		}
		l.cfg.IDKey = key
	}
	for {
		err := l.run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var f *failure
		if !errors.As(err, &f) || errors.Is(err, errStillConflicting) || errors.Is(err, errAnotherWriter) || !parked.Poisoned(ctx, l.pool, l.js, f.cause) {
			return fmt.Errorf("linker: %w", err)
		}
		l.mu.Lock()
		if f.first == f.last {
			if _, again := l.suspects[f.first]; again {
				// Parking it failed too: not the message's doing.
				l.mu.Unlock()
				return fmt.Errorf("linker: %w", err)
			}
			l.suspects[f.first] = parked.ReasonOf(f.cause)
		} else {
			l.aloneUntil = max(l.aloneUntil, f.last)
		}
		l.mu.Unlock()
		l.log.Warn("linker: feed messages failed; rebuilding the index to retry them one at a time",
			"from_feed_seq", f.first, "to_feed_seq", f.last, "reason", parked.ReasonOf(f.cause).Kind)
	}
}

func (l *Linker) run(ctx context.Context) error {
	l.mu.Lock()
	l.ready = false
	l.runID = uuid.NewString()
	l.mu.Unlock()
	// A snapshot still being written belongs to the run before: it was
	// copied from a consistent index, and is let finish before reading.
	l.WaitSnapshot()
	started := time.Now()
	created, err := streamCreated(ctx, l.js)
	if err != nil {
		return err
	}
	idx, skipped, tail, why, err := loadIndex(ctx, l.js, l.SnapshotDir)
	if err != nil {
		return err
	}
	if why != "" && l.SnapshotDir != "" {
		l.log.Info("linker: index snapshot not used; rebuilding from CHILDREN", "reason", why)
	}
	from, err := postgres.Checkpoint(ctx, l.pool, CheckpointName)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.idx, l.ready = idx, true
	l.snaps.dirty, l.snaps.created, l.snaps.feedSeq = false, created, from
	l.snaps.seq = 0
	if why == "" {
		l.snaps.seq = idx.seq - tail
	}
	// A merge whose survivor half landed before a crash gets its other half.
	err = l.completeMerges(ctx)
	if err == nil && idx.seq != l.snaps.seq {
		// What the start read (a whole stream, or a tail that may hold
		// erasures) is written at once: the next start reads less, and no
		// snapshot here holds a child erased since the last.
		l.snapshot(true)
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	l.log.Info("linker started", "children", idx.Children(), "from_feed_seq", from+1, "children_messages_passed_over", skipped,
		"from_snapshot", why == "", "children_messages_after_snapshot", tail, "index_ready_seconds", time.Since(started).Seconds())
	err = natsjs.Follow(ctx, l.js, natsjs.StreamFeeds, from+1, 0, l.BatchSize, func(msgs []jetstream.Msg) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		err := l.follow(ctx, msgs)
		if err != nil {
			l.snaps.dirty = true
			return err
		}
		if last, err := feedSeq(msgs[len(msgs)-1]); err == nil {
			l.snaps.feedSeq = last
		}
		if l.snapshotDue() {
			l.snapshot(false)
		}
		return nil
	})
	if ctx.Err() != nil {
		// A clean stop: the index as it stands is the next start's.
		l.mu.Lock()
		l.snapshot(true)
		l.mu.Unlock()
		l.WaitSnapshot()
	}
	return err
}

func (l *Linker) follow(ctx context.Context, msgs []jetstream.Msg) error {
	if first, err := feedSeq(msgs[0]); err != nil || first > l.aloneUntil {
		return l.process(ctx, msgs)
	}
	for i := range msgs {
		if err := l.process(ctx, msgs[i:i+1]); err != nil {
			return err
		}
	}
	return nil
}

func feedSeq(m jetstream.Msg) (uint64, error) {
	md, err := m.Metadata()
	if err != nil {
		return 0, fmt.Errorf("linker: %w", err)
	}
	return md.Sequence.Stream, nil
}

// RebuildIndex builds the linker's index from the CHILDREN stream alone.
func RebuildIndex(ctx context.Context, js jetstream.JetStream) (*Index, error) {
	idx, _, err := rebuildIndex(ctx, js)
	return idx, err
}

// rebuildIndex also counts the messages it passed over: those the
// directory parks, which hold nothing the index could use. A full rebuild
// is an empty index brought up to date from the stream's first message.
func rebuildIndex(ctx context.Context, js jetstream.JetStream) (*Index, int, error) {
	idx := NewIndex()
	skipped, err := idx.applyFrom(ctx, js, 1)
	if err != nil {
		return nil, 0, err
	}
	return idx, skipped, nil
}

// applyFrom folds CHILDREN from seq `from` to the stream's end into the
// index: the one way the index learns from the stream, for a full rebuild
// and for the tail after a snapshot alike.
func (x *Index) applyFrom(ctx context.Context, js jetstream.JetStream, from uint64) (int, error) {
	skipped := 0
	err := ReadChildren(ctx, js, from, func(seq uint64, id uuid.UUID, b child.Batch) error {
		x.seq = max(x.seq, seq)
		if parked.Safely(func() error { x.apply(id, b); return nil }) != nil {
			skipped++
			return nil
		}
		x.children[x.ref(id)].lastSeq = seq
		return nil
	}, func(seq uint64, subject string) {
		x.seq = max(x.seq, seq)
		skipped++
		// The child's stream has moved on even so: appends to it expect
		// this sequence. An unknown child gets no entry from a bad message.
		if id, ok := subjectChild(subject); ok {
			if r, ok := x.refs[id]; ok {
				x.children[r].lastSeq = seq
			}
		}
	})
	return skipped, err
}

// ReadChildren calls fn for every message of CHILDREN from seq `from` to the
// stream's end as it stood when called. A message that DecodeChildMsg
// refuses is passed over (the directory parks it), reported to each of
// skip when given.
func ReadChildren(ctx context.Context, js jetstream.JetStream, from uint64, fn func(seq uint64, id uuid.UUID, b child.Batch) error, skip ...func(seq uint64, subject string)) error {
	last, err := natsjs.LastSeq(ctx, js, natsjs.StreamChildren)
	if err != nil {
		return fmt.Errorf("read CHILDREN: %w", err)
	}
	if last < from || last == 0 {
		return nil
	}
	return natsjs.Follow(ctx, js, natsjs.StreamChildren, from, last, 2000, func(msgs []jetstream.Msg) error {
		for _, m := range msgs {
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("read CHILDREN: %w", err)
			}
			id, b, err := DecodeChildMsg(m.Subject(), m.Data())
			if err != nil {
				for _, s := range skip {
					s(md.Sequence.Stream, m.Subject())
				}
				continue
			}
			if err := fn(md.Sequence.Stream, id, b); err != nil {
				return err
			}
		}
		return nil
	})
}

// plan gathers, for one batch of feed records, the events for each child in
// the order the children were first touched.
type plan struct {
	order []uuid.UUID
	per   map[uuid.UUID]*pending
}

type pending struct {
	id      uuid.UUID
	batch   child.Batch
	lastSeq uint64
}

func (p *plan) add(id uuid.UUID, feedSeq uint64, events ...child.Event) {
	if len(events) == 0 {
		return
	}
	if p.per == nil {
		p.per = map[uuid.UUID]*pending{}
	}
	pd := p.per[id]
	if pd == nil {
		pd = &pending{id: id, batch: child.Batch{ChildID: id.String()}}
		p.per[id] = pd
		p.order = append(p.order, id)
	}
	pd.batch.Events = append(pd.batch.Events, events...)
	pd.lastSeq = feedSeq
}

// bridge is a pair of children that one record's identifiers join, or that
// their source says are one (authoritative: an HL7 A40).
type bridge struct {
	a, b          ref
	authoritative bool
	// reason, when set, is why the pair is thought one child (a re-match),
	// for the merge's decision.
	reason string
	// move, when set, is a record of a that belongs to b (strayTwinRecords):
	// it moves, and the children stay two.
	move *record.SourceKey
}

// process links a batch of feed messages: decide each in order against the
// index (updated as it goes, so records in one batch see each other), append
// one message per child, merge the children the batch showed to be one, and
// move the checkpoint, parking in the same transaction the messages that
// cannot be linked. A failure other than the context's is a *failure, for
// Run to judge.
func (l *Linker) process(ctx context.Context, msgs []jetstream.Msg) error {
	first, err := feedSeq(msgs[0])
	if err != nil {
		return err
	}
	var last uint64
	var parks []parked.Message
	err = parked.Safely(func() error {
		var err error
		last, parks, err = l.link(ctx, msgs)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var f *failure
		if errors.As(err, &f) {
			return err
		}
		last, _ := feedSeq(msgs[len(msgs)-1])
		return &failure{first: first, last: max(first, last), cause: err}
	}
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return &failure{first, last, fmt.Errorf("linker checkpoint: %w", err)}
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after commit this is a no-op
	if err := postgres.AsyncCommit(ctx, tx); err != nil {
		return &failure{first, last, err}
	}
	for _, pm := range parks {
		if err := parked.Park(ctx, tx, pm); err != nil {
			return &failure{first, last, err}
		}
	}
	// FEEDS keeps every message, so the batch starts right after the stored
	// checkpoint: if it does not, commits were lost (PostgreSQL crashed
	// under an asynchronous commit) and the run restarts from the database.
	if err := postgres.SaveCheckpoint(ctx, tx, CheckpointName, natsjs.StreamFeeds, first-1, last); err != nil {
		return &failure{first, last, err}
	}
	if err := tx.Commit(ctx); err != nil {
		return &failure{first, last, fmt.Errorf("linker checkpoint: %w", err)}
	}
	for _, pm := range parks {
		delete(l.suspects, pm.Seq)
		parked.Logged(l.log, pm)
	}
	return nil
}

// link decides and appends a batch; it returns the batch's last sequence
// and the messages to park with the checkpoint.
func (l *Linker) link(ctx context.Context, msgs []jetstream.Msg) (uint64, []parked.Message, error) {
	var p plan
	var bridges []bridge
	var parks []parked.Message
	var lastFeed uint64
	for _, m := range msgs {
		seq, err := feedSeq(m)
		if err != nil {
			return 0, nil, err
		}
		lastFeed = seq
		r, suspect := l.suspects[seq]
		var rec record.Record
		if !suspect {
			// FEEDS holds only validated records; one that is not is parked
			// for a steward to see, not a reason to stop linking everyone else.
			rec, err = DecodeFeedMsg(m.Subject(), m.Data())
			r = parked.ReasonOf(err)
		}
		if suspect || err != nil {
			pm, err := parked.Of(CheckpointName, m, r)
			if err != nil {
				return 0, nil, err
			}
			parks = append(parks, pm)
			continue
		}
		hash := m.Headers().Get(natsjs.HeaderHash)
		if !validHash(hash) {
			hash = child.ContentHash(&rec)
		}
		var bs []bridge
		if err := parked.Safely(func() error { bs = l.decide(&p, &rec, hash, seq, md(m).Timestamp); return nil }); err != nil {
			// The index may hold half of this record's decision: Run
			// rebuilds it and parks the record on the next pass.
			return 0, nil, &failure{first: seq, last: seq, cause: err}
		}
		bridges = append(bridges, bs...)
	}
	l.decided.Add(int64(len(msgs)))
	if err := l.append(ctx, p); err != nil {
		return 0, nil, err
	}
	// Counted once landed: a batch that fails is decided again.
	countDecisions(&p)
	if err := l.resolveBridges(ctx, bridges); err != nil {
		return 0, nil, err
	}
	return lastFeed, parks, nil
}

func md(m jetstream.Msg) *jetstream.MsgMetadata {
	md, _ := m.Metadata() // feedSeq has read it already
	return md
}

// validHash accepts a Cp-Content-Hash header as child.ContentHash writes
// it: 32 hex digits. Anything else is worked out again from the record.
func validHash(h string) bool {
	if len(h) != 32 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// decide resolves one record to a child, adds its events to the plan and
// applies them to the index. It returns pairs of children that the record's
// identifiers show to be one child.
func (l *Linker) decide(p *plan, rec *record.Record, hash string, feedSeq uint64, received time.Time) []bridge {
	x := l.idx
	now := l.now().UTC()
	key := rec.Source.Key()
	emit := func(r ref, events ...child.Event) {
		id := x.children[r].id
		p.add(id, feedSeq, events...)
		x.apply(id, child.Batch{Events: events})
	}

	se, known := x.source(key)
	switch {
	case rec.Operation == record.OpMerge:
		return l.decideMerge(rec, feedSeq, emit)
	case known && rec.Operation == record.OpWithdraw:
		if !se.withdrawn {
			emit(x.resolve(se.child), child.Event{Type: child.TypeWithdrawn, At: now, Withdrawn: &child.Withdrawn{Source: key, FeedSeq: feedSeq}})
		}
		return nil
	case rec.Operation == record.OpWithdraw:
		return nil // nothing held to withdraw
	}

	// The record's features are worked out once, here, and handed to the
	// index with the events, rather than again for each use.
	f := match.FeaturesOf(rec.Child)
	x.pending, x.pendingKeys = &f, blockKeys(&f, x.pendingKeys[:0])
	defer func() { x.pending = nil }()
	if known {
		r := x.resolve(se.child)
		changed := !se.sameContent(hash) || se.withdrawn
		if changed {
			emit(r, stated(rec, hash, feedSeq, now, child.Link{Rule: "source-record"}))
		}
		bs := l.bridges(r, &f)
		if changed && l.rematchable(r) {
			bs = append(bs, l.rematch(r, key, &f, now, emit)...)
		}
		return bs
	}
	// A shared identifier is strong evidence, not a verdict: numbers are
	// mistyped and reused, so a record whose date of birth and given name
	// (or gender) deny the child holding its number goes to a steward.
	var best match.Decision
	var bestRef ref
	var found bool
	bestSrc := -1
	for _, id := range [...]struct {
		rule string
		look func(string) (ref, bool)
		val  string
	}{{"nhs-number", x.lookupNHS, f.NHS}, {"upn", x.lookupUPN, f.UPN}} {
		r, ok := id.look(id.val)
		if !ok {
			continue
		}
		d, si, denied := l.identifierDenied(r, &f)
		if !denied {
			emit(r, stated(rec, hash, feedSeq, now, child.Link{Rule: id.rule}))
			return l.bridges(r, &f)
		}
		best, bestRef, bestSrc, found = d, r, si, true
		break
	}

	if !found {
		best, bestRef, bestSrc, found = l.bestCandidate(&f, x.pendingKeys)
	}
	if found && best.Outcome == match.Link {
		emit(bestRef, stated(rec, hash, feedSeq, now, child.Link{Rule: "score", Score: round(best.Score)}))
		return nil
	}
	id := ChildID(l.cfg.IDKey, received, feedSeq)
	events := []child.Event{
		{Type: child.TypeRegistered, At: now, Registered: &child.Registered{ChildID: id.String(), Reason: "new source record " + key.String()}},
		stated(rec, hash, feedSeq, now, child.Link{Rule: "new"}),
	}
	if found && best.Outcome == match.Review {
		events = append(events, l.reviewEvent(now, bestRef, bestSrc, key, best))
	}
	emit(x.ref(id), events...)
	if f.NHS != "" || f.UPN != "" {
		return l.strayTwinRecords(x.ref(id), &f)
	}
	return nil
}

// strayTwinRecords finds the records a twin's new child should take from
// its twin. When a twin's first record arrives with no identifier, nothing
// tells it from its twin's but the given name, and it may be linked to the
// twin; when a record of it with its own identifier arrives, that record
// makes a new child, as the identifiers conflict. A record of the twin's
// child that has no identifier, is twin-like with the twin's own records
// (same family, date of birth and household) but agrees with them on the
// given name nowhere, and agrees with the new record's given name exactly
// and scores higher with it than with anything its child holds, belongs to
// the new child: it is moved there, as a split the linker makes.
func (l *Linker) strayTwinRecords(newChild ref, f *match.Features) []bridge {
	x := l.idx
	var out []bridge
	t := l.thresholds()
	for _, c := range x.candidates(x.pendingKeys) {
		if c == newChild || x.isNotLinked(c, newChild) {
			continue
		}
		feats := x.features(c, nil)
		conflict := false
		for i := range feats {
			v := match.Compare(f, &feats[i])
			if v[match.FieldNHS] == match.Disagree || v[match.FieldUPN] == match.Disagree {
				conflict = true
				break
			}
		}
		if !conflict {
			continue
		}
		for i := range feats {
			s := &feats[i]
			if s.NHS != "" || s.UPN != "" {
				continue
			}
			d := match.Decide(*f, *s, l.cfg.Weights, t)
			if d.Outcome != match.Link || d.Vector[match.FieldGiven] != match.Exact {
				continue
			}
			stray, own := true, 0.0
			for j := range feats {
				if j == i {
					continue
				}
				dj := match.Decide(*s, feats[j], l.cfg.Weights, t)
				own = max(own, dj.Score)
				if dj.Vector[match.FieldGiven] == match.Exact || !match.TwinLike(dj.Vector) {
					stray = false
				}
			}
			if stray && d.Score > own {
				if k, ok := x.sourceKeyOf(c, i); ok {
					out = append(out, bridge{a: c, b: newChild, move: &k})
				}
			}
		}
	}
	return out
}

// reviewEvent asks a steward whether the record's child is candidate, with
// the evidence, why it was not linked, and which of the candidate's source
// records it was compared with.
func (l *Linker) reviewEvent(now time.Time, candidate ref, candidateSrc int, key record.SourceKey, d match.Decision) child.Event {
	ev, _ := json.Marshal(match.ExplainDecision(d, l.cfg.Weights))
	rr := &child.ReviewRequested{
		Candidate: l.idx.children[candidate].id.String(), Source: key, Score: round(d.Score), Evidence: ev,
		Why: d.Why(), Reason: d.Reason,
	}
	if k, ok := l.idx.sourceKeyOf(candidate, candidateSrc); ok {
		// By digest: the event stays in this child's history when the
		// candidate is erased.
		rr.ComparedRef = child.ComparedDigest(rr.Candidate, k)
	}
	return child.Event{Type: child.TypeReviewRequested, At: now, Review: rr}
}

// identifierDenied reports whether the record's shared identifier is
// contradicted by every source of child r that holds it (match.
// IdentifierContradicted), with the decision to review and the source it
// came from. A source that holds the identifier and does not contradict it
// lets the identifier link, as does a child none of whose sources holds it
// any more (its first claimant moved on): then the identifier alone speaks.
func (l *Linker) identifierDenied(r ref, f *match.Features) (match.Decision, int, bool) {
	x := l.idx
	x.scratch = x.features(r, x.scratch)
	si := -1
	for i := range x.scratch {
		s := &x.scratch[i]
		shared := (f.NHS != "" && f.NHS == s.NHS) || (f.UPN != "" && f.UPN == s.UPN)
		if !shared {
			continue
		}
		if !match.IdentifierContradicted(match.Compare(f, s)) {
			return match.Decision{}, 0, false
		}
		if si < 0 {
			si = i
		}
	}
	if si < 0 {
		return match.Decision{}, 0, false
	}
	d := match.Decide(*f, x.scratch[si], l.cfg.Weights, l.thresholds())
	d.Outcome, d.Reason = match.Review, match.ReasonSameIdentifier
	return d, si, true
}

// resolveBridges merges children that one record's identifiers join, when
// their own sources agree they are one child; when the sources disagree
// (a mis-keyed number on a twin, say) a steward is asked instead.
func (l *Linker) resolveBridges(ctx context.Context, bridges []bridge) error {
	x := l.idx
	for _, br := range bridges {
		a, b := x.resolve(br.a), x.resolve(br.b)
		if a == b || x.isNotLinked(a, b) {
			continue
		}
		if br.move != nil {
			if err := l.moveRecord(ctx, a, b, *br.move); err != nil {
				return err
			}
			continue
		}
		if br.authoritative {
			// The source itself merged its two records: it knows they are
			// one person, so no score second-guesses it.
			if err := l.mergeRefs(ctx, a, b, child.Decision{By: ByLinker, Reason: "the source merged its records of this child"}); err != nil {
				return err
			}
			continue
		}
		d := x.compare(a, b, l.cfg.Weights, l.thresholds())
		if d.Outcome == match.Link {
			reason := "identifiers in one source record name both children (" + d.Rule + ")"
			if br.reason != "" {
				reason = br.reason
			}
			if err := l.mergeRefs(ctx, a, b, child.Decision{By: ByLinker, Reason: reason}); err != nil {
				return err
			}
			continue
		}
		if br.reason != "" {
			continue // a re-match that does not link is asked about by rematch itself
		}
		if x.reviewed[pair(a, b)] {
			continue
		}
		younger, older := a, b
		if x.children[b].id.String() > x.children[a].id.String() {
			younger, older = b, a
		}
		ev, _ := json.Marshal(match.ExplainDecision(d, l.cfg.Weights))
		var p plan
		yid := x.children[younger].id
		p.add(yid, 0, child.Event{Type: child.TypeReviewRequested, At: l.now().UTC(), Review: &child.ReviewRequested{
			Candidate: x.children[older].id.String(), Score: round(d.Score), Evidence: ev,
			Why: match.WhyIdentifier, Reason: "identifiers in one source record name both children; " + d.Reason,
		}})
		if err := l.append(ctx, p); err != nil {
			return err
		}
		x.apply(yid, p.per[yid].batch)
	}
	return nil
}

// rematchable reports whether an update to one of r's records should be
// weighed against the candidates again: r is the new child that record
// made, holding it alone, or a child awaiting a steward's review. A child
// that others' records have joined is left as it stands; its duplicates are
// found by the records that arrive.
func (l *Linker) rematchable(r ref) bool {
	c := &l.idx.children[r]
	return c.mergedInto < 0 && (len(c.srcs) == 1 || l.idx.awaiting[r])
}

// rematch reconsiders a changed record of child r against the candidates
// its new details find, r itself aside: a link merges r into the candidate
// (a bridge, as r may hold the record alone) and a review asks a steward,
// unless that pair was asked before.
func (l *Linker) rematch(r ref, key record.SourceKey, f *match.Features, now time.Time, emit func(ref, ...child.Event)) []bridge {
	x := l.idx
	best, c, cs, found := l.bestCandidate(f, x.pendingKeys, r)
	if !found || c == r || x.isNotLinked(r, c) {
		return nil
	}
	switch best.Outcome {
	case match.Link:
		return []bridge{{a: r, b: c, reason: "a source updated its record, which now matches (" + best.Rule + ")"}}
	case match.Review:
		if !x.reviewed[pair(r, c)] {
			emit(r, l.reviewEvent(now, c, cs, key, best))
		}
	}
	return nil
}

// moveRecord moves one record of child a to child b, as a split by the
// linker: a twin's record found on its twin (strayTwinRecords).
func (l *Linker) moveRecord(ctx context.Context, a, b ref, k record.SourceKey) error {
	x := l.idx
	from, to := x.children[a].id, x.children[b].id
	if len(x.children[a].srcs) < 2 {
		return nil
	}
	p, _, err := l.planSplit(ctx, from, []record.SourceKey{k}, to, child.Decision{By: ByLinker,
		Reason: "a twin's record: it agrees with this child's own record on the given name, and with its twin's nowhere"})
	if errors.Is(err, ErrUnknownSource) || errors.Is(err, ErrSplitEverything) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := l.append(ctx, p); err != nil {
		return err
	}
	for _, id := range p.order {
		x.apply(id, p.per[id].batch)
	}
	return l.carryShield(ctx, from, to, "split")
}

// bestCandidate scores the record against every candidate child, found
// by the record's hashed blocking keys; it returns the best decision, its
// child and the index of the child's source that gave it.
//
// A record that would link to two children of one household equally (a
// newborn recorded without a given name, when the household has twins)
// is not the linker's to place: it goes to review against the better.
func (l *Linker) bestCandidate(f *match.Features, keys []uint64, skip ...ref) (match.Decision, ref, int, bool) {
	var best match.Decision
	var bestRef ref
	bestSrc := -1
	found := false
	links, twinLinks := 0, 0
	t := l.thresholds()
	cands := l.idx.candidates(keys)
	l.scored.Add(int64(len(cands)))
	for _, r := range cands {
		if len(skip) > 0 && r == skip[0] {
			continue
		}
		l.idx.scratch = l.idx.features(r, l.idx.scratch)
		d, si := match.DecideBest(*f, l.idx.scratch, l.cfg.Weights, t)
		if d.Outcome == match.Link {
			links++
			if d.TwinLike() {
				twinLinks++
			}
		}
		if !found || rank(d) > rank(best) || (rank(d) == rank(best) && d.Score > best.Score) {
			best, bestRef, bestSrc, found = d, r, si, true
		}
	}
	if best.Outcome == match.Link && links > 1 && twinLinks > 0 && best.Rule == match.RuleProbability {
		best.Outcome, best.Rule = match.Review, match.RuleTwin
		best.Reason = "the record fits two children of one household as well"
	}
	return best, bestRef, bestSrc, found && best.Outcome != match.New
}

func rank(d match.Decision) int {
	switch d.Outcome {
	case match.Link:
		return 2
	case match.Review:
		return 1
	}
	return 0
}

func round(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

// bridges finds other children that the record's identifiers belong to.
func (l *Linker) bridges(r ref, f *match.Features) []bridge {
	var out []bridge
	for _, o := range []func() (ref, bool){
		func() (ref, bool) { return l.idx.lookupNHS(f.NHS) },
		func() (ref, bool) { return l.idx.lookupUPN(f.UPN) },
	} {
		if other, ok := o(); ok && other != r && !l.idx.isNotLinked(r, other) {
			out = append(out, bridge{a: r, b: other})
		}
	}
	return out
}

// decideMerge handles a source's own merge (an HL7 A40): the absorbed
// record's child joins the surviving record's child, and the absorbed
// record, retired by its source, is withdrawn.
func (l *Linker) decideMerge(rec *record.Record, feedSeq uint64, emit func(ref, ...child.Event)) []bridge {
	x := l.idx
	if rec.Merge == nil {
		return nil
	}
	key := rec.Source.Key()
	old := record.SourceKey{Agency: key.Agency, System: key.System, RecordID: rec.Merge.AbsorbedRecordID}
	se, ok1 := x.source(key)
	oe, ok2 := x.source(old)
	if !ok1 || !ok2 {
		l.log.Warn("linker: merge names a record the hub does not hold", "feed_seq", feedSeq)
		return nil
	}
	if !oe.withdrawn {
		emit(x.resolve(oe.child), child.Event{Type: child.TypeWithdrawn, At: l.now().UTC(), Withdrawn: &child.Withdrawn{Source: old, FeedSeq: feedSeq}})
	}
	a, b := x.resolve(se.child), x.resolve(oe.child)
	if a == b {
		return nil
	}
	return []bridge{{a: a, b: b, authoritative: true}}
}

func stated(rec *record.Record, hash string, feedSeq uint64, at time.Time, link child.Link) child.Event {
	return child.Event{Type: child.TypeStated, At: at, Stated: &child.Stated{
		Source: rec.Source, Child: *rec.Child, Consents: rec.Consents, ContentHash: hash, FeedSeq: feedSeq, Link: link,
	}}
}

// ChildID is a UUIDv7 whose time is when the feed record reached the hub and
// whose random bits are an HMAC-SHA256 of its FEEDS sequence under the
// hub's key: deciding the same record again after a crash names the same
// child, so no duplicate is registered, yet no one without the key can work
// out one child's id from another's (the ids of consecutive records are as
// unrelated as random ones).
func ChildID(key []byte, received time.Time, feedSeq uint64) uuid.UUID {
	var u uuid.UUID
	ms := uint64(received.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("contactpoint-child:" + strconv.FormatUint(feedSeq, 10)))
	h := mac.Sum(nil)
	copy(u[6:], h[:10])
	u[6] = 0x70 | (u[6] & 0x0f) // version 7
	u[8] = 0x80 | (u[8] & 0x3f) // RFC 4122 variant
	return u
}

// append publishes one message per child, pipelined, each expecting the
// child's subject to be where the index says; a conflict (someone else wrote
// to the child) re-reads the subject's position and tries again.
//
// The messages carry no Nats-Msg-Id: the expected sequence already stops an
// append from landing twice, and a failed batch ends the run, whose restart
// rebuilds the index from CHILDREN and so sees every append that landed.
// Message ids would only fill the server's duplicate map: an entry for
// every append, kept for the stream's two-hour window.
func (l *Linker) append(ctx context.Context, p plan) error {
	err := l.appendPlan(ctx, p)
	if err != nil {
		// Some of the plan may have landed unseen, or the index may hold
		// decisions that did not: it is no longer what the stream says
		// until the run rebuilds it, so no snapshot is taken of it.
		l.snaps.dirty = true
	}
	return err
}

func (l *Linker) appendPlan(ctx context.Context, p plan) error {
	type inflight struct {
		p   *pending
		fut jetstream.PubAckFuture
	}
	todo := p.order
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt > 5 {
			return fmt.Errorf("linker: %d children: %w", len(todo), errStillConflicting)
		}
		fl := make([]inflight, 0, len(todo))
		for _, id := range todo {
			pd := p.per[id]
			m, err := l.childMsg(pd)
			if err != nil {
				return err
			}
			fut, err := l.js.PublishMsgAsync(m, jetstream.WithExpectLastSequencePerSubject(l.idx.children[l.idx.ref(id)].lastSeq))
			if err != nil {
				return fmt.Errorf("linker: append to child: %w", err)
			}
			fl = append(fl, inflight{pd, fut})
		}
		todo = nil
		for _, f := range fl {
			c := &l.idx.children[l.idx.ref(f.p.id)]
			select {
			case ack := <-f.fut.Ok():
				c.lastSeq = ack.Sequence
				l.idx.seq = max(l.idx.seq, ack.Sequence)
			case err := <-f.fut.Err():
				var apiErr *jetstream.APIError
				if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
					// Before trying again, look at what landed since: this
					// run's own message (its ack was lost to a reconnect)
					// must not be appended twice, and another linker's
					// means this index is stale.
					last, landed, gerr := l.landedSince(ctx, f.p, c.lastSeq)
					if gerr != nil {
						return gerr
					}
					c.lastSeq = last
					l.idx.seq = max(l.idx.seq, last)
					if !landed {
						todo = append(todo, f.p.id)
					}
					continue
				}
				return fmt.Errorf("linker: append to child: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

func (l *Linker) childMsg(p *pending) (*nats.Msg, error) {
	m, err := childmsg.Message(p.id, p.batch, p.lastSeq)
	if err != nil {
		return nil, err
	}
	m.Header.Set(HeaderLinkerRun, l.runID)
	return m, nil
}

// landedSince reads, by direct get (no consumer), the child's messages after
// seq `after`: it returns the subject's last sequence and whether this
// run's message p is among them. A message of another linker run is
// errAnotherWriter; anyone else's (a shield, an involvement) only moved the
// expected sequence on.
func (l *Linker) landedSince(ctx context.Context, p *pending, after uint64) (uint64, bool, error) {
	last, landed := after, false
	err := EachChildMsg(ctx, l.js, p.id, after, func(m *jetstream.RawStreamMsg) (bool, error) {
		switch run := m.Header.Get(HeaderLinkerRun); {
		case run == "":
		case run != l.runID:
			return false, fmt.Errorf("child stream at %d: %w", m.Sequence, errAnotherWriter)
		default:
			// This run appends one message per child at a time and
			// records each ack, so its message after `after` is p's.
			landed = true
		}
		last = m.Sequence
		return true, nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("linker: after a conflict: %w", err)
	}
	return last, landed, nil
}

// LastSubjectSeq asks the stream (a direct get, no consumer) for the
// sequence of the child's latest message; 0 if it has none.
func LastSubjectSeq(ctx context.Context, js jetstream.JetStream, id uuid.UUID) (uint64, error) {
	st, err := js.Stream(ctx, natsjs.StreamChildren)
	if err != nil {
		return 0, err
	}
	m, err := st.GetLastMsgForSubject(ctx, "children."+id.String())
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last message of child: %w", err)
	}
	return m.Sequence, nil
}

// thresholds are the configured ones raised for the size of the area: a
// record is compared against more children in a larger one, so the same
// certainty needs more evidence (match.Thresholds.ForPopulation).
func (l *Linker) thresholds() match.Thresholds {
	return l.cfg.Thresholds.ForPopulation(l.idx.Children())
}
