// Package checkpointed runs a projection over one stream from the
// projection's checkpoint in PostgreSQL, which the projection's own apply
// moves in the same transaction as its rows.
//
// A message that cannot be applied does not stop the projection: when a
// batch fails while PostgreSQL and NATS answer, the batch is applied again
// one message at a time, and a message that fails alone is parked
// (adapters/parked) in the transaction that moves the checkpoint past it.
// While either does not answer, the failure is an outage: Follow returns
// it and nothing is parked.
package checkpointed

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/parked"
	"contactpoint/adapters/postgres"
)

// Follow applies the stream's messages after the checkpoint `name` in
// batches; with untilEnd it stops at the stream's end as it stood when
// called, else it follows until ctx ends. Starting from no checkpoint (a
// first run or a rebuild) forgets what the projection parked before, so
// that it parks afresh only what still fails.
func Follow(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger, name, stream string, batch int, untilEnd bool, apply func(context.Context, []jetstream.Msg) error) error {
	from, err := postgres.Checkpoint(ctx, pool, name)
	if err != nil {
		return err
	}
	if from == 0 {
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return parked.Forget(ctx, tx, name) }); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	var end uint64
	if untilEnd {
		if end, err = natsjs.LastSeq(ctx, js, stream); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if end <= from {
			return nil
		}
	}
	f := follower{pool: pool, js: js, log: log, name: name, stream: stream, apply: apply}
	err = natsjs.Follow(ctx, js, stream, from+1, end, batch, func(msgs []jetstream.Msg) error {
		return f.batch(ctx, msgs)
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return ctx.Err()
}

type follower struct {
	pool         *pgxpool.Pool
	js           jetstream.JetStream
	log          *slog.Logger
	name, stream string
	apply        func(context.Context, []jetstream.Msg) error
}

func (f *follower) safeApply(ctx context.Context, msgs []jetstream.Msg) error {
	return parked.Safely(func() error { return f.apply(ctx, msgs) })
}

// batch applies msgs, and when that fails for a reason of the messages'
// own, applies them one at a time and parks each that fails alone.
func (f *follower) batch(ctx context.Context, msgs []jetstream.Msg) error {
	err := f.safeApply(ctx, msgs)
	if err == nil || !parked.Poisoned(ctx, f.pool, f.js, err) {
		return err
	}
	if len(msgs) > 1 && f.log != nil {
		f.log.Warn("batch failed; applying it one message at a time", "consumer", f.name, "stream", f.stream,
			"messages", len(msgs), "reason", parked.ReasonOf(err).Kind)
	}
	for i := range msgs {
		err := f.safeApply(ctx, msgs[i:i+1])
		if err == nil {
			continue
		}
		if !parked.Poisoned(ctx, f.pool, f.js, err) {
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
		return postgres.SaveCheckpoint(ctx, tx, f.name, f.stream, pm.Seq)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	parked.Logged(f.log, pm)
	return nil
}
