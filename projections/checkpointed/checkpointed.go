// Package checkpointed is the one pattern of every read model: a projection
// names its stream, its tables and how to apply a batch of messages, and
// gets from here
//
//   - its checkpoint, moved in the transaction that writes its rows, and
//     only from the position the database holds (postgres.SaveCheckpoint),
//     so that after any database error — a PostgreSQL crash that undid
//     asynchronous commits included — it resumes from the stored position
//     with nothing kept in memory;
//   - parking of poison messages: when a batch fails while PostgreSQL and
//     NATS answer, the batch is applied again one message at a time, and a
//     message that fails alone is parked (adapters/parked) in the
//     transaction that moves the checkpoint past it. While either does not
//     answer, the failure is an outage: the run returns it, nothing is
//     parked;
//   - a versioned rebuild beside the live tables, switched in one
//     transaction while readers keep reading (rebuild.go);
//   - its lag behind the stream's head (lag.go).
package checkpointed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/parked"
	"contactpoint/adapters/postgres"
)

// Applier applies batches for one run of one version of a projection.
// Whatever it keeps in memory between batches (a cache of what it wrote)
// lives in it and is thrown away with it: a run opens a fresh one at its
// start and after every failed batch.
type Applier interface {
	// Apply writes the rows for msgs in tx. The runner moves the
	// checkpoint in the same transaction and commits it.
	Apply(ctx context.Context, tx pgx.Tx, msgs []jetstream.Msg) error
	// Committed says that the transaction of the last Apply committed.
	Committed()
}

// Func adapts an apply function that keeps nothing between batches.
type Func func(ctx context.Context, tx pgx.Tx, msgs []jetstream.Msg) error

// Apply implements Applier.
func (f Func) Apply(ctx context.Context, tx pgx.Tx, msgs []jetstream.Msg) error {
	return f(ctx, tx, msgs)
}

// Committed implements Applier.
func (Func) Committed() {}

// BulkLoader is a rebuild's load phase for a projection that can fold its
// whole stream in memory: it is given every message up to the head, then
// writes the result once into the new version's empty tables, which have
// their primary keys and unique indexes but no others yet.
type BulkLoader interface {
	// Decode reads one message, on any goroutine: messages are decoded
	// in parallel and folded in stream order. An error says that the
	// message cannot be applied: it is not folded, and it is parked with
	// the reason.
	Decode(m jetstream.Msg) (any, error)
	// Add folds what Decode returned for the next message.
	Add(decoded any)
	// Write writes all that was folded, in tx; the runner moves the
	// checkpoint in the same transaction.
	Write(ctx context.Context, tx pgx.Tx) error
}

// Spec is what a projection says about itself.
type Spec struct {
	// Name is the projection's checkpoint and consumer name.
	Name   string
	Stream string
	// Tables are the projection's tables. Migrations create and change
	// them in schema public; a rebuild copies their definitions.
	Tables []string
	// Batch bounds the messages of one transaction while following;
	// RebuildBatch while a rebuild reads the stream up to its head.
	Batch, RebuildBatch int
	// Open returns a fresh Applier.
	Open func() Applier
	// Bulk, when set, returns a fresh BulkLoader for a rebuild's load
	// phase; without it a rebuild loads through Open's Applier in batches
	// of RebuildBatch.
	Bulk func() BulkLoader
	// Async lets the projection's transactions commit without waiting for
	// their WAL (postgres.AsyncCommit): a PostgreSQL crash can lose the
	// last few whole, and the checkpoint rule brings the projection back
	// to where the database is.
	Async bool
}

// Projection runs a Spec: follows its stream into its tables, rebuilds
// them, and reports its lag.
type Projection struct {
	Spec
	Pool *pgxpool.Pool
	JS   jetstream.JetStream
	Log  *slog.Logger

	// mu is held while a batch of the live version is applied, and by a
	// rebuild's switch, so that no batch lands half before and half after.
	mu sync.Mutex
	// version counts switches: a run that began before one stops at its
	// next batch and starts again on the new tables.
	version atomic.Uint64
	// rebuilding allows one rebuild at a time in this process.
	rebuilding sync.Mutex
}

