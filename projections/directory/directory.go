// Package directory is the searchable directory of children: a projection
// of the CHILDREN stream into PostgreSQL, with its checkpoint written in the
// same transaction as its rows, so a crash never applies an event twice or
// skips one, and a rebuild from the log gives the same rows.
package directory

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"contactpoint/adapters/childmsg"
	"contactpoint/adapters/natsjs"
	"contactpoint/domain/child"
	"contactpoint/domain/record"
	"contactpoint/projections/checkpointed"
)

// Name is the projection's checkpoint name.
const Name = "directory"

// Projection maintains the directory tables.
type Projection struct {
	*checkpointed.Projection
	rules child.Rules
}

// Tables are the directory's tables: the rows, their source links, the
// break-glass reveals, and the review queue and decision log.
var Tables = append([]string{"directory", "directory_sources", "shield_reveals"}, linkageTables...)

// New returns the directory projection.
func New(js jetstream.JetStream, pool *pgxpool.Pool, log *slog.Logger, rules child.Rules) *Projection {
	p := &Projection{rules: rules}
	p.Projection = checkpointed.New(checkpointed.Spec{
		Name: Name, Stream: natsjs.StreamChildren, Tables: Tables,
		Batch: 1000, RebuildBatch: 20_000, Async: true,
		Open: func() checkpointed.Applier { return &applier{rules: p.rules} },
		Bulk: p.openBulk,
	}, pool, js, log)
	return p
}

// Rebuild builds a new version of the directory from CHILDREN beside the
// live one and switches to it (checkpointed.Projection.Rebuild).
func (p *Projection) Rebuild(ctx context.Context) error {
	_, err := p.Projection.Rebuild(ctx)
	return err
}

// applier applies CHILDREN batches for one run; its cache holds the states
// it committed, and goes with it when a batch fails or the run ends.
type applier struct {
	rules   child.Rules
	cache   stateCache
	pending map[uuid.UUID]*touched
}

func (a *applier) Apply(ctx context.Context, tx pgx.Tx, msgs []jetstream.Msg) error {
	a.pending = nil
	states, err := a.apply(ctx, tx, msgs)
	if err != nil {
		a.cache.clear()
		return err
	}
	a.pending = states
	return nil
}

func (a *applier) Committed() {
	a.cache.put(a.pending)
	a.pending = nil
}

type touched struct {
	state   *child.State
	lastSeq uint64
	folded  bool // a fold has counted it among the children it touched
}

// apply projects a batch of CHILDREN messages in tx and returns the states
// it wrote.
func (a *applier) apply(ctx context.Context, tx pgx.Tx, msgs []jetstream.Msg) (map[uuid.UUID]*touched, error) {
	type item struct {
		seq uint64
		id  uuid.UUID
		b   child.Batch
	}
	items := make([]item, 0, len(msgs))
	ids := make([]uuid.UUID, 0, len(msgs))
	seen := map[uuid.UUID]bool{}
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		id, b, err := childmsg.Decode(m.Subject(), m.Data())
		if err != nil {
			// The batch fails; checkpointed applies it again one message
			// at a time and parks this one with its reason.
			return nil, err
		}
		items = append(items, item{md.Sequence.Stream, id, b})
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	states, missing := a.cache.take(ids)
	loaded, err := loadStates(ctx, tx, missing)
	if err != nil {
		return nil, err
	}
	for id, t := range loaded {
		states[id] = t
	}
	f := newFold(states)
	for _, it := range items {
		f.add(it.seq, it.id, it.b)
	}
	if err := writeChildren(ctx, tx, f, a.rules); err != nil {
		return nil, err
	}
	batch := &pgx.Batch{}
	for _, op := range f.ops {
		op.queue(batch)
	}
	if batch.Len() > 0 {
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return nil, fmt.Errorf("directory: write linkage: %w", err)
		}
	}
	if err := afterWrite(ctx, tx, f.ids, f.states); err != nil {
		return nil, err
	}
	return f.states, nil
}

