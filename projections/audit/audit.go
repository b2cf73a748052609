// Package audit projects the AUDIT stream into PostgreSQL and answers the
// auditors' questions: who has looked at this child, what has this
// practitioner looked at, and which patterns of use look like misuse. The
// checkpoint is written in the same transaction as the rows.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/projections/checkpointed"
)

// Name is the projection's checkpoint name.
const Name = "audit"

// Projection maintains audit_events.
type Projection struct {
	js        jetstream.JetStream
	pool      *pgxpool.Pool
	log       *slog.Logger
	BatchSize int
}

// New returns the audit projection.
func New(js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger) *Projection {
	return &Projection{js: js, pool: pool, log: log, BatchSize: 500}
}

// Run follows AUDIT from the checkpoint until ctx ends or a failure.
func (p *Projection) Run(ctx context.Context) error { return p.follow(ctx, false) }

// CatchUp applies everything in AUDIT up to its current end, then returns.
func (p *Projection) CatchUp(ctx context.Context) error { return p.follow(ctx, true) }

// Rebuild empties the table and checkpoint in one transaction and replays.
func (p *Projection) Rebuild(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "truncate audit_events"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "delete from checkpoints where name = $1", Name)
		return err
	})
	if err != nil {
		return fmt.Errorf("rebuild audit: %w", err)
	}
	return p.CatchUp(ctx)
}

// Caught reports whether every entry in AUDIT is in PostgreSQL.
func (p *Projection) Caught(ctx context.Context) (bool, error) {
	last, err := natsjs.LastSeq(ctx, p.js, natsjs.StreamAudit)
	if err != nil {
		return false, fmt.Errorf("audit: %w", err)
	}
	done, err := postgres.Checkpoint(ctx, p.pool, Name)
	return done >= last, err
}

func (p *Projection) follow(ctx context.Context, untilEnd bool) error {
	return checkpointed.Follow(ctx, p.pool, p.js, p.log, Name, natsjs.StreamAudit, p.BatchSize, untilEnd, func(ctx context.Context, msgs []jetstream.Msg) error {
		_, err := p.apply(ctx, msgs)
		return err
	})
}

func (p *Projection) apply(ctx context.Context, msgs []jetstream.Msg) (uint64, error) {
	var last uint64
	batch := &pgx.Batch{}
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return 0, fmt.Errorf("audit: %w", err)
		}
		last = md.Sequence.Stream
		e, err := decodeEntry(m.Data())
		if err != nil {
			// The batch fails; checkpointed.Follow applies it again one
			// message at a time and parks this one, which stays in the
			// stream for inspection.
			return 0, err
		}
		crit, _ := json.Marshal(e.Criteria)
		if e.Roles == nil {
			e.Roles = []string{}
		}
		if e.Children == nil {
			e.Children = []string{}
		}
		batch.Queue(`insert into audit_events (seq, id, at, action, outcome, actor, roles, system, route, status, reason, subject, criteria, children)
			values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) on conflict do nothing`,
			int64(last), e.ID, e.At, e.Action, e.Outcome, e.Actor, e.Roles, e.System, e.Route, e.Status, e.Reason, e.Subject, crit, e.Children)
	}
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("audit: write rows: %w", err)
		}
		return postgres.SaveCheckpoint(ctx, tx, Name, natsjs.StreamAudit, last)
	})
	if err != nil {
		return 0, err
	}
	return last, nil
}
