package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/viper"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/app/hub"
	"contactpoint/domain/child"
	"contactpoint/projections/audit"
	"contactpoint/projections/checkpointed"
	"contactpoint/projections/directory"
)

// replayable are the projections `replay` rebuilds.
var replayable = []string{directory.Name, audit.Name}

func projectionByName(name string, js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger) (*checkpointed.Projection, error) {
	switch name {
	case directory.Name:
		return directory.New(js, pool, log, child.DefaultRules()).Projection, nil
	case audit.Name:
		return audit.New(js, pool, log).Projection, nil
	}
	return nil, fmt.Errorf("unknown projection %q: the projections are: %v", name, replayable)
}

// replayProjection rebuilds a projection beside its live version and
// switches to it. A running hub does the work (it owns the live follower
// and the event log); with none running, this process does the same
// versioned rebuild itself.
func replayProjection(ctx context.Context, v *viper.Viper, name string) error {
	log := logger(v)
	cfg := hubConfig(v)
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	stop := spin("rebuilding " + name)
	defer stop()
	st, asked, err := askHub(ctx, pool, name)
	if err != nil {
		return err
	}
	where := "by the running hub"
	if !asked {
		where = "here (no hub answered)"
		nc, err := natsjs.Open(ctx, natsjs.Config{URL: cfg.NATSURL, DataDir: cfg.DataDir}, log)
		if err != nil {
			return err
		}
		defer nc.Close()
		p, err := projectionByName(name, nc.JS, pool, log)
		if err != nil {
			return err
		}
		if st, err = p.Rebuild(ctx); err != nil {
			return err
		}
	}
	stop()
	stop = func() {}
	fmt.Printf("%s rebuilt %s: %d events in %s (load %s, indexes %s, catch-up %s, switch %s)\n", name, where, st.Events,
		st.Total.Round(time.Millisecond), st.Load.Round(time.Millisecond), st.Indexes.Round(time.Millisecond),
		st.CatchUp.Round(time.Millisecond), st.Switch.Round(time.Millisecond))
	return nil
}

// askHub asks a running hub to rebuild through PostgreSQL's LISTEN/NOTIFY;
// asked is false when no hub took the request within a few seconds.
func askHub(ctx context.Context, pool *pgxpool.Pool, name string) (st checkpointed.RebuildStats, asked bool, err error) {
	pooled, err := pool.Acquire(ctx)
	if err != nil {
		return st, false, fmt.Errorf("replay: %w", err)
	}
	conn := pooled.Hijack()
	defer conn.Close(context.Background()) //nolint:errcheck // LISTEN state must not go back to the pool
	if _, err := conn.Exec(ctx, "listen "+hub.RebuildReplyChannel); err != nil {
		return st, false, fmt.Errorf("replay: %w", err)
	}
	reqID := uuid.NewString()
	req, _ := json.Marshal(hub.RebuildRequest{ID: reqID, Projection: name})
	if _, err := conn.Exec(ctx, "select pg_notify($1, $2)", hub.RebuildChannel, string(req)); err != nil {
		return st, false, fmt.Errorf("replay: %w", err)
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
			return st, started, fmt.Errorf("replay: %w", err)
		}
		var r hub.RebuildReply
		if json.Unmarshal([]byte(n.Payload), &r) != nil || r.ID != reqID {
			continue
		}
		switch r.Status {
		case "started":
			started = true
		case "done":
			return r.Stats, true, nil
		default:
			return st, true, fmt.Errorf("replay %s: the hub's rebuild failed: %s", name, r.Error)
		}
	}
}
