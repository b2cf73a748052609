// Package linker is the aggregate layer between FEEDS and CHILDREN: it
// resolves which child each feed record is about and appends the resulting
// events to that child's own subject, with optimistic concurrency.
package linker

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
)

// CheckpointName is the linker's row in the checkpoints table.
const CheckpointName = "linker"

// Matcher is the seam for probabilistic matching: asked only when no
// deterministic rule (same source record, known NHS number, known UPN)
// applies. A nil Matcher registers a new child.
type Matcher interface {
	Match(rec *record.Record) (childID uuid.UUID, link child.Link, ok bool)
}

// Linker consumes FEEDS and writes CHILDREN.
type Linker struct {
	js        jetstream.JetStream
	pool      *pgxpool.Pool
	log       *slog.Logger
	matcher   Matcher
	idx       *Index
	now       func() time.Time
	BatchSize int
}

// New returns a linker.
func New(js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger, m Matcher) *Linker {
	return &Linker{js: js, pool: pool, log: log, matcher: m, now: time.Now, BatchSize: 1000}
}

// Index returns the linker's index (for tests and statistics).
func (l *Linker) Index() *Index { return l.idx }

// Run rebuilds the index from CHILDREN, then links FEEDS from the linker's
// checkpoint until ctx ends or the event log fails. A failed run loses
// nothing: run it again and it resumes from its checkpoint.
func (l *Linker) Run(ctx context.Context) error {
	if err := l.rebuild(ctx); err != nil {
		return err
	}
	from, err := postgres.Checkpoint(ctx, l.pool, CheckpointName)
	if err != nil {
		return err
	}
	l.log.Info("linker started", "children", l.idx.Children(), "from_feed_seq", from+1)
	err = natsjs.Follow(ctx, l.js, natsjs.StreamFeeds, from+1, 0, l.BatchSize, func(msgs []jetstream.Msg) error {
		return l.process(ctx, msgs)
	})
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("linker: %w", err)
}

// rebuild reads CHILDREN from the start into a fresh index.
func (l *Linker) rebuild(ctx context.Context) error {
	l.idx = NewIndex()
	return ReadChildren(ctx, l.js, 1, func(seq uint64, id uuid.UUID, b child.Batch) error {
		l.idx.apply(id, b)
		l.idx.lastSeq[id] = seq
		return nil
	})
}

// ReadChildren calls fn for every message of CHILDREN from seq `from` to the
// stream's end as it stood when called.
func ReadChildren(ctx context.Context, js jetstream.JetStream, from uint64, fn func(seq uint64, id uuid.UUID, b child.Batch) error) error {
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
				return fmt.Errorf("read CHILDREN seq %d: %w", md.Sequence.Stream, err)
			}
			if err := fn(md.Sequence.Stream, id, b); err != nil {
				return err
			}
		}
		return nil
	})
}

// DecodeChildMsg decodes a CHILDREN message.
func DecodeChildMsg(subject string, data []byte) (uuid.UUID, child.Batch, error) {
	var b child.Batch
	id, err := uuid.Parse(strings.TrimPrefix(subject, "children."))
	if err != nil {
		return id, b, fmt.Errorf("subject %q: %w", subject, err)
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return id, b, fmt.Errorf("decode events: %w", err)
	}
	return id, b, nil
}

// pending is what a batch of feed records yields for one child.
type pending struct {
	id       uuid.UUID
	batch    child.Batch
	firstSeq uint64
	lastSeq  uint64
}

