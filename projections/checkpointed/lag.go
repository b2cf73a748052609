package checkpointed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
)

// Lag is how far a consumer is behind its stream's head.
type Lag struct {
	Name       string  `json:"name"`
	Stream     string  `json:"stream"`
	Checkpoint uint64  `json:"checkpoint"`
	Head       uint64  `json:"head"`
	Behind     uint64  `json:"events_behind"`
	Seconds    float64 `json:"seconds_behind"` // how long the oldest message not yet applied has waited; 0 when caught up
}

// Lag reports the projection's lag.
func (p *Projection) Lag(ctx context.Context) (Lag, error) {
	return StreamLag(ctx, p.Pool, p.JS, p.Name, p.Stream)
}

// StreamLag reports the lag of any consumer that keeps a checkpoint (the
// linker's too): the stream's head against the checkpoint in PostgreSQL,
// and the age of the first message after it.
func StreamLag(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, name, stream string) (Lag, error) {
	l := Lag{Name: name, Stream: stream}
	var err error
	if l.Head, err = natsjs.LastSeq(ctx, js, stream); err != nil {
		return l, fmt.Errorf("lag of %s: %w", name, err)
	}
	if l.Checkpoint, err = postgres.Checkpoint(ctx, pool, name); err != nil {
		return l, fmt.Errorf("lag of %s: %w", name, err)
	}
	if l.Head <= l.Checkpoint {
		return l, nil
	}
	l.Behind = l.Head - l.Checkpoint
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return l, fmt.Errorf("lag of %s: %w", name, err)
	}
	m, err := st.GetMsg(ctx, l.Checkpoint+1)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("lag of %s: %w", name, err)
	}
	l.Seconds = max(0, time.Since(m.Time).Seconds())
	return l, nil
}

// Await waits, at most wait, until the consumer's checkpoint in PostgreSQL
// reaches seq: a reader that must see what a message changed asks the
// projection, wherever it runs, rather than applying it itself. It reports
// false, without an error, when the checkpoint did not get there in time.
func Await(ctx context.Context, pool *pgxpool.Pool, name string, seq uint64, wait time.Duration) (bool, error) {
	deadline := time.Now().Add(wait)
	for {
		done, err := postgres.Checkpoint(ctx, pool, name)
		if err != nil {
			return false, err
		}
		if done >= seq {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
