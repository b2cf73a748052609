package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/viper"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/app/hub"
	"contactpoint/domain/child"
	"contactpoint/projections/arrivals"
	"contactpoint/projections/audit"
	"contactpoint/projections/checkpointed"
	"contactpoint/projections/directory"
)

// replayable are the projections `replay` rebuilds.
var replayable = []string{directory.Name, audit.Name, arrivals.FeedsName, arrivals.QuarantineName}

func projectionByName(name string, js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger) (*checkpointed.Projection, error) {
	switch name {
	case directory.Name:
		return directory.New(js, pool, log, child.DefaultRules()).Projection, nil
	case audit.Name:
		return audit.New(js, pool, log).Projection, nil
	case arrivals.FeedsName:
		return arrivals.NewFeeds(js, pool, log), nil
	case arrivals.QuarantineName:
		return arrivals.NewQuarantine(js, pool, log), nil
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
	st, asked, err := hub.AskRebuild(ctx, pool, name)
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
