// Package checkpointed runs a projection over one stream from the
// projection's checkpoint in PostgreSQL, which the projection's own apply
// moves in the same transaction as its rows.
package checkpointed

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
)

// Follow applies the stream's messages after the checkpoint `name` in
// batches; with untilEnd it stops at the stream's end as it stood when
// called, else it follows until ctx ends.
func Follow(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, name, stream string, batch int, untilEnd bool, apply func(context.Context, []jetstream.Msg) error) error {
	from, err := postgres.Checkpoint(ctx, pool, name)
	if err != nil {
		return err
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
	err = natsjs.Follow(ctx, js, stream, from+1, end, batch, func(msgs []jetstream.Msg) error {
		return apply(ctx, msgs)
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return ctx.Err()
}