// New returns the runner of spec.
func New(spec Spec, pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger) *Projection {
	if spec.Batch <= 0 {
		spec.Batch = 500
	}
	if spec.RebuildBatch <= 0 {
		spec.RebuildBatch = 20_000
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Projection{Spec: spec, Pool: pool, JS: js, Log: log}
}

// errSwitched ends a run whose tables a rebuild replaced.
var errSwitched = errors.New("projection switched to a rebuilt version")

// Run follows the stream from the checkpoint until ctx ends or a failure.
// After a rebuild's switch it carries on with the new version.
func (p *Projection) Run(ctx context.Context) error {
	for {
		err := p.live(ctx, false)
		if !errors.Is(err, errSwitched) {
			return err
		}
	}
}

// CatchUp applies everything up to the stream's end as it stands, then
// returns.
func (p *Projection) CatchUp(ctx context.Context) error {
	for {
		err := p.live(ctx, true)
		if !errors.Is(err, errSwitched) {
			return err
		}
	}
}

func (p *Projection) live(ctx context.Context, untilEnd bool) error {
	v := p.version.Load()
	f := &follower{p: p, pool: p.Pool, name: p.Name, batchSize: p.Batch, lock: &p.mu, current: func() bool { return p.version.Load() == v }}
	return f.follow(ctx, untilEnd, 0)
}

// follower is one run over one version's tables: the live ones, or a
// rebuild's (pool then resolves the table names to the new version's
// schema, and name is the new version's checkpoint).
type follower struct {
	p         *Projection
	pool      *pgxpool.Pool
	name      string
	batchSize int
	lock      *sync.Mutex
	current   func() bool
	pos       uint64 // the stored checkpoint, as this run last read or wrote it
	applier   Applier
}

// follow applies the stream's messages after the checkpoint; with untilEnd
// it stops at the stream's end as it stood when called, or at until when
// not 0. Starting from no checkpoint forgets what this consumer parked
// before, so that it parks afresh only what still fails.
func (f *follower) follow(ctx context.Context, untilEnd bool, until uint64) error {
	from, err := postgres.Checkpoint(ctx, f.pool, f.name)
	if err != nil {
		return err
	}
	if from == 0 {
		if err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error { return parked.Forget(ctx, tx, f.name) }); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	end := until
	if untilEnd && end == 0 {
		if end, err = natsjs.LastSeq(ctx, f.p.JS, f.p.Stream); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if untilEnd && end <= from {
		return nil
	}
	f.pos, f.applier = from, f.p.Open()
	err = natsjs.Follow(ctx, f.p.JS, f.p.Stream, from+1, end, f.batchSize, func(msgs []jetstream.Msg) error {
		if f.lock != nil {
			f.lock.Lock()
			defer f.lock.Unlock()
		}
		if f.current != nil && !f.current() {
			return errSwitched
		}
		return f.batch(ctx, msgs)
	})
	if err != nil && ctx.Err() == nil {
		if errors.Is(err, errSwitched) {
			return err
		}
		return fmt.Errorf("%s: %w", f.name, err)
	}
	return ctx.Err()
}

// commit applies msgs and moves the checkpoint from f.pos past them in one
// transaction; on any failure the applier is replaced, since what it keeps
// may now be ahead of the database.
func (f *follower) commit(ctx context.Context, msgs []jetstream.Msg) error {
	last, err := seqOf(msgs[len(msgs)-1])
	if err != nil {
		return err
	}
	err = parked.Safely(func() error {
		return pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
			if f.p.Async {
				if err := postgres.AsyncCommit(ctx, tx); err != nil {
					return err
				}
			}
			if err := f.applier.Apply(ctx, tx, msgs); err != nil {
				return err
			}
			return postgres.SaveCheckpoint(ctx, tx, f.name, f.p.Stream, f.pos, last)
		})
	})
	if err != nil {
		f.applier = f.p.Open()
		return err
	}
	f.pos = last
	f.applier.Committed()
	return nil
}

// batch applies msgs, and when that fails for a reason of the messages'
// own, applies them one at a time and parks each that fails alone.
func (f *follower) batch(ctx context.Context, msgs []jetstream.Msg) error {
	err := f.commit(ctx, msgs)
	if err == nil || !parked.Poisoned(ctx, f.pool, f.p.JS, err) {
		return err
	}
	// The database answers again, but it may not hold what this run
	// committed before (a crash undoes asynchronous commits): only a
	// checkpoint that is where the run left it lets the run go on.
	if stored, err := postgres.Checkpoint(ctx, f.pool, f.name); err != nil || stored != f.pos {
		return fmt.Errorf("checkpoint %d, run at %d: %w", stored, f.pos, errors.Join(postgres.ErrCheckpointMoved, err))
	}
	if len(msgs) > 1 {
		f.p.Log.Warn("batch failed; applying it one message at a time", "consumer", f.name, "stream", f.p.Stream,
			"messages", len(msgs), "reason", parked.ReasonOf(err).Kind)
	}
	for i := range msgs {
		err := f.commit(ctx, msgs[i:i+1])
		if err == nil {
			continue
		}
		if !parked.Poisoned(ctx, f.pool, f.p.JS, err) {
			return err
		}
		if err := f.park(ctx, msgs[i], parked.ReasonOf(err)); err != nil {
			return err
		}
	}
	return nil
}

// park writes the parked row and moves the checkpoint past the message in
// one transaction: a crash leaves either both or neither.
func (f *follower) park(ctx context.Context, m jetstream.Msg, r parked.Reason) error {
	pm, err := parked.Of(f.name, m, r)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		if err := parked.Park(ctx, tx, pm); err != nil {
			return err
		}
		return postgres.SaveCheckpoint(ctx, tx, f.name, f.p.Stream, f.pos, pm.Seq)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	f.pos = pm.Seq
	parked.Logged(f.p.Log, pm)
	return nil
}

func seqOf(m jetstream.Msg) (uint64, error) {
	md, err := m.Metadata()
	if err != nil {
		return 0, fmt.Errorf("message metadata: %w", err)
	}
	return md.Sequence.Stream, nil
}
