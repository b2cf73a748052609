package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/viper"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/domain/child"
	"contactpoint/projections/directory"
)

// replayDirectory rebuilds the directory without starting the rest of the
// hub. Run it while the hub is stopped (the embedded event log is a
// directory only one process may open).
func replayDirectory(ctx context.Context, v *viper.Viper) error {
	log := logger(v)
	cfg := hubConfig(v)
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	nc, err := natsjs.Open(ctx, natsjs.Config{URL: cfg.NATSURL, DataDir: cfg.DataDir}, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	start := time.Now()
	if err := directory.New(nc.JS, pool, log, child.DefaultRules()).Rebuild(ctx); err != nil {
		return err
	}
	n, s, err := directory.NewStore(pool).Count(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("directory rebuilt from CHILDREN in %s: %d children, %d source records\n", time.Since(start).Round(time.Millisecond), n, s)
	return nil
}
