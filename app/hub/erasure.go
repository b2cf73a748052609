package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"contactpoint/projections/checkpointed"
)

// rebuildWherever rebuilds a projection beside its live follower, on the
// instance that runs it: here when this instance holds the projection's
// lease, else by asking the holder through PostgreSQL, as `contactpoint
// replay` does. When no instance answers, it rebuilds here (as replay does
// with no hub running). The lifecycle uses it after an erasure, so that the
// projection's tables are written to new files.
func (h *Hub) rebuildWherever(ctx context.Context, name string) error {
	if h.Holds(name) {
		_, err := h.RebuildProjection(ctx, name)
		return err
	}
	_, asked, err := AskRebuild(ctx, h.DB, name)
	if err != nil || asked {
		return err
	}
	_, err = h.RebuildProjection(ctx, name)
	return err
}

// AskRebuild asks the hub that runs the projection to rebuild it, through
// PostgreSQL's LISTEN/NOTIFY (RebuildChannel), and waits for its answer;
// asked is false when no hub took the request within 5 s.
func AskRebuild(ctx context.Context, pool *pgxpool.Pool, name string) (st checkpointed.RebuildStats, asked bool, err error) {
	pooled, err := pool.Acquire(ctx)
	if err != nil {
		return st, false, fmt.Errorf("rebuild %s: %w", name, err)
	}
	conn := pooled.Hijack()
	defer conn.Close(context.Background()) //nolint:errcheck // LISTEN state must not go back to the pool
	if _, err := conn.Exec(ctx, "listen "+RebuildReplyChannel); err != nil {
		return st, false, fmt.Errorf("rebuild %s: %w", name, err)
	}
	reqID := uuid.NewString()
	req, _ := json.Marshal(RebuildRequest{ID: reqID, Projection: name})
	if _, err := conn.Exec(ctx, "select pg_notify($1, $2)", RebuildChannel, string(req)); err != nil {
		return st, false, fmt.Errorf("rebuild %s: %w", name, err)
	}
	started := false
	for {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if started {
			cancel()
			wctx, cancel = context.WithCancel(ctx)
		}
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if !started && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return st, false, nil
			}
			return st, started, fmt.Errorf("rebuild %s: %w", name, err)
		}
		var r RebuildReply
		if json.Unmarshal([]byte(n.Payload), &r) != nil || r.ID != reqID {
			continue
		}
		switch r.Status {
		case "started":
			started = true
		case "done":
			return r.Stats, true, nil
		default:
			return st, true, fmt.Errorf("rebuild %s: the hub's rebuild failed: %s", name, r.Error)
		}
	}
}