// afterWrite is the one place for what is worked out over the written
// tables for the children a write touched, rather than from one child's
// events: the live apply calls it for each batch's children, a rebuild's
// bulk load once for every child, so whatever is derived here is derived
// the same way in both.
func afterWrite(ctx context.Context, tx pgx.Tx, ids []uuid.UUID, states map[uuid.UUID]*touched) error {
	if err := updateCorrectionTasks(ctx, tx, ids, states); err != nil {
		return err
	}
	return updateGuards(ctx, tx, ids)
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

// writeChildren upserts the touched children's rows and their source links:
// COPY into per-transaction staging tables, then one merge statement each,
// which costs far less per row than a statement per row.
func writeChildren(ctx context.Context, tx pgx.Tx, f *fold, rules child.Rules) error {
	for _, q := range []string{
		`create temp table if not exists stage_directory as select ` + strings.Join(rowColumns, ", ") + ` from directory limit 0`,
		`create temp table if not exists stage_sources (agency text, system text, record_id text, child_id uuid, withdrawn boolean, sensitive boolean)`,
		`truncate stage_directory, stage_sources`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("directory: staging: %w", err)
		}
	}
	// An erased child's source links go first, as at the erasure: the
	// fold's links after it then start afresh (sensitive included).
	if len(f.erased) > 0 {
		if _, err := tx.Exec(ctx, `delete from directory_sources where child_id = any($1)`, f.erased); err != nil {
			return fmt.Errorf("directory: erased links: %w", err)
		}
	}
	rows := make([][]any, 0, len(f.ids))
	for _, id := range f.ids {
		t := f.states[id]
		row, err := directoryRow(id, t.state, t.lastSeq, rules)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	links := make([][]any, 0, len(f.links))
	for k, l := range f.links {
		links = append(links, []any{k.Agency, k.System, k.RecordID, [16]byte(l.child), l.withdrawn, l.sensitive})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_directory"}, rowColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("directory: stage rows: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_sources"}, []string{"agency", "system", "record_id", "child_id", "withdrawn", "sensitive"}, pgx.CopyFromRows(links)); err != nil {
		return fmt.Errorf("directory: stage links: %w", err)
	}
	set := make([]string, 0, len(rowColumns))
	for _, c := range rowColumns[1:] {
		set = append(set, c+" = excluded."+c)
	}
	cols := strings.Join(rowColumns, ", ")
	if _, err := tx.Exec(ctx, `insert into directory (`+cols+`, updated_at) select `+cols+`, now() from stage_directory
		on conflict (child_id) do update set `+strings.Join(set, ", ")+`, updated_at = now()`); err != nil {
		return fmt.Errorf("directory: write rows: %w", err)
	}
	if _, err := tx.Exec(ctx, `insert into directory_sources (agency, system, record_id, child_id, withdrawn, sensitive)
		select agency, system, record_id, child_id, withdrawn, sensitive from stage_sources
		on conflict (agency, system, record_id) do update set child_id = excluded.child_id, withdrawn = excluded.withdrawn,
			sensitive = directory_sources.sensitive or excluded.sensitive
		where (directory_sources.child_id, directory_sources.withdrawn, directory_sources.sensitive)
		  is distinct from (excluded.child_id, excluded.withdrawn, directory_sources.sensitive or excluded.sensitive)`); err != nil {
		return fmt.Errorf("directory: write links: %w", err)
	}
	return nil
}

// statesSensitive reports whether the source states a sensitive service.
// Once it has, the source stays marked (see the upsert): a later statement
// without the service does not make its system safe to name.
func statesSensitive(ss *child.SourceState) bool {
	for _, in := range ss.Child.Involvements {
		if in.Sensitive() {
			return true
		}
	}
	return false
}

// claimedSources lists the source records an event puts on its child.
func claimedSources(e child.Event) []record.SourceKey {
	switch e.Type {
	case child.TypeStated:
		return []record.SourceKey{e.Stated.Source.Key()}
	case child.TypeWithdrawn:
		return []record.SourceKey{e.Withdrawn.Source}
	case child.TypeAbsorbed:
		out := make([]record.SourceKey, 0, len(e.Absorbed.Sources))
		for _, st := range e.Absorbed.Sources {
			out = append(out, st.Source.Key())
		}
		return out
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
