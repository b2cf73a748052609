// Package directory is the searchable directory of children: a projection
// of the CHILDREN stream into PostgreSQL, with its checkpoint written in the
// same transaction as its rows, so a crash never applies an event twice or
// skips one, and a rebuild from the log gives the same rows.
package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/natsjs"
	"contactpoint/adapters/postgres"
	"contactpoint/app/linker"
	"contactpoint/domain/child"
)

// Name is the projection's checkpoint name.
const Name = "directory"

// Projection maintains the directory tables.
type Projection struct {
	js        jetstream.JetStream
	pool      *pgxpool.Pool
	log       *slog.Logger
	rules     child.Rules
	BatchSize int
}

// New returns the directory projection.
func New(js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger, rules child.Rules) *Projection {
	return &Projection{js: js, pool: pool, log: log, rules: rules, BatchSize: 1000}
}

// Run follows CHILDREN from the checkpoint until ctx ends or a failure.
func (p *Projection) Run(ctx context.Context) error {
	return p.follow(ctx, false)
}

// CatchUp applies everything in CHILDREN up to its current end, then returns.
func (p *Projection) CatchUp(ctx context.Context) error {
	return p.follow(ctx, true)
}

// Rebuild drops the directory's rows and checkpoint in one transaction and
// replays CHILDREN from the start.
func (p *Projection) Rebuild(ctx context.Context) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("rebuild directory: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	for _, q := range []string{
		"truncate directory, directory_sources",
		"delete from checkpoints where name = '" + Name + "'",
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("rebuild directory: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("rebuild directory: %w", err)
	}
	return p.CatchUp(ctx)
}

func (p *Projection) follow(ctx context.Context, untilEnd bool) error {
	from, err := postgres.Checkpoint(ctx, p.pool, Name)
	if err != nil {
		return err
	}
	var end uint64
	if untilEnd {
		st, err := p.js.Stream(ctx, natsjs.StreamChildren)
		if err != nil {
			return fmt.Errorf("directory: %w", err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return fmt.Errorf("directory: %w", err)
		}
		end = info.State.LastSeq
		if end <= from {
			return nil
		}
	}
	cons, err := p.js.OrderedConsumer(ctx, natsjs.StreamChildren, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from + 1,
	})
	if err != nil {
		return fmt.Errorf("directory: consume CHILDREN: %w", err)
	}
	for ctx.Err() == nil {
		b, err := cons.Fetch(p.BatchSize, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			return fmt.Errorf("directory: fetch: %w", err)
		}
		var msgs []jetstream.Msg
		for m := range b.Messages() {
			msgs = append(msgs, m)
		}
		if err := b.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("directory: fetch: %w", err)
		}
		if len(msgs) == 0 {
			continue
		}
		last, err := p.apply(ctx, msgs)
		if err != nil {
			return err
		}
		if untilEnd && last >= end {
			return nil
		}
	}
	return ctx.Err()
}

type touched struct {
	state   *child.State
	lastSeq uint64
}

// apply projects a batch of CHILDREN messages in one transaction.
func (p *Projection) apply(ctx context.Context, msgs []jetstream.Msg) (uint64, error) {
	type item struct {
		seq uint64
		id  uuid.UUID
		b   child.Batch
	}
	items := make([]item, 0, len(msgs))
	ids := make([]uuid.UUID, 0, len(msgs))
	seen := map[uuid.UUID]bool{}
	var last uint64
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return 0, fmt.Errorf("directory: %w", err)
		}
		last = md.Sequence.Stream
		id, b, err := linker.DecodeChildMsg(m.Subject(), m.Data())
		if err != nil {
			p.log.Error("directory: undecodable CHILDREN message skipped", "seq", last, "err", err)
			continue
		}
		items = append(items, item{last, id, b})
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("directory: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	states, err := loadStates(ctx, tx, ids)
	if err != nil {
		return 0, err
	}
	for _, it := range items {
		t := states[it.id]
		if t == nil {
			t = &touched{state: child.NewState(it.id.String())}
			states[it.id] = t
		}
		t.state.Apply(it.b)
		t.lastSeq = it.seq
	}
	batch := &pgx.Batch{}
	for _, id := range ids {
		if err := queueChild(batch, id, states[id], p.rules); err != nil {
			return 0, err
		}
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return 0, fmt.Errorf("directory: write rows: %w", err)
	}
	if err := postgres.SaveCheckpoint(ctx, tx, Name, natsjs.StreamChildren, last); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("directory: commit: %w", err)
	}
	return last, nil
}

func loadStates(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) (map[uuid.UUID]*touched, error) {
	out := make(map[uuid.UUID]*touched, len(ids))
	rows, err := tx.Query(ctx, "select child_id, state from directory where child_id = any($1)", ids)
	if err != nil {
		return nil, fmt.Errorf("directory: load states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("directory: load states: %w", err)
		}
		st := child.NewState(id.String())
		if err := json.Unmarshal(raw, st); err != nil {
			return nil, fmt.Errorf("directory: decode state of %s: %w", id, err)
		}
		out[id] = &touched{state: st}
	}
	return out, rows.Err()
}

func queueChild(b *pgx.Batch, id uuid.UUID, t *touched, rules child.Rules) error {
	v := child.Survive(t.state, rules)
	stateJSON, err := json.Marshal(t.state)
	if err != nil {
		return fmt.Errorf("directory: encode state: %w", err)
	}
	viewJSON, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("directory: encode view: %w", err)
	}
	var family, given, gender, postcode, nhs, upn *string
	var birth *time.Time
	names := []string{}
	if v.Name != nil {
		family, given = lowerPtr(v.Name.Value.Family), lowerPtr(v.Name.Value.Given)
	}
	for _, n := range v.PreviousNames {
		names = append(names, strings.ToLower(n.Value.Given+" "+n.Value.Family))
	}
	if v.BirthDate != nil {
		if d, err := time.Parse(time.DateOnly, v.BirthDate.Value); err == nil {
			birth = &d
		}
	}
	if v.Gender != nil {
		gender = &v.Gender.Value
	}
	if v.Address != nil {
		postcode = &v.Address.Value.Postcode
	}
	if v.NHSNumber != nil {
		nhs = &v.NHSNumber.Value
	}
	if v.UPN != nil {
		upn = &v.UPN.Value
	}
	b.Queue(`insert into directory (child_id, family_name, given_name, birth_date, gender, postcode, nhs_number, upn, names, state, view, last_seq, updated_at)
		values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12, now())
		on conflict (child_id) do update set family_name=excluded.family_name, given_name=excluded.given_name,
		  birth_date=excluded.birth_date, gender=excluded.gender, postcode=excluded.postcode, nhs_number=excluded.nhs_number,
		  upn=excluded.upn, names=excluded.names, state=excluded.state, view=excluded.view, last_seq=excluded.last_seq, updated_at=now()`,
		id, family, given, birth, gender, postcode, nhs, upn, strings.Join(names, " | "), stateJSON, viewJSON, int64(t.lastSeq))
	for _, ss := range t.state.Sources {
		k := ss.Source.Key()
		b.Queue(`insert into directory_sources (agency, system, record_id, child_id, withdrawn) values ($1,$2,$3,$4,$5)
			on conflict (agency, system, record_id) do update set child_id = excluded.child_id, withdrawn = excluded.withdrawn`,
			k.Agency, k.System, k.RecordID, id, ss.Withdrawn)
	}
	return nil
}

func lowerPtr(s string) *string {
	if s == "" {
		return nil
	}
	l := strings.ToLower(s)
	return &l
}