// process links a batch of feed messages: decide each in order against the
// index (updated as it goes, so records in one batch see each other), then
// append one message per child, then move the checkpoint.
func (l *Linker) process(ctx context.Context, msgs []jetstream.Msg) error {
	var order []uuid.UUID
	per := map[uuid.UUID]*pending{}
	var lastFeed uint64
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("linker: %w", err)
		}
		seq := md.Sequence.Stream
		lastFeed = seq
		var rec record.Record
		if err := json.Unmarshal(m.Data(), &rec); err != nil {
			// FEEDS holds only validated records; one that does not decode is
			// a bug to see, not a reason to stop linking everyone else.
			l.log.Error("linker: undecodable FEEDS message skipped", "feed_seq", seq, "err", err)
			continue
		}
		id, events := l.decide(&rec, seq, md.Timestamp)
		if len(events) == 0 {
			continue
		}
		p := per[id]
		if p == nil {
			p = &pending{id: id, batch: child.Batch{ChildID: id.String()}, firstSeq: seq}
			per[id] = p
			order = append(order, id)
		}
		p.batch.Events = append(p.batch.Events, events...)
		p.lastSeq = seq
		l.idx.apply(id, child.Batch{Events: events})
	}
	if err := l.append(ctx, order, per); err != nil {
		return err
	}
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("linker checkpoint: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after commit this is a no-op
	if err := postgres.AsyncCommit(ctx, tx); err != nil {
		return err
	}
	if err := postgres.SaveCheckpoint(ctx, tx, CheckpointName, natsjs.StreamFeeds, lastFeed); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// decide resolves one record to a child and the events it yields; no events
// means the record changes nothing (a resend, or a withdrawal of the unknown).
func (l *Linker) decide(rec *record.Record, feedSeq uint64, received time.Time) (uuid.UUID, []child.Event) {
	now := l.now().UTC()
	key := rec.Source.Key()
	hash := child.ContentHash(rec)
	if se, ok := l.idx.sources[key]; ok {
		if rec.Operation == record.OpWithdraw {
			if se.withdrawn {
				return se.child, nil
			}
			return se.child, []child.Event{{Type: child.TypeWithdrawn, At: now, Withdrawn: &child.Withdrawn{Source: key, FeedSeq: feedSeq}}}
		}
		if se.hash == hash && !se.withdrawn {
			return se.child, nil
		}
		return se.child, []child.Event{stated(rec, hash, feedSeq, now, child.Link{Rule: "source-record"})}
	}
	if rec.Operation == record.OpWithdraw {
		return uuid.Nil, nil
	}
	if id, ok := l.idx.nhs[rec.Child.NHSNumber()]; ok && rec.Child.NHSNumber() != "" {
		return id, []child.Event{stated(rec, hash, feedSeq, now, child.Link{Rule: "nhs-number"})}
	}
	if id, ok := l.idx.upn[rec.Child.UPN()]; ok && rec.Child.UPN() != "" {
		return id, []child.Event{stated(rec, hash, feedSeq, now, child.Link{Rule: "upn"})}
	}
	if l.matcher != nil {
		if id, link, ok := l.matcher.Match(rec); ok {
			return id, []child.Event{stated(rec, hash, feedSeq, now, link)}
		}
	}
	id := ChildID(received, feedSeq)
	return id, []child.Event{
		{Type: child.TypeRegistered, At: now, Registered: &child.Registered{ChildID: id.String(), Reason: "new source record " + key.String()}},
		stated(rec, hash, feedSeq, now, child.Link{Rule: "new"}),
	}
}

func stated(rec *record.Record, hash string, feedSeq uint64, at time.Time, link child.Link) child.Event {
	return child.Event{Type: child.TypeStated, At: at, Stated: &child.Stated{
		Source: rec.Source, Child: *rec.Child, Consents: rec.Consents, ContentHash: hash, FeedSeq: feedSeq, Link: link,
	}}
}

// ChildID is a UUIDv7 whose time is when the feed record reached the hub and
// whose random bits come from its FEEDS sequence: deciding the same record
// again after a crash names the same child, so no duplicate is registered.
func ChildID(received time.Time, feedSeq uint64) uuid.UUID {
	var u uuid.UUID
	ms := uint64(received.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	h := sha256.Sum256([]byte("contactpoint-child:" + strconv.FormatUint(feedSeq, 10)))
	copy(u[6:], h[:10])
	u[6] = 0x70 | (u[6] & 0x0f) // version 7
	u[8] = 0x80 | (u[8] & 0x3f) // RFC 4122 variant
	return u
}

// append publishes one message per child, pipelined, each expecting the
// child's subject to be where the index says; a conflict (someone else wrote
// to the child) re-reads the subject's position and tries again.
func (l *Linker) append(ctx context.Context, order []uuid.UUID, per map[uuid.UUID]*pending) error {
	type inflight struct {
		p   *pending
		fut jetstream.PubAckFuture
	}
	todo := order
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt > 5 {
			return fmt.Errorf("linker: %d children still conflict after retries", len(todo))
		}
		fl := make([]inflight, 0, len(todo))
		for _, id := range todo {
			p := per[id]
			m, err := childMsg(p)
			if err != nil {
				return err
			}
			fut, err := l.js.PublishMsgAsync(m,
				jetstream.WithExpectLastSequencePerSubject(l.idx.lastSeq[id]),
				jetstream.WithMsgID(fmt.Sprintf("link:%s:%d-%d", id, p.firstSeq, p.lastSeq)))
			if err != nil {
				return fmt.Errorf("linker: append to child: %w", err)
			}
			fl = append(fl, inflight{p, fut})
		}
		todo = nil
		for _, f := range fl {
			select {
			case ack := <-f.fut.Ok():
				l.idx.lastSeq[f.p.id] = ack.Sequence
			case err := <-f.fut.Err():
				var apiErr *jetstream.APIError
				if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
					last, gerr := l.lastSubjectSeq(ctx, f.p.id)
					if gerr != nil {
						return gerr
					}
					l.idx.lastSeq[f.p.id] = last
					todo = append(todo, f.p.id)
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

func childMsg(p *pending) (*nats.Msg, error) {
	body, err := json.Marshal(p.batch)
	if err != nil {
		return nil, fmt.Errorf("encode events: %w", err)
	}
	m := nats.NewMsg("children." + p.id.String())
	m.Data = body
	m.Header.Set(natsjs.HeaderFeedSeq, strconv.FormatUint(p.lastSeq, 10))
	m.Header.Set(natsjs.HeaderEvents, strings.Join(p.batch.Types(), ","))
	return m, nil
}

// lastSubjectSeq asks the stream (a direct get, no consumer) for the
// sequence of the child's latest message.
func (l *Linker) lastSubjectSeq(ctx context.Context, id uuid.UUID) (uint64, error) {
	st, err := l.js.Stream(ctx, natsjs.StreamChildren)
	if err != nil {
		return 0, err
	}
	m, err := st.GetLastMsgForSubject(ctx, "children."+id.String())
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("linker: last message of child: %w", err)
	}
	return m.Sequence, nil
}
