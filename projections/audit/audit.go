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
	"contactpoint/projections/checkpointed"
)

// Name is the projection's checkpoint name.
const Name = "audit"

// Projection maintains audit_events.
type Projection struct {
	*checkpointed.Projection
}

// New returns the audit projection.
func New(js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger) *Projection {
	p := &Projection{}
	p.Projection = checkpointed.New(checkpointed.Spec{
		Name: Name, Stream: natsjs.StreamAudit, Tables: []string{"audit_events"},
		Batch: 500, RebuildBatch: 20_000,
		Open: func() checkpointed.Applier { return checkpointed.Func(apply) },
	}, pool, js, log)
	return p
}

// Rebuild builds a new version of audit_events from AUDIT beside the live
// one and switches to it.
func (p *Projection) Rebuild(ctx context.Context) error {
	_, err := p.Projection.Rebuild(ctx)
	return err
}

// Caught reports whether every entry in AUDIT is in PostgreSQL.
func (p *Projection) Caught(ctx context.Context) (bool, error) {
	l, err := p.Lag(ctx)
	if err != nil {
		return false, fmt.Errorf("audit: %w", err)
	}
	return l.Behind == 0, nil
}

func apply(ctx context.Context, tx pgx.Tx, msgs []jetstream.Msg) error {
	batch := &pgx.Batch{}
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		seq := md.Sequence.Stream
		e, err := decodeEntry(m.Data())
		if err != nil {
			// The batch fails; checkpointed applies it again one
			// message at a time and parks this one, which stays in the
			// stream for inspection.
			return err
		}
		// Criteria of an entry naming children are sealed; a destroyed key
		// (the child was erased) leaves the entry with its ids only.
		criteria, err := Unseal(ctx, tx, e)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		crit, _ := json.Marshal(criteria)
		if e.Roles == nil {
			e.Roles = []string{}
		}
		if e.Children == nil {
			e.Children = []string{}
		}
		var answer []byte
		if e.Answer != nil {
			answer, _ = json.Marshal(e.Answer)
		}
		batch.Queue(`insert into audit_events (seq, id, at, action, outcome, actor, roles, system, route, status, reason, subject, criteria, children, answer)
			values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) on conflict do nothing`,
			int64(seq), e.ID, e.At, e.Action, e.Outcome, e.Actor, e.Roles, e.System, e.Route, e.Status, e.Reason, e.Subject, crit, e.Children, answer)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("audit: write rows: %w", err)
	}
	return nil
}
